// The shell: runs a finished line (parse, look up, call the handler, prompt again) and
// brings the console back after a WebAssembly trap escaped a command.
import { beginCommand, endCommand, ensureNewline, print, println, recoverAfterTrap } from "../kernel/console";
import * as log from "../kernel/log";
import { parseArgs } from "./args";
import { lineLength, linePtr, prompt, reset as resetEditor } from "./editor";
import { printable } from "./format";
import { FAIL, USAGE, findCommand, runRecoveryHooks } from "./registry";

// The command being run, for the trap message ("" between commands).
let current = "";
let commandsRun: u64 = 0;
let trapsRecovered: u64 = 0;

/** Runs the line the editor just finished, then prints the next prompt. */
export function runEditorLine(): void {
  const line = String.UTF8.decodeUnsafe(linePtr(), <usize>lineLength());
  runLine(line);
  ensureNewline();
  prompt();
}

export function runLine(line: string): i32 {
  const parsed = parseArgs(line);
  if (parsed.error.length != 0) {
    println("error: " + parsed.error);
    return FAIL;
  }
  const args = parsed.args;
  if (args.length == 0) return 0;
  const cmd = findCommand(args[0]);
  if (cmd == null) {
    println("error: unknown command '" + printable(args[0]) + "' (try 'help')");
    return FAIL;
  }
  current = cmd.name;
  commandsRun++;
  beginCommand();
  const handler = cmd.handler;
  const rc = handler(args);
  const dropped = endCommand();
  current = "";
  ensureNewline();
  if (rc == USAGE) println("usage: " + cmd.usage);
  if (dropped != 0) {
    println("warning: " + dropped.toString() + " bytes typed during '" + cmd.name + "' were dropped (input buffer full)");
  }
  return rc;
}

export function trapName(kind: i32): string {
  switch (kind) {
    case 1: return "out-of-bounds memory access";
    case 2: return "integer divide by zero";
    case 3: return "integer overflow";
    case 4: return "invalid conversion to integer";
    case 5: return "unreachable executed";
    case 6: return "call stack exhausted";
    case 7: return "indirect call type mismatch or bad table index";
    case 8: return "other trap";
  }
  return "unknown trap kind " + kind.toString();
}

/**
 * After a trap escaped (the shadow stack pointer is already restored): reset the console,
 * the editor and in-command state, say what happened, prompt again. Type-ahead is kept.
 * The message is printed in pieces before anything is allocated for the log.
 */
export function recoverFromTrap(kind: i32): void {
  recoverAfterTrap();
  resetEditor();
  const name = current;
  current = "";
  trapsRecovered++;
  runRecoveryHooks();
  ensureNewline();
  if (name.length != 0) {
    print("error: command '");
    print(name);
    print("' trapped: ");
  } else {
    print("error: kernel trapped outside a command: ");
  }
  println(trapName(kind));
  log.record(log.ERROR, name.length != 0 ? "command '" + name + "' trapped: " + trapName(kind)
    : "trap outside a command: " + trapName(kind));
  prompt();
}

export function commandsRunCount(): u64 { return commandsRun; }
export function trapsRecoveredCount(): u64 { return trapsRecovered; }
