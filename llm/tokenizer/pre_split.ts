// Pre-tokenizers: the rules that cut a text (as code points) into words before byte-level BPE
// merges each word on its own. llama.cpp names them by `tokenizer.ggml.pre` and writes each
// rule set's regular expression out by hand; so does this file (no regex engine here), trying
// the alternatives in order at each position as a backtracking regex engine would.
//
//   PRE_GPT2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   PRE_LLAMA3  (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//               ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   PRE_QWEN2   as PRE_LLAMA3 with \p{N} (one digit per word)
//   PRE_QWEN35  as PRE_QWEN2 with [\p{L}\p{M}] for \p{L} (combining marks join letters)
//   PRE_SMOLLM  \p{N} first (every digit its own word), then PRE_GPT2 inside each piece
//
// A word never crosses the end of the piece it is cut from: lookahead at a piece's end sees
// nothing, as in llama.cpp, which splits each piece of the previous rule separately.

import { I32List } from "./buffers";
import { cpClass, CP_LETTER, CP_NUMBER, CP_SPACE, CP_MARK } from "./unicode";

export const PRE_GPT2: i32 = 1;
export const PRE_LLAMA3: i32 = 2;
export const PRE_QWEN2: i32 = 3;
export const PRE_QWEN35: i32 = 4;
export const PRE_SMOLLM: i32 = 5;

const IN_RANGE: u32 = 16; // set for every code point inside the piece, so 0 means "past its end"

/** Appends to `ends` the (exclusive) end index of each word of cps[0..n), by the rules of `pre`. */
export function preSplit(pre: i32, cps: I32List, ends: I32List): void {
  ends.clear();
  const n = cps.length;
  if (pre == PRE_SMOLLM) {
    let from = 0;
    for (let i = 0; i < n; i++) {
      if ((cpClass(<u32>cps.at(i)) & CP_NUMBER) == 0) continue;
      gpt2Split(cps, from, i, ends);
      ends.push(i + 1);
      from = i + 1;
    }
    gpt2Split(cps, from, n, ends);
  } else if (pre == PRE_LLAMA3) llama3Split(cps, 0, n, ends, 3, false);
  else if (pre == PRE_QWEN2) llama3Split(cps, 0, n, ends, 1, false);
  else if (pre == PRE_QWEN35) llama3Split(cps, 0, n, ends, 1, true);
  else gpt2Split(cps, 0, n, ends);
}

@inline function classAt(cps: I32List, i: i32, end: i32): u32 {
  return i < end ? cpClass(<u32>cps.at(i)) | IN_RANGE : 0;
}

@inline function cpAt(cps: I32List, i: i32, end: i32): i32 { return i < end ? cps.at(i) : -1; }

@inline function lower(c: i32): i32 { return c >= 0x41 && c <= 0x5a ? c + 32 : c; }

/** 's 't 're 've 'm 'll 'd at pos (matched case-insensitively when `anyCase`): its length, or 0. */
function contraction(cps: I32List, pos: i32, end: i32, anyCase: bool): i32 {
  if (cps.at(pos) != 0x27 || pos + 1 >= end) return 0;
  let c1 = cps.at(pos + 1);
  if (anyCase) c1 = lower(c1);
  if (c1 == 0x73 || c1 == 0x74 || c1 == 0x6d || c1 == 0x64) return 2;
  if (pos + 2 >= end) return 0;
  let c2 = cps.at(pos + 2);
  if (anyCase) c2 = lower(c2);
  return (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6c && c2 == 0x6c) ? 3 : 0;
}

/** \s+(?!\S)|\s+ at pos: the end of the white-space word (the last space of a run that is not
 *  at the piece's end is left to start the next word). */
function spaceRunEnd(cps: I32List, pos: i32, end: i32): i32 {
  let w = 0;
  while ((classAt(cps, pos + w, end) & CP_SPACE) != 0) w++;
  if (w > 1 && pos + w < end) return pos + w - 1;
  return w > 0 ? pos + w : pos + 1; // nothing matched: a single code point
}

function gpt2Split(cps: I32List, from: i32, end: i32, ends: I32List): void {
  let pos = from;
  while (pos < end) {
    const c = cps.at(pos);
    const k = contraction(cps, pos, end, false);
    if (k > 0) { pos += k; ends.push(pos); continue; }
    // an optional single space, then a run of one class
    const lead = c == 0x20 ? pos + 1 : pos;
    const f = classAt(cps, lead, end);
    if ((f & CP_LETTER) != 0) { pos = runEnd(cps, lead, end, CP_LETTER); ends.push(pos); continue; }
    if ((f & CP_NUMBER) != 0) { pos = runEnd(cps, lead, end, CP_NUMBER); ends.push(pos); continue; }
    if (f != 0 && (f & (CP_LETTER | CP_NUMBER | CP_SPACE)) == 0) {
      let p = lead;
      while (true) {
        const g = classAt(cps, p, end);
        if (g == 0 || (g & (CP_LETTER | CP_NUMBER | CP_SPACE)) != 0) break;
        p++;
      }
      pos = p; ends.push(pos); continue;
    }
    pos = spaceRunEnd(cps, pos, end); ends.push(pos);
  }
}

// PRE_LLAMA3 and its variants: maxDigits 3 (llama3) or 1 (qwen2); marks: \p{M} counts as a
// letter (qwen35).
function llama3Split(cps: I32List, from: i32, end: i32, ends: I32List, maxDigits: i32, marks: bool): void {
  const letter = marks ? CP_LETTER | CP_MARK : CP_LETTER;
  let pos = from;
  while (pos < end) {
    const c = cps.at(pos);
    const f = classAt(cps, pos, end);
    const k = contraction(cps, pos, end, true);
    if (k > 0) { pos += k; ends.push(pos); continue; }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (c != 0x0d && c != 0x0a && (f & CP_NUMBER) == 0 &&
        ((f & letter) != 0 || (classAt(cps, pos + 1, end) & letter) != 0)) {
      pos = runEnd(cps, pos + 1, end, letter); ends.push(pos); continue;
    }
    // \p{N}{1,maxDigits}
    if ((f & CP_NUMBER) != 0) {
      let n = 0;
      while (n < maxDigits && (classAt(cps, pos, end) & CP_NUMBER) != 0) { pos++; n++; }
      ends.push(pos); continue;
    }
    // ' '?[^\s\p{L}\p{N}]+[\r\n]*
    const other = CP_SPACE | letter | CP_NUMBER;
    const f2 = c == 0x20 ? classAt(cps, pos + 1, end) : f;
    if (f2 != 0 && (f2 & other) == 0) {
      let p = c == 0x20 ? pos + 1 : pos;
      while (true) {
        const g = classAt(cps, p, end);
        if (g == 0 || (g & other) != 0) break;
        p++;
      }
      while (cpAt(cps, p, end) == 0x0d || cpAt(cps, p, end) == 0x0a) p++;
      pos = p; ends.push(pos); continue;
    }
    // \s*[\r\n]+: white space up to its last line break
    let w = 0, lastBreak = -1;
    while ((classAt(cps, pos + w, end) & CP_SPACE) != 0) {
      const s = cps.at(pos + w);
      if (s == 0x0d || s == 0x0a) lastBreak = pos + w + 1;
      w++;
    }
    if (lastBreak > 0) { pos = lastBreak; ends.push(pos); continue; }
    pos = spaceRunEnd(cps, pos, end); ends.push(pos);
  }
}

function runEnd(cps: I32List, p: i32, end: i32, cls: u32): i32 {
  while (p < end && (cpClass(<u32>cps.at(p)) & cls) != 0) p++;
  return p;
}
