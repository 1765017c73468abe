;; An exporter for test_link.c (no g):
;; an instance of this type imported and exported again (types only).
(component
  (import "t:p/i" (instance $i
    (export "f" (func (param "a" string) (result string)))
    (type $rec (record (field "x" u32) (field "y" string)))
    (export "rec" (type $rec' (eq $rec)))
    (export "r" (type $r (sub resource)))
    (export "[method]r.get" (func (param "self" (borrow $r)) (result u32)))
  ))
  (export "t:p/i" (instance $i))
)
