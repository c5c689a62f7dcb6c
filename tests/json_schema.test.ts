// JSON Schema -> GBNF (llm/grammar/json_schema.ts) against llama.cpp's own test cases, and
// the JSON reader/writer it stands on (llm/json).
//
// The cases are read at test time from tests/test-json-schema-to-grammar.cpp of the llama.cpp
// release node-llama-cpp was built from (tools/ref/llama_source.mjs): every test({...}) of
// test_all and every run({...}) of its C++-only section. As there, a SUCCESS case must give
// exactly the expected grammar once both are trimmed (outer whitespace and each line's
// indentation removed), and a FAILURE case must give an error.
import { describe, it, expect, beforeAll } from "vitest";
import { compile } from "../tools/lib/asbuild.mjs";
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
