// Splits input text around special tokens before the text is tokenized, as llama.cpp does:
// control, user-defined and unknown-type tokens are searched for as literal text, longest
// first; user-defined ones always, control and unknown ones only when the caller asks to
// parse special tokens. Tokens marked LSTRIP / RSTRIP swallow the ASCII white space before
// / after them.

import { Vocab, ATTR_CONTROL, ATTR_USER_DEFINED, ATTR_UNKNOWN, ATTR_LSTRIP, ATTR_RSTRIP } from "./vocab";
import { I32List } from "./buffers";

/** Ids of the tokens that may appear as literal text, longest text first (ties by id). */
export function specialTokenList(v: Vocab): Int32Array {
  const ids = new Array<i32>();
  for (let i = 0; i < v.n; i++) if ((v.attr(i) & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) != 0) ids.push(i);
  // insertion sort: the list is short (a few to a few hundred entries)
  for (let i = 1; i < ids.length; i++) {
    const id = ids[i], len = v.pieceLen(id);
    let j = i - 1;
    while (j >= 0 && (v.pieceLen(ids[j]) < len || (v.pieceLen(ids[j]) == len && ids[j] > id))) { ids[j + 1] = ids[j]; j--; }
    ids[j + 1] = id;
  }
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i];
  return out;
}

@inline function isAsciiSpace(b: u32): bool { return b == 0x20 || (b >= 0x09 && b <= 0x0d); }

/** First position >= from where the n bytes at needle occur in [text+from, text+end), or -1. */
function findBytes(text: usize, from: i32, end: i32, needle: usize, n: i32): i32 {
  if (n == 0) return -1;
  const first = load<u8>(needle);
  for (let i = from; i + n <= end; i++) {
    if (load<u8>(text + <usize>i) == first && memory.compare(text + <usize>i, needle, <usize>n) == 0) return i;
  }
  return -1;
}

/**
 * Fragments of [text, text+n): triples (token id, start, length) in `out`; id -1 marks raw text
 * still to be tokenized, any other id a special token found in the text.
 */
export function partitionSpecial(v: Vocab, specials: Int32Array, text: usize, n: i32, parseSpecial: bool,
                                 out: I32List, tmp: I32List): void {
  out.clear();
  out.push(-1); out.push(0); out.push(n);
  let cur = out, next = tmp;
  for (let s = 0; s < specials.length; s++) {
    const id = unchecked(specials[s]);
    const attr = v.attr(id);
    if (!parseSpecial && (attr & (ATTR_CONTROL | ATTR_UNKNOWN)) != 0) continue;
    const tp = v.piecePtr(id), tl = v.pieceLen(id);
    next.clear();
    for (let f = 0; f < cur.length; f += 3) {
      const fid = cur.at(f);
      let off = cur.at(f + 1), rem = cur.at(f + 2);
      if (fid >= 0) { next.push(fid); next.push(off); next.push(rem); continue; }
      while (rem > 0) {
        const m = findBytes(text, off, off + rem, tp, tl);
        if (m < 0) { next.push(-1); next.push(off); next.push(rem); break; }
        let left = m - off;
        if ((attr & ATTR_LSTRIP) != 0) while (left > 0 && isAsciiSpace(load<u8>(text + <usize>(off + left - 1)))) left--;
        if (left > 0) { next.push(-1); next.push(off); next.push(left); }
        next.push(id); next.push(m); next.push(tl);
        let rOff = m + tl, rLen = off + rem - rOff;
        if ((attr & ATTR_RSTRIP) != 0) while (rLen > 0 && isAsciiSpace(load<u8>(text + <usize>rOff))) { rOff++; rLen--; }
        off = rOff; rem = rLen;
      }
    }
    const t = cur; cur = next; next = t;
  }
  if (cur !== out) { // result ended up in tmp: copy back
    out.clear();
    for (let i = 0; i < cur.length; i++) out.push(cur.at(i));
  }
}
