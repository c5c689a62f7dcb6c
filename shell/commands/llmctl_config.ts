// Generation settings for llmctl: `llmctl config [KEY VALUE]` changes the defaults every
// infer/chat starts from, and the same keys as --options override them for one command.
//   temperature T     0 = greedy (always the most likely token); up to 100
//   top-k K           keep the K most likely tokens (0 = off)
//   top-p P           keep the most likely tokens up to probability P (1 = off)
//   min-p M           drop tokens below M x the top token's probability (0 = off)
//   repeat-penalty R  divide the logits of the last 64 tokens by R (1 = off)
//   seed S            the sampler's seed: a number, or "random" (from the clock each time)
//   max-tokens N      tokens generated at most per answer
//   context N         context size in tokens (0 = the model's own); applies at the next
//                     load, or at once to a loaded model (its KV cache is reallocated)
import { println } from "../../kernel/console";
import { InferSettings } from "../../llm/backend/backend";
import { contextSetting, currentBackend, defaultSettings, realBackend, setContextSetting } from "../../llm/backend/registry";
import { parseNumber, parseUint } from "../args";
import { bytes, fixed, printable } from "../format";
import { FAIL, OK, USAGE } from "../registry";

export const CONFIG_KEYS = "temperature, top-k, top-p, min-p, repeat-penalty, seed, max-tokens, context";
export const CONTEXT_MAX: i64 = 1 << 20;

/** Applies one setting (key without "--") to s; returns "" or the error. `context` is not handled here. */
export function applySetting(s: InferSettings, key: string, value: string): string {
  if (key == "max-tokens") {
    const v = parseUint(value, 1000000);
    if (v < 1) return "max-tokens needs a whole number from 1 to 1000000, not '" + printable(value) + "'";
    s.maxTokens = <i32>v;
  } else if (key == "top-k") {
    const v = parseUint(value, 1000000);
    if (v < 0) return "top-k needs a whole number from 0 to 1000000, not '" + printable(value) + "'";
    s.topK = <i32>v;
  } else if (key == "seed") {
    if (value == "random") { s.seedSet = false; s.seed = 0; return ""; }
    const v = parseUint(value, <u64>i64.MAX_VALUE);
    if (v < 0) return "seed needs a whole number or 'random', not '" + printable(value) + "'";
    s.seed = <u64>v;
    s.seedSet = true;
  } else {
    const v = parseNumber(value);
    if (key == "temperature") {
      if (!(v >= 0 && v <= 100)) return "temperature needs a number from 0 to 100, not '" + printable(value) + "'";
      s.temperature = <f32>v;
    } else if (key == "top-p") {
      if (!(v >= 0 && v <= 1)) return "top-p needs a number from 0 to 1, not '" + printable(value) + "'";
      s.topP = <f32>v;
    } else if (key == "min-p") {
      if (!(v >= 0 && v <= 1)) return "min-p needs a number from 0 to 1, not '" + printable(value) + "'";
      s.minP = <f32>v;
    } else if (key == "repeat-penalty") {
      if (!(v > 0 && v <= 10)) return "repeat-penalty needs a number above 0 and at most 10, not '" + printable(value) + "'";
      s.repeatPenalty = <f32>v;
    } else return "unknown setting '" + printable(key) + "' (settings: " + CONFIG_KEYS + ")";
  }
  return "";
}

/**
 * Parses "--key value" options from args[from..] into a copy of the defaults; words that are
 * not options go to `words`. Returns null after printing an error.
 */
export function parseOptions(args: Array<string>, from: i32, words: Array<string>, extra: Array<string>): InferSettings | null {
  const s = defaultSettings().clone();
  for (let i = from; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--") || a.length == 2) { words.push(a); continue; }
    if (i + 1 >= args.length) { println("error: option '" + printable(a) + "' needs a value"); return null; }
    const key = a.substring(2);
    if (extra.includes(key)) { words.push(a); words.push(args[i + 1]); i++; continue; }
    const err = applySetting(s, key, args[i + 1]);
    if (err.length != 0) {
      println("error: " + (err.startsWith("unknown setting") ? "unknown option '" + printable(a) + "'" : "--" + err));
      return null;
    }
    i++;
  }
  return s;
}

export function settingsLines(s: InferSettings): Array<string> {
  const lines = new Array<string>();
  lines.push("  temperature     " + fixed(s.temperature, 2) + (s.temperature <= 0 ? " (greedy)" : ""));
  lines.push("  top-k           " + s.topK.toString() + (s.topK == 0 ? " (off)" : ""));
  lines.push("  top-p           " + fixed(s.topP, 2) + (s.topP >= 1 ? " (off)" : ""));
  lines.push("  min-p           " + fixed(s.minP, 2) + (s.minP <= 0 ? " (off)" : ""));
  lines.push("  repeat-penalty  " + fixed(s.repeatPenalty, 2) + (s.repeatPenalty == 1 ? " (off)" : "") + ", over the last " + s.repeatLastN.toString() + " tokens");
  lines.push("  seed            " + (s.seedSet ? s.seed.toString() : "random (from the clock)"));
  lines.push("  max-tokens      " + s.maxTokens.toString());
  const c = contextSetting();
  let ctx = c == 0 ? "0 (the model's own)" : c.toString();
  const r = realBackend();
  if (r.isLoaded()) ctx += "; loaded model: " + r.engine.nCtx.toString() + " tokens";
  lines.push("  context         " + ctx);
  return lines;
}

export function llmctlConfig(args: Array<string>): i32 {
  if (args.length == 2) {
    println("settings (llmctl config KEY VALUE changes one; --KEY VALUE overrides it for one command):");
    const lines = settingsLines(defaultSettings());
    for (let i = 0; i < lines.length; i++) println(lines[i]);
    return OK;
  }
  if (args.length != 4) return USAGE;
  const key = args[2], value = args[3];
  if (key == "context") {
    const v = parseUint(value, <u64>CONTEXT_MAX);
    if (v < 0) { println("error: context needs a whole number of tokens from 0 (the model's own) to " + CONTEXT_MAX.toString() + ", not '" + printable(value) + "'"); return FAIL; }
    setContextSetting(<i32>v);
    const r = realBackend();
    if (!r.isLoaded()) { println("context: " + (v == 0 ? "the model's own" : v.toString() + " tokens") + " from the next load"); return OK; }
    const train = r.engine.model!.config.nCtxTrain;
    const err = r.setContext(<i32>v);
    if (err.length != 0) { println("error: " + err); return FAIL; }
    println("context: " + r.engine.nCtx.toString() + " tokens" + (v > <i64>train ? " (the model's maximum; " + v.toString() + " asked)" : "") +
      "; KV cache reallocated (" + bytes(r.kvRegionBytes()) + "), history cleared");
    return OK;
  }
  const s = defaultSettings();
  const err = applySetting(s, key, value);
  if (err.length != 0) { println("error: " + err); return FAIL; }
  const lines = settingsLines(s);
  for (let i = 0; i < lines.length; i++) if (lines[i].startsWith("  " + key + " ")) println(lines[i].trimStart());
  const b = currentBackend();
  if (b != null && b.name() == "stub" && key != "max-tokens") println("note: the stub backend ignores " + key);
  return OK;
}
