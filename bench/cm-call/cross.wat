;; cross.wat - the component pair of the cross-component call benchmark
;; (cm_cross.c): $callee exports f(string) -> string (it returns its
;; argument, so the cost is the call and the two string copies), $caller
;; imports f and exports run(n, s) which calls f(s) n times through the
;; canonical ABI (a fused adapter in wharf) and returns the sum of the
;; result lengths.  The outer component exports both, so the host can
;; call f itself (host-to-component) and run (component-to-component).
;; Both bump allocators are reset by post-return, so any number of calls
;; stays inside the first pages.
(component
  (component $callee
    (core module $m
      (memory (export "mem") 1)
      (global $heap (mut i32) (i32.const 1024))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        ;; shrinking keeps the block; growing copies the old contents
        (if (i32.and (i32.ne (local.get 0) (i32.const 0))
                     (i32.le_u (local.get 3) (local.get 1)))
          (then (return (local.get 0))))
        (local.set $p
          (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                   (i32.sub (i32.const 0) (local.get 2))))
        (global.set $heap (i32.add (local.get $p) (local.get 3)))
        (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
          (then
            (if (i32.eq (memory.grow (i32.add (i32.shr_u (global.get $heap) (i32.const 16))
                                              (i32.sub (i32.const 1) (memory.size))))
                        (i32.const -1))
              (then unreachable))))
        (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0) (local.get 1))))
        (local.get $p))
      (func (export "f") (param i32 i32) (result i32)
        (i32.store (i32.const 16) (local.get 0))
        (i32.store (i32.const 20) (local.get 1))
        (i32.const 16))
      (func (export "f-post") (param i32)
        (global.set $heap (i32.const 1024))))
    (core instance $i (instantiate $m))
    (func (export "f") (param "s" string) (result string)
      (canon lift (core func $i "f") (memory (core memory $i "mem"))
        (realloc (core func $i "realloc")) (post-return (core func $i "f-post")))))

  (component $caller
    (import "f" (func $f (param "s" string) (result string)))
    (core module $libc
      (memory (export "mem") 1)
      (global $heap (export "heap") (mut i32) (i32.const 1024))
      (func (export "realloc") (param i32 i32 i32 i32) (result i32)
        (local $p i32)
        ;; shrinking keeps the block; growing copies the old contents
        (if (i32.and (i32.ne (local.get 0) (i32.const 0))
                     (i32.le_u (local.get 3) (local.get 1)))
          (then (return (local.get 0))))
        (local.set $p
          (i32.and (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
                   (i32.sub (i32.const 0) (local.get 2))))
        (global.set $heap (i32.add (local.get $p) (local.get 3)))
        (if (i32.gt_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536)))
          (then
            (if (i32.eq (memory.grow (i32.add (i32.shr_u (global.get $heap) (i32.const 16))
                                              (i32.sub (i32.const 1) (memory.size))))
                        (i32.const -1))
              (then unreachable))))
        (if (local.get 0) (then (memory.copy (local.get $p) (local.get 0) (local.get 1))))
        (local.get $p)))
    (core instance $libc (instantiate $libc))
    (core func $f-lowered (canon lower (func $f) (memory (core memory $libc "mem"))
      (realloc (core func $libc "realloc"))))
    (core module $main
      (import "libc" "mem" (memory 1))
      (import "libc" "heap" (global $heap (mut i32)))
      (import "x" "f" (func $f (param i32 i32 i32)))
      ;; run(n, ptr, len): n calls of f(ptr, len) with the result at 8;
      ;; the caller's heap is reset after each, so results reuse one spot
      (func (export "run") (param $n i32) (param $ptr i32) (param $len i32) (result i32)
        (local $base i32) (local $total i32)
        (local.set $base (global.get $heap))
        (block $done
          (loop $l
            (br_if $done (i32.eqz (local.get $n)))
            (call $f (local.get $ptr) (local.get $len) (i32.const 8))
            (local.set $total (i32.add (local.get $total) (i32.load (i32.const 12))))
            (global.set $heap (local.get $base))
            (local.set $n (i32.sub (local.get $n) (i32.const 1)))
            (br $l)))
        (local.get $total))
      (func (export "run-post") (param i32)
        (global.set $heap (i32.const 1024))))
    (core instance $main (instantiate $main
      (with "libc" (instance $libc))
      (with "x" (instance (export "f" (func $f-lowered))))))
    (func (export "run") (param "n" u32) (param "s" string) (result u32)
      (canon lift (core func $main "run") (memory (core memory $libc "mem"))
        (realloc (core func $libc "realloc")) (post-return (core func $main "run-post")))))

  (instance $ce (instantiate $callee))
  (instance $ca (instantiate $caller (with "f" (func $ce "f"))))
  (export "f" (func $ce "f"))
  (export "run" (func $ca "run")))
