// File-system commands over the kernel's VFS (kernel/fs/vfs.ts):
//   ls [PATH]      entries with type and size
//   stat PATH      one object in detail
//   cat PATH       a small text file (binary and large files are refused)
//   mounts         the mount table
//   df [-h]        size, use and free space of each mounted disk
// Paths are absolute or relative to "/". The models disk is mounted at /models at boot
// (kernel/storage.ts); when it is missing, errors about /models say why.
import { printBytes, println } from "../../kernel/console";
import { Stat, StatFs, FT_DIR, FT_REG, FT_LNK, FT_CHR, FT_BLK, FT_FIFO, FT_SOCK } from "../../kernel/fs/fs";
import { vfs } from "../../kernel/fs/vfs";
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { explainMissing, storageStatus } from "../../kernel/storage";
import { bytes, printable } from "../format";
import { utf8FirstInvalid } from "../utf8";
import { FAIL, OK, USAGE, onTrapRecovery, registerCommand } from "../registry";

/** Largest file `cat` prints. */
export const CAT_MAX: u64 = 64 * 1024;

/** Prints "error: MESSAGE", with the reason /models is missing when that is why. */
export function fsError(path: string, message: string): void {
  println("error: " + printable(explainMissing(path, message)));
}

export function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : dir + "/" + name;
}

export function typeWord(t: u8): string {
  switch (t) {
    case FT_REG: return "file";
    case FT_DIR: return "dir";
    case FT_LNK: return "link";
    case FT_CHR: return "char";
    case FT_BLK: return "block";
    case FT_FIFO: return "fifo";
    case FT_SOCK: return "sock";
  }
  return "?";
}

function typeLong(t: u8): string {
  switch (t) {
    case FT_REG: return "regular file";
    case FT_DIR: return "directory";
    case FT_LNK: return "symbolic link";
    case FT_CHR: return "character device";
    case FT_BLK: return "block device";
    case FT_FIFO: return "fifo";
    case FT_SOCK: return "socket";
  }
  return "unknown type";
}

/** "-rw-r--r--" from a mode (type letter and permission bits, setuid/setgid/sticky). */
export function modeString(mode: u32, t: u8): string {
  let s = t == FT_DIR ? "d" : t == FT_LNK ? "l" : t == FT_CHR ? "c" : t == FT_BLK ? "b" : t == FT_FIFO ? "p" : t == FT_SOCK ? "s" : "-";
  const rwx = "rwx";
  for (let i = 8; i >= 0; i--) {
    const on = (mode >> <u32>i) & 1;
    let c = on != 0 ? rwx.charAt(2 - i % 3) : "-";
    if (i == 6 && (mode & 0x800) != 0) c = on != 0 ? "s" : "S";
    if (i == 3 && (mode & 0x400) != 0) c = on != 0 ? "s" : "S";
    if (i == 0 && (mode & 0x200) != 0) c = on != 0 ? "t" : "T";
    s += c;
  }
  return s;
}

function two(n: i64): string { return n < 10 ? "0" + n.toString() : n.toString(); }

/** Seconds since the epoch as "2023-11-14 22:13:20 UTC" (proleptic Gregorian). */
export function utcTime(t: i64): string {
  let days = t / 86400;
  let secs = t % 86400;
  if (secs < 0) { secs += 86400; days--; }
  // civil_from_days (H. Hinnant)
  const z = days + 719468;
  const era = (z >= 0 ? z : z - 146096) / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const d = doy - (153 * mp + 2) / 5 + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return y.toString() + "-" + two(m) + "-" + two(d) + " " + two(secs / 3600) + ":" + two((secs / 60) % 60) + ":" + two(secs % 60) + " UTC";
}

// ---- ls -------------------------------------------------------------------------------

class Entry {
  constructor(public name: string, public type: u8, public size: u64, public note: string) {}
}

function entryLine(e: Entry): string {
  const size = e.type == 0 && e.note.length ? "?" : e.size.toString();
  return typeWord(e.type).padEnd(5) + size.padStart(14) + "  " + printable(e.name) + e.note;
}

/** Type, size and (for links) target of `path` without following a final link. */
function describe(path: string, name: string, st: Stat): Entry {
  const e = vfs.lstat(path, st);
  if (e.length) return new Entry(name, 0, 0, "  (error: " + e + ")");
  let note = "";
  if (st.type == FT_LNK) {
    const t = vfs.readlink(path);
    note = t.error.length ? "  (error: " + t.error + ")" : " -> " + t.text;
  }
  return new Entry(name, st.type, st.size, note);
}

function ls(args: Array<string>): i32 {
  if (args.length > 2) return USAGE;
  const path = args.length == 2 ? args[1] : vfs.getcwd();
  const st = new Stat();
  // a command-line argument is followed when it is a link (like ls); a dangling link is still listed
  let e = vfs.stat(path, st);
  if (e.length) {
    const lst = new Stat();
    if (vfs.lstat(path, lst).length == 0 && lst.type == FT_LNK) {
      println(entryLine(describe(path, path, lst)));
      return OK;
    }
    fsError(path, e);
    return FAIL;
  }
  if (st.type != FT_DIR) {
    println(entryLine(describe(path, path, st)));
    return OK;
  }
  const listing = vfs.listDir(path);
  if (listing.error.length && listing.names.length == 0) { fsError(path, listing.error); return FAIL; }
  const names = listing.names;
  const failed = listing.error;
  names.sort((a: string, b: string): i32 => a < b ? -1 : a > b ? 1 : 0);
  let rc = OK;
  for (let i = 0; i < names.length; i++) {
    const ent = describe(joinPath(path, names[i]), names[i], st);
    if (ent.type == 0 && ent.note.startsWith("  (error")) rc = FAIL;
    println(entryLine(ent));
  }
  if (failed.length) { println("error: " + printable(failed)); rc = FAIL; }
  return rc;
}

// ---- stat -----------------------------------------------------------------------------

function statCmd(args: Array<string>): i32 {
  if (args.length != 2) return USAGE;
  const path = args[1];
  const st = new Stat();
  const e = vfs.lstat(path, st);
  if (e.length) { fsError(path, e); return FAIL; }
  let name = "  File: " + printable(path);
  if (st.type == FT_LNK) {
    const t = vfs.readlink(path);
    name += t.error.length ? " (link target unreadable: " + t.error + ")" : " -> " + printable(t.text);
  }
  println(name);
  println("  Type: " + typeLong(st.type));
  println("  Size: " + st.size.toString() + " bytes" + (st.size >= 1024 ? " (" + bytes(st.size) + ")" : ""));
  println("Blocks: " + st.blocks.toString() + " (512-byte units), I/O block " + st.blockSize.toString());
  println(" Inode: " + st.ino.toString() + "   Links: " + st.nlink.toString());
  let oct = (st.mode & 0xfff).toString(8);
  while (oct.length < 4) oct = "0" + oct;
  println("  Mode: " + oct + " (" + modeString(st.mode, st.type) + ")   Uid: " + st.uid.toString() + "   Gid: " + st.gid.toString());
  println("Access: " + utcTime(st.atime));
  println("Modify: " + utcTime(st.mtime));
  println("Change: " + utcTime(st.ctime));
  return OK;
}

// ---- cat ------------------------------------------------------------------------------

let catBuf: usize = 0;
let catFd: i32 = -1;

function catRelease(): void {
  if (catFd >= 0) { vfs.close(catFd); catFd = -1; }
  if (catBuf != 0) { freeRegion(catBuf); catBuf = 0; }
}

function cat(args: Array<string>): i32 {
  if (args.length != 2) return USAGE;
  const path = args[1];
  const rc = catFile(path);
  catRelease();
  return rc;
}

function catFile(path: string): i32 {
  const o = vfs.open(path);
  if (o.error.length) { fsError(path, o.error); return FAIL; }
  catFd = o.fd;
  const st = new Stat();
  const se = vfs.fstat(o.fd, st);
  if (se.length) { fsError(path, se); return FAIL; }
  if (st.type == FT_DIR) { println("error: " + printable(path) + ": is a directory"); return FAIL; }
  if (st.size > CAT_MAX) {
    println("error: " + printable(path) + ": " + st.size.toString() + " bytes (" + bytes(st.size) + ") is too large for cat (at most " +
      bytes(CAT_MAX) + "); try 'sha256sum " + printable(path) + "' or 'stat " + printable(path) + "'");
    return FAIL;
  }
  const size = <usize>st.size;
  if (size == 0) return OK;
  catBuf = allocRegion(<u64>size);
  if (catBuf == 0) { println("error: out of memory for " + size.toString() + " bytes"); return FAIL; }
  let got: usize = 0;
  while (got < size) {
    const r = vfs.read(o.fd, catBuf + got, size - got);
    if (r.error.length) { fsError(path, r.error); return FAIL; }
    if (r.bytes == 0) break;
    got += <usize>r.bytes;
  }
  for (let i: usize = 0; i < got; i++) {
    if (load<u8>(catBuf + i) == 0) {
      println("error: " + printable(path) + ": binary file (NUL byte at offset " + i.toString() + "), not printed");
      return FAIL;
    }
  }
  const bad = utf8FirstInvalid(catBuf, got);
  if (bad >= 0) {
    println("error: " + printable(path) + ": not UTF-8 text (invalid byte sequence at offset " + bad.toString() + "), not printed");
    return FAIL;
  }
  printBytes(catBuf, got);
  return OK;
}

// ---- mounts, df -----------------------------------------------------------------------

function mounts(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  const sf = new StatFs();
  for (let i = 0; i < vfs.mountCount(); i++) {
    const fs = vfs.mountFs(i)!;
    let opts = "ro";
    if (fs.statfs(sf).length == 0) {
      if (sf.label.length) opts += ", label '" + printable(sf.label) + "'";
      if (sf.blocks != 0) opts += ", " + sf.blockSize.toString() + "-byte blocks";
    }
    println(fs.source() + " on " + vfs.mountPath(i) + " type " + fs.typeName() + " (" + opts + ")");
  }
  const why = storageStatus();
  if (why.length) println("(" + why + ")");
  return OK;
}

function pct(used: u64, avail: u64): string {
  const total = used + avail;
  if (total == 0) return "-";
  return ((used * 100 + total - 1) / total).toString() + "%"; // rounded up, like df
}

function df(args: Array<string>): i32 {
  let human = false;
  if (args.length == 2 && args[1] == "-h") human = true;
  else if (args.length != 1) return USAGE;
  const sf = new StatFs();
  const rows = new Array<Array<string>>();
  rows.push(["Filesystem", "Type", human ? "Size" : "1K-blocks", "Used", human ? "Avail" : "Available", "Use%", "Mounted on"]);
  let rc = OK;
  for (let i = 0; i < vfs.mountCount(); i++) {
    const fs = vfs.mountFs(i)!;
    const e = fs.statfs(sf);
    if (e.length) { println("error: " + vfs.mountPath(i) + ": " + e); rc = FAIL; continue; }
    if (sf.blocks == 0) continue; // in-memory file systems, as df leaves them out
    const bs = <u64>sf.blockSize;
    const used = (sf.blocks > sf.freeBlocks ? sf.blocks - sf.freeBlocks : 0) * bs; // a damaged count must not wrap
    const total = sf.blocks * bs;
    const avail = sf.availBlocks * bs;
    const kib = (n: u64): string => ((n + 1023) / 1024).toString();
    rows.push([fs.source(), fs.typeName(), human ? bytes(total) : kib(total), human ? bytes(used) : kib(used),
      human ? bytes(avail) : kib(avail), pct(used, avail), vfs.mountPath(i)]);
  }
  if (rows.length == 1) {
    const why = storageStatus();
    println("no disk file systems are mounted" + (why.length ? " (" + why + ")" : ""));
    return rc;
  }
  const width = new Array<i32>(7);
  for (let r = 0; r < rows.length; r++) for (let c = 0; c < 7; c++) if (rows[r][c].length > width[c]) width[c] = rows[r][c].length;
  for (let r = 0; r < rows.length; r++) {
    let line = "";
    for (let c = 0; c < 7; c++) {
      const cell = rows[r][c];
      // text columns left, numbers right
      const left = c < 2 || c == 6;
      line += (c > 0 ? "  " : "") + (c == 6 ? cell : left ? cell.padEnd(width[c]) : cell.padStart(width[c]));
    }
    println(line);
  }
  return rc;
}

onTrapRecovery(catRelease);

// ---- cd, pwd ----------------------------------------------------------------------------
// Relative paths (ls NAME, llmctl load NAME.gguf) start from the working directory, which is
// /models from boot on when the models disk is mounted (kernel/main.ts), / otherwise.

function cd(args: Array<string>): i32 {
  if (args.length > 2) return USAGE;
  const e = vfs.chdir(args.length == 2 ? args[1] : "/");
  if (e.length) { fsError(args.length == 2 ? args[1] : "/", e); return FAIL; }
  return OK;
}

function pwd(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  println(printable(vfs.getcwd()));
  return OK;
}

registerCommand("cd", "change the working directory (relative paths start there)", "cd [DIR]     (no DIR: /)", cd);
registerCommand("pwd", "print the working directory", "pwd", pwd);
registerCommand("ls", "list a directory: type, size in bytes and name of each entry", "ls [PATH]", ls);
registerCommand("stat", "show a file's type, size, blocks, inode, mode and times", "stat PATH", statCmd);
registerCommand("cat", "print a text file (up to 64 KiB; binary files are refused)", "cat PATH", cat);
registerCommand("mounts", "list mounted file systems", "mounts", mounts);
registerCommand("df", "show size, used and free space of mounted disks", "df [-h]     (-h: sizes in KiB/MiB/GiB)", df);
