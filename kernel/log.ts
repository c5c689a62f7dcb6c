// The kernel log: levelled lines stamped with the time since boot,
//   [   0.123] info: message
// kept in a ring of recent lines (the shell's `log` command) and printed to the console
// as they are logged when at or above the console level.
import { time_ns } from "./platform";
import { ensureNewline, println } from "./console";

export const DEBUG: i32 = 0;
export const INFO: i32 = 1;
export const WARN: i32 = 2;
export const ERROR: i32 = 3;

const RING_LINES: i32 = 128;
const lines = new Array<string>();
let nextSlot: i32 = 0;     // where the next line goes once the ring is full
let totalLines: u64 = 0;   // lines ever logged
let consoleLevel: i32 = INFO;

export function levelName(level: i32): string {
  switch (level) {
    case DEBUG: return "debug";
    case INFO: return "info";
    case WARN: return "warn";
    case ERROR: return "error";
  }
  return "level" + level.toString();
}

/** "debug" | "info" | "warn" | "error" -> level, or -1. */
export function parseLevel(name: string): i32 {
  if (name == "debug") return DEBUG;
  if (name == "info") return INFO;
  if (name == "warn") return WARN;
  if (name == "error") return ERROR;
  return -1;
}

export function setConsoleLevel(level: i32): void {
  if (level >= DEBUG && level <= ERROR) consoleLevel = level;
}

export function getConsoleLevel(): i32 {
  return consoleLevel;
}

/** "[   0.123]": seconds since boot, milliseconds, the integer part padded to 4. */
export function timestamp(ns: u64): string {
  const ms = ns / 1000000;
  let sec = (ms / 1000).toString();
  while (sec.length < 4) sec = " " + sec;
  let frac = (ms % 1000).toString();
  while (frac.length < 3) frac = "0" + frac;
  return "[" + sec + "." + frac + "]";
}

function remember(line: string): void {
  if (lines.length < RING_LINES) lines.push(line);
  else {
    lines[nextSlot] = line;
    nextSlot = (nextSlot + 1) % RING_LINES;
  }
  totalLines++;
}

/** Logs one line: kept in the ring, and printed when level >= the console level. */
export function log(level: i32, msg: string): void {
  const line = timestamp(time_ns()) + " " + levelName(level) + ": " + msg;
  remember(line);
  if (level >= consoleLevel) {
    ensureNewline();
    println(line);
  }
}

/** Keeps a line in the ring without printing it (for messages already shown another way). */
export function record(level: i32, msg: string): void {
  remember(timestamp(time_ns()) + " " + levelName(level) + ": " + msg);
}

export function debug(msg: string): void { log(DEBUG, msg); }
export function info(msg: string): void { log(INFO, msg); }
export function warn(msg: string): void { log(WARN, msg); }
export function error(msg: string): void { log(ERROR, msg); }

/** The most recent `max` lines (all kept lines when max <= 0), oldest first. */
export function recent(max: i32): Array<string> {
  const out = new Array<string>();
  const n = lines.length;
  const count = max <= 0 || max > n ? n : max;
  const start = lines.length < RING_LINES ? 0 : nextSlot; // index of the oldest line
  for (let i = n - count; i < n; i++) out.push(lines[(start + i) % n]);
  return out;
}

/** Lines logged since boot (including those the ring no longer holds). */
export function linesLogged(): u64 {
  return totalLines;
}
