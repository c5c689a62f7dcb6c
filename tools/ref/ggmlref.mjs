// Builds and runs tools/ref/ggml-ref.c: ggml itself (node-llama-cpp's bundled libraries) as
// an oracle for the engine's quant formats and kernels. The binary is built on demand under
// build/ref/ from this source, the headers of the matching llama.cpp source (the package's
// git bundle) and the package's prebuilt libggml; nothing here is committed as a binary.
//
//   node tools/ref/ggmlref.mjs build        build (or reuse) build/ref/ggml-ref, print its path
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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
  if (!existsSync(PKG)) return `no llama.cpp source bundle at ${PKG}`;
  if (!existsSync(join(LIBS, "libggml-base.so"))) return `no prebuilt ggml libraries in ${LIBS}`;
  if (!existsSync(CPU_LIB)) return `no CPU backend library ${CPU_LIB}`;
  try { execFileSync("gcc", ["--version"], { stdio: "ignore" }); } catch { return "gcc is not installed"; }
  try { execFileSync("git", ["--version"], { stdio: "ignore" }); } catch { return "git is not installed"; }
  return "";
}

function libggmlName() {
  const names = execFileSync("ls", [LIBS], { encoding: "utf8" }).split("\n");
  const n = names.find((s) => /^libggml\.(v[\d.]+\.)?so$/.test(s)) ?? names.find((s) => /^libggml\.so/.test(s));
  if (!n) throw new Error(`no libggml in ${LIBS}`);
  return n;
}

/** Builds build/ref/ggml-ref if its inputs changed; returns its path. Throws on failure. */
export function ensureGgmlRef() {
  const why = ggmlRefUnavailable();
  if (why) throw new Error(why);
  const key = createHash("sha256").update(readFileSync(SRC)).update(LIBS).update(String(readFileSync(PKG).length)).digest("hex");
  const stamp = BIN + ".hash";
  if (existsSync(BIN) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) return BIN;
  mkdirSync(OUT_DIR, { recursive: true });
  const inc = join(OUT_DIR, "include");
  if (!existsSync(join(inc, "ggml.h"))) {
    // Only the public ggml headers are needed: read them out of the bundle without a work tree.
    const git = join(OUT_DIR, "llama.git");
    rmSync(git, { recursive: true, force: true });
    execFileSync("git", ["clone", "--quiet", "--bare", PKG, git], { stdio: "pipe" });
    mkdirSync(inc, { recursive: true });
    const tar = execFileSync("git", ["--git-dir", git, "archive", "HEAD", "ggml/include"], { maxBuffer: 1 << 28 });
    execFileSync("tar", ["-x", "--strip-components=2", "-C", inc], { input: tar });
    rmSync(git, { recursive: true, force: true });
  }
  execFileSync("gcc", ["-O1", "-std=c11", "-Wall", `-I${inc}`, SRC, "-o", BIN, `-L${LIBS}`,
    "-l:libggml-base.so", `-l:${libggmlName()}`, `-Wl,-rpath,${LIBS}`, "-lm"], { stdio: "pipe" });
  writeFileSync(stamp, key);
  return BIN;
}

/**
 * Runs one ggml-ref command on buffers: `inputs` are written to temporary files that take the
 * places marked "@in" in args (in order), the output file takes "@out". Returns the output bytes.
 */
export function ggmlRef(args, inputs = []) {
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
    execFileSync(bin, argv, { env: { ...process.env, GGML_REF_CPU: CPU_LIB }, stdio: ["ignore", "ignore", "pipe"] });
    return readFileSync(outPath);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv[2] === "build") {
    try { console.log(ensureGgmlRef()); } catch (e) { console.error(e.message); process.exit(1); }
  } else {
    console.error("usage: node tools/ref/ggmlref.mjs build");
    process.exit(2);
  }
}
