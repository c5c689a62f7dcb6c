// Minimal kernel log for drivers: one line at a time to the UART, also kept in a small
// ring so that probes can be inspected later (and by host tests). To be replaced by a
// shared kernel log once there is one.

import { uart_write } from "../platform";

const KEEP = 64;
const lines = new Array<string>();

export function klog(line: string): void {
  const bytes = String.UTF8.encode(line + "\n");
  uart_write(changetype<usize>(bytes), <usize>bytes.byteLength);
  if (lines.length >= KEEP) lines.shift();
  lines.push(line);
}

/** The last lines logged, oldest first, joined with newlines. */
export function klogRecent(): string { return lines.join("\n"); }
