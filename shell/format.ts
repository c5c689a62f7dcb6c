// Number formatting for command output (sizes, fixed-point, durations).

export { bytes, fixed, ms } from "../kernel/lib/format";

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
