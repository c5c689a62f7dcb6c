// The vocabulary: every token's bytes, score and attributes, and the piece -> id map,
// read from tokenizer.ggml.tokens / .scores / .token_type. The pieces are copied out of the
// GGUF image into one blob, so a tokenizer outlives the file image it was built from.

import { GGUFFile, GGUF_TYPE_STRING, GGUF_TYPE_FLOAT32, GGUF_TYPE_INT32, ggufIsIntegerType } from "../gguf";
import { PieceMap } from "./piece_map";

// Token attributes (llama.cpp's llama_token_attr bits).
export const ATTR_UNDEFINED: u32 = 0;
export const ATTR_UNKNOWN: u32 = 1 << 0;
export const ATTR_UNUSED: u32 = 1 << 1;
export const ATTR_NORMAL: u32 = 1 << 2;
export const ATTR_CONTROL: u32 = 1 << 3;
export const ATTR_USER_DEFINED: u32 = 1 << 4;
export const ATTR_BYTE: u32 = 1 << 5;
export const ATTR_LSTRIP: u32 = 1 << 7;
export const ATTR_RSTRIP: u32 = 1 << 8;

// tokenizer.ggml.token_type values (SentencePiece's piece types).
export const TOKEN_TYPE_NORMAL: i32 = 1;
export const TOKEN_TYPE_UNKNOWN: i32 = 2;
export const TOKEN_TYPE_CONTROL: i32 = 3;
export const TOKEN_TYPE_USER_DEFINED: i32 = 4;
export const TOKEN_TYPE_UNUSED: i32 = 5;
export const TOKEN_TYPE_BYTE: i32 = 6;

function attrOfType(t: i64): u32 {
  switch (<i32>t) {
    case TOKEN_TYPE_NORMAL: return ATTR_NORMAL;
    case TOKEN_TYPE_UNKNOWN: return ATTR_UNKNOWN;
    case TOKEN_TYPE_CONTROL: return ATTR_CONTROL;
    case TOKEN_TYPE_USER_DEFINED: return ATTR_USER_DEFINED;
    case TOKEN_TYPE_UNUSED: return ATTR_UNUSED;
    case TOKEN_TYPE_BYTE: return ATTR_BYTE;
  }
  return ATTR_UNDEFINED;
}

export class Vocab {
  n: i32 = 0;
  /** All pieces back to back; piece i is text[offs[i] .. offs[i+1]). */
  text: Uint8Array = new Uint8Array(0);
  offs: Int32Array = new Int32Array(1);
  scores: Float32Array = new Float32Array(0);
  attrs: Uint16Array = new Uint16Array(0);
  map: PieceMap = new PieceMap(new Uint8Array(0), 0);

  @inline piecePtr(id: i32): usize { return this.text.dataStart + <usize>unchecked(this.offs[id]); }
  @inline pieceLen(id: i32): i32 { return unchecked(this.offs[id + 1]) - unchecked(this.offs[id]); }
  @inline attr(id: i32): u32 { return <u32>unchecked(this.attrs[id]); }
  @inline valid(id: i32): bool { return id >= 0 && id < this.n; }
  /** Token id of the bytes [p, p+n), or -1. */
  @inline find(p: usize, n: i32): i32 { return this.map.find(p, n); }
  /** Token id of a piece given as a string, or -1. */
  findString(s: string): i32 {
    const b = String.UTF8.encode(s);
    return this.map.find(changetype<usize>(b), b.byteLength);
  }
  pieceString(id: i32): string { return this.valid(id) ? String.UTF8.decodeUnsafe(this.piecePtr(id), <usize>this.pieceLen(id)) : ""; }
}

export class VocabResult {
  vocab: Vocab | null = null;
  error: string = "";
}

function fail(msg: string): VocabResult {
  const r = new VocabResult();
  r.error = msg;
  return r;
}

export function loadVocab(f: GGUFFile): VocabResult {
  const tokens = f.getArray("tokenizer.ggml.tokens");
  if (tokens === null) return fail("tokenizer.ggml.tokens is missing (not a model with a vocabulary?)");
  if (tokens.elemType != GGUF_TYPE_STRING) return fail("tokenizer.ggml.tokens is not an array of strings");
  const n = tokens.length;
  if (n == 0) return fail("tokenizer.ggml.tokens is empty");
  if (n > 0x4000000) return fail("tokenizer.ggml.tokens has " + n.toString() + " entries, too many");

  const scores = f.getArray("tokenizer.ggml.scores");
  if (f.has("tokenizer.ggml.scores")) {
    if (scores === null || (scores.elemType != GGUF_TYPE_FLOAT32 && scores.elemType != GGUF_TYPE_INT32)) {
      return fail("tokenizer.ggml.scores must be an array of f32 or i32");
    }
    if (scores.length < n) return fail("tokenizer.ggml.scores has " + scores.length.toString() + " entries for " + n.toString() + " tokens");
  }
  const types = f.getArray("tokenizer.ggml.token_type");
  if (f.has("tokenizer.ggml.token_type")) {
    if (types === null || !ggufIsIntegerType(types.elemType)) return fail("tokenizer.ggml.token_type must be an array of integers");
    if (types.length < n) return fail("tokenizer.ggml.token_type has " + types.length.toString() + " entries for " + n.toString() + " tokens");
  }

  const v = new Vocab();
  v.n = n;
  // Empty pieces are renamed "[EMPTY_<id>]" as llama.cpp does, so every token has text.
  let total: i64 = 0;
  for (let i = 0; i < n; i++) {
    const len = tokens.stringLenAt(i);
    total += len > 0 ? <i64>len : 16;
  }
  if (total > 0x40000000) return fail("tokenizer.ggml.tokens holds " + total.toString() + " bytes of text, too much");
  const text = new Uint8Array(<i32>total);
  const offs = new Int32Array(n + 1);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    unchecked(offs[i] = pos);
    const len = <i32>tokens.stringLenAt(i);
    if (len > 0) {
      memory.copy(text.dataStart + <usize>pos, tokens.stringPtrAt(i), <usize>len);
      pos += len;
    } else {
      const name = String.UTF8.encode("[EMPTY_" + i.toString() + "]");
      memory.copy(text.dataStart + <usize>pos, changetype<usize>(name), <usize>name.byteLength);
      pos += name.byteLength;
    }
  }
  unchecked(offs[n] = pos);
  v.text = text;
  v.offs = offs;

  v.scores = new Float32Array(n);
  if (scores !== null) for (let i = 0; i < n; i++) unchecked(v.scores[i] = scores.f32At(i));
  v.attrs = new Uint16Array(n);
  for (let i = 0; i < n; i++) unchecked(v.attrs[i] = <u16>(types !== null ? attrOfType(types.i64At(i)) : ATTR_NORMAL));

  // Later duplicates replace earlier ones, like llama.cpp's token_to_id[word] = i.
  v.map = new PieceMap(text, n);
  for (let i = 0; i < n; i++) v.map.add(unchecked(offs[i]), unchecked(offs[i + 1]) - unchecked(offs[i]), -1, i, true);

  const r = new VocabResult();
  r.vocab = v;
  return r;
}
