// Priority queue of candidate merges (bigrams of adjacent symbols) for the BPE loops.
// Highest `key` first (SentencePiece: the merged piece's score; GPT-2: minus the merge
// rank); equal keys pop the leftmost pair first, as llama.cpp does.
//
// A binary heap of 16-byte entries { f32 key, i32 left, i32 right, i32 size } in one
// buffer; sifting moves whole entries with one 128-bit load/store.

const ENTRY: usize = 16;

export class BigramQueue {
  private buf: Uint8Array = new Uint8Array(64 * <i32>ENTRY);
  length: i32 = 0;
  // the popped entry
  topLeft: i32 = 0;
  topRight: i32 = 0;
  topSize: i32 = 0;

  clear(): void { this.length = 0; }

  // whether an entry with key ka and left la pops before the entry at pb
  @inline private static before(ka: f32, la: i32, pb: usize): bool {
    const kb = load<f32>(pb);
    return ka > kb || (ka == kb && la < load<i32>(pb, 4));
  }

  push(key: f32, left: i32, right: i32, size: i32): void {
    if (<usize>(this.length + 1) * ENTRY > <usize>this.buf.length) {
      const nb = new Uint8Array(this.buf.length * 2);
      memory.copy(nb.dataStart, this.buf.dataStart, <usize>this.length * ENTRY);
      this.buf = nb;
    }
    const base = this.buf.dataStart;
    // sift up: move parents down until the new entry's place is found
    let item = f32x4.splat(key);
    item = i32x4.replace_lane(item, 1, left);
    item = i32x4.replace_lane(item, 2, right);
    item = i32x4.replace_lane(item, 3, size);
    let i = this.length++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pp = base + <usize>parent * ENTRY;
      if (!BigramQueue.before(key, left, pp)) break;
      v128.store(base + <usize>i * ENTRY, v128.load(pp));
      i = parent;
    }
    v128.store(base + <usize>i * ENTRY, item);
  }

  /** Removes the best entry into topLeft/topRight/topSize. Only call when length > 0. */
  pop(): void {
    const base = this.buf.dataStart;
    this.topLeft = load<i32>(base, 4);
    this.topRight = load<i32>(base, 8);
    this.topSize = load<i32>(base, 12);
    const n = --this.length;
    if (n == 0) return;
    // sift the last entry down from the root
    const last = base + <usize>n * ENTRY;
    const item = v128.load(last);
    const key = load<f32>(last), left = load<i32>(last, 4);
    let i = 0;
    while (true) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let pc = base + <usize>l * ENTRY;
      if (l + 1 < n && BigramQueue.before(load<f32>(pc + ENTRY), load<i32>(pc + ENTRY, 4), pc)) { c = l + 1; pc += ENTRY; }
      if (BigramQueue.before(key, left, pc)) break;
      v128.store(base + <usize>i * ENTRY, v128.load(pc));
      i = c;
    }
    v128.store(base + <usize>i * ENTRY, item);
  }
}
