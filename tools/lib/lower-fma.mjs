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
execFileSync(join(BIN, "wasm-as"), [...FEATURES, wat, "-o", `${output}.tmp`]);
rmSync(wat);
renameSync(`${output}.tmp`, output);
console.log(`${output}: ${count} f32x4.relaxed_madd -> platform.f32x4_fma`);
