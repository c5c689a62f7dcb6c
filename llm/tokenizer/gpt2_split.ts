// The GPT-2 pre-tokenizer, written out by hand (no regex engine here). It splits the code
// points of a text into words by the rules of
//     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// trying the alternatives in order at each position, like a backtracking regex engine.

import { I32List } from "./buffers";
import { cpClass, CP_LETTER, CP_NUMBER, CP_SPACE } from "./unicode";

const IN_RANGE: u32 = 8; // set for every code point inside the text, so 0 means "past the end"

/** Appends to `ends` the (exclusive) end index of each word of cps[0..n). */
export function gpt2Split(cps: I32List, ends: I32List): void {
  ends.clear();
  const n = cps.length;
  let pos = 0;
  while (pos < n) {
    const c = cps.at(pos);
    // 's 't 're 've 'm 'll 'd
    if (c == 0x27 && pos + 1 < n) {
      const c1 = cps.at(pos + 1);
      if (c1 == 0x73 || c1 == 0x74 || c1 == 0x6d || c1 == 0x64) { pos += 2; ends.push(pos); continue; }
      if (pos + 2 < n) {
        const c2 = cps.at(pos + 2);
        if ((c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6c && c2 == 0x6c)) { pos += 3; ends.push(pos); continue; }
      }
    }
    // an optional single space, then a run of one class
    const lead = c == 0x20 ? pos + 1 : pos;
    const f = classAt(cps, lead, n);
    if ((f & CP_LETTER) != 0) { pos = runEnd(cps, lead, n, CP_LETTER); ends.push(pos); continue; }
    if ((f & CP_NUMBER) != 0) { pos = runEnd(cps, lead, n, CP_NUMBER); ends.push(pos); continue; }
    if (f != 0 && (f & (CP_LETTER | CP_NUMBER | CP_SPACE)) == 0) {
      let p = lead;
      while (true) {
        const g = classAt(cps, p, n);
        if (g == 0 || (g & (CP_LETTER | CP_NUMBER | CP_SPACE)) != 0) break;
        p++;
      }
      pos = p; ends.push(pos); continue;
    }
    // white space: \s+(?!\S) leaves the last space to start the next word, unless the run ends the text
    let w = 0;
    while ((classAt(cps, pos + w, n) & CP_SPACE) != 0) w++;
    if (w > 1 && pos + w < n) { pos += w - 1; ends.push(pos); continue; }
    if (w > 0) { pos += w; ends.push(pos); continue; }
    pos++; ends.push(pos); // nothing matched: a single code point
  }
}

@inline function classAt(cps: I32List, i: i32, n: i32): u32 {
  return i < n ? cpClass(<u32>cps.at(i)) | IN_RANGE : 0;
}

function runEnd(cps: I32List, p: i32, n: i32, cls: u32): i32 {
  while (p < n && (cpClass(<u32>cps.at(p)) & cls) != 0) p++;
  return p;
}
