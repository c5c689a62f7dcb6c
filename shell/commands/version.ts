// version: kernel name, version and how it was built.
import { println } from "../../kernel/console";
import { DESCRIPTION, NAME, VERSION, buildInfo } from "../../kernel/version";
import { OK, USAGE, registerCommand } from "../registry";

function version(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  println(NAME + " " + VERSION + " - " + DESCRIPTION);
  println("build: " + buildInfo());
  return OK;
}

registerCommand("version", "show the kernel version and build", "version", version);
