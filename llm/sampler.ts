// Picks the next token from a row of logits, with llama.cpp's sampler semantics and in
// its chain order: repetition penalty -> top-k -> top-p -> min-p -> temperature -> draw.
// Temperature <= 0 is greedy (argmax after the penalty), as llama.cpp's greedy sampler.
//
// - repetition penalty: every distinct token among the last N (prompt included, as
//   llama.cpp's main program feeds the prompt to its sampler) has its logit divided by
//   the penalty when positive and multiplied by it when negative.
// - top-k keeps the k largest logits (k <= 0: off); top-p keeps the smallest prefix of the
//   sorted distribution whose probability reaches p (p >= 1: off); min-p keeps tokens whose
//   probability is at least p times the top one (p <= 0: off). At least one token stays.
// - the draw uses a PCG32 generator whose state lives in this object: one seed, one text.

import { argmax } from "./kernels/vector";

export class SamplerSettings {
  temperature: f32 = 0;
  topK: i32 = 40;
  topP: f32 = 0.95;
  minP: f32 = 0.05;
  repeatPenalty: f32 = 1;
  repeatLastN: i32 = 64;
  seed: u64 = 0;
}

/** PCG32 (XSH RR): 64-bit state, 32-bit output. */
export class Pcg32 {
  state: u64 = 0;
  private inc: u64 = 1442695040888963407; // any odd constant

  seed(s: u64): void {
    this.state = 0;
    this.next();
    this.state += s;
    this.next();
  }

  next(): u32 {
    const old = this.state;
    this.state = old * 6364136223846793005 + this.inc;
    const xorshifted = <u32>(((old >> 18) ^ old) >> 27);
    const rot = <u32>(old >> 59);
    return rotr<u32>(xorshifted, rot);
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): f64 {
    const hi = <u64>(this.next() >>> 5), lo = <u64>(this.next() >>> 6);
    return <f64>((hi << 26) | lo) * 1.1102230246251565e-16; // 2^-53
  }
}

export class Sampler {
  readonly nVocab: i32;
  settings: SamplerSettings = new SamplerSettings();
  rng: Pcg32 = new Pcg32();
  // Candidate list (parallel arrays): token ids, their logits, their probabilities.
  private ids: Int32Array;
  private vals: Float32Array;
  private probs: Float64Array;
  private size: i32 = 0;
  private sorted: bool = false;
  // The last repeatLastN tokens, as a ring.
  private history: Int32Array = new Int32Array(0);
  private histLen: i32 = 0;
  private histPos: i32 = 0;

  constructor(nVocab: i32) {
    this.nVocab = nVocab;
    this.ids = new Int32Array(nVocab);
    this.vals = new Float32Array(nVocab);
    this.probs = new Float64Array(nVocab);
  }

  /** New settings; forgets the history and reseeds the generator. */
  reset(s: SamplerSettings): void {
    this.settings = s;
    this.history = new Int32Array(max(0, s.repeatLastN));
    this.histLen = 0;
    this.histPos = 0;
    this.rng.seed(s.seed);
  }

  /** Records a token for the repetition penalty (prompt tokens and generated ones). */
  accept(token: i32): void {
    const n = this.history.length;
    if (n == 0) return;
    unchecked(this.history[this.histPos] = token);
    this.histPos = (this.histPos + 1) % n;
    if (this.histLen < n) this.histLen++;
  }

  /** Chooses a token from logits f32[nVocab] (the row is not modified). */
  sample(logits: usize): i32 {
    const s = this.settings;
    const n = this.nVocab;
    if (s.temperature <= 0 && (s.repeatPenalty == 1 || this.histLen == 0)) return argmax(logits, n);
    for (let i = 0; i < n; i++) {
      unchecked(this.ids[i] = i);
      unchecked(this.vals[i] = load<f32>(logits + (<usize>i << 2)));
    }
    this.size = n;
    this.sorted = false;
    this.applyPenalty(s.repeatPenalty);
    if (s.temperature <= 0) return this.bestCandidate();
    if (s.topK > 0 && s.topK < this.size) { this.sortTop(s.topK); this.size = s.topK; this.sorted = true; }
    if (s.topP < 1) this.topP(s.topP);
    if (s.minP > 0) this.minP(s.minP);
    for (let i = 0; i < this.size; i++) unchecked(this.vals[i] = this.vals[i] / s.temperature);
    return this.draw();
  }

  private applyPenalty(penalty: f32): void {
    if (penalty == 1 || this.histLen == 0) return;
    const h = this.history;
    for (let i = 0; i < this.histLen; i++) {
      const t = unchecked(h[i]);
      let seen = false; // each distinct token is penalised once, however often it occurs
      for (let j = 0; j < i; j++) if (unchecked(h[j]) == t) { seen = true; break; }
      if (seen || t < 0 || t >= this.nVocab) continue;
      const l = unchecked(this.vals[t]); // candidates are still in id order here
      unchecked(this.vals[t] = l <= 0 ? l * penalty : l / penalty);
    }
  }

  /** First index of the largest logit, as llama.cpp's greedy sampler. */
  private bestCandidate(): i32 {
    let best = 0;
    let bestVal = unchecked(this.vals[0]);
    for (let i = 1; i < this.size; i++) {
      const v = unchecked(this.vals[i]);
      if (v > bestVal) { bestVal = v; best = i; }
    }
    return unchecked(this.ids[best]);
  }

  // a ranks before b: larger logit first, lower id on ties (deterministic order).
  private before(a: i32, b: i32): bool {
    const va = unchecked(this.vals[a]), vb = unchecked(this.vals[b]);
    return va > vb || (va == vb && unchecked(this.ids[a]) < unchecked(this.ids[b]));
  }

  private swap(a: i32, b: i32): void {
    const ti = unchecked(this.ids[a]); unchecked(this.ids[a] = this.ids[b]); unchecked(this.ids[b] = ti);
    const tv = unchecked(this.vals[a]); unchecked(this.vals[a] = this.vals[b]); unchecked(this.vals[b] = tv);
    const tp = unchecked(this.probs[a]); unchecked(this.probs[a] = this.probs[b]); unchecked(this.probs[b] = tp);
  }

  // Heap of the first k entries where the root is the one ranking LAST.
  private siftDown(i: i32, k: i32): void {
    while (true) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < k && this.before(m, l)) m = l;
      if (r < k && this.before(m, r)) m = r;
      if (m == i) return;
      this.swap(i, m);
      i = m;
    }
  }

  /** Moves the k best candidates to the front, sorted best first (k <= size). O(n log k). */
  private sortTop(k: i32): void {
    if (this.sorted) return;
    for (let i = k / 2 - 1; i >= 0; i--) this.siftDown(i, k);
    for (let i = k; i < this.size; i++) {
      if (this.before(i, 0)) { this.swap(i, 0); this.siftDown(0, k); }
    }
    for (let end = k - 1; end > 0; end--) { this.swap(0, end); this.siftDown(0, end); }
    // the worst went to the back of the prefix each time: the prefix is now best first
    if (k == this.size) this.sorted = true;
  }

  /** probs = softmax(vals) over the current candidates. */
  private softmax(): void {
    let mx = unchecked(this.vals[0]);
    for (let i = 1; i < this.size; i++) mx = max(mx, unchecked(this.vals[i]));
    let sum: f64 = 0;
    for (let i = 0; i < this.size; i++) {
      const p = <f64>Mathf.exp(unchecked(this.vals[i]) - mx);
      unchecked(this.probs[i] = p);
      sum += p;
    }
    for (let i = 0; i < this.size; i++) unchecked(this.probs[i] = this.probs[i] / sum);
  }

  private topP(p: f32): void {
    this.softmax();
    // Most of the mass usually sits in a few hundred tokens: sort those first.
    let k = min(256, this.size);
    this.sortTop(k);
    let cum: f64 = 0;
    for (let i = 0; i < this.size; i++) {
      if (i == k) { k = this.size; this.sortTop(k); }
      cum += unchecked(this.probs[i]);
      if (cum >= <f64>p) { this.size = i + 1; return; }
    }
  }

  private minP(p: f32): void {
    let mx = unchecked(this.vals[0]);
    for (let i = 1; i < this.size; i++) mx = max(mx, unchecked(this.vals[i]));
    const cut = mx + Mathf.log(p);
    let w = 0;
    for (let i = 0; i < this.size; i++) {
      if (unchecked(this.vals[i]) >= cut) {
        unchecked(this.ids[w] = this.ids[i]);
        unchecked(this.vals[w] = this.vals[i]);
        w++;
      }
    }
    this.size = w; // the maximum always survives, so w >= 1
  }

  private draw(): i32 {
    this.softmax();
    const u = this.rng.uniform();
    let cum: f64 = 0;
    for (let i = 0; i < this.size; i++) {
      cum += unchecked(this.probs[i]);
      if (u < cum) return unchecked(this.ids[i]);
    }
    return unchecked(this.ids[this.size - 1]); // rounding left u just above the total
  }
}
