// Where generation stands in a grammar, and which tokens may come next: llama.cpp's matcher.
//
// The state is a set of pushdown stacks of element positions (grammar/gbnf.ts), each top a
// terminal (a character class or a token) the next input must match; an empty stack means
// the grammar may end here. Accepting a code point replaces each stack by the stacks its
// match leads to (advance: rule references expanded into every alternative). A token's text
// may end inside a UTF-8 character: the partial character is kept and the next token
// continues it, as llama.cpp does.
//
// Which tokens may come next (allowedTokens) is decided for the whole vocabulary in one walk
// of its trie of code points (token_trie.ts), carrying the set of stacks alive at each node
// (stack_sets.ts); llama.cpp instead filters every token by its first code point at each
// stack, the survivors by their second, and so on (reject_candidates). That walk is kept
// here too (allowedTokensOneByOne): for a single token (allows), after a token that ended
// inside a character, and in the tests, which compare the two. End-of-generation tokens are
// allowed only where the grammar may end.

import { Grammar, G_ALT, G_CHAR, G_CHAR_RNG_UPPER, G_CHAR_ALT, G_TOKEN, G_TOKEN_NOT } from "./gbnf";
import {
  Stack, StackList, StackWork, CHECKS_PER_STACK, MAX_CHECKS_PER_TOKEN, tooManyStacks, one, endOfSequence, popPush, advance, matchChar, firstRangeTaking, charEnd, matchPartialChar, matchToken,
  acceptChar, isCharType,
} from "./stacks";
import { StackSets, STACK_TABLE_LIMIT } from "./stack_sets";
import { GrammarVocab, Partial, Decoded } from "./vocab";
import { TokenTrie } from "./token_trie";

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

  /** Why the grammar cannot be followed ("" while it can): a call went past the limits of
   *  StackWork (stacks.ts); nothing is allowed from then on. */
  error: string = "";
  /** The stacks this call made (stacks.ts StackWork). */
  private work: StackWork = new StackWork();
  /** The work of all calls so far, in stacks made (StackWork.spent). */
  get workSpent(): i64 { return this.work.spent; }

  /** After a call's work: whether it went past StackWork's limits (then the matcher fails). */
  private overWork(): bool {
    if (!this.work.exceeded) return false;
    this.error = tooManyStacks();
    this.stacks = [];
    return true;
  }

  constructor(g: Grammar) {
    this.grammar = g;
    // one stack per alternative of the start rule, advanced to its first terminals
    let pos = unchecked(g.start[g.root]);
    const start = new StackList();
    this.work.reset(true);
    while (true) {
      const st = endOfSequence(g, pos) ? new StaticArray<i32>(0) : one(pos);
      advance(g, st, start, this.work);
      while (!endOfSequence(g, pos)) pos++;
      if (<u32>unchecked(g.type[pos]) == G_ALT) pos++;
      else break;
    }
    this.stacks = start.items;
    this.overWork();
  }

  /** Whether the text so far is a complete match (an end-of-generation token may come). */
  get canEnd(): bool {
    for (let i = 0; i < this.stacks.length; i++) if (this.stacks[i].length == 0) return true;
    return false;
  }

  /**
   * Takes the token `id` whose text is [p, p+n). False when the grammar cannot (the state is
   * then dead: every stack gone). An end-of-generation token is taken where the grammar may end.
   */
  acceptToken(id: i32, p: usize, n: i32, isEog: bool): bool {
    if (this.error.length != 0) return false;
    if (isEog) return this.canEnd;
    this.work.reset(true);
    const g = this.grammar;
    const d = this.decoded;
    d.decode(p, n, this.partial);
    const next = new StackList();
    for (let s = 0; s < this.stacks.length; s++) {
      const stack = this.stacks[s];
      if (stack.length == 0) continue;
      const top = stack[stack.length - 1];
      const type = <u32>unchecked(g.type[top]);
      if (type == G_TOKEN || type == G_TOKEN_NOT) {
        if (matchToken(g, top, id)) advance(g, popPush(g, stack, top + 1), next, this.work);
        continue;
      }
      let cur: Array<Stack> = [stack];
      for (let i = 0; i < d.count && cur.length > 0; i++) {
        const after = new StackList();
        const c = unchecked(d.cps[i]);
        for (let k = 0; k < cur.length; k++) acceptChar(g, cur[k], c, after, this.work);
        cur = after.items;
      }
      for (let k = 0; k < cur.length; k++) next.add(cur[k]);
    }
    this.stacks = next.items;
    if (this.overWork()) return false;
    this.partial.value = d.partial.value;
    this.partial.remain = d.partial.remain;
    return next.length > 0;
  }

  /** Whether token t may come next. */
  allows(v: GrammarVocab, t: i32): bool {
    if (this.error.length != 0) return false;
    if (v.isEog(t)) return this.canEnd;
    this.work.reset(false, MAX_CHECKS_PER_TOKEN);
    if (v.isBlank(t)) return false;
    this.vocabTable = v.cps;
    const c = this.candidates(v, 1);
    this.addCandidate(c, v, t);
    const rejects = new SlotList();
    const all = new SlotList();
    all.push(0);
    this.reject(this.stacks, c, all, 0, rejects);
    if (this.work.exceeded) { // past one token's share: the walk of every token answers (its limits hold)
      const allowed = new Uint8Array(v.size);
      this.allowedTokens(v, allowed);
      return allowed[t] != 0;
    }
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
    allowed.fill(0);
    if (this.error.length != 0) return 0;
    this.work.reset(true);
    this.allowed = allowed;
    this.allowedCount = 0;
    if (this.sets.stackCount > STACK_TABLE_LIMIT) this.sets = new StackSets(this.work); // stacks of states long gone
    const set = this.sets.ofStacks(this.grammar, this.stacks);
    this.walk(v, v.trie, 0, set);
    if (this.overWork()) { allowed.fill(0); return 0; }
    if (this.canEnd) {
      for (let i = 0; i < v.eogIds.length; i++) {
        const t = unchecked(v.eogIds[i]);
        if (unchecked(allowed[t]) == 0) { unchecked(allowed[t] = 1); this.allowedCount++; }
      }
    }
    return this.allowedCount;
  }

  // allowedTokens' output while it walks, and how many it allowed so far
  private allowed: Uint8Array = new Uint8Array(0);
  private allowedCount: i32 = 0;
  // the stacks and sets of stacks met in this generation (the walk's memory)
  private sets: StackSets = new StackSets(this.work);
  // (child, top number) pairs of the walk's nodes, used as a stack: each node's above its parent's
  private pairs: PairStack = new PairStack();

  @inline private allow(trie: TokenTrie, p: i32): void {
    const t = unchecked(trie.order[p]);
    if (unchecked(this.allowed[t]) == 0) { unchecked(this.allowed[t] = 1); this.allowedCount++; }
  }

  /**
   * Allows the tokens under trie node `node` that some stack of `set` takes, their code points
   * before the node already taken (llama.cpp's reject_candidates, for all of them at once: a
   * token is allowed when any stack takes it). A class is tested once per code point however
   * many stacks have it on top; their next set is computed once (StackSets) and passed to
   * every child the class takes, found by binary search when the class is a few characters.
   */
  private walk(v: GrammarVocab, trie: TokenTrie, node: i32, set: i32): void {
    const g = this.grammar, sets = this.sets;
    const lo = unchecked(trie.lo[node]), ends = unchecked(trie.ends[node]), hi = unchecked(trie.hi[node]);
    const tops = sets.charTops(set);
    // tokens that end here: whole ones fit whatever the stack; one that ends inside a
    // character fits where a class could take some completion of it
    for (let p = lo; p < ends; p++) {
      const t = unchecked(trie.order[p]);
      const rem = <i32>unchecked(v.endRemain[t]);
      if (rem == 0) { this.allow(trie, p); continue; }
      if (rem < 0) continue;
      for (let k = 0; k < tops.length; k++) {
        if (matchPartialChar(g, unchecked(tops[k]), unchecked(v.endValue[t]), rem)) { this.allow(trie, p); break; }
      }
    }
    // a token element on top takes the tokens with text left by id
    const tokenTops = sets.tokenTops(set);
    for (let k = 0; k < tokenTops.length; k++) this.allowByToken(trie, unchecked(tokenTops[k]), ends, hi);

    const first = unchecked(trie.firstChild[node]), count = unchecked(trie.childCount[node]);
    if (count == 0 || tops.length == 0) return;
    if (tops.length == 1) {
      const next = sets.next(g, set, 0);
      if (!sets.isEmpty(next)) this.walkMatching(v, trie, unchecked(tops[0]), first, count, next);
      return;
    }
    // several tops: each child gets the union of the next sets of the tops that take it
    const pairs = this.pairs, p0 = pairs.length;
    let positive = tops.length <= 32;
    for (let k = 0; k < tops.length && positive; k++) positive = <u32>unchecked(g.type[tops[k]]) == G_CHAR;
    if (positive) {
      for (let k = 0; k < tops.length; k++) this.childrenOf(trie, unchecked(tops[k]), k, first, count);
      pairs.sortFrom(p0);
    } else {
      for (let c = first; c < first + count; c++) {
        const cp = unchecked(trie.cp[c]);
        for (let k = 0; k < tops.length; k++) if (matchChar(g, unchecked(tops[k]), cp)) pairs.push(c, k);
      }
    }
    const p1 = pairs.length;
    let i = p0;
    while (i < p1) {
      const c = pairs.child(i), from = i;
      let mask: u32 = 0;
      for (; i < p1 && pairs.child(i) == c; i++) if (pairs.top(i) < 32) mask |= <u32>1 << <u32>pairs.top(i);
      let next: i32;
      if (i - from == 1) next = sets.next(g, set, pairs.top(from));
      else if (tops.length <= 32) next = sets.union(g, set, mask);
      else { // rare: more tops than a mask holds
        const ks = this.wideTops.length >= i - from ? this.wideTops : (this.wideTops = new Int32Array(i - from));
        for (let j = from; j < i; j++) unchecked(ks[j - from] = pairs.top(j));
        next = sets.unionOfTops(g, set, ks, i - from);
      }
      if (!sets.isEmpty(next)) this.walk(v, trie, c, next);
    }
    pairs.length = p0;
  }

  // scratch: the top numbers one child takes, when a set has more than 32
  private wideTops: Int32Array = new Int32Array(64);

  /** Pushes (child, k) for the children in [first, first+count) the positive class at `top` takes. */
  private childrenOf(trie: TokenTrie, top: i32, k: i32, first: i32, count: i32): void {
    const g = this.grammar;
    let pos = top;
    const end = first + count;
    do {
      const a = unchecked(g.value[pos]);
      let b = a;
      if (<u32>unchecked(g.type[pos + 1]) == G_CHAR_RNG_UPPER) { b = unchecked(g.value[pos + 1]); pos += 2; } else pos += 1;
      let l = first, h = end; // the first child with cp >= a
      while (l < h) { const mid = (l + h) >>> 1; if (unchecked(trie.cp[mid]) < a) l = mid + 1; else h = mid; }
      for (let c = l; c < end && unchecked(trie.cp[c]) <= b; c++) {
        if (firstRangeTaking(g, top, pos, unchecked(trie.cp[c]))) this.pairs.push(c, k); // once per child
      }
    } while (<u32>unchecked(g.type[pos]) == G_CHAR_ALT);
  }

  /** Walks the children in [first, first+count) the class at `top` takes, each with `next`. */
  private walkMatching(v: GrammarVocab, trie: TokenTrie, top: i32, first: i32, count: i32, next: i32): void {
    const g = this.grammar;
    if (<u32>unchecked(g.type[top]) != G_CHAR) { // negated, or any character: most children, tested one by one
      for (let c = first; c < first + count; c++) if (matchChar(g, top, unchecked(trie.cp[c]))) this.walk(v, trie, c, next);
      return;
    }
    const p0 = this.pairs.length;
    this.childrenOf(trie, top, 0, first, count);
    const p1 = this.pairs.length;
    if (p1 - p0 > 1) this.pairs.sortFrom(p0);
    for (let i = p0; i < p1; i++) this.walk(v, trie, this.pairs.child(i), next);
    this.pairs.length = p0;
  }

  /** Tokens with text left, taken by a token element on top (by id). */
  private allowByToken(trie: TokenTrie, top: i32, ends: i32, hi: i32): void {
    const g = this.grammar;
    const at = unchecked(trie.place[<i32>unchecked(g.value[top])]);
    if (<u32>unchecked(g.type[top]) == G_TOKEN) {
      if (at >= ends && at < hi) this.allow(trie, at);
    } else {
      for (let p = ends; p < hi; p++) if (p != at) this.allow(trie, p);
    }
  }

  /** allowedTokens, token by token as llama.cpp's reject_candidates (tests compare the two). */
  allowedTokensOneByOne(v: GrammarVocab, allowed: Uint8Array): i32 {
    if (this.error.length != 0) { allowed.fill(0); return 0; }
    this.work.reset(false);
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
    if (this.overWork()) { allowed.fill(0); return 0; }
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
    if (cands.length == 0 || this.work.exceeded) return; // (past a limit: the caller discards it all)
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
    this.work.checks += cands.length + CHECKS_PER_STACK;
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
    const nextStacks = new StackList();
    advance(g, popPush(g, stack, charEnd(g, top)), nextStacks);
    this.reject(nextStacks.items, c, next, depth + 1, out);
  }

  // the vocabulary's decoded table, which candidates taken from it refer to
  private vocabTable: Uint32Array = new Uint32Array(0);
}


/** (child, top number) pairs, growable, used as a stack. */
class PairStack {
  private data: Int32Array = new Int32Array(512);
  length: i32 = 0; // pairs
  @inline child(i: i32): i32 { return unchecked(this.data[i << 1]); }
  @inline top(i: i32): i32 { return unchecked(this.data[(i << 1) + 1]); }
  push(c: i32, k: i32): void {
    if ((this.length << 1) + 2 > this.data.length) {
      const n = new Int32Array(this.data.length * 2);
      memory.copy(n.dataStart, this.data.dataStart, <usize>this.length << 3);
      this.data = n;
    }
    unchecked(this.data[this.length << 1] = c);
    unchecked(this.data[(this.length << 1) + 1] = k);
    this.length++;
  }
  /** Sorts the pairs from `from` on by child, then top (a merge sort: each top's children come
   *  in ascending runs, and a class of wide ranges can take thousands of a node's children). */
  sortFrom(from: i32): void {
    const n = this.length - from;
    if (n < 2) return;
    if (this.scratch.length < n * 2) this.scratch = new Int64Array(n * 2);
    // pairs as i64 keys (child << 32 | top), sorted bottom-up between the two halves of scratch
    const keys = this.scratch;
    for (let i = 0; i < n; i++) unchecked(keys[i] = (<i64>this.child(from + i) << 32) | <i64>this.top(from + i));
    let src = 0, dst = n;
    for (let width = 1; width < n; width *= 2) {
      for (let lo = 0; lo < n; lo += 2 * width) {
        const mid = min(lo + width, n), hi = min(lo + 2 * width, n);
        let i = lo, j = mid, k = lo;
        while (i < mid && j < hi) unchecked(keys[dst + k++] = keys[src + i] <= keys[src + j] ? keys[src + i++] : keys[src + j++]);
        while (i < mid) unchecked(keys[dst + k++] = keys[src + i++]);
        while (j < hi) unchecked(keys[dst + k++] = keys[src + j++]);
      }
      const t = src; src = dst; dst = t;
    }
    for (let i = 0; i < n; i++) {
      const key = unchecked(keys[src + i]);
      unchecked(this.data[(from + i) << 1] = <i32>(key >> 32));
      unchecked(this.data[((from + i) << 1) + 1] = <i32>(key & 0xffffffff));
    }
  }
  private scratch: Int64Array = new Int64Array(0);
}
