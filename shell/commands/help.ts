// help: lists every registered command with its one line; `help CMD` shows its usage.
import { println } from "../../kernel/console";
import { printable } from "../format";
import { FAIL, OK, USAGE, allCommands, commandNames, findCommand, registerCommand, setArgCompleter } from "../registry";

function help(args: Array<string>): i32 {
  if (args.length == 1) {
    const all = allCommands();
    let width = 0;
    for (let i = 0; i < all.length; i++) if (all[i].name.length > width) width = all[i].name.length;
    println("commands:");
    for (let i = 0; i < all.length; i++) println("  " + all[i].name.padEnd(width) + "  " + all[i].summary);
    println("type 'help COMMAND' for its usage");
    return OK;
  }
  if (args.length != 2) return USAGE;
  const cmd = findCommand(args[1]);
  if (cmd == null) {
    println("error: unknown command '" + printable(args[1]) + "' (try 'help')");
    return FAIL;
  }
  println(cmd.name + ": " + cmd.summary);
  println("usage: " + cmd.usage);
  return OK;
}

registerCommand("help", "list commands, or show how to use one", "help [COMMAND]", help);
setArgCompleter("help", (words: Array<string>, word: string): Array<string> =>
  words.length == 1 ? commandNames() : new Array<string>());
