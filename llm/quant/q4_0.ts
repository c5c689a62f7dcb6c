// Q4_0 (GGUF type 2): blocks of 32, { f16 d; u8 qs[16] } = 18 bytes. Element j is the low
// nibble of qs[j], element j+16 the high nibble; x = (q - 8)*d. Paired with Q8_0 activations.
import { f16ToF32, f32ToF16 } from "./f16";
import { hsum, evens, odds, VK, K_HMASK, K_N0, hsumSplat, nonFiniteLanes, nonFinite8,
  halvesRawOf, specialHalves, halfRaised, unusualHalves, halfSignificands4, halfExponents4, halfSignificand,
  halfExponentBiased, scaleProducts, UNUSUAL_SCALE, orderingStore, prefetchRead, largestMagnitude, widenPairs } from "./common";
import { BLOCK_BYTES as Q8_BYTES, dot as dotQ8 } from "./q8_0";
import { fma32, fma32x4 } from "../math/fma";

export const QK: i32 = 32;
export const BLOCK_BYTES: i32 = 18;

/** quantize_row_q4_0_ref: d = (signed value of largest magnitude)/-8, q = min(15, (i8)(x/d + 8.5)). */
export function quantizeRow(src: usize, dst: usize, n: i32): void {
  const nb = n / QK;
  for (let i = 0; i < nb; i++) {
    const x = src + <usize>(i * QK * 4);
    const y = dst + <usize>(i * BLOCK_BYTES);
    const max = largestMagnitude(x, QK);
    const d = max / <f32>-8.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, <u16>f32ToF16(d));
    for (let j = 0; j < 16; j++) {
      // (int8_t) truncates toward zero; the sums are >= 0.5 - tiny, never below -1.
      const q0 = min(15, <i32>(load<f32>(x + (<usize>j << 2)) * id + <f32>8.5));
      const q1 = min(15, <i32>(load<f32>(x + (<usize>(j + 16) << 2)) * id + <f32>8.5));
      store<u8>(y + 2 + <usize>j, <u8>(q0 | (q1 << 4)));
    }
  }
}

/** Blocks of 32 values as { f16 d; u8 qs[16] }, element j the low nibble of qs[j] and j+16 its
 *  high nibble: x = levels[nibble]*d (levels: 16 int8 at `levels`; Q4_0's are -8..7). */
export function dequantizeNibbleBlocks(src: usize, dst: usize, n: i32, levels: usize): void {
  nibblesToF32(src, src + 2, BLOCK_BYTES, dst, n, levels);
}

/** dequantizeNibbleBlocks for a row whose block i has its scale at d + i*stride and its 16
 *  bytes of nibbles at q + i*stride (the file's layout, or an interleaved group's). */
function nibblesToF32(d: usize, q: usize, stride: usize, dst: usize, n: i32, levels: usize): void {
  for (let i = 0; i < n / 32; i++) {
    const b = q + <usize>i * stride;
    const scale = f16ToF32(load<u16>(d + <usize>i * stride));
    const y = dst + <usize>(i * 32 * 4);
    for (let j = 0; j < 16; j++) {
      const v = <u32>load<u8>(b + <usize>j);
      store<f32>(y + (<usize>j << 2), <f32>load<i8>(levels + <usize>(v & 15)) * scale);
      store<f32>(y + (<usize>(j + 16) << 2), <f32>load<i8>(levels + <usize>(v >> 4)) * scale);
    }
  }
}

/** Q4_0's levels: nibble - 8. */
const LEVELS = memory.data<i8>([-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7], 16);

/** dequantize_row_q4_0: x = (q - 8)*d. */
export function dequantizeRow(src: usize, dst: usize, n: i32): void { dequantizeNibbleBlocks(src, dst, n, LEVELS); }

/** Per block sumf = fma(sumi, dx*dy, sumf): the order of llama.cpp's repacked Q4_0 kernels on
 *  x86 (ggml_gemv/gemm_q4_0_8x8_q8_0, AVX2), which run every Q4_0 matrix whose row count is a
 *  multiple of 8. */
export function dotScalar(w: usize, x: usize, k: i32): f32 { return dotBlocks(w, w + 2, BLOCK_BYTES, x, k); }

/** dotScalar for a row whose block i has its scale at d + i*stride and its nibbles at q + i*stride. */
function dotBlocks(d: usize, q: usize, stride: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = q + <usize>i * stride, b = x + <usize>(i * Q8_BYTES);
    let sumi = 0;
    for (let j = 0; j < 16; j++) {
      const v = <i32>load<u8>(a + <usize>j);
      sumi += ((v & 15) - 8) * <i32>load<i8>(b + 2 + <usize>j);
      sumi += ((v >> 4) - 8) * <i32>load<i8>(b + 18 + <usize>j);
    }
    sumf = fma32(<f32>sumi, f16ToF32(load<u16>(d + <usize>i * stride)) * f16ToF32(load<u16>(b)), sumf);
  }
  return sumf;
}

// The SIMD kernels keep the 16 bytes of nibbles in i16 lanes (byte 2m in the low half of lane m,
// byte 2m+1 in the high half), take the four nibbles of each lane out with shifts and masks, and
// multiply them with the activations split the same way (even and odd bytes, sign-extended) by
// i16x8.mul: n*y summed over the four nibble vectors stays within i16 (4*15*127), and is widened
// once per block. The nibbles are unsigned, so 8*sum(y) is taken off once per block for all rows.
// All integer sums are exact (only their grouping differs from ggml's), and the float part keeps
// llama.cpp's x86 order: sumf = fma(sumi, dx*dy, sumf), block after block.
//
// These ops were chosen for both targets: on x64 (V8) each is one instruction; under QEMU's TCG
// (wasm2c + SIMDe -> NEON) i16x8.mul/add and bitwise ops are cheap, where i32x4.dot_i16x8_s and
// extmul (smull/smull2) and vector conversions cost several times more.

/** sum(n*y) over one block (four i32 lanes) for 16 bytes q of nibbles and the block's activations
 *  (ye0/yo0: even/odd bytes of elements 0..15, ye1/yo1 of 16..31). */
// @ts-ignore: decorator
@inline function q4m(q: v128, n0: v128, ye0: v128, yo0: v128, ye1: v128, yo1: v128): v128 {
  let a = i16x8.mul(v128.and(q, n0), ye0);
  a = i16x8.add(a, i16x8.mul(v128.and(i16x8.shr_u(q, 8), n0), yo0));
  a = i16x8.add(a, i16x8.mul(v128.and(i16x8.shr_u(q, 4), n0), ye1));
  return widenPairs(i16x8.add(a, i16x8.mul(i16x8.shr_u(q, 12), yo1)));
}

/** [8*sum(y), ...] over one block, from its even/odd activation vectors. */
// @ts-ignore: decorator
@inline function offset8(ye0: v128, yo0: v128, ye1: v128, yo1: v128): v128 {
  return hsumSplat(i32x4.shl(widenPairs(i16x8.add(i16x8.add(ye0, yo0), i16x8.add(ye1, yo1))), 3));
}

/** One row in the file's layout by one token: the SIMD integer sums on their own (the tests
 *  compare them with dotScalar; the engine's products go through gemm). */
export function dot(w: usize, x: usize, k: i32): f32 {
  const nb = k / QK;
  const n0 = v128.load(VK, K_N0);
  let sumf: f32 = 0;
  for (let i = 0; i < nb; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = x + <usize>(i * Q8_BYTES);
    const y0 = v128.load(b, 2), y1 = v128.load(b, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const sumi = hsum(q4m(v128.load(a, 2), n0, ye0, yo0, ye1, yo1)) - i32x4.extract_lane(offset8(ye0, yo0, ye1, yo1), 0);
    sumf = fma32(<f32>sumi, f16ToF32(load<u16>(a)) * f16ToF32(load<u16>(b)), sumf);
  }
  return sumf;
}

// ---- Interleaved rows: the layout of the matrices the tiles multiply ----
//
// A matrix whose row count is a multiple of 8 (those llama.cpp repacks, whose order the tiles
// keep) is rewritten once, when the engine loads it (interleave), into groups of four rows:
// group g keeps the bytes of rows 4g..4g+3 (4*rowBytes from 4g*rowBytes, so a range of rows
// starting at a multiple of 4 starts where it did), and holds their blocks side by side, block i
// as { f16 d[4]; u8 qs[4][16] } (72 bytes). A tile then reads four rows' scales with one 8-byte
// load and their nibbles from one pointer, where the file's layout takes four scale loads at four
// row addresses (llama.cpp's arm64 build repacks Q4_0 into groups of four rows too). The values
// and every sum are the file's: only where the bytes sit changes.

/** Bytes of one block of a group of four interleaved rows. */
export const GROUP_BLOCK_BYTES: i32 = 4 * BLOCK_BYTES;
const GROUP_SCALES: usize = 0, GROUP_NIBBLES: usize = 8;

/** Whether the products take a Q4_0 matrix of `rows` rows interleaved (and the tiles' order). */
export function interleaved(rows: i32): bool { return rows % 8 == 0; }

/** Bytes interleave needs besides the matrix: four rows. */
export function interleaveWorkBytes(k: i32): usize { return <usize>(k / QK) * <usize>GROUP_BLOCK_BYTES; }

/** Rewrites rows [0, rows) of k values at w (rows a multiple of 4) from the file's layout into
 *  the interleaved one, in place; work: interleaveWorkBytes(k) bytes. */
export function interleave(w: usize, rows: i32, k: i32, work: usize): void {
  const nb = k / QK, rb = <usize>nb * <usize>BLOCK_BYTES;
  for (let g = 0; g < rows; g += 4) {
    const group = w + <usize>g * rb;
    memory.copy(work, group, rb << 2);
    for (let i = 0; i < nb; i++) {
      const dst = group + <usize>i * GROUP_BLOCK_BYTES;
      for (let j = 0; j < 4; j++) {
        const src = work + <usize>j * rb + <usize>i * BLOCK_BYTES;
        store<u16>(dst + GROUP_SCALES + (<usize>j << 1), load<u16>(src));
        v128.store(dst + GROUP_NIBBLES + (<usize>j << 4), v128.load(src, 2));
      }
    }
  }
}

/** Row r of an interleaved matrix at w (rows of rowBytes) as f32 (embedding lookups). */
export function dequantizeInterleavedRow(w: usize, rowBytes: usize, r: i32, dst: usize, n: i32): void {
  const group = w + <usize>(r & ~3) * rowBytes, j = <usize>(r & 3);
  nibblesToF32(group + GROUP_SCALES + (j << 1), group + GROUP_NIBBLES + (j << 4), GROUP_BLOCK_BYTES, dst, n, LEVELS);
}

// Rows [0, nr) of an interleaved matrix (rows ws bytes apart) by one token, by the exact scalar
// path (tiles with a non-finite result only).
function exactRows(out: usize, w0: usize, ws: usize, nr: i32, x0: usize, k: i32): void {
  for (let r = 0; r < nr; r++) {
    const group = w0 + <usize>(r & ~3) * ws, j = <usize>(r & 3);
    store<f32>(out + (<usize>r << 2), dotBlocks(group + GROUP_SCALES + (j << 1), group + GROUP_NIBBLES + (j << 4), GROUP_BLOCK_BYTES, x0, k));
  }
}

// ---- The fast tiles: 32, 8 or 4 interleaved rows x one token ----
//
// Integer part: q (16 bytes of nibbles) is read as i16 lanes m = n_e + 16 n_e' + 256 n_o + 4096 n_o'
// (n_e/n_e' the low/high nibble of byte 2m: elements 2m and 16+2m; n_o/n_o' those of byte 2m+1).
// With Y0 = ye0, Y1 = ye1 - 16 ye0, Y2 = yo0 - 16 ye1, Y3 = yo1 - 16 yo0 (per block, shared by
// all rows), q*Y0 + (q >> 4)*Y1 + (q >> 8)*Y2 + (q >> 12)*Y3 = n_e ye0 + n_e' ye1 + n_o yo0 +
// n_o' yo1 modulo 2^16 (expand: the coefficients of n_e', n_o, n_o' telescope to ye1, yo0, yo1),
// and as that sum lies within +-4*15*128 the i16 lane holds it exactly: three shifts, four
// multiplies and three adds per row, no masks. Lanes are then folded across rows in i16 (sums of
// two and four lanes, within +-30720) and widened once per four rows. Float part: fma32x4 per
// four rows, with d = halvesRawOf(dx) * halfRaised(dy) (= dx*dy exactly, one multiply; in the
// kernel's build by integer ops, scaleProducts, and a zero or subnormal scale takes the exact
// path too). The
// tile's output slots take stores of intermediate values that keep V8 from hoisting the next
// rows' loads (see tile32). The integer ops are i16x8 shifts, multiplies, adds and shuffles: no
// dot_i16x8 or extmul, which QEMU's TCG runs slowly.

/** One row's block: eight i16 lanes of n*y sums (|lane| <= 4*15*128), see above. */
// @ts-ignore: decorator
@inline function q4p(q: v128, Y0: v128, Y1: v128, Y2: v128, Y3: v128): v128 {
  return i16x8.add(i16x8.add(i16x8.mul(q, Y0), i16x8.mul(i16x8.shr_u(q, 4), Y1)),
    i16x8.add(i16x8.mul(i16x8.shr_u(q, 8), Y2), i16x8.mul(i16x8.shr_u(q, 12), Y3)));
}

/** Rows a, b (eight i16 lanes each) folded to [a a a a b b b b] (|lane| <= 15360). */
// @ts-ignore: decorator
@inline function fold2(a: v128, b: v128): v128 {
  return i16x8.add(i64x2.shuffle(a, b, 0, 2), i64x2.shuffle(a, b, 1, 3));
}

/** fold2(a, b), fold2(c, d) -> i32 [a, b, c, d] (pairs of i16 lanes within +-30720, widened). */
// @ts-ignore: decorator
@inline function fold4(ab: v128, cd: v128): v128 {
  return widenPairs(i16x8.add(i32x4.shuffle(ab, cd, 0, 2, 4, 6), i32x4.shuffle(ab, cd, 1, 3, 5, 7)));
}

/** sumi of a group's four rows for its block at g, as f32x4 (exact: |sumi| < 2^24); stores
 *  an intermediate at `bar` (a slot of the tile's output, see above). */
// @ts-ignore: decorator
@inline function sums4(g: usize, Y0: v128, Y1: v128, Y2: v128, Y3: v128, cy: v128, bar: usize): v128 {
  const ab = fold2(q4p(v128.load(g, GROUP_NIBBLES), Y0, Y1, Y2, Y3), q4p(v128.load(g, GROUP_NIBBLES + 16), Y0, Y1, Y2, Y3));
  orderingStore(bar, ab);
  const cd = fold2(q4p(v128.load(g, GROUP_NIBBLES + 32), Y0, Y1, Y2, Y3), q4p(v128.load(g, GROUP_NIBBLES + 48), Y0, Y1, Y2, Y3));
  return f32x4.convert_i32x4_s(i32x4.sub(fold4(ab, cd), cy));
}

/** The scales of a group's four rows for its block at g (in the order common.ts's gather4Halves gives). */
// @ts-ignore: decorator
@inline function scaleBits4(g: usize): u64 { return load<u64>(g, GROUP_SCALES); }

/** specialHalves' flag bits: some weight scale was infinite or NaN, which halvesRawOf turns
 *  into a finite value (the exact path then gives ggml's inf or NaN). In the kernel's build
 *  (rowFlags, tokenFlag), also a zero or subnormal scale, which scaleProducts does not take. */
const SPECIAL: u64 = 0x8000800080008000;

/** The flags (SPECIAL) of four rows' scales h. */
// @ts-ignore: decorator
@inline function rowFlags(h: u64): u64 { return SIS_AOT ? unusualHalves(h) : specialHalves(h); }

/** A token block's scale hy as scaleProducts takes it (halfExponentBiased), in the kernel's build. */
// @ts-ignore: decorator
@inline function tokenScaleBits(hy: i32): i32 { return SIS_AOT ? halfExponentBiased(hy) : 0; }

/** A flag (SPECIAL) if the token's scale, as tokenScaleBits gave it, is not a normal half. */
// @ts-ignore: decorator
@inline function tokenFlag(ey: i32): u64 { return <u64>(<u32>(ey & UNUSUAL_SCALE) >> 15); }

/** d = dx*dy for four rows' scales h and the token's block: in the kernel's build by integer ops
 *  (scaleProducts, with the token's significand my and tokenScaleBits ey, splat), elsewhere one
 *  multiply (dyr: halfRaised(dy), splat). */
// @ts-ignore: decorator
@inline function rowScales(h: u64, hm: v128, dyr: v128, my: v128, ey: v128): v128 {
  return SIS_AOT ? scaleProducts(halfSignificands4(h), halfExponents4(h), my, ey) : f32x4.mul(halvesRawOf(h, hm), dyr);
}

/** A zero word: the tiles' prefetch loads are folded into a test against it, so they stay. */
const ZERO = memory.data<u32>([0]);

// Thirty-two weight rows x one token (eight groups of four, the activations' work shared by
// all), and a read of one word per cache line of the 32 rows at `ahead` (576 bytes, 32 rows'
// worth of blocks, per block, spread over the block's work; the whole of them by the end). The
// tile reads its rows as eight streams (a group's each), which the hardware prefetchers
// follow poorly when the weights come from DRAM; this one sequential stream two tiles ahead (gemm) gets
// them into the caches in time, as a prefetch instruction would (wasm has none): TinyLlama-
// shaped decode 15-20% faster (the same loads bunched at the top of the block: ~7%). `ahead` =
// w0 reads the tile's own lines (no effect). The eight accumulators live where V8 puts them
// (partly spilled, as memory accumulators would be); each group's store into another group's
// output slot is a barrier that keeps V8 from loading every row of the block at once and
// running out of registers.
function tile32(out: usize, w0: usize, ws: usize, x0: usize, k: i32, ahead: usize): void {
  const nb = k / QK;
  const ws4 = ws << 2;
  let p = w0, y = x0;
  const hm = v128.load(VK, K_HMASK);
  let c0 = f32x4.splat(0), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0;
  let touched: u32 = 0, a = ahead, special: u64 = 0;
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const cy = offset8(ye0, yo0, ye1, yo1);
    const Y1 = i16x8.sub(ye1, i16x8.shl(ye0, 4)), Y2 = i16x8.sub(yo0, i16x8.shl(ye1, 4)), Y3 = i16x8.sub(yo1, i16x8.shl(yo0, 4));
    // the token's scale dy: in the kernel's build as scaleProducts takes it, elsewhere halfRaised
    const hy = SIS_AOT ? <i32>load<u16>(y) : 0, ey = tokenScaleBits(hy), dyr = SIS_AOT ? f32x4.splat(0) : f32x4.splat(halfRaised(y));
    const myv = i32x4.splat(SIS_AOT ? halfSignificand(hy) : 0), eyv = i32x4.splat(ey);
    touched |= prefetchRead(a + 0);
    const h0 = scaleBits4(p);
    special |= rowFlags(h0) | tokenFlag(ey);
    c0 = fma32x4(sums4(p, ye0, Y1, Y2, Y3, cy, out + 64), rowScales(h0, hm, dyr, myv, eyv), c0);
    orderingStore(out + 64, c0);
    touched |= prefetchRead(a + 64);
    const q1 = p + ws4;
    const h1 = scaleBits4(q1);
    special |= rowFlags(h1);
    c1 = fma32x4(sums4(q1, ye0, Y1, Y2, Y3, cy, out + 80), rowScales(h1, hm, dyr, myv, eyv), c1);
    orderingStore(out + 80, c1);
    touched |= prefetchRead(a + 128);
    const q2 = q1 + ws4;
    const h2 = scaleBits4(q2);
    special |= rowFlags(h2);
    c2 = fma32x4(sums4(q2, ye0, Y1, Y2, Y3, cy, out + 96), rowScales(h2, hm, dyr, myv, eyv), c2);
    orderingStore(out + 96, c2);
    touched |= prefetchRead(a + 192);
    const q3 = q2 + ws4;
    const h3 = scaleBits4(q3);
    special |= rowFlags(h3);
    c3 = fma32x4(sums4(q3, ye0, Y1, Y2, Y3, cy, out + 112), rowScales(h3, hm, dyr, myv, eyv), c3);
    orderingStore(out + 112, c3);
    touched |= prefetchRead(a + 256);
    const q4 = q3 + ws4;
    const h4 = scaleBits4(q4);
    special |= rowFlags(h4);
    c4 = fma32x4(sums4(q4, ye0, Y1, Y2, Y3, cy, out + 0), rowScales(h4, hm, dyr, myv, eyv), c4);
    orderingStore(out, c4);
    touched |= prefetchRead(a + 320);
    const q5 = q4 + ws4;
    const h5 = scaleBits4(q5);
    special |= rowFlags(h5);
    c5 = fma32x4(sums4(q5, ye0, Y1, Y2, Y3, cy, out + 16), rowScales(h5, hm, dyr, myv, eyv), c5);
    orderingStore(out + 16, c5);
    touched |= prefetchRead(a + 384);
    const q6 = q5 + ws4;
    const h6 = scaleBits4(q6);
    special |= rowFlags(h6);
    c6 = fma32x4(sums4(q6, ye0, Y1, Y2, Y3, cy, out + 32), rowScales(h6, hm, dyr, myv, eyv), c6);
    orderingStore(out + 32, c6);
    touched |= prefetchRead(a + 448);
    const q7 = q6 + ws4;
    const h7 = scaleBits4(q7);
    special |= rowFlags(h7);
    c7 = fma32x4(sums4(q7, ye0, Y1, Y2, Y3, cy, out + 48), rowScales(h7, hm, dyr, myv, eyv), c7);
    orderingStore(out + 48, c7);
    touched |= prefetchRead(a + 512);
    a += 32 * BLOCK_BYTES;
    p += GROUP_BLOCK_BYTES; y += Q8_BYTES;
  }
  if ((special & SPECIAL) != 0 || nonFinite8(c0, c1, c2, c3, c4, c5, c6, c7) || (touched & load<u32>(ZERO)) != 0) {
    exactRows(out, w0, ws, 32, x0, k);
    return;
  }
  v128.store(out, c0); v128.store(out, c1, 16); v128.store(out, c2, 32); v128.store(out, c3, 48);
  v128.store(out, c4, 64); v128.store(out, c5, 80); v128.store(out, c6, 96); v128.store(out, c7, 112);
}

// Eight weight rows x one token (tile32 for the last 8, 16 or 24 rows of a matrix).
function tile8(out: usize, w0: usize, ws: usize, x0: usize, k: i32): void {
  const nb = k / QK;
  const ws4 = ws << 2;
  let p = w0, y = x0;
  const hm = v128.load(VK, K_HMASK);
  let c0 = f32x4.splat(0), c1 = c0, special: u64 = 0;
  for (let i = 0; i < nb; i++) {
    const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
    const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
    const cy = offset8(ye0, yo0, ye1, yo1);
    const Y1 = i16x8.sub(ye1, i16x8.shl(ye0, 4)), Y2 = i16x8.sub(yo0, i16x8.shl(ye1, 4)), Y3 = i16x8.sub(yo1, i16x8.shl(yo0, 4));
    // the token's scale dy: in the kernel's build as scaleProducts takes it, elsewhere halfRaised
    const hy = SIS_AOT ? <i32>load<u16>(y) : 0, ey = tokenScaleBits(hy), dyr = SIS_AOT ? f32x4.splat(0) : f32x4.splat(halfRaised(y));
    const myv = i32x4.splat(SIS_AOT ? halfSignificand(hy) : 0), eyv = i32x4.splat(ey);
    const h0 = scaleBits4(p), h1 = scaleBits4(p + ws4);
    special |= rowFlags(h0) | rowFlags(h1) | tokenFlag(ey);
    c0 = fma32x4(sums4(p, ye0, Y1, Y2, Y3, cy, out + 16), rowScales(h0, hm, dyr, myv, eyv), c0);
    orderingStore(out + 16, c0);
    const q1 = p + ws4;
    c1 = fma32x4(sums4(q1, ye0, Y1, Y2, Y3, cy, out), rowScales(h1, hm, dyr, myv, eyv), c1);
    orderingStore(out, c1);
    p += GROUP_BLOCK_BYTES; y += Q8_BYTES;
  }
  if ((special & SPECIAL) != 0 || v128.any_true(v128.or(nonFiniteLanes(c0), nonFiniteLanes(c1)))) { exactRows(out, w0, ws, 8, x0, k); return; }
  v128.store(out, c0); v128.store(out, c1, 16);
}

// ---- Prompts compiled ahead of time: four rows x four tokens on prepared activations ----
//
// Under QEMU's TCG an integer vector op costs about a nanosecond and a float one 25-30 ns (a
// library call per lane), so the tiles' float part (three ops per four rows and token) is fixed
// and the integer part is what can shrink. For a batch, what the tiles above work out from each
// token's block every time (Y0..Y3, 8*sum(y), dy's significand and exponent: ~20 integer ops)
// is prepared once per product, before it is split across the cores (prepare), and four tokens
// share each block's weight loads, shifts and scales (tile4x4). The scales' products are
// integer ops too (scaleProducts: 17% faster tiles under TCG than one float multiply).
// TinyLlama-shaped prefill in QEMU: see docs/BENCHMARKS.md.

/** Bytes of one token's block as prepare writes it: Y0..Y3 (i16x8 each), 8*sum(y) (i32) at
 *  PREP_CY, dy as scaleProducts takes it at PREP_MY (halfSignificand) and PREP_EY
 *  (halfExponentBiased), 4 bytes of padding. */
export const PREP_BYTES: i32 = 80;
const PREP_CY: i32 = 64, PREP_MY: i32 = 68, PREP_EY: i32 = 72;

/** Whether gemm multiplies by tokens prepared by prepare: compiled ahead of time, a batch of
 *  four or more, a matrix llama.cpp repacks. */
export function takesPrepared(n: i32, matrixRows: i32): bool { return SIS_AOT && n >= 4 && matrixRows % 8 == 0; }

/** Bytes prepare writes for n tokens of k (0 for fewer than four). Planned in every build, so
 *  that the scratch layout, and the memory sis-llm reports for a model, is the kernel's. */
export function preparedBytes(k: i32, n: i32): usize {
  return n >= 4 ? <usize>(k / QK) * <usize>n * <usize>PREP_BYTES : 0;
}

/** The n tokens' blocks at x (Q8_0 rows xStride apart) as tile4x4 reads them: block i of token
 *  t at dst + (i*n + t)*PREP_BYTES. */
export function prepare(dst: usize, x: usize, xStride: usize, n: i32, k: i32): void {
  const nb = k / QK, bs = <usize>n * PREP_BYTES;
  for (let t = 0; t < n; t++) {
    let y = x + <usize>t * xStride, d = dst + <usize>t * PREP_BYTES;
    for (let i = 0; i < nb; i++) {
      const y0 = v128.load(y, 2), y1 = v128.load(y, 18);
      const ye0 = evens(y0), yo0 = odds(y0), ye1 = evens(y1), yo1 = odds(y1);
      v128.store(d, ye0);
      v128.store(d, i16x8.sub(ye1, i16x8.shl(ye0, 4)), 16);
      v128.store(d, i16x8.sub(yo0, i16x8.shl(ye1, 4)), 32);
      v128.store(d, i16x8.sub(yo1, i16x8.shl(yo0, 4)), 48);
      store<i32>(d, i32x4.extract_lane(offset8(ye0, yo0, ye1, yo1), 0), PREP_CY);
      const hy = <i32>load<u16>(y);
      store<i32>(d, halfSignificand(hy), PREP_MY);
      store<i32>(d, halfExponentBiased(hy), PREP_EY);
      y += Q8_BYTES; d += bs;
    }
  }
}

/** sumi of a group's four rows for its block at g and one prepared token block at y, as f32x4. */
// @ts-ignore: decorator
@inline function preparedSums4(g: usize, y: usize): v128 {
  const Y0 = v128.load(y), Y1 = v128.load(y, 16), Y2 = v128.load(y, 32), Y3 = v128.load(y, 48);
  const ab = fold2(q4p(v128.load(g, GROUP_NIBBLES), Y0, Y1, Y2, Y3), q4p(v128.load(g, GROUP_NIBBLES + 16), Y0, Y1, Y2, Y3));
  const cd = fold2(q4p(v128.load(g, GROUP_NIBBLES + 32), Y0, Y1, Y2, Y3), q4p(v128.load(g, GROUP_NIBBLES + 48), Y0, Y1, Y2, Y3));
  return f32x4.convert_i32x4_s(i32x4.sub(fold4(ab, cd), v128.load32_splat(y, PREP_CY)));
}

// Four weight rows x four tokens (out + t*os, x + t*xs for the exact path; their prepared blocks
// at y + t*PREP_BYTES, a block's ys bytes apart). The four tokens' preparedSums4 load and shift
// the same weights, which clang computes once.
function tile4x4(out: usize, os: usize, w0: usize, ws: usize, y0: usize, ys: usize, x0: usize, xs: usize, k: i32): void {
  const nb = k / QK;
  let p = w0, y = y0;
  let a = f32x4.splat(0), b = a, c = a, d = a;
  let special: u64 = 0;
  for (let i = 0; i < nb; i++) {
    const h = scaleBits4(p);
    const mx = halfSignificands4(h), ex = halfExponents4(h);
    const e0 = load<i32>(y, PREP_EY), e1 = load<i32>(y, PREP_BYTES + PREP_EY);
    const e2 = load<i32>(y, 2 * PREP_BYTES + PREP_EY), e3 = load<i32>(y, 3 * PREP_BYTES + PREP_EY);
    special |= rowFlags(h) | tokenFlag(e0 | e1 | e2 | e3);
    a = fma32x4(preparedSums4(p, y), scaleProducts(mx, ex, v128.load32_splat(y, PREP_MY), i32x4.splat(e0)), a);
    b = fma32x4(preparedSums4(p, y + PREP_BYTES), scaleProducts(mx, ex, v128.load32_splat(y, PREP_BYTES + PREP_MY), i32x4.splat(e1)), b);
    c = fma32x4(preparedSums4(p, y + 2 * PREP_BYTES), scaleProducts(mx, ex, v128.load32_splat(y, 2 * PREP_BYTES + PREP_MY), i32x4.splat(e2)), c);
    d = fma32x4(preparedSums4(p, y + 3 * PREP_BYTES), scaleProducts(mx, ex, v128.load32_splat(y, 3 * PREP_BYTES + PREP_MY), i32x4.splat(e3)), d);
    p += GROUP_BLOCK_BYTES; y += ys;
  }
  if ((special & SPECIAL) != 0 || v128.any_true(v128.or(v128.or(nonFiniteLanes(a), nonFiniteLanes(b)), v128.or(nonFiniteLanes(c), nonFiniteLanes(d))))) {
    for (let t = 0; t < 4; t++) exactRows(out + <usize>t * os, w0, ws, 4, x0 + <usize>t * xs, k);
    return;
  }
  v128.store(out, a); v128.store(out + os, b); v128.store(out + 2 * os, c); v128.store(out + 3 * os, d);
}

/** One Q4_0 row (k values) rewritten as a Q8_0 row at dst: the same scale, each nibble minus 8
 *  as an int8. Exact: both rows hold the same values. */
function toQ8Row(w: usize, dst: usize, k: i32): void {
  const eight = i8x16.splat(8), lo4 = i8x16.splat(15);
  for (let i = 0; i < k / QK; i++) {
    const a = w + <usize>(i * BLOCK_BYTES), b = dst + <usize>(i * Q8_BYTES);
    store<u16>(b, load<u16>(a));
    const q = v128.load(a, 2);
    v128.store(b, i8x16.sub(v128.and(q, lo4), eight), 2);
    v128.store(b, i8x16.sub(v128.and(i16x8.shr_u(q, 4), lo4), eight), 18);
  }
}

/** Work bytes gemm needs (the caller provides them): one weight row as Q8_0, for matrices
 *  whose row count is not a multiple of 8. */
export function gemmWorkBytes(k: i32): usize { return <usize>(k / QK) * <usize>Q8_BYTES; }

/**
 * out[t*outStride + r] = W[r]·X[t] for r < nr, t < nt. Strides in bytes except outStride
 * (floats). matrixRows: the weight's whole row count. llama.cpp repacks a Q4_0 matrix whose
 * rows are a multiple of 8 and multiplies it in the repacked kernels' order: such a matrix is
 * interleaved (see interleave; nr and the first row a multiple of 8) and goes through the tiles
 * above, thirty-two rows at a time, then eight, for every token while those rows' weights are
 * in the cache (compiled ahead of time, four rows by four tokens on the tokens prepare wrote at
 * prep, block i of token t at prep + i*prepStride + t*PREP_BYTES). Any other matrix, in the
 * file's layout, goes through ggml_vec_dot_q4_0_q8_0 (or tinyBLAS, same order), whose lanes
 * and fused steps are vec_dot_q8_0_q8_0's with the nibbles minus 8 as weights: each row is
 * rewritten as Q8_0 once and multiplied by q8_0.ts's dot.
 */
export function gemm(out: usize, outStride: i32, w: usize, wStride: usize, nr: i32, x: usize, xStride: usize, nt: i32, k: i32,
                     work: usize, matrixRows: i32, prep: usize, prepStride: usize): void {
  const os = <usize>outStride << 2;
  if (!interleaved(matrixRows)) {
    const row = work; // gemmWorkBytes: one weight row rewritten as Q8_0
    for (let r = 0; r < nr; r++) {
      toQ8Row(w + <usize>r * wStride, row, k);
      for (let t = 0; t < nt; t++) store<f32>(out + <usize>t * os + (<usize>r << 2), dotQ8(row, x + <usize>t * xStride, k));
    }
    return;
  }
  if (SIS_AOT && prep != 0 && nt >= 4) {
    const nq = nt & ~3;
    for (let r = 0; r + 4 <= nr; r += 4) {
      const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
      for (let t = 0; t < nq; t += 4) {
        tile4x4(o + <usize>t * os, os, wr, wStride, prep + <usize>t * PREP_BYTES, prepStride, x + <usize>t * xStride, xStride, k);
      }
    }
    if (nq == nt) return;
    out += <usize>nq * os; x += <usize>nq * xStride; nt -= nq;
  }
  let r = 0;
  for (; r + 32 <= nr; r += 32) {
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    const ahead = r + 96 <= nr ? wr + (wStride << 6) : wr; // rows r+64..r+95, within [0, nr)
    for (let t = 0; t < nt; t++) tile32(o + <usize>t * os, wr, wStride, x + <usize>t * xStride, k, t == 0 ? ahead : wr);
  }
  for (; r + 8 <= nr; r += 8) {
    const wr = w + <usize>r * wStride, o = out + (<usize>r << 2);
    for (let t = 0; t < nt; t++) tile8(o + <usize>t * os, wr, wStride, x + <usize>t * xStride, k);
  }
  // four rows left: a range the engine does not make (its units are 32 rows), taken exactly
  if (r < nr) for (let t = 0; t < nt; t++) exactRows(out + <usize>t * os + (<usize>r << 2), w + <usize>r * wStride, wStride, nr - r, x + <usize>t * xStride, k);
}
