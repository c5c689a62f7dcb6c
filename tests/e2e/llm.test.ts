// End to end: real inference in QEMU. SIS boots with a models disk holding the default
// model (models/sis-scribe-15m-q4_0.gguf) and GGUF files it must refuse, and every llmctl
// subcommand is driven over the serial line. What SIS prints is checked against the host:
// the continuations against llama.cpp's on the same file (tests/support/llamacpp.mjs,
// computed here), the model's figures against its GGUF header, the memory figures against
// the file and header sizes. See tests/e2e/llm-boot.test.ts for `make run LOAD=...`, an
// I/O error while loading, and the stub backend on a fresh machine.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { renderTerminal } from "../support/storage-e2e.mjs";
import { Oracle, PINNED_MISSING } from "../support/llamacpp.mjs";
import {
  expectedModel, readGGUFMeta, tinyModel, writeSparse, parseGeneration, regionsInUse, modelMemory, sendLine, pageRound, GGML, withMetadata,
  interruptAfter,
} from "../support/llm-e2e.mjs";
import { T } from "../support/gguf_fixture.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";
import { ROOT } from "../../tools/lib/asbuild.mjs";

const MODEL_FILE = resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf");
const MODEL = "/models/sis-scribe-15m-q4_0.gguf";
/** Greedy continuations compared with llama.cpp's: prompt -> tokens. */
const GREEDY: Array<[string, number]> = [
  ["And God said", 32],
  ["In the beginning", 24],
  ["ROMEO:\nWhat light through yonder window breaks?", 24],
  ["The king said unto his servants, Go ye", 16],
];
const haveMke2fs = !!findMke2fs();
/** A ChatML template as Qwen and others write it (llm/chat/detect.ts recognises the family). */
const CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

let tmp: string, image: string;
const bad: Record<string, string> = {};

function setupDisk() {
  tmp = mkdtempSync(join(tmpdir(), "sis-e2e-llm-"));
  const src = join(tmp, "src");
  mkdirSync(join(src, "bad"), { recursive: true });
  copyFileSync(MODEL_FILE, join(src, "sis-scribe-15m-q4_0.gguf"));
  const put = (name: string, bytes: Buffer) => { writeFileSync(join(src, "bad", name), bytes); bad[name] = `/models/bad/${name}`; };
  put("notes.gguf", Buffer.from("These are notes, not a model.\n".repeat(10)));
  put("gpt2-arch.gguf", tinyModel({ arch: "gpt2" }).bytes);
  put("i32-matrix.gguf", tinyModel({ types: { "blk.0.attn_q.weight": GGML.I32 } }).bytes);
  put("huge-context.gguf", tinyModel({ ctx: 1 << 26 }).bytes);
  const model = readFileSync(MODEL_FILE);
  put("truncated.gguf", model.subarray(0, Math.floor(model.length * 0.6)));
  // the default model with a chat template added to its metadata
  writeFileSync(join(src, "chatml.gguf"), withMetadata(model, [["tokenizer.chat_template", T.STR, CHATML]]));
  // a 6 GiB model (sparse on the host and on the disk): its header is fine, its size is not
  const huge = tinyModel({ dim: 20064, sparse: true }); // wide F32 matrices of one layer
  writeSparse(join(src, "bad", "huge-file.gguf"), huge.bytes, huge.size);
  bad["huge-file.gguf"] = "/models/bad/huge-file.gguf";
  image = join(tmp, "models.img");
  mkdisk(src, image, { label: "sis-llm-e2e" });
}

beforeAll(() => { if (haveMke2fs) setupDisk(); });
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!haveMke2fs)("LLM inference in QEMU (TransformerBackend, sis-scribe-15m)", () => {
  let m: SisMachine;
  let oracle: any;
  const want = expectedModel(MODEL_FILE);
  let startRegions = 0;

  beforeAll(async () => {
    [m, oracle] = await Promise.all([SisMachine.boot({ disk: image }), Oracle.open(MODEL_FILE, { contextSize: 256 })]);
  });
  afterAll(async () => { m?.kill(); await oracle?.dispose(); });

  const info = () => m.run("llmctl info");
  // Where the pinned llama.cpp build cannot run, the comparisons of text with llama.cpp's are
  // skipped (the tests that are nothing else) or left out of the tests that check more.
  const exactIt = it.skipIf(!!PINNED_MISSING);
  const skipNote = PINNED_MISSING ? ` (${PINNED_MISSING})` : "";
  /** llama.cpp's greedy continuation of `prompt`: { text, tokens, promptTokens }. */
  async function greedy(prompt: string, n: number) {
    const pt = oracle.tokenize(prompt);
    const ids = await oracle.greedy(pt, n);
    return { text: oracle.detokenize(ids, pt), tokens: ids.length, promptTokens: pt.length, ids, pt };
  }

  it("selects the transformer backend; infer without a model is refused", async () => {
    expect(await m.run("llmctl backend")).toBe("backend: none selected");
    expect(await m.run("llmctl backend real")).toMatch(/^LLM backend: TransformerBackend$/m);
    expect(await m.run("llmctl backend")).toMatch(/^backend: real \(TransformerBackend: /);
    const out = await m.run('llmctl infer "Hello"');
    expect(out).toMatch(/^error: no model is loaded \(llmctl load/m);
    const i = await info();
    expect(i).toMatch(/^model: none loaded/m);
    startRegions = regionsInUse(i);
  });

  it("refuses every bad file clearly, before reading it, and keeps no memory", async () => {
    const cases: Array<[string, RegExp]> = [
      ["/models/missing.gguf", /^error: \/models\/missing\.gguf: no such file or directory$/m],
      ["/models/bad", /^error: cannot load \/models\/bad: it is a directory$/m],
      [bad["notes.gguf"], /^error: \/models\/bad\/notes\.gguf: GGUF: bad magic 54 68 65 73 \(expected 47 47 55 46, "GGUF"\): not a GGUF file$/m],
      [bad["gpt2-arch.gguf"], /^error: \/models\/bad\/gpt2-arch\.gguf: model: unsupported architecture 'gpt2' \(this engine runs: llama, qwen2, qwen3, phi3, gemma3\)$/m],
      [bad["i32-matrix.gguf"], /^error: \/models\/bad\/i32-matrix\.gguf: model: tensor 'blk\.0\.attn_q\.weight' has type I32, which the engine cannot compute with \(supported: [^)]*Q4_0[^)]*\)$/m],
      [bad["truncated.gguf"], /^error: \/models\/bad\/truncated\.gguf: GGUF: tensor '[^']+' data \(offset \d+, \d+ bytes\) lies past the end of the file/m],
      [bad["huge-file.gguf"], /^error: model too large for memory: \/models\/bad\/huge-file\.gguf needs [\d.]+ GiB \(file 6\.0 GiB \+ KV cache [\d.]+ MiB for 64 tokens/m],
    ];
    for (const [path, msg] of cases) {
      const out = await m.run(`llmctl load ${path}`);
      expect(out, path).toMatch(msg);
      // checked before reading: no progress bar, and nothing stays allocated
      expect(out, path).not.toMatch(/loading .*%/);
      expect(regionsInUse(await info()), path).toBe(startRegions);
    }
    // the model's own context that does not fit: the largest power of two below it that does
    const fit = await m.run(`llmctl load ${bad["huge-context.gguf"]}`);
    const note = /^note: context (\d+) tokens: the model's own 67108864 do not fit in memory \(llmctl config context N sets another\)$/m.exec(fit);
    expect(note, fit).not.toBeNull();
    expect(Math.log2(Number(note![1])) % 1).toBe(0);
    expect(Number(note![1])).toBeGreaterThan(1 << 20);
    expect(fit).toMatch(new RegExp(`^context:\\s+${note![1]} tokens \\(trained 67108864\\)$`, "m"));
    await m.run("llmctl unload");
    expect(regionsInUse(await info())).toBe(startRegions);
    // the huge file's size is what SIS says it is (the disk holds it sparse)
    expect(readGGUFMeta(join(tmp, "src", "bad", "huge-file.gguf")).fileSize).toBeGreaterThan(6 * 2 ** 30);
  });

  it("loads the default model with a progress bar and prints its details", async () => {
    const from = m.raw.length;
    const out = await m.run(`llmctl load ${MODEL}`, { timeout: 120_000 });
    // the progress bar is one updating line (CR + erase); what stays on screen is its last state
    const raw = m.raw.subarray(from).toString("utf8");
    expect((raw.match(/\rloading /g) ?? []).length).toBeGreaterThanOrEqual(2);
    expect(raw).toContain("\x1b[K");
    const screen = renderTerminal(raw.replace(/\r\n/g, "\n"));
    const bar = screen.find((l) => l.startsWith("loading "));
    expect(bar).toMatch(new RegExp(`^loading ${MODEL} \\[#{30}\\] 100% 12\\.9 MiB of 12\\.9 MiB, [\\d.]+ MB/s$`));
    const line = (k: string) => new RegExp(`^${k}:\\s+(.*)$`, "m").exec(out)?.[1];
    expect(line("model")).toBe(`${want.name} (${MODEL})`);
    expect(line("architecture")).toBe(`${want.arch} (the Llama family)`);
    expect(line("layers")).toBe(String(want.layers));
    expect(line("embedding")).toBe(`${want.dim} (feed-forward ${want.ff})`);
    expect(line("heads")).toBe(`${want.heads} (KV heads ${want.kvHeads}, head size ${want.headDim})`);
    expect(line("vocabulary")).toMatch(new RegExp(`^${want.vocab} \\(llama tokenizer, BOS 1, EOS 2\\)$`));
    expect(line("context")).toBe(`${want.context} tokens (trained ${want.context})`);
    // tensor types and counts as the header lists them
    const g = readGGUFMeta(MODEL_FILE);
    const names: Record<number, string> = { 0: "F32", 2: "Q4_0", 8: "Q8_0" };
    const counts = new Map<string, number>();
    for (const t of g.tensors) counts.set(names[t.type], (counts.get(names[t.type]) ?? 0) + 1);
    expect(line("quantization")).toBe(`Q4_0, output Q8_0 (${[...counts].map(([k, v]) => `${k} x${v}`).join(", ")})`);
    expect(line("parameters")).toBe(`${(want.params / 1e6).toFixed(2)} M`);
    expect(line("memory used")).toMatch(/^[\d.]+ MiB \(model 12\.9 MiB, KV cache 576\.0 KiB, scratch [\d.]+ MiB\)$/);
    expect(out).toMatch(new RegExp(`^loaded ${MODEL} in [\\d.]+ s \\(read 12\\.9 MiB at [\\d.]+ MB/s\\)$`, "m"));
  });

  it("llmctl info accounts for the model bytes, the KV cache and the scratch", async () => {
    const i = await info();
    const mem = modelMemory(i);
    expect(mem.model).toBe(pageRound(want.fileSize));
    expect(mem.kv).toBe(pageRound(want.kvBytes(want.context)));
    expect(mem.scratch).toBeGreaterThan(0);
    expect(mem.total).toBe(mem.model + mem.kv + mem.scratch);
    expect(regionsInUse(i) - startRegions).toBe(mem.total);
    expect(i).toMatch(new RegExp(`^KV cache: ${want.context} tokens, 0 in use`, "m"));
    expect(i).toMatch(/^backend: real \(TransformerBackend/m);
    for (const k of ["temperature", "top-k", "top-p", "min-p", "repeat-penalty", "seed", "max-tokens", "context"]) {
      expect(i).toMatch(new RegExp(`^  ${k}\\s+\\S`, "m"));
    }
  });

  for (const [prompt, n] of GREEDY) {
    exactIt(`infer ${JSON.stringify(prompt)} --temperature 0 --max-tokens ${n} prints llama.cpp's continuation${skipNote}`, async () => {
      const ref = await greedy(prompt, n);
      const quoted = prompt.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
      const out = await m.run(`llmctl infer "${quoted}" --temperature 0 --max-tokens ${n}`, { timeout: 120_000 });
      const g = parseGeneration(out);
      expect(g.text).toBe(ref.text);
      expect(g.tokens).toBe(ref.tokens);
      expect(g.promptTokens).toBe(ref.promptTokens);
      expect(g.promptRate).toBeGreaterThan(0);
      expect(g.genRate).toBeGreaterThan(0);
      expect(g.stopped).toBe(ref.tokens < n ? "stopped: end of text" : null);
    });
  }

  it("a seeded sampled run gives the same text twice", async () => {
    const cmd = 'llmctl infer "Thou shalt" --temperature 0.9 --top-k 40 --top-p 0.95 --min-p 0.05 --repeat-penalty 1.1 --seed 1234 --max-tokens 24';
    const a = parseGeneration(await m.run(cmd, { timeout: 120_000 }));
    const b = parseGeneration(await m.run(cmd, { timeout: 120_000 }));
    expect(a.text.length).toBeGreaterThan(0);
    expect(b.text).toBe(a.text);
    expect(b.tokens).toBe(a.tokens);
    // and the host's engine, with its exact output head, samples the same text: the kernel's
    // bounded head (approximations, then the rows within reach made exact) changes nothing
    const { LLM } = await import("../../tools/lib/llm.mjs");
    const host = await LLM.create();
    expect(host.load(MODEL_FILE, 256)).toBe("");
    host.boundedHead = false;
    const h = host.generate("Thou shalt", { temperature: 0.9, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1.1, seed: 1234, maxTokens: 24 });
    expect(a.text).toBe(h.text);
    host.unload();
    // the same seed from llmctl config
    expect(await m.run("llmctl config seed 1234")).toBe("seed            1234");
    const c = parseGeneration(await m.run('llmctl infer "Thou shalt" --temperature 0.9 --repeat-penalty 1.1 --max-tokens 24', { timeout: 120_000 }));
    expect(c.text).toBe(a.text);
    expect(await m.run("llmctl config seed random")).toBe("seed            random (from the clock)");
  });

  it("llmctl config lists and changes the settings; flags override them", async () => {
    const list = await m.run("llmctl config");
    for (const k of ["temperature", "top-k", "top-p", "min-p", "repeat-penalty", "seed", "max-tokens", "context"]) {
      expect(list).toMatch(new RegExp(`^  ${k}\\s+\\S`, "m"));
    }
    expect(await m.run("llmctl config temperature 0")).toBe("temperature     0.00 (greedy)");
    expect(await m.run("llmctl config max-tokens 6")).toBe("max-tokens      6");
    const a = parseGeneration(await m.run('llmctl infer "And the LORD"', { timeout: 60_000 }));
    expect(a.tokens).toBe(6);
    const b = parseGeneration(await m.run('llmctl infer "And the LORD" --max-tokens 3', { timeout: 60_000 }));
    expect(b.tokens).toBe(3);
    expect(a.text.startsWith(b.text)).toBe(true);
    if (!PINNED_MISSING) {
      expect(a.text).toBe((await greedy("And the LORD", 6)).text);
      expect(b.text).toBe((await greedy("And the LORD", 3)).text);
    }
    expect(await m.run("llmctl config top-p 2")).toMatch(/^error: top-p needs a number from 0 to 1, not '2'$/);
    expect(await m.run("llmctl config colour blue")).toMatch(/^error: unknown setting 'colour'/);
    expect(await m.run('llmctl infer "x" --frobnicate 1')).toMatch(/^error: unknown option '--frobnicate'$/);
    expect(await m.run("llmctl config temperature 0.8")).toBe("temperature     0.80");
    expect(await m.run("llmctl config max-tokens 256")).toBe("max-tokens      256");
  });

  it("a prompt longer than the context is refused; context changes reallocate the KV cache", async () => {
    const out = await m.run("llmctl config context 16");
    expect(out).toMatch(/^context: 16 tokens; KV cache reallocated/);
    const i = await info();
    expect(modelMemory(i).kv).toBe(pageRound(want.kvBytes(16)));
    expect(i).toMatch(/^KV cache: 16 tokens, 0 in use/m);
    const prompt = "And it came to pass, when the king heard the words of the book of the law, that he rent his clothes";
    const n = oracle.tokenize(prompt).length;
    expect(n).toBeGreaterThan(16);
    expect(await m.run(`llmctl infer "${prompt}" --max-tokens 4`)).toMatch(
      new RegExp(`^error: prompt is ${n} tokens, longer than the context of 16 tokens$`, "m"));
    // a prompt that fits stops when the context is full
    const g = parseGeneration(await m.run('llmctl infer "And God said" --temperature 0 --max-tokens 100', { timeout: 60_000 }));
    expect(g.stopped).toBe("stopped: context full");
    expect(g.promptTokens + g.tokens).toBe(17); // 16 positions filled, and the last token sampled from them
    if (!PINNED_MISSING) expect(g.text).toBe((await greedy("And God said", g.tokens)).text);
    expect(await m.run("llmctl config context 0")).toMatch(new RegExp(`^context: ${want.context} tokens; KV cache reallocated`));
    expect(modelMemory(await info()).kv).toBe(pageRound(want.kvBytes(want.context)));
  });

  it("Ctrl-C stops a generation and keeps what was produced", async () => {
    const n = 200;
    const out = await interruptAfter(m, `llmctl infer "And God said" --temperature 0 --max-tokens ${n}`, /LORD/);
    expect(out).toMatch(/\^C\n\(stopped by Ctrl-C; the output so far is kept\)\n\[\d+ tokens?/);
    const g = parseGeneration(out);
    expect(g.tokens).toBeGreaterThan(0);
    expect(g.tokens).toBeLessThan(n);
    if (!PINNED_MISSING) { // what was kept is llama.cpp's text up to there
      const ref = await greedy("And God said", n);
      expect(ref.text.startsWith(g.text)).toBe(true);
      expect(g.text).toBe(oracle.detokenize(ref.ids.slice(0, g.tokens), ref.pt));
    }
    expect(await m.run("echo after ctrl-c")).toBe("after ctrl-c");
  });

  it("llmctl stats counts inferences, tokens, latency and speed", async () => {
    const before = await m.run("llmctl stats");
    const num = (s: string, re: RegExp) => Number(re.exec(s)![1]);
    const inf0 = num(before, /^inferences: (\d+)/m), gen0 = num(before, /^tokens: \d+ prompt, (\d+) generated/m);
    const p0 = num(before, /^tokens: (\d+) prompt/m);
    const a = parseGeneration(await m.run('llmctl infer "Blessed are" --temperature 0 --max-tokens 5', { timeout: 60_000 }));
    const b = parseGeneration(await m.run('llmctl infer "Woe unto" --temperature 0 --max-tokens 7', { timeout: 60_000 }));
    const after = await m.run("llmctl stats");
    expect(num(after, /^inferences: (\d+)/m)).toBe(inf0 + 2);
    expect(after).toMatch(/^inferences: \d+ \(1 stopped by Ctrl-C\)(; \d+ refused with an error before generating)?$/m);
    expect(after).toMatch(/^cores: 2 of 2 online in use by the engine$/m); // -smp 2: the engine splits its work across both
    expect(num(after, /^tokens: (\d+) prompt/m)).toBe(p0 + a.promptTokens + b.promptTokens);
    expect(num(after, /^tokens: \d+ prompt, (\d+) generated/m)).toBe(gen0 + a.tokens + b.tokens);
    expect(after).toMatch(/^average latency: [\d.]+ ms per inference \(prompt [\d.]+ ms, generation [\d.]+ ms\)$/m);
    expect(after).toMatch(/^average speed: prompt [\d.]+ tok\/s, generation [\d.]+ tok\/s$/m);
    expect(after).toMatch(/^memory: model 12\.9 MiB/m);
    expect(after).toMatch(new RegExp(`^KV cache: ${want.context} tokens, \\d+ in use`, "m"));
  });

  it("llmctl profile on prints the time of every stage after an inference", async () => {
    expect(await m.run("llmctl profile on")).toMatch(/^profile: on/);
    const out = await m.run('llmctl infer "Let there be" --temperature 0 --max-tokens 8', { timeout: 60_000 });
    const g = parseGeneration(out.slice(0, out.indexOf("\nprofile: ") + 1) + "\n");
    const p = out.slice(out.indexOf("\nprofile: ") + 1);
    expect(p).toMatch(new RegExp(`^profile: prompt ${g.promptTokens} tokens, ${g.tokens} generated, [\\d.]+ ms in all$`, "m"));
    const stage = (name: string) => new RegExp(`^  ${name}\\s+[\\d.]+ ms\\s+[\\d.]+%`, "m");
    for (const s of ["tokenization", "embedding", "output head", "sampling", "detokenization"]) expect(p).toMatch(stage(s));
    for (let l = 0; l < want.layers; l++) expect(p).toMatch(stage(`layer ${l}`));
    expect(p).not.toMatch(stage(`layer ${want.layers}`));
    // the kernel computes its Q8_0 head bounded first: every head, about one exact row each when greedy
    const head = /^  output head .* bounded: (\d+) of (\d+) heads, ([\d.]+) exact rows per head$/m.exec(p);
    expect(head, p).not.toBeNull();
    expect(head![1]).toBe(head![2]);
    expect(Number(head![3])).toBeLessThan(4);
    expect(p).toMatch(new RegExp(`^  prefill\\s+[\\d.]+ ms\\s+[\\d.]+%\\s+[\\d.]+ tok/s \\(${g.promptTokens} tokens\\)$`, "m"));
    expect(p).toMatch(new RegExp(`^  generation\\s+[\\d.]+ ms\\s+[\\d.]+%\\s+[\\d.]+ tok/s \\(${g.stopped === null ? g.tokens - 1 : g.tokens} forward passes\\)$`, "m"));
    // the percentages of the stages add up to 100
    const pct = [...p.matchAll(/^  (?:tokenization|embedding|layer \d+|output head|sampling|detokenization|other)\s+[\d.]+ ms\s+([\d.]+)%/gm)].map((x) => Number(x[1]));
    const sum = pct.reduce((a, b) => a + b, 0);
    expect(sum).toBeGreaterThan(99);
    expect(sum).toBeLessThan(101);
    expect(await m.run("llmctl profile off")).toBe("profile: off");
    expect(await m.run('llmctl infer "Let there be" --temperature 0 --max-tokens 2', { timeout: 60_000 })).not.toMatch(/profile:/);
  });

  exactIt("llmctl chat: turns go to the model, history stays in the KV cache, /reset and /exit" + skipNote, async () => {
    const intro = await sendLine(m, "llmctl chat --temperature 0 --max-tokens 12");
    expect(intro).toMatch(/^chat with sis-scribe-15m, format: plain \(/m);
    expect(m.output.endsWith("you> ")).toBe(true);
    // turn 1: the plain layout's first text, continued greedily as llama.cpp does
    const u1 = "Who art thou?";
    const t1 = parseGeneration(await sendLine(m, u1));
    const ref1 = await greedy(`User: ${u1}\nAssistant:`, 12);
    // a plain reply ends at a blank line or a "User:" turn (stop strings, not shown)
    const cut = Math.min(...["\n\n", "\nUser:"].map((s) => ref1.text.indexOf(s)).filter((i) => i >= 0), ref1.text.length);
    expect(t1.text).toBe(ref1.text.slice(0, cut).replace(/^[ \n]+/, ""));
    expect(t1.promptTokens).toBe(ref1.promptTokens);
    // turn 2: only the new text is processed; the history stays in the cache
    const u2 = "And what is thy name?";
    const t2 = parseGeneration(await sendLine(m, u2));
    const pending = t1.stopped === null ? 1 : 0; // a reply cut at max tokens: its last token goes in now
    expect(t2.promptTokens).toBe(pending + oracle.model.tokenize(`\nUser: ${u2}\nAssistant:`).length);
    expect(t1.contextUsed).toBe(t1.promptTokens + t1.tokens - pending);
    expect(t2.contextUsed).toBe(t1.contextUsed! + t2.promptTokens + t2.tokens - (t2.stopped === null ? 1 : 0));
    expect(t2.text.length).toBeGreaterThan(0);
    // /reset: a fresh conversation (BOS again, and the same reply as the first time)
    expect(await sendLine(m, "/reset")).toMatch(/^conversation reset: the history is cleared \(context 0\/256\)$/);
    const t3 = parseGeneration(await sendLine(m, u1));
    expect(t3.text).toBe(t1.text);
    expect(t3.contextUsed).toBe(t1.contextUsed);
    expect(await sendLine(m, "/nonsense")).toMatch(/^error: unknown chat command/);
    expect(m.output.endsWith("you> ")).toBe(true);
    expect(await sendLine(m, "/exit")).toMatch(/^chat ended/);
    expect(m.output.endsWith("sis> ")).toBe(true);
    expect(await m.run("echo back in the shell")).toBe("back in the shell");
    // the conversation left the KV cache with it
    expect(await m.run("llmctl stats")).toMatch(/^KV cache: \d+ tokens, 0 in use/m);
  });

  it("llmctl chat with the defaults: short replies; when the history no longer fits, it says so before the reply", async () => {
    expect(await m.run("llmctl config context 48")).toMatch(/^context: 48 tokens/);
    await sendLine(m, "llmctl chat --temperature 0");
    let noteBefore = false;
    for (let i = 0; i < 6 && !noteBefore; i++) {
      const out = await sendLine(m, `Tell me of the kings of Israel, part ${i + 1}.`);
      const g = parseGeneration(out);
      expect(g.tokens).toBeLessThanOrEqual(128); // the default reply budget, not the whole context
      const at = out.indexOf("(the history no longer fits in the context: a new conversation starts with this message)");
      if (at >= 0) { expect(at).toBe(0); noteBefore = true; } // printed before the reply's text
    }
    expect(noteBefore).toBe(true);
    expect(await sendLine(m, "/exit")).toMatch(/^chat ended/);
    expect(await m.run("llmctl config context 0")).toMatch(/^context: \d+ tokens/);
  });

  it("counts and settings say what happened: a refused run, a context larger than the model's", async () => {
    const before = await m.run("llmctl stats");
    const n0 = Number(/^inferences: (\d+)/m.exec(before)![1]);
    expect(await m.run(`llmctl infer "${"word ".repeat(300)}"`)).toMatch(/^error: prompt is \d+ tokens, longer than the context/m);
    const after = await m.run("llmctl stats");
    expect(Number(/^inferences: (\d+)/m.exec(after)![1])).toBe(n0); // a refused run is no inference
    expect(after).toMatch(/; \d+ refused with an error before generating$/m);
    expect(await m.run("llmctl config context 100000")).toMatch(new RegExp(`^context: ${want.context} tokens \\(the model's maximum; 100000 asked\\)`));
    expect(await m.run("llmctl config")).toMatch(new RegExp(`^  context\\s+${want.context}; loaded model: ${want.context} tokens$`, "m"));
    expect(await m.run("llmctl config context 0")).toMatch(/^context: \d+ tokens/);
    expect(await m.run('llmctl infer "   "')).toBe("error: the prompt is empty or only spaces: give the model some text to continue");
  });

  it("llmctl bench measures prompt processing and generation, and memory", async () => {
    const out = await m.run("llmctl bench", { timeout: 300_000 });
    expect(out).toMatch(/^bench: sis-scribe-15m \(Q4_0, output Q8_0\), context 256, 2 of 2 cores/m);
    for (const t of ["pp 10", "pp 50", "pp 100", "tg 1", "tg 10", "tg 50"]) {
      const r = new RegExp(`^\\| ${t}\\s+\\|\\s+(\\d+) \\|\\s+([\\d.]+) \\|\\s+([\\d.]+) \\|$`, "m").exec(out);
      expect(r, t).not.toBeNull();
      expect(Number(r![1])).toBe(Number(t.split(" ")[1]));
      expect(Number(r![3])).toBeGreaterThan(0);
      expect(Number(r![3])).toBeCloseTo(Number(r![1]) * 1000 / Number(r![2]), 0);
    }
    expect(out).toMatch(/^memory: model 12\.9 MiB, KV cache 576\.0 KiB \(256 tokens\), scratch peak [\d.]+ MiB \(allocated once at load\); total [\d.]+ MiB, regions peak [\d.]+ [MG]iB$/m);
   }, 300_000);

  it("a bad file leaves the loaded model in place", async () => {
    const out = await m.run(`llmctl load ${bad["gpt2-arch.gguf"]}`);
    expect(out).toMatch(/unsupported architecture 'gpt2'/);
    expect(out).toMatch(new RegExp(`^\\(${MODEL} stays loaded\\)$`, "m"));
    expect(await info()).toMatch(/^model:\s+sis-scribe-15m/m);
  });

  it("the stub backend still works, and switching back keeps the model", async () => {
    expect(await m.run("llmctl backend stub")).toMatch(/^backend: stub selected \(synthetic testing backend/);
    const out = await m.run('llmctl infer "one two three"');
    expect(out).toMatch(/\[stub backend: synthetic output, no model\] three two one/);
    expect(out).toMatch(/^\[3 tokens, prompt 3 tok at ([\d.]+|-) tok\/s, generation ([\d.]+|-) tok\/s\]$/m);
    expect(await m.run(`llmctl load ${MODEL}`)).toMatch(/^error: the stub backend does not load models; select the transformer first: llmctl backend real$/m);
    expect(await m.run("llmctl backend real")).toMatch(new RegExp(`^model: ${MODEL} \\(loaded\\)$`, "m"));
  });

  it("unload returns all memory; 20 loads and unloads end where they started", async () => {
    const u = await m.run("llmctl unload");
    expect(u).toMatch(new RegExp(`^unloaded ${MODEL}: [\\d.]+ MiB freed \\(\\d+ B\\)$`));
    expect(regionsInUse(await info())).toBe(startRegions);
    const linear = () => info().then((s) => /linear memory ([\d.]+ \w+)/.exec(s)![1]);
    const lin0 = await linear();
    for (let i = 0; i < 20; i++) {
      expect(await m.run(`llmctl load ${MODEL}`, { timeout: 60_000 }), `load ${i}`).toMatch(/^loaded /m);
      expect(await m.run("llmctl unload"), `unload ${i}`).toMatch(/^unloaded /);
      expect(regionsInUse(await info()), `cycle ${i}`).toBe(startRegions);
    }
    expect(await linear()).toBe(lin0); // freed regions are reused: memory does not grow
    expect(await m.run("llmctl unload")).toBe("no model is loaded");
   }, 300_000);

  it("every subcommand has help", async () => {
    const list = await m.run("llmctl help");
    const subs = ["backend", "models", "load", "unload", "info", "infer", "chat", "config", "stats", "profile", "bench"];
    for (const s of subs) {
      expect(list).toMatch(new RegExp(`^  llmctl ${s}\\b`, "m"));
      const h = await m.run(`llmctl help ${s}`);
      expect(h, s).toMatch(new RegExp(`^usage: llmctl ${s}\\b`));
      expect(h.split("\n").length, s).toBeGreaterThan(1);
      expect(await m.run(`llmctl ${s} --help`)).toBe(h);
    }
    expect(await m.run("help llmctl")).toMatch(/llmctl chat/);
  });

  exactIt("llmctl chat lays the turns out with the model's chat template (ChatML)" + skipNote, async () => {
    const path = join(tmp, "src", "chatml.gguf");
    const o2 = await Oracle.open(path, { contextSize: 256 });
    try {
      expect(await m.run("llmctl load /models/chatml.gguf", { timeout: 60_000 })).toMatch(/^loaded /m);
      const intro = await sendLine(m, "llmctl chat --temperature 0 --max-tokens 10");
      expect(intro).toMatch(/^chat with sis-scribe-15m, format: chatml \(/m);
      const u = "Who art thou?";
      const t1 = parseGeneration(await sendLine(m, u));
      const text = `<|im_start|>user\n${u}<|im_end|>\n<|im_start|>assistant\n`;
      const pt = o2.tokenize(text);
      const ids = await o2.greedy(pt, 10);
      let ref = o2.detokenize(ids, pt);
      const stop = ref.indexOf("<|im_end|>");
      if (stop >= 0) ref = ref.slice(0, stop);
      expect(t1.text).toBe(ref.replace(/^[ \n]+/, ""));
      expect(t1.promptTokens).toBe(pt.length);
      expect(await sendLine(m, "/exit")).toMatch(/^chat ended/);
    } finally {
      await o2.dispose();
      await m.run("llmctl unload");
    }
    expect(regionsInUse(await info())).toBe(startRegions);
  });
});
