// SentencePiece BPE as llama.cpp runs it for `tokenizer.ggml.model = llama`: the text
// (spaces already escaped to U+2581) is split into UTF-8 characters, then the adjacent
// pair whose concatenation is the best-scoring piece is merged, again and again. Symbols
// that end up without a piece are emitted as byte tokens <0xXX> (or UNK).

import { Vocab } from "./vocab";
import { BigramQueue } from "./bigram_queue";
import { I32List } from "./buffers";
import { Symbols } from "./symbols";

export class SpmSession {
  // symbols: a linked list over the text, each a byte range [start, start+n)
  private sym: Symbols = new Symbols(256);
  private queue: BigramQueue = new BigramQueue();

  /** byteTokens[b] is the token for raw byte b (its <0xXX> piece), or the UNK token. */
  constructor(private vocab: Vocab, private byteTokens: Int32Array) {}

  private tryAddBigram(text: usize, left: i32, right: i32): void {
    if (left < 0 || right < 0) return;
    const size = this.sym.len.at(left) + this.sym.len.at(right);
    const id = this.vocab.find(text + <usize>this.sym.start.at(left), size);
    if (id < 0) return;
    this.queue.push(unchecked(this.vocab.scores[id]), left, right, size);
  }

  /** Tokenizes [text, text+n) and appends the ids to out. */
  tokenize(text: usize, n: i32, out: I32List): void {
    const sym = this.sym;
    const count = sym.split(text, n);
    const start = sym.start, len = sym.len, prev = sym.prev, next = sym.next;
    const q = this.queue;
    q.clear();
    for (let i = 1; i < count; i++) this.tryAddBigram(text, i - 1, i);
    while (q.length > 0) {
      q.pop();
      const l = q.topLeft, r = q.topRight;
      const ln = len.at(l), rn = len.at(r);
      // stale entry: one side was merged away or grew since it was queued
      if (ln == 0 || rn == 0 || ln + rn != q.topSize) continue;
      len.set(l, ln + rn);
      len.set(r, 0);
      const rnext = next.at(r);
      next.set(l, rnext);
      if (rnext >= 0) prev.set(rnext, l);
      this.tryAddBigram(text, prev.at(l), l);
      this.tryAddBigram(text, l, rnext);
    }
    for (let i = count > 0 ? 0 : -1; i != -1; i = next.at(i)) {
      const p = text + <usize>start.at(i), sn = len.at(i);
      const id = this.vocab.find(p, sn);
      if (id >= 0) { out.push(id); continue; }
      for (let k = 0; k < sn; k++) {
        const b = unchecked(this.byteTokens[load<u8>(p + <usize>k)]);
        if (b >= 0) out.push(b);
      }
    }
  }
}
