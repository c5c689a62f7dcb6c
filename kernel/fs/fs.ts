// What the VFS expects of a file system. ext4 is one implementation; a FAT one can sit
// beside it. Every operation that can fail on disk contents returns an error value
// (message + errno-like code) instead of trapping.

// File types, numbered like ext4 directory entries (and Linux DT_* >> 12 order differs:
// these are the ext4/ext2 file_type values).
export const FT_UNKNOWN: u8 = 0;
export const FT_REG: u8 = 1;
export const FT_DIR: u8 = 2;
export const FT_CHR: u8 = 3;
export const FT_BLK: u8 = 4;
export const FT_FIFO: u8 = 5;
export const FT_SOCK: u8 = 6;
export const FT_LNK: u8 = 7;

// Error codes (Linux errno values, so messages and codes mean what people expect).
export const ENOENT: i32 = 2;
export const EIO: i32 = 5;
export const EBADF: i32 = 9;
export const ENOMEM: i32 = 12;
export const EBUSY: i32 = 16;
export const ENOTDIR: i32 = 20;
export const EISDIR: i32 = 21;
export const EINVAL: i32 = 22;
export const EMFILE: i32 = 24;
export const EFBIG: i32 = 27;
export const EROFS: i32 = 30;
export const ENAMETOOLONG: i32 = 36;
export const ELOOP: i32 = 40;
export const EOPNOTSUPP: i32 = 95;
export const EUCLEAN: i32 = 117; // the file system is corrupted (Linux EFSCORRUPTED)

export const NAME_MAX: i32 = 255;
export const PATH_MAX: i32 = 4096;

/** File type from the S_IFMT bits of a mode. */
export function typeOfMode(mode: u32): u8 {
  switch (mode & 0xf000) {
    case 0x8000: return FT_REG;
    case 0x4000: return FT_DIR;
    case 0xa000: return FT_LNK;
    case 0x2000: return FT_CHR;
    case 0x6000: return FT_BLK;
    case 0x1000: return FT_FIFO;
    case 0xc000: return FT_SOCK;
  }
  return FT_UNKNOWN;
}

/** A file system object as the VFS holds it; each file system extends it with its own state. */
export class Vnode {
  constructor(public fs: FileSystem, public ino: u64, public type: u8, public size: u64) {}
  @inline get isDir(): bool { return this.type == FT_DIR; }
  @inline get isLink(): bool { return this.type == FT_LNK; }
}

export class Stat {
  ino: u64 = 0;
  mode: u32 = 0;   // S_IFMT type bits and permissions
  type: u8 = FT_UNKNOWN;
  nlink: u32 = 0;
  uid: u32 = 0;
  gid: u32 = 0;
  size: u64 = 0;
  blocks: u64 = 0; // 512-byte units allocated
  blockSize: u32 = 0;
  atime: i64 = 0;  // seconds since the epoch
  mtime: i64 = 0;
  ctime: i64 = 0;
}

export class StatFs {
  fsType: string = "";
  label: string = "";
  blockSize: u32 = 0;
  blocks: u64 = 0;
  freeBlocks: u64 = 0;
  availBlocks: u64 = 0; // free minus the root reserve
  inodes: u64 = 0;
  freeInodes: u64 = 0;
  nameMax: u32 = 255;
  readOnly: bool = true;
}

export class NodeResult {
  node: Vnode | null = null;
  error: string = "";
  code: i32 = 0;
  static ok(n: Vnode): NodeResult { const r = new NodeResult(); r.node = n; return r; }
  static fail(code: i32, error: string): NodeResult { const r = new NodeResult(); r.code = code; r.error = error; return r; }
}

export class IoResult {
  bytes: u64 = 0;
  error: string = "";
  code: i32 = 0;
  static ok(n: u64): IoResult { const r = new IoResult(); r.bytes = n; return r; }
  static fail(code: i32, error: string): IoResult { const r = new IoResult(); r.code = code; r.error = error; return r; }
}

export class TextResult {
  text: string = "";
  error: string = "";
  code: i32 = 0;
  static ok(t: string): TextResult { const r = new TextResult(); r.text = t; return r; }
  static fail(code: i32, error: string): TextResult { const r = new TextResult(); r.code = code; r.error = error; return r; }
}

/** One directory entry, or the end of the directory (`end`), or an error. */
export class DirResult {
  name: string = "";
  ino: u64 = 0;
  type: u8 = FT_UNKNOWN;
  /** Cookie to pass to the next readdir call. */
  next: u64 = 0;
  end: bool = false;
  error: string = "";
  code: i32 = 0;
  static fail(code: i32, error: string): DirResult { const r = new DirResult(); r.code = code; r.error = error; return r; }
}

export interface FileSystem {
  /** "ext4", "ext2", "fat32", ... */
  typeName(): string;
  /** Where it came from, for messages and df ("virtio-blk@0x0a003e00"). */
  source(): string;
  root(): Vnode;
  /** Looks `name` up in directory `dir`; code ENOENT when absent. */
  lookup(dir: Vnode, name: string): NodeResult;
  /** Reads up to len bytes at offset (short only at end of file; holes read as zeros). */
  read(node: Vnode, offset: u64, dst: usize, len: usize): IoResult;
  readlink(node: Vnode): TextResult;
  /** The entry at or after `cookie` (0 = start). */
  readdir(dir: Vnode, cookie: u64): DirResult;
  stat(node: Vnode, out: Stat): string;
  statfs(out: StatFs): string;
  /** Releases caches and buffers; the VFS guarantees no handle is open. */
  unmount(): void;
}
