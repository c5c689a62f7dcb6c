// The serial console: UTF-8 output to platform.uart_write and an input ring fed from
// platform.uart_read. The ring exists so that a long-running command can poll for Ctrl-C
// (interruptRequested) without losing what the user types ahead meanwhile.
import { uart_read, uart_write } from "./platform";

// ---- output ---------------------------------------------------------------------------

// Output is staged in a small static buffer so that one print costs one uart_write, and
// flushed before every print returns (nothing lingers if a trap follows).
const OUT_SIZE: usize = 512;
const outBuf: usize = memory.data(512);
let outLen: usize = 0;
let lastByte: u32 = 0x0a; // starts "at the beginning of a line"

export function flush(): void {
  if (outLen != 0) {
    uart_write(outBuf, outLen);
    outLen = 0;
  }
}

function putRaw(b: u32): void {
  store<u8>(outBuf + outLen, <u8>b);
  outLen++;
  lastByte = b;
  if (outLen == OUT_SIZE) flush();
}

// Serial terminals need CR LF: a LF not already preceded by CR gets one (like ONLCR).
function put(b: u32): void {
  if (b == 0x0a && lastByte != 0x0d) putRaw(0x0d);
  putRaw(b);
}

function putCodePoint(c: u32): void {
  if (c < 0x80) {
    put(c);
  } else if (c < 0x800) {
    put(0xc0 | (c >> 6)); put(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    put(0xe0 | (c >> 12)); put(0x80 | ((c >> 6) & 0x3f)); put(0x80 | (c & 0x3f));
  } else {
    put(0xf0 | (c >> 18)); put(0x80 | ((c >> 12) & 0x3f)); put(0x80 | ((c >> 6) & 0x3f)); put(0x80 | (c & 0x3f));
  }
}

/** Prints an AssemblyScript (UTF-16) string as UTF-8; lone surrogates become U+FFFD. */
export function print(s: string): void {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    let c = <u32>s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < n) {
        const d = <u32>s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else c = 0xfffd;
      } else c = 0xfffd;
    }
    putCodePoint(c);
  }
  flush();
}

export function println(s: string): void {
  print(s);
  put(0x0a);
  flush();
}

/** Prints raw bytes (already UTF-8, e.g. echoed input or model output). */
export function printBytes(ptr: usize, len: usize): void {
  for (let i: usize = 0; i < len; i++) put(<u32>load<u8>(ptr + i));
  flush();
}

export function printU64(v: u64): void {
  const tmp = memory.data(24);
  let i = 0;
  do {
    store<u8>(tmp + i, <u8>(0x30 + <u32>(v % 10)));
    v /= 10;
    i++;
  } while (v != 0);
  while (i > 0) { i--; put(<u32>load<u8>(tmp + i)); }
  flush();
}

export function printI64(v: i64): void {
  if (v < 0) {
    put(0x2d);
    printU64(<u64>0 - <u64>v); // also right for i64.MIN_VALUE
  } else printU64(<u64>v);
}

/** True when the cursor is at the start of a line (the last byte printed was LF). */
export function atLineStart(): bool {
  return lastByte == 0x0a;
}

/** Starts a new line unless already at the start of one. */
export function ensureNewline(): void {
  if (lastByte != 0x0a) { put(0x0a); flush(); }
}

// ---- input ----------------------------------------------------------------------------

// Type-ahead received while a command runs. Indices grow monotonically; masked on access.
const RING_SIZE: u32 = 16384;
const RING_MASK: u32 = RING_SIZE - 1;
const ring: usize = memory.data(16384);
let ringHead: u32 = 0; // next byte to read
let ringTail: u32 = 0; // next free slot
let inCommand = false;
let interrupted = false;
let droppedBytes: u32 = 0;

// Bounds one poll so that a device that never stops sending cannot hang a command.
const MAX_POLL_BYTES: i32 = 1 << 20;

/** Next input byte: type-ahead first, then the UART. -1 when nothing is waiting. */
export function readByte(): i32 {
  if (ringHead != ringTail) {
    const b = <i32>load<u8>(ring + (ringHead & RING_MASK));
    ringHead++;
    return b;
  }
  const b = uart_read();
  return b < 0 ? -1 : b & 0xff;
}

/** True when bytes are waiting in the type-ahead ring. */
export function hasTypeAhead(): bool {
  return ringHead != ringTail;
}

/**
 * Moves every byte waiting in the UART into the type-ahead ring. While a command runs,
 * Ctrl-C (0x03) is not stored: it requests an interrupt and, as a tty does, discards the
 * type-ahead before it. Bytes that do not fit are dropped and counted.
 */
export function pollInput(): void {
  for (let n = 0; n < MAX_POLL_BYTES; n++) {
    const r = uart_read();
    if (r < 0) break;
    const b = <u32>(r & 0xff);
    if (inCommand && b == 0x03) {
      interrupted = true;
      ringHead = ringTail;
      continue;
    }
    if (ringTail - ringHead >= RING_SIZE) { droppedBytes++; continue; }
    store<u8>(ring + (ringTail & RING_MASK), <u8>b);
    ringTail++;
  }
}

/** For long-running commands: true once the user pressed Ctrl-C during this command. */
export function interruptRequested(): bool {
  pollInput();
  return interrupted;
}

/** Called by the shell around every command. */
export function beginCommand(): void {
  inCommand = true;
  interrupted = false;
  droppedBytes = 0;
}

/** Ends command mode; returns how many type-ahead bytes were dropped because the ring was full. */
export function endCommand(): u32 {
  inCommand = false;
  interrupted = false;
  const d = droppedBytes;
  droppedBytes = 0;
  return d;
}

/** After a trap escaped a command: leave command mode, emit any staged output. Type-ahead is kept. */
export function recoverAfterTrap(): void {
  flush();
  inCommand = false;
  interrupted = false;
  droppedBytes = 0;
}
