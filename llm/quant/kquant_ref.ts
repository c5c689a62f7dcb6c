// The scale searches of ggml's reference K-quant quantizers (make_qkx2_quants for Q4_K/Q5_K,
// make_qx_quants for Q6_K), translated operation for operation: every f32 expression keeps
// C's evaluation order, since the reference files depend on the exact roundings.
// Arrays are raw pointers: x/weights f32, L/Laux u8 (or i8 for make_qx_quants).
import { nearestInt } from "./common";
import { f16ToF32, f32ToF16 } from "./f16";

// @ts-ignore: decorator
@inline function f(p: usize, i: i32): f32 { return load<f32>(p + (<usize>i << 2)); }

/** make_qkx2_quants: returns the scale, stores -min (the block minimum, >= 0) at theMin. */
export function makeQkx2Quants(n: i32, nmax: i32, x: usize, weights: usize, L: usize, theMin: usize, Laux: usize,
  rmin: f32, rdelta: f32, nstep: i32, useMad: bool): f32 {
  let mn = f(x, 0), mx = f(x, 0);
  let sumW = f(weights, 0);
  let sumX = sumW * f(x, 0);
  for (let i = 1; i < n; i++) {
    const xi = f(x, i);
    if (xi < mn) mn = xi;
    if (xi > mx) mx = xi;
    const w = f(weights, i);
    sumW += w;
    sumX += w * xi;
  }
  if (mn > 0) mn = 0;
  if (mx == mn) {
    for (let i = 0; i < n; i++) store<u8>(L + <usize>i, 0);
    store<f32>(theMin, -mn);
    return 0;
  }
  let iscale = <f32>nmax / (mx - mn);
  let scale = <f32>1.0 / iscale;
  let bestError: f32 = 0;
  for (let i = 0; i < n; i++) {
    const l = nearestInt(iscale * (f(x, i) - mn));
    const lc = max(0, min(nmax, l));
    store<u8>(L + <usize>i, <u8>lc);
    let diff = scale * <f32>lc + mn - f(x, i);
    diff = useMad ? Mathf.abs(diff) : diff * diff;
    bestError += f(weights, i) * diff;
  }
  if (nstep < 1) {
    store<f32>(theMin, -mn);
    return scale;
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * <f32>is + <f32>nmax) / (mx - mn);
    let sumL: f32 = 0, sumL2: f32 = 0, sumXL: f32 = 0;
    for (let i = 0; i < n; i++) {
      const xi = f(x, i);
      const l = max(0, min(nmax, nearestInt(iscale * (xi - mn))));
      store<u8>(Laux + <usize>i, <u8>l);
      const w = f(weights, i);
      const fl = <f32>l;
      sumL += w * fl;
      sumL2 += w * fl * fl;
      sumXL += w * fl * xi;
    }
    const D = sumW * sumL2 - sumL * sumL;
    if (D > 0) {
      let thisScale = (sumW * sumXL - sumX * sumL) / D;
      let thisMin = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
      let curError: f32 = 0;
      for (let i = 0; i < n; i++) {
        let diff = thisScale * <f32>load<u8>(Laux + <usize>i) + thisMin - f(x, i);
        diff = useMad ? Mathf.abs(diff) : diff * diff;
        curError += f(weights, i) * diff;
      }
      if (curError < bestError) {
        memory.copy(L, Laux, <usize>n);
        bestError = curError;
        scale = thisScale;
        mn = thisMin;
      }
    }
  }
  store<f32>(theMin, -mn);
  return scale;
}

/** make_qx_quants with rmse_type 1 and no importance weights (the only use in the _ref paths):
 *  L[i] in [0, 2*nmax), returns the scale. */
export function makeQxQuants(n: i32, nmax: i32, x: usize, L: usize): f32 {
  let vmax: f32 = 0, amax: f32 = 0;
  for (let i = 0; i < n; i++) {
    const ax = Mathf.abs(f(x, i));
    if (ax > amax) { amax = ax; vmax = f(x, i); }
  }
  if (amax < <f32>1e-15) { // GROUP_MAX_EPS
    for (let i = 0; i < n; i++) store<i8>(L + <usize>i, 0);
    return 0;
  }
  let iscale = <f32>(-nmax) / vmax;
  let sumlx: f32 = 0, suml2: f32 = 0;
  for (let i = 0; i < n; i++) {
    const xi = f(x, i);
    const l = max(-nmax, min(nmax - 1, nearestInt(iscale * xi)));
    store<i8>(L + <usize>i, <i8>(l + nmax));
    const w = xi * xi;
    const fl = <f32>l;
    sumlx += w * xi * fl;
    suml2 += w * fl * fl;
  }
  let scale: f32 = suml2 != 0 ? sumlx / suml2 : 0;
  let best = scale * sumlx;
  for (let is = -9; is <= 9; is++) {
    if (is == 0) continue;
    iscale = -(<f32>nmax + <f32>0.1 * <f32>is) / vmax;
    sumlx = 0; suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = f(x, i);
      const l = max(-nmax, min(nmax - 1, nearestInt(iscale * xi)));
      const w = xi * xi;
      const fl = <f32>l;
      sumlx += w * xi * fl;
      suml2 += w * fl * fl;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (let i = 0; i < n; i++) {
        store<i8>(L + <usize>i, <i8>(nmax + max(-nmax, min(nmax - 1, nearestInt(iscale * f(x, i))))));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

/** get_scale_min_k4: 6-bit scale (low byte) and min (next byte) of sub-block j from the 12 packed bytes at q. */
// @ts-ignore: decorator
@inline export function scaleMinK4(j: i32, q: usize): i32 {
  if (j < 4) return (<i32>load<u8>(q + <usize>j) & 63) | ((<i32>load<u8>(q + <usize>(j + 4)) & 63) << 8);
  const d = (<i32>load<u8>(q + <usize>(j + 4)) & 0xf) | ((<i32>load<u8>(q + <usize>(j - 4)) >> 6) << 4);
  const m = (<i32>load<u8>(q + <usize>(j + 4)) >> 4) | ((<i32>load<u8>(q + <usize>j) >> 6) << 4);
  return d | (m << 8);
}

/** Packs 6-bit scale ls and min lm of sub-block j into the 12 bytes at q (the block's scales must start zeroed). */
export function packScaleMinK4(j: i32, q: usize, ls: i32, lm: i32): void {
  if (j < 4) {
    store<u8>(q + <usize>j, <u8>ls);
    store<u8>(q + <usize>(j + 4), <u8>lm);
  } else {
    store<u8>(q + <usize>(j + 4), <u8>((ls & 0xf) | ((lm & 0xf) << 4)));
    store<u8>(q + <usize>(j - 4), load<u8>(q + <usize>(j - 4)) | <u8>((ls >> 4) << 6));
    store<u8>(q + <usize>j, load<u8>(q + <usize>j) | <u8>((lm >> 4) << 6));
  }
}

/** The part quantize_row_q4_K_ref and quantize_row_q5_K_ref share, for one super-block of 256
 *  floats at x into the block at y ({ f16 d; f16 dmin; u8 scales[12]; ... }): each sub-block of
 *  32's scale and minimum by make_qkx2_quants (levels 0..nmax, its search from rmin in nstep
 *  steps of 0.1), packed in six bits against d and dmin, then each element's level (u8) in L
 *  (256 bytes) from the scales as packed. work: 224 bytes. */
export function quantizeSuperBlockK(x: usize, y: usize, nmax: i32, rmin: f32, nstep: i32, L: usize, work: usize): void {
  const Laux = work, W = work + 32, mins = work + 160, scales = work + 192;
  let maxScale: f32 = 0, maxMin: f32 = 0;
  for (let j = 0; j < 8; j++) {
    const xj = x + <usize>(j * 128);
    let sumX2: f32 = 0;
    for (let l = 0; l < 32; l++) { const v = f(xj, l); sumX2 += v * v; }
    const avX = Mathf.sqrt(sumX2 / <f32>32);
    for (let l = 0; l < 32; l++) store<f32>(W + (<usize>l << 2), avX + Mathf.abs(f(xj, l)));
    const sc = makeQkx2Quants(32, nmax, xj, W, L + <usize>(32 * j), mins + (<usize>j << 2), Laux, rmin, 0.1, nstep, false);
    store<f32>(scales + (<usize>j << 2), sc);
    if (sc > maxScale) maxScale = sc;
    const mn = f(mins, j);
    if (mn > maxMin) maxMin = mn;
  }
  const invScale: f32 = maxScale > 0 ? <f32>63.0 / maxScale : 0;
  const invMin: f32 = maxMin > 0 ? <f32>63.0 / maxMin : 0;
  const packed = y + K_SCALES;
  memory.fill(packed, 0, 12);
  for (let j = 0; j < 8; j++) {
    // uint8_t ls = nearest_int(...): the int is cut to 8 bits before MIN(63, .)
    const ls = min(63, nearestInt(invScale * f(scales, j)) & 255);
    const lm = min(63, nearestInt(invMin * f(mins, j)) & 255);
    packScaleMinK4(j, packed, ls, lm);
  }
  store<u16>(y, <u16>f32ToF16(maxScale / <f32>63.0));
  store<u16>(y, <u16>f32ToF16(maxMin / <f32>63.0), 2);
  const dAll = f16ToF32(load<u16>(y)), mAll = f16ToF32(load<u16>(y, 2));
  for (let j = 0; j < 8; j++) {
    const sm = scaleMinK4(j, packed);
    const d = dAll * <f32>(sm & 255);
    if (d == 0) continue; // keeps the levels found by the scale search
    const dm = mAll * <f32>(sm >> 8);
    for (let i = 0; i < 32; i++) {
      const l = nearestInt((f(x, 32 * j + i) + dm) / d);
      store<u8>(L + <usize>(32 * j + i), <u8>max(0, min(nmax, l)));
    }
  }
}

/** Where the packed scales of a Q4_K or Q5_K block start (after d and dmin). */
export const K_SCALES: usize = 4;

/** Work bytes quantizeSuperBlockK takes. */
export const SUPER_BLOCK_K_WORK: usize = 224;
