#!/usr/bin/env node
// The performance peer for SIS's benchmark: llama.cpp's arm64 build (npm
// @node-llama-cpp/linux-arm64, driven by tools/peer/llama-bench-driver.c) on the same
// emulated CPU as SIS.
//   --mode system  (default, the like-for-like peer): Debian's arm64 kernel in
//                  qemu-system-aarch64 -M virt, with an initramfs holding busybox, the arm64
//                  libraries, the driver and (small models) the model; bigger models go on a
//                  virtio-blk disk that the driver reads as /dev/vda.
//   --mode user    qemu-aarch64 (user-mode emulation, no system MMU/kernel): quicker to start.
// Set up first with tools/peer/setup.sh (Debian packages, npm package, kernel, driver).
//
// Usage: node tools/peer/run.mjs --model FILE [--prompt-tokens 32] [--gen 32] [--threads 1]
//          [--cpu neoverse-n1] [--smp 2] [--mem 4G] [--mode system|user] [--prompt TEXT]
//          [--model-via auto|initrd|disk] [--no-warmup] [--check] [--verbose] [--json]
// Library: import { runPeer } from "./tools/peer/run.mjs"; await runPeer({ model, ... })
import { spawn } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync,
  readFileSync, realpathSync, renameSync, rmSync, statSync, truncateSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const PEER_CACHE = join(ROOT, ".cache", "peer");
const BIN = join(PEER_CACHE, "bin");
const GUEST = join(PEER_CACHE, "guest");
const DRIVER = join(BIN, "llama-bench-driver");
const ARM64_LIBDIR = "/usr/lib/aarch64-linux-gnu"; // libc6:arm64 etc. (multiarch)
const ARM64_LIBS = ["libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libgomp.so.1"];
const INITRD_MODEL_MAX = 64 << 20; // bigger models go on a virtio-blk disk

/** Genesis 1:1-3 (KJV, public domain): natural text for sis-scribe; repeated when P is larger. */
export const DEFAULT_PROMPT = "In the beginning God created the heaven and the earth. And the earth was " +
  "without form, and void; and darkness was upon the face of the deep. And the Spirit of God moved " +
  "upon the face of the waters. And God said, Let there be light: and there was light.";

/** Throws a clear message if tools/peer/setup.sh has not been run (for `mode`). */
export function checkPeerSetup(mode = "system") {
  const need = [DRIVER];
  if (mode === "system") need.push(join(GUEST, "ready"));
  const missing = need.filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`peer: missing ${missing.join(", ")}: run tools/peer/setup.sh`);
}

/**
 * runPeer(opts) -> { mode, cpu, smp, prefill_tok_s, decode_tok_s, n_prompt, n_gen, threads, text,
 *                    prefill_ms, decode_ms[], tokens[] (prompt then generated), cpu_backend, wall_s,
 *                    host_loadavg (1-minute load when it started: the host's cores are shared) }
 * opts: model (GGUF path, required), promptTokens=32, gen=32, threads=1, cpu="neoverse-n1",
 *       smp=2, mem="4G", mode="system"|"user", prompt=DEFAULT_PROMPT, warmup=true,
 *       modelVia="auto"|"initrd"|"disk" (system mode), timeoutMs=3600000,
 *       onOutput(chunk) to see the raw console/stderr as it arrives.
 */
export async function runPeer(opts) {
  const o = { promptTokens: 32, gen: 32, threads: 1, cpu: "neoverse-n1", smp: 2, mem: "4G", mode: "system",
    prompt: DEFAULT_PROMPT, warmup: true, modelVia: "auto", timeoutMs: 3600_000, onOutput: null, ...opts };
  if (!o.model || !existsSync(o.model)) throw new Error(`peer: no such model: ${o.model}`);
  if (!["user", "system"].includes(o.mode)) throw new Error(`peer: --mode must be user or system, not ${o.mode}`);
  checkPeerSetup(o.mode);
  const driverArgs = (modelPath, grammarPath) => ["-m", modelPath, "-p", o.prompt, "-P", String(o.promptTokens),
    "-n", String(o.gen), "-t", String(o.threads), "-w", o.warmup ? "1" : "0", "-s", o.timeSampling ? "1" : "0",
    ...(grammarPath ? ["-g", grammarPath] : [])];
  const t0 = Date.now(), load = loadavg()[0];
  let out;
  if (o.mode === "user") {
    out = await run("qemu-aarch64", ["-cpu", o.cpu, DRIVER, ...driverArgs(resolve(o.model), o.grammarFile && resolve(o.grammarFile))], o);
  } else {
    const dir = mkdtempSync(join(tmpdir(), "sis-peer-"));
    try {
      const size = statSync(o.model).size;
      const viaDisk = o.modelVia === "disk" || (o.modelVia === "auto" && size > INITRD_MODEL_MAX);
      const disk = viaDisk ? diskImageFor(o.model) : null;
      const initrd = join(dir, "initrd.cpio");
      writeInitramfs(initrd, { modelFile: viaDisk ? null : o.model, disk: viaDisk, grammarFile: o.grammarFile,
        command: [ "/peer/llama-bench-driver", ...driverArgs(viaDisk ? "/dev/vda" : "/model.gguf", o.grammarFile && "/grammar.gbnf")] });
      const args = ["-M", "virt", "-cpu", o.cpu, "-smp", String(o.smp), "-m", o.mem,
        "-kernel", join(GUEST, "vmlinuz"), "-initrd", initrd, "-append", "console=ttyAMA0 quiet panic=-1",
        "-display", "none", "-monitor", "none", "-serial", "stdio", "-nic", "none", "-no-reboot"];
      if (disk) args.push("-drive", `if=none,id=model,format=raw,readonly=on,file=${disk}`,
        "-device", "virtio-blk-device,drive=model");
      out = await run("qemu-system-aarch64", args, o);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const line = out.split(/\r?\n/).find((l) => l.startsWith('{"prefill_tok_s"'));
  if (!line) throw new Error(`peer (${o.mode} mode): no result line; output was:\n${out.slice(-4000)}`);
  return { mode: o.mode, cpu: o.cpu, smp: o.mode === "system" ? o.smp : null, ...JSON.parse(line),
    wall_s: (Date.now() - t0) / 1000, host_loadavg: load };
}

function run(cmd, args, o) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const take = (b) => { const s = b.toString("utf8"); out += s; o.onOutput?.(s); };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    const timer = setTimeout(() => { child.kill("SIGKILL"); }, o.timeoutMs);
    child.on("error", (e) => { clearTimeout(timer); reject(new Error(`peer: cannot run ${cmd}: ${e.message}`)); });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (signal) reject(new Error(`peer: ${cmd} killed (${signal}) after ${o.timeoutMs} ms or by a signal;\n${out.slice(-4000)}`));
      else resolvePromise(out);
    });
  });
}

/** The model as a raw virtio-blk image: the file itself if its size is whole 512-byte sectors,
 *  else a zero-padded copy cached under .cache/peer/disks. The driver reads /dev/vda. */
function diskImageFor(model) {
  const st = statSync(model);
  if (st.size % 512 === 0) return resolve(model);
  const dir = join(PEER_CACHE, "disks");
  mkdirSync(dir, { recursive: true });
  const img = join(dir, `${basename(model)}-${st.size}-${Math.floor(st.mtimeMs)}.img`);
  if (!existsSync(img)) {
    copyFileSync(model, img + ".tmp");
    chmodSync(img + ".tmp", 0o644); // the model may be read-only
    truncateSync(img + ".tmp", Math.ceil(st.size / 512) * 512);
    renameSync(img + ".tmp", img);
  }
  return img;
}

const shq = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;

/** The guest's /init: mount, (load virtio-blk), run the driver, power off. */
function initScript({ disk, command }) {
  return `#!/bin/sh
busybox mount -t proc proc /proc
busybox mount -t sysfs sys /sys
busybox mount -t devtmpfs dev /dev
${disk ? `busybox insmod /modules/virtio_mmio.ko
busybox insmod /modules/virtio_blk.ko
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do busybox sleep 0.1; i=$((i+1)); done
` : ""}echo PEER-START
${command.map(shq).join(" ")}
echo "PEER-EXIT $?"
busybox poweroff -f
`;
}

/** A newc cpio archive (the kernel's initramfs format), written without root. */
function writeInitramfs(path, { modelFile, disk, command, grammarFile }) {
  const fd = openSync(path, "w");
  let ino = 1;
  const pad = (n) => (4 - (n % 4)) % 4;
  const put = (name, mode, data = Buffer.alloc(0), rdev = [0, 0]) => {
    const nameBuf = Buffer.from(name + "\0");
    const f = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
    const hdr = "070701" + f.map((v) => v.toString(16).padStart(8, "0")).join("");
    writeSync(fd, Buffer.concat([Buffer.from(hdr), nameBuf, Buffer.alloc(pad(110 + nameBuf.length))]));
    if (data.length) writeSync(fd, data);
    if (pad(data.length)) writeSync(fd, Buffer.alloc(pad(data.length)));
  };
  const dir = (n) => put(n, 0o040755);
  const file = (n, src, mode = 0o100755) => put(n, mode, readFileSync(realpathSync(src)));
  for (const d of ["bin", "dev", "proc", "sys", "tmp", "lib", "lib/aarch64-linux-gnu", "peer", "modules"]) dir(d);
  put("dev/console", 0o020600, undefined, [5, 1]);
  file("bin/busybox", join(GUEST, "busybox.bin"));
  put("bin/sh", 0o120777, Buffer.from("busybox"));
  put("init", 0o100755, Buffer.from(initScript({ disk, command })));
  file("lib/ld-linux-aarch64.so.1", join(ARM64_LIBDIR, "ld-linux-aarch64.so.1"));
  for (const l of ARM64_LIBS) file(`lib/aarch64-linux-gnu/${l}`, join(ARM64_LIBDIR, l));
  for (const f of readdirSync(BIN)) file(`peer/${f}`, join(BIN, f));
  if (disk) for (const m of readdirSync(join(GUEST, "modules"))) file(`modules/${m}`, join(GUEST, "modules", m), 0o100644);
  if (modelFile) file("model.gguf", modelFile, 0o100644);
  if (grammarFile) file("grammar.gbnf", grammarFile, 0o100644);
  put("TRAILER!!!", 0);
  closeSync(fd);
}

/**
 * hostGreedy(model, promptTokens, n) -> { tokens, text }: the oracle, llama.cpp on the host
 * (node-llama-cpp x64, the pinned haswell build: tools/ref/pinned.mjs), greedy continuation
 * of exactly these prompt tokens.
 */
export async function hostGreedy(model, promptTokens, n) {
  const { pinnedLlama } = await import("../ref/pinned.mjs");
  const llama = await pinnedLlama();
  const m = await llama.loadModel({ modelPath: resolve(model) });
  // one thread: the oracle's result does not depend on it, and spinning threads on a busy machine crawl
  const ctx = await m.createContext({ contextSize: promptTokens.length + n + 8, batchSize: promptTokens.length, threads: 1 });
  const tokens = [];
  for await (const t of ctx.getSequence().evaluate(promptTokens, { temperature: 0 })) {
    tokens.push(t);
    if (tokens.length >= n) break;
  }
  const text = m.detokenize(tokens, false, promptTokens); // with the prompt as context: keeps a leading space
  await ctx.dispose(); await m.dispose(); await llama.dispose();
  return { tokens, text };
}

// ---- command line ------------------------------------------------------------------------
async function main(argv) {
  const o = { model: null, promptTokens: 32, gen: 32, threads: 1, cpu: "neoverse-n1", smp: 2, mem: "4G",
    mode: "system", prompt: DEFAULT_PROMPT, warmup: true, modelVia: "auto" };
  let check = false, verbose = false, json = false;
  const num = (v, name) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) usage(`bad ${name}: ${v}`); return n; };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = () => argv[++i] ?? usage(`${a} needs a value`);
    if (a === "--model") o.model = v();
    else if (a === "--prompt-tokens") o.promptTokens = num(v(), a);
    else if (a === "--gen") o.gen = num(v(), a);
    else if (a === "--threads") o.threads = num(v(), a);
    else if (a === "--smp") o.smp = num(v(), a);
    else if (a === "--cpu") o.cpu = v();
    else if (a === "--mem") o.mem = v();
    else if (a === "--mode") o.mode = v();
    else if (a === "--prompt") o.prompt = v();
    else if (a === "--model-via") o.modelVia = v();
    else if (a === "--no-warmup") o.warmup = false;
    else if (a === "--check") check = true;
    else if (a === "--verbose") verbose = true;
    else if (a === "--json") json = true;
    else usage(`unknown option ${a}`);
  }
  if (!o.model) usage("--model is required");
  if (verbose) o.onOutput = (s) => process.stderr.write(s);
  const r = await runPeer(o);
  if (json) console.log(JSON.stringify(r));
  else {
    console.log(`llama.cpp peer, ${r.mode} mode, -cpu ${r.cpu}${r.smp ? ` -smp ${r.smp}` : ""}, ${r.threads} thread(s), ${r.cpu_backend}`);
    console.log(`  prefill ${r.prefill_tok_s.toFixed(2)} tok/s (${r.n_prompt} tokens in one batch), decode ${r.decode_tok_s.toFixed(2)} tok/s (${r.n_gen} tokens), wall ${r.wall_s.toFixed(1)} s, host load ${r.host_loadavg.toFixed(1)}`);
    console.log(`  text: ${JSON.stringify(r.text)}`);
    if (r.host_loadavg > 1.5) console.log("  note: the host was busy; ggml's worker threads spin-wait, so multi-thread figures suffer most");
  }
  if (check) {
    const host = await hostGreedy(o.model, r.tokens.slice(0, r.n_prompt), r.n_gen);
    const same = host.tokens.join(",") === r.tokens.slice(r.n_prompt).join(",") && host.text === r.text;
    console.log(same ? "check: the emulated peer's greedy tokens and text equal llama.cpp on the host"
      : `check: MISMATCH\n  host:  ${JSON.stringify(host.text)}\n  peer:  ${JSON.stringify(r.text)}`);
    if (!same) process.exitCode = 1;
  }
}

function usage(msg) {
  console.error(`peer: ${msg}\nusage: node tools/peer/run.mjs --model FILE [--prompt-tokens P] [--gen N] [--threads T]
       [--cpu neoverse-n1] [--smp S] [--mem 4G] [--mode system|user] [--prompt TEXT]
       [--model-via auto|initrd|disk] [--no-warmup] [--check] [--verbose] [--json]`);
  process.exit(2);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => { console.error(e.message); process.exit(1); });
}
