;; The importer of test_link.c: interface t:p/i with a function on
;; strings, a record type and a function on it, and a resource.
(component
  (import "t:p/i" (instance
    (export "f" (func (param "a" string) (result string)))
    (type $rec (record (field "x" u32) (field "y" string)))
    (export "rec" (type $rec' (eq $rec)))
    (export "g" (func (param "r" $rec') (result u32)))
    (export "r" (type $r (sub resource)))
    (export "[method]r.get" (func (param "self" (borrow $r)) (result u32)))
  ))
)
