// Turns generated tokens into bytes as they arrive. A token may end in the middle of a
// UTF-8 character (byte tokens <0xE2> <0x96> ... or a GPT-2 piece holding half an emoji):
// such a tail is held back until the next token completes it, so every chunk handed out
// is whole characters. Bytes that can never become valid UTF-8 are passed through.

import { Tokenizer } from "./tokenizer";
import { U8List } from "./buffers";

/** Number of bytes at the end of [p, p+n) that start an unfinished UTF-8 character. */
export function incompleteUtf8Tail(p: usize, n: i32): i32 {
  // look back over at most 3 continuation bytes for the lead byte
  for (let k = 1; k <= 4 && k <= n; k++) {
    const b = <u32>load<u8>(p + <usize>(n - k));
    if ((b & 0xc0) == 0x80) continue; // continuation byte: keep looking
    const need = b >= 0xf0 && b <= 0xf4 ? 4 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xc2 && b < 0xe0 ? 2 : 1;
    return need > k ? k : 0;
  }
  return 0;
}

export class StreamDecoder {
  private pending: U8List = new U8List(16);
  private ready: U8List = new U8List(64);
  private started: bool = false;

  /**
   * special: render control tokens as their text. stripLeadingSpace: drop the dummy-prefix
   * space of the first text token (the first token after BOS), as a prompt echo wants.
   */
  constructor(private tok: Tokenizer, private special: bool, private stripLeadingSpace: bool) {}

  /** Appends to `out` the bytes that token `id` completes; returns how many. */
  pushInto(id: i32, out: U8List): i32 {
    const lstrip = this.stripLeadingSpace && this.tok.addSpacePrefix && !this.started ? 1 : 0;
    if (!this.tok.isControl(id)) this.started = true;
    this.tok.tokenToPiece(id, this.special, lstrip, this.pending);
    const p = this.pending;
    const keep = incompleteUtf8Tail(p.ptr, p.length);
    const emit = p.length - keep;
    out.pushBytes(p.ptr, emit);
    p.shift(emit);
    return emit;
  }

  /** The bytes that token `id` completes (often the whole piece; empty while a character is unfinished). */
  push(id: i32): Uint8Array {
    const r = this.ready;
    r.clear();
    this.pushInto(id, r);
    return r.toUint8Array();
  }

  /** Appends whatever is still held back to `out` (at the end of generation); returns how many bytes. */
  flushInto(out: U8List): i32 {
    const n = this.pending.length;
    out.pushBytes(this.pending.ptr, n);
    this.pending.clear();
    return n;
  }

  /** Whatever is still held back (an unfinished character at the end of generation). */
  flush(): Uint8Array {
    const b = this.pending.toUint8Array();
    this.pending.clear();
    return b;
  }

  /** Bytes currently held back. */
  get pendingBytes(): i32 { return this.pending.length; }

  reset(): void { this.pending.clear(); this.started = false; }
}
