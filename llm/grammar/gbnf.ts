// GBNF, llama.cpp's grammar format, parsed into rules of elements as llama.cpp's parser
// builds them: the same rule ids, the same rules synthesized for groups and repetitions, so
// the matcher (grammar/matcher.ts) walks the same pushdown stacks and accepts the same text.
//
//   root   ::= answer "."            # a rule: a name, ::=, alternatives separated by |
//   answer ::= "yes" | "no" | [0-9]+ # literals, character classes, * + ? {m} {m,} {m,n}
//   any    ::= ( . | <[2]> )*        # groups, any character, a token by id (<[id]>, !<[id]>)
//
// A rule is a list of elements ending in END, its alternatives separated by ALT. Errors are
// values, never traps: the first one found, with its line and column.

import { Tokenizer } from "../tokenizer/tokenizer";
import { HashIndex } from "./hash_index";

// element types (llama.cpp's llama_gretype, same numbers)
export const G_END: u32 = 0;            // end of a rule
export const G_ALT: u32 = 1;            // start of another alternative
export const G_RULE_REF: u32 = 2;       // a reference to rule `value`
export const G_CHAR: u32 = 3;           // a code point, or the first of a class [..]
export const G_CHAR_NOT: u32 = 4;       // the first of a negated class [^..]
export const G_CHAR_RNG_UPPER: u32 = 5; // makes the previous char a range, up to `value`
export const G_CHAR_ALT: u32 = 6;       // one more char (or range start) of the same class
export const G_CHAR_ANY: u32 = 7;       // . (any code point)
export const G_TOKEN: u32 = 8;          // the token with id `value`
export const G_TOKEN_NOT: u32 = 9;      // any token but `value`

/** llama.cpp refuses repetitions that would synthesize this many rules or more. */
const MAX_REPETITIONS: u64 = 2000;
/** Repetitions that would expand the grammar past this many elements are refused. A rule's
 *  elements are about as many as its text has symbols, except where a repetition copies its
 *  item: x{m,n} holds n copies of x, and each postfix operator of a chain, x+++..., copies all
 *  that came before it (llama.cpp's expansion): a 4 KB grammar could make 8 million. */
const MAX_EXPANDED_ELEMENTS: i32 = 1 << 17;
/** Groups nested deeper than this are refused (the parser recurses once per level). */
const MAX_NESTING: i32 = 256;
/** Rules referenced leftmost in a chain longer than this are refused (the check recurses). */
const MAX_RULE_CHAIN: i32 = 1000;

// @ts-ignore: decorator
@inline export function elemOf(type: u32, value: u32): u64 { return (<u64>type << 32) | <u64>value; }

/** A parsed grammar: rule r's elements are type/value[start[r] .. start[r+1]). */
export class Grammar {
  start: Int32Array = new Int32Array(1);
  type: Uint8Array = new Uint8Array(0);
  value: Uint32Array = new Uint32Array(0);
  /** Rule names by id: the written ones, and synthesized ones as "name_ID". */
  names: string[] = [];
  root: i32 = 0;
  /** Per position: for the first element of a character class, the first position of a class
   *  with the same elements (the matcher's walk treats copies as one: x+++ copies x per
   *  operator); any other position maps to itself. */
  sameClass: Int32Array = new Int32Array(0);
  @inline get ruleCount(): i32 { return this.names.length; }
}

/** Grammar.sameClass for g's elements. */
function sameClasses(g: Grammar): Int32Array {
  const n = g.type.length;
  const same = new Int32Array(n);
  const index = new HashIndex();
  for (let pos = 0; pos < n; pos++) {
    same[pos] = pos;
    const t = <u32>g.type[pos];
    if (t != G_CHAR && t != G_CHAR_NOT && t != G_CHAR_ANY) continue;
    let end = pos + 1;
    while (end < n && (<u32>g.type[end] == G_CHAR_RNG_UPPER || <u32>g.type[end] == G_CHAR_ALT)) end++;
    let h: u32 = 2166136261;
    for (let i = pos; i < end; i++) h = ((h ^ <u32>g.type[i]) * 16777619 ^ g.value[i]) * 16777619;
    for (let slot = index.first(h); slot >= 0; slot = index.next(h, slot)) {
      const other = index.item(slot);
      let equal = true;
      for (let i = 0; i < end - pos && equal; i++) {
        equal = other + i < n && g.type[other + i] == g.type[pos + i] && g.value[other + i] == g.value[pos + i];
      }
      // the other class must end where this one does
      if (equal && other + end - pos < n) {
        const u = <u32>g.type[other + end - pos];
        equal = u != G_CHAR_RNG_UPPER && u != G_CHAR_ALT;
      }
      if (equal) { same[pos] = other; break; }
    }
    if (same[pos] == pos) index.add(h, pos);
  }
  return same;
}

// parseGrammar's outcome (a code to decide on; the message is for people)
export const GRAMMAR_OK: i32 = 0;
export const GRAMMAR_INVALID: i32 = 1;     // not a grammar llama.cpp would take
export const GRAMMAR_NEEDS_VOCAB: i32 = 2; // a token written by name (<text>), and no vocabulary given

export class GrammarResult {
  grammar: Grammar | null = null;
  code: i32 = GRAMMAR_OK;
  /** "" or why the text is not a grammar llama.cpp would take: "line L, column C: ..." */
  error: string = "";
}

/**
 * Parses GBNF text (UTF-8). rootName names the start rule ("root"); tokenizer (or null) turns
 * `<name>` token references into ids as llama.cpp does.
 */
export function parseGrammar(text: Uint8Array, rootName: string, tokenizer: Tokenizer | null): GrammarResult {
  const p = new Parser(text, tokenizer);
  const res = new GrammarResult();
  p.parse();
  if (p.error.length == 0) p.check(rootName);
  if (p.error.length != 0) { res.error = p.error; res.code = p.needsVocab ? GRAMMAR_NEEDS_VOCAB : GRAMMAR_INVALID; return res; }
  res.grammar = p.build(rootName);
  return res;
}

/** The symbol table and rules as llama.cpp's parser leaves them (for llama.cpp's parser tests). */
export class ParsedRules {
  names: string[] = [];
  rules: Array<u64[]> = [];
  error: string = "";
}

export function parseRules(text: Uint8Array): ParsedRules {
  const p = new Parser(text, null);
  p.parse();
  const r = new ParsedRules();
  r.error = p.error;
  r.names = p.names;
  r.rules = p.rules;
  return r;
}

class Parser {
  private src: Uint8Array;   // the text and 8 zero bytes: reads past the end see C's NUL
  private textLen: i32;
  private tokenizer: Tokenizer | null;
  error: string = "";
  ids: Map<string, i32> = new Map();
  names: string[] = [];
  rules: Array<u64[]> = [];  // by id; empty until defined
  private depth: i32 = 0;
  private copied: i32 = 0;   // elements the repetitions added (MAX_EXPANDED_ELEMENTS)
  needsVocab: bool = false;
  // parseChar's and parseToken's second result
  private charValue: u32 = 0;

  constructor(text: Uint8Array, tokenizer: Tokenizer | null) {
    this.textLen = text.length;
    this.src = new Uint8Array(text.length + 8);
    memory.copy(this.src.dataStart, text.dataStart, <usize>text.length);
    this.tokenizer = tokenizer;
  }

  @inline private at(pos: i32): u32 { return <u32>unchecked(this.src[pos]); }
  private get failed(): bool { return this.error.length != 0; }

  /** Records the first error, at byte pos; returns the end of the text so loops stop. */
  private fail(msg: string, pos: i32): i32 {
    if (this.error.length == 0) this.error = where(this.src, this.textLen, pos) + msg;
    return this.textLen;
  }

  symbolId(name: string): i32 {
    if (this.ids.has(name)) return this.ids.get(name);
    const id = this.names.length;
    this.ids.set(name, id);
    this.names.push(name);
    return id;
  }

  private generateId(base: string): i32 {
    const id = this.names.length;
    const name = base + "_" + id.toString();
    this.ids.set(name, id); // llama.cpp assigns, so a written rule of that name is taken over
    this.names.push(name);
    return id;
  }

  private addRule(id: i32, rule: u64[]): void {
    while (this.rules.length <= id) this.rules.push([]);
    this.rules[id] = rule;
  }

  private space(pos: i32, newlineOk: bool): i32 {
    while (true) {
      const c = this.at(pos);
      if (c == 0x23) { // '#': a comment to the end of the line
        while (this.at(pos) != 0 && this.at(pos) != 0x0d && this.at(pos) != 0x0a) pos++;
      } else if (c == 0x20 || c == 0x09 || (newlineOk && (c == 0x0d || c == 0x0a))) {
        pos++;
      } else {
        return pos;
      }
    }
  }

  private nameEnd(pos: i32): i32 {
    let e = pos;
    while (isWordChar(this.at(e))) e++;
    if (e == pos) return this.fail("expecting a name", pos);
    return e;
  }

  private intEnd(pos: i32): i32 {
    let e = pos;
    while (isDigit(this.at(e))) e++;
    if (e == pos) return this.fail("expecting an integer", pos);
    return e;
  }

  /** The decimal number [pos, end) (-1 when it does not fit in 63 bits). */
  private number(pos: i32, end: i32): i64 {
    let v: i64 = 0;
    for (let i = pos; i < end; i++) {
      if (v > (i64.MAX_VALUE - 9) / 10) return -1;
      v = v * 10 + <i64>(this.at(i) - 0x30);
    }
    return v;
  }

  private hex(pos: i32, size: i32): i32 {
    let v: u32 = 0, i = pos;
    const end = pos + size;
    for (; i < end && this.at(i) != 0; i++) {
      const c = this.at(i);
      v <<= 4;
      if (c >= 0x61 && c <= 0x66) v += c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) v += c - 0x41 + 10;
      else if (c >= 0x30 && c <= 0x39) v += c - 0x30;
      else break;
    }
    if (i != end) return this.fail("expecting " + size.toString() + " hex digits", pos);
    this.charValue = v;
    return i;
  }

  /** One character of a literal or class (escapes included): its code point in charValue. */
  private char(pos: i32): i32 {
    const c = this.at(pos);
    if (c == 0x5c) { // backslash
      const e = this.at(pos + 1);
      if (e == 0x78) return this.hex(pos + 2, 2);      // \xHH
      if (e == 0x75) return this.hex(pos + 2, 4);      // \uHHHH
      if (e == 0x55) return this.hex(pos + 2, 8);      // \UHHHHHHHH
      if (e == 0x74) { this.charValue = 9; return pos + 2; }
      if (e == 0x72) { this.charValue = 13; return pos + 2; }
      if (e == 0x6e) { this.charValue = 10; return pos + 2; }
      if (e == 0x5c || e == 0x22 || e == 0x5b || e == 0x5d || e == 0x2d) { this.charValue = e; return pos + 2; }
      return this.fail("unknown escape '\\" + String.fromCharCode(<i32>e) + "'", pos);
    }
    if (c == 0) return this.fail("unexpected end of input", pos);
    // UTF-8 as llama.cpp decodes grammar text: the lead byte says the length, and the bytes
    // that follow are taken as continuations without checking them (a NUL ends it early)
    const len = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    let v = c & ((1 << (8 - len)) - 1);
    let i = pos + 1;
    for (; i < pos + len && this.at(i) != 0; i++) v = (v << 6) + (this.at(i) & 0x3f);
    this.charValue = v;
    return i;
  }

  /** `<[id]>` or `<text>` (one token of the vocabulary): its id in charValue. */
  private token(pos: i32): i32 {
    const start = pos;
    if (this.at(pos) != 0x3c) return this.fail("expecting '<'", pos);
    pos++;
    if (this.at(pos) == 0x5b) {
      pos++;
      const e = this.intEnd(pos);
      if (this.failed) return e;
      const v = this.number(pos, e);
      if (v < 0 || v > <i64>u32.MAX_VALUE) return this.fail("token id too large", pos);
      pos = e;
      if (this.at(pos) != 0x5d) return this.fail("expecting ']'", pos);
      pos++;
      if (this.at(pos) != 0x3e) return this.fail("expecting '>'", pos);
      this.charValue = <u32>v;
      return pos + 1;
    }
    if (this.tokenizer === null) {
      if (this.error.length == 0) this.needsVocab = true;
      return this.fail("a token by name needs a model's vocabulary (write <[id]>)", start);
    }
    while (this.at(pos) != 0 && this.at(pos) != 0x3e) pos++;
    if (this.at(pos) != 0x3e) return this.fail("expecting '>'", pos);
    pos++;
    const ids = this.tokenizer!.encodeBytes(this.src.dataStart + <usize>start, pos - start, false, true);
    if (ids.length != 1) {
      return this.fail("'" + String.UTF8.decodeUnsafe(this.src.dataStart + <usize>start, <usize>(pos - start)) +
        "' is not one token of this model's vocabulary", start);
    }
    this.charValue = <u32>ids[0];
    return pos;
  }

  private alternates(pos: i32, ruleName: string, ruleId: i32, nested: bool): i32 {
    const rule: u64[] = [];
    pos = this.sequence(pos, ruleName, rule, nested);
    while (!this.failed && this.at(pos) == 0x7c) { // '|'
      rule.push(elemOf(G_ALT, 0));
      pos = this.space(pos + 1, true);
      pos = this.sequence(pos, ruleName, rule, nested);
    }
    rule.push(elemOf(G_END, 0));
    this.addRule(ruleId, rule);
    return pos;
  }

  private sequence(pos: i32, ruleName: string, rule: u64[], nested: bool): i32 {
    let lastSymStart = rule.length;
    let nPrevRules: u64 = 1;
    while (!this.failed && this.at(pos) != 0) {
      const c = this.at(pos);
      if (c == 0x22) { // "literal"
        pos++;
        lastSymStart = rule.length;
        nPrevRules = 1;
        while (this.at(pos) != 0x22) {
          if (this.at(pos) == 0) return this.fail("unexpected end of input in a literal", pos);
          pos = this.char(pos);
          if (this.failed) return pos;
          rule.push(elemOf(G_CHAR, this.charValue));
        }
        pos = this.space(pos + 1, nested);
      } else if (c == 0x5b) { // [class]
        pos++;
        let startType = G_CHAR;
        if (this.at(pos) == 0x5e) { pos++; startType = G_CHAR_NOT; }
        lastSymStart = rule.length;
        nPrevRules = 1;
        while (this.at(pos) != 0x5d) {
          if (this.at(pos) == 0) return this.fail("unexpected end of input in a character class", pos);
          pos = this.char(pos);
          if (this.failed) return pos;
          rule.push(elemOf(lastSymStart < rule.length ? G_CHAR_ALT : startType, this.charValue));
          if (this.at(pos) == 0x2d && this.at(pos + 1) != 0x5d) { // a range a-z
            if (this.at(pos + 1) == 0) return this.fail("unexpected end of input in a character class", pos + 1);
            pos = this.char(pos + 1);
            if (this.failed) return pos;
            rule.push(elemOf(G_CHAR_RNG_UPPER, this.charValue));
          }
        }
        pos = this.space(pos + 1, nested);
      } else if (c == 0x3c || c == 0x21) { // <token> or !<token>
        let type = G_TOKEN;
        if (c == 0x21) { type = G_TOKEN_NOT; pos++; }
        pos = this.token(pos);
        if (this.failed) return pos;
        lastSymStart = rule.length;
        nPrevRules = 1;
        rule.push(elemOf(type, this.charValue));
        pos = this.space(pos, nested);
      } else if (isWordChar(c)) { // a rule reference
        const e = this.nameEnd(pos);
        const id = this.symbolId(String.UTF8.decodeUnsafe(this.src.dataStart + <usize>pos, <usize>(e - pos)));
        pos = this.space(e, nested);
        lastSymStart = rule.length;
        nPrevRules = 1;
        rule.push(elemOf(G_RULE_REF, <u32>id));
      } else if (c == 0x28) { // ( group )
        if (++this.depth > MAX_NESTING) return this.fail("groups nested more than " + MAX_NESTING.toString() + " deep", pos);
        pos = this.space(pos + 1, true);
        const before = this.names.length;
        const sub = this.generateId(ruleName);
        pos = this.alternates(pos, ruleName, sub, true);
        this.depth--;
        if (this.failed) return pos;
        nPrevRules = max<u64>(1, <u64>(this.names.length - before));
        lastSymStart = rule.length;
        rule.push(elemOf(G_RULE_REF, <u32>sub));
        if (this.at(pos) != 0x29) return this.fail("expecting ')'", pos);
        pos = this.space(pos + 1, nested);
      } else if (c == 0x2e) { // . any character
        lastSymStart = rule.length;
        nPrevRules = 1;
        rule.push(elemOf(G_CHAR_ANY, 0));
        pos = this.space(pos + 1, nested);
      } else if (c == 0x2a || c == 0x2b || c == 0x3f) { // * + ?
        const at = pos;
        pos = this.space(pos + 1, nested);
        nPrevRules = this.repeat(rule, lastSymStart, ruleName, nPrevRules, c == 0x2b ? 1 : 0, c == 0x3f ? 1 : u64.MAX_VALUE, at);
      } else if (c == 0x7b) { // {m} {m,} {m,n}
        const at = pos;
        pos = this.space(pos + 1, nested);
        if (!isDigit(this.at(pos))) return this.fail("expecting an integer", pos);
        let e = this.intEnd(pos);
        const mn = this.number(pos, e);
        if (mn < 0) return this.fail("number too large", pos);
        pos = this.space(e, nested);
        let mx: u64 = u64.MAX_VALUE; // no maximum
        if (this.at(pos) == 0x7d) {
          mx = <u64>mn;
          pos = this.space(pos + 1, nested);
        } else if (this.at(pos) == 0x2c) {
          pos = this.space(pos + 1, nested);
          if (isDigit(this.at(pos))) {
            e = this.intEnd(pos);
            const v = this.number(pos, e);
            if (v < 0) return this.fail("number too large", pos);
            mx = <u64>v;
            pos = this.space(e, nested);
          }
          if (this.at(pos) != 0x7d) return this.fail("expecting '}'", pos);
          pos = this.space(pos + 1, nested);
        } else {
          return this.fail("expecting ','", pos);
        }
        if (<u64>mn > MAX_REPETITIONS) return this.fail("more than " + MAX_REPETITIONS.toString() + " repetitions", at);
        if (mx != u64.MAX_VALUE && mx > MAX_REPETITIONS) mx = u64.MAX_VALUE; // llama.cpp: unbounded then
        // (llama.cpp would loop without end here; a maximum below the minimum is refused)
        if (mx < <u64>mn) return this.fail("the maximum repetition count is below the minimum", at);
        nPrevRules = this.repeat(rule, lastSymStart, ruleName, nPrevRules, <u64>mn, mx, at);
      } else {
        break;
      }
    }
    return pos;
  }

  /**
   * Rewrites the last symbol (rule[lastSymStart..]) repeated min..max times (max u64.MAX:
   * no maximum), as llama.cpp does:
   *   S{m,n} -> S (m times) S'(n-m), S'(x) ::= S S'(x-1) | ; S'(1) ::= S |
   *   S{m,}  -> S (m times) S', S' ::= S S' |
   * Returns the new count of rules the symbol stands for (0 after an error).
   */
  private repeat(rule: u64[], lastSymStart: i32, ruleName: string, nPrevRules: u64, mn: u64, mx: u64, at: i32): u64 {
    const noMax = mx == u64.MAX_VALUE;
    if (lastSymStart == rule.length) { this.fail("expecting an item before */+/?/{", at); return 0; }
    const prev = rule.slice(lastSymStart);
    let total: u64 = 1;
    if (!noMax && mx > 0) total = mx;
    else if (mn > 0) total = mn;
    if (nPrevRules * total >= MAX_REPETITIONS) {
      this.fail("the repetition would make " + MAX_REPETITIONS.toString() + " rules or more: repeat fewer times or a simpler item", at);
      return 0;
    }
    // the copies of the item this adds: mn - 1 in the rule, one in each of the nOpt new rules
    const copies = (mn > 0 ? mn - 1 : 0) + (noMax ? 1 : mx - mn);
    if (<u64>this.copied + copies * <u64>(prev.length + 3) > <u64>MAX_EXPANDED_ELEMENTS) {
      this.fail("the repetitions would expand the grammar past " + MAX_EXPANDED_ELEMENTS.toString() +
        " elements: repeat fewer times, or a smaller item", at);
      return 0;
    }
    this.copied += <i32>(copies * <u64>(prev.length + 3));
    if (mn == 0) rule.length = lastSymStart;
    else for (let i: u64 = 1; i < mn; i++) for (let j = 0; j < prev.length; j++) rule.push(prev[j]);
    let lastRec: u32 = 0;
    const nOpt = noMax ? 1 : mx - mn;
    for (let i: u64 = 0; i < nOpt; i++) {
      const rec = prev.slice(0);
      const id = <u32>this.generateId(ruleName);
      if (i > 0 || noMax) rec.push(elemOf(G_RULE_REF, noMax ? id : lastRec));
      rec.push(elemOf(G_ALT, 0));
      rec.push(elemOf(G_END, 0));
      this.addRule(<i32>id, rec);
      lastRec = id;
    }
    if (nOpt > 0) rule.push(elemOf(G_RULE_REF, lastRec));
    return nPrevRules * total;
  }

  private rule(pos: i32): i32 {
    const e = this.nameEnd(pos);
    if (this.failed) return e;
    const name = String.UTF8.decodeUnsafe(this.src.dataStart + <usize>pos, <usize>(e - pos));
    pos = this.space(e, false);
    const id = this.symbolId(name);
    if (!(this.at(pos) == 0x3a && this.at(pos + 1) == 0x3a && this.at(pos + 2) == 0x3d)) return this.fail("expecting ::=", pos);
    pos = this.space(pos + 3, true);
    pos = this.alternates(pos, name, id, false);
    if (this.failed) return pos;
    if (this.at(pos) == 0x0d) pos += this.at(pos + 1) == 0x0a ? 2 : 1;
    else if (this.at(pos) == 0x0a) pos++;
    else if (this.at(pos) != 0) return this.fail("expecting a newline or the end", pos);
    return this.space(pos, true);
  }

  parse(): void {
    let pos = this.space(0, true);
    while (!this.failed && this.at(pos) != 0) pos = this.rule(pos);
    if (this.failed) return;
    // every rule referenced is defined
    for (let r = 0; r < this.rules.length; r++) {
      const rule = this.rules[r];
      if (rule.length == 0) { this.fail("rule '" + this.names[r] + "' is used but not defined", this.textLen); return; }
      for (let i = 0; i < rule.length; i++) {
        if (<u32>(rule[i] >> 32) != G_RULE_REF) continue;
        const ref = <i32>(<u32>rule[i]);
        if (ref >= this.rules.length || this.rules[ref].length == 0) {
          this.fail("rule '" + this.names[ref] + "' is used but not defined", this.textLen);
          return;
        }
      }
    }
  }

  /** What llama.cpp checks before it builds a grammar: a start rule, and no left recursion. */
  check(rootName: string): void {
    if (this.rules.length == 0) { this.error = "the grammar has no rules"; return; }
    if (!this.ids.has(rootName)) { this.error = "the grammar has no '" + rootName + "' rule"; return; }
    const n = this.rules.length;
    const visited = new Uint8Array(n), inProgress = new Uint8Array(n), mayBeEmpty = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (visited[i]) continue;
      const r = this.leftRecursive(i, visited, inProgress, mayBeEmpty, 0);
      if (r >= 0) {
        this.error = r == n ? "rules reference each other leftmost more than " + MAX_RULE_CHAIN.toString() + " deep"
          : "left recursion: rule '" + this.names[r] + "' can start with itself (llama.cpp's grammars cannot)";
        return;
      }
    }
  }

  /** A rule found left-recursive from rule r (n: too deep), or -1. As llama.cpp's detection,
   *  except that a rule already searched is not searched again (nothing it reaches can be in
   *  progress): llama.cpp's search goes down a chain of nested rules again from each of its
   *  links, quadratic in the chain (`(){0,959}` nests 959 rules). */
  private leftRecursive(r: i32, visited: Uint8Array, inProgress: Uint8Array, mayBeEmpty: Uint8Array, depth: i32): i32 {
    if (inProgress[r]) return r;
    if (visited[r]) return -1;
    if (depth > MAX_RULE_CHAIN) return this.rules.length;
    inProgress[r] = 1;
    const rule = this.rules[r];
    // may the rule produce the empty string (an alternative with no element)?
    let atStart = true;
    for (let i = 0; i < rule.length; i++) {
      const t = <u32>(rule[i] >> 32);
      if (t == G_END || t == G_ALT) {
        if (atStart) { mayBeEmpty[r] = 1; break; }
        atStart = true;
      } else {
        atStart = false;
      }
    }
    // recurse into the leftmost references (and the next ones while those may be empty)
    let leftmost = true;
    for (let i = 0; i < rule.length; i++) {
      const t = <u32>(rule[i] >> 32);
      if (t == G_RULE_REF && leftmost) {
        const ref = <i32>(<u32>rule[i]);
        const found = this.leftRecursive(ref, visited, inProgress, mayBeEmpty, depth + 1);
        if (found >= 0) return found;
        if (!mayBeEmpty[ref]) leftmost = false;
      } else if (t == G_END || t == G_ALT) {
        leftmost = true;
      } else {
        leftmost = false;
      }
    }
    inProgress[r] = 0;
    visited[r] = 1;
    return -1;
  }

  build(rootName: string): Grammar {
    const g = new Grammar();
    const n = this.rules.length;
    let total = 0;
    for (let r = 0; r < n; r++) total += this.rules[r].length;
    g.start = new Int32Array(n + 1);
    g.type = new Uint8Array(total);
    g.value = new Uint32Array(total);
    let k = 0;
    for (let r = 0; r < n; r++) {
      g.start[r] = k;
      const rule = this.rules[r];
      for (let i = 0; i < rule.length; i++, k++) {
        g.type[k] = <u8>(rule[i] >> 32);
        g.value[k] = <u32>rule[i];
      }
    }
    g.start[n] = k;
    g.names = this.names.slice(0, n);
    g.root = this.ids.get(rootName);
    g.sameClass = sameClasses(g);
    return g;
  }
}

function isDigit(c: u32): bool { return c >= 0x30 && c <= 0x39; }
function isWordChar(c: u32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c == 0x2d || isDigit(c);
}

/** "line L, column C: " for byte pos of the text (columns count characters), with what is there. */
function where(src: Uint8Array, len: i32, pos: i32): string {
  if (pos > len) pos = len;
  let line = 1, col = 1;
  for (let i = 0; i < pos; i++) {
    const c = <u32>src[i];
    if (c == 0x0a) { line++; col = 1; }
    else if ((c & 0xc0) != 0x80) col++;
  }
  let e = pos;
  while (e < len && e - pos < 24 && src[e] != 0x0a && src[e] != 0x0d) e++;
  while (e < len && (src[e] & 0xc0) == 0x80) e++; // whole characters
  const near = pos >= len ? "at the end" : "at '" + String.UTF8.decodeUnsafe(src.dataStart + <usize>pos, <usize>(e - pos)) + "'";
  return "line " + line.toString() + ", column " + col.toString() + " (" + near + "): ";
}
