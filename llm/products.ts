// Matrix products of the forward pass: one input (n rows of activations) times up to three
// weight matrices that read it (q, k and v; gate and up), converted once for all of them
// and split across the cores by rows.

import { parallelFor } from "../kernel/parallel";
import { Matrix } from "./model";
import { Scratch } from "./scratch";
import { quantizeRows } from "./row_ops";
import { activationType, activationBytes, matvec, matmul, approxMatvec, prepareActivations } from "./kernels/matmul";

/** Rows of a product per unit of work split across cores: a multiple of every kernel's row
 *  tile and of the 8-row groups of repacked weights, so that a split never changes a row. */
const ROW_UNIT: i32 = 32;

/** Products of one input as their units read them (kernel/parallel.ts): the activations, then
 *  up to MAX_PARTS matrices whose units follow one another. */
@unmanaged class ProductJob {
  xq: usize; xqStride: usize; n: i32; k: i32; batched: bool; work: usize; workBytes: usize;
  prep: usize; // the activations as matmul takes them prepared (prepareActivations), or 0
  parts: i32; units: i32;
  approxTable: usize; scaleMax: f32; // projectApprox's: the matrix's approxTable, made for scaleMax
}
@unmanaged class ProductPart { out: usize; w: usize; wType: u32; rows: i32; firstUnit: i32; }
const MAX_PARTS = 3;
// @ts-ignore: decorator
@inline function partAt(job: usize, i: i32): ProductPart {
  return changetype<ProductPart>(job + offsetof<ProductJob>() + <usize>i * offsetof<ProductPart>());
}

/** Starts a product job of n rows of k activations converted for wType at xq. */
function productJob(s: Scratch, xq: usize, n: i32, k: i32, wType: u32, batched: bool): ProductJob {
  const j = changetype<ProductJob>(s.job);
  j.xq = xq;
  j.xqStride = activationBytes(wType, k);
  j.n = n; j.k = k; j.batched = batched; j.work = s.work; j.workBytes = s.workBytes;
  j.prep = 0; j.parts = 0; j.units = 0;
  return j;
}

function addPart(j: ProductJob, out: usize, w: Matrix): void {
  const p = partAt(changetype<usize>(j), j.parts++);
  p.out = out; p.w = w.data; p.wType = w.type; p.rows = w.rows; p.firstUnit = j.units;
  j.units += (w.rows + ROW_UNIT - 1) / ROW_UNIT;
}

/** out_i[t] = W_i x[t] for the n rows of x (f32, W.cols each) and up to three matrices of one
 *  input (q, k and v; gate and up), split across the cores: one job for all when they take
 *  the same activations, else one each. `batched`: the rows are part of a product of two or
 *  more rows in llama.cpp (see matmul). */
export function project(s: Scratch, x: usize, n: i32, batched: bool, out0: usize, w0: Matrix,
  out1: usize = 0, w1: Matrix | null = null, out2: usize = 0, w2: Matrix | null = null): void {
  const a = activationType(w0.type);
  const one = (w1 == null || (activationType(w1.type) == a && w1.cols == w0.cols)) &&
    (w2 == null || (activationType(w2.type) == a && w2.cols == w0.cols));
  if (!one) {
    project(s, x, n, batched, out0, w0);
    if (w1 != null) project(s, x, n, batched, out1, w1);
    if (w2 != null) project(s, x, n, batched, out2, w2);
    return;
  }
  const j = productJob(s, quantizeRows(s, x, n, w0.cols, w0.type), n, w0.cols, w0.type, batched);
  addPart(j, out0, w0);
  if (w1 != null) addPart(j, out1, w1);
  if (w2 != null) addPart(j, out2, w2);
  if (batched) j.prep = prepared(s, j);
  parallelFor(j.units, productUnits, s.job, s.cores);
}

/** The job's activations prepared once (prepareActivations) if a part's kernel takes them, before
 *  the cores split the job: s.prep, or 0. */
function prepared(s: Scratch, j: ProductJob): usize {
  for (let i = 0; i < j.parts; i++) {
    const p = partAt(changetype<usize>(j), i);
    if (prepareActivations(p.wType, p.rows, j.xq, j.n, j.k, s.prep)) return s.prep;
  }
  return 0;
}

function productUnits(arg: usize, core: i32, u0: i32, u1: i32): void {
  const j = changetype<ProductJob>(arg);
  const work = j.work + <usize>core * j.workBytes;
  for (let i = 0; i < j.parts; i++) {
    const p = partAt(arg, i);
    const pu0 = p.firstUnit, pu1 = i + 1 < j.parts ? partAt(arg, i + 1).firstUnit : j.units;
    if (u1 <= pu0 || u0 >= pu1) continue;
    const r0 = (max(u0, pu0) - pu0) * ROW_UNIT, r1 = min(p.rows, (min(u1, pu1) - pu0) * ROW_UNIT);
    if (j.batched) { matmul(p.out, p.w, p.wType, j.xq, j.n, j.k, p.rows, r0, r1, work, j.prep); continue; }
    for (let t = 0; t < j.n; t++) {
      matvec(p.out + <usize>(t * p.rows) * 4, p.w, p.wType, j.xq + <usize>t * j.xqStride, j.k, p.rows, r0, r1, work);
    }
  }
}

/** out ~ W x for one row x, converted for W at xq (quantizeRows), each within approxBound of
 *  project's result, rows split across the cores (the output head's approximations, forward's
 *  HEAD_BOUNDED): `table` is W's approxTable, made for scaleMax (Scratch.headTable). */
export function projectApprox(s: Scratch, xq: usize, out: usize, w: Matrix, table: usize, scaleMax: f32): void {
  const j = productJob(s, xq, 1, w.cols, w.type, false);
  addPart(j, out, w);
  j.approxTable = table; j.scaleMax = scaleMax;
  parallelFor(j.units, approxUnits, s.job, s.cores);
}

function approxUnits(arg: usize, core: i32, u0: i32, u1: i32): void {
  const j = changetype<ProductJob>(arg), p = partAt(arg, 0);
  approxMatvec(p.out, p.w, p.wType, j.xq, j.k, u0 * ROW_UNIT, min(p.rows, u1 * ROW_UNIT), j.approxTable, j.scaleMax);
}
