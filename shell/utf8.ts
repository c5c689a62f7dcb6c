// UTF-8 validation one unit at a time, for input that arrives byte by byte.
// A "unit" is either one well-formed encoded character or one maximal ill-formed
// subpart, which is exactly what the WHATWG/Unicode decoders replace by one U+FFFD.

/**
 * The unit starting at p (with bytes available up to end, end > p):
 *   n > 0  a well-formed character of n bytes (ASCII, NUL included, is 1)
 *   n < 0  an ill-formed sequence of -n bytes
 *   0      a well-formed prefix cut off by end: more bytes may complete it
 */
export function utf8Unit(p: usize, end: usize): i32 {
  const b0 = <u32>load<u8>(p);
  if (b0 < 0x80) return 1;
  let need: i32;
  let lo: u32 = 0x80;
  let hi: u32 = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) need = 1;
  else if (b0 == 0xe0) { need = 2; lo = 0xa0; }          // no overlongs
  else if (b0 == 0xed) { need = 2; hi = 0x9f; }          // no surrogates
  else if (b0 >= 0xe1 && b0 <= 0xef) need = 2;
  else if (b0 == 0xf0) { need = 3; lo = 0x90; }          // no overlongs
  else if (b0 == 0xf4) { need = 3; hi = 0x8f; }          // nothing above U+10FFFF
  else if (b0 >= 0xf1 && b0 <= 0xf3) need = 3;
  else return -1;                                         // 80..C1, F5..FF never start a character
  for (let i = 1; i <= need; i++) {
    if (p + <usize>i >= end) return 0;
    const b = <u32>load<u8>(p + <usize>i);
    if (b < lo || b > hi) return -i;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

/** Offset of the first ill-formed (or truncated) unit in [p, p+len), or -1 if all is valid UTF-8. */
export function utf8FirstInvalid(p: usize, len: usize): isize {
  const end = p + len;
  let q = p;
  while (q < end) {
    const n = utf8Unit(q, end);
    if (n <= 0) return <isize>(q - p);
    q += <usize>n;
  }
  return -1;
}
