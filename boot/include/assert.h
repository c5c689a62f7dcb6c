/* Freestanding stand-in: wasm2c output only uses assert for internal invariants. */
#pragma once
#define assert(x) ((void)0)
