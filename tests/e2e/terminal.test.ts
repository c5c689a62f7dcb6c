// `make run` as a person uses it: in a real pseudo-terminal (util-linux `script` gives QEMU a
// terminal, as a terminal emulator does), keys sent as a keyboard sends them. The other QEMU
// tests drive the console through pipes, where a terminal's Ctrl-C, raw mode and clear-screen
// never happen.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { ROOT } from "../../tools/lib/asbuild.mjs";
import { findMke2fs } from "../../tools/mkdisk.mjs";

const haveScript = spawnSync("script", ["--version"]).status === 0;
const why = !haveScript ? "util-linux's script is not installed" : !findMke2fs() ? "mke2fs is not installed" : "";

/** `make run ARGS` in a pseudo-terminal; `out` is everything the terminal showed. */
class Terminal {
  out = "";
  exit: Promise<number>;
  private p: ChildProcess;
  constructor(makeArgs: string) {
    // -e: script exits with make's status; -f: flush at once; -q: no banner
    this.p = spawn("script", ["-qfec", `make --no-print-directory run ${makeArgs}`, "/dev/null"], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    this.p.stdout!.on("data", (d) => { this.out += d.toString("utf8"); });
    this.p.stderr!.on("data", (d) => { this.out += d.toString("utf8"); });
    this.exit = new Promise((res) => this.p.on("exit", (code) => res(code ?? -1)));
  }
  /** Types bytes as the keyboard sends them. */
  type(s: string) { this.p.stdin!.write(s); }
  /** Waits until `re` matches the output after `from` (line ends as "\n": the terminal adds
   *  carriage returns of its own); returns the text from there. */
  async waitFor(re: RegExp, from: number, timeout = 60_000): Promise<string> {
    const t0 = Date.now();
    for (;;) {
      const text = this.out.slice(from).replace(/\r+\n/g, "\n");
      if (re.test(text)) return text;
      if (Date.now() - t0 > timeout) throw new Error(`timed out waiting for ${re}; got:\n${text.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** Ends QEMU as a person would (Ctrl-A X: killing `script` would leave QEMU running in the
   *  session `script` made for it), then `script` itself. */
  async kill() {
    if (this.p.exitCode === null && this.p.signalCode === null) {
      this.type("\x01x");
      await Promise.race([this.exit, new Promise((r) => setTimeout(r, 5000))]);
    }
    this.p.kill("SIGKILL");
  }
}

describe.skipIf(!!why)("make run in a terminal" + (why ? ` (skipped: ${why})` : ""), () => {
  let t: Terminal;
  beforeAll(async () => {
    t = new Terminal("LOAD=/models/sis-scribe-15m-q4_0.gguf");
    await t.waitFor(/\nsis> $/, 0, 240_000);
  }, 300_000);
  afterAll(async () => { await t?.kill(); });

  it("the hints survive the firmware's clear-screen, and boot commands come before the first prompt", () => {
    const lastClear = t.out.lastIndexOf("\x1b[2J");
    const hint = t.out.indexOf("run: 'poweroff' at the prompt ends SIS; Ctrl-A X ends QEMU at once");
    expect(hint).toBeGreaterThan(lastClear);
    expect(t.out.indexOf("run: before its first prompt SIS runs: llmctl backend real; llmctl load")).toBeGreaterThan(lastClear);
    expect(t.out).toMatch(/\nboot> llmctl load \/models\/sis-scribe-15m-q4_0\.gguf\r*\n/);
    expect(t.out.split("sis> ").length).toBe(2); // one prompt: the one waiting for input
  });

  it("Ctrl-C at an idle prompt cancels the line; QEMU keeps running", async () => {
    const from = t.out.length;
    t.type("echo never");
    await t.waitFor(/echo never$/, from);
    t.type("\x03");
    await t.waitFor(/echo never\^C\nsis> $/, from);
    expect(t.out).not.toMatch(/terminating on signal/);
    const f2 = t.out.length;
    t.type("echo alive\r");
    await t.waitFor(/\nalive\nsis> $/, f2);
  });

  it("Ctrl-C during llmctl infer stops it, keeps the output, and the shell comes back", async () => {
    const from = t.out.length;
    t.type('llmctl infer "And God said" --max-tokens 200 --temperature 0\r');
    await t.waitFor(/LORD/, from);
    t.type("\x03");
    const text = await t.waitFor(/\(stopped by Ctrl-C; the output so far is kept\)\n\[\d+ tokens?[^\n]*\nsis> $/, from);
    expect(text).toMatch(/\^C\n\(stopped by Ctrl-C/);
    expect(t.out).not.toMatch(/terminating on signal/);
  });

  it("arrow keys edit the line and recall history, as the terminal sends them", async () => {
    let from = t.out.length;
    t.type("echo abc\x1b[D\x1b[DX\r");
    await t.waitFor(/\naXbc\nsis> $/, from);
    from = t.out.length;
    t.type("\x1b[A\r");
    await t.waitFor(/\naXbc\nsis> $/, from);
    from = t.out.length;
    t.type("llmctl conf\tmax-t\t7\r");
    await t.waitFor(/llmctl config max-tokens 7\nmax-tokens\s+7\nsis> $/, from);
  });

  it("poweroff ends QEMU and make run with status 0", async () => {
    t.type("poweroff\r");
    expect(await t.exit).toBe(0);
  });
});

describe.skipIf(!!why)("make run: Ctrl-A X ends QEMU at once" + (why ? ` (skipped: ${why})` : ""), () => {
  it("from the prompt, as the hint says", async () => {
    const t = new Terminal("");
    try {
      await t.waitFor(/\nsis> $/, 0, 240_000);
      t.type("\x01x");
      await t.exit;
      expect(t.out).toMatch(/QEMU: Terminated/);
    } finally { await t.kill(); }
  }, 300_000);
});

describe.skipIf(!!why)("make run refuses a mistake before QEMU starts" + (why ? ` (skipped: ${why})` : ""), () => {
  it("a models folder that does not exist", async () => {
    const t = new Terminal("MODELS=no-such-folder");
    const code = await t.exit;
    expect(code).not.toBe(0);
    expect(t.out).toMatch(/run: models folder no-such-folder does not exist/);
    expect(t.out).not.toMatch(/booting in QEMU/);
  });
});
