// Byte strings: an AssemblyScript string holding one char per byte (0..255). Code that
// mirrors C++ std::string processing (the JSON schema converter) works on these, so that
// lengths, indices, character classes and sort orders are those of the UTF-8 bytes.

/** The bytes [p, p+n) as a byte string. */
export function byteString(p: usize, n: usize): string {
  if (n == 0) return "";
  const out = changetype<string>(__new(n << 1, idof<string>()));
  const o = changetype<usize>(out);
  for (let i: usize = 0; i < n; i++) store<u16>(o + (i << 1), <u16>load<u8>(p + i));
  return out;
}

/** Text (UTF-16) as the byte string of its UTF-8 encoding (a lone surrogate becomes U+FFFD). */
export function utf8Bytes(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) { ascii = false; break; }
  if (ascii) return text;
  const buf = encodeUtf8(text);
  return byteString(changetype<usize>(buf.buffer) + <usize>buf.byteOffset, <usize>buf.length);
}

/** UTF-8 of text; a lone surrogate is written as U+FFFD. */
export function encodeUtf8(text: string): Uint8Array {
  const n = text.length;
  let size = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) size += 1;
    else if (c < 0x800) size += 2;
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < n && text.charCodeAt(i + 1) >= 0xdc00 && text.charCodeAt(i + 1) < 0xe000) { size += 4; i++; }
    else size += 3;
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (let i = 0; i < n; i++) {
    let c = <u32>text.charCodeAt(i);
    if (c < 0x80) { out[o++] = <u8>c; continue; }
    if (c < 0x800) { out[o++] = <u8>(0xc0 | (c >> 6)); out[o++] = <u8>(0x80 | (c & 0x3f)); continue; }
    if (c >= 0xd800 && c < 0xe000) {
      const d = i + 1 < n ? <u32>text.charCodeAt(i + 1) : 0;
      if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
        out[o++] = <u8>(0xf0 | (c >> 18)); out[o++] = <u8>(0x80 | ((c >> 12) & 0x3f));
        out[o++] = <u8>(0x80 | ((c >> 6) & 0x3f)); out[o++] = <u8>(0x80 | (c & 0x3f));
        continue;
      }
      c = 0xfffd;
    }
    out[o++] = <u8>(0xe0 | (c >> 12)); out[o++] = <u8>(0x80 | ((c >> 6) & 0x3f)); out[o++] = <u8>(0x80 | (c & 0x3f));
  }
  return out;
}

/** A byte string's bytes. */
export function bytesOf(b: string): Uint8Array {
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = <u8>b.charCodeAt(i);
  return out;
}

/** Length of the well-formed UTF-8 sequence at [p, p+n) starting at byte 0 (RFC 3629), or 0 if it is not one. */
export function utf8SequenceLength(p: usize, n: usize): i32 {
  const b0 = <u32>load<u8>(p);
  if (b0 < 0x80) return 1;
  let len = 0, lo: u32 = 0x80, hi: u32 = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) len = 2;
  else if (b0 == 0xe0) { len = 3; lo = 0xa0; }
  else if (b0 >= 0xe1 && b0 <= 0xec) len = 3;
  else if (b0 == 0xed) { len = 3; hi = 0x9f; }
  else if (b0 >= 0xee && b0 <= 0xef) len = 3;
  else if (b0 == 0xf0) { len = 4; lo = 0x90; }
  else if (b0 >= 0xf1 && b0 <= 0xf3) len = 4;
  else if (b0 == 0xf4) { len = 4; hi = 0x8f; }
  else return 0;
  if (<usize>len > n) return 0;
  const b1 = <u32>load<u8>(p + 1);
  if (b1 < lo || b1 > hi) return 0;
  for (let i = 2; i < len; i++) {
    const b = <u32>load<u8>(p + <usize>i);
    if (b < 0x80 || b > 0xbf) return 0;
  }
  return len;
}

/** A byte string read as UTF-8 text; each byte that starts no well-formed sequence becomes U+FFFD. */
export function textOfBytes(b: string): string {
  let ascii = true;
  for (let i = 0; i < b.length; i++) if (b.charCodeAt(i) >= 0x80) { ascii = false; break; }
  if (ascii) return b;
  const bytes = bytesOf(b);
  const p = changetype<usize>(bytes.buffer);
  const n = <usize>bytes.length;
  const parts = new Array<string>();
  let run: usize = 0, i: usize = 0;
  while (i < n) {
    const len = utf8SequenceLength(p + i, n - i);
    if (len > 0) { i += <usize>len; continue; }
    if (i > run) parts.push(String.UTF8.decodeUnsafe(p + run, i - run));
    parts.push("\uFFFD");
    i++;
    run = i;
  }
  if (n > run) parts.push(String.UTF8.decodeUnsafe(p + run, n - run));
  return parts.join("");
}
