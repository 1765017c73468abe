;; calls.wat - what a call costs (bench/compute/calls/run.sh).  `direct`
;; calls $inc n times, `indirect` calls it through the table: call_indirect
;; with its bounds, null and signature checks (the index alternates between
;; two slots holding $inc, so a cache keyed on the index would miss).  $inc
;; is tiny on purpose: an optimizing tier inlines the direct call (both
;; LLVM and V8 do) but cannot inline the indirect one without guessing the
;; target, so `indirect` is the price of a real call plus its checks.
(module
  (type $t (func (param i32) (result i32)))
  (table 4 funcref)
  (elem (i32.const 0) $inc $dec $inc $dec)
  (func $inc (type $t) (i32.add (local.get 0) (i32.const 3)))
  (func $dec (type $t) (i32.sub (local.get 0) (i32.const 1)))
  (func (export "direct") (param $n i32) (result i32)
    (local $acc i32)
    (block $out (loop $l
      (br_if $out (i32.eqz (local.get $n)))
      (local.set $acc (call $inc (local.get $acc)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc))
  (func (export "indirect") (param $n i32) (result i32)
    (local $acc i32)
    (block $out (loop $l
      (br_if $out (i32.eqz (local.get $n)))
      (local.set $acc (call_indirect (type $t) (local.get $acc)
                                     (i32.and (local.get $n) (i32.const 2))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br $l)))
    (local.get $acc)))
