// The machine's cores as the shim started them (boot/smp.c, platform.cpu_state): how many
// there are, how many are online, and why any one is not.
import { cpu_state } from "./platform";

export class Cores {
  present: i32 = 0;
  online: i32 = 0;
  /** "; core N did not start (...), left out" for each core that is not online. */
  failures: string = "";
}

export function cores(): Cores {
  const c = new Cores();
  for (let i: u32 = 0; i < 256; i++) {
    const s = cpu_state(i);
    if (s == 0) break;
    c.present++;
    if (s == 1) { c.online++; continue; }
    c.failures += "; core " + i.toString() + " did not start (" + (s == -1000 ? "it never reported in" : "PSCI error " + s.toString()) + "), left out";
  }
  return c;
}
