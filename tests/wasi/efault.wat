;; efault.wat - a guest that hands WASI out-of-range pointers.
;;
;; Memory is one page (64 KiB) at first.  Every call below must fail with
;; EFAULT (21) without touching memory or writing anything; a call that
;; returns something else exits with status 10 + its number.  Then memory
;; grows by a page and a write from the new page must work (the host must
;; re-fetch the memory size).  Prints "Gok\n" when all held.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get"
    (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get"
    (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get"
    (func $random_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get"
    (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)

  (data (i32.const 100) "X")
  (data (i32.const 200) "ok\n")
  (data (i32.const 300) "G")

  (func $efault (param $got i32) (param $code i32)
    (if (i32.ne (local.get $got) (i32.const 21))
      (then (call $proc_exit (local.get $code)))))

  (func (export "_start")
    ;; a good iovec at 0: "X", 1 byte
    (i32.store (i32.const 0) (i32.const 100))
    (i32.store (i32.const 4) (i32.const 1))
    ;; 1: iovec array far out of range
    (call $efault (call $fd_write (i32.const 1) (i32.const 0xfffffff0) (i32.const 1) (i32.const 16)) (i32.const 11))
    ;; 2: iovec array straddling the end of memory
    (call $efault (call $fd_write (i32.const 1) (i32.const 65532) (i32.const 1) (i32.const 16)) (i32.const 12))
    ;; 3: buffer running past the end
    (i32.store (i32.const 32) (i32.const 65000))
    (i32.store (i32.const 36) (i32.const 1000))
    (call $efault (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 16)) (i32.const 13))
    ;; 4: buffer whose end wraps around 2^32
    (i32.store (i32.const 32) (i32.const 0xffffff00))
    (i32.store (i32.const 36) (i32.const 0x200))
    (call $efault (call $fd_write (i32.const 1) (i32.const 32) (i32.const 1) (i32.const 16)) (i32.const 14))
    ;; 5: good data, but nwritten out of range: nothing may be written
    (call $efault (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 65534)) (i32.const 15))
    ;; 6: a huge iovec count
    (call $efault (call $fd_write (i32.const 1) (i32.const 0) (i32.const 0x7fffffff) (i32.const 16)) (i32.const 16))
    ;; 7: read into a buffer past the end
    (i32.store (i32.const 32) (i32.const 65535))
    (i32.store (i32.const 36) (i32.const 2))
    (call $efault (call $fd_read (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 16)) (i32.const 17))
    ;; 8-10: args and environment
    (call $efault (call $args_sizes_get (i32.const 65535) (i32.const 0)) (i32.const 18))
    (call $efault (call $args_get (i32.const 65534) (i32.const 0)) (i32.const 19))
    (call $efault (call $environ_get (i32.const 0) (i32.const 0xffffffff)) (i32.const 20))
    ;; 11: random bytes past the end
    (call $efault (call $random_get (i32.const 65000) (i32.const 1000)) (i32.const 21))
    ;; 12: clock result straddling the end
    (call $efault (call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 65533)) (i32.const 22))
    ;; 13: path out of range
    (call $efault (call $path_open (i32.const 3) (i32.const 0) (i32.const 65530) (i32.const 100)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)) (i32.const 23))
    ;; 14: opened-fd result out of range (path "X" need not exist: checked first)
    (call $efault (call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 1)
      (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 0xfffffffe)) (i32.const 24))
    ;; 15: preopen name buffer past the end
    (call $efault (call $fd_prestat_dir_name (i32.const 3) (i32.const 65535) (i32.const 10)) (i32.const 25))
    ;; 16: readdir buffer past the end
    (call $efault (call $fd_readdir (i32.const 3) (i32.const 65000) (i32.const 1000) (i64.const 0) (i32.const 16)) (i32.const 26))
    ;; 17: poll subscriptions past the end
    (call $efault (call $poll_oneoff (i32.const 65000) (i32.const 0) (i32.const 100) (i32.const 16)) (i32.const 27))
    ;; 18: filestat result past the end
    (call $efault (call $fd_filestat_get (i32.const 1) (i32.const 65500)) (i32.const 28))

    ;; grow to two pages; an iovec and buffer in the new page now work
    (drop (memory.grow (i32.const 1)))
    (i32.store8 (i32.const 70000) (i32.const 71))   ;; "G"
    (i32.store (i32.const 70004) (i32.const 70000))
    (i32.store (i32.const 70008) (i32.const 1))
    (if (i32.ne (call $fd_write (i32.const 1) (i32.const 70004) (i32.const 1) (i32.const 70012)) (i32.const 0))
      (then (call $proc_exit (i32.const 30))))
    (if (i32.ne (i32.load (i32.const 70012)) (i32.const 1))
      (then (call $proc_exit (i32.const 31))))

    (i32.store (i32.const 0) (i32.const 200))
    (i32.store (i32.const 4) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))
)
