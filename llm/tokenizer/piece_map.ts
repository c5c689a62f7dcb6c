// Hash table from byte strings to ids, for piece -> token id and (left, right) -> merge rank.
// The strings are not copied: entry i is bytes [start[i], start[i] + len[i]) of one byte
// array given at construction. Open addressing with linear probing, FNV-1a hashes; lookups take a
// pointer and a length, so the tokenizers can look up any slice of their input without
// allocating a string.

const FNV_OFFSET: u32 = 2166136261;
const FNV_PRIME: u32 = 16777619;

@inline function fnvBytes(h: u32, p: usize, n: i32): u32 {
  for (let i = 0; i < n; i++) h = (h ^ <u32>load<u8>(p + <usize>i)) * FNV_PRIME;
  return h;
}

function tableSizeFor(n: i32): i32 {
  let size = 16;
  while (size < n * 2) size <<= 1;
  return size;
}

export class PieceMap {
  private owner: Uint8Array; // holds the key bytes; referenced so it lives as long as the map
  private blob: usize;
  private start: Int32Array;
  private len: Int32Array;
  /** For pair keys: bytes of the left part (the key is left + separator byte + right); -1 for plain keys. */
  private split: Int32Array;
  private value: Int32Array;
  private slots: Int32Array; // entry index + 1, 0 = empty
  private mask: u32;
  count: i32 = 0;

  /** Room for `capacity` entries whose keys are slices of `bytes`. */
  constructor(bytes: Uint8Array, capacity: i32) {
    this.owner = bytes;
    this.blob = bytes.dataStart;
    this.start = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
    this.split = new Int32Array(capacity);
    this.value = new Int32Array(capacity);
    const size = tableSizeFor(capacity);
    this.slots = new Int32Array(size);
    this.mask = <u32>(size - 1);
  }

  private keyEquals(e: i32, p: usize, n: i32): bool {
    return unchecked(this.len[e]) == n && memory.compare(this.blob + <usize>unchecked(this.start[e]), p, <usize>n) == 0;
  }

  /**
   * Adds bytes [start, start+len) of the blob with `value`. An existing equal key keeps its
   * value unless `replace` (piece lists: the last duplicate wins; merges: the first wins).
   * `split` >= 0 marks a pair key whose left part is that many bytes long.
   */
  add(start: i32, len: i32, split: i32, value: i32, replace: bool): void {
    const p = this.blob + <usize>start;
    let h = fnvBytes(FNV_OFFSET, p, len) & this.mask;
    while (true) {
      const s = unchecked(this.slots[h]);
      if (s == 0) break;
      const e = s - 1;
      if (unchecked(this.split[e]) == split && this.keyEquals(e, p, len)) {
        if (replace) unchecked(this.value[e] = value);
        return;
      }
      h = (h + 1) & this.mask;
    }
    const e = this.count++;
    unchecked(this.start[e] = start);
    unchecked(this.len[e] = len);
    unchecked(this.split[e] = split);
    unchecked(this.value[e] = value);
    unchecked(this.slots[h] = e + 1);
  }

  /** Value stored for the bytes [p, p+n), or -1. */
  find(p: usize, n: i32): i32 {
    let h = fnvBytes(FNV_OFFSET, p, n) & this.mask;
    while (true) {
      const s = unchecked(this.slots[h]);
      if (s == 0) return -1;
      const e = s - 1;
      if (unchecked(this.split[e]) < 0 && this.keyEquals(e, p, n)) return unchecked(this.value[e]);
      h = (h + 1) & this.mask;
    }
  }

  /** Value stored for the pair key (left, right) joined by `sep`, or -1. */
  findPair(lp: usize, ln: i32, sep: u32, rp: usize, rn: i32): i32 {
    let h = fnvBytes(FNV_OFFSET, lp, ln);
    h = (h ^ sep) * FNV_PRIME;
    h = fnvBytes(h, rp, rn) & this.mask;
    const total = ln + 1 + rn;
    while (true) {
      const s = unchecked(this.slots[h]);
      if (s == 0) return -1;
      const e = s - 1;
      if (unchecked(this.split[e]) == ln && unchecked(this.len[e]) == total) {
        const k = this.blob + <usize>unchecked(this.start[e]);
        if (memory.compare(k, lp, <usize>ln) == 0 && memory.compare(k + <usize>(ln + 1), rp, <usize>rn) == 0) {
          return unchecked(this.value[e]);
        }
      }
      h = (h + 1) & this.mask;
    }
  }
}
