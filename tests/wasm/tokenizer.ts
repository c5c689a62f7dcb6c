// Test entry for llm/tokenizer: load a GGUF, build its tokenizer, encode and decode bytes
// passed through linear memory.
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { parseGGUF } from "../../llm/gguf";
import { Tokenizer } from "../../llm/tokenizer/tokenizer";
import { StreamDecoder } from "../../llm/tokenizer/stream_decoder";
import { U8List } from "../../llm/tokenizer/buffers";
import { time_ns } from "../../kernel/platform";

export { allocRegion, freeRegion };

let tok: Tokenizer | null = null;
let error = "";
let ids = new Int32Array(0);
let bytes = new Uint8Array(0);

/** Builds the tokenizer of the GGUF image at [base, base+size); false with lastError() on failure. */
export function load(base: usize, size: u64): bool {
  tok = null;
  const r = parseGGUF(base, size);
  if (!r.ok) { error = r.error; return false; }
  const t = Tokenizer.fromGGUF(r.file!);
  error = t.error;
  tok = t.tokenizer;
  return tok !== null;
}
export function lastError(): string { return error; }
export function info(): string {
  const t = tok!;
  return "{\"model\":\"" + t.model + "\",\"n\":" + t.nVocab.toString() + ",\"bos\":" + t.bos.toString() + ",\"eos\":" + t.eos.toString() +
    ",\"unk\":" + t.unk.toString() + ",\"pad\":" + t.pad.toString() + ",\"addBos\":" + (t.addBos ? "true" : "false") +
    ",\"addEos\":" + (t.addEos ? "true" : "false") + ",\"addSpacePrefix\":" + (t.addSpacePrefix ? "true" : "false") +
    ",\"specials\":" + t.specialTokens().length.toString() + "}";
}

/** Encodes [p, p+n); returns the token count; ids at idsPtr(). */
export function encode(p: usize, n: i32, addSpecial: bool, parseSpecial: bool): i32 {
  ids = tok!.encodeBytes(p, n, addSpecial, parseSpecial);
  return ids.length;
}
export function idsPtr(): usize { return ids.dataStart; }

/** Scratch for passing ids in: room for n ids. */
export function idsBuffer(n: i32): usize { ids = new Int32Array(n); return ids.dataStart; }

/** Detokenizes the n ids at idsPtr(); returns the byte count; bytes at bytesPtr(). */
export function detokenize(n: i32, removeSpecial: bool, unparseSpecial: bool): i32 {
  bytes = tok!.detokenize(ids.subarray(0, n), removeSpecial, unparseSpecial);
  return bytes.length;
}
export function decodeToken(id: i32, special: bool): i32 {
  bytes = tok!.decodeToken(id, special);
  return bytes.length;
}
export function bytesPtr(): usize { return bytes.dataStart; }

let chunkLengths = new Int32Array(0);

/**
 * Streams the n ids at idsPtr() through a StreamDecoder. Returns the byte count of all
 * chunks together (bytes at bytesPtr()); chunk i's length is at chunkLensPtr()[i], and
 * [n] is what flush() returned.
 */
export function stream(n: i32, special: bool, strip: bool): i32 {
  const d = new StreamDecoder(tok!, special, strip);
  const all = new U8List(64);
  chunkLengths = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const c = d.push(ids[i]);
    all.pushBytes(c.dataStart, c.length);
    chunkLengths[i] = c.length;
  }
  chunkLengths[n] = n % 2 == 0 ? d.flushInto(all) : pushFlush(d, all); // both ways of flushing

  bytes = all.toUint8Array();
  return bytes.length;
}
function pushFlush(d: StreamDecoder, all: U8List): i32 {
  const rest = d.flush();
  all.pushBytes(rest.dataStart, rest.length);
  return rest.length;
}
export function chunkLensPtr(): usize { return chunkLengths.dataStart; }

/** Encodes [p, p+n) `reps` times; returns nanoseconds taken. */
export function benchEncode(p: usize, n: i32, reps: i32): u64 {
  const t0 = time_ns();
  for (let i = 0; i < reps; i++) tok!.encodeBytes(p, n, false, false);
  return time_ns() - t0;
}
/** Builds the tokenizer `reps` times from the image; returns nanoseconds per build (parse + tokenizer). */
export function benchLoad(base: usize, size: u64, reps: i32): u64 {
  const t0 = time_ns();
  for (let i = 0; i < reps; i++) Tokenizer.fromGGUF(parseGGUF(base, size).file!);
  return (time_ns() - t0) / <u64>reps;
}
