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

/** Makes logits exact on request (the engine's output head, for sampleBounded). */
export abstract class ExactLogits {
  /** The rows whose ids are the n i32s at `ids` exact in the logits row (ids outside the
   *  vocabulary are ignored). */
  abstract rows(ids: usize, n: i32): void;
  /** Every row exact. */
  abstract all(): void;
}

// Bounds of a value v known within e, computed in f64 and widened by more than the rounding
// of the two operations (2^-53 each, relative): a true bound whatever the magnitudes.
// @ts-ignore: decorator
@inline function lowerBound(v: f64, e: f64): f64 { return (v - e) - (Math.abs(v) + e) * 8.881784197001252e-16; }

/** The largest f32 below x (x finite or -infinity). */
function floatBelow(x: f64): f32 {
  if (x == -Infinity) return -Infinity;
  let f = <f32>x;
  if (<f64>f >= x) f = reinterpret<i32>(f) > 0 ? reinterpret<f32>(reinterpret<i32>(f) - 1)
    : reinterpret<i32>(f) == 0 ? -1.401298464324817e-45 as f32 : reinterpret<f32>(reinterpret<i32>(f) + 1);
  return f;
}

/** An i32 whose signed order is the order of the f32 with these bits (NaN aside). */
// @ts-ignore: decorator
@inline function orderKey(bits: i32): i32 { return bits ^ ((bits >> 31) & 0x7fffffff); }
// @ts-ignore: decorator
@inline function keyValue(key: i32): f32 { return reinterpret<f32>(key ^ ((key >> 31) & 0x7fffffff)); }

/** Restores the min-heap order of the i32s h[0..n) below i. */
function siftMin(h: usize, i: i32, n: i32): void {
  while (true) {
    const l = 2 * i + 1, r = l + 1;
    let m = i;
    if (l < n && load<i32>(h + (<usize>l << 2)) < load<i32>(h + (<usize>m << 2))) m = l;
    if (r < n && load<i32>(h + (<usize>r << 2)) < load<i32>(h + (<usize>m << 2))) m = r;
    if (m == i) return;
    const t = load<i32>(h + (<usize>i << 2));
    store<i32>(h + (<usize>i << 2), load<i32>(h + (<usize>m << 2)));
    store<i32>(h + (<usize>m << 2), t);
    i = m;
  }
}

function heapifyMin(h: usize, n: i32): void {
  for (let i = n / 2 - 1; i >= 0; i--) siftMin(h, i, n);
}

/** The k-th largest of a[0..n) (-infinity when n < k); reorders a. */
function kthLargest(a: Float64Array, n: i32, k: i32): f64 {
  if (n < k) return -Infinity;
  for (let i = 0; i < k; i++) { // selection: a handful of values
    let b = i;
    for (let j = i + 1; j < n; j++) if (unchecked(a[j]) > unchecked(a[b])) b = j;
    const t = unchecked(a[i]); unchecked(a[i] = a[b]); unchecked(a[b] = t);
  }
  return unchecked(a[k - 1]);
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
  // sampleBounded's working memory: rows already exact, and a heap of order keys
  private exactFlag: Uint8Array;
  private keys: Int32Array = new Int32Array(0);
  private histLen: i32 = 0;
  private histPos: i32 = 0;

  constructor(nVocab: i32) {
    this.nVocab = nVocab;
    this.ids = new Int32Array(nVocab);
    this.vals = new Float32Array(nVocab);
    this.probs = new Float64Array(nVocab);
    this.exactFlag = new Uint8Array(nVocab);
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

  /**
   * Chooses a token from logits f32[nVocab] (the row is not modified). With `allowed` (a
   * grammar's verdict per token), the others count as -infinity, as llama.cpp's grammar
   * sampler makes them before the chain.
   */
  sample(logits: usize, allowed: Uint8Array | null = null): i32 {
    const s = this.settings;
    const n = this.nVocab;
    if (s.temperature <= 0 && (s.repeatPenalty == 1 || this.histLen == 0) && allowed === null) return argmax(logits, n);
    for (let i = 0; i < n; i++) {
      unchecked(this.ids[i] = i);
      unchecked(this.vals[i] = allowed !== null && unchecked(allowed[i]) == 0 ? -Infinity : load<f32>(logits + (<usize>i << 2)));
    }
    this.size = n;
    this.sorted = false;
    this.applyPenalty(s.repeatPenalty);
    if (s.temperature <= 0) return this.bestCandidate();
    if (s.topK > 0 && s.topK < this.size) { this.sortTop(s.topK); this.size = s.topK; this.sorted = true; }
    return this.filterAndDraw();
  }

  // top-p, min-p, temperature and the draw, over the candidates after top-k
  private filterAndDraw(): i32 {
    const s = this.settings;
    if (s.topP < 1) this.topP(s.topP);
    if (s.minP > 0) this.minP(s.minP);
    for (let i = 0; i < this.size; i++) unchecked(this.vals[i] = this.vals[i] / s.temperature);
    return this.draw();
  }

  /**
   * The same choice as sample() would make from the exact logits, given logits that are each
   * within `err` of exact (llm/forward.ts HEAD_BOUNDED) and `exact`, which makes rows
   * exact on request. Only rows that can still make the cut are asked for: the penalised ones
   * (the penalty needs the exact value), then every row whose upper bound reaches the k-th
   * largest lower bound, k being 1 when greedy and top-k otherwise. Any other row is below k
   * rows for certain, so the top-k, and everything the chain does after it, is the same.
   * Settings that see every logit (temperature > 0 without top-k), non-finite values, or too
   * many rows within reach take every row exact. The passes over the vocabulary compare the
   * floats' bits as integers (orderKey): under emulation each float compare is a library call.
   * With `allowed` (allowedCount of its entries 1), only those rows take part, as in sample():
   * the others are -infinity, below every allowed row, so top-k needs at most allowedCount.
   */
  sampleBounded(logits: usize, err: f64, exact: ExactLogits, allowed: Uint8Array | null = null, allowedCount: i32 = 0): i32 {
    const s = this.settings;
    const n = this.nVocab;
    let k = s.temperature <= 0 ? 1 : s.topK;
    if (allowed !== null && k > allowedCount) k = allowedCount;
    if (err == 0) return this.sample(logits, allowed);
    if (!(err < Infinity) || k <= 0 || k >= n) { exact.all(); return this.sample(logits, allowed); }
    const allow = allowed !== null ? allowed.dataStart : 0;
    const flag = this.exactFlag.dataStart, vals = this.vals.dataStart, ids = this.ids.dataStart;
    // 1. the penalised rows exact and penalised (vals[t] for those rows only)
    const penalise = s.repeatPenalty != 1 && this.histLen > 0;
    if (penalise) {
      exact.rows(this.history.dataStart, this.histLen);
      for (let i = 0; i < this.histLen; i++) {
        const t = unchecked(this.history[i]);
        if (t < 0 || t >= n) continue;
        store<u8>(flag + <usize>t, 1);
        store<f32>(vals + (<usize>t << 2), load<f32>(logits + (<usize>t << 2)));
      }
      this.applyPenalty(s.repeatPenalty);
      if (allow != 0) {
        for (let i = 0; i < this.histLen; i++) {
          const t = unchecked(this.history[i]);
          if (t >= 0 && t < n && load<u8>(allow + <usize>t) == 0) store<f32>(vals + (<usize>t << 2), -Infinity);
        }
      }
    }
    // 2. the k largest of the other rows (a min-heap of their order keys)
    if (this.keys.length < k) this.keys = new Int32Array(k);
    const heap = this.keys.dataStart;
    let hn = 0, special = 0;
    for (let i = 0; i < n; i++) {
      if (allow != 0 && load<u8>(allow + <usize>i) == 0) continue;
      const bits = load<i32>(logits + (<usize>i << 2));
      special |= ~bits & 0x7f800000 ? 0 : 1; // infinite or NaN
      if (penalise && load<u8>(flag + <usize>i) != 0) continue;
      const key = orderKey(bits);
      if (hn < k) { store<i32>(heap + (<usize>hn << 2), key); hn++; if (hn == k) heapifyMin(heap, k); }
      else if (key > load<i32>(heap)) { store<i32>(heap, key); siftMin(heap, 0, k); }
    }
    // the k-th largest lower bound L, over those rows (value - err) and the exact ones
    let cut = -Infinity;
    if (penalise) {
      const lows = new Float64Array(hn + this.histLen);
      let m = 0;
      for (let i = 0; i < hn; i++) unchecked(lows[m++] = lowerBound(<f64>keyValue(load<i32>(heap + (<usize>i << 2))), err));
      for (let i = 0; i < this.histLen; i++) {
        const t = unchecked(this.history[i]);
        if (t < 0 || t >= n || !this.histFirst(i)) continue; // each token once
        unchecked(lows[m++] = <f64>load<f32>(vals + (<usize>t << 2)));
      }
      cut = kthLargest(lows, m, k);
    } else {
      cut = lowerBound(<f64>keyValue(load<i32>(heap)), err);
    }
    // 3. the rows within reach, in id order: other rows whose value + err reaches L (compared
    //    as keys against the largest float below L - err), exact ones at L or above
    const reach = orderKey(reinterpret<i32>(floatBelow(lowerBound(cut, err))));
    let m = 0;
    for (let i = 0; i < n; i++) {
      if (allow != 0 && load<u8>(allow + <usize>i) == 0) continue;
      const inReach = penalise && load<u8>(flag + <usize>i) != 0
        ? <f64>load<f32>(vals + (<usize>i << 2)) >= cut
        : orderKey(load<i32>(logits + (<usize>i << 2))) >= reach;
      if (inReach) { store<i32>(ids + (<usize>m << 2), i); m++; }
    }
    if (special != 0 || m < k || m > n >> 3) { // (m >= k always: a guard)
      if (penalise) this.clearFlags();
      exact.all();
      return this.sample(logits, allowed);
    }
    // the rows not exact yet (the penalised ones are), listed after the candidates: m <= n/8
    let fresh = m;
    for (let j = 0; j < m; j++) {
      const i = load<i32>(ids + (<usize>j << 2));
      if (!penalise || load<u8>(flag + <usize>i) == 0) { store<i32>(ids + (<usize>fresh << 2), i); fresh++; }
    }
    exact.rows(ids + (<usize>m << 2), fresh - m);
    // 4. sample()'s chain on those rows, in id order: penalised values or the exact ones
    for (let j = 0; j < m; j++) {
      const i = load<i32>(ids + (<usize>j << 2));
      const src = penalise && load<u8>(flag + <usize>i) != 0 ? vals : logits;
      store<f32>(vals + (<usize>j << 2), load<f32>(src + (<usize>i << 2)));
    }
    if (penalise) this.clearFlags();
    this.size = m;
    this.sorted = false;
    if (s.temperature <= 0) return this.bestCandidate();
    this.sortTop(k); this.size = k; this.sorted = true;
    return this.filterAndDraw();
  }

  /** Whether history[i] is the first occurrence of its token. */
  private histFirst(i: i32): bool {
    const t = unchecked(this.history[i]);
    for (let j = 0; j < i; j++) if (unchecked(this.history[j]) == t) return false;
    return true;
  }

  private clearFlags(): void {
    for (let i = 0; i < this.histLen; i++) {
      const t = unchecked(this.history[i]);
      if (t >= 0 && t < this.nVocab) unchecked(this.exactFlag[t] = 0);
    }
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
