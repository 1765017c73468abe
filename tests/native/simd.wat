;; simd.wat - the native tier's SIMD test module (tests/native/test_native.c
;; test_simd): each export takes an i32 x and runs on both tiers; results
;; (v128 bits), traps and fuel must agree.  Covers v128 params and results
;; across direct and indirect calls, v128 globals, every memory form at the
;; end of memory, lane ops, saturation, swizzle out of range, shifts by
;; counts above the lane width, and float lanes with NaNs and -0.
(module
  (type $vv_v (func (param v128 v128) (result v128)))
  (memory 1)
  (global $g (mut v128) (v128.const i32x4 1 2 3 4))
  (table 2 funcref)
  (elem (i32.const 0) $vadd $vmin)
  (func $vadd (type $vv_v) (i32x4.add (local.get 0) (local.get 1)))
  (func $vmin (type $vv_v) (f32x4.min (local.get 0) (local.get 1)))

  (func (export "ints") (param $x i32) (result v128)
    (local $a v128) (local $b v128)
    (local.set $a (i8x16.splat (local.get $x)))
    (local.set $b (i32x4.replace_lane 2 (i16x8.splat (i32.mul (local.get $x) (i32.const 977)))
                                      (local.get $x)))
    (v128.xor
      (v128.xor
        (v128.xor (i8x16.add_sat_s (local.get $a) (local.get $b))
                  (i16x8.q15mulr_sat_s (local.get $b) (i16x8.splat (i32.const -32768))))
        (v128.xor (i8x16.narrow_i16x8_s (local.get $b) (local.get $a))
                  (i16x8.narrow_i32x4_u (local.get $b) (local.get $a))))
      (v128.xor
        (v128.xor (i8x16.swizzle (local.get $b) (i8x16.add (local.get $a)
                                   (v128.const i8x16 0 3 9 15 16 17 31 127 128 200 255 1 2 4 8 14)))
                  (i8x16.shuffle 0 17 2 19 4 21 6 23 31 30 29 28 3 2 1 0 (local.get $a) (local.get $b)))
        (v128.xor
          (v128.xor (i8x16.shl (local.get $b) (local.get $x))
                    (i64x2.shr_s (local.get $b) (i32.add (local.get $x) (i32.const 61))))
          (v128.xor (i32x4.dot_i16x8_s (local.get $a) (local.get $b))
                    (v128.xor (i64x2.extmul_high_i32x4_u (local.get $b) (local.get $a))
                              (v128.xor (i32x4.extadd_pairwise_i16x8_s (local.get $b))
                                        (v128.xor (i8x16.popcnt (local.get $b))
                                                  (i8x16.avgr_u (local.get $a) (local.get $b))))))))))

  ;; NaN operands meet only non-commutative ops (sub, div, pmin, pmax) or a
  ;; non-NaN operand: which of two NaNs a commutative lane op returns is
  ;; the C compiler's operand order in the interpreter (native-diff.c)
  (func (export "floats") (param $x i32) (result v128)
    (local $a v128) (local $b v128) (local $c v128)
    (local.set $a (f32x4.replace_lane 1 (f32x4.splat (f32.reinterpret_i32 (local.get $x)))
                                        (f32.const -0)))
    (local.set $b (v128.const f32x4 0 -1.5 2.5 -inf))
    (local.set $c (v128.const f32x4 nan:0x200000 1 -nan 0))
    (v128.xor
      (v128.xor
        (v128.xor (f32x4.add (local.get $a) (local.get $b)) (f32x4.mul (local.get $a) (f32x4.splat (f32.const 1))))
        (v128.xor (f32x4.min (local.get $a) (local.get $b)) (f32x4.max (local.get $b) (local.get $a))))
      (v128.xor
        (v128.xor (f32x4.pmin (local.get $a) (local.get $c))
                  (v128.xor (f32x4.pmax (local.get $c) (local.get $a)) (f32x4.nearest (local.get $a))))
        (v128.xor
          (v128.xor (i32x4.trunc_sat_f32x4_s (local.get $a)) (i32x4.trunc_sat_f64x2_u_zero (f64x2.promote_low_f32x4 (local.get $a))))
          (v128.xor (f32x4.demote_f64x2_zero (f64x2.convert_low_i32x4_u (local.get $a)))
                    (v128.xor (v128.xor (f32x4.div (local.get $c) (local.get $a))
                                        (f32x4.sub (local.get $a) (local.get $c)))
                              (f64x2.sqrt (f64x2.splat (f64.promote_f32 (f32.reinterpret_i32 (local.get $x)))))))))))

  ;; every memory form at address x (traps past the end)
  (func (export "mem") (param $x i32) (result v128)
    (local $v v128)
    (v128.store offset=1 (local.get $x) (i32x4.splat (i32.add (local.get $x) (i32.const 0x01020304))))
    (local.set $v (v128.load8_lane 3 (local.get $x) (v128.load offset=1 (local.get $x))))
    (v128.store32_lane offset=8 2 (local.get $x) (local.get $v))
    (v128.store8_lane 15 (local.get $x) (local.get $v))
    (v128.xor
      (v128.xor (v128.load64_lane 1 (local.get $x) (local.get $v)) (v128.load16x4_s offset=4 (local.get $x)))
      (v128.xor (v128.load32_zero offset=3 (local.get $x))
                (v128.xor (v128.load16_splat offset=5 (local.get $x)) (v128.load8x8_u (local.get $x))))))

  ;; v128 through calls, call_indirect and a global
  (func (export "calls") (param $x i32) (result v128)
    (global.set $g (call $vadd (global.get $g) (i32x4.splat (local.get $x))))
    (call_indirect (type $vv_v) (global.get $g) (f32x4.splat (f32.const -0))
                   (i32.and (local.get $x) (i32.const 1))))

  ;; a loop: fuel per block, tests and bitmasks
  (func (export "loop") (param $x i32) (result i32)
    (local $v v128) (local $i i32) (local $acc i32)
    (local.set $v (i32x4.splat (local.get $x)))
    (loop $l
      (local.set $v (i32x4.add (i32x4.mul (local.get $v) (v128.const i32x4 3 5 7 9))
                               (v128.const i32x4 -1 1 -7 13)))
      (local.set $acc (i32.add (local.get $acc)
                        (i32.add (i8x16.bitmask (local.get $v))
                                 (i32.add (i32x4.all_true (local.get $v)) (v128.any_true (local.get $v))))))
      (br_if $l (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (i32.const 100))))
    (i32.add (local.get $acc) (i32x4.extract_lane 3 (local.get $v))))
)
