// Report-line formatting for the backends (llm/ does not import the shell); the numeric
// basics come from kernel/lib/format.

export { bytes, fixed, ms } from "../../kernel/lib/format";
import { fixed } from "../../kernel/lib/format";

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
