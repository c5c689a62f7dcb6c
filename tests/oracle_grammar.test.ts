// Structured output against llama.cpp: greedy generation constrained by GBNF grammars and
// JSON schemas gives llama.cpp's tokens (llama-run with its grammar sampler, in the order
// node-llama-cpp samples: the argmax checked alone first, every token filtered only when the
// grammar refuses it), on sis-scribe-15m and on a synthetic model with GPT-2's vocabulary.
// Every output matches its grammar, and so do 150 seeded sampled runs.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { LLM } from "../tools/lib/llm.mjs";
import { ROOT, compile } from "../tools/lib/asbuild.mjs";
import { instantiate, readAsString } from "../tools/lib/wasmhost.mjs";
import { llamaRun, ggmlRefUnavailable } from "../tools/ref/ggmlref.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING } from "./support/gguf_fixture.mjs";

const DIR = resolve(ROOT, "build", "test-models");
const SCRIBE = resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf");
const GPT2_MODEL = resolve(DIR, "grammar-gpt2-q8_0.gguf");
const N = 48;

type Case = { name: string; prompt: string; grammar?: string; schema?: object; valid: (text: string) => boolean };
const json = (t: string) => { try { return JSON.parse(t); } catch { return undefined; } };
const CASES: Case[] = [
  { name: "a yes/no answer", prompt: "Is the LORD good?", grammar: `root ::= ("yes" | "no") "."`, valid: (t) => /^(yes|no)\.$/.test(t) },
  { name: "a number", prompt: "The number of the tribes is", grammar: `root ::= " "? "-"? [0-9]+ ("." [0-9]+)?`, valid: (t) => /^ ?-?\d+(\.\d+)?$/.test(t) },
  { name: "a list of verses", prompt: "And God said",
    grammar: `root ::= verse verse verse?\nverse ::= [0-9]{1,2} ":" [0-9]{1,2} " " [A-Za-z ,;]{1,30} ".\\n"`,
    valid: (t) => /^(\d{1,2}:\d{1,2} [A-Za-z ,;]{1,30}\.\n){2,3}$/.test(t) },
  { name: "text with non-ASCII characters", prompt: "He said", grammar: `root ::= "« " [a-zéèà ]{1,24} " »"`, valid: (t) => /^« [a-zéèà ]{1,24} »$/.test(t) },
  { name: "a date (format)", prompt: "In the year", schema: { type: "string", format: "date" },
    valid: (t) => /^"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"$/.test(t) },
  { name: "a regex pattern", prompt: "The book of", schema: { type: "string", pattern: "^[A-Z][a-z]+ [0-9]{1,3}$" },
    valid: (t) => /^"[A-Z][a-z]+ [0-9]{1,3}"$/.test(t) },
  { name: "an enum", prompt: "The colour of the sky is", schema: { enum: ["red", "green", "blue"] },
    valid: (t) => ["red", "green", "blue"].includes(json(t)) },
  { name: "an object with fields", prompt: "And God said",
    schema: { type: "object", properties: { name: { type: "string", maxLength: 24 }, age: { type: "integer", minimum: 0, maximum: 150 } }, required: ["name", "age"] },
    valid: (t) => { const v = json(t); return !!v && typeof v.name === "string" && v.name.length <= 24 && Number.isInteger(v.age) && v.age >= 0 && v.age <= 150; } },
  { name: "an array of integers", prompt: "The numbers are", schema: { type: "array", items: { type: "integer" }, minItems: 2, maxItems: 4 },
    valid: (t) => { const v = json(t); return Array.isArray(v) && v.length >= 2 && v.length <= 4 && v.every(Number.isInteger); } },
  { name: "nested objects", prompt: "In the beginning",
    schema: { type: "object", properties: { book: { type: "object", properties: { title: { type: "string", maxLength: 16 }, chapters: { type: "integer" } }, required: ["title", "chapters"] } }, required: ["book"] },
    valid: (t) => { const v = json(t); return !!v && !!v.book && typeof v.book.title === "string" && Number.isInteger(v.book.chapters); } },
  { name: "one of two types", prompt: "It is", schema: { oneOf: [{ type: "boolean" }, { type: "null" }] },
    valid: (t) => { const v = json(t); return v === true || v === false || v === null; } },
  { name: "any JSON object (--json)", prompt: "And the LORD spake", schema: { type: "object" },
    valid: (t) => { const v = json(t); return !!v && typeof v === "object" && !Array.isArray(v); } },
];

const why = ggmlRefUnavailable() || (HAVE_SHARED ? "" : SHARED_MISSING);
describe.skipIf(!!why)("grammar-constrained generation vs llama.cpp" + (why ? ` (${why})` : ""), () => {
  let llm: any;
  let g: any; // tests/wasm/grammar.ts: the matcher alone, for checking texts
  beforeAll(async () => {
    llm = await LLM.create();
    g = await instantiate(await compile("tests/wasm/grammar.ts"));
    mkdirSync(DIR, { recursive: true });
    writeFileSync(GPT2_MODEL, llm.mkmodel({ vocab: resolve(SHARED, "vocab", "ggml-vocab-gpt-2.gguf"), dim: 128, layers: 2, heads: 4,
      kvHeads: 2, ff: 256, type: "Q8_0", ctx: 256, seed: 11 }));
  });
  afterAll(() => llm?.unload());

  /** The GBNF text of a case: its grammar, or what llama.cpp's converter makes of its schema. */
  function grammarOf(c: Case): string {
    if (c.grammar) return c.grammar;
    expect(llm.setJsonSchema(JSON.stringify(c.schema))).toBe("");
    return llm.currentGrammarText();
  }

  /** Whether `text` is in the grammar's language (complete) or a prefix of it (!complete). */
  function matches(grammar: string, text: string, complete: boolean): boolean {
    const x = g.exports;
    const scratch = Number(x.allocRegion(1n << 20n));
    try {
      const gb = Buffer.from(grammar), rb = Buffer.from("root"), tb = Buffer.from(text);
      new Uint8Array(g.memory.buffer, scratch, gb.length).set(gb);
      new Uint8Array(g.memory.buffer, scratch + gb.length, rb.length).set(rb);
      if (readAsString(g.memory, x.build(scratch, gb.length, scratch + gb.length, rb.length)) !== "") return false;
      new Uint8Array(g.memory.buffer, scratch, tb.length).set(tb);
      if (tb.length > 0 && !x.acceptToken(-1, scratch, tb.length)) return false;
      return !complete || x.canEnd() === 1;
    } finally {
      x.freeRegion(scratch);
    }
  }

  for (const [label, model] of [["sis-scribe-15m Q4_0", SCRIBE], ["synthetic, GPT-2 vocabulary, Q8_0", GPT2_MODEL]]) {
    describe(label, () => {
      beforeAll(() => expect(llm.load(model, 256)).toBe(""));

      for (const c of CASES) {
        it(`${c.name}: llama.cpp's greedy tokens, and a valid output`, () => {
          const grammar = grammarOf(c);
          const toks = llm.tokenize(c.prompt);
          const ref = llamaRun(model, toks, { gen: N, ctx: 256, threads: 1, grammar });
          const r = llm.generate(c.prompt, { temperature: 0, maxTokens: N, grammar });
          const eog = ref.tokens.length > 0 && ref.tokens.length <= N && llm.isEog(ref.tokens[ref.tokens.length - 1]);
          expect(r.tokens).toEqual(eog ? ref.tokens.slice(0, -1) : ref.tokens);
          expect(r.end).toBe(eog ? "end of text" : "max tokens");
          expect(matches(grammar, r.text, r.end === "end of text"), r.text).toBe(true);
          if (r.end === "end of text") expect(c.valid(r.text), r.text).toBe(true);
        });
      }
    });
  }

  // (about 50 s on a quiet 2-core machine: the time limit leaves room for a busy one)
  it("150 seeded sampled runs all follow their grammar (sis-scribe-15m)", async () => {
    expect(llm.load(SCRIBE, 256)).toBe("");
    let complete = 0;
    for (let i = 0; i < 150; i++) {
      const c = CASES[i % CASES.length];
      const grammar = grammarOf(c);
      await new Promise((res) => setImmediate(res)); // a minute's work: let the worker answer vitest between runs
      const r = llm.generate(c.prompt, { temperature: 0.8, seed: 1000 + i, maxTokens: 96, grammar });
      expect(["end of text", "max tokens"]).toContain(r.end);
      expect(matches(grammar, r.text, r.end === "end of text"), `${c.name} seed ${1000 + i}: ${JSON.stringify(r.text)}`).toBe(true);
      if (r.end === "end of text") {
        expect(c.valid(r.text), `${c.name}: ${JSON.stringify(r.text)}`).toBe(true);
        complete++;
      }
    }
    expect(complete).toBeGreaterThan(75);
  }, 300_000);
});
