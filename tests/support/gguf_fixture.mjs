// Helpers for GGUF tests: where ../shared is, loading bytes into a wasm instance, and a
// GGUF builder in JS (tools/lib/gguf_build.mjs) for crafting good and deliberately broken files.
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { ROOT } from "../../tools/lib/asbuild.mjs";
import { readAsString } from "../../tools/lib/wasmhost.mjs";

/** ../shared relative to the repository root (absent in a fresh clone). */
export const SHARED = resolve(ROOT, "../shared");
export const HAVE_SHARED = existsSync(resolve(SHARED, "vocab")) && existsSync(resolve(SHARED, "models"));
export const SHARED_MISSING = `skipped: ${SHARED} is absent (reference models and vocab files live in ../shared)`;

/** Copies bytes into a fresh region of the instance (exports allocRegion). Returns the address. */
export function loadBytes(inst, bytes) {
  const base = inst.exports.allocRegion(BigInt(Math.max(1, bytes.length)));
  if (!base) throw new Error(`allocRegion(${bytes.length}) failed`);
  new Uint8Array(inst.memory.buffer, base, bytes.length).set(bytes);
  return base;
}

/** Calls an export that returns an AS string. */
export function str(inst, name, ...args) {
  return readAsString(inst.memory, inst.exports[name](...args));
}

/** Calls an export taking (ptr, len, ...rest) with `text` written as UTF-8 to scratch memory. */
export function withBytes(inst, scratch, text, fn) {
  const b = typeof text === "string" ? Buffer.from(text, "utf8") : text;
  new Uint8Array(inst.memory.buffer, scratch, b.length).set(b);
  return fn(scratch, b.length);
}

export { T, buildGGUF } from "../../tools/lib/gguf_build.mjs";

/** F32 tensor bytes holding 0, 1, 2, ... (n values). */
export function f32Data(n, scale = 1) {
  const b = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) b.writeFloatLE(i * scale, i * 4);
  return b;
}


export { withStringKey } from "../../tools/lib/gguf_edit.mjs";
