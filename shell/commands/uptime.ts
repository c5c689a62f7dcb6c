// uptime: time since boot (the platform timer).
import { println } from "../../kernel/console";
import { time_ns } from "../../kernel/platform";
import { fixed, hms } from "../format";
import { OK, USAGE, registerCommand } from "../registry";

function uptime(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  const ns = time_ns();
  println("up " + hms(ns / 1000000000) + " (" + fixed(<f64>(ns / 1000000) / 1000, 3) + " s since boot)");
  return OK;
}

registerCommand("uptime", "show the time since boot", "uptime", uptime);
