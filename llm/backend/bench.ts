// `llmctl bench`: prompt processing and generation speed of the loaded model, as
// llama-bench measures them: pp N = one prefill of a prompt of exactly N tokens,
// tg N = N single-token forward passes (each followed by greedy sampling) after a
// one-token prompt, pg P,N = a prefill of P tokens and then N forward passes after it (the
// two timed apart: what tools/peer's llama.cpp driver measures). The prompt is natural
// text (the start of Genesis) cut or repeated to N tokens, with BOS first when the model
// wants it. Timings are the guest's own clock.

import { Engine } from "../engine";
import { InferSettings } from "./backend";
import { time_ns } from "../../kernel/platform";

export const BENCH_TEXT = "In the beginning God created the heaven and the earth. And the earth was without form, and void; " +
  "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. " +
  "And God said, Let there be light: and there was light.";

export class BenchRun {
  error: string = "";
  tokens: i32 = 0;
  ns: u64 = 0;
}

function greedy(maxTokens: i32): InferSettings {
  const s = new InferSettings();
  s.temperature = 0;
  s.repeatPenalty = 1;
  s.maxTokens = maxTokens;
  s.seed = 1;
  s.seedSet = true;
  s.ignoreEos = true;
  return s;
}

/** n prompt tokens: BOS (when the model adds one) and the text's tokens, repeated as needed. */
export function benchTokens(e: Engine, n: i32): Int32Array {
  const text = String.UTF8.encode(BENCH_TEXT);
  const withBos = e.tokenize(changetype<usize>(text), text.byteLength, true);
  const plain = e.tokenize(changetype<usize>(text), text.byteLength, false);
  const out = new Int32Array(n);
  let i = 0;
  const lead = withBos.length - plain.length; // 1 with BOS, else 0
  for (; i < lead && i < n; i++) out[i] = withBos[i];
  let j = 0;
  for (; i < n; i++) { out[i] = plain.length > 0 ? plain[j % plain.length] : 0; j++; }
  return out;
}

/** One prefill of exactly n tokens. */
export function benchPrompt(e: Engine, n: i32): BenchRun {
  const r = new BenchRun();
  if (n > e.nCtx) { r.error = "pp " + n.toString() + " needs a context of " + n.toString() + " tokens; the model's is " + e.nCtx.toString(); return r; }
  const toks = benchTokens(e, n);
  const t0 = time_ns();
  r.error = e.beginTokens(toks, greedy(1));
  r.ns = time_ns() - t0;
  r.tokens = n;
  e.reset();
  return r;
}

/** n generated tokens after a one-token prompt: n forward passes of one token, each sampled. */
export function benchGenerate(e: Engine, n: i32): BenchRun {
  return benchPromptGenerate(e, 1, n)[1];
}

/**
 * A prefill of p tokens, then n forward passes of one generated token each (greedy):
 * [the prefill, the generation], timed apart.
 */
export function benchPromptGenerate(e: Engine, p: i32, n: i32): StaticArray<BenchRun> {
  const out = new StaticArray<BenchRun>(2);
  const pp = new BenchRun(), tg = new BenchRun();
  out[0] = pp; out[1] = tg;
  if (p + n + 1 > e.nCtx) {
    pp.error = "pp " + p.toString() + " + tg " + n.toString() + " needs a context of " + (p + n + 1).toString() + " tokens; the model's is " + e.nCtx.toString();
    tg.error = pp.error;
    return out;
  }
  const toks = benchTokens(e, p);
  let t0 = time_ns();
  pp.error = e.beginTokens(toks, greedy(n + 1));
  pp.ns = time_ns() - t0;
  pp.tokens = p;
  tg.error = pp.error;
  if (pp.error.length != 0) return out;
  e.next(); // the first token comes from the prompt's logits: no forward pass
  t0 = time_ns();
  for (let i = 0; i < n; i++) {
    if (e.next() < 0) { tg.error = "generation ended after " + i.toString() + " of " + n.toString() + " tokens"; break; }
    tg.tokens++;
  }
  tg.ns = time_ns() - t0;
  e.reset();
  return out;
}
