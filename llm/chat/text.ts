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
