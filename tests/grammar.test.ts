// llm/grammar: GBNF parsed as llama.cpp parses it, and text matched as its matcher matches
// it. The cases are llama.cpp's own (tests/test-grammar-parser.cpp and
// tests/test-grammar-integration.cpp), read from its source bundle at test time.
import { TARGETS } from "../tools/fuzz/targets.mjs";
import { describe, it, expect, beforeAll } from "vitest";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";
import { llamaSourceFile, llamaSourceUnavailable } from "../tools/ref/llama_source.mjs";
import { cppCalls } from "./support/cpp_cases.mjs";
import { readAsString } from "../tools/lib/wasmhost.mjs";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SHARED, HAVE_SHARED } from "./support/gguf_fixture.mjs";
import { shrunkHeader } from "../tools/lib/gguf_edit.mjs";

const TYPES: Record<string, number> = {
  LLAMA_GRETYPE_END: 0, LLAMA_GRETYPE_ALT: 1, LLAMA_GRETYPE_RULE_REF: 2, LLAMA_GRETYPE_CHAR: 3, LLAMA_GRETYPE_CHAR_NOT: 4,
  LLAMA_GRETYPE_CHAR_RNG_UPPER: 5, LLAMA_GRETYPE_CHAR_ALT: 6, LLAMA_GRETYPE_CHAR_ANY: 7, LLAMA_GRETYPE_TOKEN: 8, LLAMA_GRETYPE_TOKEN_NOT: 9,
};

const why = llamaSourceUnavailable();
const parserSrc = why ? "" : llamaSourceFile("tests/test-grammar-parser.cpp")!;
const integrationSrc = why ? "" : llamaSourceFile("tests/test-grammar-integration.cpp")!;

let inst: any, x: any, scratch = 0;
const SCRATCH = 1 << 20;
beforeAll(async () => {
  inst = await instantiate(await compile("tests/wasm/grammar.ts"));
  x = inst.exports;
  scratch = Number(x.allocRegion(BigInt(SCRATCH)));
});

function put(b: Buffer, at = 0): [number, number] {
  if (b.length + at > SCRATCH) throw new Error("text too long for the scratch buffer");
  new Uint8Array(inst.memory.buffer, scratch + at, b.length).set(b);
  return [scratch + at, b.length];
}
const bytes = (s: string | Buffer) => (typeof s === "string" ? Buffer.from(s, "utf8") : s);
const text = (ptr: number) => readAsString(inst.memory, ptr);

/** "error: ..." or { symbols: [name, id][] sorted by name, elements: [type, value][] } as the C++ test sees them. */
function parse(g: string | Buffer) {
  const out: string = text(x.parseDump(...put(bytes(g))));
  if (out.startsWith("error: ")) return out;
  const [syms, rules] = out.split("--\n");
  const symbols = syms.split("\n").filter(Boolean).map((l) => { const [n, id] = l.split(" "); return [n, Number(id)]; })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const elements = rules.split("\n").filter(Boolean).map((l) => l.split(" ").map(Number));
  return { symbols, elements };
}

function build(g: string | Buffer, root = "root"): string {
  const gb = bytes(g), rb = Buffer.from(root);
  const [gp, gn] = put(gb);
  const [rp, rn] = put(rb, gb.length);
  return text(x.build(gp, gn, rp, rn));
}

/** llama.cpp's match_string: each marked token by id, each other code point as its own "token" 0. */
function matches(input: Buffer): boolean {
  for (let i = 0; i < input.length;) {
    let id = 0, piece: Buffer;
    if (input[i] === 0xff) {
      id = input.readUInt32BE(i + 1);
      piece = Buffer.from(`<[${id}]>`);
      i += 5;
    } else {
      const lead = input[i];
      const len = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      piece = input.subarray(i, i + len);
      i += len;
    }
    if (!x.acceptToken(id, ...put(piece))) return false;
  }
  return x.canEnd() === 1;
}

describe.skipIf(!!why)("GBNF parser: llama.cpp's tests/test-grammar-parser.cpp", () => {
  const parsing = cppCalls(parserSrc, "verify_parsing");
  const failing = cppCalls(parserSrc, "verify_failure");

  it("found llama.cpp's cases", () => {
    expect(parsing.length).toBeGreaterThan(15);
    expect(failing.length).toBeGreaterThan(5);
  });

  it.each(parsing.map((c, i) => [i, c[0].toString("utf8").trim().slice(0, 60), c]))("parses case %i: %s", (_i, _name, c: any) => {
    const [grammar, symbols, elements] = c;
    const r = parse(grammar);
    expect(typeof r === "string" ? r : "").toBe("");
    const got = r as { symbols: any[]; elements: number[][] };
    expect(got.symbols).toEqual(symbols.map((s: any[]) => [s[0].toString("utf8"), s[1]]));
    expect(got.elements).toEqual(elements.map((e: any[]) => [TYPES[e[0].id], e[1]]));
  });

  it.each(failing.map((c, i) => [i, c[0].toString("utf8").trim().slice(0, 60), c]))("refuses case %i: %s", (_i, _name, c: any) => {
    expect(parse(c[0])).toMatch(/^error: line \d+, column \d+ /);
  });
});

describe.skipIf(!!why)("GBNF matcher: llama.cpp's tests/test-grammar-integration.cpp", () => {
  const grammars = cppCalls(integrationSrc, "test_grammar");

  it("found llama.cpp's cases", () => expect(grammars.length).toBeGreaterThanOrEqual(12));

  it.each(grammars.map((c) => [c[0].toString("utf8"), c]))("%s", (_name, c: any) => {
    const [, grammar, passing, failing] = c;
    for (const s of passing) {
      expect(build(grammar)).toBe("");
      expect([s.toString("utf8"), matches(s)]).toEqual([s.toString("utf8"), true]);
    }
    for (const s of failing) {
      expect(build(grammar)).toBe("");
      expect([s.toString("utf8"), matches(s)]).toEqual([s.toString("utf8"), false]);
    }
  });

  const schemas = cppCalls(integrationSrc, "test_schema");
  it("found llama.cpp's schema cases", () => expect(schemas.length).toBeGreaterThanOrEqual(20));

  // test_schema: llama.cpp's converter (llm/grammar/json_schema.ts), then the matcher
  it.each(schemas.map((c) => [c[0].toString("utf8"), c]))("schema: %s", (_name, c: any) => {
    const [, schema, passing, failing] = c;
    const schemaBytes = bytes(schema);
    for (const [list, want] of [[passing, true], [failing, false]] as const) {
      for (const s of list) {
        expect(text(x.buildSchema(...put(schemaBytes)))).toBe("");
        expect([s.toString("utf8"), matches(s)]).toEqual([s.toString("utf8"), want]);
      }
    }
  });

  // test_failure_*: grammars llama.cpp refuses to build
  it("refuses a grammar without root, with an undefined rule, or left-recursive", () => {
    expect(build(`rot ::= expr\nexpr ::= term ("+" term)*\nterm ::= number\nnumber ::= [0-9]+`)).toBe("the grammar has no 'root' rule");
    expect(build(`root ::= expr\nexpr ::= term ("+" term)*\nterm ::= numero\nnumber ::= [0-9]+`)).toMatch(/rule 'numero' is used but not defined/);
    expect(build(`root ::= "a" | root "a"`)).toMatch(/left recursion: rule 'root'/);
    expect(build(`root ::= asdf\nasdf ::= "a" | asdf "a"`)).toMatch(/left recursion: rule 'asdf'/);
    expect(build(`root ::= asdf\nasdf ::= "a" | foo "b"\nfoo ::= "c" | asdf "d" | "e"`)).toMatch(/left recursion/);
    expect(build(`root ::= asdf\nasdf ::= "a" | foo "b"\nfoo ::= "c" | bar "d" | "e"\nbar ::= "f" | baz "g" | ""\nbaz ::= asdf`))
      .toMatch(/left recursion/);
    // a custom start rule
    expect(build(`first ::= "a" "b"`, "first")).toBe("");
    expect(matches(Buffer.from("ab"))).toBe(true);
    expect(build(`first ::= "a"`, "root")).toBe("the grammar has no 'root' rule");
  });
});

describe("GBNF errors: line, column and what was expected, never a trap", () => {
  it("names the place", () => {
    expect(build(`root ::= "a"\nfoo ::= [a-`)).toBe("line 2, column 12 (at the end): unexpected end of input in a character class");
    expect(build(`root ::= "a" )`)).toBe("line 1, column 14 (at ')'): expecting a newline or the end");
    expect(build(`root ::= "\\q"`)).toBe("line 1, column 11 (at '\\q\"'): unknown escape '\\q'");
    expect(build(`root = "a"`)).toBe("line 1, column 6 (at '= \"a\"'): expecting ::=");
    expect(build(`root ::= "a"{3,1}`)).toMatch(/maximum repetition count is below the minimum/);
    expect(build(`root ::= "a"{99999999999999999999999}`)).toMatch(/number too large/);
    expect(build(`root ::= <foo>`)).toMatch(/needs a model's vocabulary/);
    expect(build(``)).toBe("the grammar has no rules");
  });

  it("refuses repetitions that would expand the grammar past 131072 elements", () => {
    // each operator of a chain copies all before it (llama.cpp's expansion): quadratic
    expect(build(`root ::= .${"+".repeat(1000)}`)).toMatch(/column 519 .*repetitions would expand the grammar past 131072 elements/);
    // a literal is one item: x{n} holds n copies of its characters (a group is one reference)
    expect(build(`root ::= "${"a".repeat(100)}"{1999}`)).toMatch(/past 131072 elements/);
    expect(build(`root ::= "${"a".repeat(100)}"{0,1999}`)).toMatch(/past 131072 elements/);
    expect(build(`root ::= "${"a".repeat(50)}"{1999}`)).toBe("");
    expect(build(`root ::= ("${"a".repeat(200)}" [a-z]){1999}`)).toBe("");
  });

  it("refuses deep nesting instead of overflowing the stack", () => {
    expect(build(`root ::= ${"(".repeat(5000)}"a"${")".repeat(5000)}`)).toMatch(/groups nested more than 256 deep/);
    const chain = Array.from({ length: 3000 }, (_, i) => `r${i} ::= r${i + 1} "x"`).join("\n");
    expect(build(`root ::= r0\n${chain}\nr3000 ::= "y"`)).toMatch(/more than 1000 deep/);
  });

  it("stops a grammar whose steps need too many parser stacks, with a message", () => {
    // a repetition of an item that may be empty keeps every level alive at once: each step
    // costs the square of the count (llm/grammar/stacks.ts StackWork)
    for (const g of [`root ::= ("a"?){0,550}`, `root ::= (("a"?){0,40}){0,40}`]) {
      expect(build(g)).toBe("");
      expect(matches(Buffer.from("aa"))).toBe(false);
      expect(text(x.matcherError())).toMatch(/needs more than 32768 parser stacks \(or 524288 stack elements, or 16777216 token checks\) for one step/);
    }
    // a chain of postfix operators nests a rule per operator: every stack is as deep as the chain
    expect(build(`root ::= .${"+".repeat(500)}`)).toBe("");
    expect(matches(Buffer.from("aa"))).toBe(false);
    expect(text(x.matcherError())).toMatch(/needs more than 32768 parser stacks \(or 524288 stack elements, or 16777216 token checks\)/);
    // a smaller one is followed as before
    expect(build(`root ::= ("a"?){0,100} "b"`)).toBe("");
    expect(matches(Buffer.from("aaab"))).toBe(true);
    expect(build(`root ::= ("a"?){0,100} "b"`)).toBe("");
    expect(matches(Buffer.from("a".repeat(101) + "b"))).toBe(false);
  });

  it("random bytes give an error or a grammar, never a trap", () => {
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
    const alphabet = Buffer.from('root::=|"[]^-(){},*+?.<>!#\\xuU0129az \n\t\r');
    for (let i = 0; i < 3000; i++) {
      const n = Math.floor(rnd() * 40);
      const b = Buffer.alloc(n);
      for (let j = 0; j < n; j++) b[j] = rnd() < 0.9 ? alphabet[Math.floor(rnd() * alphabet.length)] : Math.floor(rnd() * 256);
      const r = build(Buffer.concat([Buffer.from("root ::= "), b]));
      expect(typeof r).toBe("string");
    }
  });
});

// The trie (llm/grammar/token_trie.ts) must give llama.cpp's verdicts: random walks through
// grammars with real vocabularies, every step's allowed set compared token by token with the
// one-by-one walk that follows llama.cpp's reject_candidates.
describe.skipIf(!HAVE_SHARED)("allowed tokens: the trie against llama.cpp's token-by-token walk", () => {
  const GRAMMARS = [
    String.raw`root ::= "{" ws "\"name\"" ws ":" ws str ws "," ws "\"n\"" ws ":" ws [0-9]+ ws "}"
str ::= "\"" ( [^"\\] | "\\" ["\\nt] )* "\""
ws ::= [ \t\n]*`,
    `root ::= ("yes" | "no" | "maybe") ("." | "!")?`,
    `root ::= [^\\x00-\\x7f]+ " " [a-z]{2,5}`, // non-ASCII first: tokens that end inside a character
    `root ::= (. | "\\n")* "end"`,
    `root ::= "x" <[2]> "y" | !<[3]> "z"`,
    `root ::= [0-9]{1,3} ("," [0-9]{3})* ("." [0-9]+)?`,
    // several positive classes on top at once, wide and overlapping (the walk's merge of their children)
    `root ::= ([a-zA-Z\u00C0-\uFFFF] [a-z]? | [0-9a-f] "x"? | "x" | [\u0100-\u4000]{2})+`,
  ];
  const loadVocab = (bytes: Buffer) => {
    const base = Number(x.allocRegion(BigInt(bytes.length)));
    new Uint8Array(inst.memory.buffer, base, bytes.length).set(bytes);
    expect(text(x.loadVocab(base, BigInt(bytes.length)))).toBe("");
    x.freeRegion(base);
  };
  /** Random walks of up to 12 steps through each grammar; the steps taken. */
  const walks = async (grammars: string[], count: number) => {
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
    let steps = 0;
    for (const g of grammars) {
      for (let walk = 0; walk < count; walk++) {
        await new Promise((res) => setImmediate(res)); // long work: let the worker answer vitest
        expect(text(x.buildWithVocab(...put(Buffer.from(g))))).toBe("");
        for (let step = 0; step < 12; step++) {
          const n = x.allowedChecked();
          expect(n).not.toBe(-1);
          steps++;
          if (n === 0) break;
          const t = x.allowedAt(rnd(n));
          if (x.isEog(t)) break;
          expect(x.acceptId(t)).toBe(1);
        }
      }
    }
    return steps;
  };
  for (const vocabFile of ["models/sis-scribe-15m-q4_0.gguf", "vocab/ggml-vocab-gpt-2.gguf", "vocab/ggml-vocab-llama-bpe.gguf"]) {
    it(`agrees at every step of random walks (${vocabFile})`, async () => {
      loadVocab(readFileSync(join(SHARED, vocabFile)));
      const steps = await walks(GRAMMARS, vocabFile.includes("llama-bpe") ? 1 : 3); // the reference walk is slow on 128k tokens
      expect(steps).toBeGreaterThan(vocabFile.includes("llama-bpe") ? 30 : 100);
    });
  }

  it("stops the token-by-token walk past 16777216 checks, with a message", () => {
    // 40 overlapping ranges: a token's stacks double at each character (14 s on this
    // vocabulary before the limit); the trie walk, which merges them, lists the same tokens in ms
    loadVocab(readFileSync(join(SHARED, "vocab/ggml-vocab-llama-bpe.gguf")));
    const classes = Array.from({ length: 40 }, (_, i) => `[\\x${(0x41 + i).toString(16)}-\\x${(0x42 + i).toString(16)}] "${i % 10}"?`);
    expect(text(x.buildWithVocab(...put(Buffer.from(`root ::= (${classes.join(" | ")})+`))))).toBe("");
    expect(x.allowedOneByOne()).toBe(0);
    expect(text(x.matcherError())).toMatch(/or 16777216 token checks\) for one step/);
  });

  it("a single-token check past its share of work asks the trie walk, and says the same", () => {
    // a fuzzed grammar (gbnf finding 6, kept in tests/fuzz/gbnf/findings) whose fifth token
    // check, following each of its stacks through the token's characters, cost 43 thousand
    // stacks' work (0.2 s in V8); past MAX_CHECKS_PER_TOKEN the check takes the answer from the
    // walk of every token instead, which merges the stacks
    const input = readFileSync("tests/fuzz/gbnf/findings/timeout-one-token-check-2332ms");
    const g = input.indexOf(0);
    loadVocab(TARGETS.gbnf.vocab());
    expect(text(x.buildWithVocab(...put(input.subarray(0, g))))).toBe("");
    const size = x.allowedChecked();
    expect(size).toBeGreaterThan(0); // the trie, the one-by-one walk and allows agree
    let steps = 0, refused = 0;
    for (let i = g + 1; i + 2 <= Math.min(input.length, g + 65); i += 2) {
      const id = input.readUInt16LE(i) % 512;
      const w = x.checkWork(id);
      expect(Math.abs(w), `token ${id}`).toBeLessThan(4096); // MAX_CHECKS_PER_TOKEN / 64 = 1024, and the walk
      if (w < 0) { refused++; break; }
      expect(x.acceptId(id)).toBeTruthy();
      steps++;
    }
    expect([steps, refused]).toEqual([4, 1]);
    expect(x.allowedChecked()).toBeGreaterThanOrEqual(0);
    expect(text(x.matcherError())).toBe("");
  });

  it("agrees where more class tops are alive than a bitmask holds (StackSets.unionOfTops)", async () => {
    // 40 overlapping ranges: each character is taken by two of them. The reference walk costs
    // about 2^length per token here (llama.cpp's is built the same way), so the vocabulary is
    // sis-scribe's first 2000 tokens.
    loadVocab(shrunkHeader(readFileSync(join(SHARED, "models/sis-scribe-15m-q4_0.gguf")), { tensors: false, maxArray: 2000 }));
    const classes = Array.from({ length: 40 }, (_, i) => `[\\x${(0x41 + i).toString(16)}-\\x${(0x42 + i).toString(16)}] "${i % 10}"?`);
    expect(await walks([`root ::= (${classes.join(" | ")})+`], 3)).toBeGreaterThan(12);
  });
});
