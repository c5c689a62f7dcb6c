// The real backend: transformer inference of the families in llm/arch with the engine (llm/engine.ts)
// on a GGUF model read from a ModelSource (the shell's VFS file).
//
// Loading, in this order, so that a file that cannot work is refused before it is read:
//   1. the header (the first MiB, more if the metadata is longer) is read and planned
//      (model_plan.ts): not GGUF, an unsupported architecture or tensor type, a bad shape
//      are reported by name; the KV cache and scratch the context needs are sized;
//   2. file + KV cache + scratch + working memory must fit in what is left of the memory
//      WebAssembly may grow to (platform mem_limit) after what is in use;
//   3. the file is read into one region, in chunks, with progress reports;
//   4. the engine binds the image in place and allocates the KV cache and scratch.
// Every failure frees what was taken; unload() gives back every region.

import { jobStats, jobWidth, threads } from "../../kernel/parallel";
import { Backend, InferResult, InferSettings, ModelSource, STOP_END_OF_TEXT, STOP_ERROR, STOP_INTERRUPTED, STOP_MAX_TOKENS, TokenSink } from "./backend";
import { ChatSession } from "./chat_session";
import { planModel, ModelPlan, kvBytes64 } from "./model_plan";
import { bytes, count, fixed, lpad, ms, pad, percent, rate } from "./format";
import { Engine, stopOf } from "../engine";
import { allocRegion, freeRegion, linearMemoryBytes, regionBytesFree, regionBytesInUse, regionBytesPeak, regionSize } from "../../kernel/memory/regions";
import { mem_limit } from "../../kernel/platform";
import { familyNames } from "../arch/families";

/** The first read of a model file: enough for the header of most models. */
const HEADER_FIRST: u64 = 1 << 20;
/** A header (metadata + tensor infos) longer than this is refused. */
export const HEADER_MAX: u64 = 64 << 20;
/** The smallest context chosen for a model whose own does not fit in memory. */
const CONTEXT_MIN: i32 = 256;
/** Bytes per read while loading (the device DMAs straight into the image region). */
const LOAD_CHUNK: u64 = 8 << 20;
const PAGE: u64 = 65536;

/** Bytes of working memory on the GC heap a model needs besides its regions (tokenizer tables, sampler). */
export function heapMargin(vocab: i32, headerBytes: u64): u64 {
  return (8 << 20) + <u64>vocab * 160 + headerBytes;
}

function profileRow(total: u64, name: string, ns: u64, extra: string): string {
  return "  " + pad(name, 16) + lpad(ms(ns), 12) + " ms " + lpad(percent(ns, total), 7) + (extra.length != 0 ? "  " + extra : "");
}

function pages(n: u64): u64 { return (n + PAGE - 1) / PAGE * PAGE; }

function failedPlan(msg: string): ModelPlan {
  const p = new ModelPlan();
  p.error = msg;
  return p;
}

/** Bytes linear memory can still take: growth left below mem_limit(), plus freed regions. */
export function memoryLeft(): u64 {
  const limit = mem_limit(), lin = linearMemoryBytes();
  return (limit > lin ? limit - lin : 0) + regionBytesFree();
}

export class TransformerBackend extends Backend {
  engine: Engine = new Engine();
  path: string = "";
  image: usize = 0;
  imageBytes: u64 = 0;
  /** Time to read the file, and its size, for the load report. */
  readNs: u64 = 0;
  loadNs: u64 = 0;
  chat: ChatSession | null = null;
  /** The image region while a load reads into it (freed by recover() if a trap cuts the load short). */
  private loading: usize = 0;
  /** After a load: why the context is not the one asked for ("" when it is). */
  contextNote: string = "";

  name(): string { return "real"; }
  title(): string { return "TransformerBackend"; }
  describe(): string { return "transformer inference on GGUF models (" + familyNames() + "), on every core"; }

  isLoaded(): bool { return this.engine.loaded; }

  /**
   * What loading `path` would take, from its header alone (read in growing pieces, up to
   * HEADER_MAX): the model's family, shapes and the memory it needs for nCtx tokens (0: its
   * own context). `error` holds the whole message when the file cannot be loaded.
   */
  inspect(path: string, src: ModelSource, nCtx: i32): ModelPlan {
    const size = src.size();
    if (size == 0) return failedPlan(path + ": the file is empty, not a GGUF model");
    let len = size < HEADER_FIRST ? size : HEADER_FIRST;
    let plan: ModelPlan;
    while (true) {
      const buf = allocRegion(len);
      if (buf == 0) return failedPlan("out of memory for the first " + bytes(len) + " of " + path);
      const err = src.read(0, buf, <usize>len);
      if (err.length != 0) { freeRegion(buf); return failedPlan("reading the header of " + path + " failed: " + err); }
      plan = planModel(buf, len, size, nCtx);
      freeRegion(buf);
      if (!plan.needMore) break;
      if (len >= size || len >= HEADER_MAX) {
        return failedPlan(path + ": " + plan.why + (len >= HEADER_MAX ? " (a header longer than " + bytes(HEADER_MAX) + " is not read)" : ""));
      }
      let want = max(plan.wantBytes, len * 2);
      if (want > size) want = size;
      if (want > HEADER_MAX) want = HEADER_MAX;
      len = want;
    }
    if (plan.error.length != 0) plan.error = path + ": " + plan.error;
    return plan;
  }

  /** Memory a load of `plan` needs: the file, KV cache, scratch and working memory. */
  private needed(plan: ModelPlan, size: u64): u64 {
    return pages(size) + pages(plan.kvBytes) + pages(plan.scratchBytes) + heapMargin(plan.vocab, plan.headerBytes);
  }

  load(path: string, src: ModelSource, nCtx: i32): string {
    const t0 = src.nowNs();
    const size = src.size();
    this.contextNote = "";

    // 1. the header
    let plan = this.inspect(path, src, nCtx);
    if (plan.error.length != 0) return plan.error;

    // 2. does it fit? (the model loaded now, if any, gives its memory back first)
    const held = this.modelRegionBytes() + this.kvRegionBytes() + this.scratchRegionBytes();
    const left = memoryLeft() + held;
    if (nCtx == 0 && this.needed(plan, size) > left && plan.context > CONTEXT_MIN) {
      // the model's own context does not fit (Llama 3.x: 131072 tokens): the largest power of
      // two below it that does, so that some memory is left for what comes next
      const own = plan.context;
      let c = CONTEXT_MIN;
      while (c * 2 < own) c *= 2;
      let best: ModelPlan | null = null;
      for (; c >= CONTEXT_MIN && best === null; c /= 2) {
        const p = this.inspect(path, src, c);
        if (p.error.length != 0) return p.error;
        if (this.needed(p, size) <= left) best = p;
      }
      if (best !== null) {
        plan = best!;
        this.contextNote = "context " + plan.context.toString() + " tokens: the model's own " + own.toString() +
          " do not fit in memory (llmctl config context N sets another)";
      }
    }
    const margin = heapMargin(plan.vocab, plan.headerBytes);
    const need = this.needed(plan, size);
    if (need > left) {
      return "model too large for memory: " + path + " needs " + bytes(need) + " (file " + bytes(size) + " + KV cache " +
        bytes(plan.kvBytes) + " for " + plan.context.toString() + " tokens + scratch " + bytes(plan.scratchBytes) +
        " + working memory " + bytes(margin) + ") but only " + bytes(left) + " of " + bytes(mem_limit()) +
        " is free" + (plan.kvBytes > need / 4 ? "; a smaller context needs less (llmctl config context N)" : "");
    }
    if (this.isLoaded()) this.unload();

    // 3. read it
    const img = allocRegion(size);
    this.loading = img;
    if (img == 0) return "out of memory: no " + bytes(size) + " block is free for " + path + " (memory is fragmented; unload and try again)";
    const r0 = src.nowNs();
    let done: u64 = 0;
    src.progress(0, size, 0);
    while (done < size) {
      const n = size - done < LOAD_CHUNK ? size - done : LOAD_CHUNK;
      const err = src.read(done, img + <usize>done, <usize>n);
      if (err.length != 0) {
        freeRegion(img);
        this.loading = 0;
        return "reading " + path + " failed at byte " + done.toString() + " of " + size.toString() + ": " + err + "; nothing was loaded";
      }
      done += n;
      src.progress(done, size, src.nowNs() - r0);
      if (done < size && src.interrupted()) {
        freeRegion(img);
        this.loading = 0;
        return "loading interrupted (Ctrl-C) after " + bytes(done) + " of " + bytes(size) + "; nothing was loaded";
      }
    }
    const readNs = src.nowNs() - r0;

    // 4. bind it
    const err = this.engine.load(img, size, plan.context);
    this.loading = 0;
    if (err.length != 0) {
      this.engine.unload();
      freeRegion(img);
      return path + ": " + err;
    }
    this.image = img;
    this.imageBytes = size;
    this.path = path;
    this.readNs = readNs;
    this.loadNs = src.nowNs() - t0;
    this.chat = null;
    return "";
  }

  unload(): void {
    this.chat = null;
    this.engine.unload();
    if (this.image != 0) freeRegion(this.image);
    this.image = 0;
    this.imageBytes = 0;
    this.path = "";
  }

  setContext(nCtx: i32): string {
    if (!this.isLoaded()) return "";
    const e = this.engine;
    const c = e.model!.config;
    const ctx = nCtx == 0 || nCtx > c.nCtxTrain ? c.nCtxTrain : nCtx;
    const kv = kvBytes64(c, ctx), scratch = <u64>ctx * 4 + <u64>c.nVocab * 4 + <u64>this.scratchRegionBytes();
    const left = memoryLeft() + this.kvRegionBytes() + this.scratchRegionBytes();
    if (pages(kv) + pages(scratch) > left) {
      return "a context of " + ctx.toString() + " tokens needs a KV cache of " + bytes(kv) + " and more scratch; only " + bytes(left) +
        " is free (the context stays " + e.nCtx.toString() + " tokens)";
    }
    this.chat = null;
    return e.setContext(ctx);
  }

  /** Region bytes of the image, KV cache and scratch (what `unload` gives back). */
  modelRegionBytes(): u64 { return regionSize(this.image); }
  kvRegionBytes(): u64 { return this.engine.kv === null ? 0 : regionSize(this.engine.kv!.base); }
  scratchRegionBytes(): u64 { return this.engine.scratch === null ? 0 : regionSize(this.engine.scratch!.base); }

  modelSummary(): Array<string> {
    const lines = new Array<string>();
    const i = this.engine.info();
    if (i === null) return lines;
    lines.push("model:        " + (i.name.length != 0 ? i.name : "(no general.name)") + " (" + this.path + ")");
    lines.push("architecture: " + i.arch + " (the " + i.family + " family)");
    lines.push("layers:       " + i.layers.toString());
    lines.push("embedding:    " + i.dim.toString() + " (feed-forward " + i.ffDim.toString() + ")");
    lines.push("heads:        " + i.heads.toString() + " (KV heads " + i.kvHeads.toString() + ", head size " + i.headDim.toString() + ")");
    lines.push("vocabulary:   " + i.vocab.toString() + " (" + i.tokenizer + " tokenizer, BOS " + i.bos.toString() + ", EOS " + i.eos.toString() + ")");
    lines.push("context:      " + i.context.toString() + " tokens (trained " + i.contextTrain.toString() + ")");
    lines.push("quantization: " + i.quantization + " (" + i.types + ")");
    lines.push("parameters:   " + count(i.params));
    lines.push("memory used:  " + bytes(this.modelRegionBytes() + this.kvRegionBytes() + this.scratchRegionBytes()) + " (model " +
      bytes(this.modelRegionBytes()) + ", KV cache " + bytes(this.kvRegionBytes()) + ", scratch " + bytes(this.scratchRegionBytes()) + ")");
    return lines;
  }

  /** The load report: how long reading and binding took. */
  loadReport(): string {
    return "loaded " + this.path + " in " + fixed(<f64>this.loadNs / 1e9, 2) + " s (read " + bytes(this.imageBytes) + " at " +
      (this.readNs == 0 ? "-" : fixed(<f64>this.imageBytes * 1000 / <f64>this.readNs, 1)) + " MB/s)";
  }

  memory(): Array<string> {
    const lines = new Array<string>();
    if (this.isLoaded()) {
      const m = this.modelRegionBytes(), k = this.kvRegionBytes(), s = this.scratchRegionBytes();
      lines.push("memory: model " + bytes(m) + " (" + m.toString() + " B), KV cache " + bytes(k) + " (" + k.toString() +
        " B), scratch " + bytes(s) + " (" + s.toString() + " B); total " + bytes(m + k + s) + " (" + (m + k + s).toString() + " B)");
      lines.push("KV cache: " + this.engine.nCtx.toString() + " tokens, " + this.engine.contextUsed.toString() + " in use (F16 keys and values)");
    } else {
      lines.push("memory: no model loaded");
    }
    lines.push("regions: " + regionBytesInUse().toString() + " B in use (" + bytes(regionBytesInUse()) + "), " + bytes(regionBytesFree()) +
      " free, peak " + bytes(regionBytesPeak()) + "; linear memory " + bytes(linearMemoryBytes()) + " of at most " + bytes(mem_limit()));
    return lines;
  }

  info(): Array<string> {
    const lines = new Array<string>();
    lines.push("backend: real (" + this.title() + ": " + this.describe() + ")");
    if (!this.isLoaded()) {
      lines.push("model: none loaded (llmctl load /models/NAME.gguf; llmctl models lists them)");
    } else {
      const s = this.modelSummary();
      for (let i = 0; i < s.length; i++) lines.push(s[i]);
    }
    const m = this.memory();
    for (let i = 0; i < m.length; i++) lines.push(m[i]);
    return lines;
  }

  infer(prompt: Uint8Array, st: InferSettings, sink: TokenSink): InferResult {
    const r = new InferResult();
    const e = this.engine;
    if (!this.isLoaded()) {
      r.error = "no model is loaded (llmctl load /models/NAME.gguf first; llmctl models lists them)";
      r.stopReason = STOP_ERROR;
      return r;
    }
    this.chat = null; // infer starts from an empty cache: a conversation in it is over
    const t0 = sink.nowNs();
    const err = e.begin(prompt.dataStart, prompt.length, st);
    r.promptTokens = e.timings.promptTokens;
    r.contextSize = e.nCtx;
    if (err.length != 0) {
      r.error = err;
      r.stopReason = STOP_ERROR;
      return r;
    }
    const t1 = sink.nowNs();
    r.promptNs = t1 - t0;
    while (true) {
      if (sink.interrupted()) { r.stopReason = STOP_INTERRUPTED; break; }
      const t = e.next();
      if (e.pieceLen > 0) sink.emit(e.piecePtr, e.pieceLen);
      if (t < 0) {
        r.stopReason = stopOf(t);
        if (e.grammarFailure.length != 0) r.note = "grammar: " + e.grammarFailure;
        break;
      }
    }
    r.generatedTokens = e.generated.length;
    r.generateNs = sink.nowNs() - t1;
    r.contextUsed = e.contextUsed;
    return r;
  }

  // ---- chat ----

  /** Starts a conversation (an empty cache); `today` is the date templates that write one
   *  use ("06 Dec 2026"; "" for their own fallback). Returns "" or an error. */
  chatStart(system: string, today: string = ""): string {
    if (!this.isLoaded()) return "no model is loaded (llmctl load /models/NAME.gguf first)";
    this.chat = new ChatSession(this.engine, system, today);
    return "";
  }

  chatTurn(text: string, st: InferSettings, sink: TokenSink): InferResult {
    const c = this.chat;
    if (c === null) {
      const r = new InferResult();
      r.error = "no conversation is open";
      r.stopReason = STOP_ERROR;
      return r;
    }
    return c.turn(text, st, sink);
  }

  chatReset(): void { const c = this.chat; if (c !== null) c.reset(); }
  /** Ends the conversation; its history leaves the KV cache with it. */
  chatEnd(): void { if (this.chat !== null && this.isLoaded()) this.engine.reset(); this.chat = null; }

  // ---- profile ----

  profile(): Array<string> {
    const lines = new Array<string>();
    const e = this.engine;
    if (!this.isLoaded()) { lines.push("profile: no model is loaded"); return lines; }
    const t = e.timings, f = t.forward;
    const total = t.tokenizeNs + t.prefillNs + t.decodeNs + t.samplingNs + t.grammarNs + t.detokenizeNs;
    lines.push("profile: prompt " + t.promptTokens.toString() + " tokens, " + t.generatedTokens.toString() + " generated, " +
      ms(total) + " ms in all");
    let listed: u64 = t.tokenizeNs + f.embedNs + f.outputNs + t.samplingNs + t.grammarNs + t.detokenizeNs;
    lines.push(profileRow(total, "tokenization", t.tokenizeNs, ""));
    lines.push(profileRow(total, "embedding", f.embedNs, ""));
    for (let l = 0; l < f.layerNs.length; l++) {
      lines.push(profileRow(total, "layer " + l.toString(), f.layerNs[l], ""));
      listed += f.layerNs[l];
    }
    const heads = t.boundedHeads;
    lines.push(profileRow(total, "output head", f.outputNs, heads == 0 ? "" :
      "bounded: " + heads.toString() + " of " + (t.decodeTokens + 1).toString() + " heads, " +
      fixed(<f64>t.exactHeadRows / <f64>heads, 1) + " exact rows per head"));
    lines.push(profileRow(total, "sampling", t.samplingNs, ""));
    if (e.grammarActive) {
      lines.push(profileRow(total, "grammar", t.grammarNs, t.grammarRefusals.toString() + " of " + t.generatedTokens.toString() +
        " choices refused (each refusal checks every token)"));
    }
    lines.push(profileRow(total, "detokenization", t.detokenizeNs, ""));
    lines.push(profileRow(total, "other", total > listed ? total - listed : 0, ""));
    const jobs = jobStats.jobs - t.jobsAtStart;
    if (jobs > 0) lines.push(profileRow(total, "core 0 waiting", jobStats.waitNs - t.jobWaitNsAtStart,
      jobs.toString() + " jobs on " + (jobWidth() < threads() ? jobWidth().toString() + " (lately) of " : "") + threads().toString() +
      " cores; time the boot core waited for the others (in the above)"));
    lines.push(profileRow(total, "prefill", t.prefillNs, rate(t.promptTokens, t.prefillNs) + " tok/s (" + t.promptTokens.toString() + " tokens)"));
    const decoded = t.decodeTokens; // the first token comes from the prefill's logits
    lines.push(profileRow(total, "generation", t.decodeNs, rate(decoded, t.decodeNs) + " tok/s (" + decoded.toString() + " forward passes)"));
    lines.push("  (embedding, layers and output head add up over prefill and generation; generation excludes sampling and detokenization)");
    return lines;
  }

  recover(): void {
    // a trap inside a load: its image is not the model's; a trap inside a generation: the
    // cache may hold a half-written step. Either way, start clean.
    if (this.loading != 0 && this.loading != this.image) freeRegion(this.loading);
    this.loading = 0;
    this.chat = null;
    if (this.isLoaded()) this.engine.reset();
  }
}
