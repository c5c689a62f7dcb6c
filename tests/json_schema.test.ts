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

describe("llama.cpp's test-json-schema-to-grammar cases", () => {
  if (!SRC) {
    it.skip(`skipped: llama.cpp's source is unavailable (${llamaSourceUnavailable()})`, () => {});
    return;
  }
  it("finds the cases", () => {
    expect(CASES.length).toBeGreaterThan(60);
    expect(CASES.filter((c) => c.status === "FAILURE").length).toBeGreaterThan(0);
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
// that converts NUL-separated schemas from stdin ("dump" mode: parses and dumps JSON instead).
// Only the three string helpers the converter takes from common.h and ggml's assert macro are
// stood in for. Built once under build/ref/json-schema-oracle (keyed by the sources' hash).

const ORACLE_DIR = join(ROOT, "build/ref/json-schema-oracle");
const ORACLE_MAIN = `#include "json-schema-to-grammar.h"
#include "json.h"
#include <iostream>
#include <iterator>
#include <string>
int main(int argc, char ** argv) {
    bool dump = argc > 1 && std::string(argv[1]) == "dump";
    std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    size_t start = 0;
    while (start < all.size()) {
        size_t end = all.find('\\0', start);
        if (end == std::string::npos) end = all.size();
        std::string text = all.substr(start, end - start);
        start = end + 1;
        std::string out;
        try {
            out = "OK\\n" + (dump ? common_json::parse(text).dump() : json_schema_to_grammar(common_json::parse(text), true));
        } catch (const std::exception & e) {
            out = std::string("ERR\\n") + e.what();
        }
        std::cout << out << '\\0' << std::flush;
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
/** llama.cpp's results for the documents (converted, or dumped in "dump" mode). A document it
 *  crashes on (its allOf follows a $ref cycle until the stack runs out) counts as a failure. */
async function oracle(bin: string, docs: Buffer[], mode = ""): Promise<OracleOut[]> {
  const res: OracleOut[] = [];
  while (res.length < docs.length) {
    const rest = docs.slice(res.length);
    let out: Buffer;
    let crashed = false;
    try {
      out = await run(bin, mode ? [mode] : [], Buffer.concat(rest.flatMap((d) => [d, Buffer.from([0])])));
    } catch (e: any) {
      out = e.stdout ?? Buffer.alloc(0);
      crashed = true;
    }
    let start = 0;
    while (start < out.length) {
      const end = out.indexOf(0, start);
      if (end < 0) break;
      const chunk = out.subarray(start, end);
      const nl = chunk.indexOf(10);
      res.push({ ok: chunk.subarray(0, nl).toString() === "OK", text: Buffer.from(chunk.subarray(nl + 1)) });
      start = end + 1;
    }
    if (crashed) res.push({ ok: false, text: Buffer.from("(crashed)") });
  }
  return res;
}

// ---- random schemas (seeded), written as JSON text so that number spellings, key order and
// duplicate keys are under control ----

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

describe("against llama.cpp's own converter (built from its source)", () => {
  let bin = "";
  let why = "";
  beforeAll(async () => { ({ bin, why } = await buildOracle()); }, 300_000);

  it("random schemas give llama.cpp's grammar, or an error where it fails", async (ctx) => {
    if (!bin) { ctx.skip(`skipped: ${why}`); return; }
    const r = rng(Number(process.env.SIS_JSON_SCHEMA_SEED ?? 20261206));
    const schemas = Array.from({ length: 3000 }, () => Buffer.from(rootSchemaText(r), "utf8"));
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

  it("random JSON documents are dumped as nlohmann dumps them", async (ctx) => {
    if (!bin) { ctx.skip(`skipped: ${why}`); return; }
    const r = rng(7);
    const docs = [
      ...Array.from({ length: 3000 }, () => Buffer.from(numberText(r), "utf8")),
      ...Array.from({ length: 1000 }, () => Buffer.from(valueText(r, 0), "utf8")),
      ...Array.from({ length: 2000 }, () => { const b = Buffer.alloc(8); b.writeDoubleLE(Math.random()); b.writeUInt32LE(r.int(2 ** 32), 0); b.writeUInt32LE(r.int(0x7ff00000), 4); return Buffer.from(String(b.readDoubleLE(0)), "utf8"); }),
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
