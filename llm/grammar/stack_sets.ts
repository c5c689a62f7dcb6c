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
import { HashIndex } from "./hash_index";
import { Stack, StackList, StackWork, sameStack, hashStack, advance, popPush, charEnd, isCharType } from "./stacks";

/** The tables are dropped when they hold more stacks than this (deeply recursive grammars). */
export const STACK_TABLE_LIMIT: i32 = 100000;

/** Every distinct stack met, by id, with its top (-1: empty). */
class StackTable {
  stacks: Array<Stack> = [];
  tops: Array<i32> = [];
  // the ids of the stacks each one advances to after its top class (null until asked)
  afters: Array<Int32Array | null> = [];
  private index: HashIndex = new HashIndex();
  private scratch: StackList = new StackList(); // after()'s, before its stacks are interned

  intern(s: Stack): i32 {
    const h = hashStack(s);
    for (let slot = this.index.first(h); slot >= 0; slot = this.index.next(h, slot)) {
      const id = this.index.item(slot);
      if (sameStack(unchecked(this.stacks[id]), s)) return id;
    }
    const id = this.stacks.length;
    this.stacks.push(s);
    this.tops.push(s.length == 0 ? -1 : s[s.length - 1]);
    this.afters.push(null);
    this.index.add(h, id);
    return id;
  }

  after(g: Grammar, id: i32, work: StackWork): Int32Array {
    const known = unchecked(this.afters[id]);
    if (known !== null) return known;
    const s = this.stacks[id];
    const next = this.scratch;
    next.clear();
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
  /** The members with class top number k: byTop[topStart[k] .. topStart[k+1]) (so that next()
   *  reads only them: a set may have a thousand tops and thousands of members). */
  byTop: Int32Array = new Int32Array(0);
  topStart: Int32Array = new Int32Array(1);
  /** Per class top, the next set (-1 until asked). */
  next: Int32Array = new Int32Array(0);
  /** Per bitmask of class tops (two or more), the union of their next sets. */
  unions: Map<u32, i32> | null = null;
  /** The same for sets of more than 32 class tops, keyed by their numbers (unionOfTops). */
  wideUnions: Map<string, i32> | null = null;
  constructor(members: Int32Array) { this.members = members; }
}

export class StackSets {
  /** The matcher's count of the stacks its call made (stacks.ts StackWork). */
  readonly work: StackWork;
  constructor(work: StackWork) { this.work = work; }
  private table: StackTable = new StackTable();
  private sets: Array<StackSet> = [];
  private index: HashIndex = new HashIndex();
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
    this.begin();
    for (let i = unchecked(s.topStart[k]), end = unchecked(s.topStart[k + 1]); i < end; i++) {
      const after = this.table.after(g, unchecked(s.byTop[i]), this.work);
      for (let j = 0; j < after.length; j++) this.add(after[j]);
    }
    const r = this.finish(g);
    unchecked(s.next[k] = r);
    return r;
  }

  /** The union of the next sets of the class tops in `mask` (bit k: top number k; k < 32). */
  union(g: Grammar, set: i32, mask: u32): i32 {
    const s = unchecked(this.sets[set]);
    if (s.unions !== null && s.unions!.has(mask)) return s.unions!.get(mask);
    const parts = new Array<i32>();
    for (let k = 0; k < 32; k++) if (mask & (1 << k)) parts.push(this.next(g, set, k));
    const r = this.unionOf(g, parts);
    if (s.unions === null) s.unions = new Map();
    s.unions!.set(mask, r);
    return r;
  }

  /** The same for a set with more than 32 class tops: the union of the next sets of the tops
   *  numbered tops[0..count) (ascending). Kept per set like union's, so that a node whose
   *  children all take the same tops (an any-character class) builds it once. */
  unionOfTops(g: Grammar, set: i32, tops: Int32Array, count: i32): i32 {
    const s = unchecked(this.sets[set]);
    const codes = new Array<i32>(count * 2);
    for (let i = 0; i < count; i++) {
      const k = unchecked(tops[i]);
      unchecked(codes[i * 2] = k & 0xffff);
      unchecked(codes[i * 2 + 1] = k >>> 16);
    }
    const key = String.fromCharCodes(codes);
    if (s.wideUnions !== null && s.wideUnions!.has(key)) return s.wideUnions!.get(key);
    const parts = new Array<i32>();
    for (let i = 0; i < count; i++) parts.push(this.next(g, set, unchecked(tops[i])));
    const r = this.unionOf(g, parts);
    if (s.wideUnions === null) s.wideUnions = new Map();
    s.wideUnions!.set(key, r);
    return r;
  }

  /** The set of the stacks of these sets. */
  private unionOf(g: Grammar, parts: Array<i32>): i32 {
    this.begin();
    for (let p = 0; p < parts.length; p++) {
      const m = unchecked(this.sets[parts[p]]).members;
      for (let i = 0; i < m.length; i++) this.add(m[i]);
    }
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
    for (let slot = this.index.first(h); slot >= 0; slot = this.index.next(h, slot)) {
      const m = unchecked(this.sets[this.index.item(slot)]).members;
      if (m.length != ids.length) continue;
      let same = true;
      for (let i = 0; i < m.length && same; i++) same = m[i] == ids[i];
      if (same) return this.index.item(slot);
    }
    const members = new Int32Array(ids.length);
    for (let i = 0; i < ids.length; i++) members[i] = ids[i];
    const s = new StackSet(members);
    // number the distinct tops in order of first appearance, and list the members by class
    // top; copies of one class (Grammar.sameClass) are one top, whose next set is all of theirs
    const topNumber = new Map<i32, i32>(); // element position -> its number among chars or tokens
    const chars = new Array<i32>(), tokens = new Array<i32>();
    const memberTop = new Int32Array(members.length).fill(-1); // class top number, or -1
    for (let i = 0; i < members.length; i++) {
      let top = this.table.tops[members[i]];
      if (top < 0) continue;
      const isChar = isCharType(g, top);
      if (isChar) top = unchecked(g.sameClass[top]);
      if (!topNumber.has(top)) {
        const list = isChar ? chars : tokens;
        topNumber.set(top, list.length);
        list.push(top);
      }
      if (isChar) memberTop[i] = topNumber.get(top);
    }
    s.charTops = new Int32Array(chars.length);
    for (let i = 0; i < chars.length; i++) s.charTops[i] = chars[i];
    s.tokenTops = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) s.tokenTops[i] = tokens[i];
    const start = new Int32Array(chars.length + 1);
    for (let i = 0; i < members.length; i++) if (memberTop[i] >= 0) start[memberTop[i] + 1]++;
    for (let k = 0; k < chars.length; k++) start[k + 1] += start[k];
    const byTop = new Int32Array(start[chars.length]), fill = start.slice(0, chars.length);
    for (let i = 0; i < members.length; i++) if (memberTop[i] >= 0) byTop[fill[memberTop[i]]++] = members[i];
    s.byTop = byTop;
    s.topStart = start;
    s.next = new Int32Array(chars.length).fill(-1);
    const id = this.sets.length;
    this.sets.push(s);
    this.index.add(h, id);
    return id;
  }
}
