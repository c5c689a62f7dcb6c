// JSON Schema -> GBNF grammar, the conversion llama.cpp does (common/json-schema-to-grammar.cpp,
// json_schema_to_grammar): the same rules with the same names, in the same order, the same
// text. A model constrained by the grammar can only write JSON the schema accepts (as far as
// llama.cpp's converter understands schemas).
//
//   const r = jsonSchemaToGrammar(schemaText);   // r.error == "" when it converted
//   r.grammar                                     // "name ::= body" lines, sorted by name
//
// What is supported is what llama.cpp supports: types (one or several), const/enum,
// objects with properties/required/additionalProperties (optional properties in every
// order the converter allows), allOf (properties and enum intersections), anyOf/oneOf,
// arrays with items/prefixItems/minItems/maxItems, strings with minLength/maxLength, pattern
// (a regular expression translated to grammar rules; one the grammar cannot express
// degrades to any string, with a warning) and format (date, time, date-time, uuid),
// integers with minimum/maximum/exclusiveMinimum/exclusiveMaximum, local $ref ("#/...").
// A schema without a type or keyword is any JSON value; {} and {"type": "object"} are any
// object.
//
// Faithful to llama.cpp down to its byte-level string handling: the converter works on byte
// strings (llm/json/bytes.ts) so that a multi-byte character in a pattern or a property name
// is split exactly as std::string code splits it (such grammars are not valid UTF-8; llama.cpp
// writes them all the same, and so does grammarBytes). Where it differs:
//   - remote $refs ("https://...") are refused. llama.cpp's converter has no fetcher and
//     reads them as null: "any object" without a fragment, an error with one;
//   - what llama.cpp throws as a C++ exception (a keyword of the wrong type, e.g. a numeric
//     "format"; an allOf following a $ref cycle until the stack runs out) is an error here
//     like the ones it collects, naming the schema location;
//   - JSON nested deeper than JSON_MAX_DEPTH levels, or schemas nested (counting $ref hops)
//     deeper than MAX_VISIT_DEPTH, are refused where llama.cpp has no limit but its stack.
// Every error message starts with the JSON pointer of the schema it is about ("#" is the
// root, "#/properties/a" one of its properties, a $ref's target is named by the $ref).

import { JsonValue } from "../json/value";
import { parseJsonBytes, JSON_MAX_DEPTH } from "../json/parse";
import { dumpJson, dumpString } from "../json/dump";
import { encodeUtf8, textOfBytes, bytesOf } from "../json/bytes";

export const MAX_VISIT_DEPTH: i32 = 256;

export class JsonSchemaResult {
  /** The grammar as text ("" on error); a byte that is not UTF-8 is U+FFFD here (see grammarBytes). */
  grammar: string = "";
  /** The grammar's exact bytes (UTF-8 unless a pattern or an excluded property name had a multi-byte character split, as llama.cpp does). */
  grammarBytes: Uint8Array = new Uint8Array(0);
  /** "" when the schema converted; otherwise what failed, with the schema location. */
  error: string = "";
  /** Parts of the schema the grammar does not enforce (llama.cpp prints these as a warning), "; "-separated. */
  warnings: string = "";
  get ok(): bool { return this.error.length == 0; }
}

/** Converts a JSON schema (text) to a GBNF grammar. dotall: '.' in patterns matches newlines too. */
export function jsonSchemaToGrammar(schemaText: string, dotall: bool = false): JsonSchemaResult {
  const b = encodeUtf8(schemaText);
  return jsonSchemaToGrammarUtf8(changetype<usize>(b.buffer), <usize>b.length, dotall);
}

/** Converts the JSON schema whose UTF-8 text is at [p, p+n). */
export function jsonSchemaToGrammarUtf8(p: usize, n: usize, dotall: bool = false): JsonSchemaResult {
  const r = new JsonSchemaResult();
  const parsed = parseJsonBytes(p, n, true, JSON_MAX_DEPTH);
  if (!parsed.ok) {
    r.error = "invalid JSON schema: " + textOfBytes(parsed.error);
    return r;
  }
  const conv = new Converter(dotall);
  const schema = parsed.value!;
  conv.resolveRefs(schema);
  if (conv.fatal.length == 0) conv.visit(schema, "", "#");
  if (conv.warnings.length > 0) r.warnings = textOfBytes(conv.warnings.join("; "));
  if (conv.fatal.length > 0) {
    r.error = "JSON schema conversion failed:\n" + textOfBytes(conv.fatal);
    return r;
  }
  if (conv.errors.length > 0) {
    r.error = "JSON schema conversion failed:\n" + textOfBytes(conv.errors.join("\n"));
    return r;
  }
  const g = conv.formatGrammar();
  r.grammarBytes = bytesOf(g);
  r.grammar = textOfBytes(g);
  return r;
}

export class JsonSchemaCheck {
  value: bool = false;
  /** "" when the schema could be read; otherwise why not (value is false then). */
  error: string = "";
}

/** Whether some branch of the schema allows a string (llama.cpp's common_schema_info::resolves_to_string,
 *  which chat tool-call parsing uses to accept a raw string argument): a string type, const or enum
 *  value, a string keyword (pattern, minLength, maxLength, a string format), through $ref, anyOf,
 *  oneOf, or allOf when every part allows one. */
export function jsonSchemaResolvesToString(schemaText: string): JsonSchemaCheck {
  const r = new JsonSchemaCheck();
  const b = encodeUtf8(schemaText);
  const parsed = parseJsonBytes(changetype<usize>(b.buffer), <usize>b.length, true, JSON_MAX_DEPTH);
  if (!parsed.ok) { r.error = "invalid JSON schema: " + textOfBytes(parsed.error); return r; }
  const conv = new Converter(false);
  conv.resolveRefs(parsed.value!);
  const v = conv.fatal.length == 0 && conv.allowsString(parsed.value!, "#", new Set<string>(), 0);
  if (conv.fatal.length > 0) { r.error = textOfBytes(conv.fatal); return r; }
  r.value = v;
  return r;
}

/** The grammar of {"type": "object"}: any JSON object (what a bare JSON mode asks for). */
export function jsonObjectGrammar(): string {
  return jsonSchemaToGrammar("{\"type\": \"object\"}").grammar;
}

// ---- built-in rules ----

class BuiltinRule {
  constructor(public content: string, public deps: Array<string>) {}
}

const SPACE_RULE = "| \" \" | \"\\n\"{1,2} [ \\t]{0,20}";

const PRIMITIVE_RULES = new Map<string, BuiltinRule>();
const STRING_FORMAT_RULES = new Map<string, BuiltinRule>();

function deps(list: string): Array<string> { return list.length == 0 ? new Array<string>() : list.split(","); }

function initRules(): void {
  if (PRIMITIVE_RULES.size > 0) return;
  const p = PRIMITIVE_RULES;
  p.set("boolean", new BuiltinRule("(\"true\" | \"false\")", deps("")));
  p.set("decimal-part", new BuiltinRule("[0-9]{1,16}", deps("")));
  p.set("integral-part", new BuiltinRule("[0] | [1-9] [0-9]{0,15}", deps("")));
  p.set("number", new BuiltinRule("(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)?", deps("integral-part,decimal-part")));
  p.set("integer", new BuiltinRule("(\"-\"? integral-part)", deps("integral-part")));
  p.set("value", new BuiltinRule("object | array | string | number | boolean | null", deps("object,array,string,number,boolean,null")));
  p.set("object", new BuiltinRule("\"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? space \"}\"", deps("string,value")));
  p.set("array", new BuiltinRule("\"[\" space ( value (\",\" space value)* )? space \"]\"", deps("value")));
  p.set("uuid", new BuiltinRule("\"\\\"\" [0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{12} \"\\\"\"", deps("")));
  p.set("char", new BuiltinRule("[^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4})", deps("")));
  p.set("string", new BuiltinRule("\"\\\"\" char* \"\\\"\"", deps("char")));
  p.set("null", new BuiltinRule("\"null\"", deps("")));
  const s = STRING_FORMAT_RULES;
  s.set("date", new BuiltinRule("[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [1-2] [0-9] | \"3\" [0-1] )", deps("")));
  s.set("time", new BuiltinRule("([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] ( \".\" [0-9]{3} )? ( \"Z\" | ( \"+\" | \"-\" ) ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )", deps("")));
  s.set("date-time", new BuiltinRule("date \"T\" time", deps("date,time")));
  s.set("date-string", new BuiltinRule("\"\\\"\" date \"\\\"\"", deps("date")));
  s.set("time-string", new BuiltinRule("\"\\\"\" time \"\\\"\"", deps("time")));
  s.set("date-time-string", new BuiltinRule("\"\\\"\" date-time \"\\\"\"", deps("date-time")));
}

function isReservedName(name: string): bool {
  return name == "root" || PRIMITIVE_RULES.has(name) || STRING_FORMAT_RULES.has(name);
}

// ---- string helpers (byte strings) ----

function isNameChar(c: i32): bool {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2d;
}

/** Every run of characters other than [a-zA-Z0-9-] replaced by one '-' (rule names). */
function sanitizeName(name: string): string {
  let clean = true;
  for (let i = 0; i < name.length; i++) if (!isNameChar(name.charCodeAt(i))) { clean = false; break; }
  if (clean) return name;
  const parts = new Array<string>();
  let i = 0;
  while (i < name.length) {
    const start = i;
    while (i < name.length && isNameChar(name.charCodeAt(i))) i++;
    if (i > start) parts.push(name.substring(start, i));
    if (i < name.length) {
      parts.push("-");
      while (i < name.length && !isNameChar(name.charCodeAt(i))) i++;
    }
  }
  return parts.join("");
}

/** A grammar string literal: "..." with \r, \n, '"' and '\' escaped. */
function formatLiteral(s: string): string {
  const parts = new Array<string>();
  parts.push("\"");
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc = "";
    if (c == 0x0d) esc = "\\r";
    else if (c == 0x0a) esc = "\\n";
    else if (c == 0x22) esc = "\\\"";
    else if (c == 0x5c) esc = "\\\\";
    else continue;
    if (i > run) parts.push(s.substring(run, i));
    parts.push(esc);
    run = i + 1;
  }
  if (s.length > run) parts.push(s.substring(run));
  parts.push("\"");
  return parts.join("");
}

/** A JSON pointer token (~ and / escaped). */
function pointerToken(key: string): string {
  if (key.indexOf("~") < 0 && key.indexOf("/") < 0) return key;
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

const INT_MAX: i32 = i32.MAX_VALUE;

/** item repeated min..max times (max INT_MAX: unbounded), items separated by separator when given. */
function buildRepetition(item: string, minItems: i32, maxItems: i32, separator: string): string {
  const hasMax = maxItems != INT_MAX;
  if (maxItems == 0) return "";
  if (minItems == 0 && maxItems == 1) return item + "?";
  if (separator.length == 0) {
    if (minItems == 1 && !hasMax) return item + "+";
    if (minItems == 0 && !hasMax) return item + "*";
    return item + "{" + minItems.toString() + "," + (hasMax ? maxItems.toString() : "") + "}";
  }
  let result = item + " " + buildRepetition("(" + separator + " " + item + ")", minItems == 0 ? 0 : minItems - 1, hasMax ? maxItems - 1 : maxItems, "");
  if (minItems == 0) result = "(" + result + ")?";
  return result;
}

function isSpaceChar(c: i32): bool { return c == 0x20 || (c >= 0x09 && c <= 0x0d); }

/** std::stoi as the pattern translator uses it: leading whitespace, a sign, at least one digit,
 *  anything after them ignored; ok false where stoi throws (no digits, out of range). */
class IntParse { ok: bool = false; value: i64 = 0; }
function cIntParse(s: string, limitLow: i64, limitHigh: i64): IntParse {
  const r = new IntParse();
  let i = 0;
  while (i < s.length && isSpaceChar(s.charCodeAt(i))) i++;
  let neg = false;
  if (i < s.length && (s.charCodeAt(i) == 0x2b || s.charCodeAt(i) == 0x2d)) { neg = s.charCodeAt(i) == 0x2d; i++; }
  let digits = 0;
  let v: i64 = 0;
  let overflow = false;
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    if (v > 100000000000000000) overflow = true; else v = v * 10 + (c - 0x30);
    digits++;
    i++;
  }
  if (digits == 0 || overflow) return r;
  if (neg) v = -v;
  if (v < limitLow || v > limitHigh) return r;
  r.ok = true;
  r.value = v;
  return r;
}

// ---- integer ranges as digit rules ----

const I64_MIN: i64 = i64.MIN_VALUE;
const I64_MAX: i64 = i64.MAX_VALUE;

/** The digit-by-digit rule for integers in [min, max] (either bound may be absent: I64_MIN / I64_MAX). */
class IntRangeRule {
  out: Array<string> = new Array<string>();
  failed: bool = false;

  private ch(c: i32): string { return String.fromCharCode(c); }

  private digitRange(from: i32, to: i32): void {
    this.out.push("[");
    if (from == to) this.out.push(this.ch(from));
    else { this.out.push(this.ch(from)); this.out.push("-"); this.out.push(this.ch(to)); }
    this.out.push("]");
  }

  private moreDigits(minDigits: i32, maxDigits: i32): void {
    this.out.push("[0-9]");
    if (minDigits == maxDigits && minDigits == 1) return;
    this.out.push("{");
    this.out.push(minDigits.toString());
    if (maxDigits != minDigits) {
      this.out.push(",");
      if (maxDigits != INT_MAX) this.out.push(maxDigits.toString());
    }
    this.out.push("}");
  }

  private uniformRange(from: string, to: string): void {
    let i = 0;
    while (i < from.length && i < to.length && from.charCodeAt(i) == to.charCodeAt(i)) i++;
    if (i > 0) this.out.push("\"" + from.substring(0, i) + "\"");
    if (i < from.length && i < to.length) {
      if (i > 0) this.out.push(" ");
      const subLen = from.length - i - 1;
      const fi = from.charCodeAt(i), ti = to.charCodeAt(i);
      if (subLen > 0) {
        const fromSub = from.substring(i + 1);
        const toSub = to.substring(i + 1);
        const zeros = "0".repeat(subLen);
        const nines = "9".repeat(subLen);
        let toReached = false;
        this.out.push("(");
        if (fromSub == zeros) {
          this.digitRange(fi, ti - 1);
          this.out.push(" ");
          this.moreDigits(subLen, subLen);
        } else {
          this.out.push("[" + this.ch(fi) + "] ");
          this.out.push("(");
          this.uniformRange(fromSub, nines);
          this.out.push(")");
          if (fi < ti - 1) {
            this.out.push(" | ");
            if (toSub == nines) {
              this.digitRange(fi + 1, ti);
              toReached = true;
            } else {
              this.digitRange(fi + 1, ti - 1);
            }
            this.out.push(" ");
            this.moreDigits(subLen, subLen);
          }
        }
        if (!toReached) {
          this.out.push(" | ");
          this.digitRange(ti, ti);
          this.out.push(" ");
          this.uniformRange(zeros, toSub);
        }
        this.out.push(")");
      } else {
        this.out.push("[" + this.ch(fi) + "-" + this.ch(ti) + "]");
      }
    }
  }

  build(minValue: i64, maxValue: i64, decimalsLeft: i32, topLevel: bool): void {
    if (this.failed) return;
    const hasMin = minValue != I64_MIN;
    const hasMax = maxValue != I64_MAX;

    if (hasMin && hasMax) {
      if (minValue < 0 && maxValue < 0) {
        this.out.push("\"-\" (");
        this.build(-maxValue, -minValue, decimalsLeft, true);
        this.out.push(")");
        return;
      }
      if (minValue < 0) {
        this.out.push("\"-\" (");
        this.build(0, -minValue, decimalsLeft, true);
        this.out.push(") | ");
        minValue = 0;
      }
      let minS = minValue.toString();
      const maxS = maxValue.toString();
      const minDigits = minS.length, maxDigits = maxS.length;
      for (let digits = minDigits; digits < maxDigits; digits++) {
        this.uniformRange(minS, "9".repeat(digits));
        minS = "1" + "0".repeat(digits);
        this.out.push(" | ");
      }
      this.uniformRange(minS, maxS);
      return;
    }

    const lessDecimals = max(decimalsLeft - 1, 1);

    if (hasMin) {
      if (minValue < 0) {
        this.out.push("\"-\" (");
        this.build(I64_MIN, -minValue, decimalsLeft, false);
        this.out.push(") | [0] | [1-9] ");
        this.moreDigits(0, decimalsLeft - 1);
      } else if (minValue == 0) {
        if (topLevel) {
          this.out.push("[0] | [1-9] ");
          this.moreDigits(0, lessDecimals);
        } else {
          this.moreDigits(1, decimalsLeft);
        }
      } else if (minValue <= 9) {
        const c = 0x30 + <i32>minValue;
        const rangeStart = topLevel ? 0x31 : 0x30;
        if (c > rangeStart) {
          this.digitRange(rangeStart, c - 1);
          this.out.push(" ");
          this.moreDigits(1, lessDecimals);
          this.out.push(" | ");
        }
        this.digitRange(c, 0x39);
        this.out.push(" ");
        this.moreDigits(0, lessDecimals);
      } else {
        const minS = minValue.toString();
        const len = minS.length;
        const c = minS.charCodeAt(0);
        if (c > 0x31) {
          this.digitRange(topLevel ? 0x31 : 0x30, c - 1);
          this.out.push(" ");
          this.moreDigits(len, lessDecimals);
          this.out.push(" | ");
        }
        this.digitRange(c, c);
        this.out.push(" (");
        this.build(I64.parseInt(minS.substring(1)), I64_MAX, lessDecimals, false);
        this.out.push(")");
        if (c < 0x39) {
          this.out.push(" | ");
          this.digitRange(c + 1, 0x39);
          this.out.push(" ");
          this.moreDigits(len - 1, lessDecimals);
        }
      }
      return;
    }

    if (hasMax) {
      if (maxValue >= 0) {
        if (topLevel) {
          this.out.push("\"-\" [1-9] ");
          this.moreDigits(0, lessDecimals);
          this.out.push(" | ");
        }
        this.build(0, maxValue, decimalsLeft, true);
      } else {
        this.out.push("\"-\" (");
        this.build(-maxValue, I64_MAX, decimalsLeft, false);
        this.out.push(")");
      }
      return;
    }

    // neither bound (llama.cpp throws here)
    this.failed = true;
  }
}

// ---- regular expressions (pattern) ----

const MAX_PATTERN_DEPTH = 100;
const PATTERN_OK = 0;
const PATTERN_UNSUPPORTED = 1; // valid, but no grammar equivalent: the rule accepts any string
const PATTERN_INVALID = 2;     // not a regular expression: an error

function isNonLiteral(c: i32): bool {
  // | . ( ) [ ] { } * + ? ^ $
  return c == 0x7c || c == 0x2e || c == 0x28 || c == 0x29 || c == 0x5b || c == 0x5d || c == 0x7b || c == 0x7d ||
    c == 0x2a || c == 0x2b || c == 0x3f || c == 0x5e || c == 0x24;
}
// the same set: characters a regular expression escapes that a grammar literal writes as they are
function isEscapedInRegexpOnly(c: i32): bool { return isNonLiteral(c); }

function isHex(c: i32): bool { return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46); }

/** Length of the escape at pattern[pos] that a grammar understands as it is (\xHH \uHHHH \UHHHHHHHH \t \r \n \\ \" \[ \]), or 0. */
function gbnfEscapeLength(pattern: string, pos: i32): i32 {
  if (pos + 1 >= pattern.length || pattern.charCodeAt(pos) != 0x5c) return 0;
  let nHex = 0;
  const c = pattern.charCodeAt(pos + 1);
  if (c == 0x78) nHex = 2;
  else if (c == 0x75) nHex = 4;
  else if (c == 0x55) nHex = 8;
  else if (c == 0x74 || c == 0x72 || c == 0x6e || c == 0x5c || c == 0x22 || c == 0x5b || c == 0x5d) return 2;
  else return 0;
  if (pos + 2 + nHex > pattern.length) return 0;
  for (let i = pos + 2; i < pos + 2 + nHex; i++) if (!isHex(pattern.charCodeAt(i))) return 0;
  return 2 + nHex;
}

/** A piece of a translated pattern: a literal (still to be quoted) or a rule expression. */
class Piece {
  constructor(public s: string, public literal: bool) {}
}

function pieceRule(p: Piece): string { return p.literal ? "\"" + p.s + "\"" : p.s; }

// ---- the converter ----

let NULL_JSON: JsonValue = JsonValue.ofNull();

class Prop {
  constructor(public name: string, public schema: JsonValue, public path: string) {}
}

/** A trie of byte strings, for the rule matching any string but some (additionalProperties' keys). */
class TrieNode {
  children: Map<i32, TrieNode> = new Map<i32, TrieNode>();
  end: bool = false;
  /** Child bytes in std::map<char> order (char is signed on x86-64, llama.cpp's reference platform). */
  sortedKeys(): Array<i32> {
    const k = this.children.keys();
    k.sort((a: i32, b: i32): i32 => (<i32><i8>a) - (<i32><i8>b));
    return k;
  }
}

class TrieFrame {
  keys: Array<i32>;
  idx: i32 = 0;
  rejects: string = "";
  constructor(public node: TrieNode) { this.keys = node.sortedKeys(); }
}

class Converter {
  rules: Map<string, string> = new Map<string, string>();
  refs: Map<string, JsonValue> = new Map<string, JsonValue>();
  refsBeingResolved: Set<string> = new Set<string>();
  errors: Array<string> = new Array<string>();
  warnings: Array<string> = new Array<string>();
  /** An error llama.cpp throws (it stops the conversion); "" when none. */
  fatal: string = "";
  depth: i32 = 0;

  // the pattern being translated
  private pat: string = "";
  private patI: i32 = 0;
  private patDepth: i32 = 0;
  private patName: string = "";
  private patIds: Map<string, string> = new Map<string, string>();
  private patStatus: i32 = PATTERN_OK;
  private patWhy: string = "";

  constructor(private dotall: bool) {
    initRules();
    this.rules.set("space", SPACE_RULE);
  }

  private fail(msg: string): void { if (this.fatal.length == 0) this.fatal = msg; }

  private typeError(ptr: string, key: string, expected: string, v: JsonValue): string {
    this.fail(ptr + ": \"" + key + "\" must be " + expected + ", not " + (v.isNumber() ? "a number" : v.isArray() ? "an array" : v.isObject() ? "an object" : v.typeName()));
    return "";
  }

  /** get<int>() of schema[key] (a number or a boolean). */
  private intOf(schema: JsonValue, key: string, ptr: string): i32 {
    const v = schema.get(key)!;
    if (!v.isNumber() && !v.isBool()) { this.typeError(ptr, key, "a number", v); return 0; }
    return v.toI32();
  }
  /** get<int64_t>() of schema[key]. */
  private i64Of(schema: JsonValue, key: string, ptr: string): i64 {
    const v = schema.get(key)!;
    if (!v.isNumber() && !v.isBool()) { this.typeError(ptr, key, "a number", v); return 0; }
    return v.toI64();
  }

  addRule(name: string, rule: string): string {
    const esc = sanitizeName(name);
    if (!this.rules.has(esc) || this.rules.get(esc) == rule) {
      this.rules.set(esc, rule);
      return esc;
    }
    let i = 0;
    while (this.rules.has(esc + i.toString()) && this.rules.get(esc + i.toString()) != rule) i++;
    const key = esc + i.toString();
    this.rules.set(key, rule);
    return key;
  }

  private addPrimitive(name: string, rule: BuiltinRule): string {
    const n = this.addRule(name, rule.content);
    for (let i = 0; i < rule.deps.length; i++) {
      const dep = rule.deps[i];
      let depRule: BuiltinRule | null = null;
      if (PRIMITIVE_RULES.has(dep)) depRule = PRIMITIVE_RULES.get(dep);
      else if (STRING_FORMAT_RULES.has(dep)) depRule = STRING_FORMAT_RULES.get(dep);
      if (depRule === null) { this.errors.push("Rule " + dep + " not known"); continue; }
      if (!this.rules.has(dep)) this.addPrimitive(dep, depRule);
    }
    return n;
  }

  private primitive(name: string): string { return this.addPrimitive(name, PRIMITIVE_RULES.get(name)); }

  private refTarget(ref: string): JsonValue {
    if (!this.refs.has(ref)) this.refs.set(ref, NULL_JSON);
    return this.refs.get(ref);
  }

  // -- $ref resolution: every local $ref's target, looked up once before the conversion --

  resolveRefs(schema: JsonValue): void { this.visitRefs(schema, schema, "#", 0); }

  private visitRefs(root: JsonValue, n: JsonValue, ptr: string, depth: i32): void {
    if (this.fatal.length > 0) return;
    if (n.isArray()) {
      for (let i = 0; i < n.items.length; i++) this.visitRefs(root, n.items[i], ptr + "/" + i.toString(), depth + 1);
      return;
    }
    if (!n.isObject()) return;
    if (!n.has("$ref")) {
      for (let i = 0; i < n.keys.length; i++) this.visitRefs(root, n.items[i], ptr + "/" + pointerToken(n.keys[i]), depth + 1);
      return;
    }
    const rv = n.get("$ref")!;
    if (!rv.isString()) { this.typeError(ptr, "$ref", "a string", rv); return; }
    const ref = rv.str;
    if (this.refs.has(ref)) return;
    if (ref.startsWith("https://") || ref.startsWith("http://")) {
      this.errors.push(ptr + ": remote $ref " + ref + " is not supported (only local references \"#/...\"; remote schemas are not fetched)");
      return;
    }
    if (!ref.startsWith("#/")) {
      this.errors.push(ptr + ": unsupported $ref " + ref + " (only local references \"#/...\" are supported)");
      return;
    }
    let target = root;
    const tokens = ref.substring(1).split("/");
    for (let i = 1; i < tokens.length; i++) {
      const sel = tokens[i];
      if (target.isObject() && target.has(sel)) {
        target = target.get(sel)!;
      } else if (target.isArray()) {
        const idx = this.arrayIndex(sel, target.items.length, ptr, ref);
        if (this.fatal.length > 0) return;
        if (idx < 0) {
          this.errors.push(ptr + ": cannot resolve $ref " + ref + ": index " + sel + " not in " + shortDump(target));
          return;
        }
        target = target.items[idx];
      } else {
        this.errors.push(ptr + ": cannot resolve $ref " + ref + ": " + sel + " not in " + shortDump(target));
        return;
      }
    }
    this.refs.set(ref, target);
  }

  /** std::stoull(sel) as an index into an array of n elements (-1: not in it; invalid text is not in it). */
  private arrayIndex(sel: string, n: i32, ptr: string, ref: string): i32 {
    let i = 0;
    while (i < sel.length && isSpaceChar(sel.charCodeAt(i))) i++;
    let neg = false;
    if (i < sel.length && (sel.charCodeAt(i) == 0x2b || sel.charCodeAt(i) == 0x2d)) { neg = sel.charCodeAt(i) == 0x2d; i++; }
    let v: u64 = 0, digits = 0;
    while (i < sel.length) {
      const c = sel.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      const d = <u64>(c - 0x30);
      if (v > (u64.MAX_VALUE - d) / 10) { this.fail(ptr + ": cannot resolve $ref " + ref + ": index " + sel + " is out of range"); return -1; }
      v = v * 10 + d;
      digits++;
      i++;
    }
    if (digits == 0) return -1;
    if (neg) v = 0 - v;
    return v < <u64>n ? <i32>v : -1;
  }

  private resolveRef(ref: string): string {
    const hash = ref.indexOf("#");
    const fragment = hash >= 0 ? ref.substring(hash + 1) : ref;
    let refName = "ref" + sanitizeName(fragment);
    if (!this.rules.has(refName) && !this.refsBeingResolved.has(ref)) {
      this.refsBeingResolved.add(ref);
      const resolved = this.refTarget(ref);
      refName = this.visit(resolved, refName, ref);
      this.refsBeingResolved.delete(ref);
    }
    return refName;
  }

  // -- schemas --

  private constantRule(v: JsonValue): string { return formatLiteral(dumpJson(v)); }

  private unionRule(name: string, alts: Array<JsonValue>, paths: Array<string>): string {
    const rules = new Array<string>();
    for (let i = 0; i < alts.length; i++) {
      rules.push(this.visit(alts[i], name + (name.length == 0 ? "alternative-" : "-") + i.toString(), paths[i]));
    }
    return rules.join(" | ");
  }

  visit(schema: JsonValue, name: string, ptr: string): string {
    if (this.fatal.length > 0) return "";
    if (this.depth >= MAX_VISIT_DEPTH) {
      this.fail(ptr + ": schemas nested deeper than " + MAX_VISIT_DEPTH.toString() + " levels (counting $ref hops)");
      return "";
    }
    this.depth++;
    const r = this.visitSchema(schema, name, ptr);
    this.depth--;
    return r;
  }

  private visitSchema(schema: JsonValue, name: string, ptr: string): string {
    const st = schema.get("type");
    const schemaType = st === null ? NULL_JSON : st;
    let schemaFormat = "";
    if (schema.has("format")) {
      const f = schema.get("format")!;
      if (!f.isString()) return this.typeError(ptr, "format", "a string", f);
      schemaFormat = f.str;
    }
    const ruleName = isReservedName(name) ? name + "-" : name.length == 0 ? "root" : name;
    const typeNull = schemaType.isNull();

    if (schema.has("$ref")) {
      const r = schema.get("$ref")!;
      if (!r.isString()) return this.typeError(ptr, "$ref", "a string", r);
      return this.addRule(ruleName, this.resolveRef(r.str));
    }
    if (schema.has("oneOf") || schema.has("anyOf")) {
      const key = schema.has("oneOf") ? "oneOf" : "anyOf";
      const alts = schema.get(key)!;
      return this.addRule(ruleName, this.unionRule(name, alts.elements(), elementPaths(alts, ptr + "/" + key)));
    }
    if (schemaType.isArray()) {
      const copies = new Array<JsonValue>();
      const paths = new Array<string>();
      for (let i = 0; i < schemaType.items.length; i++) {
        const c = schema.shallowCopy();
        c.set("type", schemaType.items[i]);
        copies.push(c);
        paths.push(ptr);
      }
      return this.addRule(ruleName, this.unionRule(name, copies, paths));
    }
    if (schema.has("const")) {
      return this.addRule(ruleName, this.constantRule(schema.get("const")!));
    }
    if (schema.has("enum")) {
      const values = schema.get("enum")!.elements();
      const alts = new Array<string>();
      for (let i = 0; i < values.length; i++) alts.push(this.constantRule(values[i]));
      return this.addRule(ruleName, "(" + alts.join(" | ") + ")");
    }
    if ((typeNull || schemaType.equalsString("object")) &&
        (schema.has("properties") || (schema.has("additionalProperties") && !schema.get("additionalProperties")!.equalsBool(true)))) {
      const required = new Set<string>();
      const req = schema.get("required");
      if (req !== null && req.isArray()) {
        for (let i = 0; i < req.items.length; i++) if (req.items[i].isString()) required.add(req.items[i].str);
      }
      const props = new Array<Prop>();
      const pv = schema.get("properties");
      if (pv !== null) addProps(props, pv, ptr + "/properties");
      const ap = schema.get("additionalProperties");
      return this.addRule(ruleName, this.buildObjectRule(props, required, name, ap === null ? NULL_JSON : ap, ptr + "/additionalProperties"));
    }
    if ((typeNull || schemaType.equalsString("object") || schemaType.equalsString("string")) && schema.has("allOf")) {
      return this.visitAllOf(schema, name, ruleName, ptr);
    }
    if ((typeNull || schemaType.equalsString("array")) && (schema.has("items") || schema.has("prefixItems"))) {
      const key = schema.has("items") ? "items" : "prefixItems";
      const items = schema.get(key)!;
      const sep = name.length == 0 ? "" : "-";
      if (items.isArray()) {
        let rule = "\"[\" space ";
        for (let i = 0; i < items.items.length; i++) {
          if (i > 0) rule += " \",\" space ";
          rule += this.visit(items.items[i], name + sep + "tuple-" + i.toString(), ptr + "/" + key + "/" + i.toString());
        }
        rule += " space \"]\"";
        return this.addRule(ruleName, rule);
      }
      const itemRuleName = this.visit(items, name + sep + "item", ptr + "/" + key);
      const minItems = schema.has("minItems") ? this.intOf(schema, "minItems", ptr) : 0;
      const mi = schema.get("maxItems");
      const maxItems = mi !== null && mi.isInteger() ? mi.toI32() : INT_MAX;
      return this.addRule(ruleName, "\"[\" space " + buildRepetition(itemRuleName, minItems, maxItems, "\",\" space") + " space \"]\"");
    }
    if ((typeNull || schemaType.equalsString("string")) && schema.has("pattern")) {
      const pv = schema.get("pattern")!;
      if (!pv.isString()) return this.typeError(ptr, "pattern", "a string", pv);
      return this.visitPattern(pv.str, ruleName, ptr + "/pattern");
    }
    if ((typeNull || schemaType.equalsString("string")) && isUuidFormat(schemaFormat)) {
      return this.addPrimitive(ruleName == "root" ? "root" : schemaFormat, PRIMITIVE_RULES.get("uuid"));
    }
    if ((typeNull || schemaType.equalsString("string")) && STRING_FORMAT_RULES.has(schemaFormat + "-string")) {
      const primName = schemaFormat + "-string";
      return this.addRule(ruleName, this.addPrimitive(primName, STRING_FORMAT_RULES.get(primName)));
    }
    if (schemaType.equalsString("string") && (schema.has("minLength") || schema.has("maxLength"))) {
      const charRule = this.primitive("char");
      const minLen = schema.has("minLength") ? this.intOf(schema, "minLength", ptr) : 0;
      const maxLen = schema.has("maxLength") ? this.intOf(schema, "maxLength", ptr) : INT_MAX;
      return this.addRule(ruleName, "\"\\\"\" " + buildRepetition(charRule, minLen, maxLen, "") + " \"\\\"\"");
    }
    if (schemaType.equalsString("integer") &&
        (schema.has("minimum") || schema.has("exclusiveMinimum") || schema.has("maximum") || schema.has("exclusiveMaximum"))) {
      let minValue = I64_MIN, maxValue = I64_MAX;
      if (schema.has("minimum")) minValue = this.i64Of(schema, "minimum", ptr);
      else if (schema.has("exclusiveMinimum")) minValue = this.i64Of(schema, "exclusiveMinimum", ptr) + 1;
      if (schema.has("maximum")) maxValue = this.i64Of(schema, "maximum", ptr);
      else if (schema.has("exclusiveMaximum")) maxValue = this.i64Of(schema, "exclusiveMaximum", ptr) - 1;
      if (this.fatal.length > 0) return "";
      const b = new IntRangeRule();
      b.out.push("(");
      b.build(minValue, maxValue, 16, true);
      b.out.push(")");
      if (b.failed) {
        this.fail(ptr + ": integer bounds out of range (minimum " + minValue.toString() + ", maximum " + maxValue.toString() + ")");
        return "";
      }
      return this.addRule(ruleName, b.out.join(""));
    }
    if (schema.empty() || schemaType.equalsString("object")) {
      return this.addRule(ruleName, this.primitive("object"));
    }
    if (typeNull && schema.isObject()) {
      // no type and no keyword the converter knows: any value
      return this.addRule(ruleName, this.primitive("value"));
    }
    if (!schemaType.isString() || !PRIMITIVE_RULES.has(schemaType.str)) {
      let why = "";
      if (!schema.isObject()) why = "a schema must be an object";
      else if (schemaType.isString()) why = "unknown type \"" + schemaType.str + "\"";
      else why = "\"type\" must be a type name or an array of them";
      this.errors.push(ptr + ": unrecognized schema " + shortDump(schema) + " (" + why + ")");
      return "";
    }
    return this.addPrimitive(ruleName == "root" ? "root" : schemaType.str, PRIMITIVE_RULES.get(schemaType.str));
  }

  private visitAllOf(schema: JsonValue, name: string, ruleName: string, ptr: string): string {
    const required = new Set<string>();
    const props = new Array<Prop>();
    const enumCounts = new Map<string, i32>();
    const allOf = schema.get("allOf")!;
    const comps = allOf.elements();
    const paths = elementPaths(allOf, ptr + "/allOf");
    for (let i = 0; i < comps.length; i++) {
      const t = comps[i];
      if (t.has("anyOf")) {
        const any = t.get("anyOf")!;
        const alts = any.elements();
        const altPaths = elementPaths(any, paths[i] + "/anyOf");
        for (let j = 0; j < alts.length; j++) this.addComponent(alts[j], false, altPaths[j], required, props, enumCounts, 0);
      } else {
        this.addComponent(t, true, paths[i], required, props, enumCounts, 0);
      }
      if (this.fatal.length > 0) return "";
    }
    if (enumCounts.size > 0) {
      const keys = enumCounts.keys();
      keys.sort((a: string, b: string): i32 => (a < b ? -1 : a > b ? 1 : 0));
      const common = new Array<string>();
      const n = allOf.size();
      for (let i = 0; i < keys.length; i++) if (enumCounts.get(keys[i]) == n) common.push(keys[i]);
      if (common.length > 0) return this.addRule(ruleName, "(" + common.join(" | ") + ")");
    }
    return this.addRule(ruleName, this.buildObjectRule(props, required, name, NULL_JSON, ptr));
  }

  private addComponent(comp: JsonValue, isRequired: bool, ptr: string, required: Set<string>, props: Array<Prop>,
                       enumCounts: Map<string, i32>, hops: i32): void {
    if (comp.has("$ref")) {
      const r = comp.get("$ref")!;
      if (!r.isString()) { this.typeError(ptr, "$ref", "a string", r); return; }
      if (hops >= MAX_VISIT_DEPTH) { this.fail(ptr + ": $ref " + r.str + " leads back to itself"); return; }
      this.addComponent(this.refTarget(r.str), isRequired, r.str, required, props, enumCounts, hops + 1);
    } else if (comp.has("properties")) {
      const pv = comp.get("properties")!;
      const keys = pv.entryKeys();
      addProps(props, pv, ptr + "/properties");
      if (isRequired) for (let i = 0; i < keys.length; i++) required.add(keys[i]);
    } else if (comp.has("enum")) {
      const values = comp.get("enum")!.elements();
      for (let i = 0; i < values.length; i++) {
        const rule = this.constantRule(values[i]);
        enumCounts.set(rule, enumCounts.has(rule) ? enumCounts.get(rule) + 1 : 1);
      }
    }
    // anything else in an allOf is not enforced (llama.cpp ignores it too)
  }

  private buildObjectRule(properties: Array<Prop>, required: Set<string>, name: string, additional: JsonValue, additionalPtr: string): string {
    const requiredProps = new Array<string>();
    const optionalProps = new Array<string>();
    const kvNames = new Map<string, string>();
    const propNames = new Array<string>();
    const sep = name.length == 0 ? "" : "-";
    for (let i = 0; i < properties.length; i++) {
      const p = properties[i];
      const propRuleName = this.visit(p.schema, name + sep + p.name, p.path);
      kvNames.set(p.name, this.addRule(name + sep + p.name + "-kv", formatLiteral(dumpString(p.name)) + " space \":\" space " + propRuleName));
      if (required.has(p.name)) requiredProps.push(p.name); else optionalProps.push(p.name);
      propNames.push(p.name);
    }
    if ((additional.isBool() && additional.boolValue) || additional.isObject()) {
      const subName = name + sep + "additional";
      const valueRule = additional.isObject() ? this.visit(additional, subName + "-value", additionalPtr) : this.primitive("value");
      const keyRule = propNames.length == 0 ? this.primitive("string") : this.addRule(subName + "-k", this.notStrings(propNames));
      kvNames.set("*", this.addRule(subName + "-kv", keyRule + " \":\" space " + valueRule));
      optionalProps.push("*");
    }
    if (requiredProps.length == 0 && optionalProps.length == 0) return "\"{\" space \"}\"";

    const out = new Array<string>();
    out.push("\"{\" space ");
    for (let i = 0; i < requiredProps.length; i++) {
      if (i > 0) out.push(" \",\" space ");
      out.push(kvNames.get(requiredProps[i]));
    }
    if (optionalProps.length > 0) {
      out.push(" (");
      if (requiredProps.length > 0) out.push(" \",\" space ( ");
      for (let i = 0; i < optionalProps.length; i++) {
        if (i > 0) out.push(" | ");
        out.push(this.optionalSequence(optionalProps, i, name, kvNames));
      }
      if (requiredProps.length > 0) out.push(" )");
      out.push(" )?");
    }
    out.push(" space \"}\"");
    return out.join("");
  }

  /** The optional properties ks[from..] in order, the first present and any of the rest after it:
   *  "k0-kv k0-rest" where each "k-rest" rule is the optional ", next-kv" and the next rest. The
   *  rest rules are added deepest first, as llama.cpp's recursion adds them. */
  private optionalSequence(ks: Array<string>, from: i32, name: string, kvNames: Map<string, string>): string {
    const last = ks.length - 1;
    const sep = name.length == 0 ? "" : "-";
    let restRef = "";
    for (let j = last; j > from; j--) {
      const k = ks[j];
      const kv = kvNames.get(k);
      let body = "( \",\" space " + kv + " )" + (k == "*" ? "*" : "?");
      if (j < last) body += " " + restRef;
      restRef = this.addRule(name + sep + ks[j - 1] + "-rest", body);
    }
    const k = ks[from];
    const kv = kvNames.get(k);
    let res = kv + (k == "*" ? " ( \",\" space " + kv + " )*" : "");
    if (from < last) res += " " + restRef;
    return res;
  }

  /** A rule for any JSON string except the given ones (a trie of their bytes). */
  private notStrings(strings: Array<string>): string {
    const root = new TrieNode();
    for (let i = 0; i < strings.length; i++) {
      let node = root;
      const s = strings[i];
      for (let j = 0; j < s.length; j++) {
        const c = s.charCodeAt(j);
        if (!node.children.has(c)) node.children.set(c, new TrieNode());
        node = node.children.get(c);
      }
      node.end = true;
    }
    const charRule = this.primitive("char");
    const out = new Array<string>();
    out.push("[\"] ( ");
    // depth-first over the trie with an explicit stack (property names can be long)
    const stack = new Array<TrieFrame>();
    stack.push(new TrieFrame(root));
    while (stack.length > 0) {
      const f = stack[stack.length - 1];
      if (f.idx < f.keys.length) {
        const c = f.keys[f.idx];
        const child = f.node.children.get(c);
        const ch = String.fromCharCode(c);
        f.rejects += ch;
        if (f.idx > 0) out.push(" | ");
        f.idx++;
        out.push("[" + ch + "]");
        if (child.children.size > 0) {
          out.push(" (");
          stack.push(new TrieFrame(child));
        } else if (child.end) {
          out.push(" " + charRule + "+");
        }
        continue;
      }
      if (f.keys.length > 0) out.push(" | [^\"" + f.rejects + "] " + charRule + "*");
      stack.pop();
      if (stack.length > 0) out.push(")");
    }
    out.push(" )");
    if (!root.end) out.push("?");
    out.push(" [\"]");
    return out.join("");
  }

  // -- patterns --

  private visitPattern(pattern: string, name: string, ptr: string): string {
    const snapshot = new Map<string, string>();
    const keys = this.rules.keys();
    for (let i = 0; i < keys.length; i++) snapshot.set(keys[i], this.rules.get(keys[i]));
    this.patStatus = PATTERN_OK;
    this.patWhy = "";
    const r = this.patternToRule(pattern, name);
    if (this.patStatus == PATTERN_UNSUPPORTED) {
      this.rules = snapshot;
      this.warnings.push(ptr + ": pattern " + pattern + " is not supported (" + this.patWhy + "), accepting any string");
      return this.addRule(name, this.primitive("string"));
    }
    if (this.patStatus == PATTERN_INVALID) {
      this.rules = snapshot;
      this.errors.push(ptr + ": invalid pattern " + pattern + ": " + this.patWhy);
      return "";
    }
    return r;
  }

  private unsupported(why: string): void { if (this.patStatus == PATTERN_OK) { this.patStatus = PATTERN_UNSUPPORTED; this.patWhy = why; } }
  private invalid(why: string): void { if (this.patStatus == PATTERN_OK) { this.patStatus = PATTERN_INVALID; this.patWhy = why; } }

  private patternToRule(pattern: string, name: string): string {
    if (pattern.length < 2 || pattern.charCodeAt(0) != 0x5e || pattern.charCodeAt(pattern.length - 1) != 0x24) {
      this.unsupported("not anchored with '^' and '$'");
      return "";
    }
    this.pat = pattern.substring(1, pattern.length - 1);
    this.patI = 0;
    this.patDepth = 0;
    this.patName = name;
    this.patIds = new Map<string, string>();
    const rule = pieceRule(this.transform());
    if (this.patStatus != PATTERN_OK) return "";
    if (this.patDepth != 0) { this.invalid("unbalanced parentheses"); return ""; }
    return this.addRule(name, "\"\\\"\" (" + rule + ") \"\\\"\"");
  }

  private dotRule(): string {
    return this.addRule("dot", this.dotall ? "[\\U00000000-\\U0010FFFF]" : "[^\\x0A\\x0D]");
  }

  /** Joins a sequence, merging consecutive literals into one. */
  private joinSeq(seq: Array<Piece>): Piece {
    const results = new Array<string>();
    let literal = "";
    for (let i = 0; i < seq.length; i++) {
      const item = seq[i];
      if (item.literal) { literal += item.s; continue; }
      if (literal.length > 0) { results.push("\"" + literal + "\""); literal = ""; }
      results.push(item.s);
    }
    if (literal.length > 0) results.push("\"" + literal + "\"");
    return new Piece(results.join(" "), false);
  }

  /** Translates the pattern from patI to the end or to the ')' closing the current group. */
  private transform(): Piece {
    const seq = new Array<Piece>();
    const sub = this.pat;
    const length = sub.length;
    const fail = new Piece("", false);
    while (this.patI < length) {
      const c = sub.charCodeAt(this.patI);
      if (c == 0x2e) { // .
        seq.push(new Piece(this.dotRule(), false));
        this.patI++;
      } else if (c == 0x28) { // (
        this.patI++;
        if (this.patI < length && sub.charCodeAt(this.patI) == 0x3f) {
          if (this.patI + 1 < length && sub.charCodeAt(this.patI + 1) == 0x3a) this.patI += 2; // (?: is a plain group here
          else { this.unsupported("unsupported group syntax"); return fail; }
        }
        this.patDepth++;
        if (this.patDepth > MAX_PATTERN_DEPTH) { this.unsupported("pattern nesting too deep"); return fail; }
        const inner = this.transform();
        if (this.patStatus != PATTERN_OK) return fail;
        seq.push(new Piece("(" + pieceRule(inner) + ")", false));
      } else if (c == 0x29) { // )
        this.patI++;
        if (this.patDepth == 0) { this.invalid("unbalanced parentheses"); return fail; }
        this.patDepth--;
        return this.joinSeq(seq);
      } else if (c == 0x5e || c == 0x24) { // ^ $
        this.unsupported("anchor inside the pattern");
        return fail;
      } else if (c == 0x5b) { // [
        let sq = "[";
        this.patI++;
        while (this.patI < length && sub.charCodeAt(this.patI) != 0x5d) {
          if (sub.charCodeAt(this.patI) == 0x5c) {
            const el = gbnfEscapeLength(sub, this.patI);
            if (el == 0) { this.unsupported("unsupported escape in character class: " + sub.substr(this.patI, 2)); return fail; }
            sq += sub.substr(this.patI, el);
            this.patI += el;
          } else {
            sq += sub.charAt(this.patI);
            this.patI++;
          }
        }
        if (this.patI >= length) { this.invalid("unterminated character class"); return fail; }
        sq += "]";
        this.patI++;
        seq.push(new Piece(sq, false));
      } else if (c == 0x7c) { // |
        seq.push(new Piece("|", false));
        this.patI++;
      } else if (c == 0x2a || c == 0x2b || c == 0x3f) { // * + ?
        if (seq.length == 0) { this.invalid("nothing to repeat"); return fail; }
        const last = seq[seq.length - 1];
        seq[seq.length - 1] = new Piece(pieceRule(last) + String.fromCharCode(c), false);
        this.patI++;
      } else if (c == 0x7b) { // {
        let cb = "{";
        this.patI++;
        while (this.patI < length && sub.charCodeAt(this.patI) != 0x7d) {
          cb += sub.charAt(this.patI);
          this.patI++;
        }
        if (this.patI >= length) { this.unsupported("unterminated curly brackets"); return fail; }
        cb += "}";
        this.patI++;
        const nums = cb.substring(1, cb.length - 1).split(",");
        let minTimes = 0, maxTimes = INT_MAX;
        if (nums.length != 1 && nums.length != 2) { this.unsupported("wrong number of values in curly brackets"); return fail; }
        let bad = false;
        if (nums.length == 1) {
          const v = cIntParse(nums[0], i32.MIN_VALUE, i32.MAX_VALUE);
          if (!v.ok) bad = true; else { minTimes = <i32>v.value; maxTimes = minTimes; }
        } else {
          if (nums[0].length > 0) {
            const v = cIntParse(nums[0], i32.MIN_VALUE, i32.MAX_VALUE);
            if (!v.ok) bad = true; else minTimes = <i32>v.value;
          }
          if (!bad && nums[1].length > 0) {
            const v = cIntParse(nums[1], i32.MIN_VALUE, i32.MAX_VALUE);
            if (!v.ok) bad = true; else maxTimes = <i32>v.value;
          }
        }
        if (bad) { this.unsupported("invalid number in curly brackets"); return fail; }
        if (seq.length == 0) { this.invalid("nothing to repeat"); return fail; }
        const last = seq[seq.length - 1];
        let s = last.s;
        if (!last.literal) {
          // a repeated sub-expression becomes a rule of its own (one per distinct expression)
          let id = this.patIds.has(s) ? this.patIds.get(s) : "";
          if (id.length == 0) {
            this.patIds.set(s, "");
            id = this.addRule(this.patName + "-" + this.patIds.size.toString(), s);
            this.patIds.set(s, id);
          }
          s = id;
        }
        seq[seq.length - 1] = new Piece(buildRepetition(last.literal ? "\"" + s + "\"" : s, minTimes, maxTimes, ""), false);
      } else {
        let literal = "";
        while (this.patI < length) {
          const ci = sub.charCodeAt(this.patI);
          if (ci == 0x5c) {
            if (this.patI == length - 1) { this.invalid("trailing backslash"); return fail; }
            const next = sub.charCodeAt(this.patI + 1);
            if (isEscapedInRegexpOnly(next)) {
              this.patI++;
              literal += sub.charAt(this.patI);
              this.patI++;
            } else {
              const el = gbnfEscapeLength(sub, this.patI);
              if (el == 0) { this.unsupported("unsupported escape: " + sub.substr(this.patI, 2)); return fail; }
              literal += sub.substr(this.patI, el);
              this.patI += el;
            }
          } else if (ci == 0x22) {
            literal += "\\\"";
            this.patI++;
          } else if (!isNonLiteral(ci) &&
              (this.patI == length - 1 || literal.length == 0 || sub.charCodeAt(this.patI + 1) == 0x2e || !isNonLiteral(sub.charCodeAt(this.patI + 1)))) {
            literal += sub.charAt(this.patI);
            this.patI++;
          } else {
            break;
          }
        }
        if (literal.length == 0) { this.unsupported("unsupported character: " + String.fromCharCode(c)); return fail; }
        seq.push(new Piece(literal, true));
      }
    }
    return this.joinSeq(seq);
  }

  // -- does a schema allow a string? --

  allowsString(s: JsonValue, ptr: string, visitedRefs: Set<string>, depth: i32): bool {
    if (this.fatal.length > 0 || !s.isObject()) return false;
    if (depth >= MAX_VISIT_DEPTH) { this.fail(ptr + ": schemas nested deeper than " + MAX_VISIT_DEPTH.toString() + " levels (counting $ref hops)"); return false; }
    if (s.has("$ref")) {
      const r = s.get("$ref")!;
      if (!r.isString()) { this.typeError(ptr, "$ref", "a string", r); return false; }
      // a $ref seen before (a cycle, or a second path to it) counts as no string
      if (visitedRefs.has(r.str)) return false;
      visitedRefs.add(r.str);
      return this.refs.has(r.str) && this.allowsString(this.refs.get(r.str), r.str, visitedRefs, depth + 1);
    }
    const t = s.get("type");
    if (t !== null) {
      if (t.equalsString("string")) return true;
      if (t.isArray()) for (let i = 0; i < t.items.length; i++) if (t.items[i].equalsString("string")) return true;
    }
    for (let k = 0; k < 2; k++) {
      const key = k == 0 ? "oneOf" : "anyOf";
      const alts = s.get(key);
      if (alts === null) continue;
      const items = alts.elements();
      const paths = elementPaths(alts, ptr + "/" + key);
      for (let i = 0; i < items.length; i++) if (this.allowsString(items[i], paths[i], visitedRefs, depth + 1)) return true;
    }
    const all = s.get("allOf");
    if (all !== null) {
      const items = all.elements();
      const paths = elementPaths(all, ptr + "/allOf");
      let every = true;
      for (let i = 0; i < items.length; i++) if (!this.allowsString(items[i], paths[i], visitedRefs, depth + 1)) { every = false; break; }
      if (every) return true;
    }
    const c = s.get("const");
    if (c !== null && c.isString()) return true;
    const e = s.get("enum");
    if (e !== null) {
      const values = e.elements();
      for (let i = 0; i < values.length; i++) if (values[i].isString()) return true;
    }
    if (s.has("pattern") || s.has("minLength") || s.has("maxLength")) return true;
    const f = s.get("format");
    if (f !== null) {
      if (!f.isString()) { this.typeError(ptr, "format", "a string", f); return false; }
      const fmt = f.str;
      if (fmt == "date" || fmt == "time" || fmt == "date-time" || fmt == "uri" || fmt == "email" || fmt == "hostname" ||
          fmt == "ipv4" || fmt == "ipv6" || fmt.startsWith("uuid")) return true;
    }
    return false;
  }

  formatGrammar(): string {
    const keys = this.rules.keys();
    keys.sort((a: string, b: string): i32 => (a < b ? -1 : a > b ? 1 : 0));
    const out = new Array<string>();
    for (let i = 0; i < keys.length; i++) out.push(keys[i] + " ::= " + this.rules.get(keys[i]) + "\n");
    return out.join("");
  }
}

function isUuidFormat(f: string): bool {
  if (!f.startsWith("uuid")) return false;
  if (f.length == 4) return true;
  if (f.length != 5) return false;
  const c = f.charCodeAt(4);
  return c >= 0x31 && c <= 0x35;
}

/** Pointers of the values elements() gives. */
function elementPaths(v: JsonValue, base: string): Array<string> {
  const out = new Array<string>();
  if (v.isArray()) { for (let i = 0; i < v.items.length; i++) out.push(base + "/" + i.toString()); }
  else if (v.isObject()) { for (let i = 0; i < v.keys.length; i++) out.push(base + "/" + pointerToken(v.keys[i])); }
  else if (!v.isNull()) out.push(base);
  return out;
}

/** The (name, schema) pairs nlohmann's items() gives for a "properties" value. */
function addProps(props: Array<Prop>, pv: JsonValue, base: string): void {
  const keys = pv.entryKeys();
  const values = pv.elements();
  for (let i = 0; i < keys.length; i++) {
    const path = pv.isObject() || pv.isArray() ? base + "/" + pointerToken(keys[i]) : base;
    props.push(new Prop(keys[i], values[i], path));
  }
}

/** A value's JSON for a message, cut short when long. */
function shortDump(v: JsonValue): string {
  const s = dumpJson(v);
  return s.length <= 200 ? s : s.substring(0, 200) + "...";
}
