// Sets of pushdown stacks, interned, for the walk of the vocabulary's trie (matcher.ts
// allowedTokens): at each trie node the walk holds the set of stacks still alive, and the
// same sets recur at node after node (every token starting with a letter inside a JSON
// string sees the same stacks after that letter). Each distinct stack and each distinct set
// gets an id once, and what the walk asks of a set is computed once and kept:
//   - its distinct character-class tops, and its token-element tops;
//   - for each class top, the set its stacks go to once the class has taken a code point
//     (the same whatever the code point: advance() past the class);
//   - for several class tops that take the same code point, the union of their next sets.
// The tables are per matcher, so they last for one generation.

import { Grammar } from "./gbnf";
import { Stack, StackList, StackWork, sameStack, hashStack, advance, popPush, charEnd, isCharType } from "./stacks";

/** The tables are dropped when they hold more stacks than this (deeply recursive grammars). */
export const STACK_TABLE_LIMIT: i32 = 100000;

/** Every distinct stack met, by id, with its top (-1: empty). */
class StackTable {
  stacks: Array<Stack> = [];
  tops: Array<i32> = [];
  // the ids of the stacks each one advances to after its top class (null until asked)
  afters: Array<Int32Array | null> = [];
  private buckets: Map<u32, Array<i32>> = new Map();

  intern(s: Stack): i32 {
    const h = hashStack(s);
    let bucket: Array<i32>;
    if (this.buckets.has(h)) {
      bucket = this.buckets.get(h);
      for (let i = 0; i < bucket.length; i++) if (sameStack(this.stacks[bucket[i]], s)) return bucket[i];
    } else {
      bucket = [];
      this.buckets.set(h, bucket);
    }
    const id = this.stacks.length;
    this.stacks.push(s);
    this.tops.push(s.length == 0 ? -1 : s[s.length - 1]);
    this.afters.push(null);
    bucket.push(id);
    return id;
  }

  after(g: Grammar, id: i32, work: StackWork): Int32Array {
    const known = unchecked(this.afters[id]);
    if (known !== null) return known;
    const s = this.stacks[id];
    const next = new StackList();
    advance(g, popPush(g, s, charEnd(g, s[s.length - 1])), next, work);
    const ids = new Int32Array(next.length);
    for (let i = 0; i < next.length; i++) ids[i] = this.intern(next.items[i]);
    this.afters[id] = ids;
    return ids;
  }
}

/** One interned set of stacks and what the walk asks of it. */
class StackSet {
  /** The stack ids, ascending. */
  members: Int32Array;
  /** Its distinct character-class tops (element positions) and token-element tops. */
  charTops: Int32Array = new Int32Array(0);
  tokenTops: Int32Array = new Int32Array(0);
  /** Per class top, the next set (-1 until asked). */
  next: Int32Array = new Int32Array(0);
  /** Per bitmask of class tops (two or more), the union of their next sets. */
  unions: Map<u32, i32> | null = null;
  constructor(members: Int32Array) { this.members = members; }
}

export class StackSets {
  /** The matcher's count of the stacks its call made (stacks.ts StackWork). */
  readonly work: StackWork;
  constructor(work: StackWork) { this.work = work; }
  private table: StackTable = new StackTable();
  private sets: Array<StackSet> = [];
  private buckets: Map<u32, Array<i32>> = new Map();
  private marks: Array<u32> = [];   // per stack id: the generation that last listed it
  private generation: u32 = 0;
  private ids: Array<i32> = [];     // scratch for building a set

  get stackCount(): i32 { return this.table.stacks.length; }

  /** The id of the set of these stacks. */
  ofStacks(g: Grammar, stacks: Array<Stack>): i32 {
    this.begin();
    for (let i = 0; i < stacks.length; i++) this.add(this.table.intern(stacks[i]));
    return this.finish(g);
  }

  @inline isEmpty(set: i32): bool { return unchecked(this.sets[set]).members.length == 0; }
  @inline charTops(set: i32): Int32Array { return unchecked(this.sets[set]).charTops; }
  @inline tokenTops(set: i32): Int32Array { return unchecked(this.sets[set]).tokenTops; }

  /** The set the stacks of `set` with class top number k go to once it took a code point. */
  next(g: Grammar, set: i32, k: i32): i32 {
    const s = unchecked(this.sets[set]);
    const known = unchecked(s.next[k]);
    if (known >= 0) return known;
    const top = s.charTops[k];
    this.begin();
    for (let i = 0; i < s.members.length; i++) {
      const id = s.members[i];
      if (this.table.tops[id] != top) continue;
      const after = this.table.after(g, id, this.work);
      for (let j = 0; j < after.length; j++) this.add(after[j]);
    }
    const r = this.finish(g);
    unchecked(this.sets[set]).next[k] = r; // (finish may have grown the list: look the set up again)
    return r;
  }

  /** The union of the next sets of the class tops in `mask` (bit k: top number k; k < 32). */
  union(g: Grammar, set: i32, mask: u32): i32 {
    let s = unchecked(this.sets[set]);
    if (s.unions !== null && s.unions!.has(mask)) return s.unions!.get(mask);
    const parts = new Array<i32>();
    for (let k = 0; k < 32; k++) if (mask & (1 << k)) parts.push(this.next(g, set, k));
    this.begin();
    for (let p = 0; p < parts.length; p++) {
      const m = unchecked(this.sets[parts[p]]).members;
      for (let i = 0; i < m.length; i++) this.add(m[i]);
    }
    const r = this.finish(g);
    s = unchecked(this.sets[set]);
    if (s.unions === null) s.unions = new Map();
    s.unions!.set(mask, r);
    return r;
  }

  /** The set of the stacks of two sets. */
  join(g: Grammar, a: i32, b: i32): i32 {
    this.begin();
    const ma = unchecked(this.sets[a]).members, mb = unchecked(this.sets[b]).members;
    for (let i = 0; i < ma.length; i++) this.add(ma[i]);
    for (let i = 0; i < mb.length; i++) this.add(mb[i]);
    return this.finish(g);
  }

  // building a set: begin(), add() each stack id (repeats ignored), finish()
  private begin(): void { this.generation++; this.ids.length = 0; }
  private add(id: i32): void {
    while (this.marks.length <= id) this.marks.push(0);
    if (unchecked(this.marks[id]) == this.generation) return;
    unchecked(this.marks[id] = this.generation);
    this.ids.push(id);
  }
  private finish(g: Grammar): i32 {
    const ids = this.ids;
    ids.sort((a: i32, b: i32): i32 => a - b);
    let h: u32 = 2166136261;
    for (let i = 0; i < ids.length; i++) h = (h ^ <u32>ids[i]) * 16777619;
    let bucket: Array<i32>;
    if (this.buckets.has(h)) {
      bucket = this.buckets.get(h);
      for (let b = 0; b < bucket.length; b++) {
        const m = this.sets[bucket[b]].members;
        if (m.length != ids.length) continue;
        let same = true;
        for (let i = 0; i < m.length && same; i++) same = m[i] == ids[i];
        if (same) return bucket[b];
      }
    } else {
      bucket = [];
      this.buckets.set(h, bucket);
    }
    const members = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) members[i] = ids[i];
    const s = new StackSet(members);
    const chars = new Array<i32>(), tokens = new Array<i32>();
    for (let i = 0; i < members.length; i++) {
      const top = this.table.tops[members[i]];
      if (top < 0) continue;
      const list = isCharType(g, top) ? chars : tokens;
      if (!list.includes(top)) list.push(top);
    }
    s.charTops = new Int32Array(chars.length);
    for (let i = 0; i < chars.length; i++) s.charTops[i] = chars[i];
    s.tokenTops = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) s.tokenTops[i] = tokens[i];
    s.next = new Int32Array(chars.length).fill(-1);
    const id = this.sets.length;
    this.sets.push(s);
    bucket.push(id);
    return id;
  }
}
