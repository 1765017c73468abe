;; trap.wat - `_start` traps two calls deep (run-cli.sh expects exit 134,
;; "wharf: trap: unreachable" and a backtrace naming $inner).
(module
  (func $inner unreachable)
  (func $outer call $inner)
  (func (export "_start") call $outer))
