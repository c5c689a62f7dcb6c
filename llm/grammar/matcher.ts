// Where generation stands in a grammar, and which tokens may come next: llama.cpp's matcher.
//
// The state is a set of pushdown stacks of element positions (grammar/gbnf.ts), each top a
// terminal (a character class or a token) the next input must match; an empty stack means
// the grammar may end here. Accepting a code point replaces each stack by the stacks its
// match leads to (advance: rule references expanded into every alternative). A token's text
// may end inside a UTF-8 character: the partial character is kept and the next token
// continues it, as llama.cpp does.
//
// Which tokens may come next is decided for all candidates at once, walking the grammar
// rather than each token: candidates are filtered by their first code point at each stack,
// the survivors by their second at the stacks that follow, and so on (llama.cpp's
// reject_candidates). End-of-generation tokens are allowed only where the grammar may end.

import { Grammar, G_END, G_ALT, G_RULE_REF, G_CHAR, G_CHAR_NOT, G_CHAR_RNG_UPPER, G_CHAR_ALT, G_CHAR_ANY, G_TOKEN, G_TOKEN_NOT } from "./gbnf";
import { GrammarVocab, Partial, Decoded } from "./vocab";
import { TokenTrie } from "./token_trie";

type Stack = StaticArray<i32>;

/** Candidate tokens for one decision: each one's code points and partial end. */
class Candidates {
  id: Int32Array;
  cpStart: Int32Array;   // into cps
  cps: Uint32Array;
  endValue: Uint32Array;
  endRemain: Int32Array;
  count: i32 = 0;

  constructor(n: i32) {
    this.id = new Int32Array(n);
    this.cpStart = new Int32Array(n);
    this.cps = new Uint32Array(max(n, 16));
    this.endValue = new Uint32Array(n);
    this.endRemain = new Int32Array(n);
  }
}

/** A growable list of slot numbers (candidates), reused per depth of the walk. */
class SlotList {
  data: Int32Array = new Int32Array(64);
  length: i32 = 0;
  push(v: i32): void {
    if (this.length == this.data.length) {
      const n = new Int32Array(this.data.length * 2);
      memory.copy(n.dataStart, this.data.dataStart, <usize>this.length << 2);
      this.data = n;
    }
    unchecked(this.data[this.length++] = v);
  }
}

export class GrammarMatcher {
  readonly grammar: Grammar;
  private stacks: Array<Stack> = [];
  private partial: Partial = new Partial();
  private decoded: Decoded = new Decoded();
  private scratchCands: Candidates | null = null;

  constructor(g: Grammar) {
    this.grammar = g;
    // one stack per alternative of the start rule, advanced to its first terminals
    let pos = unchecked(g.start[g.root]);
    while (true) {
      const st = endOfSequence(g, pos) ? new StaticArray<i32>(0) : one(pos);
      advance(g, st, this.stacks);
      while (!endOfSequence(g, pos)) pos++;
      if (<u32>unchecked(g.type[pos]) == G_ALT) pos++;
      else break;
    }
  }

  /** Whether the text so far is a complete match (an end-of-generation token may come). */
  get canEnd(): bool {
    for (let i = 0; i < this.stacks.length; i++) if (this.stacks[i].length == 0) return true;
    return false;
  }

  /** Whether no input at all can continue (nothing but the end, or a dead state). */
  get stackCount(): i32 { return this.stacks.length; }

  /**
   * Takes the token `id` whose text is [p, p+n). False when the grammar cannot (the state is
   * then dead: every stack gone). An end-of-generation token is taken where the grammar may end.
   */
  acceptToken(id: i32, p: usize, n: i32, isEog: bool): bool {
    if (isEog) return this.canEnd;
    const g = this.grammar;
    const d = this.decoded;
    d.decode(p, n, this.partial);
    const next: Array<Stack> = [];
    for (let s = 0; s < this.stacks.length; s++) {
      const stack = this.stacks[s];
      if (stack.length == 0) continue;
      const top = stack[stack.length - 1];
      const type = <u32>unchecked(g.type[top]);
      if (type == G_TOKEN || type == G_TOKEN_NOT) {
        if (matchToken(g, top, id)) advance(g, popPush(g, stack, top + 1), next);
        continue;
      }
      let cur: Array<Stack> = [stack];
      for (let i = 0; i < d.count && cur.length > 0; i++) {
        const after: Array<Stack> = [];
        const c = unchecked(d.cps[i]);
        for (let k = 0; k < cur.length; k++) acceptChar(g, cur[k], c, after);
        cur = after;
      }
      for (let k = 0; k < cur.length; k++) addUnique(next, cur[k]);
    }
    this.stacks = next;
    this.partial.value = d.partial.value;
    this.partial.remain = d.partial.remain;
    return next.length > 0;
  }

  /** Takes text (no tokens): each code point in turn; false as soon as none can continue. */
  acceptText(p: usize, n: i32): bool {
    return this.acceptToken(-1, p, n, false);
  }

  /** Whether token t may come next. */
  allows(v: GrammarVocab, t: i32): bool {
    if (v.isEog(t)) return this.canEnd;
    if (v.isBlank(t)) return false;
    this.vocabTable = v.cps;
    const c = this.candidates(v, 1);
    this.addCandidate(c, v, t);
    const rejects = new SlotList();
    const all = new SlotList();
    all.push(0);
    this.reject(this.stacks, c, all, 0, rejects);
    return rejects.length == 0;
  }

  /**
   * allowed[t] = 1 for every token that may come next, 0 for the others; returns how many may.
   * Walks the vocabulary's trie with the set of stacks alive at each node (the usual case),
   * or every token in turn as llama.cpp does when the last token ended inside a character
   * (each token then decodes differently).
   */
  allowedTokens(v: GrammarVocab, allowed: Uint8Array): i32 {
    if (this.partial.remain > 0) return this.allowedTokensOneByOne(v, allowed);
    const trie = v.trie;
    const n = v.size;
    if (this.marks.length < trie.order.length) this.marks = new Uint8Array(trie.order.length);
    this.marks.fill(0);
    const table = this.table;
    if (table.count > STACK_TABLE_LIMIT) this.table = new StackTable(); // stacks of states long gone
    const sets = this.sets;
    sets.length = 0;
    for (let i = 0; i < this.stacks.length; i++) sets.push(this.table.intern(this.grammar, this.stacks[i]));
    this.walk(v, trie, 0, 0, sets.length);
    const endOk = this.canEnd;
    for (let t = 0; t < n; t++) {
      const p = unchecked(trie.place[t]);
      unchecked(allowed[t] = p >= 0 ? unchecked(this.marks[p]) : v.isEog(t) && endOk ? 1 : 0);
    }
    let count = 0;
    for (let t = 0; t < n; t++) count += unchecked(allowed[t]);
    return count;
  }

  // trie places of the tokens some stack allows (allowedTokens)
  private marks: Uint8Array = new Uint8Array(0);
  // every stack met so far, and where each goes after its top class matches
  private table: StackTable = new StackTable();
  // the walk's stack sets, each node's after its parent's (ids into table)
  private sets: I32Stack = new I32Stack();

  /**
   * Marks the tokens under trie node `node` that some stack of the set sets[from, to) allows,
   * their code points before the node already taken (llama.cpp's reject_candidates, for all
   * of them at once: a token is allowed when any stack takes it).
   */
  private walk(v: GrammarVocab, trie: TokenTrie, node: i32, from: i32, to: i32): void {
    const g = this.grammar, marks = this.marks, table = this.table, sets = this.sets;
    const lo = unchecked(trie.lo[node]), ends = unchecked(trie.ends[node]), hi = unchecked(trie.hi[node]);
    // tokens that end here: whole ones fit whatever the stack; one that ends inside a
    // character fits where a class could take some completion of it
    for (let p = lo; p < ends; p++) {
      const t = unchecked(trie.order[p]);
      const rem = <i32>unchecked(v.endRemain[t]);
      if (rem == 0) { unchecked(marks[p] = 1); continue; }
      if (rem < 0) continue;
      for (let i = from; i < to; i++) {
        const top = table.top(sets.at(i));
        if (top >= 0 && isCharType(g, top) && matchPartialChar(g, top, unchecked(v.endValue[t]), rem)) { unchecked(marks[p] = 1); break; }
      }
    }
    // a token element on top takes tokens with text left by id
    for (let i = from; i < to; i++) {
      const top = table.top(sets.at(i));
      if (top < 0 || isCharType(g, top)) continue;
      const at = unchecked(trie.place[<i32>unchecked(g.value[top])]);
      if (<u32>unchecked(g.type[top]) == G_TOKEN) {
        if (at >= ends && at < hi) unchecked(marks[at] = 1);
      } else {
        for (let p = ends; p < hi; p++) if (p != at) unchecked(marks[p] = 1);
      }
    }
    // each next code point: the stacks whose class takes it, each advanced past the class
    const first = unchecked(trie.firstChild[node]), count = unchecked(trie.childCount[node]);
    for (let c = first; c < first + count; c++) {
      const cp = unchecked(trie.cp[c]);
      const start = sets.length;
      table.generation++;
      for (let i = from; i < to; i++) {
        const id = sets.at(i);
        const top = table.top(id);
        if (top < 0 || !isCharType(g, top) || !matchChar(g, top, cp)) continue;
        const after = table.after(g, id);
        for (let k = 0; k < after.length; k++) {
          const nid = unchecked(after[k]);
          if (table.mark(nid)) sets.push(nid);
        }
      }
      if (sets.length > start) this.walk(v, trie, c, start, sets.length);
      sets.length = start;
    }
  }

  /** allowedTokens, token by token as llama.cpp's reject_candidates (tests compare the two). */
  allowedTokensOneByOne(v: GrammarVocab, allowed: Uint8Array): i32 {
    const n = v.size;
    const endOk = this.canEnd;
    this.vocabTable = v.cps;
    const c = this.candidates(v, n);
    const all = new SlotList();
    for (let t = 0; t < n; t++) {
      if (v.isEog(t)) { unchecked(allowed[t] = endOk ? 1 : 0); continue; }
      if (v.isBlank(t)) { unchecked(allowed[t] = 0); continue; }
      unchecked(allowed[t] = 1);
      all.push(c.count);
      this.addCandidate(c, v, t);
    }
    const rejects = new SlotList();
    this.reject(this.stacks, c, all, 0, rejects);
    for (let i = 0; i < rejects.length; i++) unchecked(allowed[c.id[rejects.data[i]]] = 0);
    let count = 0;
    for (let t = 0; t < n; t++) count += unchecked(allowed[t]);
    return count;
  }

  private candidates(v: GrammarVocab, n: i32): Candidates {
    let c = this.scratchCands;
    if (c === null || c.id.length < n) { c = new Candidates(max(n, v.size)); this.scratchCands = c; }
    c.count = 0;
    return c;
  }

  // adds token t decoded after the current partial character (the common case: none, and
  // the vocabulary's own decoding is used)
  private addCandidate(c: Candidates, v: GrammarVocab, t: i32): void {
    const k = c.count++;
    unchecked(c.id[k] = t);
    if (this.partial.remain <= 0) {
      unchecked(c.cpStart[k] = -1 - unchecked(v.cpStart[t])); // negative: in the vocabulary's table
      unchecked(c.endValue[k] = v.endValue[t]);
      unchecked(c.endRemain[k] = v.endRemain[t]);
      return;
    }
    const d = this.decoded;
    d.decode(v.piecePtr(t), v.pieceLen(t), this.partial);
    const need = (k == 0 ? 0 : this.cpEnd) + d.count + 1;
    if (need > c.cps.length) {
      const nc = new Uint32Array(max(need, c.cps.length * 2));
      memory.copy(nc.dataStart, c.cps.dataStart, <usize>this.cpEnd << 2);
      c.cps = nc;
    }
    if (k == 0) this.cpEnd = 0;
    unchecked(c.cpStart[k] = this.cpEnd);
    for (let i = 0; i < d.count; i++) unchecked(c.cps[this.cpEnd++] = d.cps[i]);
    unchecked(c.cps[this.cpEnd++] = 0);
    unchecked(c.endValue[k] = d.partial.value);
    unchecked(c.endRemain[k] = d.partial.remain);
  }
  private cpEnd: i32 = 0;

  /** Candidate k's code point at `depth` (0: its text ends there). */
  @inline private cpAt(c: Candidates, v: Uint32Array, k: i32, depth: i32): u32 {
    const s = unchecked(c.cpStart[k]);
    return s < 0 ? unchecked(v[-1 - s + depth]) : unchecked(c.cps[s + depth]);
  }

  /** The candidates (slots in `cands`) every stack rejects, appended to `out`. */
  private reject(stacks: Array<Stack>, c: Candidates, cands: SlotList, depth: i32, out: SlotList): void {
    if (cands.length == 0) return;
    if (stacks.length == 0) { for (let i = 0; i < cands.length; i++) out.push(cands.data[i]); return; }
    let rejects = new SlotList();
    this.rejectForStack(stacks[0], c, cands, depth, rejects);
    for (let s = 1; s < stacks.length && rejects.length > 0; s++) {
      const r = new SlotList();
      this.rejectForStack(stacks[s], c, rejects, depth, r);
      rejects = r;
    }
    for (let i = 0; i < rejects.length; i++) out.push(rejects.data[i]);
  }

  private rejectForStack(stack: Stack, c: Candidates, cands: SlotList, depth: i32, out: SlotList): void {
    const g = this.grammar;
    const vc = this.vocabTable;
    if (stack.length == 0) { // the grammar ends here: only a token with no more text fits
      for (let i = 0; i < cands.length; i++) {
        const k = unchecked(cands.data[i]);
        if (this.cpAt(c, vc, k, depth) != 0 || unchecked(c.endRemain[k]) != 0) out.push(k);
      }
      return;
    }
    const top = stack[stack.length - 1];
    const type = <u32>unchecked(g.type[top]);
    if (type == G_TOKEN || type == G_TOKEN_NOT) {
      for (let i = 0; i < cands.length; i++) {
        const k = unchecked(cands.data[i]);
        if (this.cpAt(c, vc, k, depth) == 0) { if (unchecked(c.endRemain[k]) != 0) out.push(k); }
        else if (!matchToken(g, top, unchecked(c.id[k]))) out.push(k);
      }
      return;
    }
    const next = new SlotList();
    for (let i = 0; i < cands.length; i++) {
      const k = unchecked(cands.data[i]);
      const cp = this.cpAt(c, vc, k, depth);
      if (cp == 0) {
        // the text ended: rejected if it ended inside a character this position cannot take
        const rem = unchecked(c.endRemain[k]);
        if (rem != 0 && !matchPartialChar(g, top, unchecked(c.endValue[k]), rem)) out.push(k);
      } else if (matchChar(g, top, cp)) {
        next.push(k);
      } else {
        out.push(k);
      }
    }
    if (next.length == 0) return;
    const nextStacks: Array<Stack> = [];
    advance(g, popPush(g, stack, charEnd(g, top)), nextStacks);
    this.reject(nextStacks, c, next, depth + 1, out);
  }

  // the vocabulary's decoded table, which candidates taken from it refer to
  private vocabTable: Uint32Array = new Uint32Array(0);
}

/** The stack table is dropped when it holds more stacks than this (deeply recursive grammars). */
const STACK_TABLE_LIMIT: i32 = 100000;

/**
 * Every distinct stack met, by id, with its top (-1: empty) and, once asked, the ids of the
 * stacks it advances to after its top character class matched (the same whatever the code
 * point): the trie walk then never advances the same stack twice.
 */
class StackTable {
  private stacks: Array<Stack> = [];
  private tops: Array<i32> = [];
  private afters: Array<Int32Array | null> = [];
  private buckets: Map<u32, Array<i32>> = new Map();
  private marks: Array<u32> = [];
  generation: u32 = 1;

  get count(): i32 { return this.stacks.length; }
  @inline top(id: i32): i32 { return unchecked(this.tops[id]); }

  intern(g: Grammar, s: Stack): i32 {
    let h: u32 = 2166136261;
    for (let i = 0; i < s.length; i++) h = (h ^ <u32>unchecked(s[i])) * 16777619;
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
    this.marks.push(0);
    bucket.push(id);
    return id;
  }

  /** The stacks stack `id` leads to once its top class has taken a code point. */
  after(g: Grammar, id: i32): Int32Array {
    const known = unchecked(this.afters[id]);
    if (known !== null) return known;
    const s = this.stacks[id];
    const next: Array<Stack> = [];
    advance(g, popPush(g, s, charEnd(g, s[s.length - 1])), next);
    const ids = new Int32Array(next.length);
    for (let i = 0; i < next.length; i++) ids[i] = this.intern(g, next[i]);
    this.afters[id] = ids;
    return ids;
  }

  /** True the first time `id` is marked in this generation. */
  mark(id: i32): bool {
    if (unchecked(this.marks[id]) == this.generation) return false;
    unchecked(this.marks[id] = this.generation);
    return true;
  }
}

/** A growable list of i32 used as a stack of sets. */
class I32Stack {
  private data: Int32Array = new Int32Array(256);
  length: i32 = 0;
  @inline at(i: i32): i32 { return unchecked(this.data[i]); }
  push(v: i32): void {
    if (this.length == this.data.length) {
      const n = new Int32Array(this.data.length * 2);
      memory.copy(n.dataStart, this.data.dataStart, <usize>this.length << 2);
      this.data = n;
    }
    unchecked(this.data[this.length++] = v);
  }
}

// @ts-ignore: decorator
@inline function isCharType(g: Grammar, pos: i32): bool {
  const t = <u32>unchecked(g.type[pos]);
  return t != G_TOKEN && t != G_TOKEN_NOT;
}

/** A one-element stack. */
function one(pos: i32): Stack {
  const s = new StaticArray<i32>(1);
  unchecked(s[0] = pos);
  return s;
}

// @ts-ignore: decorator
@inline function endOfSequence(g: Grammar, pos: i32): bool {
  const t = <u32>unchecked(g.type[pos]);
  return t == G_END || t == G_ALT;
}

/** The stack without its top, and with `next` on top unless that ends an alternative. */
function popPush(g: Grammar, stack: Stack, next: i32): Stack {
  const keep = stack.length - 1;
  const push = endOfSequence(g, next) ? 0 : 1;
  const s = new StaticArray<i32>(keep + push);
  memory.copy(changetype<usize>(s), changetype<usize>(stack), <usize>keep << 2);
  if (push) unchecked(s[keep] = next);
  return s;
}

function sameStack(a: Stack, b: Stack): bool {
  if (a.length != b.length) return false;
  return memory.compare(changetype<usize>(a), changetype<usize>(b), <usize>a.length << 2) == 0;
}

function addUnique(list: Array<Stack>, s: Stack): void {
  for (let i = 0; i < list.length; i++) if (sameStack(list[i], s)) return;
  list.push(s);
}

/**
 * Expands a stack into the stacks whose tops are terminals (or empty: the end), following
 * every alternative of every rule reference on top, into `out` (without duplicates).
 */
function advance(g: Grammar, stack: Stack, out: Array<Stack>): void {
  const todo: Array<Stack> = [stack];
  const seen: Array<Stack> = [];
  while (todo.length > 0) {
    const cur = todo.pop();
    let dup = false;
    for (let i = 0; i < seen.length; i++) if (sameStack(seen[i], cur)) { dup = true; break; }
    if (dup) continue;
    seen.push(cur);
    if (cur.length == 0) { addUnique(out, cur); continue; }
    const top = cur[cur.length - 1];
    const type = <u32>unchecked(g.type[top]);
    if (type == G_RULE_REF) {
      let sub = unchecked(g.start[<i32>unchecked(g.value[top])]);
      while (true) {
        // the stack without the reference, then what follows it, then this alternative
        const keep = cur.length - 1;
        const follow = endOfSequence(g, top + 1) ? 0 : 1;
        const alt = endOfSequence(g, sub) ? 0 : 1;
        const next = new StaticArray<i32>(keep + follow + alt);
        memory.copy(changetype<usize>(next), changetype<usize>(cur), <usize>keep << 2);
        if (follow) unchecked(next[keep] = top + 1);
        if (alt) unchecked(next[keep + follow] = sub);
        todo.push(next);
        while (!endOfSequence(g, sub)) sub++;
        if (<u32>unchecked(g.type[sub]) == G_ALT) sub++;
        else break;
      }
    } else {
      // a terminal: CHAR, CHAR_NOT, CHAR_ANY, TOKEN or TOKEN_NOT (the parser puts nothing else here)
      addUnique(out, cur);
    }
  }
}

/** Whether code point c matches the character class at pos. */
function matchChar(g: Grammar, pos: i32, c: u32): bool {
  const first = <u32>unchecked(g.type[pos]);
  const positive = first == G_CHAR || first == G_CHAR_ANY;
  let found = false;
  do {
    if (<u32>unchecked(g.type[pos + 1]) == G_CHAR_RNG_UPPER) {
      found = found || (unchecked(g.value[pos]) <= c && c <= unchecked(g.value[pos + 1]));
      pos += 2;
    } else if (<u32>unchecked(g.type[pos]) == G_CHAR_ANY) {
      found = true;
      pos += 1;
    } else {
      found = found || unchecked(g.value[pos]) == c;
      pos += 1;
    }
  } while (<u32>unchecked(g.type[pos]) == G_CHAR_ALT);
  return found == positive;
}

/** The element after the character class at pos. */
function charEnd(g: Grammar, pos: i32): i32 {
  do {
    pos += <u32>unchecked(g.type[pos + 1]) == G_CHAR_RNG_UPPER ? 2 : 1;
  } while (<u32>unchecked(g.type[pos]) == G_CHAR_ALT);
  return pos;
}

/** Whether some completion of a partial character (value so far, remain bytes to come) can match the class at pos. */
function matchPartialChar(g: Grammar, pos: i32, value: u32, remain: i32): bool {
  const first = <u32>unchecked(g.type[pos]);
  const positive = first == G_CHAR || first == G_CHAR_ANY;
  if (remain < 0 || (remain == 1 && value < 2)) return false; // invalid, or an overlong 7-bit char
  let low = value << (remain * 6);
  const high = low | ((1 << (remain * 6)) - 1);
  if (low == 0) {
    if (remain == 2) low = 1 << 11;
    else if (remain == 3) low = 1 << 16;
  }
  do {
    if (<u32>unchecked(g.type[pos + 1]) == G_CHAR_RNG_UPPER) {
      if (unchecked(g.value[pos]) <= high && low <= unchecked(g.value[pos + 1])) return positive;
      pos += 2;
    } else if (<u32>unchecked(g.type[pos]) == G_CHAR_ANY) {
      return true;
    } else {
      const v = unchecked(g.value[pos]);
      if (low <= v && v <= high) return positive;
      pos += 1;
    }
  } while (<u32>unchecked(g.type[pos]) == G_CHAR_ALT);
  return !positive;
}

function matchToken(g: Grammar, pos: i32, id: i32): bool {
  const t = <u32>unchecked(g.type[pos]);
  const v = unchecked(g.value[pos]);
  return t == G_TOKEN ? v == <u32>id : v != <u32>id;
}

/** The stacks a stack leads to when it takes code point c (none when its top cannot). */
function acceptChar(g: Grammar, stack: Stack, c: u32, out: Array<Stack>): void {
  if (stack.length == 0) return;
  const top = stack[stack.length - 1];
  const type = <u32>unchecked(g.type[top]);
  if (type == G_TOKEN || type == G_TOKEN_NOT) return;
  if (matchChar(g, top, c)) advance(g, popPush(g, stack, charEnd(g, top)), out);
}
