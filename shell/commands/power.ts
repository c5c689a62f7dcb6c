// poweroff / reboot: PSCI SYSTEM_OFF / SYSTEM_RESET through the platform. Neither returns
// on hardware; if one does, that is reported instead of pretending.
import { println } from "../../kernel/console";
import * as log from "../../kernel/log";
import { power_off, reset } from "../../kernel/platform";
import { FAIL, USAGE, registerCommand } from "../registry";

function poweroff(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  log.info("power: system off");
  power_off();
  println("error: power off returned (PSCI SYSTEM_OFF did not take effect)");
  return FAIL;
}

function reboot(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  log.info("power: system reset");
  reset();
  println("error: reset returned (PSCI SYSTEM_RESET did not take effect)");
  return FAIL;
}

registerCommand("poweroff", "turn the machine off", "poweroff", poweroff);
registerCommand("reboot", "restart the machine", "reboot", reboot);
