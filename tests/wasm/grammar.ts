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
  return "";
}

/** Takes a token (id, text [p, p+n)); false when no stack survives. */
export function acceptToken(id: i32, p: usize, n: i32): bool { return matcher!.acceptToken(id, p, n, false); }
export function canEnd(): bool { return matcher!.canEnd; }
