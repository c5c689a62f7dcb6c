// llmctl: the shell side of the LLM subsystem: choose a backend, show it, run inference.
// Output streams to the console piece by piece; Ctrl-C stops a generation.
import { interruptRequested, print, printBytes, println } from "../../kernel/console";
import { time_ns } from "../../kernel/platform";
import { InferSettings, TokenSink } from "../../llm/backend/backend";
import { currentBackend, defaultSettings, recoverBackends, selectBackend, stubBackend } from "../../llm/backend/registry";
import { parseNumber, parseUint } from "../args";
import { fixed, ms, printable } from "../format";
import { FAIL, OK, USAGE, onTrapRecovery, registerCommand } from "../registry";
import { llmctlModels } from "./llmctl_models";

class ConsoleSink extends TokenSink {
  emit(ptr: usize, len: i32): void { printBytes(ptr, <usize>len); }
  interrupted(): bool { return interruptRequested(); }
  nowNs(): u64 { return time_ns(); }
}

const NO_BACKEND = "no backend selected (try 'llmctl backend stub' for the synthetic test backend; the real transformer backend is not in this build yet)";

function backend(args: Array<string>): i32 {
  if (args.length == 2) {
    const b = currentBackend();
    println(b == null ? "backend: none selected" : "backend: " + b.name() + " (" + b.describe() + ")");
    return OK;
  }
  const name = args[2];
  let delayMs: i64 = -1;
  if (name == "stub" && args.length == 5 && args[3] == "--delay-ms") {
    delayMs = parseUint(args[4], 60000);
    if (delayMs < 0) {
      println("error: --delay-ms needs a number of milliseconds (0..60000), not '" + printable(args[4]) + "'");
      return FAIL;
    }
  } else if (args.length != 3) return USAGE;
  const err = selectBackend(name);
  if (err.length != 0) {
    println("error: " + printable(err));
    return FAIL;
  }
  if (name == "stub") stubBackend().pieceDelayMs = delayMs >= 0 ? <u32>delayMs : 0; // each selection starts from its own options
  const b = currentBackend()!;
  println("backend: " + b.name() + " selected (" + b.describe() + ")");
  return OK;
}

function info(args: Array<string>): i32 {
  if (args.length != 2) return USAGE;
  const b = currentBackend();
  if (b == null) println("backend: none selected");
  else {
    const lines = b.info();
    for (let i = 0; i < lines.length; i++) println(lines[i]);
  }
  const s = defaultSettings();
  println("defaults: max-tokens " + s.maxTokens.toString() + ", temperature " + fixed(s.temperature, 2) +
    ", top-k " + s.topK.toString() + ", top-p " + fixed(s.topP, 2) + ", min-p " + fixed(s.minP, 2) +
    ", repeat-penalty " + fixed(s.repeatPenalty, 2) + ", seed " + (s.seedSet ? s.seed.toString() : "from the clock"));
  println("real backend: not available in this build");
  return OK;
}

// Applies one "--name value" option; returns "" or the error.
function applyOption(s: InferSettings, name: string, value: string): string {
  if (name == "--max-tokens") {
    const v = parseUint(value, 1000000);
    if (v < 1) return "--max-tokens needs a whole number from 1 to 1000000, not '" + printable(value) + "'";
    s.maxTokens = <i32>v;
  } else if (name == "--top-k") {
    const v = parseUint(value, 1000000);
    if (v < 0) return "--top-k needs a whole number from 0 to 1000000, not '" + printable(value) + "'";
    s.topK = <i32>v;
  } else if (name == "--seed") {
    const v = parseUint(value, <u64>i64.MAX_VALUE);
    if (v < 0) return "--seed needs a whole number, not '" + printable(value) + "'";
    s.seed = <u64>v;
    s.seedSet = true;
  } else {
    const v = parseNumber(value);
    if (name == "--temperature") {
      if (!(v >= 0 && v <= 100)) return "--temperature needs a number from 0 to 100, not '" + printable(value) + "'";
      s.temperature = <f32>v;
    } else if (name == "--top-p") {
      if (!(v >= 0 && v <= 1)) return "--top-p needs a number from 0 to 1, not '" + printable(value) + "'";
      s.topP = <f32>v;
    } else if (name == "--min-p") {
      if (!(v >= 0 && v <= 1)) return "--min-p needs a number from 0 to 1, not '" + printable(value) + "'";
      s.minP = <f32>v;
    } else if (name == "--repeat-penalty") {
      if (!(v > 0 && v <= 10)) return "--repeat-penalty needs a number above 0 and at most 10, not '" + printable(value) + "'";
      s.repeatPenalty = <f32>v;
    } else return "unknown option '" + printable(name) + "'";
  }
  return "";
}

function infer(args: Array<string>): i32 {
  const settings = defaultSettings().clone();
  let prompt: string | null = null;
  for (let i = 2; i < args.length; i++) {
    const a = args[i];
    if (a.startsWith("--")) {
      if (i + 1 >= args.length) {
        println("error: option '" + printable(a) + "' needs a value");
        return FAIL;
      }
      const err = applyOption(settings, a, args[i + 1]);
      if (err.length != 0) { println("error: " + err); return FAIL; }
      i++;
    } else if (prompt == null) prompt = a;
    else {
      println("error: infer takes one prompt; quote it: llmctl infer \"several words\"");
      return FAIL;
    }
  }
  if (prompt == null) return USAGE;
  const b = currentBackend();
  if (b == null) {
    println("error: " + NO_BACKEND);
    return FAIL;
  }
  const text = <string>prompt;
  const encoded = Uint8Array.wrap(String.UTF8.encode(text));
  const r = b.infer(encoded, settings, new ConsoleSink());
  if (r.stopReason == "interrupted") print("^C");
  println("");
  if (r.error.length != 0) println("error: " + r.error);
  const total = r.promptNs + r.generateNs;
  let line = "-- " + b.name() + ": " + r.promptTokens.toString() + " prompt tokens, " + r.generatedTokens.toString() +
    " generated, stop: " + r.stopReason + ", " + ms(total) + " ms (prompt " + ms(r.promptNs) + " ms, generation " + ms(r.generateNs) + " ms";
  if (r.generateNs > 0 && r.generatedTokens > 0) {
    line += ", " + fixed(<f64>r.generatedTokens * 1e9 / <f64>r.generateNs, 1) + " tokens/s";
  }
  println(line + ")");
  return r.error.length != 0 ? FAIL : OK;
}

function llmctl(args: Array<string>): i32 {
  if (args.length < 2) return USAGE;
  const sub = args[1];
  if (sub == "backend") return backend(args);
  if (sub == "info") return info(args);
  if (sub == "infer") return infer(args);
  if (sub == "models") return llmctlModels(args);
  println("error: unknown llmctl subcommand '" + printable(sub) + "'");
  return USAGE;
}

onTrapRecovery(recoverBackends);

registerCommand("llmctl", "control the LLM subsystem: backend, info, inference, models",
  "llmctl backend [stub [--delay-ms N] | real]\n" +
  "       llmctl models            every .gguf file under /models, with its size\n" +
  "       llmctl info\n" +
  "       llmctl infer \"PROMPT\" [--max-tokens N] [--temperature T] [--top-k K] [--top-p P]\n" +
  "                    [--min-p P] [--repeat-penalty R] [--seed S]", llmctl);
