// JSON Schema -> GBNF (llm/grammar/json_schema.ts) against llama.cpp's own test cases, and
// the JSON reader/writer it stands on (llm/json).
//
// The cases are read at test time from tests/test-json-schema-to-grammar.cpp of the llama.cpp
// release node-llama-cpp was built from (tools/ref/llama_source.mjs): every test({...}) of
// test_all and every run({...}) of its C++-only section. As there, a SUCCESS case must give
// exactly the expected grammar once both are trimmed (outer whitespace and each line's
// indentation removed), and a FAILURE case must give an error.
import { describe, it, expect, beforeAll } from "vitest";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compile, ROOT } from "../tools/lib/asbuild.mjs";
import { instantiate, readAsString } from "../tools/lib/wasmhost.mjs";
import { llamaSourceFile, llamaSourceUnavailable } from "../tools/ref/llama_source.mjs";

// ---- the wasm side ----

let inst: any;
let x: any;
let scratch = 0;
let scratchSize = 0;

beforeAll(async () => {
  inst = await instantiate(await compile("tests/wasm/json_schema.ts"));
  x = inst.exports;
});

const s = (name: string, ...args: any[]) => readAsString(inst.memory, x[name](...args));

function put(bytes: Uint8Array): number {
  if (bytes.length > scratchSize) {
    if (scratch) x.freeRegion(scratch);
    scratchSize = Math.max(1 << 16, bytes.length);
    scratch = x.allocRegion(BigInt(scratchSize));
  }
  new Uint8Array(inst.memory.buffer, scratch, bytes.length).set(bytes);
  return scratch;
}
const utf8 = (t: string | Uint8Array) => (typeof t === "string" ? Buffer.from(t, "utf8") : t);

function convert(schema: string | Uint8Array, dotall = false) {
  const b = utf8(schema);
  const ok = x.convert(put(b), b.length, dotall ? 1 : 0) === 1;
  return {
    ok, grammar: s("grammar"), error: s("error"), warnings: s("warnings"),
    bytes: Buffer.from(new Uint8Array(inst.memory.buffer, x.grammarBytesPtr(), x.grammarBytesLen())),
  };
}

function parse(doc: string | Uint8Array, maxDepth = 128) {
  const b = utf8(doc);
  const ok = x.parse(put(b), b.length, maxDepth) === 1;
  return ok ? { ok, error: "", dump: s("dump"), kind: s("describe") } : { ok, error: s("parseError"), dump: "", kind: "" };
}

// ---- llama.cpp's cases ----

type Case = { status: "SUCCESS" | "FAILURE"; name: string; schema: string; grammar: string };

/** One C++ string literal at text[i] (raw R"delim(...)delim" or "..." with escapes); adjacent literals concatenate. */
function readLiterals(text: string, i: number): { value: string; end: number } {
  let value = "";
  let any = false;
  for (;;) {
    while (/\s/.test(text[i])) i++;
    if (text.startsWith('R"', i)) {
      const open = text.indexOf("(", i);
      const delim = text.slice(i + 2, open);
      const close = text.indexOf(")" + delim + '"', open);
      value += text.slice(open + 1, close);
      i = close + delim.length + 2;
    } else if (text[i] === '"') {
      i++;
      while (text[i] !== '"') {
        if (text[i] === "\\") {
          const e = text[i + 1];
          value += ({ n: "\n", t: "\t", r: "\r", '"': '"', "\\": "\\", "'": "'" } as Record<string, string>)[e] ?? e;
          i += 2;
        } else value += text[i++];
      }
      i++;
    } else break;
    any = true;
  }
  if (!any) throw new Error(`no string literal at ${text.slice(i, i + 40)}`);
  return { value, end: i };
}

function parseCases(src: string): Case[] {
  const cases: Case[] = [];
  const re = /\b(?:test|run)\(\{\s*(SUCCESS|FAILURE)\s*,/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(src))) {
    let i = m.index + m[0].length;
    const name = readLiterals(src, i); i = name.end;
    const comma = () => { while (/\s/.test(src[i])) i++; if (src[i] !== ",") throw new Error(`expected ',' in case ${name.value}`); i++; };
    comma();
    const schema = readLiterals(src, i); i = schema.end;
    comma();
    const grammar = readLiterals(src, i); i = grammar.end;
    cases.push({ status: m[1] as Case["status"], name: name.value, schema: schema.value, grammar: grammar.value });
  }
  return cases;
}

/** The C++ test's trim(): outer whitespace, then the indentation of every line. */
function trim(t: string): string {
  const start = t.search(/[^ \n\r\t]/);
  if (start < 0) return "";
  let end = t.length;
  while (" \n\r\t".includes(t[end - 1])) end--;
  return t.slice(start, end).replace(/(^|\n)[ \t]+/g, "$1");
}

const SRC = llamaSourceFile("tests/test-json-schema-to-grammar.cpp");
const CASES = SRC ? parseCases(SRC) : [];

/** The test("name", schema, expected) calls of test_resolves_to_string. */
function parseStringCases(src: string): { name: string; schema: string; expected: boolean }[] {
  const start = src.indexOf("static void test_resolves_to_string");
  const body = src.slice(start, src.indexOf("\nint main", start));
  const out: { name: string; schema: string; expected: boolean }[] = [];
  const re = /\btest\(\s*"/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    const name = readLiterals(body, m.index + m[0].length - 1);
    let i = name.end;
    while (/[\s,]/.test(body[i])) i++;
    const schema = readLiterals(body, i);
    i = schema.end;
    while (/[\s,]/.test(body[i])) i++;
    out.push({ name: name.value, schema: schema.value, expected: body.startsWith("true", i) });
  }
  return out;
}
const STRING_CASES = SRC ? parseStringCases(SRC) : [];

describe("llama.cpp's test-json-schema-to-grammar cases", () => {
  if (!SRC) {
    it.skip(`skipped: llama.cpp's source is unavailable (${llamaSourceUnavailable()})`, () => {});
    return;
  }
  it("finds the cases", () => {
    expect(CASES.length).toBeGreaterThan(60);
    expect(CASES.filter((c) => c.status === "FAILURE").length).toBeGreaterThan(0);
  });
  it("finds the resolves_to_string cases", () => expect(STRING_CASES.length).toBeGreaterThan(20));
  it.each(STRING_CASES.map((c) => [c.name, c] as const))("resolves_to_string: %s", (_n, c) => {
    const b = utf8(c.schema);
    expect(x.resolvesToString(put(b), b.length), s("error")).toBe(c.expected ? 1 : 0);
  });
  it.each(CASES.map((c) => [`${c.status === "FAILURE" ? "FAILURE " : ""}${c.name}`, c] as const))("%s", (_n, c) => {
    const r = convert(c.schema);
    if (c.status === "SUCCESS") {
      expect(r.error).toBe("");
      expect(trim(r.grammar)).toBe(trim(c.grammar));
    } else {
      expect(r.ok).toBe(false);
      expect(r.error).toMatch(/^JSON schema conversion failed:\n/);
    }
  });
});

// ---- llama.cpp's converter itself, for schemas of our own ----
//
// The converter (common/json-schema-to-grammar.cpp) and its JSON (common/json.cpp over
// vendor/nlohmann/json.hpp) from the same source bundle, built with g++ into a small program
// that converts the schemas it reads from stdin ("dump" mode: parses and dumps JSON instead;
// "string" mode: common_schema_info's resolves_to_string).
// Only the three string helpers the converter takes from common.h and ggml's assert macro are
// stood in for. Built once under build/ref/json-schema-oracle (keyed by the sources' hash).
// Documents go in and results come out length-prefixed (a document may hold any byte).

const ORACLE_DIR = join(ROOT, "build/ref/json-schema-oracle");
const ORACLE_MAIN = `#include "json-schema-to-grammar.h"
#include "json.h"
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
// documents in and results out as (u32 little-endian length, bytes); a result starts with "OK\\n" or "ERR\\n"
static void put(const std::string & s) {
    uint32_t n = (uint32_t) s.size();
    unsigned char len[4] = { (unsigned char) n, (unsigned char) (n >> 8), (unsigned char) (n >> 16), (unsigned char) (n >> 24) };
    fwrite(len, 1, 4, stdout);
    fwrite(s.data(), 1, s.size(), stdout);
    fflush(stdout);
}
int main(int argc, char ** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    size_t pos = 0;
    while (pos + 4 <= all.size()) {
        uint32_t n = (unsigned char) all[pos] | ((unsigned char) all[pos + 1] << 8) | ((unsigned char) all[pos + 2] << 16) | ((uint32_t) (unsigned char) all[pos + 3] << 24);
        std::string text = all.substr(pos + 4, n);
        pos += 4 + n;
        try {
            if (mode == "dump") {
                put("OK\\n" + common_json::parse(text).dump());
            } else if (mode == "string") {
                common_schema_info info;
                auto schema = common_json::parse(text);
                info.resolve_refs(schema);
                put(std::string("OK\\n") + (info.resolves_to_string(schema) ? "true" : "false"));
            } else {
                put("OK\\n" + json_schema_to_grammar(common_json::parse(text), true));
            }
        } catch (const std::exception & e) {
            put(std::string("ERR\\n") + e.what());
        }
    }
    return 0;
}
`;
const ORACLE_COMMON_H = `#pragma once
#include <sstream>
#include <string>
#include <vector>
static inline std::string string_join(const std::vector<std::string> & v, const std::string & sep) {
    std::ostringstream o;
    for (size_t i = 0; i < v.size(); ++i) { if (i > 0) o << sep; o << v[i]; }
    return o.str();
}
static inline std::vector<std::string> string_split(const std::string & s, const std::string & d) {
    std::vector<std::string> parts;
    size_t start = 0, end = s.find(d);
    while (end != std::string::npos) { parts.push_back(s.substr(start, end - start)); start = end + d.length(); end = s.find(d, start); }
    parts.push_back(s.substr(start));
    return parts;
}
static inline std::string string_repeat(const std::string & s, size_t n) {
    std::string r;
    for (size_t i = 0; i < n; ++i) r += s;
    return r;
}
`;
const ORACLE_GGML_H = `#pragma once
#include <cstdio>
#include <cstdlib>
#define GGML_ASSERT(x) do { if (!(x)) { fprintf(stderr, "GGML_ASSERT(%s) failed\\n", #x); abort(); } } while (0)
`;

/** Path of the built oracle, or why there is none. */
async function buildOracle(): Promise<{ bin: string; why: string }> {
  if (!SRC) return { bin: "", why: `llama.cpp's source is unavailable (${llamaSourceUnavailable()})` };
  try { await run("g++", ["--version"]); } catch { return { bin: "", why: "g++ is not installed" }; }
  const files: Record<string, string> = {};
  for (const [path, name] of [["common/json-schema-to-grammar.cpp", "json-schema-to-grammar.cpp"], ["common/json-schema-to-grammar.h", "json-schema-to-grammar.h"],
    ["common/json.cpp", "json.cpp"], ["common/json.h", "json.h"], ["vendor/nlohmann/json.hpp", "nlohmann/json.hpp"]]) {
    const text = llamaSourceFile(path);
    if (text === null) return { bin: "", why: `${path} is not in llama.cpp's source bundle` };
    files[name] = text;
  }
  files["common.h"] = ORACLE_COMMON_H;
  files["ggml.h"] = ORACLE_GGML_H;
  files["oracle.cpp"] = ORACLE_MAIN;
  const hash = createHash("sha256").update(JSON.stringify(files)).digest("hex").slice(0, 16);
  const bin = join(ORACLE_DIR, `oracle-${hash}`);
  if (existsSync(bin)) return { bin, why: "" };
  const dir = join(ORACLE_DIR, `src-${hash}-${process.pid}`);
  mkdirSync(join(dir, "nlohmann"), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const tmp = `${bin}.${process.pid}.tmp`;
  try {
    await run("g++", ["-O1", "-std=c++17", `-I${dir}`, "-o", tmp, join(dir, "oracle.cpp"), join(dir, "json-schema-to-grammar.cpp"), join(dir, "json.cpp")]);
    renameSync(tmp, bin);
  } catch (e: any) {
    return { bin: "", why: `building llama.cpp's converter failed: ${String(e.stderr ?? e.message).slice(0, 2000)}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { bin, why: "" };
}

function run(cmd: string, args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = execFile(cmd, args, { encoding: "buffer", maxBuffer: 1 << 28 }, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr: stderr?.toString() })); else resolve(stdout);
    });
    if (input) p.stdin!.end(input); else p.stdin!.end();
  });
}

type OracleOut = { ok: boolean; text: Buffer };
const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
/** llama.cpp's results for the documents (converted, or dumped in "dump" mode). A document it
 *  crashes on (its allOf follows a $ref cycle until the stack runs out) counts as a failure. */
async function oracle(bin: string, docs: Buffer[], mode = ""): Promise<OracleOut[]> {
  const res: OracleOut[] = [];
  while (res.length < docs.length) {
    const rest = docs.slice(res.length);
    let out: Buffer;
    let crashed = false;
    try {
      out = await run(bin, mode ? [mode] : [], Buffer.concat(rest.flatMap((d) => [u32(d.length), d])));
    } catch (e: any) {
      out = e.stdout ?? Buffer.alloc(0);
      crashed = true;
    }
    for (let at = 0; at + 4 <= out.length;) {
      const n = out.readUInt32LE(at);
      if (at + 4 + n > out.length) break;
      const chunk = out.subarray(at + 4, at + 4 + n);
      const nl = chunk.indexOf(10);
      res.push({ ok: chunk.subarray(0, nl).toString() === "OK", text: Buffer.from(chunk.subarray(nl + 1)) });
      at += 4 + n;
    }
    if (crashed) res.push({ ok: false, text: Buffer.from("(crashed)") });
  }
  return res;
}

// ---- random schemas (seeded; SIS_JSON_SCHEMA_SEED=n picks another series), written as JSON
// text so that number spellings, key order and duplicate keys are under control ----

function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)],
    chance: (p: number) => next() < p,
  };
}
type Rng = ReturnType<typeof rng>;

const NAMES = ["a", "b", "c", "foo", "bar", "foo-bar", "foo_bar", "x y", "é", "日本", "", "*", "root", "string", "value", "number",
  "char", "date", "item", "kv", "a\"q", "k\\", "🙂", "1", "$x", "a/b", "a~b", "tab\there", "nl\nx", "additional", "rest"] as const;

const obj = (pairs: [string, string][]) => "{" + pairs.map(([k, v]) => JSON.stringify(k) + ": " + v).join(", ") + "}";
const arr = (items: string[]) => "[" + items.join(", ") + "]";

/** A number as some document might spell it. */
function numberText(r: Rng): string {
  switch (r.int(12)) {
    case 0: return String(r.int(20) - 5);
    case 1: return String(r.int(2000000) - 1000000);
    case 2: return r.pick(["9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551615", "18446744073709551616",
      "-9223372036854775809", "123456789012345678901234567890", "-0", "0"]);
    case 3: return r.pick(["1.0", "1e2", "1E2", "-0.0", "0.1", "1e-7", "2.5e+3", "1.5", "100.0", "1e15", "1e16", "123456789012345.0",
      "0.0001", "0.00001", "1e308", "1.7976931348623157e308", "5e-324", "2.2250738585072014e-308", "4.9e-324", "2.4703282292062328e-324"]);
    case 4: { const x = (r.next() - 0.5) * 10 ** (r.int(40) - 20); return String(x); }
    case 5: { const x = r.next() * 10 ** (r.int(600) - 300); return x.toExponential(r.int(20)); }
    case 6: { const x = (r.next() - 0.5) * 1000; return x.toFixed(r.int(25)); }
    case 7: { // a long significand
      let d = String(1 + r.int(9));
      for (let i = r.int(40) + 15; i > 0; i--) d += String(r.int(10));
      return d.slice(0, 1) + "." + d.slice(1) + "e" + (r.int(640) - 320);
    }
    case 8: { // halfway-ish decimals: a double's exact neighbours' midpoint digits
      const x = r.next() * 10 ** (r.int(40) - 20);
      return x.toPrecision(17).replace(/(\d)(e|$)/, "$15$2");
    }
    case 9: return String(r.int(40) / 4);
    case 10: return (r.chance(0.5) ? "-" : "") + String(r.int(100)) + "." + String(r.int(1000)).padStart(3, "0");
    default: return String(r.next());
  }
}

function stringText(r: Rng): string {
  const pieces = ["a", "b", "é", "日", "🙂", "\"", "\\", "\n", "\r", "\t", "\u0001", "\u001f", "\u007f", " ", "x", "/", "\u2028", "-", "]", "["];
  let s = "";
  for (let i = r.int(6); i > 0; i--) s += r.pick(pieces);
  // sometimes through \u escapes, as a schema file may spell them
  return r.chance(0.2) ? JSON.stringify(s).replace(/[^\x20-\x7e]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")) : JSON.stringify(s);
}

function valueText(r: Rng, depth: number): string {
  switch (r.int(depth > 2 ? 4 : 6)) {
    case 0: return numberText(r);
    case 1: return stringText(r);
    case 2: return r.pick(["true", "false", "null"]);
    case 3: return stringText(r);
    case 4: return arr(Array.from({ length: r.int(4) }, () => valueText(r, depth + 1)));
    default: return obj(Array.from({ length: r.int(4) }, () => [r.pick(NAMES), valueText(r, depth + 1)] as [string, string]));
  }
}

function patternText(r: Rng, depth = 0): string {
  const atoms = ["a", "b", "é", "日", "\\.", "\\d", "\\w", "\\n", "\\x41", "\\u00e9", "\\\\", "\\\"", "\"", "-", " ", ".", "[a-z]", "[^0-9]",
    "[\\]\\-]", "[é-ü]", "[\\d]", "\\[", "\\{", "x", "yz", "]", "}", "^", "$"];
  const quants = ["", "", "", "*", "+", "?", "{2}", "{1,3}", "{,2}", "{2,}", "{0}", "{1}", "{ 2}", "{a}", "{1,2,3}", "{99999999999}", "??"];
  let s = "";
  for (let i = r.int(5) + 1; i > 0; i--) {
    let atom: string;
    if (depth < 3 && r.chance(0.2)) atom = (r.chance(0.3) ? "(?:" : r.chance(0.05) ? "(?=" : "(") + patternText(r, depth + 1) + (r.chance(0.97) ? ")" : "");
    else atom = r.pick(atoms);
    s += atom + r.pick(quants);
    if (r.chance(0.1)) s += "|";
  }
  if (depth > 0) return s;
  if (r.chance(0.9)) s = "^" + s + "$";
  return s;
}

function schemaText(r: Rng, depth: number, defs: string[]): string {
  const sub = () => schemaText(r, depth + 1, defs);
  const deep = depth >= 3;
  if (r.chance(0.08)) {
    // keywords with values of any kind (the converter reads some of them as C++ would, some throw)
    const keys = ["type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "enum", "const",
      "anyOf", "oneOf", "allOf", "pattern", "format", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "$ref"];
    return obj(Array.from({ length: r.int(3) + 1 }, () => [r.pick(keys), r.chance(0.5) && !deep ? sub() : valueText(r, 1)] as [string, string]));
  }
  switch (r.int(deep ? 9 : 17)) {
    case 0: return "{}";
    case 1: return obj([["type", JSON.stringify(r.pick(["string", "integer", "number", "boolean", "null", "object", "array", "char", "value", "kaboom"]))]]);
    case 2: return obj([["type", arr(Array.from({ length: r.int(3) + 1 }, () => JSON.stringify(r.pick(["string", "integer", "null", "number", "object"]))))]]);
    case 3: return obj([["const", valueText(r, 1)]]);
    case 4: return obj([["enum", arr(Array.from({ length: r.int(4) + 1 }, () => valueText(r, 1)))]]);
    case 5: return obj([["type", "\"string\""], ...(r.chance(0.7) ? [["minLength", numberText(r)] as [string, string]] : []),
      ...(r.chance(0.7) ? [["maxLength", r.chance(0.8) ? String(r.int(5)) : numberText(r)] as [string, string]] : [])]);
    case 6: return obj([["type", r.pick(["\"string\"", "\"string\"", "\"integer\""])], ["pattern", JSON.stringify(patternText(r))]]);
    case 7: return obj([...(r.chance(0.7) ? [["type", "\"string\""] as [string, string]] : []),
      ["format", r.chance(0.95) ? JSON.stringify(r.pick(["date", "time", "date-time", "uuid", "uuid3", "uuid6", "email", "date-string", ""])) : "5"]]);
    case 8: {
      const pairs: [string, string][] = [["type", "\"integer\""]];
      const bound = () => r.chance(0.7) ? String(r.int(2000) - 1000) : r.chance(0.5) ? String(r.int(12) - 3) : numberText(r);
      if (r.chance(0.6)) pairs.push([r.pick(["minimum", "exclusiveMinimum"]), bound()]);
      if (r.chance(0.6)) pairs.push([r.pick(["maximum", "exclusiveMaximum"]), bound()]);
      return obj(pairs);
    }
    case 9: case 10: {
      const pairs: [string, string][] = [];
      if (r.chance(0.5)) pairs.push(["type", "\"object\""]);
      const names = Array.from({ length: r.int(5) }, () => r.pick(NAMES));
      if (r.chance(0.9)) pairs.push(["properties", obj(names.map((n) => [n, sub()] as [string, string]))]);
      if (r.chance(0.6)) pairs.push(["required", arr(names.filter(() => r.chance(0.5)).map((n) => JSON.stringify(n)).concat(r.chance(0.1) ? ["5"] : []))]);
      if (r.chance(0.5)) pairs.push(["additionalProperties", r.pick(["true", "false", "{}", "null"]) === "{}" ? sub() : r.pick(["true", "false", "null", "{}"])]);
      return obj(pairs);
    }
    case 11: {
      const comps = Array.from({ length: r.int(3) + 1 }, () => {
        switch (r.int(4)) {
          case 0: return obj([["properties", obj(Array.from({ length: r.int(3) + 1 }, () => [r.pick(NAMES), sub()] as [string, string]))]]);
          case 1: return obj([["enum", arr(Array.from({ length: r.int(3) + 1 }, () => r.pick(["1", "2", "\"a\"", "\"b\"", "null", "1.5"])))]]);
          case 2: return defs.length ? obj([["$ref", JSON.stringify("#/$defs/" + r.pick(defs))]]) : "{}";
          default: return obj([["anyOf", arr([sub(), obj([["properties", obj([[r.pick(NAMES), sub()]])]])])]]);
        }
      });
      return obj([...(r.chance(0.3) ? [["type", "\"object\""] as [string, string]] : []), ["allOf", arr(comps)]]);
    }
    case 12: return obj([[r.pick(["anyOf", "oneOf"]), arr(Array.from({ length: r.int(3) + 1 }, sub))]]);
    case 13: {
      const pairs: [string, string][] = [];
      if (r.chance(0.5)) pairs.push(["type", "\"array\""]);
      if (r.chance(0.3)) pairs.push([r.pick(["items", "prefixItems"]), arr(Array.from({ length: r.int(3) }, sub))]);
      else pairs.push(["items", sub()]);
      if (r.chance(0.5)) pairs.push(["minItems", r.chance(0.8) ? String(r.int(4)) : numberText(r)]);
      if (r.chance(0.5)) pairs.push(["maxItems", r.chance(0.8) ? String(r.int(5)) : numberText(r)]);
      return obj(pairs);
    }
    case 14: return defs.length ? obj([["$ref", JSON.stringify(r.chance(0.9) ? "#/$defs/" + r.pick(defs) : r.pick(["#/$defs/missing", "#/definitions/x", "other.json#/x", "#", "#/$defs/" + defs[0] + "/type"]))]]) : "{}";
    case 15: return obj([["description", stringText(r)]]);
    default: return obj([["type", "\"object\""], ["additionalProperties", sub()]]);
  }
}

function rootSchemaText(r: Rng): string {
  const defs = r.chance(0.4) ? Array.from(new Set(Array.from({ length: r.int(3) + 1 }, () => r.pick(["a", "b", "foo", "x-y", "item"])))) : [];
  const body = schemaText(r, 0, defs);
  if (!defs.length) return body;
  // $defs (which may refer to each other, or to themselves) next to the root's own keywords
  const defsText = obj(defs.map((d) => [d, schemaText(r, 2, defs)] as [string, string]));
  return body === "{}" ? obj([["$ref", JSON.stringify("#/$defs/" + defs[0])], ["$defs", defsText]]) : body.slice(0, -1) + (body.length > 2 ? ", " : "") + `"$defs": ${defsText}}`;
}

/** A copy of doc with a few bytes changed or moved. */
function damage(r: Rng, doc: Buffer): Buffer {
  const b = Buffer.from(doc);
  for (let k = r.int(4) + 1; k > 0; k--) {
    const at = r.int(b.length);
    const op = r.int(3);
    if (op === 0) b[at] = r.int(256);
    else if (op === 1) b[at] = r.pick([0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x5c, 0x30]);
    else b.copyWithin(at, r.int(b.length));
  }
  return b;
}

describe("against llama.cpp's own converter (built from its source)", () => {
  let bin = "";
  let why = "";
  beforeAll(async () => { ({ bin, why } = await buildOracle()); }, 300_000);

  it("random schemas give llama.cpp's grammar, or an error where it fails", async (ctx) => {
    if (!bin) { ctx.skip(`skipped: ${why}`); return; }
    const r = rng(Number(process.env.SIS_JSON_SCHEMA_SEED ?? 20261206));
    const schemas = Array.from({ length: 3000 }, () => Buffer.from(rootSchemaText(r), "utf8"));
    // and damaged ones (mostly invalid JSON, some still schemas)
    for (let i = 0; i < 1000; i++) schemas.push(damage(r, schemas[i]));
    const expected = await oracle(bin, schemas);
    const bad: string[] = [];
    let ok = 0;
    schemas.forEach((schema, i) => {
      const got = convert(schema);
      const want = expected[i];
      if (want.ok) ok++;
      if (want.ok !== got.ok || (want.ok && !want.text.equals(got.bytes))) {
        bad.push(`schema: ${schema}\nllama.cpp: ${want.ok ? "" : "(error) "}${want.text}\nours: ${got.ok ? got.bytes.toString() : "(error) " + got.error}`);
      }
    });
    expect(ok).toBeGreaterThan(1500); // most of them convert: the comparison is not about errors only
    expect(bad.slice(0, 5).join("\n\n")).toBe("");
  });

  it("random schemas allow a string where llama.cpp's resolves_to_string says so", async (ctx) => {
    if (!bin) { ctx.skip(`skipped: ${why}`); return; }
    const r = rng(Number(process.env.SIS_JSON_SCHEMA_SEED ?? 20261206) + 2);
    const schemas = Array.from({ length: 2000 }, () => Buffer.from(rootSchemaText(r), "utf8"));
    const expected = await oracle(bin, schemas, "string");
    const bad: string[] = [];
    schemas.forEach((schema, i) => {
      const got = x.resolvesToString(put(schema), schema.length);
      const want = expected[i];
      const wantCode = want.ok ? (want.text.toString() === "true" ? 1 : 0) : -1;
      if (got !== wantCode) bad.push(`schema: ${schema}\nllama.cpp: ${want.text}\nours: ${got} ${s("error")}`);
    });
    expect(bad.slice(0, 5).join("\n\n")).toBe("");
  });

  it("random JSON documents are dumped as nlohmann dumps them", async (ctx) => {
    if (!bin) { ctx.skip(`skipped: ${why}`); return; }
    const r = rng(Number(process.env.SIS_JSON_SCHEMA_SEED ?? 20261206) + 1);
    const docs = [
      ...Array.from({ length: 3000 }, () => Buffer.from(numberText(r), "utf8")),
      ...Array.from({ length: 1000 }, () => Buffer.from(valueText(r, 0), "utf8")),
      // damaged documents: both must refuse the same ones
      ...Array.from({ length: 3000 }, () => {
        const b = Buffer.from(valueText(r, 0), "utf8");
        for (let k = r.int(3) + 1; k > 0 && b.length > 0; k--) {
          const at = r.int(b.length);
          b[at] = r.chance(0.5) ? r.int(256) : r.pick([0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x5c, 0x30, 0x2d, 0x2e, 0x65, 0x20, 0x0a]);
        }
        return b;
      }),
      ...Array.from({ length: 2000 }, () => { const b = Buffer.alloc(8); b.writeUInt32LE(r.int(2 ** 32), 0); b.writeUInt32LE(r.int(0x7ff00000), 4); return Buffer.from(String(b.readDoubleLE(0)), "utf8"); }),
    ];
    const expected = await oracle(bin, docs, "dump");
    const bad: string[] = [];
    docs.forEach((doc, i) => {
      const got = parse(doc);
      const want = expected[i];
      if (want.ok !== got.ok || (want.ok && want.text.toString() !== got.dump)) bad.push(`${doc}: llama.cpp ${want.text}, ours ${got.ok ? got.dump : got.error}`);
    });
    expect(bad.slice(0, 10).join("\n")).toBe("");
  });
});

// ---- the JSON reader (llm/json/parse.ts) and writer (llm/json/dump.ts) ----

describe("JSON documents", () => {
  it("keeps key order; a repeated key keeps its first place and takes the last value (as ordered_json)", () => {
    expect(parse('{"b": 1, "a": [true, false, null], "c": {}, "b": 3}').dump).toBe('{"b":3,"a":[true,false,null],"c":{}}');
    expect(parse(" \t\r\n[ ]\n").dump).toBe("[]");
  });

  it("tells integers (signed, unsigned) from floating-point numbers as nlohmann stores them", () => {
    const kinds: [string, string][] = [
      ["-5", "number int -5"], ["5", "number uint 5"], ["0", "number uint 0"], ["-0", "number int 0"],
      ["5.0", "number float 5.0"], ["-0.0", "number float -0.0"], ["1e2", "number float 100.0"],
      ["18446744073709551615", "number uint 18446744073709551615"], ["18446744073709551616", "number float 1.8446744073709552e+19"],
      ["-9223372036854775808", "number int -9223372036854775808"], ["-9223372036854775809", "number float -9.223372036854776e+18"],
      ["0.1", "number float 0.1"], ["1e-5", "number float 1e-05"], ["0.0001", "number float 0.0001"], ["1e15", "number float 1e+15"],
      ["123456789012345.6", "number float 123456789012345.6"], ["5e-324", "number float 5e-324"], ["1.7976931348623157e308", "number float 1.7976931348623157e+308"],
      ["0." + "0".repeat(1000) + "1", "number float 0.0"], ["1" + "0".repeat(400) + "e-400", "number float 1.0"],
      ["2.4703282292062328e-324", "number float 5e-324"], ["2.4703282292062327e-324", "number float 0.0"],
    ];
    for (const [doc, kind] of kinds) expect(parse(doc).kind, doc).toBe(kind);
    expect(parse("true").kind).toBe("boolean");
    expect(parse('"x"').kind).toBe("string");
  });

  it("decodes escapes and surrogate pairs; writes strings back as nlohmann does", () => {
    const b = Buffer.from('"a\\u00e9\\ud83d\\ude00\\n\\"\\\\\\/\\b\\f\\r\\t\\u0001\\u007f é😀"', "utf8");
    expect(x.parse(put(b), b.length, 128)).toBe(1);
    expect(s("stringValue")).toBe("aé😀\n\"\\/\b\f\r\t\u0001\u007f é😀");
    expect(s("dump")).toBe('"aé😀\\n\\"\\\\/\\b\\f\\r\\t\\u0001\u007f é😀"');
  });

  it("refuses bad documents with the line and column of the problem", () => {
    const bad: [string | Buffer, RegExp][] = [
      ["", /^line 1, column 1: expected a value, found end of input$/],
      ["   ", /^line 1, column 4: expected a value/],
      ['{"a":1,}', /^line 1, column 8: expected a string as object key, found '}'$/],
      ["[1,2", /^line 1, column 5: expected ',' or '\]' after an array element, found end of input$/],
      ["\n  [1, 2,, 3]", /^line 2, column 9: expected a value, found ','$/],
      ['{"é": x}', /^line 1, column 7: expected a value, found 'x'$/],
      ['{"a" 1}', /^line 1, column 6: expected ':' after an object key/],
      ['{"a": 1 "b": 2}', /^line 1, column 9: expected ',' or '}' after an object member/],
      ["01", /a number cannot have a leading zero/],
      ["1.", /^line 1, column 3: expected a digit after '\.'/],
      ["-", /expected a digit after '-'/],
      ["1e", /expected a digit in the exponent/],
      ["1e+", /expected a digit in the exponent/],
      ["+1", /expected a value, found '\+'/],
      [".5", /expected a value, found '\.'/],
      ["NaN", /expected a value, found 'N'/],
      ["nul", /^line 1, column 4: expected 'null', found end of input$/],
      ["tru e", /expected 'true'/],
      ["1e309", /^line 1, column 1: number 1e309 is out of range for a double$/],
      ["-1e400", /out of range/],
      ['"abc', /^line 1, column 5: unterminated string$/],
      ['"a\nb"', /^line 1, column 3: control character U\+000A in a string/],
      ['"\\x"', /invalid escape '\\x'/],
      ['"\\u12"', /expected four hex digits after '\\u'/],
      ['"\\ud800"', /^line 1, column 2: high surrogate \\uD800 must be followed by a low surrogate/],
      ['"\\ud800\\u0041"', /high surrogate \\uD800 must be followed by a low surrogate/],
      ['"\\udc00"', /^line 1, column 2: lone low surrogate \\uDC00/],
      [Buffer.from([0x22, 0xff, 0x22]), /^line 1, column 2: invalid UTF-8 in a string$/],
      [Buffer.from([0x22, 0xc0, 0x80, 0x22]), /invalid UTF-8/], // overlong
      [Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]), /invalid UTF-8/], // a surrogate written in UTF-8
      [Buffer.from([0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]), /invalid UTF-8/], // beyond U+10FFFF
      [Buffer.from([0x22, 0xe2, 0x82]), /invalid UTF-8/], // cut short
      [Buffer.from([0xff]), /expected a value, found byte 0xFF/],
      ["{} x", /^line 1, column 4: unexpected 'x' after the JSON value$/],
      ["// comment\n{}", /expected a value, found '\/'/],
      ["[1,]", /expected a value, found '\]'/],
    ];
    for (const [doc, re] of bad) {
      const r = parse(doc);
      expect(r.ok, String(doc)).toBe(false);
      expect(r.error, String(doc)).toMatch(re);
    }
    // a byte order mark is skipped, as nlohmann does
    expect(parse(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("[1]")])).dump).toBe("[1]");
  });

  it("limits nesting with an error instead of exhausting the stack", () => {
    expect(parse("[".repeat(128) + "]".repeat(128)).ok).toBe(true);
    expect(parse("[".repeat(129) + "]".repeat(129)).error).toBe("line 1, column 129: nesting deeper than 128 levels");
    expect(parse('{"a":'.repeat(100000)).error).toMatch(/nesting deeper than 128 levels/);
    expect(parse("[".repeat(20) + "]".repeat(20), 10).error).toMatch(/nesting deeper than 10 levels/);
  });
});

// ---- the converter's own behaviour where llama.cpp's tests say nothing ----

describe("JSON schema conversion", () => {
  it("jsonObjectGrammar() is the grammar of {\"type\": \"object\"}, the same as {} (any JSON object)", () => {
    const g = s("objectGrammar");
    expect(g).toBe(convert('{"type": "object"}').grammar);
    expect(g).toBe(convert("{}").grammar);
    expect(g).toMatch(/^root ::= object$/m);
    expect(g).toMatch(/^object ::= "\{" space/m);
  });

  it("names the schema location in errors", () => {
    const cases: [string, RegExp][] = [
      ['{"properties": {"a": {"type": "kaboom"}}}', /^JSON schema conversion failed:\n#\/properties\/a: unrecognized schema \{"type":"kaboom"\} \(unknown type "kaboom"\)$/],
      ['{"items": {"type": 123}}', /#\/items: unrecognized schema \{"type":123\} \("type" must be a type name/],
      ['{"anyOf": [{"type": "string"}, true]}', /#\/anyOf\/1: unrecognized schema true \(a schema must be an object\)/],
      ['{"type": "string", "pattern": "^(a$"}', /#\/pattern: invalid pattern \^\(a\$: unbalanced parentheses/],
      ['{"properties": {"a/b": {"format": 5}}}', /#\/properties\/a~1b: "format" must be a string, not a number/],
      ['{"type": "array", "items": {}, "minItems": "2"}', /#: "minItems" must be a number, not string/],
      ['{"properties": {"x": {"$ref": "https://example.com/s.json"}}}', /#\/properties\/x: remote \$ref https:\/\/example.com\/s.json is not supported/],
      ['{"$ref": "other.json#/a"}', /#: unsupported \$ref other.json#\/a/],
      ['{"$ref": "#/$defs/b", "$defs": {"a": {}}}', /#: cannot resolve \$ref #\/\$defs\/b: b not in \{"a":\{\}\}/],
      ['{"$ref": "#/$defs/a", "$defs": {"a": {"properties": {"p": {"$ref": 5}}}}}', /#\/\$defs\/a\/properties\/p: "\$ref" must be a string/],
      ['{"type": "integer", "minimum": -9223372036854775808}', /#: integer bounds out of range/],
      // llama.cpp follows this cycle until its stack runs out
      ['{"allOf": [{"$ref": "#/$defs/a"}], "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}', /#\/\$defs\/b: \$ref #\/\$defs\/a leads back to itself/],
      ["{\"type\": ", /^invalid JSON schema: line 1, column 10: expected a value, found end of input$/],
    ];
    for (const [schema, re] of cases) {
      const r = convert(schema);
      expect(r.ok, schema).toBe(false);
      expect(r.error, schema).toMatch(re);
      expect(r.grammar).toBe("");
    }
  });

  it("reports what it does not enforce as warnings", () => {
    const r = convert('{"properties": {"a": {"type": "string", "pattern": "^\\\\w+$"}}}');
    expect(r.ok).toBe(true);
    expect(r.warnings).toBe("#/properties/a/pattern: pattern ^\\w+$ is not supported (unsupported escape: \\w), accepting any string");
    expect(convert('{"type": "string", "pattern": "^a+$"}').warnings).toBe("");
  });

  it("dotall: '.' matches any character", () => {
    expect(convert('{"type": "string", "pattern": "^a.$"}').grammar).toMatch(/^dot ::= \[\^\\x0A\\x0D\]$/m);
    expect(convert('{"type": "string", "pattern": "^a.$"}', true).grammar).toMatch(/^dot ::= \[\\U00000000-\\U0010FFFF\]$/m);
  });

  it("keeps a pattern's bytes as llama.cpp splits them, and the text readable", () => {
    // 'é' then '+': llama.cpp repeats the character's last byte only
    const r = convert('{"type": "string", "pattern": "^é+$"}');
    expect(r.bytes.includes(Buffer.from([0x22, 0xc3, 0x22, 0x20, 0x22, 0xa9, 0x22, 0x2b]))).toBe(true);
    expect(r.grammar).toContain('"\uFFFD" "\uFFFD"+');
    expect(convert('{"const": "日本 😀"}').grammar).toMatch(/^root ::= "\\"日本 😀\\""$/m);
    // the keys additionalProperties excludes: a trie of their bytes in x86-64's std::map<char> order (signed: 0xC3 before 'a')
    const k = convert('{"properties": {"é": {}, "a": {}}, "additionalProperties": true}').bytes;
    const line = k.subarray(k.indexOf("additional-k ::= "), k.indexOf("\n", k.indexOf("additional-k ::= ")));
    expect(line.equals(Buffer.concat([Buffer.from('additional-k ::= ["] ( ['), Buffer.from([0xc3]), Buffer.from("] (["), Buffer.from([0xa9]),
      Buffer.from('] char+ | [^"'), Buffer.from([0xa9]), Buffer.from('] char*) | [a] char+ | [^"'), Buffer.from([0xc3]), Buffer.from('a] char* )? ["]')]))).toBe(true);
  });

  it("handles large and deep schemas without trapping", () => {
    // nested to the JSON limit
    let deep = "{}";
    for (let i = 0; i < 60; i++) deep = `{"type": "array", "items": ${deep}}`;
    expect(convert(deep).ok).toBe(true);
    let tooDeep = "{}";
    for (let i = 0; i < 200; i++) tooDeep = `{"items": ${tooDeep}}`;
    expect(convert(tooDeep).error).toMatch(/^invalid JSON schema: .*nesting deeper than 128 levels/);
    // a long chain of $refs (each $ref is resolved: none of them is at the root, whose own $ref would hide $defs)
    const chain = (n: number) => `{"properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": {` +
      Array.from({ length: n }, (_, i) => `"d${i}": ${i < n - 1 ? `{"$ref": "#/$defs/d${i + 1}"}` : '{"type": "string"}'}`).join(", ") + "}}";
    expect(convert(chain(300)).error).toMatch(/^JSON schema conversion failed:\n#\/\$defs\/d25\d: schemas nested deeper than 256 levels/);
    const ok = convert(chain(100)).grammar;
    expect(ok).toMatch(/^ref-defs-d0 ::= ref-defs-d1$/m);
    expect(ok).toMatch(/^ref-defs-d98 ::= string$/m);
    // a very long property name next to additionalProperties (the key rule is a trie of its bytes)
    const long = "p".repeat(20000);
    const g = convert(`{"properties": {"${long}": {}}, "additionalProperties": true}`);
    expect(g.ok).toBe(true);
    expect(g.grammar.length).toBeGreaterThan(20000 * 3);
    // many optional properties (every suffix gets its chain of "-rest" rules)
    const props = Array.from({ length: 300 }, (_, i) => `"k${i}": {"type": "integer"}`).join(", ");
    const t0 = performance.now();
    const many = convert(`{"properties": {${props}}}`);
    expect(many.ok).toBe(true);
    expect(many.grammar).toMatch(/^k298-rest ::= \( "," space k299-kv \)\?$/m);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it("never traps on damaged schemas", () => {
    const r = rng(99);
    const base = Array.from({ length: 50 }, () => Buffer.from(rootSchemaText(r), "utf8"));
    for (let i = 0; i < 3000; i++) {
      const got = convert(damage(r, r.pick(base))); // a trap would throw here
      expect(got.ok ? got.grammar.length > 0 : got.error.length > 0).toBe(true);
    }
  });
});
