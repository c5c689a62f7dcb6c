// log: shows recent kernel log lines, or shows/sets the level printed on the console.
import { println } from "../../kernel/console";
import * as log from "../../kernel/log";
import { parseUint } from "../args";
import { printable } from "../format";
import { FAIL, OK, USAGE, registerCommand } from "../registry";

function logCmd(args: Array<string>): i32 {
  if (args.length == 1 || (args.length == 2 && args[1] != "level")) {
    let max: i32 = 0;
    if (args.length == 2) {
      const n = parseUint(args[1], 1000000);
      if (n <= 0) {
        println("error: '" + printable(args[1]) + "' is not a line count (a number from 1)");
        return FAIL;
      }
      max = <i32>n;
    }
    const lines = log.recent(max);
    for (let i = 0; i < lines.length; i++) println(lines[i]);
    return OK;
  }
  if (args[1] != "level" || args.length > 3) return USAGE;
  if (args.length == 2) {
    println("console log level: " + log.levelName(log.getConsoleLevel()));
    return OK;
  }
  const level = log.parseLevel(args[2]);
  if (level < 0) {
    println("error: unknown log level '" + printable(args[2]) + "' (debug, info, warn, error)");
    return FAIL;
  }
  log.setConsoleLevel(level);
  println("console log level: " + log.levelName(level));
  return OK;
}

registerCommand("log", "show recent kernel log lines, or the console log level",
  "log [N]                  the last N lines (default: all kept)\n       log level [debug|info|warn|error]", logCmd);
