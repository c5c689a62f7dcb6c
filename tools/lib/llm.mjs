// Host-side wrapper around the engine's WebAssembly interface (llm/host.ts): compiles it
// with asbuild, instantiates it with wasmhost, and turns its pointer/length exports into
// JavaScript values. Used by tools/sis-llm.mjs, tools/bench.mjs and the tests.
import { openSync, readSync, writeSync, closeSync, fstatSync } from "node:fs";
import { instantiate, readAsString } from "./wasmhost.mjs";

/** Addresses cross as i32: above 2 GiB they come out negative. */
const addr = (v) => v >>> 0;

export const END = { EOS: -1, MAX_TOKENS: -2, CONTEXT_FULL: -3, NOT_STARTED: -6 };

/** ggml type ids by name, for --type options. */
export const TYPES = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 };

export function typeId(name) {
  const id = TYPES[String(name).toUpperCase()];
  if (id === undefined) throw new Error(`unknown type '${name}' (known: ${Object.keys(TYPES).join(", ")})`);
  return id;
}

/** The settings generate()/begin() take, by their names here and as llm/settings.ts keys (the
 *  engine holds their defaults and checks them: the same code as the kernel's llmctl). */
export const SETTING_KEYS = {
  maxTokens: "max-tokens", temperature: "temperature", topK: "top-k", topP: "top-p", minP: "min-p",
  repeatPenalty: "repeat-penalty", repeatLastN: "repeat-last-n", seed: "seed",
};
/** applySetting's codes (llm/settings.ts). */
export const SETTING = { OK: 0, UNKNOWN: 1, BAD_VALUE: 2 };

export class LLM {
  constructor(inst) {
    this.inst = inst;
    this.x = inst.exports;
    this.image = 0; // region holding the loaded file
  }

  /** Compiles llm/host.ts if its sources changed (cached by hash) and instantiates it. */
  static async create({ target = "release" } = {}) {
    return LLM.fromWasm(await LLM.compile({ target }));
  }

  /** Path of the compiled engine (the compiler is loaded only here). */
  static async compile({ target = "release" } = {}) {
    const { compile } = await import("./asbuild.mjs");
    return compile("llm/host.ts", { target });
  }

  /** Instantiates an already compiled engine. */
  static async fromWasm(path) {
    return new LLM(await instantiate(path, { onOutput: (s) => process.stderr.write(s) }));
  }

  get memory() { return this.inst.memory; }
  str(ptr) { return readAsString(this.inst.memory, ptr); }

  /** Copies bytes into a new region; returns its address. */
  put(bytes) {
    const p = addr(this.x.alloc(BigInt(Math.max(1, bytes.length))));
    if (!p) throw new Error(`out of WebAssembly memory for ${bytes.length} bytes`);
    new Uint8Array(this.memory.buffer, p, bytes.length).set(bytes);
    return p;
  }

  /** Reads a file straight into a new region (no second copy on the JS heap): { ptr, size }. */
  putFile(path) {
    const fd = openSync(path, "r");
    try {
      const size = fstatSync(fd).size;
      const p = addr(this.x.alloc(BigInt(Math.max(1, size))));
      if (!p) throw new Error(`out of WebAssembly memory for ${path} (${size} bytes)`);
      for (let done = 0; done < size;) {
        const n = readSync(fd, new Uint8Array(this.memory.buffer, p + done, Math.min(size - done, 1 << 26)), 0, Math.min(size - done, 1 << 26), done);
        if (n <= 0) throw new Error(`${path}: unexpected end of file`);
        done += n;
      }
      return { ptr: p, size };
    } finally { closeSync(fd); }
  }

  /** Puts a path (read from disk) or bytes into a new region: { ptr, size }. */
  putAny(file) {
    if (typeof file === "string") return this.putFile(file);
    return { ptr: this.put(file), size: file.length };
  }

  /** Runs fn(ptr, len) with `data` (string or bytes) in a temporary region. */
  withBytes(data, fn) {
    const b = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    const p = this.put(b);
    try { return fn(p, b.length); } finally { this.x.free(p); }
  }

  /** Loads a GGUF (path or bytes). Returns "" or the engine's error (the image is freed on error). */
  load(file, ctx = 0) {
    this.unload();
    const { ptr: p, size } = this.putAny(file);
    const err = this.str(this.x.load(p, BigInt(size), ctx));
    if (err) { this.x.free(p); return err; }
    this.image = p;
    return "";
  }

  unload() {
    this.x.unload();
    if (this.image) this.x.free(this.image);
    this.image = 0;
  }

  info() { return JSON.parse(this.str(this.x.infoJSON())); }

  tokenize(text, addSpecial = true) {
    const n = this.withBytes(text, (p, len) => this.x.tokenize(p, len, addSpecial ? 1 : 0));
    return Array.from(new Int32Array(this.memory.buffer, addr(this.x.tokensPtr()), n));
  }

  /** Sets one setting for the next begin() from its llm/settings.ts key and typed value:
   *  { code, message } (code SETTING.OK, or why not). */
  setting(key, value) {
    const k = Buffer.from(key, "utf8");
    const code = this.withBytes(k, (kp, kn) => this.withBytes(String(value), (vp, vn) => this.x.settingSet(kp, kn, vp, vn)));
    return { code, message: this.str(this.x.settingMessage()) };
  }

  /** The defaults, then each [key, typed value] pair (llm/settings.ts keys) in turn: null, or
   *  { index, code, message } for the first pair the engine refuses (the ones after it are not set). */
  applySettings(pairs) {
    this.x.settingsReset();
    for (let i = 0; i < pairs.length; i++) {
      const r = this.setting(pairs[i][0], pairs[i][1]);
      if (r.code !== SETTING.OK) return { index: i, ...r };
    }
    return null;
  }

  /** Starts a generation with the settings as applySettings left them; "" or an error. */
  start(prompt) {
    return this.withBytes(prompt, (p, n) => this.str(this.x.begin(p, n)));
  }

  /** The GBNF grammar the next start() constrains its output by ("" or null: none). */
  setGrammar(text) {
    this.withBytes(text ?? "", (p, n) => this.x.setGrammar(p, n));
  }

  /** The GBNF text the next start() follows ("" for none). */
  currentGrammarText() { return this.str(this.x.currentGrammar()); }

  /** Whether token t ends generation for the loaded model. */
  isEog(t) { return !!this.x.isEog(t); }

  /** The grammar of a JSON schema (text) for the next start(), as llama.cpp converts it: "" or the error. */
  setJsonSchema(schema) {
    return this.withBytes(schema, (p, n) => this.str(this.x.setJsonSchema(p, n)));
  }

  /** Starts a generation with the defaults changed by `settings` (names as SETTING_KEYS, and
   *  `grammar`: GBNF text, or `jsonSchema`: a JSON schema's text; seed undefined/null: from the
   *  clock); returns "" or an error. */
  begin(prompt, settings = {}) {
    const pairs = [];
    for (const [name, v] of Object.entries(settings)) {
      if (v === undefined || v === null || name === "grammar" || name === "jsonSchema") continue;
      if (!SETTING_KEYS[name]) return `unknown setting '${name}'`;
      pairs.push([SETTING_KEYS[name], String(v)]);
    }
    const bad = this.applySettings(pairs);
    if (bad) return bad.message;
    if (settings.grammar) this.setGrammar(settings.grammar);
    if (settings.jsonSchema) {
      const e = this.setJsonSchema(settings.jsonSchema);
      if (e) return `JSON schema: ${e}`;
    }
    return this.start(prompt);
  }

  /** { token, bytes } for the next token, or { end, bytes } when generation ended. */
  next() {
    const t = this.x.next();
    const bytes = Buffer.from(new Uint8Array(this.memory.buffer, addr(this.x.piecePtr()), this.x.pieceLen()));
    return t >= 0 ? { token: t, bytes } : { end: this.str(this.x.endReason(t)), code: t, bytes };
  }

  /** Splits the engine's work as n cores would, on this thread (0 or 1: not at all). */
  simulateCores(n) { this.x.simulateCores(n); }

  /** Logits of the last forward pass (a copy). */
  logits() {
    const n = this.info().vocab;
    const p = addr(this.x.logitsPtr());
    return new Float32Array(this.memory.buffer.slice(p, p + 4 * n));
  }

  promptTokens() {
    const n = this.x.promptTokens();
    return Array.from(new Int32Array(this.memory.buffer, addr(this.x.tokensPtr()), n));
  }

  timings() { return JSON.parse(this.str(this.x.timingsJSON())); }

  /** The output head computed bounded first (the kernel's default; same tokens) or exact. */
  set boundedHead(on) { this.x.setBoundedHead(on ? 1 : 0); }
  get boundedHead() { return !!this.x.boundedHead(); }

  /** Whole generation: { tokens, text, end, timings }; onPiece(bytes) streams. Throws on a begin() error. */
  generate(prompt, settings = {}, onPiece = null) {
    const err = this.begin(prompt, settings);
    if (err) throw new Error(err);
    const tokens = [], pieces = [];
    let end;
    for (;;) {
      const r = this.next();
      if (r.bytes.length) { pieces.push(r.bytes); if (onPiece) onPiece(r.bytes); }
      if (r.token === undefined) { end = r.end; break; }
      tokens.push(r.token);
    }
    return { tokens, text: Buffer.concat(pieces).toString("utf8"), end, timings: this.timings() };
  }

  memoryStats() {
    return { inUse: Number(this.x.regionBytesInUse()), peak: Number(this.x.regionBytesPeak()), linear: Number(this.x.linearMemoryBytes()) };
  }

  /** Takes the image the generator wrote (a copy) and frees it in WebAssembly memory. */
  takeWritten(toFile = null) {
    const p = addr(this.x.writtenPtr()), n = Number(this.x.writtenSize());
    if (toFile) { // straight from linear memory, in pieces: a file may exceed a Buffer's 2 GiB
      const fd = openSync(toFile, "w");
      try {
        for (let at = 0; at < n; at += 1 << 28) writeSync(fd, new Uint8Array(this.memory.buffer, p + at, Math.min(1 << 28, n - at)));
      } finally { closeSync(fd); }
      this.x.releaseWritten();
      return n;
    }
    const out = Buffer.from(new Uint8Array(this.memory.buffer, p, n));
    this.x.releaseWritten();
    return out;
  }

  /** A GGUF with seeded random weights (see llm/generate_gguf.ts). Returns the bytes, or with
   *  `toFile` writes them there and returns their count. */
  mkmodel({ vocab, arch = "llama", dim, layers, heads, kvHeads, headDim = 0, ff, type = "F32", ctx = 256, seed = 1, untied = false,
    ropeBase = 0, normEps = 0, llama3Rope = false, toFile = null }) {
    const { ptr: p, size } = this.putAny(vocab);
    try {
      const err = this.str(this.withBytes(arch, (ap, an) => this.x.mkmodel(p, BigInt(size), ap, an, dim, layers, heads,
        kvHeads ?? heads, headDim ?? 0, ff, typeId(type), ctx, BigInt(seed), untied ? 1 : 0, ropeBase, normEps, llama3Rope ? 1 : 0)));
      if (err) throw new Error(err);
    } finally { this.x.free(p); }
    return this.takeWritten(toFile);
  }

  /** A quantized copy of an F32/F16/BF16 GGUF (path or bytes). */
  quantize(file, type, { pure = false, outputType = null } = {}) {
    const { ptr: p, size } = this.putAny(file);
    try {
      const err = this.str(this.x.quantize(p, BigInt(size), typeId(type), pure ? 1 : 0, outputType ? typeId(outputType) : -1));
      if (err) throw new Error(err);
    } finally { this.x.free(p); }
    return this.takeWritten();
  }
}
