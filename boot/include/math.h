/* Freestanding stand-in for the few libm calls wasm2c emits: all map to AArch64
   instructions through clang builtins (fsqrt, frintm/p/z/n, fabs, fmin/fmax). */
#pragma once
#define sqrtf __builtin_sqrtf
#define sqrt __builtin_sqrt
#define floorf __builtin_floorf
#define floor __builtin_floor
#define ceilf __builtin_ceilf
#define ceil __builtin_ceil
#define truncf __builtin_truncf
#define trunc __builtin_trunc
#define nearbyintf __builtin_nearbyintf
#define nearbyint __builtin_nearbyint
#define rintf __builtin_rintf
#define rint __builtin_rint
#define fabsf __builtin_fabsf
#define fabs __builtin_fabs
#define copysignf __builtin_copysignf
#define copysign __builtin_copysign
#define fminf __builtin_fminf
#define fmin __builtin_fmin
#define fmaxf __builtin_fmaxf
#define fmax __builtin_fmax
#define signbit __builtin_signbit
#define isnan __builtin_isnan
#define isinf __builtin_isinf
#define INFINITY __builtin_inff()
#define NAN __builtin_nanf("")
