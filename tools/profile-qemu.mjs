#!/usr/bin/env node
// Where the kernel spends its time in QEMU: samples every vCPU's program counter while
// `llmctl bench --pg P,N` runs in a loop, and prints the functions (and the hottest 64-byte
// spans of them) by share of the samples, named from build/Image.elf's symbols.
//
//   node tools/profile-qemu.mjs [--model FILE.gguf] [--pg 32,1] [--samples 1500] [--smp 2] [--mem 4G]
//
// The default model is sis-scribe-15m Q4_0; any GGUF file is put on a models disk of its own
// (tools/bench-qemu.mjs diskFor). The samples come from QEMU's monitor (`info registers -a`),
// which reads the vCPUs between translated blocks without stopping the machine: a sample
// names the block being run, so a loop's samples gather at its first block. A core waiting
// for work (kernel/parallel waitUntil) or for input counts too: between two benches the
// machine waits for the next command, so long benches show the work best. Each share is given
// over all samples and over each core's (core0 is the boot core). A vCPU's PC is as of its last
// exit from translated code, so code that ends a block (an isb, as time_ns's counter read has)
// is named a little more often than its time. Perf tools see only QEMU's own code; this sees
// the guest's.
import { resolve, basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawn, spawnSync } from "node:child_process";
import { createConnection } from "node:net";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { SisMachine } from "../tests/support/qemu-serial.mjs";
import { qemuCommand } from "./lib/qemu.mjs";
import { diskFor } from "./bench-qemu.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ELF = resolve(ROOT, "build", "Image.elf");

function parseArgs(argv) {
  const o = { model: resolve(ROOT, "models", "sis-scribe-15m-q4_0.gguf"), pg: "32,1", samples: 1500, smp: 2, mem: "4G" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    if (a === "--model") o.model = resolve(v());
    else if (a === "--pg") o.pg = v();
    else if (a === "--samples") o.samples = Number(v());
    else if (a === "--smp") o.smp = Number(v());
    else if (a === "--mem") o.mem = v();
    else if (a === "-h" || a === "--help") { process.stdout.write(usage()); process.exit(0); }
    else throw new Error(`unknown option ${a} (see --help)`);
  }
  if (!/^\d+,\d+$/.test(o.pg)) throw new Error(`--pg takes P,N (prompt tokens, generated tokens), not '${o.pg}'`);
  if (!(o.samples > 0)) throw new Error("--samples takes a positive count");
  return o;
}

function usage() {
  return "usage: node tools/profile-qemu.mjs [--model FILE.gguf] [--pg P,N] [--samples N] [--smp N] [--mem SIZE]\n";
}

/** The kernel's functions, sorted by address: [address, name]. */
function symbols() {
  if (!existsSync(ELF)) throw new Error(`${ELF} is missing: run 'make kernel'`);
  const r = spawnSync("llvm-nm", ["-n", ELF], { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`llvm-nm ${ELF} failed: ${r.stderr}`);
  return r.stdout.split("\n").map((l) => l.split(" ")).filter((f) => f.length === 3 && /^[tT]$/.test(f[1]))
    .map((f) => [parseInt(f[0], 16), f[2].replace(/^w2c_kernel_/, "").replace(/0x2F/g, "/").replace(/0x23/g, "#")]);
}

/** The function holding pc, and pc's offset in it. */
function lookup(syms, pc) {
  let lo = 0, hi = syms.length - 1;
  if (hi < 0 || pc < syms[0][0]) return ["?", 0];
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (syms[mid][0] <= pc) lo = mid; else hi = mid - 1; }
  return [syms[lo][1], pc - syms[lo][0]];
}

async function sample(o) {
  const dir = mkdtempSync(join(tmpdir(), "sis-profile-"));
  const sock = join(dir, "monitor.sock");
  const { cmd, args, cleanup } = qemuCommand({ disk: diskFor(o.model), smp: o.smp, mem: o.mem });
  args[args.indexOf("-monitor") + 1] = `unix:${sock},server=on,wait=off`;
  const m = new SisMachine(spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] }), () => { cleanup(); rmSync(dir, { recursive: true, force: true }); });
  try {
    await m.waitFor("sis> ", { timeout: 120_000 });
    await m.run("llmctl backend real");
    const load = await m.run(`llmctl load /models/${basename(o.model)}`, { timeout: 900_000 });
    if (!/^loaded /m.test(load)) throw new Error(`SIS could not load the model:\n${load}`);
    let stop = false, benches = 0;
    const loop = (async () => { while (!stop) { await m.run(`llmctl bench --pg ${o.pg}`, { timeout: 3600_000 }); benches++; } })();
    const mon = createConnection(sock);
    let buf = "";
    mon.on("data", (d) => { buf += d.toString(); });
    await new Promise((r) => mon.once("connect", r));
    const pcs = [];
    const pause = (ms) => new Promise((r) => setTimeout(r, ms));
    for (let k = 0; k < o.samples; k++) {
      buf = "";
      mon.write("info registers -a\n");
      const t0 = Date.now();
      while ((buf.match(/\bPC=/g) ?? []).length < o.smp && Date.now() - t0 < 2000) await pause(2);
      let core = 0; // the monitor lists the vCPUs in order
      for (const x of buf.matchAll(/\bPC=([0-9a-f]+)/g)) pcs.push({ pc: parseInt(x[1], 16), core: core++ });
      if (k % 100 === 99) process.stderr.write(`profile-qemu: ${k + 1}/${o.samples} samples\n`);
      await pause(5 + Math.random() * 10); // not in step with any loop of the guest's
    }
    mon.end();
    stop = true;
    await loop;
    return { pcs, benches };
  } finally {
    m.kill();
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const syms = symbols();
  process.stderr.write(`profile-qemu: ${basename(o.model)}, llmctl bench --pg ${o.pg} in a loop, -smp ${o.smp}, ${o.samples} samples of every vCPU\n`);
  const { pcs, benches } = await sample(o);
  // per name: [all samples, then each core's]
  const fns = new Map(), spans = new Map();
  const count = (map, key, core) => {
    const c = map.get(key) ?? new Array(o.smp + 1).fill(0);
    c[0]++; c[core + 1]++;
    map.set(key, c);
  };
  const perCore = new Array(o.smp).fill(0);
  for (const { pc, core } of pcs) {
    const [name, off] = lookup(syms, pc);
    count(fns, name, core);
    count(spans, `${name}+0x${(off & ~63).toString(16)}`, core);
    perCore[core]++;
  }
  const pct = (c, n) => `${(100 * c / Math.max(1, n)).toFixed(1).padStart(5)}%`;
  const top = (map, n) => [...map].sort((a, b) => b[1][0] - a[1][0]).slice(0, n)
    .map(([k, c]) => `${pct(c[0], pcs.length)} ${c.slice(1).map((x, i) => pct(x, perCore[i])).join(" ")}  ${k}`).join("\n");
  const head = `  all ${perCore.map((_, i) => `core${i}`.padStart(6)).join(" ")}`;
  process.stdout.write(`${pcs.length} samples over ${benches} benches (the columns: share of all samples, then of each core's)\n\n` +
    `functions\n${head}\n${top(fns, 25)}\n\nhottest 64-byte spans (llvm-objdump -d build/Image.elf --disassemble-symbols=w2c_kernel_...)\n${head}\n${top(spans, 15)}\n`);
}

main().catch((e) => { process.stderr.write(`profile-qemu: ${e.message}\n`); process.exitCode = 1; });
