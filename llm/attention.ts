// Attention, computed the way llama.cpp computes it with its default settings: flash
// attention on (its "auto" resolves to on for the CPU), F16 key/value cache. This is
// ggml_compute_forward_flash_attn_ext (ggml-cpu/ops.cpp) as built in node-llama-cpp's x86
// CPU backend (AVX2 with fused multiply-add; every fused step below is one there). Which of
// its three code paths runs depends on the batch, so the same text can come out differently
// depending on how it is split into batches:
//
//  * fewer than 64 query tokens in the batch (every generated token, short prompts):
//    q is rounded to F16; each score q·k is ggml_vec_dot_f16 (llm/quant/f16.ts dot) times
//    1/sqrt(hd); the positions the token may see are visited in order with a running
//    maximum M: a new maximum rescales the sum so far by ms = expf(Mold - M), otherwise the
//    position weighs vs = expf(s - M); the weighted sum of value rows is kept in F16,
//    rounded after every step (ggml_vec_scale_f16, and ggml_vec_mad_f16 = fused
//    multiply-add then F16), while S = S*ms + vs is f32; finally out = sum * (1/S).
//  * one query token with at least 512 cache cells in llama.cpp's view of the cache: the
//    same, but the cells are split into one chunk per llama.cpp thread, and the chunks' (M,
//    S, sum) are merged in order with expf rescaling (ggml_flash_attn_ext_reduce_partials).
//  * 64 or more query tokens (long prompts): q stays f32; positions go in tiles of 64;
//    scores are f32 fused multiply-add chains over the head dimension (simd_gemm), the
//    tile's maximum updates M (rescaling the f32 sum and S by expf(Mold - M)), the tile's
//    weights are ggml's AVX2 exp of (s - M) summed in double in groups of eight, and the
//    value rows are added with f32 fused multiply-add chains over the tile.
//
// llama.cpp's view of the cache ("n_kv") is the cells in use rounded up to 256, at least 256
// (llama_kv_cache::get_n_kv), within a cache that node-llama-cpp sizes to a multiple of 256.
// A sliding-window layer has a cache of its own there (ringCells), in which positions wrap
// around: past its size, the cells in view hold the window out of position order, and every
// path above visits them in cell order.

import { parallelFor } from "../kernel/parallel";
import { Config } from "./model";
import { KVCache } from "./kv_cache";
import { quantizeActivations as roundToF16, dot as dotF16, f16ToF32, roundF16, roundF16x4, loadHalves4 } from "./quant/f16";
import { fma32, fma32x4 } from "./math/fma";
import { expAvx2x4 } from "./math/exp";
import { hsumFloat8 } from "./quant/common";

/** The lane indices 0..7 (loaded from memory: V8 would rebuild a v128 constant at every use
 *  inside a loop). */
const LANES: usize = memory.data<u32>([0, 1, 2, 3, 4, 5, 6, 7], 16);

/** Query tokens per batch from which llama.cpp uses the tiled path (GGML_FA_TILE_Q). */
const FA_TILE_Q: i32 = 64;
/** Cache cells per tile of the tiled path (GGML_FA_TILE_KV). */
const FA_TILE_KV: i32 = 64;
/** Cells in view from which a single query token is split across threads. */
const FA_SPLIT_KV: i32 = 512;
/** llama.cpp's thread count, which decides that split: node-llama-cpp's default,
 *  max(4, CPU math cores), on a machine with up to 4 cores. */
export const LLAMA_THREADS: i32 = 4;

/** llama.cpp's n_kv for a batch ending at position `end` (exclusive). */
function cellsInView(end: i32, nCtx: i32): i32 {
  const cells = (nCtx + 255) & ~255;
  return min(cells, max(256, (end + 255) & ~255));
}

// Working memory of flashAttention: f32 [0] M, [1] S, [2, 2+W) a tile's weights or one chunk's
// sum (W = max(64, hd)), then q rounded to F16 (f32[hd]); the tiled path (attendTiled) lays
// out its own tiles after the weights.
// @ts-ignore: decorator
@inline function workQ16(work: usize, hd: i32): usize { return work + (<usize>(2 + max(FA_TILE_KV, hd)) << 2); }

/** Bytes of working memory flashAttention needs for heads of hd and batches of up to nBatch. */
export function attentionWorkBytes(hd: i32, nBatch: i32): usize {
  const chunk = <usize>(2 + max(FA_TILE_KV, hd) + hd) << 2;
  const tiled = <usize>(8 + (FA_TILE_KV << 2) + 16) + (<usize>(hd * FA_TILE_KV) << 3) + (<usize>nBatch << 3);
  return max(chunk, tiled);
}

/** Cells of llama.cpp's cache for a sliding-window layer (llama_kv_cache_iswa): the window
 *  plus one batch of node-llama-cpp's (its default, min(context, 512), plus the one it adds for
 *  such models), rounded up to 256, within the whole cache. Position p sits in cell p mod that
 *  ring, so past it the cells hold the window out of order; 0 when positions never wrap (the
 *  ring is the whole cache). */
function ringCells(window: i32, nCtx: i32): i32 {
  const whole = (nCtx + 255) & ~255;
  const ring = min(whole, (window + min(nCtx, 512) + 1 + 255) & ~255);
  return ring < whole ? ring : 0;
}

/** The cell of position p (ring 0: the cache is not a ring). */
// @ts-ignore: decorator
@inline function cellOf(p: i32, ring: i32): i32 { return ring > 0 ? p % ring : p; }

/** attendF16 over the positions [p0, p1), which sit in the cells from c0 on, that lie in cells
 *  [x0, x1); whether there were any. */
function attendCells(work: usize, acc: usize, keys: usize, values: usize, hd: i32, scale: f32,
  p0: i32, p1: i32, c0: i32, x0: i32, x1: i32): bool {
  const a = max(x0, c0), b = min(x1, c0 + (p1 - p0));
  if (b <= a) return false;
  attendF16(work, acc, keys, values, hd, a - c0 + p0, b - c0 + p0, scale);
  return true;
}

/** Whether the row at position q sees position p: not after it and, under a sliding window,
 *  not `window` or more back (llama.cpp's causal and SWA masks). */
// @ts-ignore: decorator
@inline function sees(p: i32, q: i32, window: i32): bool { return p <= q && (window == 0 || p > q - window); }

/** The position in cell j of a tile whose first cell holds `pos`: the ring's turn (cells j >=
 *  turn hold positions a ring older) or none (turn = FA_TILE_KV). */
// @ts-ignore: decorator
@inline function tileCellPos(pos: i32, j: i32, turn: i32, ring: i32): i32 { return j < turn ? pos + j : pos + j - ring; }

/** Starts one query row's pass (attendF16): M = -inf, S = 0 in work[0..1], the sum at acc 0. */
function attendStart(work: usize, acc: usize, hd: i32): void {
  store<f32>(work, -Infinity);
  store<f32>(work, 0, 4);
  memory.fill(acc, 0, <usize>hd << 2);
}

/** One query row (q rounded to F16 at workQ16) over the cached positions [c0, c1), all visible,
 *  with the F16 accumulator, going on from attendStart or an earlier range: the unnormalised
 *  sum at acc (f32 holding F16 values), M and S in work[0..1]. */
function attendF16(work: usize, acc: usize, keys: usize, values: usize, hd: i32, c0: i32, c1: i32, scale: f32): void {
  let M = load<f32>(work), S = load<f32>(work, 4);
  const rowBytes = <usize>hd << 1, q16 = workQ16(work, hd);
  for (let ic = c0; ic < c1; ic++) {
    const sc = dotF16(keys + <usize>ic * rowBytes, q16, hd) * scale;
    const Mold = M;
    let ms: f32 = 1, vs: f32 = 1;
    if (sc > M) {
      M = sc;
      ms = Mathf.exp(Mold - M);
      const vms = f32x4.splat(ms);              // ggml_vec_scale_f16
      let d = 0;
      for (; d + 4 <= hd; d += 4) {
        const p = acc + (<usize>d << 2);
        v128.store(p, roundF16x4(f32x4.mul(v128.load(p), vms)));
      }
      for (; d < hd; d++) {
        const p = acc + (<usize>d << 2);
        store<f32>(p, roundF16(load<f32>(p) * ms));
      }
    } else {
      vs = Mathf.exp(sc - M);
    }
    const v = values + <usize>ic * rowBytes;
    const vvs = f32x4.splat(vs);               // ggml_vec_mad_f16
    let d = 0;
    for (; d + 4 <= hd; d += 4) {
      const p = acc + (<usize>d << 2);
      v128.store(p, roundF16x4(fma32x4(loadHalves4(v + (<usize>d << 1)), vvs, v128.load(p))));
    }
    for (; d < hd; d++) {
      const p = acc + (<usize>d << 2);
      store<f32>(p, roundF16(fma32(f16ToF32(load<u16>(v + (<usize>d << 1))), vs, load<f32>(p))));
    }
    S = S * ms + vs;
  }
  store<f32>(work, M);
  store<f32>(work, S, 4);
}

/**
 * One query head for all n tokens of a batch of 64+ (llama.cpp's tiled path): q and out are
 * the head's first row, rows `stride` bytes apart; token t sees cells [0, pos0 + t + 1).
 * Tiles of 64 cells go outermost so that each is converted from F16 once for all the rows.
 */
function attendTiled(work: usize, out: usize, q: usize, stride: usize, n: i32, pos0: i32, keys: usize, values: usize,
  hd: i32, scale: f32, window: i32, ring: i32): void {
  const rowBytes = <usize>hd << 1;
  const w = work + 8;                                        // f32[64] the row's weights
  const kt = (work + 8 + (FA_TILE_KV << 2) + 15) & ~15;      // f32[hd][64] the tile's keys, transposed
  const vt = kt + (<usize>(hd * FA_TILE_KV) << 2);           // f32[64][hd] the tile's values
  const ms = vt + (<usize>(hd * FA_TILE_KV) << 2);           // f32[n][2] each row's M and S
  const lanes0 = v128.load(LANES), lanes4 = v128.load(LANES, 16), vscale = f32x4.splat(scale);
  for (let t = 0; t < n; t++) {
    store<f32>(ms + (<usize>t << 3), -Infinity);
    store<f32>(ms + (<usize>t << 3), 0, 4);
    memory.fill(out + <usize>t * stride, 0, <usize>hd << 2);
  }
  // the cells in view: positions [0, pos0 + n), or, once they have wrapped around a sliding-window
  // layer's ring, its cells, cell c holding the newest position p = c (mod ring)
  const end0 = pos0 + n, wrapped = ring > 0 && end0 > ring;
  const cells = wrapped ? ring : end0;
  for (let ic = 0; ic < cells; ic += FA_TILE_KV) {
    const tileEnd = min(ic + FA_TILE_KV, cells);
    // position of the tile's first cell; in a ring, cells past `turn` hold positions a ring older
    const pos = wrapped ? ic + ring * ((end0 - 1 - ic) / ring) : ic;
    const newer = wrapped ? (end0 - 1) % ring + 1 - ic : 0; // cells of the tile before the turn, if it has one
    const turn = newer > 0 ? newer : FA_TILE_KV;
    for (let j = 0; j < FA_TILE_KV; j++) {
      const c = ic + j, p = tileCellPos(pos, j, turn, ring);
      for (let d = 0; d < hd; d++) {
        const kv: f32 = c < tileEnd ? f16ToF32(load<u16>(keys + <usize>p * rowBytes + (<usize>d << 1))) : 0;
        store<f32>(kt + (<usize>(d * FA_TILE_KV + j) << 2), kv);
        const vv: f32 = c < tileEnd ? f16ToF32(load<u16>(values + <usize>p * rowBytes + (<usize>d << 1))) : 0;
        store<f32>(vt + (<usize>(j * hd + d) << 2), vv);
      }
    }
    for (let t = wrapped ? 0 : max(0, ic - pos0); t < n; t++) { // the rows that may see this tile
      const qp = pos0 + t;
      // the cells of the tile the row sees (sees()); the others weigh 0, as under ggml's -inf
      // mask. In order, the row's positions end at `end`; a ring's may be anywhere in the tile.
      const end = wrapped ? tileEnd - ic : min(tileEnd, qp + 1) - ic;
      let any = false;
      if (wrapped) for (let j = 0; j < end && !any; j++) any = sees(tileCellPos(pos, j, turn, ring), qp, window);
      else any = end > 0 && sees(ic + end - 1, qp, window); // its newest cell here, if any
      if (!any) continue;
      const qr = q + <usize>t * stride, acc = out + <usize>t * stride;
      // scores: f32 fused multiply-add chains over the head dimension, 16 cells at a time (the
      // last group may run past the row's cells, never past the tile; those scores go unused)
      for (let j = 0; j < end; j += 16) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        for (let d = 0; d < hd; d++) {
          const qv = f32x4.splat(load<f32>(qr + (<usize>d << 2)));
          const kp = kt + (<usize>(d * FA_TILE_KV + j) << 2);
          a0 = fma32x4(qv, v128.load(kp), a0);
          a1 = fma32x4(qv, v128.load(kp, 16), a1);
          a2 = fma32x4(qv, v128.load(kp, 32), a2);
          a3 = fma32x4(qv, v128.load(kp, 48), a3);
        }
        const wp = w + (<usize>j << 2);
        v128.store(wp, f32x4.mul(a0, vscale));
        v128.store(wp, f32x4.mul(a1, vscale), 16);
        v128.store(wp, f32x4.mul(a2, vscale), 32);
        v128.store(wp, f32x4.mul(a3, vscale), 48);
      }
      let tileMax = -Infinity as f32;
      for (let j = 0; j < end; j++) {
        if (sees(tileCellPos(pos, j, turn, ring), qp, window)) tileMax = max(tileMax, load<f32>(w + (<usize>j << 2)));
        else store<f32>(w + (<usize>j << 2), -Infinity);
      }
      let M = load<f32>(ms + (<usize>t << 3)), S = load<f32>(ms + (<usize>t << 3), 4);
      const Mnew = max(M, tileMax);
      if (Mnew > M) {
        const r = Mathf.exp(M - Mnew);
        const vr = f32x4.splat(r);
        for (let d = 0; d < hd; d += 4) v128.store(acc + (<usize>d << 2), f32x4.mul(v128.load(acc + (<usize>d << 2)), vr));
        S *= r;
      }
      M = Mnew;
      // the tile's weights expf(score - M) (ggml's AVX2 exp), summed as ggml_vec_soft_max_f32
      // does: ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)) per group of eight; cells the row may not
      // see weigh 0, and groups of those only add zeros
      const vM = f32x4.splat(M);
      let sum: f64 = 0;
      for (let g = 0; g < end; g += 8) {
        const wp = w + (<usize>g << 2), left = i32x4.splat(end - g);
        const lo = v128.and(expAvx2x4(f32x4.sub(v128.load(wp), vM)), i32x4.lt_s(lanes0, left));
        const hi = v128.and(expAvx2x4(f32x4.sub(v128.load(wp, 16), vM)), i32x4.lt_s(lanes4, left));
        v128.store(wp, lo);
        v128.store(wp, hi, 16);
        sum += <f64>hsumFloat8(lo, hi);
      }
      S = <f32>(<f64>S + sum);
      store<f32>(ms + (<usize>t << 3), M);
      store<f32>(ms + (<usize>t << 3), S, 4);
      // value rows: f32 fused multiply-add chains over the tile, eight dimensions at a time
      for (let d = 0; d < hd; d += 8) {
        const p = acc + (<usize>d << 2);
        let lo = v128.load(p), hi = v128.load(p, 16);
        for (let j = 0; j < end; j++) {
          const wj = f32x4.splat(load<f32>(w + (<usize>j << 2)));
          const vp = vt + (<usize>(j * hd + d) << 2);
          lo = fma32x4(v128.load(vp), wj, lo);
          hi = fma32x4(v128.load(vp, 16), wj, hi);
        }
        v128.store(p, lo);
        v128.store(p, hi, 16);
      }
    }
  }
  for (let t = 0; t < n; t++) {
    const S = load<f32>(ms + (<usize>t << 3), 4);
    const inv: f32 = S == 0 ? 0 : <f32>1.0 / S;
    const acc = out + <usize>t * stride;
    for (let d = 0; d < hd; d++) store<f32>(acc + (<usize>d << 2), load<f32>(acc + (<usize>d << 2)) * inv);
  }
}

/**
 * Causal attention of n tokens at positions pos0.. (q: f32[n][n_head*hd], out the same shape),
 * query heads [h0, h1), against the cache (which already holds them), with llama.cpp's default
 * flash-attention arithmetic (see above). `batch` is the size of the llama.cpp batch these
 * tokens belong to (it picks the code path; 0: n), `threads` llama.cpp's thread count. Query
 * head h reads KV head h / (n_head / n_head_kv). work: attentionWorkBytes(hd, n).
 */
export function flashAttention(out: usize, q: usize, kv: KVCache, layer: i32, pos0: i32, n: i32, c: Config,
  work: usize, h0: i32, h1: i32, batch: i32 = 0, threads: i32 = LLAMA_THREADS, window: i32 = 0): void {
  const hd = c.headDim, qDim = c.qDim;
  const group = c.nHead / c.nHeadKv;
  const scale = c.attnScale;
  const nb = max(batch, n);
  const tiled = nb >= FA_TILE_Q && hd % 8 == 0;
  // a sliding-window layer's cache: llama.cpp's own, of ring cells when positions wrap in it
  const ring = window > 0 ? ringCells(window, kv.nCtx) : 0;
  const viewCells = ring > 0 ? ring : kv.nCtx;
  const split = nb == 1 && cellsInView(pos0 + 1, viewCells) >= FA_SPLIT_KV;
  const q16 = workQ16(work, hd), part = work + 8;
  if (tiled) {
    for (let h = h0; h < h1; h++) {
      const g = h / group;
      const off = <usize>(h * hd) << 2;
      attendTiled(work, out + off, q + off, <usize>qDim << 2, n, pos0, kv.keys(layer, g), kv.values(layer, g), hd, scale, window, ring);
    }
    return;
  }
  for (let t = 0; t < n; t++) {
    // the positions the row sees, [lo, hi]: a sliding window hides those more than `window`
    // back, as llama.cpp's mask does (its masked cells are skipped, so starting later is the
    // same). In cell order they are one range [a0, a1), or, where they wrap around the ring,
    // the newer ones [a0, a1) (from cell 0) and then the older ones [b0, b1).
    const hi = pos0 + t, lo = window > 0 ? max(0, hi + 1 - window) : 0;
    let a0 = lo, a1 = hi + 1, b0 = 0, b1 = 0;
    if (ring > 0 && lo / ring != hi / ring) { b0 = lo; b1 = hi - hi % ring; a0 = b1; }
    for (let h = h0; h < h1; h++) {
      const g = h / group;
      const keys = kv.keys(layer, g), values = kv.values(layer, g);
      const qh = q + <usize>(t * qDim + h * hd) * 4, o = out + <usize>(t * qDim + h * hd) * 4;
      roundToF16(qh, q16, hd);
      if (!split) {
        attendStart(work, o, hd);
        attendF16(work, o, keys, values, hd, a0, a1, scale);
        if (b1 > b0) attendF16(work, o, keys, values, hd, b0, b1, scale);
        const S = load<f32>(work, 4);
        const inv: f32 = S == 0 ? 0 : <f32>1.0 / S;
        for (let d = 0; d < hd; d++) store<f32>(o + (<usize>d << 2), load<f32>(o + (<usize>d << 2)) * inv);
        continue;
      }
      // one chunk of cells per llama.cpp thread, merged in order
      const chunk = (cellsInView(pos0 + 1, viewCells) + threads - 1) / threads;
      let Mf = -Infinity as f32, Sf: f32 = 0;
      memory.fill(o, 0, <usize>hd << 2);
      for (let th = 0; th < threads; th++) {
        attendStart(work, part, hd);
        const x0 = th * chunk, x1 = x0 + chunk; // the chunk's cells; its visible ones in cell order
        const inA = attendCells(work, part, keys, values, hd, scale, a0, a1, cellOf(a0, ring), x0, x1);
        const inB = b1 > b0 && attendCells(work, part, keys, values, hd, scale, b0, b1, cellOf(b0, ring), x0, x1);
        if (!inA && !inB) continue;            // no visible cell: S = 0, skipped
        const Mc = load<f32>(work), Sc = load<f32>(work, 4);
        if (Sc == 0) continue;
        const Mn = max(Mf, Mc);
        const so = Mathf.exp(Mf - Mn), sn = Mathf.exp(Mc - Mn);
        for (let d = 0; d < hd; d++) {
          const p = o + (<usize>d << 2);
          store<f32>(p, fma32(load<f32>(p), so, load<f32>(part + (<usize>d << 2)) * sn));
        }
        Sf = fma32(Sf, so, Sc * sn);
        Mf = Mn;
      }
      if (Sf != 0) {
        const inv = <f32>1.0 / Sf;
        for (let d = 0; d < hd; d++) store<f32>(o + (<usize>d << 2), load<f32>(o + (<usize>d << 2)) * inv);
      }
    }
  }
}

/** flashAttention's arguments as its units (query heads) read them. */
@unmanaged class AttentionJob {
  out: usize; q: usize; kv: usize; c: usize; layer: i32; pos0: i32; n: i32; batch: i32;
  work: usize; workBytes: usize; window: i32;
}

/** flashAttention for all query heads, split across `cores` by heads: `job` is the argument
 *  block, each core's working memory workBytes at work + core * workBytes. */
export function attentionAllHeads(job: usize, out: usize, q: usize, kv: KVCache, layer: i32, pos0: i32, n: i32, c: Config,
  batch: i32, work: usize, workBytes: usize, cores: i32, window: i32 = 0): void {
  const j = changetype<AttentionJob>(job);
  j.out = out; j.q = q; j.kv = changetype<usize>(kv); j.c = changetype<usize>(c);
  j.layer = layer; j.pos0 = pos0; j.n = n; j.batch = batch; j.work = work; j.workBytes = workBytes; j.window = window;
  parallelFor(c.nHead, attentionUnits, job, cores);
}

function attentionUnits(arg: usize, core: i32, h0: i32, h1: i32): void {
  const j = changetype<AttentionJob>(arg);
  flashAttention(j.out, j.q, changetype<KVCache>(j.kv), j.layer, j.pos0, j.n, changetype<Config>(j.c),
    j.work + <usize>core * j.workBytes, h0, h1, j.batch, LLAMA_THREADS, j.window);
}
