// llmctl backend / load / unload / info: choosing the backend and the model it runs.
//   llmctl backend [stub|real]   select (or show) the backend
//   llmctl load PATH             read a GGUF model (checked against memory before reading)
//   llmctl unload                free the model, its KV cache and scratch
//   llmctl info                  backend, model, memory, settings
// The file comes through the VFS; the backend gets it as a ModelSource and reports
// progress, which is drawn here as one updating line (percent, MB/s).
import { print, println, interruptRequested } from "../../kernel/console";
import { Stat, FT_DIR, FT_REG } from "../../kernel/fs/fs";
import { vfs } from "../../kernel/fs/vfs";
import { explainMissing } from "../../kernel/storage";
import { time_ns } from "../../kernel/platform";
import { ModelSource } from "../../llm/backend/backend";
import { contextSetting, currentBackend, defaultSettings, realBackend, selectBackend, stubBackend, BACKEND_NAMES } from "../../llm/backend/registry";
import { parseUint } from "../args";
import { bytes, fixed, printable } from "../format";
import { FAIL, OK, USAGE, onTrapRecovery } from "../registry";
import { settingsLines } from "./llmctl_config";
import { coresLine } from "../../kernel/parallel";

const PROGRESS_EVERY_NS: u64 = 100_000_000;

/** An open file as the backend's ModelSource; draws the progress line. */
export class VfsSource extends ModelSource {
  private lastDraw: u64 = 0;
  private drawn: bool = false;
  constructor(private fd: i32, private bytesTotal: u64, private label: string) { super(); }
  size(): u64 { return this.bytesTotal; }
  read(offset: u64, dst: usize, len: usize): string {
    let done: usize = 0;
    while (done < len) {
      const r = vfs.pread(this.fd, offset + <u64>done, dst + done, len - done);
      if (r.error.length != 0) return r.error;
      if (r.bytes == 0) return this.label + ": unexpected end of file at byte " + (offset + <u64>done).toString();
      done += <usize>r.bytes;
    }
    return "";
  }
  progress(done: u64, total: u64, ns: u64): void {
    const now = time_ns();
    const last = done >= total;
    if (!last && this.drawn && now - this.lastDraw < PROGRESS_EVERY_NS) return;
    this.lastDraw = now;
    this.drawn = true;
    const pct = total == 0 ? 100 : done * 100 / total;
    const width: u64 = 30;
    const fill = total == 0 ? width : done * width / total;
    let bar = "";
    for (let i: u64 = 0; i < width; i++) bar += i < fill ? "#" : ".";
    print("\r" + "loading " + printable(this.label) + " [" + bar + "] " + pct.toString() + "% " + bytes(done) + " of " + bytes(total) +
      ", " + (ns == 0 ? "-" : fixed(<f64>done * 1000 / <f64>ns, 1)) + " MB/s\x1b[K");
    if (last) print("\n");
  }
  interrupted(): bool { return interruptRequested(); }
  nowNs(): u64 { return time_ns(); }
  /** Ends an unfinished progress line (after an error). */
  close(): void {
    if (this.drawn) print("\n");
    this.drawn = false;
  }
}

let openFd: i32 = -1;

function closeOpen(): void {
  if (openFd >= 0) { vfs.close(openFd); openFd = -1; }
}

export function llmctlBackend(args: Array<string>): i32 {
  if (args.length == 2) {
    const b = currentBackend();
    println(b == null ? "backend: none selected" : "backend: " + b.name() + " (" + (b.name() == "real" ? b.title() + ": " : "") + b.describe() + ")");
    return OK;
  }
  const name = args[2];
  let delayMs: i64 = -1;
  if (name == "stub" && args.length == 5 && args[3] == "--delay-ms") {
    delayMs = parseUint(args[4], 60000);
    if (delayMs < 0) {
      println("error: --delay-ms needs a number of milliseconds (0..60000), not '" + printable(args[4]) + "'");
      return FAIL;
    }
  } else if (args.length != 3) return USAGE;
  const err = selectBackend(name);
  if (err.length != 0) {
    println("error: " + printable(err));
    return FAIL;
  }
  if (name == "stub") stubBackend().pieceDelayMs = delayMs >= 0 ? <u32>delayMs : 0; // each selection starts from its own options
  const b = currentBackend()!;
  if (name == "stub") println("backend: stub selected (" + b.describe() + ")");
  else println("LLM backend: " + b.title());
  if (name == "real") {
    const r = realBackend();
    if (r.isLoaded()) println("model: " + r.path + " (loaded)");
  }
  return OK;
}

export function llmctlLoad(args: Array<string>): i32 {
  if (args.length != 3) return USAGE;
  const path = args[2];
  let b = currentBackend();
  if (b == null) {
    selectBackend("real");
    b = currentBackend()!;
    println("LLM backend: " + b.title() + " (selected for loading)");
  }
  if (b.name() != "real") {
    println("error: the " + b.name() + " backend does not load models; select the transformer first: llmctl backend real");
    return FAIL;
  }
  const st = new Stat();
  const e = vfs.stat(path, st);
  if (e.length != 0) { println("error: " + printable(explainMissing(path, e))); return FAIL; }
  if (st.type == FT_DIR) { println("error: cannot load " + printable(path) + ": it is a directory"); return FAIL; }
  if (st.type != FT_REG) { println("error: cannot load " + printable(path) + ": not a regular file"); return FAIL; }
  const o = vfs.open(path);
  if (o.error.length != 0) { println("error: cannot load " + printable(path) + ": " + printable(o.error)); return FAIL; }
  openFd = o.fd;
  const r = realBackend();
  const wasLoaded = r.isLoaded();
  const src = new VfsSource(o.fd, st.size, path);
  const err = r.load(path, src, contextSetting());
  closeOpen();
  if (err.length != 0) {
    src.close();
    println("error: " + printable(err));
    if (wasLoaded) println(r.isLoaded() ? "(" + r.path + " stays loaded)" : "(the model loaded before was unloaded to make room; no model is loaded now)");
    return FAIL;
  }
  const lines = r.modelSummary();
  for (let i = 0; i < lines.length; i++) println(lines[i]);
  const ctx = contextSetting();
  const train = r.engine.model!.config.nCtxTrain;
  if (ctx > train) println("note: context " + ctx.toString() + " is beyond the model's " + train.toString() + " tokens; using " + train.toString());
  if (r.contextNote.length != 0) println("note: " + r.contextNote);
  println(r.loadReport());
  return OK;
}

export function llmctlUnload(args: Array<string>): i32 {
  if (args.length != 2) return USAGE;
  const r = realBackend();
  if (!r.isLoaded()) { println("no model is loaded"); return OK; }
  const path = r.path;
  const freed = r.modelRegionBytes() + r.kvRegionBytes() + r.scratchRegionBytes();
  r.unload();
  println("unloaded " + path + ": " + bytes(freed) + " freed (" + freed.toString() + " B)");
  return OK;
}

export function llmctlInfo(args: Array<string>): i32 {
  if (args.length != 2) return USAGE;
  const b = currentBackend();
  if (b == null) {
    println("backend: none selected (available: " + BACKEND_NAMES + ")");
    const m = realBackend().memory();
    for (let i = 0; i < m.length; i++) println(m[i]);
  } else {
    const lines = b.info();
    for (let i = 0; i < lines.length; i++) println(lines[i]);
  }
  println(coresLine());
  println("settings:");
  const s = settingsLines(defaultSettings());
  for (let i = 0; i < s.length; i++) println(s[i]);
  return OK;
}

onTrapRecovery(closeOpen);
