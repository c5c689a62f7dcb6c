// Small string helpers for the chat formatter.

import { GGUFValue } from "../gguf";

// The whitespace that llama.cpp's trim and the templates' strip()/trim remove (C isspace).
@inline function isSpace(c: i32): bool {
  return c == 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** s without leading and trailing whitespace. */
export function strip(s: string): string {
  let a = 0, b = s.length;
  while (a < b && isSpace(s.charCodeAt(a))) a++;
  while (b > a && isSpace(s.charCodeAt(b - 1))) b--;
  return a == 0 && b == s.length ? s : s.substring(a, b);
}

/** s without trailing whitespace. */
export function stripEnd(s: string): string {
  let b = s.length;
  while (b > 0 && isSpace(s.charCodeAt(b - 1))) b--;
  return b == s.length ? s : s.substring(0, b);
}

/** Where `part` first occurs in `s` at or after `from`, or -1. String#indexOf calls a
 *  comparison at every position; this one skips eight units at a time to the next that equals
 *  the part's first and compares only there, which matters for template detection (some 40
 *  parts sought in templates of up to 16 KiB). */
export function findText(s: string, part: string, from: i32 = 0): i32 {
  const n = part.length, len = s.length, last = len - n;
  let i = max(from, 0);
  if (n == 0) return min(i, len);
  const sp = changetype<usize>(s), pp = changetype<usize>(part);
  const first = load<u16>(pp), rest = <usize>(n - 1) << 1;
  const firsts = i16x8.splat(first);
  for (; i <= last; i++) {
    while (i + 8 <= len) { // (never reading past the string)
      const m = i16x8.bitmask(i16x8.eq(v128.load(sp + (<usize>i << 1)), firsts));
      if (m != 0) { i += ctz(m); break; }
      i += 8;
    }
    if (i > last) break;
    const at = sp + (<usize>i << 1);
    if (load<u16>(at) == first && memory.compare(at + 2, pp + 2, rest) == 0) return i;
  }
  return -1;
}

/** Whether `part` occurs in `s`. */
export function hasText(s: string, part: string): bool {
  return findText(s, part) >= 0;
}

/** Id of the token whose piece is exactly `s` in a tokenizer.ggml.tokens array, or -1. */
export function findPiece(tokens: GGUFValue, s: string): i32 {
  if (s.length == 0) return -1;
  const b = String.UTF8.encode(s);
  const p = changetype<usize>(b), n = <usize>b.byteLength;
  const count = tokens.length;
  for (let i = 0; i < count; i++) {
    if (tokens.stringLenAt(i) != n) continue;
    if (memory.compare(tokens.stringPtrAt(i), p, n) == 0) return i;
  }
  return -1;
}
