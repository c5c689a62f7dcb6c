// Runs the real kernel .wasm (kernel/main.ts) on Node the way the C shim does on the
// machine: kernel_init once, kernel_poll while input is waiting, and kernel_recover(kind)
// whenever a WebAssembly trap escapes. Input is a byte queue read by platform.uart_read;
// output is every byte given to platform.uart_write.
//
//   const k = await KernelHost.start();           // compiles (cached) and boots
//   await k.waitFor(/sis> $/);
//   const out = await k.command("echo hi");       // output between the echoed line and the next prompt
//   k.send("\x03");                                // raw bytes (string = UTF-8, or Uint8Array/Buffer/array)
import { compile } from "../../tools/lib/asbuild.mjs";
import { instantiate, WasmTrap } from "../../tools/lib/wasmhost.mjs";

export const PROMPT = "sis> ";

export const TRAP_KINDS = {
  OUT_OF_BOUNDS: 1, DIVIDE_BY_ZERO: 2, INTEGER_OVERFLOW: 3, INVALID_CONVERSION: 4,
  UNREACHABLE: 5, STACK_EXHAUSTED: 6, INDIRECT_CALL: 7, OTHER: 8,
};

/**
 * The kernel_recover kind for an exception that escaped the wasm, or 0 when it is not a
 * WebAssembly trap (a harness bug, which must propagate). Messages are V8's.
 */
export function trapKind(err) {
  if (err instanceof WebAssembly.RuntimeError) {
    const m = err.message;
    if (/memory access out of bounds|out of bounds memory access/.test(m)) return 1;
    if (/divide by zero|remainder by zero|integer divide by zero/.test(m)) return 2;
    if (/divide result unrepresentable|integer overflow/.test(m)) return 3;
    if (/float unrepresentable in integer range|invalid conversion to integer/.test(m)) return 4;
    if (/^unreachable/.test(m)) return 5;
    if (/table index is out of bounds|null function or function signature mismatch|signature mismatch|invalid index into function table/.test(m)) return 7;
    return 8;
  }
  if (err instanceof RangeError && /Maximum call stack size exceeded/.test(err.message)) return 6;
  if (err instanceof WasmTrap && err.message.startsWith("abort:")) return 8;
  return 0;
}

class Halt extends Error {}

export class KernelHost {
  /**
   * Compiles kernel/main.ts (cached under build/) and instantiates it.
   * options: target ("release"), args (extra asc args), wasm (a path, skips compiling),
   *          clock (() => bigint nanoseconds; default: real time since start), boot (false to
   *          skip kernel_init), bootMs (passed to kernel_init).
   */
  static async start(options = {}) {
    const { target = "release", args = [], wasm, boot = true, bootMs = 7 } = options;
    const path = wasm ?? await compile("kernel/main.ts", { target, args });
    const host = new KernelHost(options);
    await host.#load(path);
    if (boot) host.boot(bootMs);
    return host;
  }

  constructor({ clock, recordWrites = false } = {}) {
    this.input = [];          // input bytes; those before inputPos have been read by uart_read
    this.inputPos = 0;
    this.scheduled = [];      // { at, bytes }: input that arrives once clock() >= at
    this.writes = recordWrites ? [] : null; // each uart_write separately, when asked for
    this.chunks = [];         // output bytes, as written
    this.outputLength = 0;
    this.traps = [];          // { kind, message } for every trap recovered
    this.halted = null;       // "poweroff" | "reset" once the kernel asked for it
    const t0 = process.hrtime.bigint();
    this.clock = clock ?? (() => process.hrtime.bigint() - t0);
  }

  async #load(path) {
    const { exports } = await instantiate(path, {
      onOutput: (buf) => {
        this.chunks.push(Buffer.from(buf));
        this.outputLength += buf.length;
        if (this.writes) this.writes.push(Buffer.from(buf).toString("utf8"));
      },
      platform: {
        uart_read: () => this.#readByte(),
        time_ns: () => BigInt(this.clock()),
        power_off: () => { this.halted = "poweroff"; throw new Halt("power_off"); },
        reset: () => { this.halted = "reset"; throw new Halt("reset"); },
        cpu_exception: () => { this.halted = "cpu exception"; throw new Halt("cpu_exception"); },
      },
    });
    this.exports = exports;
  }

  #readByte() {
    if (this.inputPos >= this.input.length && this.scheduled.length) this.#deliverScheduled();
    if (this.inputPos < this.input.length) return this.input[this.inputPos++];
    if (this.input.length) { this.input = []; this.inputPos = 0; }
    return -1;
  }

  #deliverScheduled() {
    const now = BigInt(this.clock());
    while (this.scheduled.length && this.scheduled[0].at <= now) {
      for (const b of this.scheduled.shift().bytes) this.input.push(b);
    }
  }

  /** Input that arrives on the UART once the clock reaches `atNs` (like a user typing later). */
  schedule(data, atNs) {
    const bytes = [...(typeof data === "string" ? Buffer.from(data, "utf8") : data)].map((b) => b & 0xff);
    this.scheduled.push({ at: BigInt(atNs), bytes });
    this.scheduled.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
    return this;
  }

  /** Input bytes queued but not yet read by the kernel. */
  get pendingInput() {
    return this.input.length - this.inputPos;
  }

  /** kernel_init(bootMs). */
  boot(bootMs = 7) {
    this.#guard(() => this.exports.kernel_init(bootMs));
  }

  /** Queues input bytes without running the kernel. */
  feed(data) {
    if (this.halted) throw new Error(`kernel is halted (${this.halted})`);
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    for (const b of bytes) this.input.push(b & 0xff);
    return this;
  }

  /** Runs kernel_poll until all queued input has been consumed (recovering from traps). */
  poll() {
    if (this.halted) return this;
    // after a trap, poll again: type-ahead may wait in the kernel's own ring (the shim
    // does the same on its next wakeup)
    let trapped;
    do {
      trapped = this.#guard(() => this.exports.kernel_poll());
    } while ((trapped || this.pendingInput) && !this.halted);
    return this;
  }

  /** feed + poll. */
  send(data) {
    return this.feed(data).poll();
  }

  // Calls into the kernel as the shim does: a trap becomes kernel_recover(kind).
  // Returns true when a trap was recovered.
  #guard(fn) {
    try {
      fn();
      return false;
    } catch (e) {
      if (e instanceof Halt) return false;
      const kind = trapKind(e);
      if (!kind) throw e;
      this.traps.push({ kind, message: e.message });
      this.exports.kernel_recover(kind); // a trap in here is a kernel bug: let it throw
      return true;
    }
  }

  /** All output so far as bytes. */
  get outputBytes() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** All output so far, decoded as UTF-8. */
  get output() {
    return this.outputBytes.toString("utf8");
  }

  /** A position in the output (bytes) for since()/waitFor(). */
  mark() {
    return this.outputLength;
  }

  /** Output after a mark, decoded as UTF-8. */
  since(mark) {
    return this.outputBytes.subarray(mark).toString("utf8");
  }

  /**
   * Polls until the output after `from` matches pattern (RegExp or string); returns the
   * match. Throws with the output tail when it does not appear in time.
   */
  async waitFor(pattern, { from = 0, timeoutMs = 5000 } = {}) {
    const re = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.since(from));
      if (m) return m;
      if (this.halted || Date.now() > deadline) {
        throw new Error(`waitFor(${re}) failed${this.halted ? ` (kernel ${this.halted})` : ""}; output since mark:\n` +
          JSON.stringify(this.since(from).slice(-2000)));
      }
      this.poll();
      await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Types `line` + CR and returns what the command printed: the text between the echoed
   * line and the next prompt, with CR LF turned into LF.
   */
  async command(line, { timeoutMs = 5000 } = {}) {
    const from = this.mark();
    this.send(line + "\r");
    const m = await this.waitFor(/\r\nsis> $/, { from, timeoutMs });
    const text = this.since(from).slice(0, m.index + 2).replace(/\r\n/g, "\n");
    const nl = text.indexOf("\n");
    return text.slice(nl + 1);
  }
}
