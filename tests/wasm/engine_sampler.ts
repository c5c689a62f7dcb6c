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
