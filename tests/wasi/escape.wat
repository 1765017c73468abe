;; escape.wat - a guest that tries to leave its preopened directory.
;;
;; run-security.sh runs it with a sandbox directory preopened as "." (fd 3)
;; holding: inside.txt, sub/, link -> /etc, rel -> ../outside,
;; secretlink -> ../outside/secret, inlink -> inside.txt.  Each row of the
;; table at 1024 is (string index, length, lookup flags, expected errno);
;; string i lives at 4096 + 64*i.  A row whose result differs exits with
;; status 10 + row; then come the mutating checks; "ok" means all held.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)

  ;; strings
  (data (i32.const 4096) "../../etc/passwd")        ;; 0  len 16
  (data (i32.const 4160) "/etc/passwd")             ;; 1  len 11
  (data (i32.const 4224) "link/passwd")             ;; 2  len 11
  (data (i32.const 4288) "rel/secret")              ;; 3  len 10
  (data (i32.const 4352) "sub/../../outside/secret");; 4  len 24
  (data (i32.const 4416) "secretlink")              ;; 5  len 10
  (data (i32.const 4480) "inside.txt")              ;; 6  len 10
  (data (i32.const 4544) "sub/../inside.txt")       ;; 7  len 17
  (data (i32.const 4608) "inlink")                  ;; 8  len 6
  (data (i32.const 4672) "..")                      ;; 9  len 2
  (data (i32.const 4736) "link")                    ;; 10 len 4
  (data (i32.const 4800) "../escaped")              ;; 11 len 10
  (data (i32.const 4864) "newlink")                 ;; 12 len 7
  (data (i32.const 4928) "/etc/passwd")             ;; 13 len 11
  (data (i32.const 4992) "./sub/./../.")            ;; 14 len 12
  (data (i32.const 5056) "sub/../../sandbox/inside.txt") ;; 15 len 28
  (data (i32.const 5120) "rel/escaped")             ;; 16 len 11
  (data (i32.const 5184) "../moved")                ;; 17 len 8
  (data (i32.const 5248) "ok\n")                    ;; 18 len 3

  ;; open checks: (string, len, lookupflags, expected errno)
  ;; 76 = ENOTCAPABLE, 32 = ELOOP, 0 = success
  (data (i32.const 1024)
    "\00\00\00\00" "\10\00\00\00" "\01\00\00\00" "\4c\00\00\00"   ;; ../../etc/passwd
    "\01\00\00\00" "\0b\00\00\00" "\01\00\00\00" "\4c\00\00\00"   ;; /etc/passwd
    "\02\00\00\00" "\0b\00\00\00" "\01\00\00\00" "\4c\00\00\00"   ;; link/passwd
    "\03\00\00\00" "\0a\00\00\00" "\01\00\00\00" "\4c\00\00\00"   ;; rel/secret
    "\04\00\00\00" "\18\00\00\00" "\01\00\00\00" "\4c\00\00\00"   ;; sub/../../outside
    "\05\00\00\00" "\0a\00\00\00" "\01\00\00\00" "\4c\00\00\00"   ;; secretlink, follow
    "\05\00\00\00" "\0a\00\00\00" "\00\00\00\00" "\20\00\00\00"   ;; secretlink, nofollow
    "\06\00\00\00" "\0a\00\00\00" "\00\00\00\00" "\00\00\00\00"   ;; inside.txt
    "\07\00\00\00" "\11\00\00\00" "\00\00\00\00" "\00\00\00\00"   ;; sub/../inside.txt
    "\08\00\00\00" "\06\00\00\00" "\01\00\00\00" "\00\00\00\00"   ;; inlink, follow
    "\09\00\00\00" "\02\00\00\00" "\01\00\00\00" "\4c\00\00\00"   ;; ..
    "\0e\00\00\00" "\0c\00\00\00" "\01\00\00\00" "\00\00\00\00"   ;; ./sub/./../.
    "\0f\00\00\00" "\1c\00\00\00" "\01\00\00\00" "\4c\00\00\00"   ;; ../sandbox/inside.txt
  )
  (global $nrows i32 (i32.const 13))

  (func $str (param $i i32) (result i32)
    (i32.add (i32.const 4096) (i32.mul (local.get $i) (i32.const 64))))

  (func $check (param $got i32) (param $want i32) (param $code i32)
    (if (i32.ne (local.get $got) (local.get $want))
      (then (call $proc_exit (local.get $code)))))

  (func (export "_start")
    (local $row i32) (local $p i32) (local $err i32)
    ;; path_open rows; rights: fd_read | fd_readdir
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $row) (global.get $nrows)))
        (local.set $p (i32.add (i32.const 1024) (i32.mul (local.get $row) (i32.const 16))))
        (i32.store (i32.const 8000) (i32.const -1))
        (local.set $err
          (call $path_open (i32.const 3) (i32.load offset=8 (local.get $p))
            (call $str (i32.load (local.get $p))) (i32.load offset=4 (local.get $p))
            (i32.const 0) (i64.const 0x4002) (i64.const 0) (i32.const 0)
            (i32.const 8000)))
        (call $check (local.get $err) (i32.load offset=12 (local.get $p))
          (i32.add (i32.const 10) (local.get $row)))
        (if (i32.eqz (local.get $err))
          (then (drop (call $fd_close (i32.load (i32.const 8000))))))
        (local.set $row (i32.add (local.get $row) (i32.const 1)))
        (br $next)))

    ;; stat through an absolute symlink, following it: refused
    (call $check
      (call $path_filestat_get (i32.const 3) (i32.const 1)
        (call $str (i32.const 10)) (i32.const 4) (i32.const 8192))
      (i32.const 76) (i32.const 40))
    ;; ... and through a relative one that climbs out
    (call $check
      (call $path_filestat_get (i32.const 3) (i32.const 1)
        (call $str (i32.const 5)) (i32.const 10) (i32.const 8192))
      (i32.const 76) (i32.const 41))
    ;; not following it is fine: that stats the link itself
    (call $check
      (call $path_filestat_get (i32.const 3) (i32.const 0)
        (call $str (i32.const 5)) (i32.const 10) (i32.const 8192))
      (i32.const 0) (i32.const 42))
    ;; mkdir outside
    (call $check
      (call $path_create_directory (i32.const 3) (call $str (i32.const 11)) (i32.const 10))
      (i32.const 76) (i32.const 43))
    ;; mkdir through a symlink that leaves: rel/escaped is outside/escaped
    (call $check
      (call $path_create_directory (i32.const 3) (call $str (i32.const 16)) (i32.const 11))
      (i32.const 76) (i32.const 44))
    ;; an absolute symlink target is refused
    (call $check
      (call $path_symlink (call $str (i32.const 13)) (i32.const 11)
        (i32.const 3) (call $str (i32.const 12)) (i32.const 7))
      (i32.const 76) (i32.const 45))
    ;; rename a file out of the sandbox
    (call $check
      (call $path_rename (i32.const 3) (call $str (i32.const 6)) (i32.const 10)
        (i32.const 3) (call $str (i32.const 17)) (i32.const 8))
      (i32.const 76) (i32.const 46))
    ;; unlink outside
    (call $check
      (call $path_unlink_file (i32.const 3) (call $str (i32.const 4)) (i32.const 24))
      (i32.const 76) (i32.const 47))
    ;; a bad directory fd
    (call $check
      (call $path_open (i32.const 99) (i32.const 0) (call $str (i32.const 6))
        (i32.const 10) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
        (i32.const 8000))
      (i32.const 8) (i32.const 48))
    ;; stdout is not a directory
    (call $check
      (call $path_open (i32.const 1) (i32.const 0) (call $str (i32.const 6))
        (i32.const 10) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
        (i32.const 8000))
      (i32.const 54) (i32.const 49))

    ;; all held: print ok
    (i32.store (i32.const 8000) (call $str (i32.const 18)))
    (i32.store (i32.const 8004) (i32.const 3))
    (drop (call $fd_write (i32.const 1) (i32.const 8000) (i32.const 1) (i32.const 8008))))
)
