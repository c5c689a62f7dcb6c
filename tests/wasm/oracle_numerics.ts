// Test entry: the pieces of llama.cpp's x86 arithmetic the engine reproduces (attention, the
// emulated fused multiply-add, AVX2 exp, glibc's sincosf for RoPE, activation quantization),
// on raw buffers, to compare with ggml and the C library themselves (tools/ref).
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { Config } from "../../llm/model";
import { KVCache } from "../../llm/kv_cache";
import { flashAttention, attentionWorkBytes } from "../../llm/attention";
import { fma32 } from "../../llm/math/fma";
import { expAvx2 } from "../../llm/math/exp";
import { sincosGlibc } from "../../llm/math/sincos";
export { allocRegion, freeRegion };
export { quantizeActivations, activationBytes } from "../../llm/kernels/matmul";

/**
 * out, q: f32[nq][nh][hd]; k, v: halves [ncells][nkvh][hd] (the cache). nq tokens at positions
 * pos0.., as if llama.cpp ran on `threads` threads. False when memory runs out.
 */
export function attention(out: usize, q: usize, k: usize, v: usize, hd: i32, nh: i32, nkvh: i32, nq: i32,
  ncells: i32, pos0: i32, threads: i32): bool {
  const c = new Config();
  c.nHead = nh; c.nHeadKv = nkvh; c.headDim = hd;
  const kv = new KVCache(1, ncells, nkvh, hd);
  if (!kv.allocate()) return false;
  const row = <usize>hd << 1;
  for (let j = 0; j < ncells; j++) {
    for (let h = 0; h < nkvh; h++) {
      const src = <usize>(j * nkvh + h) * row;
      memory.copy(kv.keys(0, h) + <usize>j * row, k + src, row);
      memory.copy(kv.values(0, h) + <usize>j * row, v + src, row);
    }
  }
  const work = allocRegion(attentionWorkBytes(hd, nq));
  if (work == 0) { kv.free(); return false; }
  flashAttention(out, q, kv, 0, pos0, nq, c, work, 0, nh, 0, threads);
  freeRegion(work);
  kv.free();
  return true;
}

/** out[i] = fma32(a[i], b[i], c[i]): the emulated x86 fused multiply-add. */
export function fmaRow(a: usize, b: usize, c: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, fma32(load<f32>(a + o), load<f32>(b + o), load<f32>(c + o)));
  }
}

/** out[i] = ggml's AVX2 exp of x[i], as the tiled attention computes its weights. */
export function expRow(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<f32>(out + (<usize>i << 2), expAvx2(load<f32>(x + (<usize>i << 2))));
}

/** out[2i], out[2i+1] = cos, sin of x[i] as glibc's sincosf computes them (the RoPE cache). */
export function sincosRow(x: usize, out: usize, n: i32): void {
  for (let i = 0; i < n; i++) sincosGlibc(load<f32>(x + (<usize>i << 2)), out + (<usize>i << 3));
}
