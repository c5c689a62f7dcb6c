// Runs the project's WebAssembly on Node: the host side of the imports that the C shim
// (boot/) provides on bare metal. Tests and host tools share this one loader.
import { readFileSync } from "node:fs";
import v8 from "node:v8";

// f32x4.relaxed_madd(splat a, splat b, splat c) lane 0, as a module of its own (made by wasm-as).
const MADD_PROBE = Buffer.from("0061736d0100000001080160037d7d7d017d03020100070501017000000a160114002000fd132001fd132002fd13fd8502fd1f000b", "hex");

/**
 * What this engine does with relaxed SIMD: { available, fused }. Node 20's V8 has it behind a
 * flag (on by default from Node 22), switched on here before any module is compiled. `fused`:
 * f32x4.relaxed_madd rounds once, like x86's vfmadd, which the engine's numerics need
 * (llm/math/fma.ts); builds for an engine that does not fuse use the exact emulation instead.
 * Computed once per process.
 */
export function relaxedSimd() {
  if (relaxed) return relaxed;
  if (!WebAssembly.validate(MADD_PROBE)) v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  if (!WebAssembly.validate(MADD_PROBE)) return (relaxed = { available: false, fused: false });
  const p = new WebAssembly.Instance(new WebAssembly.Module(MADD_PROBE)).exports.p;
  const a = 1 + 2 ** -20; // a*a - 1 = 2^-19 + 2^-40 exactly, 2^-19 once a*a is rounded
  return (relaxed = { available: true, fused: p(a, a, -1) === Math.fround(2 ** -19 + 2 ** -40) });
}
let relaxed = null;
relaxedSimd(); // switches the flag on before this process compiles any module

/** Reads an AssemblyScript managed string (UTF-16, byte length stored at ptr - 4). */
export function readAsString(memory, ptr) {
  if (!ptr) return "";
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return Buffer.from(memory.buffer, ptr, bytes).toString("utf16le");
}

export class WasmTrap extends Error {}

/**
 * instantiate(wasmPath | bytes | WebAssembly.Module, { platform: {...overrides}, imports: {...extra modules} })
 * Returns { instance, exports, memory }.
 * The `platform` module is the kernel's hardware interface (see docs/DESIGN.md); on the
 * host its defaults write the UART to a buffer (or stdout), read no input and count time
 * from process.hrtime.
 */
export async function instantiate(wasm, { platform = {}, imports = {}, onOutput } = {}) {
  const bytes = typeof wasm === "string" ? readFileSync(wasm) : wasm;
  let memory;
  const out = onOutput ?? ((s) => process.stdout.write(s));
  const t0 = process.hrtime.bigint();
  const env = {
    abort(msg, file, line, col) {
      const m = readAsString(memory, msg), f = readAsString(memory, file);
      throw new WasmTrap(`abort: ${m} at ${f}:${line}:${col}`);
    },
    trace(msg, n, ...args) {
      console.error(`trace: ${readAsString(memory, msg)} ${args.slice(0, n).join(", ")}`);
    },
    seed() { return Date.now(); },
  };
  const defaults = {
    uart_write(ptr, len) { out(Buffer.from(new Uint8Array(memory.buffer, ptr, len))); },
    uart_read() { return -1; },
    time_ns() { return process.hrtime.bigint() - t0; },
    power_off() { throw new WasmTrap("power_off"); },
    reset() { throw new WasmTrap("reset"); },
    cpu_exception() { throw new WasmTrap("cpu_exception"); },
    mmio_read32() { return 0; },
    mmio_write32() {},
    mem_phys_base() { return 0n; },
    mem_limit() { return 4n * 1024n * 1024n * 1024n; },
    cpu_state(i) { return i === 0 ? 1 : 0; }, // one core: the host's thread
    // no workers to start or wake; on one thread the atomics are plain loads and stores
    core_start() { return 0; },
    core_wake() {},
    core_idle() {},
    core_check() {},
    atomic_load32(p) { return new Uint32Array(memory.buffer, p, 1)[0]; },
    atomic_store32(p, v) { new Uint32Array(memory.buffer, p, 1)[0] = v; },
    atomic_add32(p, v) { const a = new Uint32Array(memory.buffer, p, 1); const old = a[0]; a[0] = old + v; return old; },
    wait_for_interrupt() {},
    barrier() {},
    sha256_blocks() { return 0; }, // no SHA-2 instructions here: the kernel hashes in software
    device_tree() { return 0; },   // no device tree handed over (tests may give one)
  };
  // a compiled WebAssembly.Module instantiates to the instance itself, bytes to { instance }
  const made = await WebAssembly.instantiate(bytes, {
    env, platform: { ...defaults, ...platform }, ...imports,
  });
  const instance = made.instance ?? made;
  memory = instance.exports.memory;
  return { instance, exports: instance.exports, get memory() { return memory; } };
}
