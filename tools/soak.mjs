// The soak: SIS in QEMU for a long while, as a user who never reboots would run it, with its
// memory and speed sampled along the way. Not part of `make test` (about half an hour):
//
//   npm run soak [-- --scale F] [--smp N] [--seed S]
//
// On one machine (direct boot, -smp 2 unless --smp, 4 GiB; a models disk of models/ and, where
// ../shared has them, sis-scribe's Q8_0 and F16), in this order:
//   1. 1000 generations with random settings (temperature, top-k/p, min-p, repeat penalty,
//      seed, 1..48 tokens) and random prompts; a tenth of them under a grammar (--json)
//   2. 100 unload/load cycles over the models on the disk
//   3. 1000 lines of random bytes on the serial line (control characters and escape
//      sequences included, CR and LF not: an Up arrow may recall a line, which is not to run),
//      each followed by Ctrl-C, which cancels the line, and an `echo` that must answer
//   4. 200 Ctrl-Cs at random moments of generations and of loads
// After each phase, and every 100 steps within one, it samples the GC heap (`mem`, after a
// full collection), the regions in use (`llmctl stats`, exact) and the decode speed of one
// fixed greedy generation, always in the same state: the first model loaded, and a --json
// generation run (the grammar's view of the vocabulary, kept with the model, built). It passes when nothing traps, every command comes back to the
// prompt, and the regions and GC heap at the end are what they were after the first load.
// --scale F runs F times as many steps (e.g. 0.1 for a three-minute check).
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./lib/asbuild.mjs";
import { mkdisk } from "./mkdisk.mjs";
import { SisMachine } from "../tests/support/qemu-serial.mjs";
import { parseGeneration, regionsInUse } from "../tests/support/llm-e2e.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
const scale = opt("--scale", 1), smp = opt("--smp", 2);
let seed = opt("--seed", 20261206) >>> 0;
const rnd = () => { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; return seed / 2 ** 32; };
const pick = (a) => a[Math.floor(rnd() * a.length)];
const steps = (n) => Math.max(1, Math.round(n * scale));

const SHARED = join(ROOT, "..", "shared", "models");
const MODELS = [["sis-scribe-15m-q4_0.gguf", join(ROOT, "models")], ["sis-scribe-15m-q8_0.gguf", SHARED], ["sis-scribe-15m-f16.gguf", SHARED]]
  .filter(([f, dir]) => existsSync(join(dir, f)));
const WORDS = ("And God said Let there be light and there was light the earth was without form void darkness upon face " +
  "of deep Spirit moved waters In beginning created heaven LORD Moses people Israel went out unto land").split(" ");
const PROMPTS = ["And God said", "In the beginning", "The LORD spake unto Moses, saying", "And it came to pass", "Blessed are"];
const FIXED = 'llmctl infer "And God said" --max-tokens 32 --temperature 0';

const samples = [];
let failures = 0;

function fail(what, out) {
  failures++;
  console.log(`FAIL: ${what}\n${out.slice(-1500)}`);
}

async function run(m, line, timeout = 180_000) {
  m.forget(); // the host's work per byte of output stays small however long the soak runs
  const out = await m.run(line, { timeout });
  if (/trapped|\*\*\* CPU exception/.test(out)) fail(`'${line}' trapped`, out);
  return out;
}

/** GC heap in use (bytes, from mem's rounded figure), regions in use (exact), decode tok/s. */
async function sample(m, label) {
  await run(m, 'llmctl infer "x" --max-tokens 1 --json');
  const mem = await run(m, "mem");
  const g = /gc heap:\s+([\d.]+) (B|KiB|MiB) in use/.exec(mem);
  const heap = g ? Number(g[1]) * { B: 1, KiB: 1024, MiB: 1 << 20 }[g[2]] : NaN;
  const regions = regionsInUse(await run(m, "llmctl stats"));
  const decode = parseGeneration(await run(m, FIXED)).genRate;
  const s = { label, heap, regions, decode, at: new Date().toISOString().slice(11, 19) };
  samples.push(s);
  console.log(`${s.at}  ${label.padEnd(34)} gc heap ${(heap / 1024).toFixed(1).padStart(7)} KiB   regions ${String(regions).padStart(10)} B   decode ${decode?.toFixed(1) ?? "?"} tok/s`);
  return s;
}

function randomInfer() {
  const words = Array.from({ length: 1 + Math.floor(rnd() * 12) }, () => pick(WORDS)).join(" ");
  const prompt = rnd() < 0.5 ? pick(PROMPTS) : words;
  const o = [`--max-tokens ${1 + Math.floor(rnd() * 48)}`, `--temperature ${(rnd() * 1.5).toFixed(2)}`, `--seed ${Math.floor(rnd() * 1e6)}`];
  if (rnd() < 0.5) o.push(`--top-k ${Math.floor(rnd() * 100)}`);
  if (rnd() < 0.5) o.push(`--top-p ${rnd().toFixed(2)}`);
  if (rnd() < 0.3) o.push(`--min-p ${(rnd() * 0.3).toFixed(2)}`);
  if (rnd() < 0.3) o.push(`--repeat-penalty ${(1 + rnd() * 0.5).toFixed(2)}`);
  if (rnd() < 0.1) o.push("--json");
  return `llmctl infer "${prompt}" ${o.join(" ")}`;
}

function randomLine() {
  const n = Math.floor(rnd() * 200);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const r = rnd();
    b[i] = r < 0.1 ? 0x1b : r < 0.2 ? Math.floor(rnd() * 32) : Math.floor(rnd() * 256);
    if (b[i] === 0x0d || b[i] === 0x0a) b[i] = 0x20;
  }
  return b;
}

async function main() {
  const tmp = mkdtempSync(join(tmpdir(), "sis-soak-"));
  const t0 = Date.now();
  let m;
  try {
    mkdirSync(join(tmp, "src"));
    for (const [f, dir] of MODELS) copyFileSync(join(dir, f), join(tmp, "src", f));
    mkdisk(join(tmp, "src"), join(tmp, "models.img"), { label: "sis-soak" });
    console.log(`soak: -smp ${smp}, scale ${scale}, seed ${seed}, models: ${MODELS.map(([f]) => f).join(", ")}`);
    m = await SisMachine.boot({ smp, mem: "4G", disk: join(tmp, "models.img") });
    await run(m, "llmctl backend real");
    await run(m, `llmctl load ${MODELS[0][0]}`);
    await run(m, FIXED);
    const first = await sample(m, "after the first load");

    const n1 = steps(1000);
    for (let i = 1; i <= n1; i++) {
      const line = randomInfer();
      const out = await run(m, line);
      if (!/^\[\d+ tokens?/m.test(out)) fail(`no generation summary for: ${line}`, out);
      if (i % 100 === 0 || i === n1) await sample(m, `generations ${i}/${n1}`);
    }

    const n2 = steps(100);
    for (let i = 1; i <= n2; i++) {
      await run(m, "llmctl unload");
      const out = await run(m, `llmctl load ${MODELS[i % MODELS.length][0]}`);
      if (!/^loaded /m.test(out)) fail("load", out);
      if (i % 25 === 0 || i === n2) {
        if (MODELS.length > 1 && i % MODELS.length !== 0) { await run(m, "llmctl unload"); await run(m, `llmctl load ${MODELS[0][0]}`); }
        await sample(m, `load/unload cycles ${i}/${n2}`);
      }
    }
    await run(m, "llmctl unload");
    await run(m, `llmctl load ${MODELS[0][0]}`);

    const n3 = steps(1000);
    for (let i = 1; i <= n3; i++) {
      m.forget();
      const from = 0;
      m.send(randomLine());
      m.send(`\x03echo soak-${i}\r`);
      await m.waitFor(new RegExp(`\nsoak-${i}\n(.|\n)*sis> `), { from, timeout: 60_000 });
      if (/trapped|\*\*\* CPU exception/.test(m.output.slice(from))) fail("a random line trapped", m.output.slice(from));
      if (i % 250 === 0 || i === n3) await sample(m, `random lines ${i}/${n3}`);
    }

    const n4 = steps(200);
    for (let i = 1; i <= n4; i++) {
      const loading = i % 4 === 0 && MODELS.length > 1;
      if (loading) await run(m, "llmctl unload");
      const line = loading ? `llmctl load ${MODELS[MODELS.length - 1][0]}` : `llmctl infer "${pick(PROMPTS)}" --max-tokens 200 --temperature 0.7 --seed ${i}`;
      m.forget();
      const from = 0;
      m.send(line + "\r");
      await new Promise((r) => setTimeout(r, Math.floor(rnd() * 1500)));
      m.send("\x03");
      await m.waitFor("\nsis> ", { from, timeout: 120_000 });
      // the command may have ended before the Ctrl-C, which then cancels an empty line: an echo
      // answered is where both are done
      await new Promise((r) => setTimeout(r, 50));
      m.send(`echo ctrl-c-${i}\r`);
      await m.waitFor(new RegExp(`\nctrl-c-${i}\n(.|\n)*sis> `), { from, timeout: 120_000 });
      const out = m.output.slice(from);
      if (/trapped|\*\*\* CPU exception/.test(out)) fail(`Ctrl-C during '${line}'`, out);
      if (loading) { await run(m, "llmctl unload"); await run(m, `llmctl load ${MODELS[0][0]}`); }
      if (i % 50 === 0 || i === n4) await sample(m, `Ctrl-C ${i}/${n4}`);
    }

    const last = await sample(m, "at the end");
    const minutes = ((Date.now() - t0) / 60000).toFixed(1);
    const decodes = samples.map((s) => s.decode).filter((d) => d > 0);
    console.log(`\nsoak: ${minutes} min; ${failures} failure(s); regions ${first.regions} -> ${last.regions} B; ` +
      `gc heap ${(first.heap / 1024).toFixed(1)} -> ${(last.heap / 1024).toFixed(1)} KiB; decode ${Math.min(...decodes).toFixed(1)}..${Math.max(...decodes).toFixed(1)} tok/s`);
    if (last.regions !== first.regions) fail(`regions grew: ${first.regions} -> ${last.regions} B`, "");
    if (last.heap > first.heap) fail(`the GC heap grew: ${first.heap} -> ${last.heap} B`, "");
  } catch (e) {
    fail(`the soak stopped: ${e.message}`, m?.output ?? "");
  } finally {
    m?.kill();
    rmSync(tmp, { recursive: true, force: true });
  }
  process.exit(failures ? 1 : 0);
}

main();
