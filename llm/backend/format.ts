// Number formatting for the backends' report lines (llm/ does not import the shell).

/** v with exactly `decimals` digits after the point, rounded half away from zero. */
export function fixed(v: f64, decimals: i32): string {
  if (!isFinite(v)) return isNaN(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  const neg = v < 0;
  if (neg) v = -v;
  let scale: f64 = 1;
  for (let i = 0; i < decimals; i++) scale *= 10;
  const scaled = Math.floor(v * scale + 0.5);
  if (scaled >= 1.8e19) return (neg ? "-" : "") + v.toString();
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
export function ms(ns: u64): string { return fixed(<f64>ns / 1e6, 3); }

/** Tokens per second, one decimal ("-" when nothing was timed). */
export function rate(tokens: i64, ns: u64): string {
  if (ns == 0 || tokens <= 0) return "-";
  return fixed(<f64>tokens * 1e9 / <f64>ns, 1);
}

/** A percentage with one decimal. */
export function percent(part: u64, whole: u64): string {
  return whole == 0 ? "-" : fixed(<f64>part * 100 / <f64>whole, 1) + "%";
}

/** Parameters as "14.53 M" / "1.10 B". */
export function count(n: u64): string {
  if (n >= 1000000000) return fixed(<f64>n / 1e9, 2) + " B";
  if (n >= 1000000) return fixed(<f64>n / 1e6, 2) + " M";
  if (n >= 1000) return fixed(<f64>n / 1e3, 2) + " K";
  return n.toString();
}

/** s padded with spaces to `width` (left-aligned). */
export function pad(s: string, width: i32): string { return s.padEnd(width); }

/** s padded with spaces on the left to `width`. */
export function lpad(s: string, width: i32): string { return s.padStart(width); }
