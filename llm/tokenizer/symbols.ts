// The symbol list both BPE tokenizers merge over: a doubly linked list of byte ranges
// [start, start+len) of the text, one per UTF-8 character to begin with. Merging grows a
// symbol and empties its right neighbour (len 0).
import { I32List } from "./buffers";
import { utf8SeqLen } from "./unicode";

export class Symbols {
  start: I32List;
  len: I32List;
  prev: I32List;
  next: I32List;

  constructor(capacity: i32) {
    this.start = new I32List(capacity);
    this.len = new I32List(capacity);
    this.prev = new I32List(capacity);
    this.next = new I32List(capacity);
  }

  /** Resets the list to one symbol per UTF-8 character of [text, text+n); returns the count. */
  split(text: usize, n: i32): i32 {
    const start = this.start, len = this.len, prev = this.prev, next = this.next;
    start.clear(); len.clear(); prev.clear(); next.clear();
    let off = 0, count = 0;
    while (off < n) {
      let l = utf8SeqLen(load<u8>(text + <usize>off));
      if (l > n - off) l = n - off; // a truncated sequence at the end stays one symbol
      start.push(off); len.push(l); prev.push(count - 1);
      off += l;
      next.push(off == n ? -1 : count + 1);
      count++;
    }
    return count;
  }
}
