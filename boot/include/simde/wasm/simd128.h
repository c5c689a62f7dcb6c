/* SIMDe's WebAssembly SIMD for wasm2c output, with one change: the shifts.
   SIMDe lowers wasm shifts on NEON to a shift by a register (vshlq with a negated splat),
   which clang 14 keeps even for constant counts and which QEMU's TCG runs through an
   out-of-line helper (13-23 ns against ~1 ns for an immediate shift). Written with vector
   extensions, constant counts become SHL/USHR/SSHR #imm. Same semantics as wasm: the
   count is taken modulo the lane width. This header shadows SIMDe's (boot/include comes
   first on the include path) and includes the real one with #include_next. */
#ifndef SIS_SIMDE_WASM_SIMD128_H
#define SIS_SIMDE_WASM_SIMD128_H
#include_next <simde/wasm/simd128.h>

#define SIS_WASM_SHIFT(name, T, op, mask)                                          \
  static inline simde_v128_t name(simde_v128_t a, uint32_t c) {                   \
    typedef T v_t __attribute__((vector_size(16)));                                \
    v_t v;                                                                         \
    __builtin_memcpy(&v, &a, 16);                                                  \
    v = v op (T)(c & (mask));                                                      \
    __builtin_memcpy(&a, &v, 16);                                                  \
    return a;                                                                      \
  }
SIS_WASM_SHIFT(sis_wasm_i8x16_shl, int8_t, <<, 7)
SIS_WASM_SHIFT(sis_wasm_i16x8_shl, int16_t, <<, 15)
SIS_WASM_SHIFT(sis_wasm_i32x4_shl, int32_t, <<, 31)
SIS_WASM_SHIFT(sis_wasm_i64x2_shl, int64_t, <<, 63)
SIS_WASM_SHIFT(sis_wasm_i8x16_shr, int8_t, >>, 7)
SIS_WASM_SHIFT(sis_wasm_i16x8_shr, int16_t, >>, 15)
SIS_WASM_SHIFT(sis_wasm_i32x4_shr, int32_t, >>, 31)
SIS_WASM_SHIFT(sis_wasm_i64x2_shr, int64_t, >>, 63)
SIS_WASM_SHIFT(sis_wasm_u8x16_shr, uint8_t, >>, 7)
SIS_WASM_SHIFT(sis_wasm_u16x8_shr, uint16_t, >>, 15)
SIS_WASM_SHIFT(sis_wasm_u32x4_shr, uint32_t, >>, 31)
SIS_WASM_SHIFT(sis_wasm_u64x2_shr, uint64_t, >>, 63)

#define simde_wasm_i8x16_shl sis_wasm_i8x16_shl
#define simde_wasm_i16x8_shl sis_wasm_i16x8_shl
#define simde_wasm_i32x4_shl sis_wasm_i32x4_shl
#define simde_wasm_i64x2_shl sis_wasm_i64x2_shl
#define simde_wasm_i8x16_shr sis_wasm_i8x16_shr
#define simde_wasm_i16x8_shr sis_wasm_i16x8_shr
#define simde_wasm_i32x4_shr sis_wasm_i32x4_shr
#define simde_wasm_i64x2_shr sis_wasm_i64x2_shr
#define simde_wasm_u8x16_shr sis_wasm_u8x16_shr
#define simde_wasm_u16x8_shr sis_wasm_u16x8_shr
#define simde_wasm_u32x4_shr sis_wasm_u32x4_shr
#define simde_wasm_u64x2_shr sis_wasm_u64x2_shr
#endif
