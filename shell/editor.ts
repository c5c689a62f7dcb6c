// The line editor: turns console bytes into lines, with echo.
//   printable input and UTF-8 are echoed; backspace (0x7f/0x08) deletes one character;
//   Ctrl-U kills the line, Ctrl-W the last word; Ctrl-C cancels it (^C, new prompt);
//   CR, LF and CR LF each end a line exactly once; escape sequences (arrow keys...) are
//   swallowed whole; other control bytes are ignored.
// Only valid lines leave the editor: a line longer than LINE_MAX bytes is discarded up
// to its end, and a line holding NUL or ill-formed UTF-8 is refused, each with a message.
import { print, printBytes, println } from "../kernel/console";
import { utf8Unit } from "./utf8";

export const LINE_MAX: i32 = 4096;
export const PROMPT = "sis> ";

// The prompt shown now: PROMPT, or that of a command holding the input (shell/shell.ts).
let currentPrompt = PROMPT;

export const FEED_MORE: i32 = 0; // keep feeding
export const FEED_LINE: i32 = 1; // a valid line is ready: linePtr()/lineLength()

// What the user sees for each stored unit, so that erasing removes exactly that.
const K_TEXT: u8 = 0;    // one well-formed character, echoed as is (1 column)
const K_INVALID: u8 = 1; // an ill-formed UTF-8 sequence, echoed as U+FFFD (1 column)
const K_NUL: u8 = 2;     // NUL, echoed as ^@ (2 columns)
const K_TAB: u8 = 3;     // TAB, echoed as a space (1 column)

const buf: usize = memory.data(4096);         // the line, UTF-8
const unitStart: usize = memory.data(4096 * 2); // u16 offset of each unit
const unitKind: usize = memory.data(4096);    // u8 kind of each unit
let len: i32 = 0;
let units: i32 = 0;
let pending: i32 = 0;      // start of a UTF-8 sequence still waiting for bytes (== len if none)
let discarding = false;    // the line outgrew LINE_MAX: drop everything up to its end
let discarded: i32 = 0;
let lineDone = false;      // the last line was handed out; the next byte starts a new one
let swallowLF = false;     // the last line ended with CR: a LF right after it belongs to it

// escape sequence state
const ESC_NONE: i32 = 0;
const ESC_START: i32 = 1; // after ESC
const ESC_CSI: i32 = 2;   // after ESC [
const ESC_SS3: i32 = 3;   // after ESC O
const ESC_MAX: i32 = 32;  // longer "sequences" are garbage: give up on them
let esc: i32 = ESC_NONE;
let escLen: i32 = 0;

export function prompt(): void {
  print(currentPrompt);
}

/** Changes the prompt (a command taking over input lines shows its own, e.g. "you> "). */
export function setPrompt(p: string): void {
  currentPrompt = p;
}

export function linePtr(): usize { return buf; }
export function lineLength(): i32 { return len; }

function clearLine(): void {
  len = 0;
  units = 0;
  pending = 0;
  discarding = false;
  discarded = 0;
  lineDone = false;
}

/** Forgets the line being edited and any escape sequence (after a trap); CR LF pairing is kept. */
export function reset(): void {
  clearLine();
  esc = ESC_NONE;
  escLen = 0;
}

function pushUnit(start: i32, kind: u8): void {
  store<u16>(unitStart + (<usize>units << 1), <u16>start);
  store<u8>(unitKind + <usize>units, kind);
  units++;
}

function echoUnit(start: i32, n: i32, kind: u8): void {
  if (kind == K_TEXT) printBytes(buf + <usize>start, <usize>n);
  else if (kind == K_INVALID) print("\uFFFD");
  else if (kind == K_NUL) print("^@");
  else print(" ");
}

// Turns the stored bytes from `pending` on into units, echoing each as it completes.
function settle(): void {
  while (pending < len) {
    const b0 = load<u8>(buf + <usize>pending);
    let n: i32 = 1;
    let kind = K_TEXT;
    if (b0 == 0) kind = K_NUL;
    else if (b0 == 0x09) kind = K_TAB;
    else {
      n = utf8Unit(buf + <usize>pending, buf + <usize>len);
      if (n == 0) return; // wait for the rest of the character
      if (n < 0) { n = -n; kind = K_INVALID; }
    }
    pushUnit(pending, kind);
    echoUnit(pending, n, kind);
    pending += n;
  }
}

// A character cut short by something that is not part of it is ill-formed.
function closePending(): void {
  if (pending < len) {
    pushUnit(pending, K_INVALID);
    echoUnit(pending, len - pending, K_INVALID);
    pending = len;
  }
}

function storeByte(b: u32): void {
  if (discarding) { discarded++; return; }
  if (len >= LINE_MAX) { discarding = true; discarded = 1; return; }
  store<u8>(buf + <usize>len, <u8>b);
  len++;
  settle();
}

function eraseColumns(n: i32): void {
  for (let i = 0; i < n; i++) print("\b \b");
}

// Removes the last unit; returns false when the line is empty.
function popUnit(): bool {
  if (units == 0) return false;
  units--;
  const start = <i32>load<u16>(unitStart + (<usize>units << 1));
  const kind = load<u8>(unitKind + <usize>units);
  len = start;
  pending = len;
  eraseColumns(kind == K_NUL ? 2 : 1);
  return true;
}

function lastUnitIsSpace(): bool {
  if (units == 0) return false;
  const kind = load<u8>(unitKind + <usize>(units - 1));
  if (kind == K_TAB) return true;
  const start = <i32>load<u16>(unitStart + (<usize>(units - 1) << 1));
  return kind == K_TEXT && load<u8>(buf + <usize>start) == 0x20;
}

function backspace(): void {
  if (discarding) return; // the line is lost anyway; only its end (or ^C/^U) matters
  if (pending < len) { len = pending; return; } // an unfinished character was never echoed
  popUnit();
}

function killWord(): void {
  if (discarding) return;
  if (pending < len) len = pending;
  while (lastUnitIsSpace()) popUnit();
  while (units > 0 && !lastUnitIsSpace()) popUnit();
}

function killLine(): void {
  if (len == 0 && !discarding) return;
  print("\r\x1b[K" + currentPrompt);
  clearLine();
}

function cancelLine(): void {
  println("^C");
  clearLine();
  prompt();
}

// The message for a line the shell must not see, or "" when it is fine.
function lineProblem(): string {
  if (discarding) {
    return "line too long (" + (len + discarded).toString() + " bytes, limit " + LINE_MAX.toString() + ")";
  }
  for (let i = 0; i < units; i++) {
    const kind = load<u8>(unitKind + <usize>i);
    const at = <i32>load<u16>(unitStart + (<usize>i << 1));
    if (kind == K_NUL) return "NUL byte in line at position " + (at + 1).toString() + "; line ignored";
    if (kind == K_INVALID) {
      const b = <u32>load<u8>(buf + <usize>at);
      return "invalid UTF-8 in line (byte 0x" + (b < 0x10 ? "0" : "") + b.toString(16) + " at position " +
        (at + 1).toString() + "); line ignored";
    }
  }
  return "";
}

function endLine(): i32 {
  closePending();
  print("\n");
  lineDone = true;
  const problem = lineProblem();
  if (problem.length != 0) {
    println("error: " + problem);
    prompt();
    return FEED_MORE;
  }
  return FEED_LINE;
}

// Returns true when b was part of an escape sequence (consumed).
function escape(b: u32): bool {
  if (esc == ESC_START) {
    if (b == 0x5b) { esc = ESC_CSI; escLen = 0; return true; }   // ESC [
    if (b == 0x4f) { esc = ESC_SS3; escLen = 0; return true; }   // ESC O
    esc = ESC_NONE;
    return b >= 0x20 && b < 0x7f; // Alt+key: drop both; a control byte is handled normally
  }
  if (b >= 0x40 && b <= 0x7e) { esc = ESC_NONE; return true; }   // final byte
  if (b >= 0x20 && b <= 0x3f && ++escLen <= ESC_MAX) return true; // parameters, intermediates
  esc = ESC_NONE;
  return b >= 0x20 && b < 0x7f;
}

/** Feeds one input byte. Returns FEED_LINE when a valid line is ready. */
export function feed(byte: i32): i32 {
  const b = <u32>(byte & 0xff);
  if (lineDone) clearLine();
  if (swallowLF) {
    swallowLF = false;
    if (b == 0x0a) return FEED_MORE;
  }
  if (esc != ESC_NONE && escape(b)) return FEED_MORE;
  switch (b) {
    case 0x0d: swallowLF = true; return endLine();
    case 0x0a: return endLine();
    case 0x03: cancelLine(); break;
    case 0x15: killLine(); break;
    case 0x17: killWord(); break;
    case 0x08: case 0x7f: backspace(); break;
    case 0x1b: if (!discarding) closePending(); esc = ESC_START; break;
    case 0x00: case 0x09: storeByte(b); break;
    default: {
      if (b >= 0x20) storeByte(b);
      else if (!discarding) closePending(); // other control bytes are ignored
    }
  }
  return FEED_MORE;
}
