// An index of a list's items by a 32-bit hash, for the matcher's interned stacks and sets
// (stacks.ts StackList, stack_sets.ts). Open addressing with linear probing over two flat
// arrays: adding an item allocates nothing until the table doubles, where a Map of bucket
// arrays made three objects per new hash (under the fuzzing sanitizers, most of a step's time).
// The owner keeps the items and says which candidate is equal:
//
//   for (let slot = index.first(h); slot >= 0; slot = index.next(h, slot))
//     if (same(items[index.item(slot)], x)) return index.item(slot);
//   index.add(h, items.length); items.push(x);

export class HashIndex {
  private hashes: Uint32Array;
  private items: Int32Array;    // item + 1 per slot; 0: empty
  private mask: i32;
  private count: i32 = 0;

  constructor(capacity: i32 = 16) {
    let n = 16;
    while (n < capacity * 2) n <<= 1;
    this.hashes = new Uint32Array(n);
    this.items = new Int32Array(n);
    this.mask = n - 1;
  }

  /** The first slot holding an item of hash h, or -1. */
  first(h: u32): i32 {
    return this.scan(h, <i32>h & this.mask);
  }

  /** The next slot after `slot` holding an item of hash h, or -1. */
  next(h: u32, slot: i32): i32 {
    return this.scan(h, (slot + 1) & this.mask);
  }

  /** The item in a slot first() or next() gave. */
  @inline item(slot: i32): i32 { return unchecked(this.items[slot]) - 1; }

  /** Empties the index (a small table is kept and cleared, a grown one dropped: a list reused
   *  call after call mostly holds a few items, and clearing costs the table's size). */
  clear(): void {
    if (this.count == 0) return;
    if (this.items.length > 64) {
      this.hashes = new Uint32Array(16);
      this.items = new Int32Array(16);
      this.mask = 15;
    } else this.items.fill(0);
    this.count = 0;
  }

  /** Adds item (an index into the owner's list) under hash h. */
  add(h: u32, item: i32): void {
    if ((this.count + 1) * 2 > this.items.length) this.grow();
    this.place(h, item);
    this.count++;
  }

  private scan(h: u32, slot: i32): i32 {
    while (unchecked(this.items[slot]) != 0) {
      if (unchecked(this.hashes[slot]) == h) return slot;
      slot = (slot + 1) & this.mask;
    }
    return -1;
  }

  private place(h: u32, item: i32): void {
    let slot = <i32>h & this.mask;
    while (unchecked(this.items[slot]) != 0) slot = (slot + 1) & this.mask;
    unchecked(this.hashes[slot] = h);
    unchecked(this.items[slot] = item + 1);
  }

  private grow(): void {
    const hashes = this.hashes, items = this.items;
    const n = items.length * 2;
    this.hashes = new Uint32Array(n);
    this.items = new Int32Array(n);
    this.mask = n - 1;
    for (let i = 0; i < items.length; i++) {
      if (unchecked(items[i]) != 0) this.place(unchecked(hashes[i]), unchecked(items[i]) - 1);
    }
  }
}
