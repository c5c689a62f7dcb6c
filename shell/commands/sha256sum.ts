// Commands that stream whole files through the VFS:
//   sha256sum PATH...   SHA-256 of each file, printed as the host's sha256sum does
//   readfile PATH       reads a file to the end without using the data: read throughput
// Both read in large chunks straight from the block device (kernel/block/cache.ts lets
// aligned reads bypass the cache), show progress for big files on one updating line,
// and stop cleanly on Ctrl-C.
import { interruptRequested, print, println } from "../../kernel/console";
import { Stat, FT_DIR } from "../../kernel/fs/fs";
import { vfs } from "../../kernel/fs/vfs";
import { Sha256 } from "../../kernel/lib/sha256";
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { time_ns } from "../../kernel/platform";
import { bytes, fixed, printable } from "../format";
import { fsError } from "./fs";
import { FAIL, OK, USAGE, onTrapRecovery, registerCommand } from "../registry";

/** Bytes read per VFS call (the buffer is a region, so the device DMAs straight into it). */
export const CHUNK: usize = 8 * 1024 * 1024;
/** Files at least this big show progress. */
const PROGRESS_MIN: u64 = 32 * 1024 * 1024;
const PROGRESS_EVERY_NS: u64 = 500_000_000;

let buf: usize = 0;
let openFd: i32 = -1;

function release(): void {
  if (openFd >= 0) { vfs.close(openFd); openFd = -1; }
  if (buf != 0) { freeRegion(buf); buf = 0; }
}

/** MB/s (10^6 bytes per second). */
export function mbps(n: u64, ns: u64): string {
  return ns == 0 ? "-" : fixed(<f64>n * 1000 / <f64>ns, 1);
}

class Stream {
  error: string = "";
  interrupted: bool = false;
  done: u64 = 0;
  size: u64 = 0;
  ns: u64 = 0;
}

/**
 * Reads `path` to the end in CHUNK pieces; `hash` (when not null) sees every byte.
 * Shows "\r<cmd>: <path>: 37% (...)" while it runs for big files and erases it at the end.
 */
function stream(cmd: string, path: string, hash: Sha256 | null): Stream {
  const s = new Stream();
  const o = vfs.open(path);
  if (o.error.length) { s.error = o.error; return s; }
  openFd = o.fd;
  const st = new Stat();
  const e = vfs.fstat(o.fd, st);
  if (e.length) { s.error = e; release(); return s; }
  if (st.type == FT_DIR) { s.error = path + ": is a directory"; release(); return s; }
  s.size = st.size;
  if (buf == 0) buf = allocRegion(<u64>CHUNK);
  if (buf == 0) { s.error = "out of memory for a " + bytes(<u64>CHUNK) + " read buffer"; release(); return s; }
  const progress = st.size >= PROGRESS_MIN;
  let shown = false;
  const t0 = time_ns();
  let last = t0;
  while (true) {
    const r = vfs.read(o.fd, buf, CHUNK);
    if (r.error.length) { s.error = r.error; break; }
    if (r.bytes == 0) break;
    if (hash != null) hash.update(buf, <usize>r.bytes);
    s.done += r.bytes;
    if (interruptRequested()) { s.interrupted = true; break; }
    if (progress) {
      const now = time_ns();
      if (now - last >= PROGRESS_EVERY_NS) {
        last = now;
        shown = true;
        const p = s.size == 0 ? 100 : s.done * 100 / s.size;
        print("\r" + cmd + ": " + printable(path) + ": " + p.toString() + "% (" + bytes(s.done) + " of " + bytes(s.size) + ", " +
          mbps(s.done, now - t0) + " MB/s)\x1b[K");
      }
    }
  }
  s.ns = time_ns() - t0;
  if (shown) print("\r\x1b[K");
  release();
  return s;
}

/** The name as the host's sha256sum prints it: a leading backslash when \ or newline had to be escaped. */
export function checksumLine(hex: string, name: string): string {
  if (name.indexOf("\\") < 0 && name.indexOf("\n") < 0 && name.indexOf("\r") < 0) return hex + "  " + name;
  const escaped = name.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll("\r", "\\r");
  return "\\" + hex + "  " + escaped;
}

function interruptedLine(cmd: string, path: string, s: Stream): void {
  println("^C");
  println(cmd + ": " + printable(path) + ": interrupted after " + bytes(s.done) + " of " + bytes(s.size));
}

function sha256sum(args: Array<string>): i32 {
  if (args.length < 2) return USAGE;
  let rc = OK;
  for (let i = 1; i < args.length; i++) {
    const path = args[i];
    const h = new Sha256();
    const s = stream("sha256sum", path, h);
    if (s.interrupted) { interruptedLine("sha256sum", path, s); return FAIL; }
    if (s.error.length) { fsError(path, s.error); rc = FAIL; continue; }
    println(checksumLine(h.finish(), path));
  }
  return rc;
}

function readfile(args: Array<string>): i32 {
  if (args.length != 2) return USAGE;
  const path = args[1];
  const s = stream("readfile", path, null);
  if (s.interrupted) { interruptedLine("readfile", path, s); return FAIL; }
  if (s.error.length) { fsError(path, s.error); return FAIL; }
  println(printable(path) + ": read " + s.done.toString() + " bytes (" + bytes(s.done) + ") in " + fixed(<f64>s.ns / 1e9, 3) +
    " s, " + mbps(s.done, s.ns) + " MB/s");
  return OK;
}

onTrapRecovery(release);

registerCommand("sha256sum", "print the SHA-256 of files (as the host's sha256sum does)", "sha256sum PATH...", sha256sum);
registerCommand("readfile", "read a file to the end and report the read throughput", "readfile PATH", readfile);
