// llmctl bench: how fast the loaded model runs here, as llama-bench measures it.
//   pp N   prompt processing: one prefill of exactly N tokens (default 10, 50, 100)
//   tg N   text generation: N tokens, one forward pass each, after a one-token prompt
//          (default 1, 10, 50)
//   pg P,N a prefill of P tokens, then N generated after it, timed apart (as the
//          llama.cpp peer of tools/bench-qemu.mjs measures; none by default)
// plus memory: the model image, the KV cache and the scratch (allocated once at load: its
// size is its peak), and the peak of all regions. Ctrl-C stops between measurements.
//   llmctl bench [--pp N,N,...] [--tg N,N,...] [--pg P,N] [--runs R]
import { interruptRequested, println } from "../../kernel/console";
import { benchGenerate, benchPrompt, benchPromptGenerate, BenchRun } from "../../llm/backend/bench";
import { realBackend, realSelected } from "../../llm/backend/registry";
import { regionBytesPeak } from "../../kernel/memory/regions";
import { cores } from "../../kernel/cpus";
import { threads } from "../../kernel/parallel";
import { parseUint } from "../args";
import { bytes, fixed, ms, printable } from "../format";
import { FAIL, OK, USAGE } from "../registry";

function parseList(s: string, what: string): Array<i32> | null {
  const out = new Array<i32>();
  const parts = s.split(",");
  for (let i = 0; i < parts.length; i++) {
    const v = parseUint(parts[i], 100000);
    if (v < 1) { println("error: " + what + " needs token counts like 10,50,100 (each 1..100000), not '" + printable(s) + "'"); return null; }
    out.push(<i32>v);
  }
  return out;
}

function row(test: string, r: BenchRun, width: i32): string {
  const tps = r.ns == 0 ? "-" : fixed(<f64>r.tokens * 1e9 / <f64>r.ns, 2);
  return "| " + test.padEnd(width) + " | " + r.tokens.toString().padStart(6) + " | " + ms(r.ns).padStart(12) + " | " + tps.padStart(10) + " |";
}

// The median run by time.
function median(runs: Array<BenchRun>): BenchRun {
  runs.sort((a: BenchRun, b: BenchRun): i32 => a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0);
  return runs[runs.length >> 1];
}

function argGiven(args: Array<string>, name: string): bool {
  for (let i = 2; i < args.length; i += 2) if (args[i] == name) return true;
  return false;
}

export function llmctlBench(args: Array<string>): i32 {
  let pp = [10, 50, 100];
  let tg = [1, 10, 50];
  let pg = new Array<i32>();
  let runs: i32 = 1;
  for (let i = 2; i < args.length; i++) {
    if (i + 1 >= args.length) return USAGE;
    const a = args[i], v = args[++i];
    if (a == "--pp") { const l = parseList(v, "--pp"); if (l == null) return FAIL; pp = l; }
    else if (a == "--tg") { const l = parseList(v, "--tg"); if (l == null) return FAIL; tg = l; }
    else if (a == "--pg") {
      const l = parseList(v, "--pg");
      if (l == null) return FAIL;
      if (l.length != 2) { println("error: --pg needs two token counts: prompt,generated (e.g. 32,32)"); return FAIL; }
      pg = l;
      if (!argGiven(args, "--pp")) pp = new Array<i32>();
      if (!argGiven(args, "--tg")) tg = new Array<i32>();
    }
    else if (a == "--runs") {
      const n = parseUint(v, 100);
      if (n < 1) { println("error: --runs needs a number from 1 to 100, not '" + printable(v) + "'"); return FAIL; }
      runs = <i32>n;
    } else return USAGE;
  }
  if (!realSelected()) { println("error: bench measures the transformer backend: llmctl backend real, then llmctl load"); return FAIL; }
  const r = realBackend();
  if (!r.isLoaded()) { println("error: no model is loaded (llmctl load /models/NAME.gguf first)"); return FAIL; }
  const e = r.engine;
  r.chatEnd();
  const name = e.model!.config.name;
  println("bench: " + (name.length != 0 ? name : r.path) + " (" + e.info()!.quantization + "), context " + e.nCtx.toString() +
    ", " + threads().toString() + " of " + cores().online.toString() + " cores, " + runs.toString() + (runs == 1 ? " run" : " runs (median)") + " each");
  // warm-up: the first pass through the code (batched and single-token) is slower under an emulator
  const w = benchPromptGenerate(e, 2, 2);
  if (w[1].error.length != 0) { println("error: " + w[1].error); return FAIL; }
  const tests = new Array<string>();
  for (let i = 0; i < pp.length; i++) tests.push("pp " + pp[i].toString());
  for (let i = 0; i < tg.length; i++) tests.push("tg " + tg[i].toString());
  let width = 7;
  for (let i = 0; i < tests.length; i++) width = max(width, tests[i].length);
  const pgName = pg.length == 2 ? "pg " + pg[0].toString() + "," + pg[1].toString() + ": " : "";
  if (pg.length == 2) width = max(width, pgName.length + 2);
  println("| " + "test".padEnd(width) + " | tokens |      time ms |      tok/s |");
  println("| " + "-".repeat(width) + " | ------ | ------------ | ---------- |");
  if (pg.length == 2) {
    const pps = new Array<BenchRun>(), tgs = new Array<BenchRun>();
    for (let k = 0; k < runs; k++) {
      if (interruptRequested()) { println("^C"); println("bench interrupted"); return FAIL; }
      const res = benchPromptGenerate(e, pg[0], pg[1]);
      if (res[1].error.length != 0) { println("error: " + pgName + res[1].error); return FAIL; }
      pps.push(res[0]); tgs.push(res[1]);
    }
    println(row(pgName + "pp", median(pps), width));
    println(row(pgName + "tg", median(tgs), width));
  }
  for (let i = 0; i < tests.length; i++) {
    const isPP = i < pp.length;
    const n = isPP ? pp[i] : tg[i - pp.length];
    const all = new Array<BenchRun>();
    for (let k = 0; k < runs; k++) {
      if (interruptRequested()) { println("^C"); println("bench interrupted"); return FAIL; }
      const res = isPP ? benchPrompt(e, n) : benchGenerate(e, n);
      if (res.error.length != 0) { println("error: " + tests[i] + ": " + res.error); return FAIL; }
      all.push(res);
    }
    println(row(tests[i], median(all), width));
  }
  const m = r.modelRegionBytes(), k = r.kvRegionBytes(), s = r.scratchRegionBytes();
  println("memory: model " + bytes(m) + ", KV cache " + bytes(k) + " (" + e.nCtx.toString() + " tokens), scratch peak " + bytes(s) +
    " (allocated once at load); total " + bytes(m + k + s) + ", regions peak " + bytes(regionBytesPeak()));
  return OK;
}
