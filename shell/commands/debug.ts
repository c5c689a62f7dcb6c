// debug: kernel self-tests by hand.
//   debug trap KIND   provokes a real WebAssembly trap of that kind, to prove that the
//                     shim + kernel_recover bring the shell back
//   debug trap KIND CORE   the same inside a job, on worker core CORE (kernel/parallel.ts)
//   debug spin MS     busy-waits MS milliseconds or until Ctrl-C (tests interruption)
//   debug crash       halts the machine with an unexpected CPU exception (the shim's report
//                     and backtrace, and what `make debug` stops at)
//   debug log LEVEL MESSAGE   writes a kernel log line
import { interruptRequested, println } from "../../kernel/console";
import * as log from "../../kernel/log";
import { atomic_load32, atomic_store32, cpu_exception, time_ns } from "../../kernel/platform";
import { coresStarted, parallelFor, threads } from "../../kernel/parallel";
import { parseUint } from "../args";
import { bytes, printable } from "../format";
import { FAIL, OK, USAGE, registerCommand } from "../registry";

// Values the optimizer cannot know: zero at run time, so every trap below happens for
// real instead of being folded away or rejected at compile time.
let zero: i32 = 0;
let sink: i64 = 0;

function refreshZero(): void {
  zero = <i32>(time_ns() >> 63); // a timer never reaches 2^63 ns
}

function trapOob(): void {
  const end = <u64>memory.size() << 16;
  let addr: u64 = end + (1 << 20);
  let offset: u64 = 0;
  if (addr > 0xffffffff) { addr = 0xffffffff; offset = 16; } // memory at its 4 GiB maximum
  println("debug: reading 4 bytes at 0x" + (addr + offset).toString(16) + ", beyond the end of linear memory (" + bytes(end) + ")");
  if (offset != 0) sink = <i64>load<u32>(<usize>addr + <usize>zero, 16);
  else sink = <i64>load<u32>(<usize>addr + <usize>zero);
}

// The edges of the bounds check (guard pages in the kernel, explicit checks elsewhere):
// accesses that are partly in bounds, a large address + offset (beyond 4 GiB), and a bulk
// operation.
function trapOobEdge(kind: string): void {
  const end = <usize>(<u64>memory.size() << 16);
  if (kind == "oob-load") {
    println("debug: reading 4 bytes at " + (end - 2).toString() + ", 2 of them beyond the end of linear memory");
    sink = <i64>load<u32>(end - 2 + <usize>zero);
  } else if (kind == "oob-store") {
    println("debug: writing 8 bytes at " + (end - 4).toString() + ", 4 of them beyond the end of linear memory");
    store<u64>(end - 4 + <usize>zero, 0x5555555555555555);
  } else if (kind == "oob-max") {
    // (AssemblyScript takes immediate offsets up to 0x7fffffff)
    println("debug: reading 4 bytes at address 0xffffffff + offset 0x7fffffff");
    sink = <i64>load<u32>(<usize>0xffffffff + <usize>zero, 0x7fffffff);
  } else if (kind == "oob-fill") {
    // A length unknown at compile time keeps it a memory.fill (16 constant bytes become a v128.store).
    println("debug: memory.fill of 16 bytes at " + (end - 8).toString() + ", 8 of them beyond the end");
    memory.fill(end - 8 + <usize>zero, 0x55, 16 + <usize>zero);
  }
}

function trapDivZero(): void {
  println("debug: dividing an i32 by zero");
  const a: i32 = 12345 + zero;
  sink = <i64>(a / zero);
}

function trapOverflow(): void {
  println("debug: dividing i32.MIN_VALUE by -1");
  const a: i32 = i32.MIN_VALUE + zero;
  const b: i32 = -1 + zero;
  sink = <i64>(a / b);
}

function trapUnreachable(): void {
  println("debug: executing 'unreachable'");
  if (zero == 0) unreachable();
}

function recurse(n: i32): i32 {
  if (n == zero - 1) return 0; // never: n counts up from 1
  const r = recurse(n + 1) + 1;
  sink += r;
  return r;
}

function trapStack(): void {
  println("debug: recursing without bound");
  sink = recurse(1);
}

function trapConversion(): bool {
  if (ASC_FEATURE_NONTRAPPING_F2I) {
    // AssemblyScript then emits only saturating float->int conversions: nothing can trap.
    println("error: this build cannot raise an invalid-conversion trap: float->int conversions are saturating");
    println("       (nontrapping-f2i is enabled; a build with --disable nontrapping-f2i can)");
    return false;
  }
  println("debug: converting NaN to i32");
  const nan: f64 = NaN + <f64>zero;
  sink = <i64>(<i32>nan);
  return true;
}

function trapIndirect(): void {
  println("debug: calling through function table slot 65535");
  call_indirect<void>(<u32>(65535 + zero));
}

function trapAbort(): void {
  println("debug: calling abort()");
  if (zero == 0) abort("debug: deliberate abort");
}

const TRAP_KINDS = "oob|oob-load|oob-store|oob-max|oob-fill|unreachable|divzero|overflow|stack|conversion|indirect|abort";

function trap(kind: string): i32 {
  refreshZero();
  if (kind == "oob") trapOob();
  else if (kind == "oob-load" || kind == "oob-store" || kind == "oob-max" || kind == "oob-fill") trapOobEdge(kind);
  else if (kind == "divzero") trapDivZero();
  else if (kind == "overflow") trapOverflow();
  else if (kind == "unreachable") trapUnreachable();
  else if (kind == "stack") trapStack();
  else if (kind == "conversion") { if (!trapConversion()) return FAIL; }
  else if (kind == "indirect") trapIndirect();
  else if (kind == "abort") trapAbort();
  else {
    println("error: unknown trap kind '" + printable(kind) + "' (" + TRAP_KINDS + ")");
    return FAIL;
  }
  println("error: the trap did not happen (result " + sink.toString() + ")");
  return FAIL;
}

// ---- a trap on a worker core ----

const WORKER_TRAPS = "oob|divzero|unreachable|stack|abort";
// target core, kind, the address past memory's end, zero, whether the target has begun
const WORKER_JOB = memory.data(20, 8);

/** A job's units: core `target` traps as told; the others wait (up to 2 s) until it has
 *  begun, so that it gets a unit however late it wakes. Nothing here prints: the console is
 *  the boot core's. */
function trapOnCore(arg: usize, core: i32, b: i32, e: i32): void {
  const z = load<i32>(arg, 12);
  if (core != load<i32>(arg)) {
    const until = time_ns() + 2000000000;
    while (atomic_load32(arg + 16) == 0 && time_ns() < until) {}
    return;
  }
  atomic_store32(arg + 16, 1);
  const kind = load<i32>(arg, 4);
  if (kind == 1) store<u32>(arg, load<u32>(load<usize>(arg, 8) + <usize>z));
  else if (kind == 2) store<i32>(arg, 12345 / z, 12);
  else if (kind == 5) { if (z == 0) unreachable(); }
  else if (kind == 6) store<i32>(arg, recurse(1), 12);
  else if (kind == 8) { if (z == 0) abort("debug: deliberate abort on a worker core"); }
}

function trapOnWorker(kind: string, coreArg: string): i32 {
  const core = parseUint(coreArg, 255);
  const started = coresStarted();
  if (core < 1 || core >= <i64>started) {
    println("error: core must be a worker core, 1 to " + (started - 1).toString() + (started == 1 ? " (none runs jobs: one core)" : "") + ", not '" + printable(coreArg) + "'");
    return FAIL;
  }
  const k = kind == "oob" ? 1 : kind == "divzero" ? 2 : kind == "unreachable" ? 5 : kind == "stack" ? 6 : kind == "abort" ? 8 : 0;
  if (k == 0) { println("error: on a worker core the trap kinds are " + WORKER_TRAPS + ", not '" + printable(kind) + "'"); return FAIL; }
  store<i32>(WORKER_JOB, <i32>core);
  store<i32>(WORKER_JOB, k, 4);
  store<usize>(WORKER_JOB, <usize>(<u64>memory.size() << 16) + (1 << 20), 8);
  store<i32>(WORKER_JOB, 0, 12);
  store<u32>(WORKER_JOB, 0, 16);
  if (<i32>core >= threads()) {
    println("error: jobs use " + threads().toString() + " core" + (threads() == 1 ? "" : "s") + " now, not core " + core.toString() + " (llmctl config threads " + started.toString() + " uses all)");
    return FAIL;
  }
  println("debug: " + kind + " on core " + core.toString() + ", inside a job split across " + threads().toString() + " cores");
  parallelFor(64, trapOnCore, WORKER_JOB, started, true);
  println("error: the trap did not happen on core " + core.toString());
  return FAIL;
}

function spin(arg: string): i32 {
  const ms = parseUint(arg, 3600000);
  if (ms < 0) {
    println("error: '" + printable(arg) + "' is not a number of milliseconds (0..3600000)");
    return FAIL;
  }
  const start = time_ns();
  const until = start + <u64>ms * 1000000;
  while (time_ns() < until) {
    if (interruptRequested()) {
      println("^C");
      println("interrupted after " + ((time_ns() - start) / 1000000).toString() + " ms");
      return FAIL;
    }
  }
  println("spun " + ms.toString() + " ms");
  return OK;
}

function debug(args: Array<string>): i32 {
  if (args.length < 2) return USAGE;
  const sub = args[1];
  if (sub == "trap" && args.length == 3) return trap(args[2]);
  if (sub == "trap" && args.length == 4) return trapOnWorker(args[2], args[3]);
  if (sub == "spin" && args.length == 3) return spin(args[2]);
  if (sub == "crash" && args.length == 2) {
    println("debug: halting with a CPU exception (brk), as a fault in the shim would");
    cpu_exception();
    return FAIL; // not reached on the machine; on the host the import returns
  }
  if (sub == "log" && args.length >= 4) {
    const level = log.parseLevel(args[2]);
    if (level < 0) {
      println("error: unknown log level '" + printable(args[2]) + "' (debug, info, warn, error)");
      return FAIL;
    }
    log.log(level, args.slice(3).join(" "));
    return OK;
  }
  return USAGE;
}

registerCommand("debug", "kernel self-tests: provoke a trap or a CPU exception, spin, write a log line",
  "debug trap " + TRAP_KINDS + "\n       debug trap " + WORKER_TRAPS + " CORE   (inside a job, on that worker core)\n       debug crash   (halts: an unexpected CPU exception, its report and backtrace)\n       debug spin MILLISECONDS\n       debug log debug|info|warn|error MESSAGE...", debug);
