// The LLM engine: the public API used by the host tool (through llm/host.ts) and by the
// kernel's shell. It needs nothing but memory and the platform clock.
//
//   const e = new Engine();
//   const err = e.load(ptr, size, 0);          // GGUF image already in memory; 0 = model's context
//   e.begin(promptPtr, promptLen, settings);   // tokenize + batch prefill ("" or an error)
//   while (true) {
//     const t = e.next();                      // a token id >= 0, or an END_* reason < 0
//     if (t < 0) break;
//     emit(e.piecePtr, e.pieceLen);            // the bytes this token completes (UTF-8 safe)
//     if (ctrlC()) break;                      // callers poll between tokens
//   }
//   e.unload();                                // KV cache and scratch go back to the allocator
//
// Conversations keep their history in the KV cache: append() continues after what the cache
// holds instead of starting over (a token sampled but not yet fed, e.g. the last one of a
// reply cut at max tokens, goes in first), keepGenerated(n) takes back generated tokens (a
// stop sequence), reset() forgets everything. beginTokens() starts from token ids (benchmarks).
//
// The file image stays the caller's: the engine reads weights in place and never frees it. A
// successful load rewrites some matrices in it into the products' layout (Model.toProductLayout),
// so an image is loaded once: a second model needs the file read again.

import { STOP_END_OF_TEXT, STOP_MAX_TOKENS, STOP_CONTEXT_FULL, STOP_NOT_STARTED, STOP_GRAMMAR } from "./stop";
import { jobStats } from "../kernel/parallel";
import { fusedMaddProbe } from "./math/fma";
import { time_ns } from "../kernel/platform";
import { parseGGUF, GGUFFile } from "./gguf";
import { typeName } from "./tensor_types";
import { Model, bindModel } from "./model";
import { KVCache } from "./kv_cache";
import { Scratch } from "./scratch";
import { ForwardTimings, forward, headRows, headAll, HEAD_NONE, HEAD_EXACT, HEAD_BOUNDED } from "./forward";
import { Sampler, SamplerSettings, ExactLogits } from "./sampler";
import { Tokenizer } from "./tokenizer/tokenizer";
import { U8List } from "./tokenizer/buffers";
import { StreamDecoder } from "./tokenizer/stream_decoder";
import { InferSettings, MAX_TOKENS_UNLIMITED } from "./settings";
import { parseGrammar } from "./grammar/gbnf";
import { GrammarMatcher } from "./grammar/matcher";
import { GrammarVocab } from "./grammar/vocab";

/** Reasons next() stops, as negative return values: the stop codes of llm/stop.ts, negated. */
export const END_EOS: i32 = -STOP_END_OF_TEXT;
export const END_MAX_TOKENS: i32 = -STOP_MAX_TOKENS;
export const END_CONTEXT_FULL: i32 = -STOP_CONTEXT_FULL;
export const END_NOT_STARTED: i32 = -STOP_NOT_STARTED;
export const END_GRAMMAR: i32 = -STOP_GRAMMAR;

/** The stop code of a negative next() result. */
export function stopOf(end: i32): i32 { return -end; }

/** Prompt tokens per forward pass during prefill (bounds the scratch memory). */
export const PREFILL_BATCH: i32 = 128;

/** Tokens per llama.cpp batch under node-llama-cpp's defaults (batch = ubatch = min(context,
 *  512)): the batch a token is evaluated in decides which of llama.cpp's kernels, and so which
 *  rounding, it gets, so prefill follows the same split. */
export const LLAMA_BATCH: i32 = 512;

export class ModelInfo {
  name: string = "";
  arch: string = "";
  /** The family's name for people (llm/arch), e.g. "Qwen2". */
  family: string = "";
  layers: i32 = 0;
  dim: i32 = 0;
  heads: i32 = 0;
  kvHeads: i32 = 0;
  headDim: i32 = 0;
  ffDim: i32 = 0;
  vocab: i32 = 0;
  contextTrain: i32 = 0;
  context: i32 = 0;
  ropeBase: f32 = 0;
  normEps: f32 = 0;
  tiedOutput: bool = false;
  tokenizer: string = "";
  bos: i32 = -1;
  eos: i32 = -1;
  /** e.g. "Q4_0, output Q8_0" (the layer matrices' type, and the head's when it differs);
   *  types: every tensor type and its count, e.g. "F32 x13, Q8_0 x1, Q4_0 x42". */
  quantization: string = "";
  types: string = "";
  params: u64 = 0;
  fileBytes: u64 = 0;
  weightBytes: u64 = 0;
  kvBytes: u64 = 0;
  scratchBytes: u64 = 0;
}

/** Nanoseconds per stage for the last begin()/next() run, and token counts. */
export class Timings {
  tokenizeNs: u64 = 0;
  prefillNs: u64 = 0;
  decodeNs: u64 = 0;     // forward passes of generated tokens
  samplingNs: u64 = 0;
  /** The grammar's part of sampling: which tokens it allows, and taking the chosen one. */
  grammarNs: u64 = 0;
  /** Tokens the sampler chose that the grammar refused (each then costs a pass over the vocabulary). */
  grammarRefusals: i32 = 0;
  detokenizeNs: u64 = 0;
  promptTokens: i32 = 0;
  generatedTokens: i32 = 0;
  /** Forward passes of single generated tokens (decodeNs covers them). */
  decodeTokens: i32 = 0;
  /** Output heads computed as approximations within a bound (HEAD_BOUNDED), and the rows the
   *  sampler then needed exact, over all of them. */
  boundedHeads: i32 = 0;
  exactHeadRows: u64 = 0;
  /** Embedding lookups, each layer and the output head, over prefill and decode together. */
  forward: ForwardTimings;
  /** kernel/parallel.ts's jobStats when the run began. */
  jobsAtStart: u64 = 0;
  jobWaitNsAtStart: u64 = 0;
  constructor(nLayer: i32) { this.forward = new ForwardTimings(nLayer); }
}

export class Engine {
  file: GGUFFile | null = null;
  model: Model | null = null;
  tokenizer: Tokenizer | null = null;
  kv: KVCache | null = null;
  scratch: Scratch | null = null;
  sampler: Sampler | null = null;
  timings: Timings = new Timings(0);
  nCtx: i32 = 0;
  /**
   * How a step computes the output head (llm/forward.ts HEAD_*), the same tokens either
   * way. HEAD_BOUNDED (approximations, then exact values of the rows the sampler can still
   * choose) pays where vector float work is dear: in the kernel under emulation each such op
   * is a library call per lane, and the head takes half the time. V8 runs the exact head
   * about as fast as the approximate one, and the extra pass over the logits makes
   * HEAD_BOUNDED about 4% slower there: host builds default to HEAD_EXACT.
   */
  headMode: i32 = SIS_AOT ? HEAD_BOUNDED : HEAD_EXACT;
  fileBytes: u64 = 0;

  // generation state
  private running: bool = false;
  private ended: i32 = END_NOT_STARTED;
  /** Why the last append() was refused for room: true when the text did not fit after the
   *  history (a conversation starts again then), false for any other outcome. */
  historyFull: bool = false;
  private maxTokens: i32 = 0;
  private pending: i32 = -1;      // the last sampled token, not yet in the cache (-1: none)
  private ignoreEos: bool = false;
  private runStart: i32 = 0;      // cache positions filled before this run's tokens
  private tokenBuf: StaticArray<i32> = new StaticArray<i32>(1);
  private head: ExactHead = new ExactHead();
  /** The prompt's tokens and the generated ones of the current run. */
  tokens: Int32Array = new Int32Array(0);
  generated: Array<i32> = new Array<i32>();
  /** Output bytes of the last token (complete UTF-8 characters only). */
  private out: U8List = new U8List(64);
  private decoder: StreamDecoder | null = null;
  // the run's grammar (null: none), the vocabulary as it sees it (per model, made on first
  // use), and its verdict per token when the sampler's first choice was refused
  private matcher: GrammarMatcher | null = null;
  private grammarVocab: GrammarVocab | null = null;
  private allowed: Uint8Array = new Uint8Array(0);

  get loaded(): bool { return this.model !== null; }
  /** Whether the last run followed a grammar. */
  get grammarActive(): bool { return this.matcher !== null; }
  get piecePtr(): usize { return this.out.ptr; }
  get pieceLen(): i32 { return this.out.length; }
  /** Exact logits of the last forward pass (f32[vocab]), valid after begin() and next(). The
   *  sampler usually needs only a few rows exact (Sampler.sampleBounded); the first request
   *  after a step computes the rest. */
  get logits(): usize {
    if (this.scratch === null) return 0;
    const s = this.scratch!;
    if (s.logitsApproximate) {
      const t0 = time_ns();
      headAll(this.model!, s);
      this.timings.forward.outputNs += time_ns() - t0;
    }
    return s.logits;
  }

  /**
   * Binds the GGUF image at [ptr, ptr+size) and allocates the KV cache and scratch for a
   * context of nCtx tokens (0: the model's context_length). Returns "" or an error.
   */
  load(ptr: usize, size: u64, nCtx: i32): string {
    if (this.loaded) this.unload();
    // Every kernel's rounding relies on it (llm/math/fma.ts); a platform that fell short would
    // give text that differs from llama.cpp's without any other sign.
    if (!fusedMaddProbe()) return "this platform's f32x4.relaxed_madd is not a fused multiply-add: results would differ from llama.cpp's";
    const pr = parseGGUF(ptr, size);
    if (!pr.ok) return pr.error;
    const f = pr.file!;
    const mr = bindModel(f);
    if (mr.model === null) return "model: " + mr.error;
    const m = mr.model!;
    const c = m.config;
    const tr = Tokenizer.fromGGUF(f);
    if (tr.tokenizer === null) return tr.error;
    const tok = tr.tokenizer!; // bindModel checked that it has one token per embedding row
    if (nCtx < 0) return "context size " + nCtx.toString() + " is negative";
    if (nCtx > c.nCtxTrain) {
      return "context size " + nCtx.toString() + " exceeds the model's context_length " + c.nCtxTrain.toString();
    }
    const ctx = nCtx == 0 ? c.nCtxTrain : nCtx;

    const kv = new KVCache(c.nLayer, ctx, c.nHeadKv, c.headDim);
    if (!kv.allocate()) return "out of memory: the KV cache for " + ctx.toString() + " tokens needs " + mib(kv.bytes);
    const s = new Scratch(m, PREFILL_BATCH, ctx);
    if (!s.allocate()) {
      kv.free();
      return "out of memory: scratch buffers need " + mib(s.bytes);
    }
    // last, once nothing can fail: from here the image holds the products' layout, not the file's
    m.toProductLayout();
    this.file = f;
    this.model = m;
    this.tokenizer = tok;
    this.kv = kv;
    this.scratch = s;
    this.sampler = new Sampler(c.nVocab);
    this.grammarVocab = null;
    this.matcher = null;
    this.timings = new Timings(c.nLayer);
    this.nCtx = ctx;
    this.fileBytes = size;
    this.running = false;
    this.ended = END_NOT_STARTED;
    return "";
  }

  /** Frees the KV cache and scratch; the file image is the caller's to free. */
  unload(): void {
    if (this.kv !== null) this.kv!.free();
    if (this.scratch !== null) this.scratch!.free();
    this.kv = null;
    this.scratch = null;
    this.sampler = null;
    this.grammarVocab = null;
    this.matcher = null;
    this.model = null;
    this.tokenizer = null;
    this.file = null;
    this.running = false;
    this.ended = END_NOT_STARTED;
    this.tokens = new Int32Array(0);
    this.generated = new Array<i32>();
    this.pending = -1;
    this.runStart = 0;
  }

  /**
   * Reallocates the KV cache and scratch for a context of nCtx tokens (0: the model's
   * context_length); the cache starts empty. On failure the previous context is kept when
   * it can be and the error says what was needed.
   */
  setContext(nCtx: i32): string {
    if (this.model === null) return "no model is loaded";
    const m = this.model!, c = m.config;
    if (nCtx < 0) return "context size " + nCtx.toString() + " is negative";
    if (nCtx > c.nCtxTrain) {
      return "context size " + nCtx.toString() + " exceeds the model's context_length " + c.nCtxTrain.toString();
    }
    const ctx = nCtx == 0 ? c.nCtxTrain : nCtx;
    const old = this.nCtx;
    this.kv!.free();
    this.scratch!.free();
    let err = "";
    const kv = new KVCache(c.nLayer, ctx, c.nHeadKv, c.headDim);
    const s = new Scratch(m, PREFILL_BATCH, ctx);
    if (!kv.allocate()) err = "out of memory: the KV cache for " + ctx.toString() + " tokens needs " + mib(kv.bytes);
    else if (!s.allocate()) { kv.free(); err = "out of memory: scratch buffers need " + mib(s.bytes); }
    if (err.length == 0) {
      this.kv = kv; this.scratch = s; this.nCtx = ctx;
    } else {
      // put the old context back (its memory was just freed, so it fits again)
      const kv0 = new KVCache(c.nLayer, old, c.nHeadKv, c.headDim);
      const s0 = new Scratch(m, PREFILL_BATCH, old);
      if (kv0.allocate() && s0.allocate()) { this.kv = kv0; this.scratch = s0; }
      else { this.unload(); return err + "; the model was unloaded"; }
    }
    this.reset();
    return err;
  }

  /** Forgets the cache's contents (a new conversation starts at position 0). */
  reset(): void {
    if (this.kv !== null) this.kv!.reset();
    this.running = false;
    this.ended = END_NOT_STARTED;
    this.pending = -1;
    this.runStart = 0;
    this.tokens = new Int32Array(0);
    this.generated = new Array<i32>();
    this.out.clear();
  }

  /** Positions of the context in use (the prompt and generated tokens fed so far). */
  get contextUsed(): i32 { return this.kv === null ? 0 : this.kv!.used; }

  info(): ModelInfo | null {
    if (this.model === null) return null;
    const m = this.model!, c = m.config, f = this.file!;
    const r = new ModelInfo();
    r.name = c.name; r.arch = c.arch; r.family = c.family.title; r.layers = c.nLayer; r.dim = c.nEmbd; r.heads = c.nHead;
    r.kvHeads = c.nHeadKv; r.headDim = c.headDim; r.ffDim = c.nFF; r.vocab = c.nVocab;
    r.contextTrain = c.nCtxTrain; r.context = this.nCtx; r.ropeBase = c.ropeBase; r.normEps = c.normEps;
    r.tiedOutput = m.tiedOutput;
    const tok = this.tokenizer!;
    r.tokenizer = tok.model; r.bos = tok.bos; r.eos = tok.eos;
    // parameters, bytes, and how many tensors of each type
    const typeIds = new Array<u32>(), counts = new Array<i32>();
    for (let i = 0; i < f.tensors.length; i++) {
      const t = f.tensors[i];
      r.params += t.nelements;
      r.weightBytes += t.nbytes;
      let j = typeIds.indexOf(t.type);
      if (j < 0) { j = typeIds.length; typeIds.push(t.type); counts.push(0); }
      counts[j]++;
    }
    for (let j = 0; j < typeIds.length; j++) {
      r.types += (j > 0 ? ", " : "") + typeName(typeIds[j]) + " x" + counts[j].toString();
    }
    // the file is named after the type most layer matrices have, and the head when it differs
    const mats = m.matrices();
    const mt = new Array<u32>(), mc = new Array<i32>();
    for (let i = 0; i < mats.length - 1; i++) { // the last one is the output head
      let j = mt.indexOf(mats[i].type);
      if (j < 0) { j = mt.length; mt.push(mats[i].type); mc.push(0); }
      mc[j]++;
    }
    let main = 0;
    for (let j = 1; j < mt.length; j++) if (mc[j] > mc[main]) main = j;
    r.quantization = (mt.length > 1 ? "mostly " : "") + typeName(mt[main]);
    if (m.output.type != mt[main]) r.quantization += ", output " + typeName(m.output.type);
    r.fileBytes = this.fileBytes;
    r.kvBytes = this.kv!.bytes;
    r.scratchBytes = this.scratch!.bytes;
    return r;
  }

  /** Token ids of UTF-8 text [p, p+n) (with BOS when the model wants it and addSpecial). */
  tokenize(p: usize, n: i32, addSpecial: bool): Int32Array {
    if (this.tokenizer === null) return new Int32Array(0);
    return this.tokenizer!.encodeBytes(p, n, addSpecial, false);
  }

  /**
   * Starts a generation: resets the cache, tokenizes the prompt (UTF-8 [p, p+n)) and runs it
   * through the model in batches. Returns "" or an error; next() then yields tokens.
   */
  begin(p: usize, n: i32, st: InferSettings): string {
    return this.startText(p, n, st, false, true, false);
  }

  /**
   * Continues after what the cache holds (a conversation): tokenizes UTF-8 [p, p+n) with
   * addSpecial (BOS; for the first text of a conversation) and parseSpecial (control tokens
   * written as text, e.g. "<|im_end|>"), feeds first the token the last run sampled but did
   * not feed (if any), then the text, and starts generating. "" or an error (the cache is
   * then unchanged).
   */
  append(p: usize, n: i32, st: InferSettings, addSpecial: bool, parseSpecial: bool): string {
    this.historyFull = false;
    return this.startText(p, n, st, true, addSpecial, parseSpecial);
  }

  /** Starts a generation from token ids (resets the cache), e.g. a benchmark's prompt of exactly N tokens. */
  beginTokens(toks: Int32Array, st: InferSettings): string {
    this.stopRun();
    if (this.model === null) return "no model is loaded";
    this.resetTimings();
    const nv = this.model!.config.nVocab;
    for (let i = 0; i < toks.length; i++) {
      if (toks[i] < 0 || toks[i] >= nv) return "token id " + toks[i].toString() + " is outside the vocabulary (" + nv.toString() + ")";
    }
    return this.run(toks, st, false);
  }

  private stopRun(): void {
    this.running = false;
    this.ended = END_NOT_STARTED;
    this.out.clear();
  }

  private resetTimings(): void {
    const tm = this.timings;
    tm.tokenizeNs = 0; tm.prefillNs = 0; tm.decodeNs = 0; tm.samplingNs = 0; tm.detokenizeNs = 0;
    tm.grammarNs = 0; tm.grammarRefusals = 0;
    tm.promptTokens = 0;
    tm.generatedTokens = 0;
    tm.decodeTokens = 0;
    tm.boundedHeads = 0;
    tm.exactHeadRows = 0;
    tm.forward.reset();
    tm.jobsAtStart = jobStats.jobs;
    tm.jobWaitNsAtStart = jobStats.waitNs;
  }

  private startText(p: usize, n: i32, st: InferSettings, keep: bool, addSpecial: bool, parseSpecial: bool): string {
    this.stopRun();
    if (this.model === null) return "no model is loaded";
    if (n <= 0 && !(keep && this.pending >= 0)) return "empty prompt: give the model some text to continue";
    this.resetTimings();
    const t0 = time_ns();
    const toks = n > 0 ? this.tokenizer!.encodeBytes(p, n, addSpecial, parseSpecial) : new Int32Array(0);
    this.timings.tokenizeNs = time_ns() - t0;
    return this.run(toks, st, keep);
  }

  // Feeds toks (after the cache's contents when keep) and prepares next().
  private run(toks: Int32Array, st: InferSettings, keep: bool): string {
    const m = this.model!, kv = this.kv!, s = this.scratch!, tm = this.timings;
    if (keep && this.pending >= 0) {
      // the token sampled last time but never fed goes in first
      const all = new Int32Array(toks.length + 1);
      all[0] = this.pending;
      for (let i = 0; i < toks.length; i++) all[i + 1] = toks[i];
      toks = all;
    }
    tm.promptTokens = toks.length;
    if (toks.length == 0) return "empty prompt: it produced no tokens";
    const start = keep ? kv.used : 0;
    if (<i64>start + <i64>toks.length > <i64>this.nCtx) {
      if (!keep || start == 0) {
        return "prompt is " + toks.length.toString() + " tokens, longer than the context of " + this.nCtx.toString() + " tokens";
      }
      this.historyFull = true;
      return "context full: " + start.toString() + " tokens in use + " + toks.length.toString() + " new ones exceed the context of " +
        this.nCtx.toString() + " tokens";
    }
    const grammarError = this.startGrammar(st.grammar);
    if (grammarError.length != 0) return grammarError;
    const t1 = time_ns();

    // sampler: settings, seed, and the new tokens as history for the repetition penalty
    const ss = new SamplerSettings();
    ss.temperature = st.temperature; ss.topK = st.topK; ss.topP = st.topP; ss.minP = st.minP;
    ss.repeatPenalty = st.repeatPenalty; ss.repeatLastN = st.repeatLastN;
    ss.seed = st.seedSet ? st.seed : time_ns();
    const smp = this.sampler!;
    smp.reset(ss);
    for (let i = 0; i < toks.length; i++) smp.accept(toks[i]);

    // prefill in batches of up to PREFILL_BATCH tokens
    if (!keep) kv.reset();
    this.runStart = kv.used;
    this.pending = -1;
    this.tokens = toks;
    // llama.cpp's batches (node-llama-cpp: min(context, 512) tokens), each in pieces of up to
    // nBatch: the size of the batch a piece belongs to picks llama.cpp's kernels (forward)
    const llamaBatch = min(this.nCtx, LLAMA_BATCH);
    for (let b = 0; b < toks.length; b += llamaBatch) {
      const bn = min(llamaBatch, toks.length - b);
      for (let i = b; i < b + bn; i += s.nBatch) {
        const pn = min(s.nBatch, b + bn - i), lastPiece = i + pn == toks.length;
        forward(m, kv, s, toks.dataStart + (<usize>i << 2), pn, tm.forward, lastPiece ? this.headMode : HEAD_NONE, bn);
      }
    }
    tm.prefillNs = time_ns() - t1;

    this.generated = new Array<i32>();
    this.decoder = new StreamDecoder(this.tokenizer!, false, false); // a continuation keeps its leading space
    this.maxTokens = st.maxTokens;
    this.ignoreEos = st.ignoreEos;
    this.running = true;
    return "";
  }

  /** Parses the run's grammar (empty for none): "" or why it cannot be used. */
  private startGrammar(text: Uint8Array): string {
    this.matcher = null;
    if (text.length == 0) return "";
    const t0 = time_ns();
    const r = parseGrammar(text, "root", this.tokenizer);
    if (r.grammar === null) return "grammar: " + r.error;
    if (this.grammarVocab === null) this.grammarVocab = new GrammarVocab(this.tokenizer!);
    if (this.allowed.length != this.grammarVocab!.size) this.allowed = new Uint8Array(this.grammarVocab!.size);
    this.matcher = new GrammarMatcher(r.grammar!);
    this.timings.grammarNs += time_ns() - t0;
    if (this.matcher!.error.length != 0) { const e = this.matcher!.error; this.matcher = null; return "grammar: " + e; }
    return "";
  }

  /**
   * Keeps only the first n tokens generated in the last run in the context: the later ones,
   * fed or not, are taken back (a stop sequence that must not stay in a conversation).
   * Ends the run.
   */
  keepGenerated(n: i32): void {
    if (this.kv === null) return;
    if (n < 0) n = 0;
    if (n >= this.generated.length) return;
    this.kv!.used = this.runStart + this.tokens.length + n; // every kept token was fed
    this.generated.length = n;
    this.timings.generatedTokens = n;
    this.pending = -1;
    if (this.running) { this.running = false; this.ended = END_MAX_TOKENS; }
  }

  /** The next token id (>= 0; its bytes at piecePtr/pieceLen), or why generation ended (< 0). */
  next(): i32 {
    this.out.clear();
    if (!this.running) return this.ended;
    const tm = this.timings;
    if (this.maxTokens != MAX_TOKENS_UNLIMITED && this.generated.length >= this.maxTokens) return this.finish(END_MAX_TOKENS);
    const decoding = this.pending >= 0;
    if (decoding) {
      // the previous token goes into the cache; its logits give the next one
      const kv = this.kv!;
      if (kv.used >= this.nCtx) return this.finish(END_CONTEXT_FULL);
      const t0 = time_ns();
      unchecked(this.tokenBuf[0] = this.pending);
      forward(this.model!, kv, this.scratch!, changetype<usize>(this.tokenBuf), 1, tm.forward, this.headMode);
      this.pending = -1;
      tm.decodeNs += time_ns() - t0;
      tm.decodeTokens++;
    }
    let t0 = time_ns();
    const smp = this.sampler!, s = this.scratch!, head = this.head;
    head.bind(this.model!, s);
    let tok = smp.sampleBounded(s.logits, s.logitsError, head);
    let grammarNs: u64 = 0;
    if (this.matcher !== null) {
      // llama.cpp's order: the chain's choice is checked first; only when the grammar refuses
      // it is every token checked and the chain run again over the allowed ones
      const g = this.matcher!, gv = this.grammarVocab!;
      let tg = time_ns();
      if (!g.allows(gv, tok)) {
        tm.grammarRefusals++;
        const n = g.allowedTokens(gv, this.allowed);
        grammarNs += time_ns() - tg;
        tm.grammarNs += grammarNs;
        if (n == 0) return this.finish(END_GRAMMAR);
        tok = smp.sampleBounded(s.logits, s.logitsError, head, this.allowed, n);
        tg = time_ns();
      }
      if (!gv.isEog(tok)) g.acceptToken(tok, gv.piecePtr(tok), gv.pieceLen(tok), false);
      const ng = time_ns() - tg;
      grammarNs += ng;
      tm.grammarNs += ng;
    }
    smp.accept(tok);
    let t1 = time_ns();
    // the head's rows computed for the sampler belong to the forward pass they complete
    tm.samplingNs += t1 - t0 - head.ns - grammarNs;
    tm.forward.outputNs += head.ns;
    if (head.bounded) { tm.boundedHeads++; tm.exactHeadRows += head.rowCount; }
    if (decoding) tm.decodeNs += head.ns; else tm.prefillNs += head.ns;
    if (!this.ignoreEos && this.tokenizer!.isEog(tok)) return this.finish(END_EOS);

    this.generated.push(tok);
    tm.generatedTokens = this.generated.length;
    this.pending = tok;
    this.decoder!.pushInto(tok, this.out);
    tm.detokenizeNs += time_ns() - t1;
    return tok;
  }

  private finish(reason: i32): i32 {
    this.running = false;
    this.ended = reason;
    if (this.decoder !== null) this.decoder!.flushInto(this.out); // an unfinished character at the very end goes out as it is
    return reason;
  }

  /** Why the last run ended (END_NOT_STARTED while it is still running). */
  get endReason(): i32 { return this.running ? END_NOT_STARTED : this.ended; }

  /** Why the grammar could not be followed further ("" if it could, or there is none): a step
   *  that went past the matcher's work limits (grammar/stacks.ts) allows no token after it, and
   *  the run ends as END_GRAMMAR. */
  get grammarFailure(): string { return this.matcher === null ? "" : this.matcher!.error; }
}

/** The output head's rows the sampler asks for, exact, and the time they took. */
class ExactHead extends ExactLogits {
  private model: Model | null = null;
  private scratch: Scratch | null = null;
  ns: u64 = 0;
  /** Whether the logits were approximations, and how many rows were asked for. */
  bounded: bool = false;
  rowCount: u64 = 0;

  bind(m: Model, s: Scratch): void {
    this.model = m; this.scratch = s; this.ns = 0;
    this.bounded = s.logitsApproximate;
    this.rowCount = 0;
  }

  rows(ids: usize, n: i32): void {
    const t0 = time_ns();
    headRows(this.model!, this.scratch!, ids, n);
    this.rowCount += <u64>n;
    this.ns += time_ns() - t0;
  }

  all(): void {
    const t0 = time_ns();
    headAll(this.model!, this.scratch!);
    this.rowCount += <u64>this.model!.config.nVocab;
    this.ns += time_ns() - t0;
  }
}

function mib(b: u64): string {
  return ((b + 524288) >> 20).toString() + " MiB";
}
