// wasm2c 1.0.36 translates SIMD but not relaxed SIMD, and the engine's one relaxed op is
// f32x4.relaxed_madd (llm/math/fma.ts: a fused multiply-add, as x86's vfmadd computes it).
// This turns every one of them into a call to the C shim's platform.f32x4_fma (boot/runtime.c:
// one NEON fmla), checks that nothing relaxed is left, and writes the module wasm2c gets.
//
//   node tools/lib/lower-fma.mjs IN.wasm OUT.wasm
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, renameSync, rmSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), "../.."), "node_modules/.bin");
const FEATURES = ["--enable-simd", "--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int"];
const IMPORT = '(import "platform" "f32x4_fma" (func $platform.f32x4_fma (param v128 v128 v128) (result v128)))';

const [input, output] = process.argv.slice(2);
if (!input || !output) { console.error("usage: lower-fma.mjs IN.wasm OUT.wasm"); process.exit(2); }
const wat = `${output}.wat`;
execFileSync(join(BIN, "wasm-dis"), [input, "--all-features", "-o", wat]);
let text = readFileSync(wat, "utf8");
const count = text.split("(f32x4.relaxed_madd").length - 1;
text = text.replaceAll("(f32x4.relaxed_madd", "(call $platform.f32x4_fma");
// Imports come before every other definition: the new one goes after the last of them (or
// after the module's types when there is none).
const lines = text.split("\n");
let at = lines.findLastIndex((l) => l.startsWith(" (import "));
if (at < 0) at = lines.findLastIndex((l) => l.startsWith(" (type ") || l.startsWith(" (rec"));
lines.splice(at + 1, 0, ` ${IMPORT}`);
writeFileSync(wat, lines.join("\n"));
// Without --enable-relaxed-simd the assembler rejects any relaxed op still there.
// -g keeps the name section; of it only the functions' names stay (functionNamesOnly), which
// wasm2c turns into C names, so that backtraces and gdb name AssemblyScript functions while
// memory, table and globals keep the C names the shim uses (w2c_memory, w2c_T0).
execFileSync(join(BIN, "wasm-as"), [...FEATURES, "-g", wat, "-o", `${output}.tmp`]);
rmSync(wat);
writeFileSync(`${output}.tmp`, functionNamesOnly(readFileSync(`${output}.tmp`)));
renameSync(`${output}.tmp`, output);
console.log(`${output}: ${count} f32x4.relaxed_madd -> platform.f32x4_fma`);

/** The module with its "name" section cut down to the function names (subsection 1). */
function functionNamesOnly(wasm) {
  const leb = (buf, at) => { let v = 0, shift = 0, b; do { b = buf[at++]; v |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80); return [v >>> 0, at]; };
  const lebBytes = (v) => { const out = []; do { let b = v & 0x7f; v >>>= 7; if (v) b |= 0x80; out.push(b); } while (v); return Buffer.from(out); };
  const parts = [wasm.subarray(0, 8)];
  for (let at = 8; at < wasm.length;) {
    const id = wasm[at];
    const [size, body] = leb(wasm, at + 1);
    const end = body + size;
    const [nameLen, nameAt] = leb(wasm, body);
    if (id !== 0 || wasm.toString("latin1", nameAt, nameAt + nameLen) !== "name") { parts.push(wasm.subarray(at, end)); at = end; continue; }
    const kept = [wasm.subarray(body, nameAt + nameLen)];
    for (let sub = nameAt + nameLen; sub < end;) {
      const [subSize, subBody] = leb(wasm, sub + 1);
      if (wasm[sub] === 1) kept.push(wasm.subarray(sub, subBody + subSize));
      sub = subBody + subSize;
    }
    const content = Buffer.concat(kept);
    parts.push(Buffer.from([0]), lebBytes(content.length), content);
    at = end;
  }
  return Buffer.concat(parts);
}
