// One forward pass of a model, readable top to bottom (after llama2.c's run.c), with the
// numerics of llama.cpp's CPU graph under its default settings (flash attention on). This is
// llama's; the other families (llm/arch) switch on the steps marked [family]:
//   x = embedding rows of the tokens
//   for each layer:
//     xb = rmsnorm(x) * attn_norm
//     q, k, v = Wq xb, Wk xb, Wv xb         (activations quantized for each weight type)
//     q, k, v += biases                     [when the file has them: qwen2]
//     q, k = rmsnorm(head) * q/k_norm       [qkNorm: qwen3]
//     rope(q), rope(k)                      (theta = pos * base^(-2i/n_rot); adjacent pairs,
//                                           or the halves' pairs [rope: qwen2, qwen3, phi3])
//     q *= 1/sqrt(hd)                       [qPrescale: phi3, gemma3; attention then scales by 1]
//                                           (sliding-window layers see the last nSwa positions
//                                           and rotate with their own base [gemma3])
//     x += Wo att                           (Wo att RMS-normed first [postNorms: gemma3])
//     cache k, v (F16); att = softmax(q·K / sqrt(hd)) · V per head (grouped-query),
//                                           as llama.cpp's flash attention computes it
//     x += Wo att
//     xb = rmsnorm(x) * ffn_norm            (last layer: the last token only)
//     x += Wdown (silu(Wgate xb) * (Wup xb))
//   logits = Wout (rmsnorm(x_last) * output_norm)
//            (or approximations within a proven bound, made exact row by row for the
//            sampler: HEAD_BOUNDED)
// A prompt goes through as one batch (a matrix-matrix product over all its tokens per
// weight matrix); a generated token goes through alone (matrix-vector). Products are split
// across the cores by rows (units of ROW_UNIT rows), attention by query heads
// (kernel/parallel.ts); each core has its own working memory, so the bits do not depend on
// the number of cores. Where llama.cpp's x86 build fuses a multiply and an add or calls
// the C library (RoPE's sincosf), llm/math reproduces that exactly.

import { time_ns } from "../kernel/platform";
import { parallelFor } from "../kernel/parallel";
import { Model } from "./model";
import { KVCache } from "./kv_cache";
import { Scratch } from "./scratch";
import { normRows, gluRows, quantizeRows, addBias } from "./row_ops";
import { project, projectApprox } from "./products";
import { ropeTable, ropeHeads } from "./rope";
import { attentionAllHeads } from "./attention";
import { matvec, approxBound } from "./kernels/matmul";
import { rmsnormMul, add, scale } from "./kernels/vector";

/** Nanoseconds spent per stage of the forward pass (accumulated over calls). */
export class ForwardTimings {
  embedNs: u64 = 0;
  layerNs: StaticArray<u64>;
  outputNs: u64 = 0;
  constructor(nLayer: i32) { this.layerNs = new StaticArray<u64>(nLayer); }
  reset(): void {
    this.embedNs = 0;
    this.outputNs = 0;
    for (let i = 0; i < this.layerNs.length; i++) this.layerNs[i] = 0;
  }
}


/**
 * Runs n tokens (i32 ids at `tokens`, n <= s.nBatch) at positions kv.used .. kv.used+n-1,
 * appends them to the cache and computes the last token's logits into s.logits as `head`
 * says (HEAD_*). The caller has checked the ids and that the context has room. `ubatch`:
 * when these tokens are part of a longer batch in llama.cpp's terms (node-llama-cpp sends a
 * prompt in batches of min(context, 512) tokens), its size, so that attention takes the same
 * path (0: n).
 */
export function forward(m: Model, kv: KVCache, s: Scratch, tokens: usize, n: i32, tm: ForwardTimings, head: i32, ubatch: i32 = 0): void {
  const c = m.config;
  const dim = c.nEmbd, qDim = c.qDim, kvDim = c.kvDim, ff = c.nFF, hd = c.headDim;
  const pos0 = kv.used;
  const batched = max(ubatch, n) >= 2;
  const freqs = m.ropeFreqsFor(kv.nCtx);
  let t0 = time_ns();

  // token embeddings (dequantized rows) and the RoPE table of each position
  for (let t = 0; t < n; t++) {
    const id = load<i32>(tokens + (<usize>t << 2));
    const xt = s.x + <usize>(t * dim) * 4;
    m.tokenEmbd.row(id, xt);
    if (c.family.embedScale) scale(xt, xt, Mathf.sqrt(<f32>dim), dim); // gemma
    ropeTable(s.rope + <usize>(t * hd) * 4, pos0 + t, c, freqs, c.ropeBase, c.ropeFreqScale);
    if (c.nSwa > 0) ropeTable(s.ropeSwa + <usize>(t * hd) * 4, pos0 + t, c, freqs, c.ropeBaseSwa, 1);
  }
  let t1 = time_ns();
  tm.embedNs += t1 - t0;

  for (let l = 0; l < c.nLayer; l++) {
    const L = m.layers[l];
    const swa = c.isSwa(l);
    t0 = t1;

    // attention block
    normRows(s, s.xb, s.x, L.attnNorm, n, dim, c.normEps);
    project(s, s.xb, n, batched, s.q, L.wq, s.k, L.wk, s.v, L.wv);
    if (L.bq != 0) addBias(s.q, L.bq, n, qDim);
    if (L.bk != 0) addBias(s.k, L.bk, n, kvDim);
    if (L.bv != 0) addBias(s.v, L.bv, n, kvDim);
    if (L.qNorm != 0) { // each head on its own (qwen3)
      normRows(s, s.q, s.q, L.qNorm, n * c.nHead, hd, c.normEps);
      normRows(s, s.k, s.k, L.kNorm, n * c.nHeadKv, hd, c.normEps);
    }
    for (let t = 0; t < n; t++) {
      const table = (swa ? s.ropeSwa : s.rope) + <usize>(t * hd) * 4;
      ropeHeads(s.q + <usize>(t * qDim) * 4, c.nHead, hd, table, c.family.rope);
      ropeHeads(s.k + <usize>(t * kvDim) * 4, c.nHeadKv, hd, table, c.family.rope);
      // phi3, gemma3: q scaled before attention (which then scales by 1)
      if (c.family.qPrescale) scale(s.q + <usize>(t * qDim) * 4, s.q + <usize>(t * qDim) * 4, <f32>1.0 / Mathf.sqrt(<f32>hd), qDim);
      kv.store(l, pos0 + t, s.k + <usize>(t * kvDim) * 4, s.v + <usize>(t * kvDim) * 4);
    }
    attentionAllHeads(s.job, s.att, s.q, kv, l, pos0, n, c, ubatch, s.attn, s.attnBytes, s.cores, swa ? c.nSwa : 0);
    project(s, s.att, n, batched, s.proj, L.wo);
    if (L.attnPostNorm != 0) normRows(s, s.proj, s.proj, L.attnPostNorm, n, dim, c.normEps); // gemma
    add(s.x, s.x, s.proj, n * dim);

    // feed-forward block (SwiGLU). In the last layer only the last token goes on, as in
    // llama.cpp (which keeps just the rows whose logits it needs): a one-row product there
    // is also the one-row kernel there.
    const f0 = l == c.nLayer - 1 ? n - 1 : 0, nf = n - f0, batchedF = f0 == 0 && batched;
    const xf = s.x + <usize>(f0 * dim) * 4, xbf = s.xb + <usize>(f0 * dim) * 4;
    normRows(s, xbf, xf, L.ffnNorm, nf, dim, c.normEps);
    project(s, xbf, nf, batchedF, s.gate, L.wGate, s.up, L.wUp);
    gluRows(s, s.gate, s.up, nf, ff, c.family.gelu); // SwiGLU, or GEGLU [gelu: gemma3]
    project(s, s.gate, nf, batchedF, s.proj, L.wDown);
    if (L.ffnPostNorm != 0) normRows(s, s.proj, s.proj, L.ffnPostNorm, nf, dim, c.normEps); // gemma
    add(xf, xf, s.proj, nf * dim);

    t1 = time_ns();
    tm.layerNs[l] += t1 - t0;
  }

  kv.used = pos0 + n;
  s.logitsError = Infinity; // nothing in s.logits belongs to these tokens yet
  if (head == HEAD_NONE) return;
  // output head, for the last token only (as llama.cpp computes logits of the last one); its
  // input stays in s.xb, and converted in s.xq, for headRows and headAll
  const last = s.x + <usize>((n - 1) * dim) * 4;
  rmsnormMul(s.xb, last, m.outputNorm, dim, c.normEps);
  const w = m.output;
  const xq = quantizeRows(s, s.xb, 1, w.cols, w.type);
  const bound = head == HEAD_BOUNDED && s.headTable != 0 ? approxBound(w.type, m.outputScale(), xq, w.cols) : Infinity;
  if (isFinite(bound)) {
    projectApprox(s, xq, s.logits, w, s.headTable, m.outputScale());
    s.logitsError = bound;
  } else headAll(m, s);
  tm.outputNs += time_ns() - t1;
}

/** forward's choices for the output head: none (a prompt piece before the last), every logit
 *  exact, or approximations within s.logitsError of the exact values where the head's type has
 *  them (llm/sampler.ts sampleBounded then asks headRows for the rows it needs exact). */
export const HEAD_NONE: i32 = 0;
export const HEAD_EXACT: i32 = 1;
export const HEAD_BOUNDED: i32 = 2;

/** Makes s.logits[r] exact for the n row ids r (i32s) at `ids` (after forward with HEAD_BOUNDED). */
export function headRows(m: Model, s: Scratch, ids: usize, n: i32): void {
  if (s.logitsError == 0) return;
  const w = m.output, xq = s.xq; // the head's input as forward left it
  for (let i = 0; i < n; i++) {
    const r = load<i32>(ids + (<usize>i << 2));
    if (r >= 0 && r < w.rows) matvec(s.logits, w.data, w.type, xq, w.cols, w.rows, r, r + 1, s.work);
  }
}

/** Makes every logit in s.logits exact (after forward with HEAD_BOUNDED). */
export function headAll(m: Model, s: Scratch): void {
  if (s.logitsError == 0) return;
  const w = m.output;
  project(s, s.xb, 1, false, s.logits, w);
  s.logitsError = 0;
}
