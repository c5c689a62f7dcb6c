// Test entry for llm/sampler.ts: one sampler over a small vocabulary, driven from JS.
import { Sampler, SamplerSettings } from "../../llm/sampler";

let sampler = new Sampler(1);
const logits = new Float32Array(64);

/** A fresh sampler over n tokens (n <= 64) with these settings. */
export function setup(n: i32, temperature: f32, topK: i32, topP: f32, minP: f32, repeatPenalty: f32, repeatLastN: i32, seed: u64): void {
  sampler = new Sampler(n);
  const s = new SamplerSettings();
  s.temperature = temperature; s.topK = topK; s.topP = topP; s.minP = minP;
  s.repeatPenalty = repeatPenalty; s.repeatLastN = repeatLastN; s.seed = seed;
  sampler.reset(s);
}
export function setLogit(i: i32, v: f32): void { logits[i] = v; }
export function accept(token: i32): void { sampler.accept(token); }
export function sample(): i32 { return sampler.sample(logits.dataStart); }
export function logit(i: i32): f32 { return logits[i]; }

// sampleBounded against sample: one sampler sees the exact logits, the other approximations
// within err that it makes exact row by row on request, as the engine's output head does.
import { ExactLogits } from "../../llm/sampler";

const exactRow = new Float32Array(4096);
const approxRow = new Float32Array(4096);

class CopyRows extends ExactLogits {
  asked: i32 = 0;
  allCalls: i32 = 0;
  rows(ids: usize, n: i32): void {
    for (let i = 0; i < n; i++) {
      const t = load<i32>(ids + (<usize>i << 2));
      if (t >= 0 && t < approxRow.length) approxRow[t] = exactRow[t];
    }
    this.asked += n;
  }
  all(): void {
    for (let i = 0; i < approxRow.length; i++) approxRow[i] = exactRow[i];
    this.allCalls++;
  }
}

let bounded = new Sampler(1);
let copier = new CopyRows();
let boundedToken: i32 = -1;

/** Two samplers over n tokens (n <= 4096) with the same settings and seed. */
export function setupPair(n: i32, temperature: f32, topK: i32, topP: f32, minP: f32, repeatPenalty: f32, repeatLastN: i32, seed: u64): void {
  setup(n, temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed);
  bounded = new Sampler(n);
  bounded.reset(sampler.settings);
  copier = new CopyRows();
}
export function setExact(i: i32, v: f32): void { exactRow[i] = v; }
export function setApprox(i: i32, v: f32): void { approxRow[i] = v; }
export function acceptPair(token: i32): void { sampler.accept(token); bounded.accept(token); }
/** sample() on the exact row; sampleBounded on the approximations (its token: boundedResult). */
export function samplePair(err: f64): i32 {
  boundedToken = bounded.sampleBounded(approxRow.dataStart, err, copier);
  return sampler.sample(exactRow.dataStart);
}
export function boundedResult(): i32 { return boundedToken; }
export function rowsAsked(): i32 { return copier.asked; }
export function allCalls(): i32 { return copier.allCalls; }
