// Pushdown stacks over a grammar's elements (grammar/gbnf.ts), as llama.cpp's matcher keeps
// them: a stack is a list of element positions, its top (last) the terminal the next input
// must match; advance() expands rule references on top into every alternative, and the
// match functions say whether a code point, a partial UTF-8 character or a token fits a top.

import { HashIndex } from "./hash_index";
import { Grammar, G_END, G_ALT, G_RULE_REF, G_CHAR, G_CHAR_NOT, G_CHAR_RNG_UPPER, G_CHAR_ALT, G_CHAR_ANY, G_TOKEN, G_TOKEN_NOT } from "./gbnf";

export type Stack = StaticArray<i32>;

// @ts-ignore: decorator
@inline export function isCharType(g: Grammar, pos: i32): bool {
  const t = <u32>unchecked(g.type[pos]);
  return t != G_TOKEN && t != G_TOKEN_NOT;
}

/** A one-element stack. */
export function one(pos: i32): Stack {
  const s = new StaticArray<i32>(1);
  unchecked(s[0] = pos);
  return s;
}

// @ts-ignore: decorator
@inline export function endOfSequence(g: Grammar, pos: i32): bool {
  const t = <u32>unchecked(g.type[pos]);
  return t == G_END || t == G_ALT;
}

/** The stack without its top, and with `next` on top unless that ends an alternative. */
export function popPush(g: Grammar, stack: Stack, next: i32): Stack {
  const keep = stack.length - 1;
  const push = endOfSequence(g, next) ? 0 : 1;
  const s = new StaticArray<i32>(keep + push);
  memory.copy(changetype<usize>(s), changetype<usize>(stack), <usize>keep << 2);
  if (push) unchecked(s[keep] = next);
  return s;
}

export function sameStack(a: Stack, b: Stack): bool {
  if (a.length != b.length) return false;
  return memory.compare(changetype<usize>(a), changetype<usize>(b), <usize>a.length << 2) == 0;
}

/** FNV-1a over a stack's elements. */
export function hashStack(s: Stack): u32 {
  let h: u32 = 2166136261;
  for (let i = 0; i < s.length; i++) h = (h ^ <u32>unchecked(s[i])) * 16777619;
  return h;
}

/** The most stacks advance may make during one call of a matcher (its constructor,
 *  acceptToken, allowedTokens). A grammar that keeps many stacks alive, each of which leads to
 *  many others, costs their product at every step: a repetition of an item that may be empty,
 *  ("a"?){0,550}, makes 150 thousand stacks to list the tokens allowed after its start (0.36 s
 *  on the host, and llama.cpp's matcher, built the same way, does no better). Such a grammar is
 *  stopped with a message at the call where it goes past this. */
export const MAX_STACKS_PER_CALL: i32 = 32768;

/** The most stack elements those stacks may hold in all, for the same reason: each new stack
 *  is a copy of the one it came from, so a grammar nested a thousand rules deep (a chain of
 *  postfix operators, .+++..., one rule each) pays a thousand for every stack it makes. A
 *  JSON schema's stacks are a few dozen deep. */
export const MAX_STACK_ELEMENTS_PER_CALL: i32 = 1 << 19;

/** The most tests of a candidate token against a stack the token-by-token checks may make in
 *  one call (allowedTokensOneByOne, which lists the tokens allowed after one that ended inside
 *  a character, and allows), each stack they visit counting as CHECKS_PER_STACK more (its
 *  lists and the stacks it advances cost about that). Their walk, as llama.cpp's, follows each
 *  stack a token's characters lead to on its own: where several classes take the same
 *  characters, the stacks double at every character (40 overlapping ranges: 12 million stacks
 *  visited, 14 s in V8 over a 128k vocabulary). A JSON grammar's walk over that vocabulary
 *  costs about 400 thousand. */
export const MAX_CHECKS_PER_CALL: i64 = 1 << 24;
export const CHECKS_PER_STACK: i64 = 64;

/** The checks a test of one token (GrammarMatcher.allows) makes before it leaves the answer to
 *  the trie walk of allowedTokens, which shares the stacks' work between tokens: where many
 *  stacks are alive, following each of them through one token's characters can cost more than
 *  listing every token (a fuzzed grammar: 2.7 million checks, 0.2 s in V8, for one token of a
 *  512-token vocabulary). The answer is the same either way. */
export const MAX_CHECKS_PER_TOKEN: i64 = 1 << 16;

/** What a matcher says when a grammar goes past a limit. */
export function tooManyStacks(): string {
  return "the grammar needs more than " + MAX_STACKS_PER_CALL.toString() + " parser stacks (or " +
    MAX_STACK_ELEMENTS_PER_CALL.toString() + " stack elements, or " + MAX_CHECKS_PER_CALL.toString() +
    " token checks) for one step (repetitions of items that may be empty, such as (\"a\"?){0,550}, " +
    "rules nested hundreds deep, or many overlapping classes?)";
}

/** The work of one call of a matcher: the stacks advance made, and whether the call is held
 *  to their limits above (its constructor, acceptToken and the trie walk of allowedTokens,
 *  whose results a failed call leaves unused; not the token-by-token checks, whose stacks grow
 *  with the candidates), and the token checks, which every call is held to. */
export class StackWork {
  made: i32 = 0;
  elements: i32 = 0;
  checks: i64 = 0;
  limited: bool = false;
  /** The most checks this call may make (MAX_CHECKS_PER_CALL, or MAX_CHECKS_PER_TOKEN). */
  checksLimit: i64 = MAX_CHECKS_PER_CALL;
  /** The calls' work before this one, in stacks (a check counting 1/CHECKS_PER_STACK). */
  private before: i64 = 0;
  reset(limited: bool, checksLimit: i64 = MAX_CHECKS_PER_CALL): void {
    this.before = this.spent;
    this.made = 0; this.elements = 0; this.checks = 0; this.limited = limited; this.checksLimit = checksLimit;
  }
  /** All calls' work so far, in stacks (a check counting 1/CHECKS_PER_STACK). */
  get spent(): i64 { return this.before + <i64>this.made + this.checks / CHECKS_PER_STACK; }
  get exceeded(): bool {
    return (this.limited && (this.made > MAX_STACKS_PER_CALL || this.elements > MAX_STACK_ELEMENTS_PER_CALL)) ||
      this.checks > this.checksLimit;
  }
}

/** Stacks in the order first added, each once. llama.cpp finds a stack among the others by a
 *  linear search, which makes advance cubic in the stacks a grammar holds at once: the
 *  repetition of an optional item, ("a"?){0,959}, holds about a thousand stacks of up to a
 *  thousand elements (35 s on the host). Here a hash of the contents finds it. */
export class StackList {
  readonly items: Array<Stack> = [];
  private index: HashIndex = new HashIndex();

  get length(): i32 { return this.items.length; }

  /** Empties the list. */
  clear(): void {
    this.items.length = 0;
    this.index.clear();
  }

  /** Adds s unless an equal stack is in the list; whether it was added. */
  add(s: Stack): bool {
    const h = hashStack(s);
    for (let slot = this.index.first(h); slot >= 0; slot = this.index.next(h, slot)) {
      if (sameStack(unchecked(this.items[this.index.item(slot)]), s)) return false;
    }
    this.index.add(h, this.items.length);
    this.items.push(s);
    return true;
  }
}

// advance's scratch lists, kept from call to call: a step may advance thousands of stacks
const advanceTodo: Array<Stack> = [];
const advanceSeen = new StackList();

/**
 * Expands a stack into the stacks whose tops are terminals (or empty: the end), following
 * every alternative of every rule reference on top, into `out` (without duplicates, in
 * llama.cpp's order). Stops short in a call held to StackWork's limits that went past them.
 */
export function advance(g: Grammar, stack: Stack, out: StackList, work: StackWork | null = null): void {
  const todo = advanceTodo, seen = advanceSeen; // (advance calls nothing that calls it)
  todo.length = 0;
  todo.push(stack);
  seen.clear();
  while (todo.length > 0 && (work === null || !work.exceeded)) {
    const cur = todo.pop();
    if (!seen.add(cur)) continue;
    if (cur.length == 0) { out.add(cur); continue; }
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
        if (work !== null) { work.made++; work.elements += next.length; }
        while (!endOfSequence(g, sub)) sub++;
        if (<u32>unchecked(g.type[sub]) == G_ALT) sub++;
        else break;
      }
    } else {
      // a terminal: CHAR, CHAR_NOT, CHAR_ANY, TOKEN or TOKEN_NOT (the parser puts nothing else here)
      out.add(cur);
    }
  }
}

/** Whether code point c matches the character class at pos. */
export function matchChar(g: Grammar, pos: i32, c: u32): bool {
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

/** Whether code point c is in no range of the class at `top` before the one that ends at `upto`. */
export function firstRangeTaking(g: Grammar, top: i32, upto: i32, c: u32): bool {
  let pos = top;
  // the ranges before the current one end before `upto` minus its own length
  while (true) {
    const ranged = <u32>unchecked(g.type[pos + 1]) == G_CHAR_RNG_UPPER;
    const next = pos + (ranged ? 2 : 1);
    if (next >= upto) return true; // reached the current range
    const a = unchecked(g.value[pos]), b = ranged ? unchecked(g.value[pos + 1]) : a;
    if (a <= c && c <= b) return false;
    pos = next;
  }
}

/** The element after the character class at pos. */
export function charEnd(g: Grammar, pos: i32): i32 {
  do {
    pos += <u32>unchecked(g.type[pos + 1]) == G_CHAR_RNG_UPPER ? 2 : 1;
  } while (<u32>unchecked(g.type[pos]) == G_CHAR_ALT);
  return pos;
}

/** Whether some completion of a partial character (value so far, remain bytes to come) can match the class at pos. */
export function matchPartialChar(g: Grammar, pos: i32, value: u32, remain: i32): bool {
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

export function matchToken(g: Grammar, pos: i32, id: i32): bool {
  const t = <u32>unchecked(g.type[pos]);
  const v = unchecked(g.value[pos]);
  return t == G_TOKEN ? v == <u32>id : v != <u32>id;
}

/** The stacks a stack leads to when it takes code point c (none when its top cannot). */
export function acceptChar(g: Grammar, stack: Stack, c: u32, out: StackList, work: StackWork | null = null): void {
  if (stack.length == 0) return;
  const top = stack[stack.length - 1];
  const type = <u32>unchecked(g.type[top]);
  if (type == G_TOKEN || type == G_TOKEN_NOT) return;
  if (matchChar(g, top, c)) advance(g, popPush(g, stack, charEnd(g, top)), out, work);
}
