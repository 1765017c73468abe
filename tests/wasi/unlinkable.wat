;; unlinkable.wat - imports a function no one defines.
(module
  (import "env" "missing" (func))
  (func (export "_start")))
