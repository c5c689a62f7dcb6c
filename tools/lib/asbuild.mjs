// Compiles an AssemblyScript entry file to WebAssembly with the project's shared
// options (asconfig.json), caching the result by a hash of every source it could read.
import asc from "assemblyscript/asc";
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, mkdirSync, existsSync, writeFileSync, renameSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { relaxedSimd } from "./wasmhost.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SOURCE_DIRS = ["kernel", "llm", "shell", "tests/wasm"];

function hashSources(extra) {
  const h = createHash("sha256");
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (name.endsWith(".ts")) { h.update(relative(ROOT, p)); h.update(readFileSync(p)); }
    }
  };
  for (const d of SOURCE_DIRS) walk(join(ROOT, d));
  h.update(readFileSync(join(ROOT, "asconfig.json")));
  h.update(JSON.stringify(extra));
  return h.digest("hex").slice(0, 16);
}

/**
 * compile("llm/host.ts", { out: "build/llm.wasm", target: "release", args: [] })
 * Returns the absolute path of the .wasm. Throws with the compiler's diagnostics on error.
 */
export async function compile(entry, { out, target = "release", args = [], forThisEngine = true, aot = !forThisEngine, nativeDot = false } = {}) {
  // asconfig.json enables relaxed SIMD for its fused multiply-add. A module for this process's
  // engine, when that lacks it or does not fuse, gets llm/math/fma.ts's exact emulation (slower,
  // the same results). The kernel's module (forThisEngine false) runs on the C shim's fmla.
  if (forThisEngine && !relaxedSimd().fused) {
    warnNoFma();
    args = [...args, "--disable", "relaxed-simd"];
  }
  // SIS_AOT (llm/quant/common.ts): 1 for the module wasm2c and clang compile ahead of time
  // (and for tests that run that variant's code here).
  args = [...args, "--use", `SIS_AOT=${aot ? 1 : 0}`];
  // SIS_NATIVE_DOT (llm/quant/common.ts): 1 for the kernel's module only (nativeDot), whose shim
  // provides platform.i32x4_dot_i8x16 (a v128 import, which no JavaScript host can provide).
  args = [...args, "--use", `SIS_NATIVE_DOT=${nativeDot ? 1 : 0}`];
  out = resolve(ROOT, out ?? join("build", "wasm", entry.replace(/\.ts$/, "").replaceAll("/", "_") + `.${target}${aot ? ".aot" : ""}.wasm`));
  const key = hashSources({ entry, target, args });
  const stamp = out + ".hash";
  if (existsSync(out) && existsSync(stamp) && readFileSync(stamp, "utf8") === key) return out;
  mkdirSync(dirname(out), { recursive: true });
  // Compile to a private name and rename: parallel test workers may build the same entry.
  const tmp = `${out}.${process.pid}.tmp`;
  let stderr = "";
  const { error } = await asc.main(
    [resolve(ROOT, entry), "--config", join(ROOT, "asconfig.json"), "--target", target, "--outFile", tmp, ...args],
    { stdout: { write() { return true; } }, stderr: { write(s) { stderr += s; return true; } }, baseDir: ROOT },
  );
  if (error) throw new Error(`asc ${entry} failed: ${error.message}\n${stderr}`);
  renameSync(tmp, out);
  writeFileSync(`${stamp}.${process.pid}.tmp`, key);
  renameSync(`${stamp}.${process.pid}.tmp`, stamp);
  return out;
}

let warned = false;
function warnNoFma() {
  if (warned) return;
  warned = true;
  const { available } = relaxedSimd();
  process.emitWarning(`this WebAssembly engine ${available ? "computes f32x4.relaxed_madd unfused" : "has no relaxed SIMD"}: ` +
    "building with the exact f64 emulation of fused multiply-add (slower, the same results)", { code: "SIS_NO_FMA" });
}

// CLI (modules compiled ahead of time: the kernel, the fuzz targets):
//   node tools/lib/asbuild.mjs ENTRY OUT [--target debug] [--native-dot] [asc args…]
// --native-dot: the module runs on the shim, which provides platform.i32x4_dot_i8x16 (the kernel).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [entry, out, ...rest] = process.argv.slice(2);
  let target = "release";
  const ti = rest.indexOf("--target");
  if (ti >= 0) { target = rest[ti + 1]; rest.splice(ti, 2); }
  const ni = rest.indexOf("--native-dot");
  if (ni >= 0) rest.splice(ni, 1);
  compile(entry, { out, target, args: rest, forThisEngine: false, nativeDot: ni >= 0 }).then((p) => console.log(relative(process.cwd(), p)),
    (e) => { console.error(e.message); process.exit(1); });
}
