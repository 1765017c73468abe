;; An exporter for test_link.c (r is a record, not a resource):
;; an instance of this type imported and exported again (types only).
(component
  (import "t:p/i" (instance $i
    (export "f" (func (param "a" string) (result string)))
    (type $rec (record (field "x" u32) (field "y" string)))
    (export "rec" (type $rec' (eq $rec)))
    (export "g" (func (param "r" $rec') (result u32)))
    (type $notr (record (field "v" u32)))
    (export "r" (type $r (eq $notr)))
    (export "get" (func (param "self" u32) (result u32)))
  ))
  (export "t:p/i" (instance $i))
)
