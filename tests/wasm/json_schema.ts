// Test entry for llm/grammar/json_schema.ts and llm/json: schemas and JSON documents come in
// as UTF-8 bytes at (ptr, len) in a region the test allocates; results go out as strings.
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { jsonSchemaToGrammarUtf8, jsonObjectGrammar, jsonSchemaResolvesToString, JsonSchemaResult } from "../../llm/grammar/json_schema";
import { parseJsonBytes } from "../../llm/json/parse";
import { dumpJson } from "../../llm/json/dump";
import { formatDouble, parseDouble } from "../../llm/json/number";
import { JsonValue, NUM_INT, NUM_UINT } from "../../llm/json/value";
import { byteString } from "../../llm/json/bytes";

export { allocRegion, freeRegion };

let result = new JsonSchemaResult();

/** Converts the schema at [p, p+n); 1 when it converted (grammar()), 0 on error (error()). */
export function convert(p: usize, n: usize, dotall: bool): i32 {
  result = jsonSchemaToGrammarUtf8(p, n, dotall);
  return result.ok ? 1 : 0;
}
export function grammar(): string { return result.grammar; }
export function error(): string { return result.error; }
export function warnings(): string { return result.warnings; }
export function grammarBytesPtr(): usize { return changetype<usize>(result.grammarBytes.buffer); }
export function grammarBytesLen(): i32 { return result.grammarBytes.length; }
export function objectGrammar(): string { return jsonObjectGrammar(); }

/** jsonSchemaResolvesToString of the schema at [p, p+n) (UTF-8): 1 or 0, -1 with error() on failure. */
export function resolvesToString(p: usize, n: usize): i32 {
  const r = jsonSchemaResolvesToString(String.UTF8.decodeUnsafe(p, n));
  result = new JsonSchemaResult();
  result.error = r.error;
  return r.error.length > 0 ? -1 : r.value ? 1 : 0;
}

let parsed: JsonValue | null = null;
let parseErr = "";

/** Parses the JSON document at [p, p+n); 1 when it parsed (dump(), describe()), 0 on error (parseError()). */
export function parse(p: usize, n: usize, maxDepth: i32): i32 {
  const r = parseJsonBytes(p, n, false, maxDepth);
  parsed = r.value;
  parseErr = r.error;
  return r.ok ? 1 : 0;
}
export function parseError(): string { return parseErr; }
/** The parsed document as nlohmann's dump() writes it. */
export function dump(): string { return dumpJson(parsed!); }
/** The parsed top-level value's kind and, for numbers, how it was stored: "number int -5", "number uint 7", "number float 1.5". */
export function describe(): string {
  const v = parsed!;
  if (!v.isNumber()) return v.typeName();
  if (v.numKind == NUM_INT) return "number int " + v.intValue.toString();
  if (v.numKind == NUM_UINT) return "number uint " + (<u64>v.intValue).toString();
  return "number float " + formatDouble(v.floatValue);
}
/** The top-level string's UTF-16 value (for checks of escapes and surrogates). */
export function stringValue(): string { return parsed!.str; }

/** formatDouble of the bits (two halves, to avoid BigInt plumbing). */
export function formatBits(hi: u32, lo: u32): string { return formatDouble(reinterpret<f64>((<u64>hi << 32) | <u64>lo)); }
/** parseDouble of the ASCII text at [p, p+n): the result's bits, high word via lastHigh(). */
let high: u32 = 0;
export function parseBits(p: usize, n: usize): u32 {
  const bits = reinterpret<u64>(parseDouble(byteString(p, n)));
  high = <u32>(bits >> 32);
  return <u32>bits;
}
export function lastHigh(): u32 { return high; }
