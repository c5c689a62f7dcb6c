// The vocabulary as a trie of code points, so that deciding which tokens a grammar allows
// walks each shared prefix once instead of once per token (llama.cpp checks every token in
// turn; the verdicts are the same, tests/grammar.test.ts compares the two).
//
// Tokens are sorted by their code points (a token that ends sorts before its extensions), so
// every node is a range of that order: the tokens that end at the node first, then its
// children's ranges, one child per distinct next code point. End-of-generation tokens and
// tokens without text are left out (the matcher decides those apart).

import { GrammarVocab } from "./vocab";

export class TokenTrie {
  /** Token ids in code point order, and each token's place in it (-1: not in the trie). */
  order: Int32Array;
  place: Int32Array;
  // node k: the tokens order[lo[k] .. hi[k]); those in [lo[k], ends[k]) end at the node;
  // its children are nodes firstChild[k] .. firstChild[k] + childCount[k] - 1, and cp[k] is
  // the code point that leads into it
  lo: Int32Array = new Int32Array(0);
  hi: Int32Array = new Int32Array(0);
  ends: Int32Array = new Int32Array(0);
  firstChild: Int32Array = new Int32Array(0);
  childCount: Int32Array = new Int32Array(0);
  cp: Uint32Array = new Uint32Array(0);
  nodeCount: i32 = 0;

  constructor(v: GrammarVocab) {
    const n = v.size;
    let m = 0;
    for (let t = 0; t < n; t++) if (!v.isEog(t) && !v.isBlank(t)) m++;
    this.order = new Int32Array(m);
    this.place = new Int32Array(n).fill(-1);
    m = 0;
    for (let t = 0; t < n; t++) if (!v.isEog(t) && !v.isBlank(t)) unchecked(this.order[m++] = t);
    sortByCodePoints(this.order, v);
    for (let i = 0; i < m; i++) unchecked(this.place[this.order[i]] = i);

    // nodes breadth first: each node's children are made when it is reached, contiguously
    let cap = 1024;
    this.grow(cap);
    this.lo[0] = 0; this.hi[0] = m; this.cp[0] = 0;
    const depth = new Array<i32>();
    depth.push(0);
    this.nodeCount = 1;
    for (let k = 0; k < this.nodeCount; k++) {
      const d = depth[k];
      let p = this.lo[k];
      const hi = this.hi[k];
      while (p < hi && cpOf(v, unchecked(this.order[p]), d) == 0) p++;
      this.ends[k] = p;
      this.firstChild[k] = this.nodeCount;
      let count = 0;
      while (p < hi) {
        const c = cpOf(v, unchecked(this.order[p]), d);
        let q = p + 1;
        while (q < hi && cpOf(v, unchecked(this.order[q]), d) == c) q++;
        if (this.nodeCount == cap) { cap *= 2; this.grow(cap); }
        const child = this.nodeCount++;
        this.lo[child] = p; this.hi[child] = q; this.cp[child] = c;
        depth.push(d + 1);
        count++;
        p = q;
      }
      this.childCount[k] = count;
    }
  }

  private grow(cap: i32): void {
    this.lo = resized(this.lo, cap);
    this.hi = resized(this.hi, cap);
    this.ends = resized(this.ends, cap);
    this.firstChild = resized(this.firstChild, cap);
    this.childCount = resized(this.childCount, cap);
    const c = new Uint32Array(cap);
    memory.copy(c.dataStart, this.cp.dataStart, <usize>this.cp.length << 2);
    this.cp = c;
  }
}

function resized(a: Int32Array, cap: i32): Int32Array {
  const b = new Int32Array(cap);
  memory.copy(b.dataStart, a.dataStart, <usize>a.length << 2);
  return b;
}

/** Token t's code point at `depth` (0 past its end). */
// @ts-ignore: decorator
@inline function cpOf(v: GrammarVocab, t: i32, depth: i32): u32 {
  return unchecked(v.cps[unchecked(v.cpStart[t]) + depth]);
}

/** a's code points compared with b's: < 0, 0 or > 0 (an end, 0, sorts first). */
function compareTokens(v: GrammarVocab, a: i32, b: i32): i32 {
  let i = unchecked(v.cpStart[a]), j = unchecked(v.cpStart[b]);
  while (true) {
    const x = unchecked(v.cps[i]), y = unchecked(v.cps[j]);
    if (x != y) return x < y ? -1 : 1;
    if (x == 0) return a - b; // the same text: by id, so the order is fixed
    i++; j++;
  }
}

/** Merge sort of token ids by their code points. */
function sortByCodePoints(a: Int32Array, v: GrammarVocab): void {
  const n = a.length;
  let src = a, dst = new Int32Array(n);
  for (let width = 1; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = min(lo + width, n), hi = min(lo + 2 * width, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) unchecked(dst[k++] = compareTokens(v, src[i], src[j]) <= 0 ? src[i++] : src[j++]);
      while (i < mid) unchecked(dst[k++] = src[i++]);
      while (j < hi) unchecked(dst[k++] = src[j++]);
    }
    const t = src; src = dst; dst = t;
  }
  if (src !== a) memory.copy(a.dataStart, src.dataStart, <usize>n << 2);
}
