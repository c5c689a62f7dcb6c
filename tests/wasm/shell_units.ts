// Test entry for the shell's pure parts: argument parser, number parsing, UTF-8 units,
// formatting. Strings cross as UTF-8: the test writes into inputBuffer(n), calls a
// function with the length, and reads a result from resultPtr()/resultLen().
import { parseArgs, parseNumber, parseUint } from "../../shell/args";
import { utf8FirstInvalid, utf8Unit } from "../../shell/utf8";
import { bytes, fixed, hms, printable } from "../../shell/format";
import { formatDayMonthYear, formatDateTime } from "../../kernel/lib/date";

let input = new ArrayBuffer(0);
let result = new ArrayBuffer(0);

export function inputBuffer(n: i32): usize {
  input = new ArrayBuffer(n);
  return changetype<usize>(input);
}
export function resultPtr(): usize { return changetype<usize>(result); }
export function resultLen(): i32 { return result.byteLength; }

function inputString(len: i32): string {
  return String.UTF8.decodeUnsafe(changetype<usize>(input), <usize>len);
}
function setResult(s: string): void {
  result = String.UTF8.encode(s);
}

/** Parses the input line: returns the word count with the words joined by NUL, or -1 with the error. */
export function parse(len: i32): i32 {
  const r = parseArgs(inputString(len));
  if (r.error.length != 0) { setResult(r.error); return -1; }
  setResult(r.args.join("\0"));
  return r.args.length;
}

export function uintOf(len: i32, max: u64): i64 { return parseUint(inputString(len), max); }
export function numberOf(len: i32): f64 { return parseNumber(inputString(len)); }

export function fixedOf(v: f64, decimals: i32): void { setResult(fixed(v, decimals)); }
export function bytesOf(n: u64): void { setResult(bytes(n)); }
export function hmsOf(s: u64): void { setResult(hms(s)); }
export function dateOf(secs: i64): void { setResult(formatDayMonthYear(secs)); }
export function dateTimeOf(secs: i64): void { setResult(formatDateTime(secs)); }
export function printableOf(len: i32): void { setResult(printable(inputString(len))); }

/** Decodes the input bytes unit by unit, each ill-formed unit as U+FFFD; returns how many were ill-formed. */
export function replaceDecode(len: i32): i32 {
  const p = changetype<usize>(input);
  const end = p + <usize>len;
  const out = new ArrayBuffer(len * 3 + 3);
  const o = changetype<usize>(out);
  let n: usize = 0;
  let bad = 0;
  let q = p;
  while (q < end) {
    let u = utf8Unit(q, end);
    if (u == 0) u = -<i32>(end - q); // cut off by the end of input: ill-formed
    if (u > 0) {
      memory.copy(o + n, q, <usize>u);
      n += <usize>u;
      q += <usize>u;
    } else {
      store<u8>(o + n, 0xef); store<u8>(o + n + 1, 0xbf); store<u8>(o + n + 2, 0xbd);
      n += 3;
      q += <usize>(-u);
      bad++;
    }
  }
  result = out.slice(0, <i32>n);
  return bad;
}

export function firstInvalid(len: i32): i32 {
  return <i32>utf8FirstInvalid(changetype<usize>(input), <usize>len);
}
