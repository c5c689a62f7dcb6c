// Generation settings for llmctl: `llmctl config [KEY VALUE]` changes the defaults every
// infer/chat starts from, and the same keys as --options override them for one command.
// The keys, their defaults and their checks are llm/settings.ts's (sis-llm uses the same);
// one more is the shell's own:
//   context N         context size in tokens (0 = the model's own); applies at the next
//                     load, or at once to a loaded model (its KV cache is reallocated)
//   threads N         how many of the cores the engine splits its work across (1 to all)
//   grammar-file P    a GBNF grammar every generation follows (none: off; llmctl_grammar.ts)
import { println } from "../../kernel/console";
import { InferSettings, MAX_TOKENS_UNLIMITED, SETTING_KEYS, SETTING_OK, SETTING_UNKNOWN, applySetting } from "../../llm/settings";
import { contextSetting, currentBackend, defaultSettings, realBackend, setContextSetting } from "../../llm/backend/registry";
import { coresStarted, setThreads, threads } from "../../kernel/parallel";
import { parseNumber, parseUint } from "../args";
import { bytes, fixed, printable } from "../format";
import { FAIL, OK, USAGE } from "../registry";
import { GRAMMAR_FLAG, GRAMMAR_WITH_VALUE, applyGrammarOption, configGrammarFile, grammarOptionKind } from "./llmctl_grammar";

export const CONFIG_KEYS = SETTING_KEYS.join(", ") + ", context, threads, grammar-file";
export const CONTEXT_MAX: i64 = 1 << 20;

/**
 * Parses "--key value" options from args[from..] into a copy of the defaults; words that are
 * not options go to `words`. Returns null after printing an error.
 */
export function parseOptions(args: Array<string>, from: i32, words: Array<string>, extra: Array<string>): InferSettings | null {
  const s = defaultSettings().clone();
  for (let i = from; i < args.length; i++) {
    const a = args[i];
    if (!a.startsWith("--") || a.length == 2) { words.push(a); continue; }
    const key = a.substring(2);
    const grammarKind = grammarOptionKind(key);
    if (grammarKind == GRAMMAR_FLAG) {
      const e = applyGrammarOption(s, key, "");
      if (e.length != 0) { println("error: " + printable(e)); return null; }
      continue;
    }
    if (i + 1 >= args.length) { println("error: option '" + printable(a) + "' needs a value"); return null; }
    if (grammarKind == GRAMMAR_WITH_VALUE) {
      const e = applyGrammarOption(s, key, args[++i]);
      if (e.length != 0) { println("error: " + printable(e)); return null; }
      continue;
    }
    if (extra.includes(key)) { words.push(a); words.push(args[i + 1]); i++; continue; }
    const r = applySetting(s, key, args[i + 1]);
    if (r.code != SETTING_OK) {
      println("error: " + (r.code == SETTING_UNKNOWN ? "unknown option '" + printable(a) + "'" : "--" + printable(r.message)));
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
  lines.push("  repeat-penalty  " + fixed(s.repeatPenalty, 2) + (s.repeatPenalty == 1 ? " (off)" : ""));
  lines.push("  repeat-last-n   " + s.repeatLastN.toString() + " (tokens the penalty looks back over)");
  lines.push("  seed            " + (s.seedSet ? s.seed.toString() : "random (from the clock)"));
  lines.push("  max-tokens      " + (s.maxTokens == MAX_TOKENS_UNLIMITED ? "-1 (no limit: until end of text or a full context)" : s.maxTokens.toString()));
  const c = contextSetting();
  let ctx = c == 0 ? "0 (the model's own)" : c.toString();
  const r = realBackend();
  if (r.isLoaded()) ctx += "; loaded model: " + r.engine.nCtx.toString() + " tokens";
  lines.push("  context         " + ctx);
  const n = coresStarted();
  lines.push("  threads         " + threads().toString() + " (of " + n.toString() + (n == 1 ? " core)" : " cores)"));
  lines.push("  grammar-file    " + (s.grammar.length == 0 ? "none" : printable(s.grammarSource)));
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
    if (v != 0) setContextSetting(r.engine.nCtx); // what it became, as `config` shows it
    println("context: " + r.engine.nCtx.toString() + " tokens" + (v > <i64>train ? " (the model's maximum; " + v.toString() + " asked)" : "") +
      "; KV cache reallocated (" + bytes(r.kvRegionBytes()) + "), history cleared");
    return OK;
  }
  if (key == "threads") {
    const n = parseUint(value, 1024);
    if (n < 1 || !setThreads(<i32>n)) {
      println("error: threads needs a whole number from 1 to " + coresStarted().toString() + " (the cores that run jobs), not '" + printable(value) + "'");
      return FAIL;
    }
    println("threads: " + n.toString() + " of " + coresStarted().toString() + " cores");
    return OK;
  }
  const s = defaultSettings();
  if (key == "grammar-file") {
    const e = configGrammarFile(s, value);
    if (e.length != 0) { println("error: " + printable(e)); return FAIL; }
    println(s.grammar.length == 0 ? "grammar-file: none (output is not constrained)"
      : "grammar-file: " + printable(value) + " (every infer and chat reply follows it; 'llmctl config grammar-file none' turns it off)");
    return OK;
  }
  const r = applySetting(s, key, value);
  if (r.code == SETTING_UNKNOWN) { println("error: unknown setting '" + printable(key) + "' (settings: " + CONFIG_KEYS + ")"); return FAIL; }
  if (r.code != SETTING_OK) { println("error: " + printable(r.message)); return FAIL; }
  const lines = settingsLines(s);
  for (let i = 0; i < lines.length; i++) if (lines[i].startsWith("  " + key + " ")) println(lines[i].trimStart());
  const b = currentBackend();
  if (b != null && b.name() == "stub" && key != "max-tokens") println("note: the stub backend ignores " + key);
  return OK;
}
