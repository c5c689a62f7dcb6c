// The shell: runs a finished line (parse, look up, call the handler, prompt again) and
// brings the console back after a WebAssembly trap escaped a command.
//
// A command may take over input lines (llmctl chat): it hands a LineConsumer to
// takeInput(); from then on every line the editor finishes goes to the consumer (run like
// a command: Ctrl-C interrupts it, a trap is recovered), under the consumer's prompt,
// until the consumer returns false or a trap ends it. Then the shell has the lines again.
import { beginCommand, endCommand, ensureNewline, print, println, recoverAfterTrap } from "../kernel/console";
import * as log from "../kernel/log";
import { parseArgs } from "./args";
import { Completion, PROMPT, lineLength, linePtr, prompt, reset as resetEditor, setCompleter, setPrompt } from "./editor";
import { completeLine } from "./completion";
import { printable } from "./format";
import { FAIL, USAGE, findCommand, runRecoveryHooks } from "./registry";

// The command being run, for the trap message ("" between commands).
let current = "";
let commandsRun: u64 = 0;
let trapsRecovered: u64 = 0;

/** Takes over the lines the user types (see the file comment). */
export abstract class LineConsumer {
  /** Shown instead of "sis> " while it has the input. */
  abstract prompt(): string;
  /** Name in trap messages (the command it belongs to). */
  abstract name(): string;
  /** One finished line; returns false to give the input back to the shell. */
  abstract line(text: string): bool;
  /** A trap escaped line(): the consumer loses the input and drops its state. */
  abstract abandon(): void;
}

let consumer: LineConsumer | null = null;

// Tab completes shell words; a command holding the input (chat) takes text, not commands.
setCompleter((before: string): Completion => consumer == null ? completeLine(before) : new Completion(0, new Array<string>()));

/** From now on, lines go to `c` (its prompt is shown after the current command ends). */
export function takeInput(c: LineConsumer): void {
  consumer = c;
  setPrompt(c.prompt());
}

/** True while a command holds the input. */
export function inputTaken(): bool { return consumer != null; }

function releaseInput(): void {
  consumer = null;
  setPrompt(PROMPT);
}

/** Runs the line the editor just finished, then prints the next prompt. */
export function runEditorLine(): void {
  const line = String.UTF8.decodeUnsafe(linePtr(), <usize>lineLength());
  if (consumer == null) runLine(line); // (no extra frame on the way to a command)
  else consumerLine(line);
  ensureNewline();
  prompt();
}

/** What a boot command is shown after, so that it is not taken for a prompt awaiting input. */
export const BOOT_PROMPT = "boot> ";

/**
 * Runs a line that did not come from the keyboard (boot commands), shown after BOOT_PROMPT;
 * after the last one the prompt is printed: the first "sis> " means the shell waits for input.
 */
export function runQueuedLine(line: string, last: bool): void {
  print(BOOT_PROMPT);
  print(line);
  print("\n");
  if (consumer == null) runLine(line);
  else consumerLine(line);
  ensureNewline();
  if (last) prompt();
}

// A line for the command holding the input, run like a command.
function consumerLine(line: string): void {
  const c = consumer!;
  current = c.name();
  beginCommand();
  const keep = c.line(line);
  const dropped = endCommand();
  current = "";
  ensureNewline();
  if (!keep) releaseInput();
  if (dropped != 0) println("warning: " + dropped.toString() + " bytes typed meanwhile were dropped (input buffer full)");
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
    const w = args[0];
    if (w == "exit" || w == "quit" || w == "logout") {
      println("error: there is no shell to leave: 'poweroff' turns the machine off ('reboot' restarts it)");
    } else println("error: unknown command '" + printable(w) + "' (try 'help')");
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

/** What trapped: kind (low 8 bits) as kernel_recover numbers them, and the core it happened on
 *  when that was a worker (bits 8 and up: " on core N"). */
export function trapName(kind: i32): string {
  const core = kind >> 8;
  return trapKindName(kind & 0xff) + (core > 0 ? " on core " + core.toString() : "");
}

function trapKindName(kind: i32): string {
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
  const c = consumer;
  if (c != null) { c.abandon(); releaseInput(); }
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
