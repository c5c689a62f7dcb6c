// End to end: the EFI image boots in QEMU to the sis> prompt and the shell works over
// the serial line — every command, bad input, and every trap kind with recovery.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { SisMachine } from "../support/qemu-serial.mjs";

describe("SIS in QEMU on 1 and 8 cores", () => {
  for (const smp of [1, 8]) {
    it(`-smp ${smp}: ${smp} of ${smp} online, and the shell works`, async () => {
      const m = await SisMachine.boot({ smp });
      try {
        expect(m.output).toMatch(new RegExp(`info: cpus: ${smp} of ${smp} online \\(the boot core${smp > 1 ? ` and ${smp - 1} workers started with PSCI CPU_ON` : ""}\\)\n`));
        expect(await m.run("echo still here")).toBe("still here");
      } finally { m.kill(); }
    }, 180_000);
  }
});

describe("SIS in QEMU: boot and shell", () => {
  let m: SisMachine;
  beforeAll(async () => { m = await SisMachine.boot(); });
  afterAll(() => m?.kill());

  it("boots to the prompt with one boot-time line", () => {
    expect(m.output).toMatch(/SIS \d+\.\d+\.\d+/);
    expect(m.output).toMatch(/info: boot: ready in \d+(\.\d+)? ms/);
    expect(m.output.endsWith("sis> ")).toBe(true);
  });

  it("starts every core of the machine (2 by default) and lists them in the boot log", () => {
    expect(m.output).toMatch(/info: cpus: 2 of 2 online \(the boot core and 1 worker started with PSCI CPU_ON\)\n/);
  });

  it("help lists every command", async () => {
    const out = await m.run("help");
    for (const c of ["help", "version", "uptime", "date", "mem", "echo", "log", "poweroff", "reboot", "llmctl", "debug"]) {
      expect(out).toMatch(new RegExp(`^  ${c}\\s+\\S`, "m"));
    }
  });

  it("version, uptime, mem, log, echo", async () => {
    expect(await m.run("version")).toMatch(/^SIS \d+\.\d+\.\d+/);
    const up1 = Number(/\(([\d.]+) s since boot\)/.exec(await m.run("uptime"))![1]);
    await new Promise((r) => setTimeout(r, 20)); // it prints milliseconds: two commands can fall within one
    const up2 = Number(/\(([\d.]+) s since boot\)/.exec(await m.run("uptime"))![1]);
    expect(up2).toBeGreaterThan(up1);
    // date: QEMU's PL031 holds the host's time (UTC)
    const d = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d) UTC$/m.exec(await m.run("date"));
    expect(d).not.toBeNull();
    const guest = Date.UTC(+d![1], +d![2] - 1, +d![3], +d![4], +d![5], +d![6]);
    expect(Math.abs(guest - Date.now())).toBeLessThan(5000);
    const mem = await m.run("mem");
    expect(mem).toMatch(/gc heap:/);
    expect(mem).toMatch(/linear:\s+[\d.]+ MiB/);
    expect(await m.run("log")).toMatch(/info: boot: ready/);
    expect(await m.run('echo "a b"  c "q\\"x" "back\\\\slash"')).toBe('a b c q"x back\\slash');
  });

  it("answers bad input with a clear message and a fresh prompt", async () => {
    expect(await m.run("frobnicate")).toMatch(/error: unknown command 'frobnicate'/);
    expect(await m.run("")).toBe("");
    expect(await m.run('echo "unbalanced')).toMatch(/error: .*quote/i);
    const nul = await m.run("echo a\x00b");
    expect(nul).toMatch(/error: .*(NUL|0x00)/i);
    const bad = await m.run("echo \xff\xfe");
    expect(bad.length).toBeGreaterThan(0);
    // A 100 KB line pasted at once: refused, and the shell keeps working.
    const long = await m.run("echo " + "x".repeat(100 * 1024), { timeout: 120_000 });
    expect(long).toMatch(/error: line too long/);
    expect(await m.run("echo still alive")).toBe("still alive");
  });

  it("recovers from every WebAssembly trap kind inside a command", async () => {
    const stackBefore = /stack:\s+(\d+ B) of/.exec(await m.run("mem"))![1];
    const kinds: Array<[string, RegExp]> = [
      ["oob", /out-of-bounds memory access/],
      ["oob-load", /out-of-bounds memory access/],
      ["oob-store", /out-of-bounds memory access/],
      ["oob-max", /out-of-bounds memory access/],
      ["oob-fill", /out-of-bounds memory access/],
      ["divzero", /integer divide by zero/],
      ["overflow", /integer overflow/],
      ["unreachable", /unreachable/],
      ["stack", /call stack exhausted/],
    ];
    for (const [kind, msg] of kinds) {
      const out = await m.run(`debug trap ${kind}`);
      expect(out).toMatch(/error: command 'debug' trapped: /);
      expect(out).toMatch(msg);
      expect(await m.run("echo ok after " + kind)).toBe("ok after " + kind);
    }
    const mem = await m.run("mem");
    expect(/stack:\s+(\d+ B) of/.exec(mem)![1]).toBe(stackBefore); // shadow stack back where it started
  });

  it("llmctl: the stub backend is labelled as synthetic", async () => {
    expect(await m.run("llmctl backend stub")).toMatch(/stub/);
    const out = await m.run('llmctl infer "one two three"');
    expect(out).toMatch(/\[stub backend: synthetic output, no model\]/);
    expect(out).toMatch(/three two one/);
    expect(await m.run("llmctl info")).toMatch(/stub/);
  });

  it("line editing: backspace, Ctrl-U and Ctrl-C", async () => {
    expect(await m.run("echo abX\x7fc")).toBe("abc");
    expect(await m.run("echo junk\x15echo fresh")).toBe("fresh");
    const from = m.output.length;
    m.send("echo never\x03");
    await m.waitFor("^C\nsis> ", { from });
    expect(await m.run("echo after ctrl-c")).toBe("after ctrl-c");
  });

  it("reboot restarts the machine back to the prompt", async () => {
    const from = m.output.length;
    m.send("reboot\r");
    await m.waitFor(/info: boot: ready in [^]*sis> $/, { from, timeout: 120_000 });
    expect(await m.run("echo rebooted")).toBe("rebooted");
  });

  it("poweroff ends QEMU with exit status 0", async () => {
    expect(await m.poweroff()).toBe(0);
  });
});
