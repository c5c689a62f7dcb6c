// The engine's WebAssembly interface for host programs (tools/sis-llm.mjs, tests): plain
// numbers in and out; strings come back as AssemblyScript strings (read with readAsString),
// byte buffers as pointer + length into linear memory. Every export has fixed parameters.

import { simulateCores as simulateCoresOn } from "../kernel/parallel";
import { allocRegion, freeRegion, regionBytesInUse, regionBytesPeak, linearMemoryBytes } from "../kernel/memory/regions";
import { Engine, stopOf } from "./engine";
import { stopName } from "./stop";
import { HEAD_BOUNDED, HEAD_EXACT } from "./forward";
import { InferSettings, SETTING_OK, applySetting } from "./settings";
import { jsonString } from "./gguf_dump";
import { jsonSchemaToGrammarUtf8 } from "./grammar/json_schema";

export { regionBytesInUse, regionBytesPeak, linearMemoryBytes };
export { quantize, writtenPtr, writtenSize, releaseWritten } from "./generate_gguf";
import { mkmodel as mkmodelOf } from "./generate_gguf";

const engine = new Engine();
let tokens = new Int32Array(0);

/** A zeroed buffer of `bytes` from the region allocator (0 when memory is exhausted). */
export function alloc(bytes: u64): usize { return allocRegion(bytes); }
export function free(ptr: usize): bool { return freeRegion(ptr); }

/** generate_gguf's mkmodel, the architecture name as UTF-8 bytes at [archPtr, +archLen). */
export function mkmodel(vocabPtr: usize, vocabSize: u64, archPtr: usize, archLen: i32, dim: i32, layers: i32, heads: i32,
  kvHeads: i32, headDim: i32, ff: i32, type: u32, ctx: i32, seed: u64, untied: bool, ropeBase: f32, normEps: f32, llama3Rope: bool): string {
  return mkmodelOf(vocabPtr, vocabSize, String.UTF8.decodeUnsafe(archPtr, <usize>archLen), dim, layers, heads, kvHeads,
    headDim, ff, type, ctx, seed, untied, ropeBase, normEps, llama3Rope);
}

/** Loads the GGUF image at [ptr, ptr+size); nCtx 0 = the model's context. "" or an error. */
export function load(ptr: usize, size: u64, nCtx: i32): string { return engine.load(ptr, size, nCtx); }
export function unload(): void { engine.unload(); }

/** The loaded model as one JSON object ("null" when none). */
export function infoJSON(): string {
  const i = engine.info();
  if (i === null) return "null";
  return "{" + kv("name", jsonString(i.name)) + "," + kv("arch", jsonString(i.arch)) + "," + kv("family", jsonString(i.family)) + "," +
    kv("layers", i.layers.toString()) + "," + kv("dim", i.dim.toString()) + "," + kv("heads", i.heads.toString()) + "," +
    kv("kvHeads", i.kvHeads.toString()) + "," + kv("headDim", i.headDim.toString()) + "," + kv("ffDim", i.ffDim.toString()) + "," +
    kv("vocab", i.vocab.toString()) + "," + kv("contextTrain", i.contextTrain.toString()) + "," +
    kv("context", i.context.toString()) + "," + kv("ropeBase", (<f64>i.ropeBase).toString()) + "," +
    kv("normEps", (<f64>i.normEps).toString()) + "," + kv("tiedOutput", i.tiedOutput ? "true" : "false") + "," +
    kv("tokenizer", jsonString(i.tokenizer)) + "," + kv("bos", i.bos.toString()) + "," + kv("eos", i.eos.toString()) + "," +
    kv("quantization", jsonString(i.quantization)) + "," + kv("types", jsonString(i.types)) + "," +
    kv("params", i.params.toString()) + "," + kv("fileBytes", i.fileBytes.toString()) + "," +
    kv("weightBytes", i.weightBytes.toString()) + "," + kv("kvBytes", i.kvBytes.toString()) + "," +
    kv("scratchBytes", i.scratchBytes.toString()) + "}";
}

function kv(k: string, v: string): string { return "\"" + k + "\":" + v; }

/** Tokenizes UTF-8 [p, p+n); returns the count, ids at tokensPtr(). */
export function tokenize(p: usize, n: i32, addSpecial: bool): i32 {
  tokens = engine.tokenize(p, n, addSpecial);
  return tokens.length;
}
export function tokensPtr(): usize { return tokens.dataStart; }

// The settings the next begin() uses: the defaults, changed one typed key and value at a
// time through the same checks as the kernel's llmctl (llm/settings.ts).
let settings = new InferSettings();
let settingError = "";

/** Back to the defaults. */
export function settingsReset(): void { settings = new InferSettings(); }

/** Sets the key at UTF-8 [kp, kp+kn) to the typed value at [vp, vp+vn); returns SETTING_OK or
 *  another SETTING_* code, with the message in settingMessage(). */
export function settingSet(kp: usize, kn: i32, vp: usize, vn: i32): i32 {
  const r = applySetting(settings, String.UTF8.decodeUnsafe(kp, <usize>kn), String.UTF8.decodeUnsafe(vp, <usize>vn));
  settingError = r.message;
  return r.code;
}
export function settingMessage(): string { return settingError; }

/** The GBNF grammar (UTF-8 [p, p+n); n 0: none) the next begin() constrains its output by. */
export function setGrammar(p: usize, n: i32): void {
  const b = new Uint8Array(n);
  memory.copy(b.dataStart, p, <usize>n);
  settings.grammar = b;
}

/** The grammar the next begin() follows ("" for none). */
export function currentGrammar(): string { return String.UTF8.decode(settings.grammar.buffer); }

/** Whether token t ends generation (an end-of-generation token of the loaded model). */
export function isEog(t: i32): bool { return engine.tokenizer !== null && engine.tokenizer!.isEog(t); }

/** The grammar llama.cpp's converter makes of the JSON schema at UTF-8 [p, p+n), for the next
 *  begin(): "" or why the schema cannot be converted. */
export function setJsonSchema(p: usize, n: i32): string {
  const r = jsonSchemaToGrammarUtf8(p, <usize>n);
  if (r.error.length != 0) return r.error;
  settings.grammar = r.grammarBytes;
  return "";
}

/** Starts a generation on the UTF-8 prompt [p, p+n) with the settings above. "" or an error. */
export function begin(p: usize, n: i32): string {
  return engine.begin(p, n, settings);
}

/** Next token id, or a negative end reason (see endReason()). Bytes at piecePtr()/pieceLen(). */
export function next(): i32 { return engine.next(); }
export function piecePtr(): usize { return engine.piecePtr; }
export function pieceLen(): i32 { return engine.pieceLen; }
export function endReason(code: i32): string { return stopName(stopOf(code)); }

/** Prompt token ids of the current run (count; ids at tokensPtr()). */
export function promptTokens(): i32 {
  tokens = engine.tokens;
  return tokens.length;
}

/** Splits every job of the engine as n cores would (n > 1; 0: as one), running the pieces on
 *  this one thread out of order (kernel/parallel.ts): results must not change. */
export function simulateCores(n: i32): void { simulateCoresOn(n); }

/** The output head's mode (Engine.headMode): bounded first (the kernel's default) or exact. */
export function setBoundedHead(on: bool): void { engine.headMode = on ? HEAD_BOUNDED : HEAD_EXACT; }
export function boundedHead(): bool { return engine.headMode == HEAD_BOUNDED; }

/** Logits of the last forward pass: f32[vocab] at this address. */
export function logitsPtr(): usize { return engine.logits; }

/** Timings of the current run in nanoseconds, as JSON. */
export function timingsJSON(): string {
  const t = engine.timings;
  let layers = "";
  for (let i = 0; i < t.forward.layerNs.length; i++) layers += (i > 0 ? "," : "") + t.forward.layerNs[i].toString();
  return "{" + kv("tokenizeNs", t.tokenizeNs.toString()) + "," + kv("prefillNs", t.prefillNs.toString()) + "," +
    kv("decodeNs", t.decodeNs.toString()) + "," + kv("samplingNs", t.samplingNs.toString()) + "," +
    kv("detokenizeNs", t.detokenizeNs.toString()) + "," + kv("embedNs", t.forward.embedNs.toString()) + "," +
    kv("layerNs", "[" + layers + "]") + "," + kv("outputNs", t.forward.outputNs.toString()) + "," +
    kv("promptTokens", t.promptTokens.toString()) + "," + kv("generatedTokens", t.generatedTokens.toString()) + "," +
    kv("boundedHeads", t.boundedHeads.toString()) + "," + kv("exactHeadRows", t.exactHeadRows.toString()) + "," +
    kv("grammarNs", t.grammarNs.toString()) + "," + kv("grammarRefusals", t.grammarRefusals.toString()) + "}";
}
