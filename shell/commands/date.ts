// date: the wall-clock time (UTC) from the machine's real-time clock.
import { println } from "../../kernel/console";
import { wallClockSeconds } from "../../kernel/drivers/rtc_pl031";
import { formatDateTime } from "../../kernel/lib/date";
import { FAIL, OK, USAGE, registerCommand } from "../registry";

function date(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  const s = wallClockSeconds();
  if (s < 0) { println("error: this machine has no real-time clock (PL031) the kernel can read"); return FAIL; }
  println(formatDateTime(s));
  return OK;
}

registerCommand("date", "show the date and time (UTC, from the real-time clock)", "date", date);
