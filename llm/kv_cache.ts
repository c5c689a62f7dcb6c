// The key/value cache: for every layer, the keys and values of every position seen so far,
// stored as F16 like llama.cpp's default cache (the attention therefore sees exactly the
// rounding llama.cpp's does, and the cache takes half the memory of f32).
//
// Layout per layer and KV head:
//   keys   [pos][headDim]   one key row per position: a score is a dot product of a row
//   values [pos][headDim]   one value row per position, as llama.cpp keeps V with flash
//                           attention (its default): the output accumulates whole rows
// Both live in one region from kernel/memory, allocated once at load and freed on unload.

import { allocRegion, freeRegion } from "../kernel/memory/regions";
import { f32ToF16 } from "./quant/f16";

export class KVCache {
  nLayer: i32;
  nCtx: i32;
  nHeadKv: i32;
  headDim: i32;
  /** Positions filled so far (the next token goes to position `used`). */
  used: i32 = 0;
  base: usize = 0;
  bytes: u64 = 0;
  private headBytes: usize;   // one KV head's keys (or values) over the whole context
  private layerBytes: usize;  // one layer's keys (or values)
  private vBase: usize = 0;

  constructor(nLayer: i32, nCtx: i32, nHeadKv: i32, headDim: i32) {
    this.nLayer = nLayer;
    this.nCtx = nCtx;
    this.nHeadKv = nHeadKv;
    this.headDim = headDim;
    this.headBytes = <usize>nCtx * <usize>headDim * 2;
    this.layerBytes = this.headBytes * <usize>nHeadKv;
    this.bytes = <u64>this.layerBytes * <u64>nLayer * 2;
  }

  /** Takes the memory; false when there is not enough. */
  allocate(): bool {
    this.base = allocRegion(this.bytes);
    this.vBase = this.base + this.layerBytes * <usize>this.nLayer;
    return this.base != 0;
  }

  free(): void {
    if (this.base != 0) freeRegion(this.base);
    this.base = 0;
    this.used = 0;
  }

  /** Forget every position (a new inference starts at position 0). */
  reset(): void { this.used = 0; }

  /** Keys of (layer, kv head): nCtx rows of headDim halves. */
  keys(layer: i32, head: i32): usize {
    return this.base + <usize>layer * this.layerBytes + <usize>head * this.headBytes;
  }

  /** Values of (layer, kv head): nCtx rows of headDim halves. */
  values(layer: i32, head: i32): usize {
    return this.vBase + <usize>layer * this.layerBytes + <usize>head * this.headBytes;
  }

  /** Stores one position's keys and values, f32[nHeadKv*headDim] each, rounded to F16. */
  store(layer: i32, pos: i32, k: usize, v: usize): void {
    const hd = this.headDim;
    for (let h = 0; h < this.nHeadKv; h++) {
      const kd = this.keys(layer, h) + <usize>pos * <usize>hd * 2;
      const vd = this.values(layer, h) + <usize>pos * <usize>hd * 2;
      const ks = k + (<usize>(h * hd) << 2), vs = v + (<usize>(h * hd) << 2);
      for (let d = 0; d < hd; d++) {
        store<u16>(kd + (<usize>d << 1), <u16>f32ToF16(load<f32>(ks + (<usize>d << 2))));
        store<u16>(vd + (<usize>d << 1), <u16>f32ToF16(load<f32>(vs + (<usize>d << 2))));
      }
    }
  }
}
