// Builds and runs tools/ref/ggml-ref.c: ggml itself (node-llama-cpp's bundled libraries) as
// an oracle for the engine's quant formats and kernels. The binary is built on demand under
// build/ref/ from this source, the headers of the matching llama.cpp source (the package's
// git bundle) and the package's prebuilt libggml; nothing here is committed as a binary.
//
// tools/ref/llama-run.c is built the same way (ensureLlamaRun) against libllama: llama.cpp's own
// forward pass with node-llama-cpp's default context settings, for logits and graph tensors.
//
//   node tools/ref/ggmlref.mjs build        build (or reuse) build/ref/ggml-ref, llama-run and llama-quantize, print their paths
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { PINNED_CPU_LIB, pinnedBinsDir, pinnedUnavailable } from "./pinned.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SRC = join(ROOT, "tools/ref/ggml-ref.c");
const OUT_DIR = join(ROOT, "build/ref");
const BIN = join(OUT_DIR, "ggml-ref");
const PKG = join(ROOT, "node_modules/node-llama-cpp/llama/gitRelease.bundle");
const PLATFORM = `linux-${process.arch}`;
const LIBS = join(ROOT, `node_modules/@node-llama-cpp/${PLATFORM}/bins/${PLATFORM}`);
// ggml's portable CPU build: no SIMD extensions beyond the baseline, so its matrix products
// run ggml's reference (generic) kernels. Override with GGML_REF_CPU=/path/to/libggml-cpu-*.so.
const CPU_LIB = process.env.GGML_REF_CPU ?? join(LIBS, process.arch === "x64" ? "libggml-cpu-x64.so" : "libggml-cpu.so");

/** Why the oracle cannot be used here, or "" when it can. */
export function ggmlRefUnavailable() {
  if (process.platform !== "linux") return "ggml-ref needs Linux";
  const pinned = pinnedUnavailable(); // its activation conversions and llama-run are the pinned build's
  if (pinned) return pinned;
  if (!existsSync(PKG)) return `no llama.cpp source bundle at ${PKG}`;
  if (!existsSync(join(LIBS, "libggml-base.so"))) return `no prebuilt ggml libraries in ${LIBS}`;
  if (!existsSync(CPU_LIB)) return `no CPU backend library ${CPU_LIB}`;
  try { execFileSync("gcc", ["--version"], { stdio: "ignore" }); } catch { return "gcc is not installed"; }
  try { execFileSync("git", ["--version"], { stdio: "ignore" }); } catch { return "git is not installed"; }
  return "";
}

function libName(base) {
  const names = execFileSync("ls", [LIBS], { encoding: "utf8" }).split("\n");
  const re = new RegExp(`^${base}\\.(v[\\d.]+\\.)?so$`);
  const n = names.find((s) => re.test(s)) ?? names.find((s) => s.startsWith(`${base}.so`));
  if (!n) throw new Error(`no ${base} in ${LIBS}`);
  return n;
}
const libggmlName = () => libName("libggml");

/** The public headers of the matching llama.cpp (ggml/include and include), read out of the
 *  bundle. Test files run in parallel, so everything is made under a private name and then
 *  renamed into place. */
function ensureHeaders() {
  const inc = join(OUT_DIR, "include");
  if (!existsSync(join(inc, "ggml.h")) || !existsSync(join(inc, "llama.h"))) {
    // read them out of the bundle without a work tree
    const tmp = mkdtempSync(join(OUT_DIR, "headers-"));
    try {
      const git = join(tmp, "llama.git"), dir = join(tmp, "include");
      execFileSync("git", ["clone", "--quiet", "--bare", PKG, git], { stdio: "pipe" });
      mkdirSync(dir, { recursive: true });
      for (const [path, strip] of [["ggml/include", 2], ["include", 1]]) {
        const tar = execFileSync("git", ["--git-dir", git, "archive", "HEAD", path], { maxBuffer: 1 << 28 });
        execFileSync("tar", ["-x", `--strip-components=${strip}`, "-C", dir], { input: tar });
      }
      if (!existsSync(join(inc, "llama.h"))) {
        rmSync(inc, { recursive: true, force: true }); // an older, partial set
        try { renameSync(dir, inc); } catch { /* another process put them there first */ }
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return inc;
}

/** Compiles one tools/ref C file to bin (atomically: parallel test files may do it too). */
function buildTool(src, bin, libs) {
  const inc = ensureHeaders();
  const tmp = `${bin}.${process.pid}.tmp`;
  execFileSync("gcc", ["-O1", "-std=c11", "-Wall", `-I${inc}`, src, "-o", tmp, `-L${LIBS}`, ...libs,
    `-Wl,-rpath,${LIBS}`, "-lm", "-ldl"], { stdio: "pipe" });
  renameSync(tmp, bin);
}

/** Builds build/ref/ggml-ref if its inputs changed; returns its path. Throws on failure. */
export function ensureGgmlRef() {
  const why = ggmlRefUnavailable();
  if (why) throw new Error(why);
  const key = createHash("sha256").update(readFileSync(SRC)).update(LIBS).update(String(readFileSync(PKG).length)).digest("hex");
  const stamp = BIN + ".hash";
  if (existsSync(BIN) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) return BIN;
  mkdirSync(OUT_DIR, { recursive: true });
  buildTool(SRC, BIN, ["-l:libggml-base.so", `-l:${libggmlName()}`]);
  writeFileSync(stamp, key);
  return BIN;
}

/** Builds build/ref/NAME from tools/ref/NAME.c against libllama if its inputs changed;
 *  returns its path. Throws on failure. */
function ensureLlamaTool(name) {
  const why = ggmlRefUnavailable();
  if (why) throw new Error(why);
  const src = join(ROOT, "tools/ref", name + ".c"), bin = join(OUT_DIR, name);
  const key = createHash("sha256").update(readFileSync(src)).update(readFileSync(join(ROOT, "tools/ref/grammar_greedy.h")))
    .update(LIBS).update(String(readFileSync(PKG).length)).digest("hex");
  const stamp = bin + ".hash";
  if (existsSync(bin) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) return bin;
  mkdirSync(OUT_DIR, { recursive: true });
  buildTool(src, bin, [`-l:${libName("libllama")}`, "-l:libggml-base.so", `-l:${libggmlName()}`]);
  writeFileSync(stamp, key);
  return bin;
}

/** Builds build/ref/llama-run if its inputs changed; returns its path. Throws on failure. */
export function ensureLlamaRun() { return ensureLlamaTool("llama-run"); }

/** Builds build/ref/llama-quantize if its inputs changed; returns its path. Throws on failure. */
export function ensureLlamaQuantize() { return ensureLlamaTool("llama-quantize"); }

/** llama.cpp's own quantizer (tools/ref/llama-quantize.c): `input` (F32/F16/BF16 GGUF) to
 *  `output` as llama.cpp makes a file of `ftype` ("Q4_0", "Q4_K_M", ...). Throws on failure. */
export function llamaQuantize(input, output, ftype) {
  const bin = ensureLlamaQuantize();
  execFileSync(bin, [input, output, ftype], { env: { ...process.env, GGML_BACKEND_DIR: pinnedBinsDir() }, stdio: ["ignore", "ignore", "pipe"] });
}

/**
 * llama.cpp on a GGUF file with node-llama-cpp's default context settings (flash attention
 * "auto", F16 cache, n_batch = n_ubatch = min(ctx, 512), 4 threads unless given): the prompt
 * `tokens`, then `gen` greedy tokens one at a time. Returns { logits: Float32Array[] (one per
 * step), tokens: number[] (the greedy ones), tensors: { name, step, shape, data }[] } where
 * tensors are the graph tensors whose names start with one of `dump` ("*": all), in graph order.
 * The pinned CPU build (tools/ref/pinned.mjs) runs it; `hostBuild` lets ggml pick this host's own.
 */
export function llamaRun(model, tokens, opts = {}) {
  const run = llamaRunStart(model, tokens, opts);
  try {
    return run.finish(execFileSync(run.bin, run.args, run.options));
  } finally {
    run.cleanup();
  }
}

/** llamaRun without blocking the event loop while llama.cpp runs (a long run inside a test
 *  would otherwise starve the test runner's messages). */
export async function llamaRunAsync(model, tokens, opts = {}) {
  const run = llamaRunStart(model, tokens, opts);
  try {
    const out = await new Promise((ok, fail) => execFile(run.bin, run.args, run.options, (e, stdout) => (e ? fail(e) : ok(stdout))));
    return run.finish(out);
  } finally {
    run.cleanup();
  }
}

/** llamaRun's command line, and the reading of what it wrote. */
function llamaRunStart(model, tokens, { gen = 0, ctx = 256, batch, threads = 4, fa = "auto", dump = [], hostBuild = false, grammar } = {}) {
  const bin = ensureLlamaRun();
  const dir = mkdtempSync(join(tmpdir(), "llama-run-"));
  const args = [model, dir, "--tokens", tokens.join(","), "--gen", gen, "--ctx", ctx, "--threads", threads, "--fa", fa];
  if (batch) args.push("--batch", batch);
  if (dump.length) args.push("--dump", dump.join(","));
  if (grammar !== undefined) { writeFileSync(join(dir, "grammar.gbnf"), grammar); args.push("--grammar", join(dir, "grammar.gbnf")); }
  const options = { env: { ...process.env, GGML_BACKEND_DIR: hostBuild ? LIBS : pinnedBinsDir() }, encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "pipe"] };
  const finish = (out) => {
    const all = readFileSync(join(dir, "logits.f32"));
    const lf = new Float32Array(all.buffer, all.byteOffset, all.byteLength / 4);
    const greedy = readFileSync(join(dir, "tokens.txt"), "utf8").split("\n").filter(Boolean).map(Number);
    const steps = Number(/^steps (\d+)$/m.exec(out)[1]); // a grammar's run may end early
    const nv = lf.length / steps;
    const logits = Array.from({ length: steps }, (_, i) => lf.slice(i * nv, (i + 1) * nv));
    const tensors = [];
    for (const line of out.split("\n")) {
      const m = /^tensor (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (.+)$/.exec(line);
      if (!m) continue;
      const b = readFileSync(join(dir, `t${m[1]}.f32`));
      tensors.push({ name: m[7], step: +m[2], shape: [+m[3], +m[4], +m[5], +m[6]], data: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4).slice() });
    }
    return { logits, tokens: greedy, tensors };
  };
  return { bin, args: args.map(String), options, finish, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

let hostCpu = null;
/** The CPU backend variant ggml_backend_load_best would load on this machine from the package
 *  (e.g. libggml-cpu-zen4.so on an AVX-512 host): what a plain node-llama-cpp runs here. The
 *  oracles do not use it (tools/ref/pinned.mjs); reports name it. */
export function hostCpuLib() {
  hostCpu ??= execFileSync(ensureGgmlRef(), ["bestcpu", LIBS], { encoding: "utf8" }).trim();
  return hostCpu;
}

/**
 * Runs one ggml-ref command on buffers: `inputs` are written to temporary files that take the
 * places marked "@in" in args (in order), the output file takes "@out". Returns the output bytes.
 * `cpu` picks the CPU backend: the portable build by default (ggml's reference kernels), or
 * "pinned" for the variant the oracles use (tools/ref/pinned.mjs: haswell's SIMD kernels).
 * Activation conversions (mulmat from f32, actq) are the pinned variant's (GGML_REF_ACT_CPU
 * overrides it). `repack` puts
 * mulmat's weights in that build's repacked layout where it takes them (Q4_0 and Q4_K with
 * rows a multiple of 8 on AVX2), as llama.cpp loads them.
 */
export function ggmlRef(args, inputs = [], { cpu = CPU_LIB, repack = false } = {}) {
  const bin = ensureGgmlRef();
  const dir = mkdtempSync(join(tmpdir(), "ggml-ref-"));
  try {
    let k = 0;
    const outPath = join(dir, "out.bin");
    const argv = args.map((a) => {
      if (a === "@in") { const p = join(dir, `in${k}.bin`); writeFileSync(p, inputs[k++]); return p; }
      if (a === "@out") return outPath;
      return String(a);
    });
    // activations for Q8_0/Q8_1 products as the pinned CPU build converts them
    const act = process.env.GGML_REF_ACT_CPU ?? PINNED_CPU_LIB;
    execFileSync(bin, argv, { env: { ...process.env, GGML_REF_CPU: cpu === "pinned" ? PINNED_CPU_LIB : cpu, GGML_REF_ACT_CPU: act, GGML_REF_REPACK: repack ? "1" : "0" }, stdio: ["ignore", "ignore", "pipe"] });
    return readFileSync(outPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === "build") {
    try { console.log(ensureGgmlRef()); console.log(ensureLlamaRun()); console.log(ensureLlamaQuantize()); } catch (e) { console.error(e.message); process.exit(1); }
  } else {
    console.error("usage: node tools/ref/ggmlref.mjs build");
    process.exit(2);
  }
}
