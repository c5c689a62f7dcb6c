// history: the lines typed at the prompt that the line editor keeps (Up/Down walk them).
import { println } from "../../kernel/console";
import { historyLines, HISTORY_MAX } from "../editor";
import { parseUint } from "../args";
import { printable } from "../format";
import { OK, USAGE, registerCommand } from "../registry";

function history(args: Array<string>): i32 {
  if (args.length > 2) return USAGE;
  const lines = historyLines();
  let n = lines.length;
  if (args.length == 2) {
    const v = parseUint(args[1], <u64>HISTORY_MAX);
    if (v < 0) return USAGE;
    n = min(n, <i32>v);
  }
  for (let i = lines.length - n; i < lines.length; i++) {
    println((i + 1).toString().padStart(4) + "  " + printable(lines[i]));
  }
  return OK;
}

registerCommand("history", "list the last lines typed (Up/Down recall them, Tab completes)",
  "history [N]     (the last N lines; up to " + HISTORY_MAX.toString() + " are kept)", history);
