// The vocabulary as a grammar sees it: each token's text as llama.cpp's grammar sampler takes
// it (control tokens written out, llama_token_to_piece with special = true), decoded once
// into code points, and which tokens end generation. Made per model, on first use.

import { Tokenizer } from "../tokenizer/tokenizer";
import { U8List } from "../tokenizer/buffers";
import { TokenTrie } from "./token_trie";

/** A UTF-8 character begun by a token's last bytes and not yet complete. */
export class Partial {
  value: u32 = 0;    // its bits so far
  remain: i32 = 0;   // continuation bytes still to come; -1: the bytes were not UTF-8
}

/** Code points of UTF-8 bytes, continuing a partial character, as llama.cpp decodes pieces. */
export class Decoded {
  cps: Uint32Array = new Uint32Array(16);
  count: i32 = 0;
  partial: Partial = new Partial();

  private push(c: u32): void {
    if (this.count == this.cps.length) {
      const n = new Uint32Array(this.cps.length * 2);
      memory.copy(n.dataStart, this.cps.dataStart, <usize>this.count << 2);
      this.cps = n;
    }
    unchecked(this.cps[this.count++] = c);
  }

  /** Decodes [p, p+n) (up to a NUL byte) after `start`. */
  decode(p: usize, n: i32, start: Partial): void {
    this.count = 0;
    let i = 0;
    let value = start.value, remain = start.remain;
    while (i < n && load<u8>(p + <usize>i) != 0 && remain > 0) {
      const b = <u32>load<u8>(p + <usize>i);
      if ((b >> 6) != 2) { this.invalid(); return; } // not a continuation byte
      value = (value << 6) + (b & 0x3f);
      i++;
      remain--;
    }
    if (start.remain > 0 && remain == 0) this.push(value);
    while (i < n && load<u8>(p + <usize>i) != 0) {
      const b = <u32>load<u8>(p + <usize>i);
      const hi = b >> 4;
      remain = hi < 8 ? 0 : hi < 12 ? -1 : hi < 14 ? 1 : hi == 14 ? 2 : 3;
      if (remain < 0) { this.count = 0; this.invalid(); return; } // a continuation byte first
      value = b & ((1 << (7 - remain)) - 1);
      i++;
      // the bytes that follow are taken as continuations unchecked, as llama.cpp does
      while (i < n && load<u8>(p + <usize>i) != 0 && remain > 0) {
        value = (value << 6) + (<u32>load<u8>(p + <usize>i) & 0x3f);
        i++;
        remain--;
      }
      if (remain == 0) this.push(value);
    }
    this.partial.value = value;
    this.partial.remain = remain;
  }

  private invalid(): void { this.partial.value = 0; this.partial.remain = -1; }
}

/** The vocabulary as the grammar sees it: each token's text (control tokens written out). */
export class GrammarVocab {
  readonly size: i32;
  private pieceStart: Int32Array = new Int32Array(0); // token t's bytes: pieces[pieceStart[t] .. pieceStart[t+1])
  private pieces: Uint8Array = new Uint8Array(0);
  private eog: Uint8Array = new Uint8Array(0);
  /** The end-of-generation tokens. */
  eogIds: Int32Array = new Int32Array(0);
  // each token decoded from a fresh start: code points (0-terminated) and the partial end
  cpStart: Int32Array = new Int32Array(0);
  cps: Uint32Array = new Uint32Array(0);
  endValue: Uint32Array = new Uint32Array(0);
  endRemain: Int8Array = new Int8Array(0);

  constructor(tok: Tokenizer) {
    const n = tok.nVocab;
    this.size = n;
    this.pieceStart = new Int32Array(n + 1);
    this.eog = new Uint8Array(n);
    const all = new U8List(n * 8), one = new U8List(64);
    for (let t = 0; t < n; t++) {
      unchecked(this.pieceStart[t] = all.length);
      one.clear();
      tok.tokenToPiece(t, true, 0, one);
      all.pushBytes(one.ptr, one.length);
      if (tok.isEog(t)) unchecked(this.eog[t] = 1);
    }
    this.pieceStart[n] = all.length;
    let nEog = 0;
    for (let t = 0; t < n; t++) nEog += this.eog[t];
    this.eogIds = new Int32Array(nEog);
    for (let t = 0, k = 0; t < n; t++) if (this.eog[t]) this.eogIds[k++] = t;
    this.pieces = all.toUint8Array();
    this.cpStart = new Int32Array(n + 1);
    this.endValue = new Uint32Array(n);
    this.endRemain = new Int8Array(n);
    const d = new Decoded(), fresh = new Partial();
    let cps = new Uint32Array(all.length + n);
    let k = 0;
    for (let t = 0; t < n; t++) {
      unchecked(this.cpStart[t] = k);
      d.decode(this.piecePtr(t), this.pieceLen(t), fresh);
      for (let i = 0; i < d.count; i++) unchecked(cps[k++] = d.cps[i]);
      unchecked(cps[k++] = 0);
      unchecked(this.endValue[t] = d.partial.value);
      unchecked(this.endRemain[t] = <i8>d.partial.remain);
    }
    this.cpStart[n] = k;
    this.cps = cps;
  }

  @inline piecePtr(t: i32): usize { return this.pieces.dataStart + <usize>unchecked(this.pieceStart[t]); }
  @inline pieceLen(t: i32): i32 { return unchecked(this.pieceStart[t + 1]) - unchecked(this.pieceStart[t]); }
  @inline isEog(t: i32): bool { return unchecked(this.eog[t]) != 0; }
  /** llama.cpp never lets a token with no text (or text starting with a NUL) match. */
  @inline isBlank(t: i32): bool { return this.pieceLen(t) == 0 || load<u8>(this.piecePtr(t)) == 0; }

  private trieMade: TokenTrie | null = null;
  /** The tokens as a trie of code points (made on first use). */
  get trie(): TokenTrie {
    if (this.trieMade === null) this.trieMade = new TokenTrie(this);
    return this.trieMade!;
  }
}

