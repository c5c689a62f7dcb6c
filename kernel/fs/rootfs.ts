// The root file system: a tiny read-only, in-memory directory tree that exists only to
// hold mount points (the VFS needs something at "/" before it can mount a disk at
// /models). The kernel adds a directory for each mount point it is about to use and
// removes it again when that mount fails, so a path whose disk is missing reads as
// "no such file or directory".

import {
  FileSystem, Vnode, Stat, StatFs, NodeResult, IoResult, TextResult, DirResult,
  FT_DIR, ENOENT, EINVAL, EISDIR, ENOTDIR,
} from "./fs";

const ROOT_INO: u64 = 1;

class RootDir extends Vnode {
  names: Array<string> = new Array<string>();
  children: Array<RootDir> = new Array<RootDir>();
  constructor(fs: RootFs, ino: u64, public parent: RootDir | null) { super(fs, ino, FT_DIR, 0); }
}

export class RootFs implements FileSystem {
  private top: RootDir | null = null;
  private nextIno: u64 = ROOT_INO + 1;

  private get rootDir(): RootDir {
    let r = this.top;
    if (r == null) { r = new RootDir(this, ROOT_INO, null); this.top = r; }
    return r;
  }

  typeName(): string { return "rootfs"; }
  source(): string { return "rootfs"; }
  root(): Vnode { return this.rootDir; }

  /** Adds an empty directory `name` under the root (no-op if it exists). */
  addDir(name: string): void {
    const r = this.rootDir;
    for (let i = 0; i < r.names.length; i++) if (r.names[i] == name) return;
    r.names.push(name);
    r.children.push(new RootDir(this, this.nextIno++, r));
  }

  /** Removes directory `name` from the root; false when there is none. */
  removeDir(name: string): bool {
    const r = this.rootDir;
    for (let i = 0; i < r.names.length; i++) {
      if (r.names[i] == name) { r.names.splice(i, 1); r.children.splice(i, 1); return true; }
    }
    return false;
  }

  private dir(v: Vnode): RootDir | null {
    if (v.fs != this || !(v instanceof RootDir)) return null;
    return changetype<RootDir>(v);
  }

  lookup(dir: Vnode, name: string): NodeResult {
    const d = this.dir(dir);
    if (d == null) return NodeResult.fail(EINVAL, "rootfs: node from another file system");
    for (let i = 0; i < d.names.length; i++) if (d.names[i] == name) return NodeResult.ok(d.children[i]);
    return NodeResult.fail(ENOENT, name + ": no such file or directory");
  }

  read(node: Vnode, offset: u64, dst: usize, len: usize): IoResult { return IoResult.fail(EISDIR, "is a directory"); }

  readlink(node: Vnode): TextResult { return TextResult.fail(EINVAL, "not a symbolic link"); }

  /** Cookies: 0 ".", 1 "..", 2 + i the i-th child. */
  readdir(dir: Vnode, cookie: u64): DirResult {
    const d = this.dir(dir);
    if (d == null) return DirResult.fail(ENOTDIR, "not a directory");
    const r = new DirResult();
    r.type = FT_DIR;
    if (cookie == 0) { r.name = "."; r.ino = d.ino; r.next = 1; return r; }
    if (cookie == 1) {
      const p = d.parent;
      r.name = ".."; r.ino = p != null ? p.ino : d.ino; r.next = 2; return r;
    }
    const i = cookie - 2;
    if (i >= <u64>d.names.length) { r.end = true; r.next = cookie; return r; }
    r.name = d.names[<i32>i];
    r.ino = d.children[<i32>i].ino;
    r.next = cookie + 1;
    return r;
  }

  stat(node: Vnode, out: Stat): string {
    const d = this.dir(node);
    if (d == null) return "rootfs: node from another file system";
    out.ino = d.ino;
    out.mode = 0x4000 | 0o555;
    out.type = FT_DIR;
    out.nlink = 2 + <u32>d.names.length;
    out.uid = 0;
    out.gid = 0;
    out.size = 0;
    out.blocks = 0;
    out.blockSize = 4096;
    out.atime = 0;
    out.mtime = 0;
    out.ctime = 0;
    return "";
  }

  statfs(out: StatFs): string {
    out.fsType = "rootfs";
    out.label = "";
    out.blockSize = 4096;
    out.blocks = 0;
    out.freeBlocks = 0;
    out.availBlocks = 0;
    out.inodes = 0;
    out.freeInodes = 0;
    out.nameMax = 255;
    out.readOnly = true;
    return "";
  }

  unmount(): void {}
}
