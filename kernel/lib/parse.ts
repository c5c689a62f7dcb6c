// Strict number parsing for words people type (shell options, LLM settings): no "12abc",
// no overflow, no silent truncation.

/** Strict unsigned decimal: digits only, at most `max`. Returns -1 when s is not such a number. */
export function parseUint(s: string, max: u64): i64 {
  if (s.length == 0 || s.length > 20) return -1;
  let v: u64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    const d = <u64>(c - 0x30);
    if (v > (u64.MAX_VALUE - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (v > max || v > <u64>i64.MAX_VALUE) return -1;
  return <i64>v;
}

/** Strict decimal number ("0.5", "-1", "1e-3", ".5"). Returns NaN when s is not one. */
export function parseNumber(s: string): f64 {
  const n = s.length;
  let i = 0;
  if (i < n && (s.charCodeAt(i) == 0x2b || s.charCodeAt(i) == 0x2d)) i++;
  let digits = 0;
  while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) { i++; digits++; }
  if (i < n && s.charCodeAt(i) == 0x2e) {
    i++;
    while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) { i++; digits++; }
  }
  if (digits == 0) return NaN;
  if (i < n && (s.charCodeAt(i) | 0x20) == 0x65) {
    i++;
    if (i < n && (s.charCodeAt(i) == 0x2b || s.charCodeAt(i) == 0x2d)) i++;
    let expDigits = 0;
    while (i < n && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) { i++; expDigits++; }
    if (expDigits == 0) return NaN;
  }
  if (i != n) return NaN;
  const v = parseFloat(s);
  return isFinite(v) ? v : NaN;
}
