// Generation settings: what one generation takes, its defaults and its validation, defined
// once for the kernel (llmctl config and --options, shell/commands/llmctl_config.ts) and the
// host (sis-llm's llama.cpp-style flags, through llm/host.ts). Keys are llama.cpp's option
// names without "--"; values are the words a person typed.
//   max-tokens N       tokens generated at most; -1: no limit (until end of text or a full
//                      context, llama.cpp's -n -1)
//   temperature T      0 = greedy (always the most likely token); up to 100
//   top-k K            keep the K most likely tokens (0 = off)
//   top-p P            keep the most likely tokens up to probability P (1 = off)
//   min-p M            drop tokens below M x the top token's probability (0 = off)
//   repeat-penalty R   divide the logits of recent tokens by R (1 = off)
//   repeat-last-n N    how many recent tokens the penalty looks at
//   seed S             the sampler's seed: a number, or "random" (from the clock each time)
// The defaults are llama.cpp's sampling defaults, except max-tokens: llama.cpp runs until the
// context is full (-1); a console wants an answer of bounded length.
import { parseNumber, parseUint } from "../kernel/lib/parse";

export const MAX_TOKENS_UNLIMITED: i32 = -1;
export const MAX_TOKENS_DEFAULT: i32 = 128;

export class InferSettings {
  maxTokens: i32 = MAX_TOKENS_DEFAULT; // MAX_TOKENS_UNLIMITED: no limit
  temperature: f32 = 0.8;
  topK: i32 = 40;        // 0: off
  topP: f32 = 0.95;      // 1: off
  minP: f32 = 0.05;      // 0: off
  repeatPenalty: f32 = 1.0; // 1: off (llama.cpp's default)
  repeatLastN: i32 = 64;
  seed: u64 = 0;         // used when seedSet; otherwise one is taken from the clock
  seedSet: bool = false;
  /** Keep generating past end-of-text tokens (benchmarks that need an exact token count). */
  ignoreEos: bool = false;
  /** A GBNF grammar (llm/grammar), as UTF-8 bytes, the output must match from its rule
   *  "root"; empty for none. Bytes, not a string: a JSON schema's conversion may split a
   *  character's bytes, as llama.cpp's does. */
  grammar: Uint8Array = new Uint8Array(0);
  /** Where the grammar came from, for people ("/models/list.gbnf", "a JSON schema"). */
  grammarSource: string = "";

  clone(): InferSettings {
    const s = new InferSettings();
    s.maxTokens = this.maxTokens;
    s.temperature = this.temperature;
    s.topK = this.topK;
    s.topP = this.topP;
    s.minP = this.minP;
    s.repeatPenalty = this.repeatPenalty;
    s.repeatLastN = this.repeatLastN;
    s.seed = this.seed;
    s.seedSet = this.seedSet;
    s.ignoreEos = this.ignoreEos;
    s.grammar = this.grammar;
    s.grammarSource = this.grammarSource;
    return s;
  }
}

/** Every key applySetting takes, in the order settings are listed. */
export const SETTING_KEYS: Array<string> = ["temperature", "top-k", "top-p", "min-p", "repeat-penalty", "repeat-last-n", "seed", "max-tokens"];

// applySetting's outcome (a code to decide on; the message is for people)
export const SETTING_OK: i32 = 0;
export const SETTING_UNKNOWN: i32 = 1;   // no such key
export const SETTING_BAD_VALUE: i32 = 2; // the key exists; the value is not one it takes

export class SettingResult {
  constructor(public code: i32, public message: string) {}
  static ok(): SettingResult { return new SettingResult(SETTING_OK, ""); }
}

function bad(what: string, value: string): SettingResult {
  return new SettingResult(SETTING_BAD_VALUE, what + ", not '" + value + "'");
}

/** Sets `key` in s from the typed `value`; s is unchanged unless the result is SETTING_OK. */
export function applySetting(s: InferSettings, key: string, value: string): SettingResult {
  if (key == "max-tokens") {
    if (value == "-1") { s.maxTokens = MAX_TOKENS_UNLIMITED; return SettingResult.ok(); }
    const v = parseUint(value, 1000000);
    if (v < 0) return bad("max-tokens needs a whole number from 0 to 1000000, or -1 for no limit", value);
    s.maxTokens = <i32>v;
  } else if (key == "top-k") {
    const v = parseUint(value, 1000000);
    if (v < 0) return bad("top-k needs a whole number from 0 to 1000000", value);
    s.topK = <i32>v;
  } else if (key == "repeat-last-n") {
    const v = parseUint(value, 1000000);
    if (v < 0) return bad("repeat-last-n needs a whole number from 0 to 1000000", value);
    s.repeatLastN = <i32>v;
  } else if (key == "seed") {
    if (value == "random") { s.seedSet = false; s.seed = 0; return SettingResult.ok(); }
    const v = parseUint(value, <u64>i64.MAX_VALUE);
    if (v < 0) return bad("seed needs a whole number or 'random'", value);
    s.seed = <u64>v;
    s.seedSet = true;
  } else {
    const v = parseNumber(value);
    if (key == "temperature") {
      if (!(v >= 0 && v <= 100)) return bad("temperature needs a number from 0 to 100", value);
      s.temperature = <f32>v;
    } else if (key == "top-p") {
      if (!(v >= 0 && v <= 1)) return bad("top-p needs a number from 0 to 1", value);
      s.topP = <f32>v;
    } else if (key == "min-p") {
      if (!(v >= 0 && v <= 1)) return bad("min-p needs a number from 0 to 1", value);
      s.minP = <f32>v;
    } else if (key == "repeat-penalty") {
      if (!(v > 0 && v <= 10)) return bad("repeat-penalty needs a number above 0 and at most 10", value);
      s.repeatPenalty = <f32>v;
    } else return new SettingResult(SETTING_UNKNOWN, "unknown setting '" + key + "' (settings: " + SETTING_KEYS.join(", ") + ")");
  }
  return SettingResult.ok();
}
