// UTF-8 and code point helpers with llama.cpp's conventions, so that token ids match it
// exactly, invalid input included:
// - a lead byte's sequence length comes from its high nibble alone (continuation bytes
//   and stray bytes count as 1);
// - decoding to code points turns each byte of an invalid sequence into U+FFFD;
// - classes for the pre-tokenizers: letter, number, white space, mark (unicode_tables.ts).

import { CLASS_RUNS } from "./unicode_tables";
import { U8List, I32List } from "./buffers";

export const CP_LETTER: u32 = 1;
export const CP_NUMBER: u32 = 2;
export const CP_SPACE: u32 = 4;
export const CP_MARK: u32 = 8;
export const REPLACEMENT_CHAR: u32 = 0xfffd;

/** Bytes in the UTF-8 sequence that starts with byte b (1 for continuation bytes). */
@inline export function utf8SeqLen(b: u32): i32 {
  const hi = b >> 4;
  return hi < 12 ? 1 : hi < 14 ? 2 : hi == 14 ? 3 : 4;
}

/** Decodes [p, p+n) into code points; an invalid sequence yields U+FFFD for its first byte and resumes after it. */
export function decodeCodepoints(p: usize, n: i32, out: I32List): void {
  out.clear();
  let i = 0;
  while (i < n) {
    const b0 = <u32>load<u8>(p + <usize>i);
    if (b0 < 0x80) { out.push(<i32>b0); i++; continue; }
    let need = 0;
    let cp: u32 = 0;
    if ((b0 & 0x40) == 0) need = -1; // continuation byte without a lead
    else if ((b0 & 0x20) == 0) { need = 1; cp = b0 & 0x1f; }
    else if ((b0 & 0x10) == 0) { need = 2; cp = b0 & 0x0f; }
    else if ((b0 & 0x08) == 0) { need = 3; cp = b0 & 0x07; }
    else need = -1;
    let ok = need > 0 && i + need < n; // all continuation bytes must be inside the input
    if (ok) {
      for (let k = 1; k <= need; k++) {
        const c = <u32>load<u8>(p + <usize>(i + k));
        if ((c & 0xc0) != 0x80) { ok = false; break; }
        cp = (cp << 6) | (c & 0x3f);
      }
    }
    if (ok) { out.push(<i32>cp); i += need + 1; }
    else { out.push(<i32>REPLACEMENT_CHAR); i++; }
  }
}

/** Appends cp as UTF-8; values past U+10FFFF (possible from 4-byte decoding) become U+FFFD. */
export function encodeUtf8(cp: u32, out: U8List): void {
  if (cp < 0x80) { out.push(cp); return; }
  if (cp < 0x800) { out.push(0xc0 | (cp >> 6)); out.push(0x80 | (cp & 0x3f)); return; }
  if (cp > 0x10ffff) cp = REPLACEMENT_CHAR;
  if (cp < 0x10000) {
    out.push(0xe0 | (cp >> 12)); out.push(0x80 | ((cp >> 6) & 0x3f)); out.push(0x80 | (cp & 0x3f));
    return;
  }
  out.push(0xf0 | (cp >> 18)); out.push(0x80 | ((cp >> 12) & 0x3f));
  out.push(0x80 | ((cp >> 6) & 0x3f)); out.push(0x80 | (cp & 0x3f));
}

// ASCII classes looked up directly; everything else by binary search over the runs.
const ASCII_CLASS = new StaticArray<u8>(128);
function initAscii(): void {
  for (let c = 0; c < 128; c++) {
    let f: u32 = 0;
    if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) f = CP_LETTER;
    else if (c >= 0x30 && c <= 0x39) f = CP_NUMBER;
    else if (c == 0x20 || (c >= 0x09 && c <= 0x0d)) f = CP_SPACE;
    ASCII_CLASS[c] = <u8>f;
  }
}
initAscii();

/** Class flags of a code point (0 for none, and for values past U+10FFFF). */
export function cpClass(cp: u32): u32 {
  if (cp < 128) return <u32>unchecked(ASCII_CLASS[cp]);
  if (cp > 0x10ffff) return 0;
  let lo = 0, hi = CLASS_RUNS.length - 1;
  while (lo < hi) { // last run whose start <= cp
    const mid = (lo + hi + 1) >> 1;
    if ((unchecked(CLASS_RUNS[mid]) >> 4) <= cp) lo = mid; else hi = mid - 1;
  }
  return unchecked(CLASS_RUNS[lo]) & 15;
}

// GPT-2's reversible byte <-> printable character mapping: printable Latin-1 bytes stand
// for themselves, the other 68 bytes take code points 256, 257, ... in byte order.
const BYTE_TO_CP = new StaticArray<u16>(256);
const CP_TO_BYTE = new StaticArray<i16>(324);
function initByteMap(): void {
  for (let i = 0; i < 324; i++) CP_TO_BYTE[i] = -1;
  let next: u32 = 256;
  for (let b: u32 = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const cp = printable ? b : next++;
    BYTE_TO_CP[b] = <u16>cp;
    CP_TO_BYTE[cp] = <i16>b;
  }
}
initByteMap();

@inline export function byteToCp(b: u32): u32 { return <u32>unchecked(BYTE_TO_CP[b & 0xff]); }
/** The byte a GPT-2 character stands for, or -1. */
@inline export function cpToByte(cp: u32): i32 { return cp < 324 ? <i32>unchecked(CP_TO_BYTE[cp]) : -1; }
