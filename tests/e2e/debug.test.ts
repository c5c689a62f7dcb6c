// Debugging: an unexpected CPU exception (`debug crash`, a brk) is reported with the saved
// registers and a backtrace whose frames name the kernel's AssemblyScript functions, on both
// ways in; and `make gdb`'s set-up (gdb-multiarch, tools/gdb/sis.gdb, build/Image.elf)
// attached to `make debug`'s machine stops in sis_exception with the symbols to say where.
import { describe, it, expect } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { createServer, connect } from "node:net";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { ROOT } from "../../tools/lib/asbuild.mjs";
import { DIRECT_IMAGE, ESP_IMAGE } from "../../tools/lib/qemu.mjs";

const haveGdb = spawnSync("gdb-multiarch", ["--version"]).status === 0;

async function crash(firmware: "direct" | "uefi") {
  const m = await SisMachine.boot({ firmware, smp: 2 });
  try {
    m.send("debug crash\r");
    const { text } = await m.waitFor("System halted.", { timeout: 20_000 });
    return text.slice(text.indexOf("debug crash"));
  } finally {
    m.kill();
  }
}

function expectReport(out: string) {
  expect(out).toMatch(/\*\*\* CPU exception \(not a WebAssembly trap\): synchronous, BRK instruction\nESR=0x00000000f2005153 /);
  const frames = out.slice(out.indexOf("Backtrace:\n")).split("\n").slice(1).filter((l) => l.startsWith("  #"));
  // the brk is inlined into the debug command; the shell's line runner called it, from the
  // kernel's poll loop, from the shim's guarded call
  const names = frames.map((l) => /  #\d+\s+0x[0-9a-f]{16}  (\S+)\+0x[0-9a-f]+$/.exec(l)?.[1]);
  expect(names.slice(0, 3)).toEqual(["shell/commands/debug/debug", "shell/shell/runLine", "kernel/main/kernel_poll"]);
  expect(names).toContain("run_guarded");
}

describe("an unexpected CPU exception", () => {
  it.skipIf(!existsSync(DIRECT_IMAGE))("is reported with a symbolized backtrace (direct boot)", async () => {
    expectReport(await crash("direct"));
  }, 60_000);
  it.skipIf(!existsSync(ESP_IMAGE))("is reported with a symbolized backtrace (UEFI boot, the image relocated by the firmware)", async () => {
    expectReport(await crash("uefi"));
  }, 60_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => { const p = (s.address() as any).port; s.close(() => resolve(p)); });
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1", () => { c.destroy(); resolve(true); });
    c.on("error", () => resolve(false));
  });
}

describe.skipIf(!haveGdb || !existsSync(DIRECT_IMAGE))("make debug + make gdb", () => {
  it("gdb attaches before the first instruction, boots the machine and stops in sis_exception with the kernel's symbols", async () => {
    const port = await freePort();
    const booting = SisMachine.boot({ firmware: "direct", smp: 2, gdbPort: port, bootTimeout: 60_000 });
    for (let i = 0; i < 100 && !(await listening(port)); i++) await new Promise((r) => setTimeout(r, 50));
    // what `make gdb` runs, then: continue, and at the breakpoint name the code the saved
    // registers (x0 points at them) say the exception came from
    const gdb = spawn("gdb-multiarch", ["-q", "-batch", "-x", join(ROOT, "tools/gdb/sis.gdb"),
      "-ex", `target remote localhost:${port}`, "-ex", "continue", "-ex", "info symbol *(long *)($x0 + 30 * 8)",
      "-ex", "kill", join(ROOT, "build/Image.elf")], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    gdb.stdout.on("data", (d) => { out += d; });
    gdb.stderr.on("data", (d) => { out += d; });
    const done = new Promise((r) => gdb.on("exit", r));
    const m = await booting; // the shell comes up only once gdb continued the machine
    try {
      m.send("debug crash\r");
      await done;
      expect(out).toMatch(/Breakpoint 1 at 0x[0-9a-f]+/);
      expect(out).toMatch(/Breakpoint 1, 0x[0-9a-f]+ in sis_exception \(\)/);
      expect(out).toMatch(/^w2c_kernel_shell0x2Fcommands0x2Fdebug0x2Fdebug \+ \d+ in section \.text$/m);
    } finally {
      gdb.kill();
      m.kill();
    }
  }, 90_000);
});
