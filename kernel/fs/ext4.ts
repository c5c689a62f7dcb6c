// A read-only ext2/ext3/ext4 file system behind the VFS FileSystem interface.
// Layout pieces live beside it: ext4_super (superblock, groups, zones), ext4_inode,
// ext4_map (extents and block maps), ext4_dir (directory blocks).

import { BlockDevice } from "../block/device";
import { CacheStats } from "../block/cache";
import { Ext4Volume, openVolume } from "./ext4_super";
import { Inode, loadInode, ROOT_INO } from "./ext4_inode";
import { mapBlock, Mapping } from "./ext4_map";
import { dirLookup, dirNext } from "./ext4_dir";
import {
  FileSystem, Vnode, Stat, StatFs, NodeResult, IoResult, TextResult, DirResult,
  FT_DIR, FT_LNK, FT_UNKNOWN, ENOENT, EINVAL, EISDIR, ENOTDIR, EUCLEAN, NAME_MAX, ENAMETOOLONG,
} from "./fs";

/** Metadata LRU size; read-ahead windows for file data (count x bytes). */
export const EXT4_META_CACHE_BYTES: u32 = 1024 * 1024;
export const EXT4_WINDOWS: i32 = 4;
export const EXT4_WINDOW_BYTES: u32 = 1024 * 1024;

export class Ext4Node extends Vnode {
  constructor(fs: Ext4, public inode: Inode) { super(fs, <u64>inode.ino, inode.type, inode.size); }
}

export class Ext4MountResult {
  fs: Ext4 | null = null;
  error: string = "";
}

export class Ext4 implements FileSystem {
  vol: Ext4Volume;
  private rootNode: Ext4Node | null = null;
  private m: Mapping = new Mapping();

  constructor(vol: Ext4Volume) { this.vol = vol; }

  /** Mounts the file system on `dev` read-only (checks superblock, groups, root directory). */
  static mount(dev: BlockDevice): Ext4MountResult {
    const r = new Ext4MountResult();
    const vr = openVolume(dev, EXT4_META_CACHE_BYTES, EXT4_WINDOWS, EXT4_WINDOW_BYTES);
    if (vr.vol == null) { r.error = vr.error; return r; }
    const vol = vr.vol!;
    const fs = new Ext4(vol);
    const ir = loadInode(vol, ROOT_INO);
    if (ir.inode == null) { vol.release(); r.error = dev.name() + ": root directory: " + ir.error; return r; }
    if (ir.inode!.type != FT_DIR) { vol.release(); r.error = dev.name() + ": root inode is not a directory"; return r; }
    fs.rootNode = new Ext4Node(fs, ir.inode!);
    r.fs = fs;
    return r;
  }

  typeName(): string { return this.vol.flavour(); }
  source(): string { return this.vol.dev.name(); }
  root(): Vnode { return this.rootNode!; }
  cacheStats(): CacheStats { return this.vol.cache.stats; }

  private node(v: Vnode): Ext4Node | null {
    if (v.fs != this || !(v instanceof Ext4Node)) return null;
    return changetype<Ext4Node>(v);
  }

  lookup(dir: Vnode, name: string): NodeResult {
    const d = this.node(dir);
    if (d == null) return NodeResult.fail(EINVAL, "ext4: node from another file system");
    if (d.inode.type != FT_DIR) return NodeResult.fail(ENOTDIR, "not a directory");
    const bytes = String.UTF8.encode(name);
    if (bytes.byteLength == 0) return NodeResult.fail(ENOENT, "empty name");
    if (bytes.byteLength > NAME_MAX) return NodeResult.fail(ENAMETOOLONG, "name longer than " + NAME_MAX.toString() + " bytes");
    this.vol.ioFailed = false;
    const l = dirLookup(this.vol, d.inode, bytes);
    if (l.error.length) return NodeResult.fail(this.vol.errCode(), l.error);
    if (l.ino == 0) return NodeResult.fail(ENOENT, name + ": no such file or directory");
    const ir = loadInode(this.vol, l.ino);
    if (ir.inode == null) return NodeResult.fail(this.vol.errCode(), name + ": " + ir.error);
    const inode = ir.inode!;
    if (l.type != FT_UNKNOWN && l.type != inode.type) {
      return NodeResult.fail(EUCLEAN, name + ": directory entry says type " + l.type.toString() + " but inode " + l.ino.toString() + " has type " + inode.type.toString());
    }
    return NodeResult.ok(new Ext4Node(this, inode));
  }

  read(node: Vnode, offset: u64, dst: usize, len: usize): IoResult {
    const n = this.node(node);
    if (n == null) return IoResult.fail(EINVAL, "ext4: node from another file system");
    if (n.inode.type == FT_DIR) return IoResult.fail(EISDIR, "is a directory");
    return this.readInode(n.inode, offset, dst, len);
  }

  private readInode(inode: Inode, offset: u64, dst: usize, len: usize): IoResult {
    const size = inode.size;
    if (offset >= size || len == 0) return IoResult.ok(0);
    const want: u64 = <u64>len < size - offset ? <u64>len : size - offset;
    const vol = this.vol;
    vol.ioFailed = false;
    const bs = <u64>vol.blockSize;
    const m = this.m;
    let done: u64 = 0;
    while (done < want) {
      const pos = offset + done;
      const lblk = pos >> vol.blockShift;
      const inb = pos & (bs - 1);
      const err = mapBlock(vol, inode, lblk, m);
      if (err.length) return IoResult.fail(vol.errCode(), err);
      const need = (inb + (want - done) + bs - 1) >> vol.blockShift; // blocks still wanted
      const run = m.len < need ? m.len : need;
      let bytes = (run << vol.blockShift) - inb;
      if (bytes > want - done) bytes = want - done;
      if (m.hole) {
        memory.fill(dst + <usize>done, 0, <usize>bytes);
      } else {
        const toEof = ((size + bs - 1) >> vol.blockShift) - lblk;
        const ahead = m.len < toEof ? m.len : toEof;
        const e = vol.cache.readRange(m.pblk, <u32>inb, bytes, dst + <usize>done, ahead);
        if (e.length) { vol.ioFailed = true; return IoResult.fail(vol.errCode(), "inode " + inode.ino.toString() + ": " + e); }
      }
      done += bytes;
    }
    return IoResult.ok(done);
  }

  readlink(node: Vnode): TextResult {
    const n = this.node(node);
    if (n == null) return TextResult.fail(EINVAL, "ext4: node from another file system");
    const inode = n.inode;
    if (inode.type != FT_LNK) return TextResult.fail(EINVAL, "not a symbolic link");
    const len = <usize>inode.size; // 1..4095, checked when the inode was loaded
    if (inode.isFastSymlink(this.vol)) return TextResult.ok(String.UTF8.decodeUnsafe(inode.iblock, len));
    const buf = new ArrayBuffer(<i32>len);
    const r = this.readInode(inode, 0, changetype<usize>(buf), len);
    if (r.error.length) return TextResult.fail(r.code, r.error);
    if (r.bytes != <u64>len) return TextResult.fail(EUCLEAN, "inode " + inode.ino.toString() + ": short symlink");
    return TextResult.ok(String.UTF8.decodeUnsafe(changetype<usize>(buf), len));
  }

  readdir(dir: Vnode, cookie: u64): DirResult {
    const d = this.node(dir);
    if (d == null) return DirResult.fail(EINVAL, "ext4: node from another file system");
    if (d.inode.type != FT_DIR) return DirResult.fail(ENOTDIR, "not a directory");
    this.vol.ioFailed = false;
    return dirNext(this.vol, d.inode, cookie);
  }

  stat(node: Vnode, out: Stat): string {
    const n = this.node(node);
    if (n == null) return "ext4: node from another file system";
    const i = n.inode;
    out.ino = <u64>i.ino;
    out.mode = i.mode;
    out.type = i.type;
    out.nlink = i.links;
    out.uid = i.uid;
    out.gid = i.gid;
    out.size = i.size;
    out.blocks = i.blocks512;
    out.blockSize = this.vol.blockSize;
    out.atime = i.atime;
    out.mtime = i.mtime;
    out.ctime = i.ctime;
    return "";
  }

  statfs(out: StatFs): string {
    const v = this.vol;
    out.fsType = v.flavour();
    out.label = v.label;
    out.blockSize = v.blockSize;
    out.blocks = v.blocksCount;
    out.freeBlocks = v.freeBlocks;
    out.availBlocks = v.freeBlocks > v.reservedBlocks ? v.freeBlocks - v.reservedBlocks : 0;
    out.inodes = <u64>v.inodesCount;
    out.freeInodes = <u64>v.freeInodes;
    out.nameMax = NAME_MAX;
    out.readOnly = true;
    return "";
  }

  unmount(): void { this.vol.release(); }
}
