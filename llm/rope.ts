// Rotary position embedding as ggml computes it on the CPU: a table of cos/sin per position
// (ggml's rope cache), then each head's pairs rotated: adjacent pairs (2i, 2i+1) for llama,
// the two halves' pairs (i, i + hd/2) for the NEOX families (llm/arch/family.ts).

import { Config } from "./model";
import { ROPE_HALVES } from "./arch/family";
import { fma32, fma32x4 } from "./math/fma";
import { sincosGlibc } from "./math/sincos";

/** cos/sin table of one position, ggml's rope cache: theta_i = pos * base^(-2i/n_rot) built by
 *  repeated multiplication in f32, divided by the model's per-frequency divisors when it has
 *  them (`freqs`: rope_freqs, or LongRoPE's), glibc's sincosf of each, times the attention
 *  factor (LongRoPE's mscale) when it is not 1. */
export function ropeTable(out: usize, pos: i32, c: Config, freqs: usize, base: f32, freqScale: f32): void {
  const thetaScale = Mathf.pow(base, <f32>-2.0 / <f32>c.nRot);
  const mscale = c.ropeAttnFactor;
  let theta = <f32>pos;
  for (let i = 0; i < c.nRot / 2; i++) {
    const ff: f32 = freqs != 0 ? load<f32>(freqs + (<usize>i << 2)) : 1;
    const p = out + (<usize>i << 3);
    sincosGlibc(freqScale * (theta / ff), p);
    if (mscale != 1) { store<f32>(p, load<f32>(p) * mscale); store<f32>(p, load<f32>(p, 4) * mscale, 4); }
    theta *= thetaScale;
  }
}

/** The sign bits of lanes 0 and 2 (loaded from memory: V8 would rebuild a v128 constant at
 *  every use inside a loop). */
const FLIP: usize = memory.data<u32>([0x80000000, 0, 0x80000000, 0], 16);

/** Rotates each of nHeads heads of x (hd values each) in the family's layout (ROPE_*). */
export function ropeHeads(x: usize, nHeads: i32, hd: i32, table: usize, style: i32): void {
  if (style == ROPE_HALVES) ropeHalves(x, nHeads, hd, table);
  else rope(x, nHeads, hd, table);
}

/** Rotates the pairs (i, i + hd/2) of each of nHeads heads of x (ggml's NEOX layout) with the
 *  arithmetic of rope(), four pairs at a time. */
function ropeHalves(x: usize, nHeads: i32, hd: i32, table: usize): void {
  const half = hd / 2;
  const hb = <usize>half << 2;
  for (let h = 0; h < nHeads; h++) {
    const p = x + <usize>(h * hd) * 4;
    let i = 0;
    for (; i + 4 <= half; i += 4) {
      const t0 = v128.load(table + (<usize>i << 3)), t1 = v128.load(table + (<usize>i << 3), 16);
      const cs = i32x4.shuffle(t0, t1, 0, 2, 4, 6), sn = i32x4.shuffle(t0, t1, 1, 3, 5, 7);
      const a = p + (<usize>i << 2);
      const x0 = v128.load(a), x1 = v128.load(a + hb);
      v128.store(a, fma32x4(x0, cs, f32x4.neg(f32x4.mul(x1, sn))));
      v128.store(a + hb, fma32x4(x0, sn, f32x4.mul(x1, cs)));
    }
    for (; i < half; i++) {
      const cs = load<f32>(table + (<usize>i << 3)), sn = load<f32>(table + (<usize>i << 3), 4);
      const a = p + (<usize>i << 2);
      const x0 = load<f32>(a), x1 = load<f32>(a + hb);
      store<f32>(a, fma32(x0, cs, -(x1 * sn)));
      store<f32>(a + hb, fma32(x0, sn, x1 * cs));
    }
  }
}

/** Rotates the adjacent pairs (2i, 2i+1) of each of nHeads heads of x (llama's RoPE layout),
 *  with ggml's rotate_pairs arithmetic: (fma(x0, cos, -x1*sin), fma(x0, sin, x1*cos)), two
 *  pairs at a time. */
function rope(x: usize, nHeads: i32, hd: i32, table: usize): void {
  const flip = v128.load(FLIP), half = hd / 2;
  for (let h = 0; h < nHeads; h++) {
    const p = x + <usize>(h * hd) * 4;
    let i = 0;
    for (; i + 2 <= half; i += 2) {
      const cs = v128.load(table + (<usize>i << 3));             // [cos, sin, cos', sin']
      const v = v128.load(p + (<usize>i << 3));                  // [x0, x1, x0', x1']
      const sc = v128.xor(i32x4.shuffle(cs, cs, 1, 0, 3, 2), flip); // [-sin, cos, -sin', cos']
      // as compiled in llama.cpp's x86 build: the x0 products fused with the rounded other one
      const o = fma32x4(i32x4.shuffle(v, v, 0, 0, 2, 2), cs, f32x4.mul(i32x4.shuffle(v, v, 1, 1, 3, 3), sc));
      v128.store(p + (<usize>i << 3), o);
    }
    if (i < half) {
      const cs = load<f32>(table + (<usize>i << 3)), sn = load<f32>(table + (<usize>i << 3), 4);
      const x0 = load<f32>(p + (<usize>i << 3)), x1 = load<f32>(p + (<usize>i << 3), 4);
      store<f32>(p + (<usize>i << 3), fma32(x0, cs, -(x1 * sn)));
      store<f32>(p + (<usize>i << 3), fma32(x0, sn, x1 * cs), 4);
    }
  }
}
