// The tokenizer of a model, built from its GGUF metadata: text (UTF-8 bytes) -> token ids
// and token ids -> bytes, matching llama.cpp's results exactly.
//
//   const r = Tokenizer.fromGGUF(file);            // r.error explains any failure
//   const ids = r.tokenizer!.encode(bytes, true, false);
//   const text = r.tokenizer!.detokenize(ids, false, false);
//
// Two models: "llama" (SentencePiece BPE with scores and byte fallback, spm.ts) and "gpt2"
// (byte-level BPE with merge ranks after one of llama.cpp's pre-tokenizers, bpe.ts and
// pre_split.ts).

import { GGUFFile, GGUFValue, GGUF_TYPE_STRING } from "../gguf";
import { Vocab, loadVocab, ATTR_UNKNOWN, ATTR_CONTROL, ATTR_USER_DEFINED, ATTR_NORMAL, ATTR_BYTE, ATTR_LSTRIP, ATTR_RSTRIP } from "./vocab";
import { PieceMap } from "./piece_map";
import { specialTokenList, partitionSpecial } from "./special";
import { detectSpecialTokens } from "./special_names";
import { SpmSession } from "./spm";
import { BpeSession } from "./bpe";
import { I32List, U8List } from "./buffers";
import { decodeCodepoints, encodeUtf8, cpToByte } from "./unicode";
import { PRE_GPT2, PRE_LLAMA3, PRE_QWEN2, PRE_QWEN35, PRE_SMOLLM } from "./pre_split";

export const TOKENIZER_LLAMA: i32 = 1;
export const TOKENIZER_GPT2: i32 = 2;

// The pre-tokenizers of gpt2 models, by the `tokenizer.ggml.pre` names llama.cpp gives them
// (llama-vocab.cpp), with what else each name sets there: whole words found in the vocabulary
// skip merging (ignoreMerges), BOS is added unless the file says otherwise (addBos), and
// " ." " 's" lose their space in decoded text (cleanSpaces).
class PreTokenizer {
  constructor(public names: string[], public split: i32, public ignoreMerges: bool, public addBos: bool, public cleanSpaces: bool) {}
}
const PRE_TOKENIZERS: PreTokenizer[] = [
  new PreTokenizer(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
    "modern-bert", "mpt", "olmo", "jais", "trillion", "granite-docling", "exaone4"], PRE_GPT2, false, false, true),
  new PreTokenizer(["llama-bpe", "llama3", "llama-v3", "falcon3", "pixtral"], PRE_LLAMA3, true, true, true),
  new PreTokenizer(["qwen2", "deepseek-r1-qwen"], PRE_QWEN2, false, false, false),
  new PreTokenizer(["stablelm2", "megrez"], PRE_QWEN2, false, false, true),
  new PreTokenizer(["qwen35"], PRE_QWEN35, false, false, false),
  new PreTokenizer(["smollm"], PRE_SMOLLM, false, false, false),
  new PreTokenizer(["starcoder", "refact", "codeshell"], PRE_SMOLLM, false, false, true),
];

function findPreTokenizer(name: string): PreTokenizer | null {
  for (let i = 0; i < PRE_TOKENIZERS.length; i++) if (PRE_TOKENIZERS[i].names.includes(name)) return PRE_TOKENIZERS[i];
  return null;
}

/** Every pre-tokenizer name this tokenizer supports, for error messages. */
export function preTokenizerNames(): string[] {
  const all: string[] = [];
  for (let i = 0; i < PRE_TOKENIZERS.length; i++) for (let k = 0; k < PRE_TOKENIZERS[i].names.length; k++) all.push(PRE_TOKENIZERS[i].names[k]);
  return all;
}

export class TokenizerResult {
  tokenizer: Tokenizer | null = null;
  /** Empty when the tokenizer was built. */
  error: string = "";
}

function fail(msg: string): TokenizerResult {
  const r = new TokenizerResult();
  r.error = "tokenizer: " + msg;
  return r;
}

@inline function hexValue(b: u32): i32 {
  if (b >= 0x30 && b <= 0x39) return <i32>(b - 0x30);
  if (b >= 0x41 && b <= 0x46) return <i32>(b - 0x41 + 10);
  if (b >= 0x61 && b <= 0x66) return <i32>(b - 0x61 + 10);
  return -1;
}

export class Tokenizer {
  kind: i32 = 0;
  /** tokenizer.ggml.model and tokenizer.ggml.pre as found in the file. */
  model: string = "";
  pre: string = "";
  vocab: Vocab;
  bos: i32 = -1;
  eos: i32 = -1;
  unk: i32 = -1;
  pad: i32 = -1;
  sep: i32 = -1;
  eot: i32 = -1;
  eom: i32 = -1;
  /** Whether encode(..., addSpecial = true, ...) prepends BOS / appends EOS. */
  addBos: bool = false;
  addEos: bool = false;
  /** SentencePiece's dummy prefix: a space before the text (and stripped again on decode). */
  addSpacePrefix: bool = false;
  /** GPT-2 style clean-up of " ," " ." " 's" etc. when detokenizing. */
  cleanSpaces: bool = false;

  private specials: Int32Array = new Int32Array(0);
  private eog: Uint8Array = new Uint8Array(0);
  private byteTokens: Int32Array = new Int32Array(256);
  private spm: SpmSession | null = null;
  private bpe: BpeSession | null = null;
  private frags: I32List = new I32List(48);
  private fragsTmp: I32List = new I32List(48);
  private spmText: U8List = new U8List(256);
  private out: I32List = new I32List(256);
  private piece: U8List = new U8List(64);
  private cps: I32List = new I32List(16);
  private utf8: U8List = new U8List(8);

  private constructor(vocab: Vocab) { this.vocab = vocab; }

  get nVocab(): i32 { return this.vocab.n; }
  /** Tokens that are matched as literal text (control, user-defined, unknown), longest first. */
  specialTokens(): Int32Array { return this.specials; }

  static fromGGUF(f: GGUFFile): TokenizerResult {
    if (!f.has("tokenizer.ggml.model")) return fail("tokenizer.ggml.model is missing (the file has no tokenizer)");
    if (!f.hasString("tokenizer.ggml.model")) return fail("tokenizer.ggml.model is not a string");
    const model = f.getString("tokenizer.ggml.model", "");
    let kind = 0;
    if (model == "llama") kind = TOKENIZER_LLAMA;
    else if (model == "gpt2") kind = TOKENIZER_GPT2;
    else return fail("tokenizer model '" + model + "' is not supported (only 'llama' and 'gpt2' are)");
    const pre = f.getString("tokenizer.ggml.pre", "");
    const preTok = kind == TOKENIZER_GPT2 ? findPreTokenizer(pre) : null;
    if (kind == TOKENIZER_GPT2 && preTok === null) {
      return fail("pre-tokenizer '" + (pre.length > 0 ? pre : "(missing)") + "' is not supported for gpt2 models (supported: " +
        preTokenizerNames().join(", ") + ")");
    }

    const vr = loadVocab(f);
    if (vr.vocab === null) return fail(vr.error);
    const v = vr.vocab!;
    const t = new Tokenizer(v);
    t.kind = kind;
    t.model = model;
    t.pre = pre;

    let merges: PieceMap | null = null;
    if (kind == TOKENIZER_LLAMA) {
      t.bos = 1; t.eos = 2; t.unk = 0;
      t.addBos = true; t.addSpacePrefix = true;
    } else {
      t.bos = 11; t.eos = 11;
      t.cleanSpaces = preTok!.cleanSpaces;
      t.addBos = preTok!.addBos;
      const m = f.getArray("tokenizer.ggml.merges");
      if (m === null) return fail("tokenizer.ggml.merges is missing (gpt2 models need their merges)");
      if (m.elemType != GGUF_TYPE_STRING) return fail("tokenizer.ggml.merges is not an array of strings");
      merges = loadMerges(m);
    }
    // ids from the file replace the defaults when they are inside the vocabulary
    t.bos = specialId(f, "tokenizer.ggml.bos_token_id", t.bos, v.n);
    t.eos = specialId(f, "tokenizer.ggml.eos_token_id", t.eos, v.n);
    t.unk = specialId(f, "tokenizer.ggml.unknown_token_id", t.unk, v.n);
    t.pad = specialId(f, "tokenizer.ggml.padding_token_id", t.pad, v.n);
    t.sep = specialId(f, "tokenizer.ggml.seperator_token_id", t.sep, v.n);
    t.addBos = f.getBool("tokenizer.ggml.add_bos_token", t.addBos);
    t.addEos = f.getBool("tokenizer.ggml.add_eos_token", t.addEos);
    t.addSpacePrefix = f.getBool("tokenizer.ggml.add_space_prefix", t.addSpacePrefix);

    const named = detectSpecialTokens(f, v, t.eos);
    t.eot = named.eot;
    t.eom = named.eom;
    t.eog = new Uint8Array(v.n);
    for (let i = 0; i < named.eog.length; i++) t.eog[named.eog[i]] = 1;
    t.specials = specialTokenList(v);
    applyNameRules(t, f);

    // raw byte b -> its <0xXX> piece, else the one-byte piece, else UNK (SentencePiece fallback)
    for (let b = 0; b < 256; b++) {
      const hex = "0123456789ABCDEF";
      let id = v.findString("<0x" + hex.charAt(b >> 4) + hex.charAt(b & 15) + ">");
      if (id < 0) { const one = new Uint8Array(1); one[0] = <u8>b; id = v.find(one.dataStart, 1); }
      t.byteTokens[b] = id >= 0 ? id : t.unk;
    }
    if (kind == TOKENIZER_LLAMA) t.spm = new SpmSession(v, t.byteTokens);
    else t.bpe = new BpeSession(v, merges!, preTok!.split, preTok!.ignoreMerges);

    const r = new TokenizerResult();
    r.tokenizer = t;
    return r;
  }

  // ---- encoding ----

  /** Appends the tokens of the UTF-8 bytes [p, p+n) to `out` (llama_tokenize's add_special / parse_special). */
  encodeInto(p: usize, n: i32, addSpecial: bool, parseSpecial: bool, out: I32List): void {
    const frags = this.frags;
    if (n > 0) partitionSpecial(this.vocab, this.specials, p, n, parseSpecial, frags, this.fragsTmp);
    else frags.clear();
    if (addSpecial && this.addBos && this.bos >= 0) out.push(this.bos);
    let prevSpecial = true; // the dummy-prefix space goes before text that follows a special token or starts the input
    for (let f = 0; f < frags.length; f += 3) {
      const id = frags.at(f), start = frags.at(f + 1), len = frags.at(f + 2);
      if (id >= 0) { out.push(id); prevSpecial = true; continue; }
      if (this.kind == TOKENIZER_LLAMA) {
        const s = this.spmText;
        s.clear();
        if (this.addSpacePrefix && prevSpecial) { s.push(0xe2); s.push(0x96); s.push(0x81); }
        for (let i = 0; i < len; i++) { // spaces become U+2581 before merging
          const b = <u32>load<u8>(p + <usize>(start + i));
          if (b == 0x20) { s.push(0xe2); s.push(0x96); s.push(0x81); } else s.push(b);
        }
        this.spm!.tokenize(s.ptr, s.length, out);
      } else {
        this.bpe!.tokenize(p + <usize>start, len, out);
      }
      prevSpecial = false;
    }
    if (addSpecial && this.addEos && this.eos >= 0) out.push(this.eos);
  }

  /** Tokens of the UTF-8 bytes [p, p+n). addSpecial: BOS/EOS as the model asks; parseSpecial: "<s>" etc. in the text become their tokens. */
  encodeBytes(p: usize, n: i32, addSpecial: bool, parseSpecial: bool): Int32Array {
    const out = this.out;
    out.clear();
    this.encodeInto(p, n, addSpecial, parseSpecial, out);
    return out.toInt32Array();
  }
  encode(text: Uint8Array, addSpecial: bool, parseSpecial: bool): Int32Array {
    return this.encodeBytes(text.dataStart, text.length, addSpecial, parseSpecial);
  }
  encodeString(text: string, addSpecial: bool, parseSpecial: bool): Int32Array {
    const b = String.UTF8.encode(text);
    return this.encodeBytes(changetype<usize>(b), b.byteLength, addSpecial, parseSpecial);
  }

  // ---- decoding ----

  /**
   * Appends the bytes of token `id` to out and returns how many (llama_token_to_piece):
   * control and unknown tokens give nothing unless `special`; up to `lstrip` leading spaces
   * are dropped.
   */
  tokenToPiece(id: i32, special: bool, lstrip: i32, out: U8List): i32 {
    const v = this.vocab;
    if (!v.valid(id)) return 0;
    const attr = v.attr(id);
    if (!special && (attr & (ATTR_UNKNOWN | ATTR_CONTROL)) != 0) return 0;
    const p = v.piecePtr(id), n = v.pieceLen(id);
    const before = out.length;
    if ((attr & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) != 0) {
      out.pushBytes(p, n);
    } else if ((attr & ATTR_NORMAL) != 0) {
      if (this.kind == TOKENIZER_LLAMA) {
        for (let i = 0; i < n; i++) { // U+2581 back to a space
          const b = <u32>load<u8>(p + <usize>i);
          if (b == 0xe2 && i + 2 < n && load<u8>(p + <usize>(i + 1)) == 0x96 && load<u8>(p + <usize>(i + 2)) == 0x81) { out.push(0x20); i += 2; }
          else out.push(b);
        }
      } else {
        this.decodeByteLevel(p, n, out);
      }
    } else if ((attr & ATTR_BYTE) != 0) {
      // "<0xXX>": the two hex digits after "<0x" (parsed like strtol: stop at a non-digit)
      let b = 0;
      for (let i = 3; i < 5 && i < n; i++) {
        const h = hexValue(load<u8>(p + <usize>i));
        if (h < 0) break;
        b = b * 16 + h;
      }
      out.push(<u32>b);
    }
    if (lstrip > 0) {
      let k = 0;
      while (k < lstrip && before + k < out.length && out.at(before + k) == 0x20) k++;
      if (k > 0) {
        memory.copy(out.ptr + <usize>before, out.ptr + <usize>(before + k), <usize>(out.length - before - k));
        out.length -= k;
      }
    }
    return out.length - before;
  }

  // GPT-2 stand-in characters back to bytes; characters outside the mapping are shown the way llama.cpp shows them.
  private decodeByteLevel(p: usize, n: i32, out: U8List): void {
    const cps = this.cps;
    decodeCodepoints(p, n, cps);
    for (let i = 0; i < cps.length; i++) {
      const cp = <u32>cps.at(i);
      const b = cpToByte(cp);
      if (b >= 0) { out.push(<u32>b); continue; }
      const hex = "0123456789abcdef";
      const tmp = this.utf8;
      tmp.clear();
      encodeUtf8(cp, tmp);
      const tag = String.UTF8.encode("[UNK_BYTE_0x");
      out.pushBytes(changetype<usize>(tag), tag.byteLength);
      for (let k = 0; k < tmp.length; k++) { out.push(<u32>hex.charCodeAt(tmp.at(k) >> 4)); out.push(<u32>hex.charCodeAt(tmp.at(k) & 15)); }
      out.pushBytes(p, n);
      out.push(0x5d);
    }
  }

  /** The bytes of one token (no space stripping). */
  decodeToken(id: i32, special: bool): Uint8Array {
    const piece = this.piece;
    piece.clear();
    this.tokenToPiece(id, special, 0, piece);
    return piece.toUint8Array();
  }

  /**
   * Text of a token sequence (llama_detokenize): the dummy-prefix space of the first token is
   * dropped; removeSpecial drops a leading BOS / trailing EOS the model adds itself;
   * unparseSpecial renders control tokens as their text.
   */
  detokenizeInto(ids: Int32Array, removeSpecial: bool, unparseSpecial: bool, out: U8List): void {
    let from = 0, to = ids.length;
    let removeSpace = this.addSpacePrefix;
    if (removeSpecial && this.addBos && to > 0 && ids[0] == this.bos) { removeSpace = false; from = 1; }
    if (removeSpecial && this.addEos && to > from && ids[to - 1] == this.eos) to--;
    const start = out.length;
    for (let i = from; i < to; i++) {
      this.tokenToPiece(unchecked(ids[i]), unparseSpecial, removeSpace ? 1 : 0, out);
      removeSpace = false;
    }
    if (this.cleanSpaces) cleanUpSpaces(out, start);
  }
  detokenize(ids: Int32Array, removeSpecial: bool, unparseSpecial: bool): Uint8Array {
    const out = new U8List(ids.length * 4);
    this.detokenizeInto(ids, removeSpecial, unparseSpecial, out);
    return out.toUint8Array();
  }

  // ---- token facts ----
  /** Token id of a piece as stored in the vocabulary (e.g. "▁the"), or -1. */
  tokenId(piece: string): i32 { return this.vocab.findString(piece); }
  /** The stored piece text of a token. */
  pieceText(id: i32): string { return this.vocab.pieceString(id); }
  isControl(id: i32): bool { return this.vocab.valid(id) && (this.vocab.attr(id) & ATTR_CONTROL) != 0; }
  /** End of generation: EOS, EOT, EOM and the tokens llama.cpp treats so by name (special_names.ts). */
  isEog(id: i32): bool { return this.vocab.valid(id) && this.eog[id] != 0; }
}

function specialId(f: GGUFFile, key: string, def: i32, n: i32): i32 {
  if (def >= n) def = -1;
  const v = f.find(key);
  if (v === null || !v.fitsU32()) return def;
  const id = v.asI64();
  return id < <i64>n ? <i32>id : def;
}

// Merge strings "left right" (split at the first space after the first byte) -> rank.
function loadMerges(m: GGUFValue): PieceMap {
  const n = m.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += <i32>m.stringLenAt(i);
  const blob = new Uint8Array(total);
  const map = new PieceMap(blob, n);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const p = m.stringPtrAt(i), len = <i32>m.stringLenAt(i);
    memory.copy(blob.dataStart + <usize>pos, p, <usize>len);
    let split = -1;
    for (let k = 1; k < len; k++) if (load<u8>(p + <usize>k) == 0x20) { split = k; break; }
    if (split > 0) map.add(pos, len, split, i, false); // the first occurrence of a pair wins
    pos += len;
  }
  return map;
}

// Per-token attribute fixes that llama.cpp applies by model name (they change how special
// tokens swallow neighbouring spaces).
function applyNameRules(t: Tokenizer, f: GGUFFile): void {
  const v = t.vocab;
  const name = f.getString("general.name", "").toLowerCase();
  const arch = f.getString("general.architecture", "");
  if (t.pre.includes("jina-v2-de") || t.pre.includes("jina-v2-es") || t.pre.includes("jina-v2-code") ||
      arch.includes("nomic-bert-moe") || arch.includes("jina-bert-v3")) {
    set(v.findString("<mask>"), ATTR_LSTRIP, true, v);
  } else if (name.includes("phi-3") || name.includes("phi3")) {
    const sp = t.specialTokens();
    for (let i = 0; i < sp.length; i++) set(sp[i], ATTR_RSTRIP, true, v);
    set(v.findString("</s>"), ATTR_RSTRIP, true, v);
    set(v.findString("<unk>"), ATTR_RSTRIP, false, v);
    set(v.findString("<s>"), ATTR_RSTRIP, false, v);
    set(v.findString("<|endoftext|>"), ATTR_RSTRIP, false, v);
  } else if (name.includes("modern-bert")) {
    set(v.findString("[MASK]"), ATTR_LSTRIP, true, v);
  }
}

function set(id: i32, bit: u32, on: bool, v: Vocab): void {
  if (id < 0) return;
  v.attrs[id] = <u16>(on ? <u32>v.attrs[id] | bit : <u32>v.attrs[id] & ~bit);
}

// llama.cpp's clean_up_tokenization_spaces, in place on out[start..]: " ?" " !" " ." " ,"
// lose their space, " ' " loses both, " 's" " 'm" " 're" " 've" lose theirs.
function cleanUpSpaces(out: U8List, start: i32): void {
  const p = out.ptr + <usize>start;
  let total = out.length - start;
  // first pass
  let n = total;
  total = n > 0 ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = load<u8>(p + <usize>i);
    if (load<u8>(p + <usize>(i - 1)) == 0x20 && (x == 0x3f || x == 0x21 || x == 0x2e || x == 0x2c)) total--;
    store<u8>(p + <usize>total, x); total++;
  }
  // second pass
  n = total;
  total = n > 0 ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = load<u8>(p + <usize>i);
    if (x == 0x27 && i + 1 < n && load<u8>(p + <usize>(i - 1)) == 0x20 && load<u8>(p + <usize>(i + 1)) == 0x20) {
      total--;
      store<u8>(p + <usize>(++i), 0);
    }
    store<u8>(p + <usize>total, x); total++;
  }
  // third pass
  n = total;
  total = n > 0 ? 1 : 0;
  for (let i = 1; i < n; i++) {
    const x = load<u8>(p + <usize>i);
    if (load<u8>(p + <usize>(i - 1)) == 0x20 && x == 0x27 && i + 1 < n) {
      const x1 = load<u8>(p + <usize>(i + 1));
      if (x1 == 0x73 || x1 == 0x6d) total--; // 's 'm
      else if (x1 != 0x74 && x1 != 0x64 && i + 2 < n) {
        const x2 = load<u8>(p + <usize>(i + 2));
        if ((x1 == 0x72 && x2 == 0x65) || (x1 == 0x76 && x2 == 0x65)) total--; // 're 've
      }
    }
    store<u8>(p + <usize>total, x); total++;
  }
  out.length = start + total;
}
