// Drives SIS in QEMU over its serial line: boot, send a line, wait for a pattern with a
// timeout, collect what the kernel printed. Reused by every end-to-end test and benchmark.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { qemuCommand, bootFile, DEFAULT_FIRMWARE } from "../../tools/lib/qemu.mjs";

const PROMPT = "sis> ";

/** Serial output as a test reads it: no carriage returns, no terminal escape sequences. */
export function clean(text) {
  return text.replace(/\x1b\[[0-9;=?]*[A-Za-z]/g, "").replace(/\r/g, "");
}

export class SisMachine {
  constructor(proc, cleanup) {
    this.proc = proc;
    this.cleanup = cleanup;
    this.raw = Buffer.alloc(0);
    this.exitCode = undefined;
    this.waiters = new Set();
    proc.stdout.on("data", (d) => { this.raw = Buffer.concat([this.raw, d]); this.#wake(); });
    proc.stderr.on("data", (d) => { this.stderr = (this.stderr ?? "") + d; });
    this.exited = new Promise((res) => proc.on("exit", (code, signal) => {
      this.exitCode = signal ? `signal ${signal}` : code;
      cleanup();
      this.#wake();
      res(this.exitCode);
    }));
  }

  /** Boots QEMU and waits for the first prompt. Options as qemuCommand, plus bootTimeout (ms). */
  static async boot(opts = {}) {
    const firmware = opts.firmware ?? DEFAULT_FIRMWARE, file = bootFile(firmware);
    if (!existsSync(file)) throw new Error(`${file} is missing: build the kernel with 'make kernel${firmware === "uefi" ? " FIRMWARE=uefi" : ""}' (make test does it)`);
    const { cmd, args, cleanup } = qemuCommand(opts);
    const proc = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    const m = new SisMachine(proc, cleanup);
    await m.waitFor(PROMPT, { timeout: opts.bootTimeout ?? 120_000 });
    return m;
  }

  /** Drops everything printed so far (offsets start again from 0): a long session (the soak)
   *  keeps the output's cleaning and searching cheap. */
  forget() { this.raw = Buffer.alloc(0); }

  /** Everything printed so far, cleaned. */
  get output() { return clean(this.raw.toString("utf8")); }

  #wake() { for (const w of this.waiters) w(); }

  /** Raw bytes to the serial line. */
  send(data) { this.proc.stdin.write(typeof data === "string" ? Buffer.from(data, "utf8") : data); }

  /**
   * Waits until `pattern` (string or RegExp) appears in the output after offset `from`
   * (default: anywhere). Resolves with { match, index, text } where text is the cleaned
   * output from `from` to the end of the match.
   */
  waitFor(pattern, { timeout = 30_000, from = 0 } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const out = this.output.slice(from);
        let idx = -1, match = null;
        if (typeof pattern === "string") { idx = out.indexOf(pattern); match = pattern; }
        else { const m = pattern.exec(out); if (m) { idx = m.index; match = m[0]; } }
        if (idx >= 0) { done(); resolve({ match, index: from + idx, text: out.slice(0, idx + match.length) }); return true; }
        if (this.exitCode !== undefined) { done(); reject(new Error(`QEMU exited (${this.exitCode}) while waiting for ${pattern}; output:\n${out.slice(-2000)}`)); return true; }
        return false;
      };
      const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeout} ms waiting for ${pattern}; output so far:\n${this.output.slice(from).slice(-2000)}`)); }, timeout);
      const done = () => { clearTimeout(timer); this.waiters.delete(check); };
      if (!check()) this.waiters.add(check);
    });
  }

  /**
   * Runs one shell line and returns what it printed between the echoed line and the next
   * prompt (trailing newline removed).
   */
  async run(line, { timeout = 30_000 } = {}) {
    const from = this.output.length;
    this.send(line + "\r");
    const { text } = await this.waitFor("\n" + PROMPT, { timeout, from });
    // text = echo of the line, newline, command output, "\nsis> "
    const body = text.slice(0, text.length - PROMPT.length);
    const nl = body.indexOf("\n");
    return nl < 0 ? "" : body.slice(nl + 1).replace(/\n$/, "");
  }

  /** Sends poweroff and resolves with QEMU's exit code. */
  async poweroff({ timeout = 30_000 } = {}) {
    this.send("poweroff\r");
    const t = setTimeout(() => this.kill(), timeout);
    const code = await this.exited;
    clearTimeout(t);
    return code;
  }

  kill() { if (this.exitCode === undefined) this.proc.kill("SIGKILL"); }
}
