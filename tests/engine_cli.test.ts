// tools/sis-llm.mjs as a user runs it: stdout carries only the generated text (or one JSON
// object), diagnostics go to stderr, errors give a non-zero exit status.
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { ROOT } from "../tools/lib/asbuild.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING } from "./support/gguf_fixture.mjs";

const TOOL = resolve(ROOT, "tools", "sis-llm.mjs");
const MODEL = resolve(SHARED, "models", "sis-scribe-15m-q4_0.gguf");
const sis = (...args: string[]) => spawnSync(TOOL, args, { encoding: "utf8", timeout: 120_000 });

describe.skipIf(!HAVE_SHARED)("sis-llm" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), () => {
  it("is executable and prints its usage", () => {
    const r = sis("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/sis-llm run -m FILE \(-p PROMPT \| -f FILE\)/);
  });

  it("run takes llama.cpp's short forms: -f FILE for the prompt, -c for the context, -s for the seed", () => {
    const f = resolve(mkdtempSync(resolve(tmpdir(), "sis-llm-")), "prompt.txt");
    writeFileSync(f, "In the beginning");
    const a = JSON.parse(sis("run", "-m", MODEL, "-f", f, "-n", "6", "--temp", "0.7", "-s", "9", "-c", "64", "--json").stdout);
    const b = JSON.parse(sis("run", "-m", MODEL, "-p", "In the beginning", "-n", "6", "--temp", "0.7", "--seed", "9", "--ctx", "64", "--json").stdout);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.promptTokenIds).toEqual(b.promptTokenIds);
    const both = sis("run", "-m", MODEL, "-p", "x", "-f", f);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/-p or -f, not both/);
    expect(sis("run", "-m", MODEL, "-p", "x", "-c", "100000").stderr).toMatch(/exceeds the model's context_length 256/);
  });

  it("run: stdout is the generated text only; the summary is on stderr", () => {
    const r = sis("run", "-m", MODEL, "-p", "And God said", "-n", "12", "--temp", "0");
    expect(r.status).toBe(0);
    const j = JSON.parse(sis("run", "-m", MODEL, "-p", "And God said", "-n", "12", "--temp", "0", "--json").stdout);
    expect(r.stdout).toBe(j.text + "\n");
    expect(r.stderr).toMatch(/prompt 4 tokens, [\d.]+ tok\/s; generated 12 tokens, [\d.]+ tok\/s; stop: max tokens/);
  });

  it("run --json: one object with the text, token ids and timings", () => {
    const r = sis("run", "-m", MODEL, "-p", "In the beginning", "-n", "8", "--temp", "0.7", "--seed", "5", "--json");
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.tokens.length).toBe(8);
    expect(j.promptTokenIds[0]).toBe(1);
    expect(j.end).toBe("max tokens");
    expect(j.timings.layerNs.length).toBe(6);
    expect(j.prefillTokPerSec).toBeGreaterThan(0);
    expect(j.decodeTokPerSec).toBeGreaterThan(0);
    // the same seed gives the same text
    expect(JSON.parse(sis("run", "-m", MODEL, "-p", "In the beginning", "-n", "8", "--temp", "0.7", "--seed", "5", "--json").stdout).tokens).toEqual(j.tokens);
  });

  it("tokenize prints the ids (BOS first) as a JSON array; info describes the model", () => {
    expect(JSON.parse(sis("tokenize", "-m", MODEL, "-p", "Hello world").stdout)).toEqual([1, 15043, 3186]);
    const info = sis("info", "-m", MODEL).stdout;
    expect(info).toMatch(/layers\s+6/);
    expect(info).toMatch(/quantization\s+Q4_0, output Q8_0/);
    // memory as the kernel's llmctl load prints it for the same file (README's session, checked in QEMU)
    const readme = /memory used:\s+(.*)/.exec(readFileSync(resolve(ROOT, "README.md"), "utf8"))![1];
    expect(info).toContain(`memory        ${readme}, as llmctl info counts it`);
  });

  it("mkmodel and quantize write models that run", () => {
    const dir = mkdtempSync(resolve(tmpdir(), "sis-llm-"));
    const f32 = resolve(dir, "m.gguf"), q = resolve(dir, "m-q4_0.gguf");
    expect(sis("mkmodel", f32, "--dim", "64", "--layers", "1", "--heads", "4", "--kv-heads", "1", "--ff", "96",
      "--vocab-from", resolve(SHARED, "vocab", "ggml-vocab-llama-spm.gguf"), "--untied").status).toBe(0);
    expect(sis("quantize", f32, q, "Q4_0").status).toBe(0);
    expect(readFileSync(q).length).toBeLessThan(readFileSync(f32).length / 4);
    const j = JSON.parse(sis("info", "-m", q, "--json").stdout);
    expect([j.layers, j.heads, j.kvHeads, j.tiedOutput, j.quantization]).toEqual([1, 4, 1, false, "Q4_0, output Q8_0"]);
    expect(sis("run", "-m", q, "-p", "Hi", "-n", "3", "--temp", "0").status).toBe(0);
  });

  it("errors: exit status 1 with the engine's message, 2 for usage", () => {
    const e = sis("run", "-m", MODEL, "-p", "");
    expect(e.status).toBe(1);
    expect(e.stderr).toBe("sis-llm: empty prompt: give the model some text to continue\n");
    expect(e.stdout).toBe("");
    const u = sis("run", "-m", MODEL, "-p", "x", "--top-k", "many");
    expect(u.status).toBe(2);
    expect(u.stderr).toMatch(/--top-k: top-k needs a whole number from 0 to 1000000, not 'many'/);
    // the same checks as the kernel's llmctl (llm/settings.ts): top-p above 1 is refused, -n -1 means no limit
    const p = sis("run", "-m", MODEL, "-p", "x", "--top-p", "2");
    expect(p.status).toBe(2);
    expect(p.stderr).toMatch(/--top-p: top-p needs a number from 0 to 1, not '2'/);
    const unlimited = sis("run", "-m", MODEL, "-p", "And God said", "-n", "-1", "--temp", "0", "-c", "24");
    expect(unlimited.status).toBe(0);
    expect(unlimited.stderr).toMatch(/generated 21 tokens.*stop: context full/);
    const help = sis("run", "--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/-n, --n-predict N\s+tokens to generate at most \(default 128; -1: until end of text or a full context\)/);
    expect(sis("frobnicate").status).toBe(2);
    expect(sis("run", "-m", "/nonexistent.gguf", "-p", "x").status).toBe(1);
  });
});
