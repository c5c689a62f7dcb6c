// The kernel's WebAssembly entry. The C shim (or tests/support/kernel-host.mjs on Node)
//   calls kernel_init(bootMs) once,
//   calls kernel_poll() whenever input may be waiting, idling (wfi) in between,
//   calls kernel_recover(kind) after a WebAssembly trap escaped a command, with
//     1 out-of-bounds access, 2 divide by zero, 3 integer overflow, 4 invalid conversion,
//     5 unreachable, 6 call stack exhausted, 7 bad indirect call, 8 other.
import { time_ns } from "./platform";
import { println, readByte } from "./console";
import * as log from "./log";
import { DESCRIPTION, NAME, VERSION, buildInfo } from "./version";
import { linearMemoryBytes } from "./memory/regions";
import { initStorage } from "./storage";
import { FEED_LINE, LINE_MAX, feed, prompt } from "../shell/editor";
import { recoverFromTrap, runEditorLine } from "../shell/shell";
import { fixed, ms } from "../shell/format";
import { allCommands, duplicateCommands } from "../shell/registry";
import "../shell/commands/index";

// The shadow stack pointer as it is while no command runs. kernel_init, kernel_poll and
// kernel_recover hold no managed locals, so AssemblyScript gives them no shadow-stack
// frame: the value read in their bodies is the one at the module's top level, and writing
// it back in kernel_recover discards exactly what the trapped command had pushed.
let commandStackPointer: usize = 0;

export function kernel_init(bootMs: u32): void {
  commandStackPointer = __stack_pointer;
  boot(bootMs);
}

export function kernel_poll(): void {
  while (true) {
    const b = readByte();
    if (b < 0) return;
    if (feed(b) == FEED_LINE) {
      commandStackPointer = __stack_pointer;
      runEditorLine();
    }
  }
}

export function kernel_recover(kind: i32): void {
  __stack_pointer = commandStackPointer;
  recoverFromTrap(kind);
}

function boot(bootMs: u32): void {
  const t0 = time_ns();
  println("");
  println(NAME + " " + VERSION + " - " + DESCRIPTION);
  log.info("build: " + buildInfo());
  log.info("memory: " + (linearMemoryBytes() >> 10).toString() + " KiB linear, heap base 0x" +
    (<u32>__heap_base).toString(16) + ", shadow stack " + (<u32>(__heap_base - __data_end) >> 10).toString() + " KiB");
  initStorage(); // the models disk at /models; logs what it mounted, or why not
  const dups = duplicateCommands();
  for (let i = 0; i < dups.length; i++) log.warn("shell: command '" + dups[i] + "' registered twice; the second was refused");
  log.info("shell: " + allCommands().length.toString() + " commands, lines up to " + LINE_MAX.toString() + " bytes; type 'help'");
  const kernelNs = time_ns() - t0;
  log.info("boot: ready in " + fixed(<f64>bootMs + <f64>kernelNs / 1e6, 1) + " ms (firmware and shim " +
    bootMs.toString() + " ms, kernel " + ms(kernelNs) + " ms)");
  prompt();
}
