// Work split across the cores: the one dispatch layer.
//
// The boot core posts a job (a function, its argument block and a count of units), wakes
// the workers it uses and takes units itself. Units are handed out in claims off one shared
// counter, so a slow or preempted core simply takes fewer. When no unit is left, the boot
// core closes the job and waits only for the workers that joined it: a worker that has not
// come yet (its host thread preempted, or still waking) stays out, and the job goes on
// without it instead of waiting for it to come and find nothing to do. Which core computes
// a unit never changes what it computes: a unit's result depends on its inputs only, and
// each core has its own working memory (the `core` argument picks it). So results are the
// same bits for any number of cores.
//
// Workers run their own WebAssembly instances (boot/runtime.c): they share linear memory
// with the boot core but not its globals, which they see as they were when they started.
// Everything a job needs is therefore in linear memory, in the job block or behind `arg`;
// a job's function allocates nothing and touches no global state.
//
// Memory ordering (platform atomics, docs/DESIGN.md): the job's fields and everything the
// boot core wrote before posting are visible to a worker once it reads the new sequence
// number (release, acquire); a worker's results are visible to the boot core once it reads
// the worker's `joined` word back at 0 (release, acquire). Joining and closing are the
// store-barrier-load pattern of waitUntil's sleep: a worker stores `joined`, then loads
// `closed`; the boot core stores `closed`, then loads every `joined`. One of the two sees
// the other's store, so a worker either stays out or is waited for.
import { atomic_add32, atomic_load32, atomic_store32, barrier, core_check, core_idle, core_start, core_wake, time_ns } from "./platform";
import { cores } from "./cpus";
import { allocRegion } from "./memory/regions";

/** A job's function: units [begin, end) of the job, on core `core` (0 is the boot core). */
export type UnitsFn = (arg: usize, core: i32, begin: i32, end: i32) => void;

/** The most cores the shim starts (boot/smp.h SMP_MAX_CPUS). */
export const MAX_CORES: i32 = 8;

// The job block: one job at a time, posted by the boot core.
const JOB = memory.data(64, 64);
const SEQ: usize = 0;     // u32: bumped to post a job
const FN: usize = 4;      // u32: the function's table index
const ARG: usize = 8;     // usize
const UNITS: usize = 12;  // i32
const NEXT: usize = 16;   // i32: the next unclaimed unit
const CLOSED: usize = 20; // u32: the sequence number of the last job closed to workers
const USED: usize = 24;   // i32: cores taking part, the boot core included
const CLAIM: usize = 28;  // i32: units per claim
const PREEMPTED: usize = 32; // u32: set when a core was found preempted (while it polled, or inside a job)

// Per core, CORE_BYTES: its shadow stack's top (usize), the job it is in (u32: its sequence
// number, 0 for none), how many more waits it sleeps through without polling first (u32,
// see waitUntil), whether it is asleep (u32: then, and only then, waking it takes an
// interrupt), the last job sequence number it has seen (u32: set by the boot core before it
// starts the core, so that a job posted before the core first looks is not missed; kept by
// the core after that, so that after a trap it does not take the job it trapped in again).
const CORE_BYTES: usize = 32;
const CORE = memory.data(<i32>(<usize>MAX_CORES * CORE_BYTES), 16);
const STACK_TOP: usize = 0;
const JOINED: usize = 4;
const NO_POLL: usize = 8;
const ASLEEP: usize = 12;
const SEEN: usize = 16;

// @ts-ignore: decorator
@inline function coreState(core: i32): usize { return CORE + <usize>core * CORE_BYTES; }

/** Shadow stack of each worker. Jobs' functions keep little there (no recursion). */
const WORKER_STACK_BYTES: usize = 64 << 10;
/** How long a core polls for a job, or for the workers to finish, before it sleeps: within a
 *  forward pass the next job follows within microseconds, and between tokens (sampling) within
 *  a millisecond or so; a wake-up from wfi costs tens of microseconds under TCG. (200 us
 *  left sis-scribe's boot core waiting ~57 us per job, 2 ms ~14 us.) */
const POLL_NS: u64 = 2_000_000;
/** A pause this long between two polls means the core was not running (its host thread was
 *  preempted: more virtual cores than host cores). Polling then takes time the other cores
 *  need, so the core sleeps at once for the next NO_POLL_WAITS waits. */
const PREEMPTED_NS: u64 = 300_000;
const NO_POLL_WAITS: u32 = 256;
/** Jobs without a preemption after which a narrowed job is widened again by one core; doubled
 *  (up to MAX_WIDEN_AFTER) each time a widening is undone within that many jobs, so that a
 *  host that stays short of cores is probed less and less often. */
const WIDEN_AFTER: i32 = 1024;
const MAX_WIDEN_AFTER: i32 = 1 << 16;

let started: i32 = 1;     // cores running core_main, the boot core included
let inUse: i32 = 1;       // cores a job may use (llmctl config threads)
let simulated: i32 = 0;   // host tests: split as if this many cores, run on one
// Cores a job takes now, at most inUse. With more virtual cores than the host runs at once,
// a job waits for its slowest core, and a core whose host thread is preempted holds up the
// whole job for a host time slice: so while the cores find themselves preempted, jobs
// narrow by one core down to two, and widen again after WIDEN_AFTER quiet jobs.
let width: i32 = 1;
let quietJobs: i32 = 0;
let widenAfter: i32 = WIDEN_AFTER;
let sinceWiden: i32 = MAX_WIDEN_AFTER;

/** Jobs split across cores, and the time the boot core spent waiting for the others after
 *  its own units (the jobs' imbalance and the cost of waking), since boot. */
export class JobStats { jobs: u64 = 0; waitNs: u64 = 0; }
export const jobStats = new JobStats();

/** Starts every online worker core (boot, once): each gets its shadow stack and its own
 *  instance and waits for jobs. Returns how many cores run jobs, the boot core included. */
export function startWorkers(): i32 {
  const online = min(cores().online, MAX_CORES);
  if (online <= 1 || started > 1) return started;
  const stacks = allocRegion(<u64>(online - 1) * <u64>WORKER_STACK_BYTES);
  if (stacks == 0) return started;
  for (let i = 1; i < online; i++) {
    store<usize>(coreState(i), stacks + <usize>i * WORKER_STACK_BYTES, STACK_TOP);
    store<u32>(coreState(i), load<u32>(JOB + SEQ), SEEN);
    if (!core_start(<u32>i)) break; // cores are numbered densely: the next could not be reached either
    started = i + 1;
  }
  inUse = width = started;
  if (started > 2) width = max(2, min(started, <i32>Math.round(measureParallelism())));
  return started;
}

// ---- how many cores the host runs at once ----

/** Wall time each core spins in measureParallelism. */
const MEASURE_NS: u64 = 10_000_000;
const MEASURE = memory.data(8, 8); // u32: microseconds the cores ran, added up

let measured: f64 = 0;

/** Cores the host ran at once when measured at boot (0: not measured, fewer than 3 cores). */
export function parallelismAtBoot(): f64 { return measured; }

/** Every core spins MEASURE_NS at once; the time each actually ran (gaps of PREEMPTED_NS or
 *  more between two reads of the clock are time its host thread was off its CPU), summed,
 *  over the wall time, is how many cores the host ran at once. Jobs start that wide. */
function measureParallelism(): f64 {
  store<u32>(MEASURE, 0);
  const t0 = time_ns();
  parallelFor(started, spinUnits, MEASURE, started, true);
  const wall = time_ns() - t0;
  measured = wall == 0 ? <f64>started : <f64>load<u32>(MEASURE) * 1000.0 / <f64>wall;
  return measured;
}

function spinUnits(arg: usize, core: i32, u0: i32, u1: i32): void {
  for (let u = u0; u < u1; u++) {
    const t0 = time_ns();
    let last = t0, ran: u64 = 0;
    while (last - t0 < MEASURE_NS) {
      const now = time_ns();
      if (now - last < PREEMPTED_NS) ran += now - last;
      last = now;
    }
    atomic_add32(arg, <u32>(ran / 1000));
  }
}

/** Cores that run jobs (the boot core and the started workers). */
export function coresStarted(): i32 { return started; }
/** Cores a job uses now. */
export function threads(): i32 { return simulated > 1 ? simulated : inUse; }
/** Uses n cores from now on, 1 <= n <= coresStarted(); false (nothing changed) otherwise. */
export function setThreads(n: i32): bool {
  if (n < 1 || n > started) return false;
  inUse = width = n;
  widenAfter = WIDEN_AFTER;
  return true;
}
/** Cores the last jobs took (fewer than threads() while the host runs fewer at once). */
export function jobWidth(): i32 { return simulated > 1 ? simulated : width; }

/** "cores: 2 of 2 online in use" for llmctl info, stats and bench. */
export function coresLine(): string {
  return "cores: " + threads().toString() + " of " + cores().online.toString() + " online in use by the engine" +
    (jobWidth() < threads() ? " (jobs on " + jobWidth().toString() + " lately: the host runs fewer of them at once)" : "");
}

/** Host tests: split every job as n cores would (n > 1), running the pieces on this one in
 *  an order that is not the units' own; 0 ends it. */
export function simulateCores(n: i32): void { simulated = n; }

/** Cores a job may use now: what its working memory, sized when it was planned, allows. */
export function jobCores(): i32 { return max(started, simulated); }

/** Runs fn over units [0, units) on the cores in use, at most maxCores of them (the cores its
 *  working memory has room for: `core` < maxCores), and returns when all are done. A trap
 *  on a worker comes back as a trap here, reported as that core's. `everyCore`: on all the
 *  cores in use, however busy the host (tests that need a given core in the job). */
export function parallelFor(units: i32, fn: UnitsFn, arg: usize, maxCores: i32 = 1, everyCore: bool = false): void {
  if (units <= 0) return;
  if (simulated > 1 && maxCores > 1) { runSimulated(units, fn, arg, min(simulated, maxCores)); return; }
  adaptWidth();
  const used = min(min(everyCore ? inUse : width, maxCores), units);
  if (used <= 1) { fn(arg, 0, 0, units); return; }
  // a job the boot core left by a trap (never closed) may still have workers in it
  if (load<u32>(JOB + CLOSED) != load<u32>(JOB + SEQ)) closeJob();
  store<u32>(JOB + FN, fn.index);
  store<usize>(JOB + ARG, arg);
  store<i32>(JOB + UNITS, units);
  store<i32>(JOB + NEXT, 0);
  store<i32>(JOB + USED, used);
  // claims of a sixteenth of a core's share: the last claims end close together, and a unit
  // (32 rows of a product) costs far more than taking it
  store<i32>(JOB + CLAIM, max(1, units / (used * 16)));
  let seq = load<u32>(JOB + SEQ) + 1;
  if (seq == 0) seq = 1; // 0 is `joined`'s "none"
  atomic_store32(JOB + SEQ, seq);
  wake(1, used);
  const start = time_ns();
  runUnits(0);
  const t0 = time_ns();
  closeJob();
  const waited = time_ns() - t0;
  // a worker that holds up a job this long past the boot core's share (the last claims end
  // within a sixteenth of it) was preempted inside its claim: narrow at once (adaptWidth)
  if (used > 2 && waited > PREEMPTED_NS && waited > (t0 - start) >> 2) atomic_store32(JOB + PREEMPTED, 1);
  jobStats.waitNs += waited;
  jobStats.jobs++;
  core_check(1);
}

function adaptWidth(): void {
  if (inUse <= 2) return;
  if (sinceWiden < MAX_WIDEN_AFTER) sinceWiden++;
  if (atomic_load32(JOB + PREEMPTED) != 0) {
    atomic_store32(JOB + PREEMPTED, 0);
    if (width > 2) {
      width--;
      if (sinceWiden < widenAfter) widenAfter = min(widenAfter << 1, MAX_WIDEN_AFTER);
    }
    quietJobs = 0;
  } else if (width < inUse && ++quietJobs >= widenAfter) {
    width++;
    quietJobs = 0;
    sinceWiden = 0;
  }
}

function runSimulated(units: i32, fn: UnitsFn, arg: usize, n: i32): void {
  const claim = max(1, units / (n * 16));
  const claims = (units + claim - 1) / claim;
  for (let j = claims - 1; j >= 0; j--) fn(arg, j % n, j * claim, min(units, (j + 1) * claim));
}

function runUnits(core: i32): void {
  const units = load<i32>(JOB + UNITS), claim = load<i32>(JOB + CLAIM);
  const fn = load<u32>(JOB + FN), arg = load<usize>(JOB + ARG);
  while (true) {
    const b = <i32>atomic_add32(JOB + NEXT, claim);
    if (b >= units) return;
    call_indirect<void>(fn, arg, core, b, min(units, b + claim));
  }
}

/** Closes the posted job to workers that have not joined it yet and waits for those that
 *  have to leave it (each wakes the boot core as it leaves). */
function closeJob(): void {
  const seq = load<u32>(JOB + SEQ);
  if (seq == 0) return; // none posted yet
  atomic_store32(JOB + CLOSED, seq);
  barrier(); // see the comment at the top
  for (let i = 1; i < started; i++) {
    const joined = coreState(i) + JOINED;
    while (atomic_load32(joined) == seq) waitUntil(0, joined, seq, false, true);
  }
}

/** Core `core` waits until the word at p is (equal) or is not (!equal) v: it polls for up to
 *  POLL_NS (if `poll`, and unless it was found preempted lately), then sleeps until an
 *  interrupt. Returns after the sleep too; callers check again. */
function waitUntil(core: i32, p: usize, v: u32, equal: bool, poll: bool): void {
  const state = coreState(core);
  const noPoll = load<u32>(state, NO_POLL);
  if (!poll) {
    // not taking part: sleep, leaving the host's time to the cores that do
  } else if (noPoll > 0) {
    store<u32>(state, noPoll - 1, NO_POLL);
  } else {
    const t0 = time_ns();
    let last = t0;
    while (last - t0 < POLL_NS) {
      if ((atomic_load32(p) == v) == equal) return;
      const now = time_ns();
      if (now - last > PREEMPTED_NS) {
        store<u32>(state, NO_POLL_WAITS, NO_POLL);
        atomic_store32(JOB + PREEMPTED, 1);
        break;
      }
      last = now;
    }
  }
  // Asleep, then look once more: a core that changes the word after this store sees ASLEEP
  // and wakes this one. Both sides put a full barrier between their store and their load
  // (store-release then load-acquire would do on Arm, but QEMU's TCG lets an x86 host
  // reorder them, and a wake-up would be lost).
  atomic_store32(state + ASLEEP, 1);
  barrier();
  if ((atomic_load32(p) == v) != equal) core_idle(); // an interrupt sent since ends it at once
  atomic_store32(state + ASLEEP, 0);
}

/** Wakes the cores in [first, end) that sleep, after the caller's store of what they wait for. */
function wake(first: i32, end: i32): void {
  barrier(); // see waitUntil
  for (let i = first; i < end; i++) if (atomic_load32(coreState(i) + ASLEEP) != 0) core_wake(<u32>i);
}

/** After a trap on the boot core: let workers finish the job it left, and forget any trap of
 *  theirs in it (the boot core's is the one reported). */
export function recoverWorkers(): void {
  if (started <= 1) return;
  closeJob();
  core_check(0);
}

// ---- worker cores (exported by kernel/main.ts; boot/runtime.c calls them) ----

/** A worker's life: wait for a job, take its units, leave it; never returns. */
export function core_main(core: i32): void {
  const state = coreState(core);
  __stack_pointer = load<usize>(state, STACK_TOP);
  let seen = load<u32>(state, SEEN);
  let tookPart = false; // in the last job: the next one is likely to follow at once
  while (true) {
    const seq = atomic_load32(JOB + SEQ);
    if (seq == seen) { waitUntil(core, JOB + SEQ, seen, false, tookPart); continue; }
    seen = seq;
    store<u32>(state, seq, SEEN);
    tookPart = core < load<i32>(JOB + USED);
    if (!tookPart || !joinJob(state, seq)) continue;
    runUnits(core);
    leaveJob(core);
  }
}

/** After a trap on a worker (boot/runtime.c): it leaves the job it was in, so that the boot
 *  core's wait ends and it reports the trap. */
export function core_left_job(core: i32): void {
  if (atomic_load32(coreState(core) + JOINED) != 0) leaveJob(core);
}

/** Joins job `seq` unless the boot core has closed it (or moved on past it): true if in. */
function joinJob(state: usize, seq: u32): bool {
  atomic_store32(state + JOINED, seq);
  barrier(); // see the comment at the top
  if (atomic_load32(JOB + SEQ) == seq && atomic_load32(JOB + CLOSED) != seq) return true;
  atomic_store32(state + JOINED, 0);
  wake(0, 1); // the boot core may have seen it joined and wait for it
  return false;
}

function leaveJob(core: i32): void {
  atomic_store32(coreState(core) + JOINED, 0);
  wake(0, 1);
}
