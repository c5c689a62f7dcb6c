// Number formatting shared by the kernel's log, the shell and the LLM backends:
// fixed-point, byte sizes, durations.

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
