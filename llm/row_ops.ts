// Row-wise steps of the forward pass over the tokens of a batch (activation conversion,
// RMS norms, SwiGLU), split across the cores by tokens when there are several; bias
// additions, too small to split, on the calling core.

import { parallelFor } from "../kernel/parallel";
import { Scratch } from "./scratch";
import { activationBytes, quantizeActivations } from "./kernels/matmul";
import { rmsnormMul, swiglu, geglu, prepareGelu, add } from "./kernels/vector";

/** A row-wise step over the tokens of a batch (activations, norms, SwiGLU), split across the
 *  cores by tokens when there are several. */
@unmanaged class RowsJob { out: usize; outStride: usize; x: usize; k: i32; wType: u32; w: usize; eps: f32; }

/** The n rows of x (k each) converted for weights of type wType into s.xq (its address). */
export function quantizeRows(s: Scratch, x: usize, n: i32, k: i32, wType: u32): usize {
  const j = changetype<RowsJob>(s.rowJob);
  j.out = s.xq; j.outStride = activationBytes(wType, k); j.x = x; j.k = k; j.wType = wType;
  parallelFor(n, quantizeUnits, s.rowJob, s.cores);
  return s.xq;
}

function quantizeUnits(arg: usize, core: i32, t0: i32, t1: i32): void {
  const j = changetype<RowsJob>(arg);
  for (let t = t0; t < t1; t++) quantizeActivations(j.x + <usize>(t * j.k) * 4, j.k, j.wType, j.out + <usize>t * j.outStride);
}

/** out[t] = rmsnorm(x[t]) * w for the n rows of x (dim each). */
export function normRows(s: Scratch, out: usize, x: usize, w: usize, n: i32, dim: i32, eps: f32): void {
  const j = changetype<RowsJob>(s.rowJob);
  j.out = out; j.x = x; j.w = w; j.k = dim; j.eps = eps;
  parallelFor(n, normUnits, s.rowJob, s.cores);
}

function normUnits(arg: usize, core: i32, t0: i32, t1: i32): void {
  const j = changetype<RowsJob>(arg);
  for (let t = t0; t < t1; t++) rmsnormMul(j.out + <usize>(t * j.k) * 4, j.x + <usize>(t * j.k) * 4, j.w, j.k, j.eps);
}

/** gate[t] = act(gate[t]) * up[t] for the n rows of ff, row by row as ggml does: act is SiLU
 *  (swiglu: a row's last ff % 8 values take its scalar path), or with `gelu` GELU from ggml's
 *  table (geglu: gemma). */
export function gluRows(s: Scratch, gate: usize, up: usize, n: i32, ff: i32, gelu: bool): void {
  const j = changetype<RowsJob>(s.rowJob);
  j.out = gate; j.x = up; j.k = ff; j.w = gelu ? prepareGelu() : 0; // GELU's table, or 0 for SiLU
  parallelFor(n, gluUnits, s.rowJob, s.cores);
}

function gluUnits(arg: usize, core: i32, t0: i32, t1: i32): void {
  const j = changetype<RowsJob>(arg);
  for (let t = t0; t < t1; t++) {
    const row = <usize>(t * j.k) * 4;
    if (j.w != 0) geglu(j.out + row, j.out + row, j.x + row, j.k, j.w);
    else swiglu(j.out + row, j.out + row, j.x + row, j.k);
  }
}

/** x[t] += b for the n rows of x (dim each): ggml_add of a bias broadcast over the rows. */
export function addBias(x: usize, b: usize, n: i32, dim: i32): void {
  for (let t = 0; t < n; t++) add(x + <usize>(t * dim) * 4, x + <usize>(t * dim) * 4, b, dim);
}

