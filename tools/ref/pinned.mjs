// The ONE llama.cpp build every bit-exact comparison uses: ggml's x86 CPU variant "haswell"
// (AVX2 + FMA + F16C) from node-llama-cpp 3.21.1's prebuilt linux-x64 package.
//
// ggml picks its CPU build at run time (ggml_backend_load_best: the libggml-cpu-*.so with the
// highest score in the folder it is given), so on an AVX-512 host node-llama-cpp would run
// zen4 or skylakex, whose F16 dots, exp, flash attention and K-quant products differ in the
// last bits. The engine reproduces haswell (docs/DESIGN.md, "Numerics"); every oracle is
// loaded from a private folder that holds only that variant, so ggml's own choice lands on it:
//
//   build/ref/pinned-haswell/                    a copy of @node-llama-cpp/linux-x64's entry
//     package.json, dist/index.js                (its getBinsDir() points at bins/ below)
//     bins/linux-x64/*                           links to the package's files, every
//                                                libggml-cpu-* variant left out but haswell
//
// - node-llama-cpp: pinnedLlama() registers a module-resolution hook that sends
//   "@node-llama-cpp/linux-x64" to the copy, then calls getLlama; node-llama-cpp loads its
//   addon and backends from there. node_modules is never changed.
// - tools/ref's ggml-ref and llama-run: PINNED_CPU_LIB and pinnedBinsDir().
// Each checks what it loaded (loadedCpuVariants) and throws if it is not haswell.
//
// pinnedUnavailable() says why the build cannot run here (not x86-64 Linux, or no AVX2/FMA/
// F16C/BMI2); the bit-exact tests skip with that one line and everything else runs.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { register } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The variant's name, as in libggml-cpu-NAME.so. */
export const PINNED_VARIANT = "haswell";
/** What ggml compiles that variant with (ggml/src/CMakeLists.txt), as /proc/cpuinfo names it. */
const PINNED_FLAGS = ["sse4_2", "avx", "f16c", "fma", "avx2", "bmi2"];

const PACKAGE = join(ROOT, "node_modules/@node-llama-cpp/linux-x64");
const PACKAGE_BINS = join(PACKAGE, "bins/linux-x64");
const PINNED = join(ROOT, `build/ref/pinned-${PINNED_VARIANT}`);
const PINNED_BINS = join(PINNED, "bins/linux-x64");
/** The variant's library in the package (for tools that load one CPU backend by path). */
export const PINNED_CPU_LIB = join(PACKAGE_BINS, `libggml-cpu-${PINNED_VARIANT}.so`);

/** The flags of this host's CPU (the first processor's), or [] where /proc/cpuinfo is absent. */
export function hostCpuFlags() {
  try {
    const m = /^flags\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m ? m[1].trim().split(/\s+/) : [];
  } catch { return []; }
}

/** Why the pinned build cannot run on this host, or "" when it can. */
export function pinnedUnavailable() {
  if (process.platform !== "linux" || process.arch !== "x64")
    return `the pinned llama.cpp build (ggml ${PINNED_VARIANT}, x86-64) cannot run on ${process.platform}-${process.arch}`;
  const flags = new Set(hostCpuFlags());
  const missing = PINNED_FLAGS.filter((f) => !flags.has(f));
  if (missing.length) return `the pinned llama.cpp build (ggml ${PINNED_VARIANT}) needs CPU features this host lacks: ${missing.join(", ")}`;
  if (!existsSync(PINNED_CPU_LIB)) return `no ${PINNED_CPU_LIB} (run npm ci)`;
  return "";
}

/** The private folder holding node-llama-cpp's binaries with only the pinned CPU variant;
 *  made on first use (atomically: parallel test workers may race). */
export function pinnedBinsDir() {
  const why = pinnedUnavailable();
  if (why) throw new Error(why);
  const stamp = join(PINNED, "package.json");
  const fresh = () => existsSync(stamp) && readFileSync(stamp, "utf8") === readFileSync(join(PACKAGE, "package.json"), "utf8");
  if (fresh()) return PINNED_BINS;
  mkdirSync(dirname(PINNED), { recursive: true });
  const tmp = `${PINNED}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, "dist"), { recursive: true });
  mkdirSync(join(tmp, "bins/linux-x64"), { recursive: true });
  // copies, not links: Node resolves a linked module to its real path, and the package finds
  // its bins folder next to the module
  copyFileSync(join(PACKAGE, "dist/index.js"), join(tmp, "dist/index.js"));
  for (const f of readdirSync(PACKAGE_BINS)) {
    const variant = /^libggml-cpu-(.+)\.so$/.exec(f);
    if (variant && variant[1] !== PINNED_VARIANT) continue;
    symlinkSync(join(PACKAGE_BINS, f), join(tmp, "bins/linux-x64", f));
  }
  copyFileSync(join(PACKAGE, "package.json"), join(tmp, "package.json")); // last: the stamp
  try {
    renameSync(tmp, PINNED);
  } catch {
    // a folder is there: another worker's, just made (keep it: it may be loading from it),
    // or one for another package version (replace it)
    if (!fresh()) {
      rmSync(PINNED, { recursive: true, force: true });
      try { renameSync(tmp, PINNED); return PINNED_BINS; } catch { /* another worker again */ }
    }
    rmSync(tmp, { recursive: true, force: true });
  }
  return PINNED_BINS;
}

/** The libggml-cpu variants mapped into this process (from /proc/self/maps), e.g. ["haswell"]. */
export function loadedCpuVariants() {
  const maps = readFileSync("/proc/self/maps", "utf8");
  return [...new Set([...maps.matchAll(/libggml-cpu-([\w]+)\.so/g)].map((m) => m[1]))];
}

let hooked = false;
let pinnedPromise = null;

/**
 * node-llama-cpp's Llama running the pinned build (one per process, as node-llama-cpp keeps
 * one). Throws when the build cannot run here (pinnedUnavailable) or when node-llama-cpp was
 * already loaded with another variant in this process.
 */
export function pinnedLlama() {
  pinnedPromise ??= (async () => {
    pinnedBinsDir();
    if (!hooked) {
      register(pathToFileURL(join(ROOT, "tools/ref/pinned-hook.mjs")), {
        data: { specifier: "@node-llama-cpp/linux-x64", url: pathToFileURL(join(PINNED, "dist/index.js")).href },
      });
      hooked = true;
    }
    const { getLlama } = await import("node-llama-cpp");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
    const v = loadedCpuVariants();
    if (v.length !== 1 || v[0] !== PINNED_VARIANT)
      throw new Error(`node-llama-cpp loaded ggml CPU variant(s) [${v.join(", ")}], not the pinned ${PINNED_VARIANT}`);
    return llama;
  })();
  return pinnedPromise;
}

/**
 * node-llama-cpp's Llama with ggml's own choice for this host (the variant a user of llama.cpp
 * here gets): for the comparisons that are not bit-exact (tests/oracle_hostbuild) and for
 * benchmarks. Not in a process that already has the pinned one.
 */
export async function hostLlama() {
  const { getLlama } = await import("node-llama-cpp");
  return getLlama({ gpu: false, build: "never", logLevel: "error" });
}
