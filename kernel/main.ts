// The kernel's WebAssembly entry. The C shim (or tests/support/kernel-host.mjs on Node)
//   calls kernel_init(bootMs) once,
//   calls kernel_poll() whenever input may be waiting, idling (wfi) in between,
//   calls kernel_recover(kind) after a WebAssembly trap escaped a command, with
//     1 out-of-bounds access, 2 divide by zero, 3 integer overflow, 4 invalid conversion,
//     5 unreachable, 6 call stack exhausted, 7 bad indirect call, 8 other; plus, for a trap
//     on a worker core, that core's number times 256;
//   on each worker core, calls core_main(core) in that core's own instance, and
//     core_left_job(core) after a trap there (kernel/parallel.ts).
import { time_ns } from "./platform";
import { cores } from "./cpus";
import { describeLines, hardware } from "./devicetree";
import { jobWidth, parallelismAtBoot, recoverWorkers, startWorkers } from "./parallel";
export { core_main, core_left_job } from "./parallel";
import { println, readByte } from "./console";
import * as log from "./log";
import { DESCRIPTION, NAME, VERSION, buildInfo } from "./version";
import { linearMemoryBytes } from "./memory/regions";
import { initStorage, MODELS_PATH } from "./storage";
import { Stat, FT_REG } from "./fs/fs";
import { vfs } from "./fs/vfs";
import { FEED_LINE, LINE_MAX, feed, prompt, showTail } from "../shell/editor";
import { recoverFromTrap, runEditorLine, runQueuedLine } from "../shell/shell";
import { fixed, ms } from "./lib/format";
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
  // boot commands first, one after the other, each as if typed at the prompt
  while (bootLinesPending()) {
    commandStackPointer = __stack_pointer;
    runNextBootLine();
  }
  while (true) {
    const b = readByte();
    if (b < 0) { showTail(); return; } // the input at hand is in: draw what it changed
    if (feed(b) == FEED_LINE) {
      commandStackPointer = __stack_pointer;
      runEditorLine();
    }
  }
}

export function kernel_recover(kind: i32): void {
  __stack_pointer = commandStackPointer;
  recoverWorkers();
  recoverFromTrap(kind);
}

// ---- boot commands ----
// A models disk may carry BOOT_FILE: its lines run as shell commands before the first prompt,
// each shown after "boot> " (blank lines and lines starting with # are skipped); the first
// "sis> " comes after the last, so whatever is typed at it gets its own answer. `make run LOAD=/models/NAME.gguf` writes one into the disk image it boots
// (tools/run.mjs) so that a model is loaded before the user types anything.
export const BOOT_FILE = MODELS_PATH + "/sis-boot.txt";
const BOOT_FILE_MAX: u64 = 64 * 1024;
const bootLines = new Array<string>();

function readBootFile(): void {
  const st = new Stat();
  if (vfs.stat(BOOT_FILE, st).length != 0) return; // none: nothing to do
  if (st.type != FT_REG) { log.warn("boot: " + BOOT_FILE + " is not a regular file; ignored"); return; }
  if (st.size > BOOT_FILE_MAX) { log.warn("boot: " + BOOT_FILE + " is larger than 64 KiB; ignored"); return; }
  const o = vfs.open(BOOT_FILE);
  if (o.error.length != 0) { log.warn("boot: " + o.error); return; }
  const buf = new ArrayBuffer(<i32>st.size);
  const r = vfs.read(o.fd, changetype<usize>(buf), <usize>st.size);
  vfs.close(o.fd);
  if (r.error.length != 0) { log.warn("boot: " + BOOT_FILE + ": " + r.error); return; }
  const lines = String.UTF8.decodeUnsafe(changetype<usize>(buf), <usize>r.bytes).split("\n");
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i];
    if (l.endsWith("\r")) l = l.substring(0, l.length - 1);
    const t = l.trim();
    if (t.length == 0 || t.startsWith("#")) continue;
    if (String.UTF8.byteLength(l) >= LINE_MAX) { log.warn("boot: line " + (i + 1).toString() + " of " + BOOT_FILE + " is too long; skipped"); continue; }
    bootLines.push(l);
  }
  if (bootLines.length > 0) log.info("boot: " + bootLines.length.toString() + " command" + (bootLines.length == 1 ? "" : "s") + " from " + BOOT_FILE + " run before the first prompt");
}

// (helpers, so that kernel_poll itself keeps no managed local: see commandStackPointer)
function bootLinesPending(): bool {
  return bootLines.length > 0;
}

function runNextBootLine(): void {
  const line = bootLines.shift();
  runQueuedLine(line, bootLines.length == 0);
}

// The cores the shim started (boot/smp.c), and any that did not start with its reason.
function logCores(): void {
  const c = cores();
  const workers = startWorkers() - 1;
  log.info("cpus: " + c.online.toString() + " of " + c.present.toString() + " online (the boot core" +
    (workers > 0 ? " and " + workers.toString() + " worker" + (workers == 1 ? "" : "s") + " started with PSCI CPU_ON" : "") + ")" + c.failures +
    (workers + 1 < c.online ? "; " + (c.online - 1 - workers).toString() + " online but not running jobs" : ""));
  const p = parallelismAtBoot();
  if (p > 0 && jobWidth() < workers + 1) {
    log.info("cpus: the host ran " + fixed(p, 1) + " of them at once; jobs start on " + jobWidth().toString() + " and widen when the host has room");
  }
}

function boot(bootMs: u32): void {
  const t0 = time_ns();
  println("");
  println(NAME + " " + VERSION + " - " + DESCRIPTION);
  log.info("build: " + buildInfo());
  log.info("memory: " + (linearMemoryBytes() >> 10).toString() + " KiB linear, heap base 0x" +
    (<u32>__heap_base).toString(16) + ", shadow stack " + (<u32>(__heap_base - __data_end) >> 10).toString() + " KiB");
  const hw = describeLines(hardware());
  for (let i = 0; i < hw.length; i++) log.info(hw[i]);
  logCores();
  initStorage(); // the models disk at /models; logs what it mounted, or why not
  vfs.chdir(MODELS_PATH); // relative paths start in /models when it is there (stays / if not)
  readBootFile();
  const dups = duplicateCommands();
  for (let i = 0; i < dups.length; i++) log.warn("shell: command '" + dups[i] + "' registered twice; the second was refused");
  log.info("shell: " + allCommands().length.toString() + " commands, lines up to " + LINE_MAX.toString() + " bytes; type 'help'");
  const kernelNs = time_ns() - t0;
  log.info("boot: ready in " + fixed(<f64>bootMs + <f64>kernelNs / 1e6, 1) + " ms (firmware and shim " +
    bootMs.toString() + " ms, kernel " + ms(kernelNs) + " ms)");
  if (bootLines.length == 0) prompt(); // else after the boot commands (kernel_poll)
}
