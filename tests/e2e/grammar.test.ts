// End to end: structured output in QEMU. `llmctl infer` and `llmctl chat` with a GBNF file
// from the models disk, a JSON schema given inline or in a file, `--json`, and `llmctl config
// grammar-file`; the text is the host engine's for the same settings (which is llama.cpp's:
// tests/oracle_grammar), and mistakes in grammars and schemas get their message while the
// shell carries on.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { parseGeneration, sendLine } from "../support/llm-e2e.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";
import { ROOT } from "../../tools/lib/asbuild.mjs";
import { LLM } from "../../tools/lib/llm.mjs";

const MODEL_FILE = resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf");
const YESNO = `# a yes/no answer and a full stop\nroot ::= ("yes" | "no") "."\n`;
const PERSON = { type: "object", properties: { name: { type: "string", maxLength: 20 }, age: { type: "integer", minimum: 0, maximum: 150 } }, required: ["name", "age"] };
const BOOK = { type: "object", properties: { book: { type: "string", enum: ["Genesis", "Exodus", "Psalms"] }, chapter: { type: "integer" } }, required: ["book", "chapter"] };
const haveMke2fs = !!findMke2fs();

let tmp: string, image: string;
beforeAll(() => {
  if (!haveMke2fs) return;
  tmp = mkdtempSync(join(tmpdir(), "sis-e2e-grammar-"));
  const src = join(tmp, "src");
  mkdirSync(join(src, "grammars"), { recursive: true });
  copyFileSync(MODEL_FILE, join(src, "sis-scribe-15m-q4_0.gguf"));
  writeFileSync(join(src, "grammars", "yesno.gbnf"), YESNO);
  writeFileSync(join(src, "grammars", "bad.gbnf"), `root ::= answer\nanswer ::= "a" [b-\n`);
  writeFileSync(join(src, "grammars", "nothing.gbnf"), `root ::= <[99999]>\n`); // a token no vocabulary of this size has
  writeFileSync(join(src, "grammars", "person.json"), JSON.stringify(PERSON));
  writeFileSync(join(src, "grammars", "binary.gbnf"), Buffer.from([0x72, 0x00, 0x01]));
  image = join(tmp, "models.img");
  mkdisk(src, image, { label: "sis-grammar-e2e" });
});
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!haveMke2fs)("structured output in QEMU (sis-scribe-15m)", () => {
  let m: SisMachine;
  let host: any;
  beforeAll(async () => {
    [m, host] = await Promise.all([SisMachine.boot({ disk: image }), LLM.create()]);
    expect(host.load(MODEL_FILE, 256)).toBe("");
    expect(await m.run("llmctl backend real")).toMatch(/TransformerBackend/);
    expect(await m.run("llmctl load /models/sis-scribe-15m-q4_0.gguf", { timeout: 60_000 })).toMatch(/^loaded /m);
  });
  afterAll(() => { m?.kill(); host?.unload(); });

  /** The host engine's greedy text for the same prompt and constraint. */
  const expected = (prompt: string, n: number, c: { grammar?: string; jsonSchema?: string }) =>
    host.generate(prompt, { temperature: 0, maxTokens: n, ...c });

  it("--json-schema (inline and from a file) gives the host engine's text; a finished answer is valid JSON", async () => {
    const inline = parseGeneration(await m.run(`llmctl infer "In the beginning" --max-tokens 64 --temperature 0 --json-schema '${JSON.stringify(BOOK)}'`,
      { timeout: 120_000 }));
    expect(inline.text).toBe(expected("In the beginning", 64, { jsonSchema: JSON.stringify(BOOK) }).text);
    expect(inline.stopped).toBe("stopped: end of text"); // the grammar was complete and the model ended
    const v = JSON.parse(inline.text);
    expect(["Genesis", "Exodus", "Psalms"]).toContain(v.book);
    expect(Number.isInteger(v.chapter)).toBe(true);
    // cut at max tokens: the text so far, a valid beginning
    const file = parseGeneration(await m.run("llmctl infer \"And God said\" --max-tokens 40 --temperature 0 --json-schema-file /models/grammars/person.json",
      { timeout: 120_000 }));
    expect(file.text).toBe(expected("And God said", 40, { jsonSchema: JSON.stringify(PERSON) }).text);
    expect(file.text.startsWith("{")).toBe(true);
    expect(file.stopped).toBe(null);
  });

  it("--grammar-file and --json, and the profile's grammar row", async () => {
    expect(await m.run("llmctl profile on")).toMatch(/profile: on/);
    const out = await m.run("llmctl infer \"Is it good?\" --temperature 0 --grammar-file /models/grammars/yesno.gbnf", { timeout: 120_000 });
    const yes = parseGeneration(out.slice(0, out.indexOf("\nprofile:")));
    expect(yes.text).toBe(expected("Is it good?", 128, { grammar: YESNO }).text);
    expect(yes.text).toMatch(/^(yes|no)\.$/);
    expect(yes.stopped).toBe("stopped: end of text");
    expect(out).toMatch(/^ {2}grammar +\d+\.\d+ ms +\d+\.\d+% +\d+ of \d+ choices refused/m);
    expect(await m.run("llmctl profile off")).toMatch(/profile: off/);
    const any = parseGeneration(await m.run("llmctl infer \"And the LORD spake\" --max-tokens 24 --temperature 0 --json", { timeout: 120_000 }));
    expect(any.text).toBe(expected("And the LORD spake", 24, { jsonSchema: `{"type": "object"}` }).text);
    expect(any.text.startsWith("{")).toBe(true);
  });

  it("llmctl config grammar-file applies to every generation until 'none'", async () => {
    expect(await m.run("llmctl config grammar-file /models/grammars/yesno.gbnf")).toMatch(/^grammar-file: \/models\/grammars\/yesno\.gbnf \(every infer/);
    expect(await m.run("llmctl config")).toMatch(/^ {2}grammar-file +\/models\/grammars\/yesno\.gbnf$/m);
    const r = parseGeneration(await m.run("llmctl infer \"Thou shalt\" --temperature 0", { timeout: 120_000 }));
    expect(r.text).toMatch(/^(yes|no)\.$/);
    // a chat reply follows it too
    await sendLine(m, "llmctl chat --temperature 0");
    const reply = parseGeneration(await sendLine(m, "Is the LORD good?"));
    expect(reply.text).toMatch(/^(yes|no)\.$/);
    expect(await sendLine(m, "/exit")).toMatch(/^chat ended/);
    expect(await m.run("llmctl config grammar-file none")).toBe("grammar-file: none (output is not constrained)");
    expect(await m.run("llmctl config")).toMatch(/^ {2}grammar-file +none$/m);
    const free = parseGeneration(await m.run("llmctl infer \"Thou shalt\" --max-tokens 8 --temperature 0", { timeout: 120_000 }));
    expect(free.text).toBe(host.generate("Thou shalt", { temperature: 0, maxTokens: 8 }).text);
  });

  it("mistakes get a message with where and what, and the shell carries on", async () => {
    expect(await m.run("llmctl infer \"x\" --grammar-file /models/grammars/bad.gbnf"))
      .toBe("error: /models/grammars/bad.gbnf: line 3, column 1 (at the end): unexpected end of input in a character class");
    expect(await m.run("llmctl infer \"x\" --grammar-file /models/grammars/none.gbnf")).toMatch(/^error: .*none\.gbnf.*(no such file|not found)/i);
    expect(await m.run("llmctl infer \"x\" --grammar-file /models/grammars/binary.gbnf")).toMatch(/^error: .*binary\.gbnf: a NUL byte at offset 1: not a text file$/);
    expect(await m.run(`llmctl infer "x" --json-schema '{"type": "kaboom"}'`)).toBe(`error: JSON schema: #: unrecognized schema {"type":"kaboom"} (unknown type "kaboom")`);
    expect(await m.run(`llmctl infer "x" --json-schema '{"type": '`)).toMatch(/^error: JSON schema: invalid JSON schema: line 1, column \d+/);
    expect(await m.run("llmctl config grammar-file /models/grammars/bad.gbnf")).toMatch(/^error: .*line 3, column 1/);
    expect(await m.run("llmctl config")).toMatch(/^ {2}grammar-file +none$/m); // unchanged
    // a grammar nothing can continue: the run ends with what it had, and says why
    const dead = parseGeneration(await m.run("llmctl infer \"x\" --temperature 0 --grammar-file /models/grammars/nothing.gbnf", { timeout: 60_000 }));
    expect(dead.text).toBe("");
    expect(dead.stopped).toBe("stopped: no token fits the grammar");
    expect(await m.run("echo still here")).toBe("still here");
  });
});
