// The forward pass's working memory for a batch of up to nBatch tokens: one region, laid out
// here and nowhere else. Each core has its own product work buffer and attention buffer, so
// the same work split over more cores computes the same bits.

import { allocRegion, freeRegion } from "../kernel/memory/regions";
import { jobCores } from "../kernel/parallel";
import { Config, Model } from "./model";
import { activationBytes, productWorkBytes, preparedBytes, approxTableBytes, approxTable } from "./kernels/matmul";
import { attentionWorkBytes } from "./attention";

/** Bytes of a job's argument block (Scratch.job, Scratch.rowJob). */
export const JOB_BYTES: usize = 128;

/** Working memory for a batch of up to nBatch tokens, in one region. */
export class Scratch {
  nBatch: i32;
  base: usize = 0;
  bytes: u64 = 0;
  x: usize = 0;      // f32[nBatch][n_embd]   the residual stream
  xb: usize = 0;     // f32[nBatch][n_embd]   normed input of a block
  q: usize = 0;      // f32[nBatch][n_head*hd]
  k: usize = 0;      // f32[nBatch][n_head_kv*hd]
  v: usize = 0;      // f32[nBatch][n_head_kv*hd]
  att: usize = 0;    // f32[nBatch][n_head*hd] attention output
  proj: usize = 0;   // f32[nBatch][n_embd]   Wo / Wdown output before the residual add
  gate: usize = 0;   // f32[nBatch][n_ff]
  up: usize = 0;     // f32[nBatch][n_ff]
  xq: usize = 0;     // activations converted for a weight type (quantizeRows); after forward,
                     // the output head's input (headRows reads it)
  prep: usize = 0;   // prepBytes: xq prepared for the kernels that take it (prepareActivations)
  work: usize = 0;   // [cores] productWorkBytes: each core's work buffer for matvec, matmul
  rope: usize = 0;   // f32[nBatch][hd]       cos, sin of each rotated pair, per token
  ropeSwa: usize = 0; // f32[nBatch][hd]      the same for the sliding-window layers (their own base)
  attn: usize = 0;   // [cores] attentionWorkBytes(): each core's for flashAttention
  job: usize = 0;    // JOB_BYTES: the argument block of the product or attention job
  rowJob: usize = 0; // JOB_BYTES: the argument block of a row-wise step's job (RowsJob)
  logits: usize = 0; // f32[n_vocab]
  headTable: usize = 0; // the output head's approxTable (made by allocate), or 0: it has none
  /** How far any logit in `logits` may be from its exact value: 0 when all are exact, infinity
   *  when they are not this pass's (see HEAD_*). */
  logitsError: f64 = Infinity;
  /** Whether `logits` holds approximations (some rows may be exact already). */
  get logitsApproximate(): bool { return this.logitsError > 0 && this.logitsError < Infinity; }
  private xqRow: usize = 0;
  workBytes: usize = 0;   // per core, at work
  prepBytes: usize = 0;   // at prep
  attnBytes: usize = 0;   // per core, at attn
  cores: i32;             // how many cores the work and attention buffers serve
  private c: Config;
  private m: Model;
  private headTableBytes: usize = 0;
  private nCtx: i32;
  private cursor: usize = 0;

  constructor(m: Model, nBatch: i32, nCtx: i32) {
    this.c = m.config;
    this.m = m;
    this.nBatch = nBatch;
    this.nCtx = nCtx;
    this.cores = jobCores();
    // room for the widest quantized activation row any matrix of the model needs
    const mats = m.matrices();
    let act: usize = 0;
    let work: usize = 0;
    let prep: usize = 0;
    for (let i = 0; i < mats.length; i++) {
      act = max(act, activationBytes(mats[i].type, mats[i].cols));
      work = max(work, productWorkBytes(mats[i].type, mats[i].cols, nBatch));
      prep = max(prep, preparedBytes(mats[i].type, mats[i].cols, nBatch));
    }
    this.xqRow = act;
    this.prepBytes = prep;
    this.workBytes = (work + 63) & ~63;
    this.attnBytes = (attentionWorkBytes(this.c.headDim, nBatch) + 63) & ~63;
    const head = m.output;
    this.headTableBytes = approxTableBytes(head.type, head.cols, head.rows);
    this.bytes = <u64>this.carve(); // a dry run with base 0 measures the total
  }

  // Hands out consecutive 64-byte-aligned slices from `cursor`; returns the end offset.
  private take(n: usize): usize {
    const p = this.cursor;
    this.cursor += (n + 63) & ~63;
    return p;
  }

  private carve(): usize {
    const c = this.c;
    const nb = <usize>this.nBatch;
    this.cursor = this.base;
    this.x = this.take(nb * <usize>c.nEmbd * 4);
    this.xb = this.take(nb * <usize>c.nEmbd * 4);
    this.q = this.take(nb * <usize>c.qDim * 4);
    this.k = this.take(nb * <usize>c.kvDim * 4);
    this.v = this.take(nb * <usize>c.kvDim * 4);
    this.att = this.take(nb * <usize>c.qDim * 4);
    this.proj = this.take(nb * <usize>c.nEmbd * 4);
    this.gate = this.take(nb * <usize>c.nFF * 4);
    this.up = this.take(nb * <usize>c.nFF * 4);
    this.xq = this.take(nb * this.xqRow);
    this.prep = this.take(this.prepBytes);
    this.work = this.take(this.workBytes * <usize>this.cores);
    this.rope = this.take(nb * <usize>c.headDim * 4);
    this.ropeSwa = this.take(c.nSwa > 0 ? nb * <usize>c.headDim * 4 : 0);
    this.attn = this.take(this.attnBytes * <usize>this.cores);
    this.job = this.take(JOB_BYTES);
    this.rowJob = this.take(JOB_BYTES);
    this.logits = this.take(<usize>c.nVocab * 4);
    this.headTable = this.take(this.headTableBytes);
    return this.cursor - this.base;
  }

  /** Takes the memory; false when there is not enough. */
  allocate(): bool {
    this.base = allocRegion(this.bytes);
    if (this.base == 0) return false;
    this.carve();
    const head = this.m.output;
    // (a head with an infinite or NaN scale has no approximations: forward computes it exactly)
    if (this.headTableBytes == 0 || !approxTable(head.data, head.type, head.cols, head.rows, this.m.outputScale(), this.headTable)) this.headTable = 0;
    return true;
  }

  free(): void {
    if (this.base != 0) freeRegion(this.base);
    this.base = 0;
  }
}
