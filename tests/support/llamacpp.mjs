// llama.cpp as the oracle, through node-llama-cpp 3.21.1 (prebuilt CPU build, never built
// here), always ggml's "haswell" CPU variant whatever this host would pick
// (tools/ref/pinned.mjs). One Llama instance per process; one context per model.
//
// Where that build cannot run (no AVX2, not x86-64), PINNED_MISSING says why: the tests that
// compare numbers skip with it, and llama() gives the host's own build for what does not
// depend on the arithmetic (tokens, templates).
//
// The context uses node-llama-cpp's defaults, which are what "the same settings" means for
// the engine: flash attention "auto" (on for the CPU), F16 K/V cache, batch = ubatch =
// min(context, 512) tokens (a prompt up to that long is one batch). The engine reproduces
// that arithmetic (llm/attention.ts, flashAttention).
//
// One exception: threads default to 1 here instead of node-llama-cpp's max(4, math cores).
// llama.cpp's threads spin while they wait, and 4 of them on a 2-core test machine make it
// ~20x slower. The thread count changes llama.cpp's arithmetic in one place only: a single
// token with 512+ cache cells in view is split into one chunk per thread, which a context of
// 256 never reaches (the engine models it with LLAMA_THREADS = 4; tests/oracle_numerics
// checks that path against ggml on 1, 3 and 4 threads).
import { pinnedLlama, pinnedUnavailable, hostLlama, PINNED_VARIANT } from "../../tools/ref/pinned.mjs";

/** Why the bit-exact oracle cannot run here ("" when it can), as one skip line. */
export const PINNED_MISSING = (() => { const w = pinnedUnavailable(); return w ? `skipped: ${w}` : ""; })();
export { PINNED_VARIANT };

let llamaPromise = null;

/** node-llama-cpp's Llama: the pinned build, or where it cannot run the host's own. */
export function llama() {
  llamaPromise ??= PINNED_MISSING ? hostLlama() : pinnedLlama();
  return llamaPromise;
}

export class Oracle {
  constructor(model, context, sequence) {
    this.model = model;
    this.context = context;
    this.sequence = sequence;
  }

  /** Loads a GGUF for greedy decoding and logits, with node-llama-cpp's default context
   *  settings but 1 thread (see above); `options` may override them (createContext's). */
  static async open(modelPath, { contextSize = 256, threads = 1, ...options } = {}) {
    const l = await llama();
    const model = await l.loadModel({ modelPath });
    const context = await model.createContext({ contextSize, threads, ...options });
    return new Oracle(model, context, context.getSequence());
  }

  /** Token ids of text, with BOS first when the model asks for it (as llama.cpp's programs do). */
  tokenize(text) {
    const ids = this.model.tokenize(text);
    const bos = this.model.tokens.bos;
    return this.model.tokens.shouldPrependBosToken && bos !== null ? [bos, ...ids] : ids;
  }

  /** Text of ids; with `after` (the tokens before them) as a continuation of that text. */
  detokenize(ids, after = undefined) { return this.model.detokenize(ids, false, after); }

  /** Up to n greedy tokens after `tokens` (fewer when the model ends the text). */
  async greedy(tokens, n) {
    await this.sequence.clearHistory();
    const out = [];
    if (n <= 0) return out;
    for await (const t of this.sequence.evaluate(tokens, { temperature: 0 })) {
      out.push(t);
      if (out.length >= n) break;
    }
    return out;
  }

  /**
   * Greedy decoding that also keeps llama.cpp's log-probabilities at every step (as it
   * computed them while generating: prompt as one batch, then one token at a time).
   * Returns { tokens, logProbs: Float64Array[] } with logProbs[i] the distribution tokens[i]
   * was chosen from; when the text ends early the last entry is the step that chose EOS.
   */
  async greedyWithLogProbs(tokens, n) {
    await this.sequence.clearHistory();
    const out = { tokens: [], logProbs: [] };
    const it = this.sequence.evaluateWithMetadata(tokens, { probabilities: true }, { temperature: 0, yieldEogToken: true });
    for await (const r of it) {
      out.logProbs.push(toLogProbs(r.probabilities));
      if (this.model.isEogToken(r.token)) break;
      out.tokens.push(r.token);
      if (out.tokens.length >= n) break;
    }
    return out;
  }

  /**
   * Natural-log probabilities of every token after `tokens` (llama.cpp's softmax of its
   * logits, f32): an array indexed by token id (-Infinity where the f32 probability is 0).
   */
  async logProbs(tokens) {
    await this.sequence.clearHistory();
    for await (const r of this.sequence.evaluateWithMetadata(tokens, { probabilities: true }, { temperature: 0 })) {
      return toLogProbs(r.probabilities);
    }
    throw new Error("llama.cpp produced no token");
  }

  async dispose() {
    await this.context.dispose();
    await this.model.dispose();
  }
}

/** node-llama-cpp's probability map (it covers the whole vocabulary) as log-probabilities by id. */
function toLogProbs(probs) {
  const out = new Float64Array(probs.size).fill(-Infinity);
  for (const [id, p] of probs) out[id] = Math.log(p);
  return out;
}

/** log-softmax of a logits row, in double. */
export function logSoftmax(logits) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(logits, (v) => v - lse);
}

/**
 * Compares our log-probabilities with llama.cpp's on the tokens llama.cpp gives at least
 * `minProb`: { maxDiff, medianDiff, worst, count, ourTop, refTop, refMargin } where
 * refMargin is llama.cpp's gap between its best and second-best token.
 */
export function compareLogProbs(ours, ref, minProb = 1e-4) {
  let maxDiff = 0, worst = -1, ourTop = 0, refTop = 0;
  const diffs = [];
  const lmin = Math.log(minProb);
  for (let i = 0; i < ref.length; i++) {
    if (ours[i] > ours[ourTop]) ourTop = i;
    if (ref[i] > ref[refTop]) refTop = i;
    if (!(ref[i] >= lmin)) continue;
    const d = Math.abs(ours[i] - ref[i]);
    diffs.push(d);
    if (d > maxDiff) { maxDiff = d; worst = i; }
  }
  let second = -Infinity;
  for (let i = 0; i < ref.length; i++) if (i !== refTop && ref[i] > second) second = ref[i];
  diffs.sort((a, b) => a - b);
  const medianDiff = diffs.length ? diffs[diffs.length >> 1] : NaN;
  return { maxDiff, medianDiff, worst, count: diffs.length, ourTop, refTop, refMargin: ref[refTop] - second };
}

/**
 * Our greedy tokens against llama.cpp's run from greedyWithLogProbs: whether they are the
 * same and, where they part, llama.cpp's own margin between its token and ours at that step
 * (natural log units; a tiny margin points at a last-bit difference in some kernel, a large
 * one at a real bug). Returns { identical, at, refToken, ourToken, refMargin }.
 */
export function compareGreedy(ours, ref, eos) {
  let at = 0;
  const rt = ref.tokens;
  while (at < rt.length && at < ours.length && ours[at] === rt[at]) at++;
  if (at === rt.length && ours.length === rt.length) return { identical: true, at };
  const lp = ref.logProbs[at];
  const refToken = at < rt.length ? rt[at] : eos, ourToken = at < ours.length ? ours[at] : eos;
  return { identical: false, at, refToken, ourToken, refMargin: lp[refToken] - lp[ourToken] };
}
