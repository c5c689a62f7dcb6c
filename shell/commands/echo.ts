// echo: prints its arguments separated by single spaces.
import { println } from "../../kernel/console";
import { OK, registerCommand } from "../registry";

function echo(args: Array<string>): i32 {
  println(args.slice(1).join(" "));
  return OK;
}

registerCommand("echo", "print the arguments", "echo [WORD...]   (\"...\" keeps spaces; \\n \\t \\\" \\\\ inside quotes)", echo);
