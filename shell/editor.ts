// The line editor: turns console bytes into lines, with echo, editing inside the line,
// history and completion, as a VT100/xterm terminal sends its keys.
//   text and UTF-8 are inserted at the cursor and echoed; Left/Right (Ctrl-B/F), Home/End
//   (Ctrl-A/E), Ctrl-Left/Right (a word); Backspace (0x7f/0x08) and Delete (Ctrl-D) remove
//   one character; Ctrl-U kills the line, Ctrl-K to its end, Ctrl-W the word before the
//   cursor; Ctrl-L redraws it; Up/Down (Ctrl-P/N) walk the history (the last HISTORY_MAX
//   lines); Tab completes the word before the cursor (shell/completion.ts; a second Tab lists
//   the choices); Ctrl-C cancels the line (^C, new prompt); CR, LF and CR LF each end a line
//   exactly once. Escape sequences are parsed byte by byte, so a key split across reads is
//   still one key; unknown ones are swallowed whole; other control bytes are ignored.
// Only valid lines leave the editor: a line longer than LINE_MAX bytes is discarded up
// to its end, and a line holding NUL or ill-formed UTF-8 is refused, each with a message.
// Every character counts as one column (NUL two: ^@); wide characters and lines longer than
// the terminal can make the cursor look off after editing inside them, never the text.
import { print, printBytes, println } from "../kernel/console";
import { utf8Unit } from "./utf8";

export const LINE_MAX: i32 = 4096;
export const PROMPT = "sis> ";
export const HISTORY_MAX: i32 = 100;

// The prompt shown now: PROMPT, or that of a command holding the input (shell/shell.ts).
let currentPrompt = PROMPT;

export const FEED_MORE: i32 = 0; // keep feeding
export const FEED_LINE: i32 = 1; // a valid line is ready: linePtr()/lineLength()

// What the user sees for each stored unit, so that erasing removes exactly that.
const K_TEXT: u8 = 0;    // one well-formed character, echoed as is (1 column)
const K_INVALID: u8 = 1; // an ill-formed UTF-8 sequence, echoed as U+FFFD (1 column)
const K_NUL: u8 = 2;     // NUL, echoed as ^@ (2 columns)
const K_TAB: u8 = 3;     // TAB inside quotes, echoed as a space (1 column)

const buf: usize = memory.data(LINE_MAX);              // the line, UTF-8
const unitStart: usize = memory.data(LINE_MAX * 2);    // u16 offset of each unit
const unitKind: usize = memory.data(LINE_MAX);         // u8 kind of each unit
let len: i32 = 0;          // bytes in buf
let units: i32 = 0;        // units in buf
let cursor: i32 = 0;       // the unit the cursor stands on (units: at the end)
const pend: usize = memory.data(4);  // a UTF-8 character still waiting for bytes
let pendLen: i32 = 0;
let discarding = false;    // the line outgrew LINE_MAX: drop everything up to its end
let discarded: i32 = 0;
let lineDone = false;      // the last line was handed out; the next byte starts a new one
let swallowLF = false;     // the last line ended with CR: a LF right after it belongs to it
let lastWasTab = false;    // a second Tab in a row lists the choices
let tailStale = false;     // text inserted inside the line was echoed over its tail (showTail)

// escape sequence state
const ESC_NONE: i32 = 0;
const ESC_START: i32 = 1; // after ESC
const ESC_CSI: i32 = 2;   // after ESC [
const ESC_SS3: i32 = 3;   // after ESC O
const ESC_MAX: i32 = 32;  // longer "sequences" are garbage: give up on them
let esc: i32 = ESC_NONE;
let escLen: i32 = 0;
let escParam: i32 = 0;    // the first numeric parameter of a CSI sequence
let escParams: i32 = 0;   // how many parameters (';' separated) were started

// history: oldest first; browsing replaces the line, the one being typed is kept aside
const history = new Array<string>();
let historyPos: i32 = 0;  // == history.length: on the line being typed
let typedLine = "";

/** Completion: given the line up to the cursor, the words that may replace its last word. */
export class Completion {
  constructor(
    /** Where the word being completed starts in the text given to the completer (a string index). */
    public wordStart: i32,
    /** Whole replacements for that word; a directory ends with "/" (no space is added). */
    public words: Array<string>,
  ) {}
}
export type Completer = (before: string) => Completion;
let completer: Completer | null = null;

/** Installs the completer Tab asks (shell/completion.ts). */
export function setCompleter(c: Completer): void { completer = c; }

export function prompt(): void {
  print(currentPrompt);
}

/** Changes the prompt (a command taking over input lines shows its own, e.g. "you> "). */
export function setPrompt(p: string): void {
  currentPrompt = p;
}

export function linePtr(): usize { return buf; }
export function lineLength(): i32 { return len; }

/** The lines kept in the history, oldest first (the `history` command). */
export function historyLines(): Array<string> { return history; }

function clearLine(): void {
  len = 0;
  units = 0;
  cursor = 0;
  pendLen = 0;
  discarding = false;
  discarded = 0;
  lineDone = false;
  lastWasTab = false;
  tailStale = false;
}

/** Forgets the line being edited and any escape sequence (after a trap); CR LF pairing is kept. */
export function reset(): void {
  clearLine();
  esc = ESC_NONE;
  escLen = 0;
  historyPos = history.length;
}

// ---- units ---------------------------------------------------------------------------

@inline function startOf(u: i32): i32 { return u < units ? <i32>load<u16>(unitStart + (<usize>u << 1)) : len; }
@inline function kindOf(u: i32): u8 { return load<u8>(unitKind + <usize>u); }
@inline function columns(kind: u8): i32 { return kind == K_NUL ? 2 : 1; }

function echoUnit(u: i32): void {
  const kind = kindOf(u);
  if (kind == K_TEXT) printBytes(buf + <usize>startOf(u), <usize>(startOf(u + 1) - startOf(u)));
  else if (kind == K_INVALID) print("\uFFFD");
  else if (kind == K_NUL) print("^@");
  else print(" ");
}

function columnsBetween(a: i32, b: i32): i32 {
  let n = 0;
  for (let u = a; u < b; u++) n += columns(kindOf(u));
  return n;
}

function moveLeft(cols: i32): void {
  if (cols == 1) print("\b");
  else if (cols > 1) print("\x1b[" + cols.toString() + "D");
}

// Prints the units from the cursor to the end, clears what was beyond, and puts the
// terminal's cursor back on the editor's.
function redrawTail(): void {
  for (let u = cursor; u < units; u++) echoUnit(u);
  print("\x1b[K");
  moveLeft(columnsBetween(cursor, units));
}

/** Redraws the rest of the line after text was inserted inside it. Deferred to the end of
 *  the input at hand (kernel_poll, when no byte is left) or to the next key that is not text:
 *  a paste inside a long line is then drawn once, not once per character (N²/2 characters
 *  for an N-byte paste). */
export function showTail(): void {
  if (!tailStale) return;
  tailStale = false;
  redrawTail();
}

/** Inserts bytes [p, p+n) as one unit of `kind` at the cursor; false when the line is full. */
function insertUnit(p: usize, n: i32, kind: u8): bool {
  if (len + n > LINE_MAX) {
    discarding = true;
    discarded = n;
    return false;
  }
  const at = startOf(cursor);
  memory.copy(buf + <usize>(at + n), buf + <usize>at, <usize>(len - at));
  memory.copy(buf + <usize>at, p, <usize>n);
  for (let u = units; u > cursor; u--) {
    store<u16>(unitStart + (<usize>u << 1), <u16>(<i32>load<u16>(unitStart + (<usize>(u - 1) << 1)) + n));
    store<u8>(unitKind + <usize>u, load<u8>(unitKind + <usize>(u - 1)));
  }
  store<u16>(unitStart + (<usize>cursor << 1), <u16>at);
  store<u8>(unitKind + <usize>cursor, kind);
  units++;
  len += n;
  echoUnit(cursor);
  cursor++;
  if (cursor < units) tailStale = true;
  return true;
}

/** Removes units [a, b) (the cursor must be at a), redrawing what follows. */
function removeUnits(a: i32, b: i32): void {
  if (b <= a) return;
  const from = startOf(a), to = startOf(b), n = to - from;
  memory.copy(buf + <usize>from, buf + <usize>to, <usize>(len - to));
  for (let u = b; u < units; u++) {
    store<u16>(unitStart + (<usize>(u - (b - a)) << 1), <u16>(<i32>load<u16>(unitStart + (<usize>u << 1)) - n));
    store<u8>(unitKind + <usize>(u - (b - a)), load<u8>(unitKind + <usize>u));
  }
  const erased = columnsBetween(a, b);
  units -= b - a;
  len -= n;
  if (cursor == units && erased <= 2) { for (let i = 0; i < erased; i++) print(" "); moveLeft(erased); }
  else redrawTail();
}

function cursorTo(u: i32): void {
  if (u < cursor) moveLeft(columnsBetween(u, cursor));
  else for (let v = cursor; v < u; v++) echoUnit(v);
  cursor = u;
}

// ---- input bytes -------------------------------------------------------------------------

// Turns pending bytes into a unit as soon as they form a character (or cannot).
function settle(): void {
  while (pendLen > 0) {
    let n = utf8Unit(pend, pend + <usize>pendLen);
    if (n == 0) return; // wait for the rest of the character
    let kind = K_TEXT;
    if (n < 0) { n = -n; kind = K_INVALID; }
    if (!insertUnit(pend, n, kind)) { discarded += pendLen - n; pendLen = 0; return; }
    memory.copy(pend, pend + <usize>n, <usize>(pendLen - n));
    pendLen -= n;
  }
}

// A character cut short by something that is not part of it is ill-formed.
function closePending(): void {
  if (pendLen > 0) {
    insertUnit(pend, pendLen, K_INVALID);
    pendLen = 0;
  }
}

function storeByte(b: u32): void {
  if (discarding) { discarded++; return; }
  if (b == 0) { closePending(); store<u8>(pend, 0); insertUnit(pend, 1, K_NUL); return; }
  store<u8>(pend + <usize>pendLen, <u8>b);
  pendLen++;
  settle();
}

function isSpace(u: i32): bool {
  const kind = kindOf(u);
  return kind == K_TAB || (kind == K_TEXT && load<u8>(buf + <usize>startOf(u)) == 0x20);
}

// ---- editing keys ------------------------------------------------------------------------

function backspace(): void {
  if (discarding) return; // the line is lost anyway; only its end (or ^C/^U) matters
  if (pendLen > 0) { pendLen = 0; return; } // an unfinished character was never echoed
  if (cursor == 0) return;
  if (cursor == units) {
    // at the end: the plain "\b \b" every terminal understands
    const cols = columns(kindOf(cursor - 1));
    len = startOf(cursor - 1);
    units--;
    cursor--;
    for (let i = 0; i < cols; i++) print("\b \b");
    return;
  }
  cursorTo(cursor - 1);
  removeUnits(cursor, cursor + 1);
}

function deleteAtCursor(): void {
  if (discarding) return;
  closePending();
  if (cursor < units) removeUnits(cursor, cursor + 1);
}

function wordLeft(): i32 {
  let u = cursor;
  while (u > 0 && isSpace(u - 1)) u--;
  while (u > 0 && !isSpace(u - 1)) u--;
  return u;
}

function wordRight(): i32 {
  let u = cursor;
  while (u < units && isSpace(u)) u++;
  while (u < units && !isSpace(u)) u++;
  return u;
}

function killWord(): void {
  if (discarding) return;
  closePending();
  const to = cursor;
  const from = wordLeft();
  if (from == to) return;
  cursorTo(from);
  removeUnits(from, to);
}

function killToEnd(): void {
  if (discarding) return;
  closePending();
  if (cursor == units) return;
  len = startOf(cursor);
  units = cursor;
  print("\x1b[K");
}

// Shows the prompt and the whole line again, the cursor where it was.
function redrawLine(): void {
  print("\r\x1b[K" + currentPrompt);
  const at = cursor;
  cursor = 0;
  for (let u = 0; u < units; u++) echoUnit(u);
  cursor = units;
  cursorTo(at);
}

function killLine(): void {
  if (len == 0 && pendLen == 0 && !discarding) return;
  clearLine();
  print("\r\x1b[K" + currentPrompt);
}

function cancelLine(): void {
  cursorTo(units);
  println("^C");
  clearLine();
  historyPos = history.length;
  prompt();
}

/** Replaces the line with `text` (history), the cursor at its end. */
function replaceLine(text: string): void {
  clearLine();
  print("\r\x1b[K" + currentPrompt);
  insertText(text);
}

function lineText(): string {
  return String.UTF8.decodeUnsafe(buf, <usize>len);
}

function historyUp(): void {
  if (discarding || historyPos == 0) return;
  if (historyPos == history.length) typedLine = lineText();
  historyPos--;
  replaceLine(history[historyPos]);
}

function historyDown(): void {
  if (discarding || historyPos >= history.length) return;
  historyPos++;
  replaceLine(historyPos == history.length ? typedLine : history[historyPos]);
}

function remember(line: string): void {
  if (line.trim().length == 0) return;
  if (history.length > 0 && history[history.length - 1] == line) return;
  if (history.length == HISTORY_MAX) history.shift();
  history.push(line);
}

// True when the cursor is inside an open "..." or '...' (shell/args.ts).
function insideQuotes(): bool {
  const end = startOf(cursor);
  let open: u8 = 0; // the quote that is open, or 0
  for (let i = 0; i < end; i++) {
    const c = load<u8>(buf + <usize>i);
    if (open == 0x22 && c == 0x5c) { i++; continue; } // \" and \\ inside double quotes
    if (open == 0 && (c == 0x22 || c == 0x27)) open = c;
    else if (c == open) open = 0;
  }
  return open != 0;
}

function insertText(s: string): void {
  const bytes = String.UTF8.encode(s);
  const p = changetype<usize>(bytes);
  for (let i = 0; i < bytes.byteLength; i++) storeByte(<u32>load<u8>(p + <usize>i));
  closePending();
  showTail();
}

function commonPrefix(words: Array<string>): string {
  let p = words[0];
  for (let i = 1; i < words.length; i++) {
    const w = words[i];
    let n = 0;
    while (n < p.length && n < w.length && p.charCodeAt(n) == w.charCodeAt(n)) n++;
    p = p.substring(0, n);
  }
  return p;
}

function complete(twice: bool): void {
  const c = completer;
  if (c == null || discarding) return;
  closePending();
  const before = String.UTF8.decodeUnsafe(buf, <usize>startOf(cursor));
  const r = c(before);
  if (r.words.length == 0) return;
  const word = before.substring(r.wordStart);
  const prefix = commonPrefix(r.words);
  if (r.words.length == 1) {
    const w = r.words[0];
    insertText(w.substring(word.length) + (w.endsWith("/") ? "" : " "));
    return;
  }
  if (prefix.length > word.length) { insertText(prefix.substring(word.length)); return; }
  if (!twice) return;
  // the choices, in columns under the line, then the line again
  let width = 0;
  for (let i = 0; i < r.words.length; i++) width = max(width, r.words[i].length);
  width += 2;
  const perRow = max(1, 80 / width);
  print("\n");
  for (let i = 0; i < r.words.length; i++) {
    const w = r.words[i];
    print(w);
    if ((i + 1) % perRow == 0 || i + 1 == r.words.length) print("\n");
    else print(" ".repeat(width - w.length));
  }
  redrawLine();
}

function endLine(): i32 {
  closePending();
  cursorTo(units);
  print("\n");
  lineDone = true;
  const problem = lineProblem();
  if (problem.length == 0) remember(lineText());
  historyPos = history.length;
  if (problem.length != 0) {
    println("error: " + problem);
    prompt();
    return FEED_MORE;
  }
  return FEED_LINE;
}

// The message for a line the shell must not see, or "" when it is fine.
function lineProblem(): string {
  if (discarding) {
    return "line too long (" + (len + discarded).toString() + " bytes, limit " + LINE_MAX.toString() + ")";
  }
  for (let i = 0; i < units; i++) {
    const kind = kindOf(i);
    const at = startOf(i);
    if (kind == K_NUL) return "NUL byte in line at position " + (at + 1).toString() + "; line ignored";
    if (kind == K_INVALID) {
      const b = <u32>load<u8>(buf + <usize>at);
      return "invalid UTF-8 in line (byte 0x" + (b < 0x10 ? "0" : "") + b.toString(16) + " at position " +
        (at + 1).toString() + "); line ignored";
    }
  }
  return "";
}

// ---- escape sequences ----------------------------------------------------------------------

// A complete key from an escape sequence: CSI/SS3 final byte `f` with the first parameter
// and the parameter count (modifiers are the second parameter: Ctrl-Left is ESC [ 1 ; 5 D).
function escapeKey(f: u32, param: i32, params: i32): void {
  if (discarding) return;
  closePending();
  const word = params >= 2; // a modified arrow: move by words
  if (f == 0x41) historyUp();                                   // A: Up
  else if (f == 0x42) historyDown();                            // B: Down
  else if (f == 0x43) cursorTo(word ? wordRight() : min(units, cursor + 1)); // C: Right
  else if (f == 0x44) cursorTo(word ? wordLeft() : max(0, cursor - 1));      // D: Left
  else if (f == 0x48) cursorTo(0);                              // H: Home
  else if (f == 0x46) cursorTo(units);                          // F: End
  else if (f == 0x7e) {                                         // ~: ESC [ n ~
    if (param == 1 || param == 7) cursorTo(0);                  // Home
    else if (param == 4 || param == 8) cursorTo(units);         // End
    else if (param == 3) deleteAtCursor();                      // Delete
  }
}

// Returns true when b was part of an escape sequence (consumed).
function escape(b: u32): bool {
  if (esc == ESC_START) {
    if (b == 0x5b) { esc = ESC_CSI; escLen = 0; escParam = 0; escParams = 0; return true; } // ESC [
    if (b == 0x4f) { esc = ESC_SS3; escLen = 0; escParam = 0; escParams = 0; return true; } // ESC O
    esc = ESC_NONE;
    if (b == 0x62) { if (!discarding) { closePending(); cursorTo(wordLeft()); } return true; }  // Alt-b
    if (b == 0x66) { if (!discarding) { closePending(); cursorTo(wordRight()); } return true; } // Alt-f
    return b >= 0x20 && b < 0x7f; // other Alt+key: drop both; a control byte is handled normally
  }
  if (b >= 0x40 && b <= 0x7e) { esc = ESC_NONE; escapeKey(b, escParam, escParams); return true; } // final byte
  if (b >= 0x20 && b <= 0x3f && ++escLen <= ESC_MAX) {          // parameters, intermediates
    if (b >= 0x30 && b <= 0x39) {
      if (escParams == 0) escParams = 1;
      if (escParams == 1 && escParam < 10000) escParam = escParam * 10 + <i32>(b - 0x30);
    } else if (b == 0x3b) escParams++;
    return true;
  }
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
  if (tailStale && (esc != ESC_NONE || b < 0x20 || b == 0x7f)) showTail(); // a key, not text
  if (esc != ESC_NONE && escape(b)) return FEED_MORE;
  const tab = b == 0x09;
  const twice = tab && lastWasTab;
  lastWasTab = tab;
  switch (b) {
    case 0x0d: swallowLF = true; return endLine();
    case 0x0a: return endLine();
    case 0x03: cancelLine(); break;
    case 0x01: if (!discarding) { closePending(); cursorTo(0); } break;        // Ctrl-A
    case 0x05: if (!discarding) { closePending(); cursorTo(units); } break;    // Ctrl-E
    case 0x02: if (!discarding) { closePending(); cursorTo(max(0, cursor - 1)); } break;     // Ctrl-B
    case 0x06: if (!discarding) { closePending(); cursorTo(min(units, cursor + 1)); } break; // Ctrl-F
    case 0x04: deleteAtCursor(); break;                                          // Ctrl-D
    case 0x0b: killToEnd(); break;                                               // Ctrl-K
    case 0x0c: if (!discarding) { print("\x1b[H\x1b[2J"); redrawLine(); } break; // Ctrl-L: clear the screen
    case 0x10: if (!discarding) { closePending(); historyUp(); } break;          // Ctrl-P
    case 0x0e: if (!discarding) { closePending(); historyDown(); } break;        // Ctrl-N
    case 0x15: killLine(); break;                                                // Ctrl-U
    case 0x17: killWord(); break;                                                // Ctrl-W
    case 0x08: case 0x7f: backspace(); break;
    case 0x1b: if (!discarding) closePending(); esc = ESC_START; break;
    case 0x00: storeByte(b); break;
    case 0x09: {
      if (discarding) break;
      closePending();
      if (insideQuotes()) { store<u8>(pend, 0x09); insertUnit(pend, 1, K_TAB); }
      else complete(twice);
      break;
    }
    default: {
      if (b >= 0x20) storeByte(b);
      else if (!discarding) closePending(); // other control bytes are ignored
    }
  }
  return FEED_MORE;
}
