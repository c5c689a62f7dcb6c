// llmctl infer / stats / profile: one generation streamed to the console, the counters
// over every generation, and the per-stage profile printed after each one when on.
//   llmctl infer "PROMPT" [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]
//                [--min-p M] [--repeat-penalty R] [--seed S]
// The continuation streams as it is generated (the prompt is not repeated); Ctrl-C stops
// it and keeps what was produced; a summary line follows:
//   [N tokens, prompt P tok at X tok/s, generation Y tok/s]
import { interruptRequested, print, printBytes, println } from "../../kernel/console";
import { time_ns } from "../../kernel/platform";
import { Backend, InferResult, STOP_ERROR, STOP_INTERRUPTED, STOP_MAX_TOKENS, TokenSink, stopName } from "../../llm/backend/backend";
import { currentBackend, realSelected } from "../../llm/backend/registry";
import { fixed, ms, printable } from "../format";
import { FAIL, OK, USAGE } from "../registry";
import { parseOptions } from "./llmctl_config";
import { coresLine } from "../../kernel/parallel";

export class ConsoleSink extends TokenSink {
  emitted: i32 = 0;
  emit(ptr: usize, len: i32): void { printBytes(ptr, <usize>len); this.emitted += len; }
  interrupted(): bool { return interruptRequested(); }
  nowNs(): u64 { return time_ns(); }
  note(text: string): void { println("(" + text + ")"); }
}

export const NO_BACKEND = "no backend selected (try 'llmctl backend stub' for the synthetic test backend, or 'llmctl backend real' " +
  "and 'llmctl load /models/NAME.gguf' for the transformer)";

// ---- counters for `llmctl stats` ----
let inferences: u64 = 0;
let failures: u64 = 0;
let interrupts: u64 = 0;
let promptTokens: u64 = 0;
let generatedTokens: u64 = 0;
let promptNs: u64 = 0;
let generateNs: u64 = 0;
let profileOn = false;

export function resetStats(): void {
  inferences = 0; failures = 0; interrupts = 0; promptTokens = 0; generatedTokens = 0; promptNs = 0; generateNs = 0;
}

function tokPerS(n: u64, ns: u64): string {
  return ns == 0 ? "-" : fixed(<f64>n * 1e9 / <f64>ns, 1);
}

/** Records a finished generation and prints what follows its output: stop note, summary, profile. */
export function finishGeneration(b: Backend, r: InferResult, context: bool): void {
  if (r.stopReason == STOP_INTERRUPTED) print("^C");
  println("");
  if (r.error.length != 0) {
    failures++;
    println("error: " + printable(r.error));
    return;
  }
  inferences++;
  if (r.stopReason == STOP_INTERRUPTED) interrupts++;
  promptTokens += <u64>r.promptTokens;
  generatedTokens += <u64>r.generatedTokens;
  promptNs += r.promptNs;
  generateNs += r.generateNs;
  if (r.note.length != 0) println("(" + r.note + ")");
  if (r.stopReason != STOP_MAX_TOKENS) {
    if (r.stopReason == STOP_INTERRUPTED) println("(stopped by Ctrl-C; the output so far is kept)");
    else println("(stopped: " + stopName(r.stopReason) + ")");
  }
  let line = "[" + r.generatedTokens.toString() + (r.generatedTokens == 1 ? " token" : " tokens") + ", prompt " + r.promptTokens.toString() + " tok at " +
    tokPerS(<u64>r.promptTokens, r.promptNs) + " tok/s, generation " + tokPerS(<u64>r.generatedTokens, r.generateNs) + " tok/s]";
  if (context && r.contextSize > 0) line += " context " + r.contextUsed.toString() + "/" + r.contextSize.toString();
  println(line);
  if (profileOn) {
    const p = b.profile();
    for (let i = 0; i < p.length; i++) println(p[i]);
  }
}

export function llmctlInfer(args: Array<string>): i32 {
  const words = new Array<string>();
  const settings = parseOptions(args, 2, words, new Array<string>());
  if (settings == null) return FAIL;
  if (words.length == 0) return USAGE;
  if (words.length > 1) {
    println("error: infer takes one prompt; quote it: llmctl infer \"several words\"");
    return FAIL;
  }
  if (words[0].trim().length == 0) { println("error: the prompt is empty or only spaces: give the model some text to continue"); return FAIL; }
  const b = currentBackend();
  if (b == null) { println("error: " + NO_BACKEND); return FAIL; }
  const encoded = Uint8Array.wrap(String.UTF8.encode(words[0]));
  const r = b.infer(encoded, settings, new ConsoleSink());
  finishGeneration(b, r, false);
  return r.error.length != 0 ? FAIL : OK;
}

export function llmctlStats(args: Array<string>): i32 {
  if (args.length != 2) return USAGE;
  const b = currentBackend();
  println("backend: " + (b == null ? "none selected" : b.name()));
  println("inferences: " + inferences.toString() + " (" + interrupts.toString() + " stopped by Ctrl-C)" +
    (failures > 0 ? "; " + failures.toString() + " refused with an error before generating" : ""));
  println("tokens: " + promptTokens.toString() + " prompt, " + generatedTokens.toString() + " generated");
  if (inferences > 0) {
    const total = promptNs + generateNs;
    println("average latency: " + ms(total / inferences) + " ms per inference (prompt " + ms(promptNs / inferences) +
      " ms, generation " + ms(generateNs / inferences) + " ms)");
    println("average speed: prompt " + tokPerS(promptTokens, promptNs) + " tok/s, generation " + tokPerS(generatedTokens, generateNs) + " tok/s");
  } else {
    println("average latency: - (no inference yet)");
  }
  println(coresLine());
  if (b != null) {
    const m = b.memory();
    for (let i = 0; i < m.length; i++) println(m[i]);
  }
  return OK;
}

export function llmctlProfile(args: Array<string>): i32 {
  if (args.length == 2) { println("profile: " + (profileOn ? "on" : "off")); return OK; }
  if (args.length != 3) return USAGE;
  if (args[2] == "on") profileOn = true;
  else if (args[2] == "off") profileOn = false;
  else return USAGE;
  println("profile: " + (profileOn ? "on (printed after each inference)" : "off"));
  if (profileOn && !realSelected()) println("note: only the real backend times its stages");
  return OK;
}

export function profileEnabled(): bool { return profileOn; }
