// Test entry for llm/grammar: parse GBNF (rules as llama.cpp's parser tests list them), and
// drive a matcher token by token (as llama.cpp's grammar integration tests do). Text crosses
// as UTF-8 bytes in linear memory.
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { parseRules, parseGrammar } from "../../llm/grammar/gbnf";
import { GrammarMatcher } from "../../llm/grammar/matcher";

export { allocRegion, freeRegion };

function bytesAt(p: usize, n: i32): Uint8Array {
  const b = new Uint8Array(n);
  memory.copy(b.dataStart, p, <usize>n);
  return b;
}

/**
 * Parses [p, p+n) and lists what llama.cpp's parser test compares: "error: ..." or the symbol
 * table, one "name id" per line, then "--", then each rule's elements as "type value" lines
 * with a blank line after each rule.
 */
export function parseDump(p: usize, n: i32): string {
  const r = parseRules(bytesAt(p, n));
  if (r.error.length != 0) return "error: " + r.error;
  let out = "";
  for (let i = 0; i < r.names.length; i++) out += r.names[i] + " " + i.toString() + "\n";
  out += "--\n";
  for (let i = 0; i < r.rules.length; i++) {
    const rule = r.rules[i];
    for (let j = 0; j < rule.length; j++) out += (<u32>(rule[j] >> 32)).toString() + " " + (<u32>rule[j]).toString() + "\n";
    out += "\n";
  }
  return out;
}

let matcher: GrammarMatcher | null = null;

/** Builds a matcher for the grammar [p, p+n) from rule `root`: "" or the error. */
export function build(p: usize, n: i32, rp: usize, rn: i32): string {
  matcher = null;
  const r = parseGrammar(bytesAt(p, n), String.UTF8.decodeUnsafe(rp, <usize>rn), null);
  if (r.grammar === null) return r.error;
  matcher = new GrammarMatcher(r.grammar!);
  return matcher!.error;
}

/** The matcher's error ("" while the grammar can be followed). */
export function matcherError(): string { return matcher!.error; }

/** Takes a token (id, text [p, p+n)); false when no stack survives. */
export function acceptToken(id: i32, p: usize, n: i32): bool { return matcher!.acceptToken(id, p, n, false); }
export function canEnd(): bool { return matcher!.canEnd; }

// ---- with a model's vocabulary: the trie's verdicts against llama.cpp's token-by-token walk ----
import { parseGGUF } from "../../llm/gguf";
import { Tokenizer } from "../../llm/tokenizer/tokenizer";
import { GrammarVocab } from "../../llm/grammar/vocab";
import { time_ns } from "../../kernel/platform";

let vocab: GrammarVocab | null = null;
let tokenizer: Tokenizer | null = null;
let allowed = new Uint8Array(0);
let allowedRef = new Uint8Array(0);

/** The vocabulary of the GGUF image at [base, base+size): "" or the error. */
export function loadVocab(base: usize, size: u64): string {
  const r = parseGGUF(base, size);
  if (!r.ok) return r.error;
  const t = Tokenizer.fromGGUF(r.file!);
  if (t.tokenizer === null) return t.error;
  tokenizer = t.tokenizer;
  vocab = new GrammarVocab(tokenizer!);
  allowed = new Uint8Array(vocab!.size);
  allowedRef = new Uint8Array(vocab!.size);
  return "";
}

/** Builds a matcher for [p, p+n) with the vocabulary loaded (tokens by name resolve). */
export function buildWithVocab(p: usize, n: i32): string {
  matcher = null;
  const r = parseGrammar(bytesAt(p, n), "root", tokenizer);
  if (r.grammar === null) return r.error;
  matcher = new GrammarMatcher(r.grammar!);
  return matcher!.error;
}

/** Allowed tokens by the trie; -1 when llama.cpp's one-by-one walk disagrees on any token. */
export function allowedChecked(): i32 {
  const n = matcher!.allowedTokens(vocab!, allowed);
  const m = matcher!.allowedTokensOneByOne(vocab!, allowedRef);
  if (n != m) return -1;
  for (let i = 0; i < allowed.length; i++) if (allowed[i] != allowedRef[i]) return -1;
  // the single-token check (the sampler's first question) agrees too, on a spread of tokens
  for (let i = 0; i < allowed.length; i += 97) if ((allowed[i] != 0) != matcher!.allows(vocab!, i)) return -1;
  return n;
}

/** Whether token t may come next (allows), and the work that took (StackWork.spent, in
 *  stacks): the work, negated and less one when t may not come. */
export function checkWork(t: i32): f64 {
  const w0 = matcher!.workSpent;
  const fits = matcher!.allows(vocab!, t);
  const w = <f64>(matcher!.workSpent - w0);
  return fits ? w : -w - 1;
}

/** Allowed tokens by llama.cpp's token-by-token walk alone (the path after a token that ended
 *  inside a character). */
export function allowedOneByOne(): i32 { return matcher!.allowedTokensOneByOne(vocab!, allowedRef); }

/** The k-th allowed token of the last allowedChecked(). */
export function allowedAt(k: i32): i32 {
  for (let i = 0; i < allowed.length; i++) if (allowed[i] && k-- == 0) return i;
  return -1;
}

/** Takes token t with its text, as generation does. */
export function acceptId(t: i32): bool {
  const v = vocab!;
  return matcher!.acceptToken(t, v.piecePtr(t), v.pieceLen(t), v.isEog(t));
}
export function isEog(t: i32): bool { return vocab!.isEog(t); }

/** allowedTokens by the trie, then one by one, n times each: the nanoseconds of each, for benchmarks. */
export function timeAllowed(n: i32): string {
  const t0 = time_ns();
  for (let i = 0; i < n; i++) matcher!.allowedTokens(vocab!, allowed);
  const t1 = time_ns();
  for (let i = 0; i < n; i++) matcher!.allowedTokensOneByOne(vocab!, allowedRef);
  const t2 = time_ns();
  return (t1 - t0).toString() + " " + (t2 - t1).toString();
}

// ---- JSON schemas: converted as llama.cpp converts them, then matched ----
import { jsonSchemaToGrammarUtf8 } from "../../llm/grammar/json_schema";

/** Builds a matcher for the grammar llama.cpp's converter makes of the schema [p, p+n): "" or the error. */
export function buildSchema(p: usize, n: i32): string {
  matcher = null;
  const s = jsonSchemaToGrammarUtf8(p, <usize>n);
  if (s.error.length != 0) return s.error;
  const r = parseGrammar(s.grammarBytes, "root", null);
  if (r.grammar === null) return r.error;
  matcher = new GrammarMatcher(r.grammar!);
  return "";
}
