// ggml tensor types as they appear in GGUF files: id, name, elements per block, bytes per block.
// One table for the reader (size checks), the quant formats and the tools.

export const GGML_F32: u32 = 0;
export const GGML_F16: u32 = 1;
export const GGML_Q4_0: u32 = 2;
export const GGML_Q4_1: u32 = 3;
export const GGML_Q5_0: u32 = 6;
export const GGML_Q5_1: u32 = 7;
export const GGML_Q8_0: u32 = 8;
export const GGML_Q8_1: u32 = 9;
export const GGML_Q2_K: u32 = 10;
export const GGML_Q3_K: u32 = 11;
export const GGML_Q4_K: u32 = 12;
export const GGML_Q5_K: u32 = 13;
export const GGML_Q6_K: u32 = 14;
export const GGML_Q8_K: u32 = 15;
export const GGML_IQ4_NL: u32 = 20;
export const GGML_I8: u32 = 24;
export const GGML_I16: u32 = 25;
export const GGML_I32: u32 = 26;
export const GGML_I64: u32 = 27;
export const GGML_F64: u32 = 28;
export const GGML_BF16: u32 = 30;

/** Elements per block, 0 for an id this project does not know. */
export function blockElements(t: u32): u32 {
  switch (t) {
    case GGML_F32: case GGML_F16: case GGML_BF16: case GGML_I8: case GGML_I16:
    case GGML_I32: case GGML_I64: case GGML_F64: return 1;
    case GGML_Q4_0: case GGML_Q4_1: case GGML_Q5_0: case GGML_Q5_1: case GGML_Q8_0: case GGML_Q8_1: case GGML_IQ4_NL: return 32;
    case GGML_Q2_K: case GGML_Q3_K: case GGML_Q4_K: case GGML_Q5_K: case GGML_Q6_K: case GGML_Q8_K: return 256;
  }
  return 0;
}

/** Bytes per block, 0 for an unknown id. */
export function blockBytes(t: u32): u32 {
  switch (t) {
    case GGML_F32: return 4;
    case GGML_F16: return 2;
    case GGML_BF16: return 2;
    case GGML_I8: return 1;
    case GGML_I16: return 2;
    case GGML_I32: return 4;
    case GGML_I64: return 8;
    case GGML_F64: return 8;
    case GGML_Q4_0: return 18;   // f16 scale + 16 bytes of nibbles
    case GGML_Q4_1: return 20;   // f16 scale, f16 min + 16 bytes
    case GGML_Q5_0: return 22;
    case GGML_IQ4_NL: return 18;  // f16 scale + 16 bytes of nibbles (indices into 16 levels)
    case GGML_Q5_1: return 24;
    case GGML_Q8_0: return 34;   // f16 scale + 32 int8
    case GGML_Q8_1: return 36;
    case GGML_Q2_K: return 84;
    case GGML_Q3_K: return 110;
    case GGML_Q4_K: return 144;  // f16 d, f16 dmin, 12 bytes scales, 128 bytes nibbles
    case GGML_Q5_K: return 176;
    case GGML_Q6_K: return 210;  // 128 ql, 64 qh, 16 scales, f16 d
    case GGML_Q8_K: return 292;  // f32 d, 256 int8, 16 int16 block sums
  }
  return 0;
}

export function typeName(t: u32): string {
  switch (t) {
    case GGML_F32: return "F32";
    case GGML_F16: return "F16";
    case GGML_BF16: return "BF16";
    case GGML_Q4_0: return "Q4_0";
    case GGML_Q4_1: return "Q4_1";
    case GGML_Q5_0: return "Q5_0";
    case GGML_Q5_1: return "Q5_1";
    case GGML_Q8_0: return "Q8_0";
    case GGML_Q8_1: return "Q8_1";
    case GGML_Q2_K: return "Q2_K";
    case GGML_Q3_K: return "Q3_K";
    case GGML_Q4_K: return "Q4_K";
    case GGML_Q5_K: return "Q5_K";
    case GGML_Q6_K: return "Q6_K";
    case GGML_Q8_K: return "Q8_K";
    case GGML_IQ4_NL: return "IQ4_NL";
    case GGML_I8: return "I8";
    case GGML_I16: return "I16";
    case GGML_I32: return "I32";
    case GGML_I64: return "I64";
    case GGML_F64: return "F64";
  }
  return "type " + t.toString();
}

/** Bytes of one row of `n` elements, or 0 when n is not a whole number of blocks. */
export function rowBytes(t: u32, n: u64): u64 {
  const be = blockElements(t);
  if (be == 0 || n % <u64>be != 0) return 0;
  return (n / <u64>be) * <u64>blockBytes(t);
}
