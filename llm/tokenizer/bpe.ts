// Byte-level BPE as in GPT-2 (`tokenizer.ggml.model = gpt2`): the pre-tokenizer cuts the
// text into words (pre_split.ts); each word's UTF-8 bytes are spelled with GPT-2's printable
// stand-in characters; a word that is itself a piece is taken whole when the pre-tokenizer
// says so (llama.cpp's ignore_merges, Llama 3); otherwise the adjacent pair with the lowest
// merge rank is merged until no ranked pair is left. Each final symbol is looked up as a
// piece (or, failing that, byte by byte).

import { Vocab } from "./vocab";
import { PieceMap } from "./piece_map";
import { BigramQueue } from "./bigram_queue";
import { I32List, U8List } from "./buffers";
import { Symbols } from "./symbols";
import { decodeCodepoints, encodeUtf8, byteToCp } from "./unicode";
import { preSplit } from "./pre_split";

export class BpeSession {
  private cps: I32List = new I32List(256);
  private ends: I32List = new I32List(64);
  private raw: U8List = new U8List(64);
  private word: U8List = new U8List(256);
  private sym: Symbols = new Symbols(64);
  private queue: BigramQueue = new BigramQueue();

  /** merges: (left, right) pair keys -> rank. */
  constructor(private vocab: Vocab, private merges: PieceMap, private pre: i32, private ignoreMerges: bool) {}

  private addBigram(w: usize, left: i32, right: i32): void {
    if (left < 0 || right < 0) return;
    const ls = this.sym.start.at(left), ln = this.sym.len.at(left), rs = this.sym.start.at(right), rn = this.sym.len.at(right);
    const rank = this.merges.findPair(w + <usize>ls, ln, 0x20, w + <usize>rs, rn);
    if (rank < 0) return;
    this.queue.push(-<f32>rank, left, right, ln + rn);
  }

  /** Tokenizes [text, text+n) and appends the ids to out. */
  tokenize(text: usize, n: i32, out: I32List): void {
    const cps = this.cps, ends = this.ends;
    decodeCodepoints(text, n, cps);
    preSplit(this.pre, cps, ends);
    let from = 0;
    for (let e = 0; e < ends.length; e++) {
      const to = ends.at(e);
      // the word's code points back to UTF-8, then each byte as its stand-in character
      const raw = this.raw, word = this.word;
      raw.clear(); word.clear();
      for (let i = from; i < to; i++) encodeUtf8(<u32>cps.at(i), raw);
      for (let i = 0; i < raw.length; i++) encodeUtf8(byteToCp(raw.at(i)), word);
      const whole = this.ignoreMerges ? this.vocab.find(word.ptr, word.length) : -1;
      if (whole >= 0) out.push(whole);
      else this.mergeWord(out);
      from = to;
    }
  }

  private mergeWord(out: I32List): void {
    const w = this.word.ptr, n = this.word.length;
    const sym = this.sym;
    const count = sym.split(w, n);
    const start = sym.start, len = sym.len, prev = sym.prev, next = sym.next;
    const q = this.queue;
    q.clear();
    for (let i = 1; i < count; i++) this.addBigram(w, i - 1, i);
    while (q.length > 0) {
      q.pop();
      const l = q.topLeft, r = q.topRight;
      const ln = len.at(l), rn = len.at(r);
      if (ln == 0 || rn == 0 || ln + rn != q.topSize) continue; // outdated entry
      len.set(l, ln + rn);
      len.set(r, 0);
      const rnext = next.at(r);
      next.set(l, rnext);
      if (rnext >= 0) prev.set(rnext, l);
      this.addBigram(w, prev.at(l), l);
      this.addBigram(w, l, rnext);
    }
    for (let i = count > 0 ? 0 : -1; i != -1; i = next.at(i)) {
      const p = w + <usize>start.at(i), sn = len.at(i);
      const id = this.vocab.find(p, sn);
      if (id >= 0) { out.push(id); continue; }
      for (let k = 0; k < sn; k++) { // llama.cpp's fallback: single bytes that happen to be pieces
        const b = this.vocab.find(p + <usize>k, 1);
        if (b >= 0) out.push(b);
      }
    }
  }
}
