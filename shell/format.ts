// Number formatting for command output (sizes, fixed-point, durations).

/** v with exactly `decimals` digits after the point, rounded half away from zero. */
export function fixed(v: f64, decimals: i32): string {
  if (!isFinite(v)) return isNaN(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  const neg = v < 0;
  if (neg) v = -v;
  let scale: f64 = 1;
  for (let i = 0; i < decimals; i++) scale *= 10;
  const scaled = Math.floor(v * scale + 0.5);
  if (scaled >= 1.8e19) return (neg ? "-" : "") + v.toString(); // beyond u64: let dtoa do it
  const n = <u64>scaled;
  const s = <u64>scale;
  let out = (n / s).toString();
  if (decimals > 0) {
    let frac = (n % s).toString();
    while (frac.length < decimals) frac = "0" + frac;
    out += "." + frac;
  }
  return neg && n != 0 ? "-" + out : out;
}

/** "512 B", "1.5 KiB", "12.0 MiB", "4.0 GiB". */
export function bytes(n: u64): string {
  if (n < 1024) return n.toString() + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = <f64>n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return fixed(v, 1) + " " + units[u];
}

/** Nanoseconds as milliseconds with 3 decimals. */
export function ms(ns: u64): string {
  return fixed(<f64>ns / 1e6, 3);
}

/** Whole seconds as H:MM:SS (hours grow as needed). */
export function hms(seconds: u64): string {
  const h = seconds / 3600;
  const m = (seconds / 60) % 60;
  const s = seconds % 60;
  return h.toString() + ":" + (m < 10 ? "0" : "") + m.toString() + ":" + (s < 10 ? "0" : "") + s.toString();
}

/** s with control characters shown as \xNN, for echoing user input inside messages. */
export function printable(s: string): string {
  let clean = true;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20 || s.charCodeAt(i) == 0x7f) { clean = false; break; }
  if (clean) return s;
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x7f) out += "\\x" + (c < 0x10 ? "0" : "") + c.toString(16);
    else out += String.fromCharCode(c);
  }
  return out;
}
