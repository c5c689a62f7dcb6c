// End to end: loading models in QEMU beyond the happy path of tests/e2e/llm.test.ts.
//   - `make run LOAD=/models/NAME.gguf`: tools/run.mjs writes boot commands into a copy of
//     the models disk; SIS runs them before its first prompt, so `llmctl infer` works at once.
//   - I/O errors (QEMU's blkdebug driver fails reads of chosen sectors) in a model's header
//     and in the middle of its data: clear errors, and no memory is kept.
//   - A machine with 512 MiB: the memory check uses what that machine has.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { spawn, spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { blkdebugArgs, PROMPT } from "../support/storage-e2e.mjs";
import { hostView, superInfo } from "../support/ext4-corrupt.mjs";
import { Oracle, PINNED_MISSING } from "../support/llamacpp.mjs";
import { parseGeneration, regionsInUse, tinyModel, writeSparse, GGML } from "../support/llm-e2e.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";
import { withBootCommands, loadCommands, BOOT_FILE } from "../../tools/run.mjs";
import { ROOT } from "../../tools/lib/asbuild.mjs";

const MODEL_FILE = resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf");
const MODEL = "/models/sis-scribe-15m-q4_0.gguf";
const haveMke2fs = !!findMke2fs();

let tmp: string;
beforeAll(() => { if (haveMke2fs) tmp = mkdtempSync(join(tmpdir(), "sis-e2e-llm-boot-")); });
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

describe.skipIf(!haveMke2fs)("make run LOAD=...: a model loaded at boot", () => {
  let m: SisMachine;
  let oracle: any;
  let image: string;

  beforeAll(async () => {
    const src = join(tmp, "models");
    mkdirSync(src);
    copyFileSync(MODEL_FILE, join(src, "sis-scribe-15m-q4_0.gguf"));
    writeFileSync(join(src, BOOT_FILE), "# the disk's own boot commands come first\necho hello from the models disk\n");
    const plain = join(tmp, "models.img");
    mkdisk(src, plain, { label: "sis-boot-test" });
    image = withBootCommands(plain, loadCommands(MODEL), join(tmp, "models-boot.img"));
    [m, oracle] = await Promise.all([SisMachine.boot({ disk: image }), Oracle.open(MODEL_FILE, { contextSize: 256 })]);
    await m.waitFor(/\nloaded \/models\/[^\n]*\n+sis> $/, { timeout: 120_000 }); // (boot waits for the first prompt)
  });
  afterAll(async () => { m?.kill(); await oracle?.dispose(); });

  it("runs the boot commands before the first prompt, each after boot> ", () => {
    const out = m.output;
    expect(out).toMatch(/info: boot: 3 commands from \/models\/sis-boot\.txt run before the first prompt/);
    const at = out.indexOf("boot: ready in");
    const after = out.slice(at);
    expect(after).toMatch(/\nboot> echo hello from the models disk\nhello from the models disk\nboot> llmctl backend real\nLLM backend: TransformerBackend\n/);
    expect(after).toMatch(new RegExp(`\\nboot> llmctl load ${MODEL}\\n`));
    expect(after).toMatch(/^model:\s+sis-scribe-15m/m);
    // the first prompt comes after them all: what is typed at it gets its own answer
    expect(out.indexOf("sis> ")).toBeGreaterThan(out.indexOf("\nloaded /models/"));
    expect(out.split("sis> ").length).toBe(2);
  });

  it.skipIf(!!PINNED_MISSING)("llmctl infer works at once, as llama.cpp continues" + (PINNED_MISSING ? ` (${PINNED_MISSING})` : ""), async () => {
    const pt = oracle.tokenize("And God said");
    const ids = await oracle.greedy(pt, 20);
    const g = parseGeneration(await m.run('llmctl infer "And God said" --temperature 0 --max-tokens 20', { timeout: 120_000 }));
    expect(g.text).toBe(oracle.detokenize(ids, pt));
    expect(g.tokens).toBe(ids.length);
  });

  it("the image made from the folder is left as it was", () => {
    const r = spawnSync("/usr/sbin/debugfs", ["-R", `cat /${BOOT_FILE}`, join(tmp, "models.img")], { encoding: "utf8" }).stdout;
    expect(r).toBe("# the disk's own boot commands come first\necho hello from the models disk\n");
  });
});

describe.skipIf(!haveMke2fs)("loading with I/O errors and on a 512 MiB machine", () => {
  let m: SisMachine;
  let start = 0;

  beforeAll(async () => {
    const src = join(tmp, "io");
    mkdirSync(src);
    copyFileSync(MODEL_FILE, join(src, "bad-header.gguf"));
    copyFileSync(MODEL_FILE, join(src, "bad-middle.gguf"));
    copyFileSync(MODEL_FILE, join(src, "good.gguf"));
    // 600 MiB (sparse: wide F32 matrices of one layer): more than a 512 MiB machine can hold
    const big = tinyModel({ dim: 6244, sparse: true });
    writeSparse(join(src, "big.gguf"), big.bytes, big.size);
    const image = join(tmp, "io.img");
    mkdisk(src, image, { label: "sis-io-test" });
    const info = superInfo(readFileSync(image));
    const view = hostView(image, ["/bad-header.gguf", "/bad-middle.gguf"]);
    const sectors = info.bs / 512;
    // the first block of one file; a block ~6 MiB into the other (its extents in file order)
    const headerSector = view["/bad-header.gguf"].data[0][0] * sectors + 1;
    let want = Math.floor((6 << 20) / info.bs), middleBlock = -1;
    for (const [s, e] of view["/bad-middle.gguf"].data) {
      if (want < e - s) { middleBlock = s + want; break; }
      want -= e - s;
    }
    expect(middleBlock).toBeGreaterThan(0);
    const config = join(tmp, "blkdebug.conf");
    const rule = (sector: number) => `[inject-error]\nevent = "read_aio"\nerrno = "5"\nsector = "${sector}"\nonce = "off"\nimmediately = "off"\n`;
    writeFileSync(config, rule(headerSector) + rule(middleBlock * sectors + 3));
    const opts = { disk: image, mem: "512M" };
    const { cmd, args, cleanup } = blkdebugArgs(opts, config);
    const proc = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    m = new SisMachine(proc, cleanup);
    await m.waitFor(PROMPT, { timeout: 120_000 });
    expect(await m.run("llmctl backend real")).toMatch(/^LLM backend: TransformerBackend$/m);
    start = regionsInUse(await m.run("llmctl info"));
  });
  afterAll(() => m?.kill());

  it("an I/O error in the header is reported and nothing is kept", async () => {
    const out = await m.run("llmctl load /models/bad-header.gguf");
    expect(out).toMatch(/^error: reading the header of \/models\/bad-header\.gguf failed: .*I\/O error/m);
    expect(regionsInUse(await m.run("llmctl info"))).toBe(start);
  });

  it("an I/O error in the middle of the data stops the load and frees its memory", async () => {
    const out = await m.run("llmctl load /models/bad-middle.gguf");
    expect(out).toMatch(/^error: reading \/models\/bad-middle\.gguf failed at byte \d+ of \d+: .*I\/O error.*; nothing was loaded$/m);
    const i = await m.run("llmctl info");
    expect(i).toMatch(/^model: none loaded/m);
    expect(regionsInUse(i)).toBe(start);
  });

  it("the same model from good sectors loads and runs", async () => {
    const out = await m.run("llmctl load /models/good.gguf", { timeout: 120_000 });
    expect(out).toMatch(/^loaded \/models\/good\.gguf in/m);
    const g = parseGeneration(await m.run('llmctl infer "In the beginning" --temperature 0 --max-tokens 4', { timeout: 60_000 }));
    expect(g.tokens).toBe(4);
    await m.run("llmctl unload");
    expect(regionsInUse(await m.run("llmctl info"))).toBe(start);
  });

  it("a 600 MiB model is too large for a 512 MiB machine, and the message says so", async () => {
    const out = await m.run("llmctl load /models/big.gguf");
    const r = /^error: model too large for memory: \/models\/big\.gguf needs ([\d.]+) MiB \(file 600\.3 MiB \+ .*\) but only ([\d.]+) MiB of ([\d.]+) MiB is free$/m.exec(out);
    expect(r, out).not.toBeNull();
    const limit = Number(r![3]);
    expect(limit).toBeLessThan(512);
    expect(limit).toBeGreaterThan(256);
    expect(Number(r![2])).toBeLessThanOrEqual(limit);
    expect(regionsInUse(await m.run("llmctl info"))).toBe(start);
  });
});
