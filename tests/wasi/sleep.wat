;; sleep.wat - _start sleeps 5 s in poll_oneoff (a monotonic clock
;; subscription); "spin" loops forever.  `wharf run --timeout` must stop both.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; one relative monotonic clock subscription of 5 s at offset 0
  ;; userdata at 0..8 = 0, tag at 8 = 0 (clock)
  (data (i32.const 16) "\01\00\00\00")  ;; clock id monotonic
  (data (i32.const 24) "\00\f2\05\2a\01\00\00\00") ;; 5e9 ns
  (func (export "_start") (drop (call $poll (i32.const 0) (i32.const 100) (i32.const 1) (i32.const 200))))
  (func (export "spin") (loop (br 0))))
