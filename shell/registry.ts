// The command registry. A command file (shell/commands/*.ts) registers itself at module
// start, e.g.
//     registerCommand("echo", "print the arguments", "echo [WORD...]", echo);
// and is listed once in shell/commands/index.ts; the dispatcher never changes.
// A handler gets the parsed words (args[0] is the command name) and returns OK, FAIL,
// or USAGE (the shell then prints the command's usage line).

export type CommandHandler = (args: Array<string>) => i32;
/** Tab completion of a command's arguments: the words before the one being typed (words[0]
 *  is the command), and that word so far; returns whole words that may replace it
 *  (shell/completion.ts filters them by prefix). */
export type ArgCompleter = (words: Array<string>, word: string) => Array<string>;
export type RecoveryHook = () => void;

export const OK: i32 = 0;
export const FAIL: i32 = 1;
export const USAGE: i32 = 2;

export class Command {
  constructor(
    public name: string,
    /** One line for `help`. */
    public summary: string,
    /** Synopsis for `help NAME` and usage errors; may span lines. */
    public usage: string,
    public handler: CommandHandler,
  ) {}
  /** Completes arguments (setArgCompleter); without one, words starting with / or . are paths. */
  completer: ArgCompleter | null = null;
}

// Created on first use so that registration does not depend on module start order.
let commands: Array<Command> | null = null;
let hooks: Array<RecoveryHook> | null = null;
let duplicates: Array<string> | null = null;

function table(): Array<Command> {
  let t = commands;
  if (t == null) { t = new Array<Command>(); commands = t; }
  return t;
}

/** Adds a command, keeping the table sorted by name. A second command with the same name is refused. */
export function registerCommand(name: string, summary: string, usage: string, handler: CommandHandler): void {
  const t = table();
  let i = 0;
  while (i < t.length && t[i].name < name) i++;
  if (i < t.length && t[i].name == name) {
    let d = duplicates;
    if (d == null) { d = new Array<string>(); duplicates = d; }
    d.push(name);
    return;
  }
  const c = new Command(name, summary, usage, handler);
  t.push(c);
  for (let j = t.length - 1; j > i; j--) t[j] = t[j - 1];
  t[i] = c;
}

/** Gives a registered command its argument completion. */
export function setArgCompleter(name: string, c: ArgCompleter): void {
  const cmd = findCommand(name);
  if (cmd != null) cmd.completer = c;
}

export function findCommand(name: string): Command | null {
  const t = table();
  for (let i = 0; i < t.length; i++) if (t[i].name == name) return t[i];
  return null;
}

/** Every command, sorted by name. */
export function allCommands(): Array<Command> {
  return table();
}

/** Every command's name, sorted (Tab completion). */
export function commandNames(): Array<string> {
  const t = table();
  const out = new Array<string>();
  for (let i = 0; i < t.length; i++) out.push(t[i].name);
  return out;
}

/** Names registered twice (the later ones were refused); reported in the boot log. */
export function duplicateCommands(): Array<string> {
  const d = duplicates;
  return d == null ? new Array<string>() : d;
}

/** Code that holds in-command state registers a hook to reset it after a trap. */
export function onTrapRecovery(hook: RecoveryHook): void {
  let h = hooks;
  if (h == null) { h = new Array<RecoveryHook>(); hooks = h; }
  h.push(hook);
}

export function runRecoveryHooks(): void {
  const h = hooks;
  if (h == null) return;
  for (let i = 0; i < h.length; i++) {
    const f = h[i];
    f();
  }
}
