;; calc.wat - exports for `wharf run --invoke` (no _start).
(module
  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))
  (func (export "neg64") (param i64) (result i64)
    (i64.sub (i64.const 0) (local.get 0)))
  (func (export "half") (param f64) (result f64)
    (f64.mul (local.get 0) (f64.const 0.5)))
  (func (export "pair") (result i32 i64)
    (i32.const -1) (i64.const 5))
  (func (export "spin") (loop $l (br $l))))
