// The virtual file system: a mount table, path resolution and a table of open files.
//
// Paths: absolute or relative to the working directory; repeated slashes and "." are
// skipped; ".." goes back along the path actually walked (so it never trusts an on-disk
// ".." and stops at "/"); symbolic links are followed like Linux does: at most 40 in one
// resolution and at most 8 nested inside each other (ELOOP beyond).

import {
  FileSystem, Vnode, Stat, StatFs, NodeResult, IoResult, TextResult, DirResult,
  ENOENT, EBADF, ENOTDIR, EISDIR, EINVAL, EMFILE, ENAMETOOLONG, ELOOP, EFBIG,
  NAME_MAX, PATH_MAX, FT_DIR,
} from "./fs";

export const MAX_OPEN_FILES: i32 = 64;
export const MAX_SYMLINKS: i32 = 40;
export const MAX_NESTED_SYMLINKS: i32 = 8;

export const SEEK_SET: i32 = 0;
export const SEEK_CUR: i32 = 1;
export const SEEK_END: i32 = 2;

class Mount {
  constructor(public path: string, public fs: FileSystem, public root: Vnode) {}
}

class OpenFile {
  offset: u64 = 0;   // byte offset, or directory cookie
  constructor(public node: Vnode, public path: string, public mount: Mount) {}
}

/** A resolved path: the node, its canonical absolute path and the mount it lives in. */
export class Resolved {
  node: Vnode | null = null;
  path: string = "";
  mount: Mount | null = null;
  error: string = "";
  code: i32 = 0;
}

export class OpenResult {
  fd: i32 = -1;
  error: string = "";
  code: i32 = 0;
}

/** A whole small file (Vfs.readSmall), or why not. */
export class FileBytes {
  data: Uint8Array = new Uint8Array(0);
  error: string = "";
  code: i32 = 0;
}

export class SeekResult {
  offset: u64 = 0;
  error: string = "";
  code: i32 = 0;
}

function fail(code: i32, msg: string): Resolved { const r = new Resolved(); r.code = code; r.error = msg; return r; }

function join(parent: string, name: string): string { return parent == "/" ? "/" + name : parent + "/" + name; }

export class Vfs {
  private mounts: Array<Mount> = new Array<Mount>();
  private files: Array<OpenFile | null> = new Array<OpenFile | null>(MAX_OPEN_FILES);
  private cwd: string = "/";

  // --- mount table ---

  /** Mounts `fs` at `path` ("/" first; other mount points must be existing directories). */
  mount(path: string, fs: FileSystem): string {
    let canon = "/";
    if (path != "/") {
      if (this.mounts.length == 0) return "mount " + path + ": mount a root file system at / first";
      const r = this.resolve(path, true);
      if (r.error.length) return "mount " + path + ": " + r.error;
      if (!r.node!.isDir) return "mount " + path + ": not a directory";
      canon = r.path;
    }
    for (let i = 0; i < this.mounts.length; i++) if (this.mounts[i].path == canon) return "mount " + canon + ": already a mount point";
    this.mounts.push(new Mount(canon, fs, fs.root()));
    return "";
  }

  /** Unmounts the file system at `path`; refused while files are open on it or mounts sit below it. */
  unmount(path: string): string {
    let idx = -1;
    for (let i = 0; i < this.mounts.length; i++) if (this.mounts[i].path == path) idx = i;
    if (idx < 0) return "unmount " + path + ": not a mount point";
    const m = this.mounts[idx];
    for (let i = 0; i < this.mounts.length; i++) {
      const p = this.mounts[i].path;
      if (i != idx && (path == "/" || p.startsWith(path + "/"))) return "unmount " + path + ": " + p + " is mounted below it";
    }
    for (let i = 0; i < MAX_OPEN_FILES; i++) {
      const f = this.files[i];
      if (f != null && f.mount == m) return "unmount " + path + ": busy (" + f.path + " is open)";
    }
    m.fs.unmount();
    this.mounts.splice(idx, 1);
    if (this.mounts.length == 0) this.cwd = "/";
    return "";
  }

  mountCount(): i32 { return this.mounts.length; }
  mountPath(i: i32): string { return i >= 0 && i < this.mounts.length ? this.mounts[i].path : ""; }
  mountFs(i: i32): FileSystem | null { return i >= 0 && i < this.mounts.length ? this.mounts[i].fs : null; }

  private mountAt(path: string): Mount | null {
    for (let i = 0; i < this.mounts.length; i++) if (this.mounts[i].path == path) return this.mounts[i];
    return null;
  }

  // --- path resolution ---

  /** Resolves `path`; a final symlink is followed only when followLast. */
  resolve(path: string, followLast: bool): Resolved {
    if (this.mounts.length == 0) return fail(ENOENT, path + ": nothing is mounted");
    if (path.length == 0) return fail(ENOENT, "empty path");
    if (path.charCodeAt(path.length - 1) == 0x2f) followLast = true; // "link/" means the directory
    if (String.UTF8.byteLength(path) >= PATH_MAX) return fail(ENAMETOOLONG, "path longer than " + PATH_MAX.toString() + " bytes");
    const rootMount = this.mountAt("/")!;
    // the walk so far: nodes, names (canonical path pieces) and mounts
    const nodes = new Array<Vnode>();
    const names = new Array<string>();
    const mounts = new Array<Mount>();
    nodes.push(rootMount.root); names.push(""); mounts.push(rootMount);
    // work list of components still to walk, last one first, each with its symlink depth
    const todo = new Array<string>();
    const level = new Array<i32>();
    pushComponents(todo, level, path, 0);
    if (path.charCodeAt(0) != 0x2f && this.cwd != "/") pushComponents(todo, level, this.cwd, 0);
    let links = 0;
    while (todo.length > 0) {
      const name = todo.pop();
      level.pop();
      const cur = nodes[nodes.length - 1];
      const curPath = canonical(names);
      if (!cur.isDir) return fail(ENOTDIR, curPath + ": not a directory");
      if (name.length == 0 || name == ".") continue;
      if (name == "..") {
        if (nodes.length > 1) { nodes.pop(); names.pop(); mounts.pop(); }
        continue;
      }
      if (String.UTF8.byteLength(name) > NAME_MAX) return fail(ENAMETOOLONG, name + ": name longer than " + NAME_MAX.toString() + " bytes");
      const childPath = join(curPath, name);
      const over = this.mountAt(childPath);
      if (over != null) {
        nodes.push(over.root); names.push(name); mounts.push(over);
        continue;
      }
      const mnt = mounts[mounts.length - 1];
      const lr: NodeResult = mnt.fs.lookup(cur, name);
      if (lr.node == null) return fail(lr.code, lr.code == ENOENT ? childPath + ": no such file or directory" : childPath + ": " + lr.error);
      const child = lr.node!;
      if (child.isLink && (todo.length > 0 || followLast)) {
        if (++links > MAX_SYMLINKS) return fail(ELOOP, childPath + ": too many symbolic links (more than " + MAX_SYMLINKS.toString() + ")");
        // a link inside a link body that has components left nests; a trailing one replaces
        const depth = (level.length > 0 ? level[level.length - 1] : 0) + 1;
        if (depth > MAX_NESTED_SYMLINKS) return fail(ELOOP, childPath + ": symbolic links nested deeper than " + MAX_NESTED_SYMLINKS.toString());
        const t: TextResult = mnt.fs.readlink(child);
        if (t.error.length) return fail(t.code, childPath + ": " + t.error);
        if (t.text.length == 0) return fail(ENOENT, childPath + ": empty symbolic link");
        if (t.text.charCodeAt(0) == 0x2f) {
          nodes.length = 1; names.length = 1; mounts.length = 1;
        }
        pushComponents(todo, level, t.text, depth);
        continue;
      }
      nodes.push(child); names.push(name); mounts.push(mnt);
    }
    // "dir/" must name a directory
    if (path.charCodeAt(path.length - 1) == 0x2f && !nodes[nodes.length - 1].isDir) return fail(ENOTDIR, canonical(names) + ": not a directory");
    const r = new Resolved();
    r.node = nodes[nodes.length - 1];
    r.path = canonical(names);
    r.mount = mounts[mounts.length - 1];
    return r;
  }

  /** Changes the working directory (used for relative paths). */
  chdir(path: string): string {
    const r = this.resolve(path, true);
    if (r.error.length) return r.error;
    if (!r.node!.isDir) return path + ": not a directory";
    this.cwd = r.path;
    return "";
  }
  getcwd(): string { return this.cwd; }

  // --- whole-path operations ---

  stat(path: string, out: Stat): string { return this.statPath(path, true, out); }
  lstat(path: string, out: Stat): string { return this.statPath(path, false, out); }
  private statPath(path: string, follow: bool, out: Stat): string {
    const r = this.resolve(path, follow);
    if (r.error.length) return r.error;
    return r.mount!.fs.stat(r.node!, out);
  }

  readlink(path: string): TextResult {
    const r = this.resolve(path, false);
    if (r.error.length) return TextResult.fail(r.code, r.error);
    if (!r.node!.isLink) return TextResult.fail(EINVAL, r.path + ": not a symbolic link");
    return r.mount!.fs.readlink(r.node!);
  }

  statfs(path: string, out: StatFs): string {
    const r = this.resolve(path, true);
    if (r.error.length) return r.error;
    return r.mount!.fs.statfs(out);
  }

  // --- open files ---

  open(path: string): OpenResult {
    const o = new OpenResult();
    const r = this.resolve(path, true);
    if (r.error.length) { o.error = r.error; o.code = r.code; return o; }
    for (let i = 0; i < MAX_OPEN_FILES; i++) {
      if (this.files[i] == null) {
        this.files[i] = new OpenFile(r.node!, r.path, r.mount!);
        o.fd = i;
        return o;
      }
    }
    o.code = EMFILE;
    o.error = path + ": too many open files (" + MAX_OPEN_FILES.toString() + ")";
    return o;
  }

  private file(fd: i32): OpenFile | null {
    if (fd < 0 || fd >= MAX_OPEN_FILES) return null;
    return this.files[fd];
  }

  close(fd: i32): string {
    if (this.file(fd) == null) return "close: bad file descriptor " + fd.toString();
    this.files[fd] = null;
    return "";
  }

  openCount(): i32 {
    let n = 0;
    for (let i = 0; i < MAX_OPEN_FILES; i++) if (this.files[i] != null) n++;
    return n;
  }

  read(fd: i32, dst: usize, len: usize): IoResult {
    const f = this.file(fd);
    if (f == null) return IoResult.fail(EBADF, "read: bad file descriptor " + fd.toString());
    if (f.node.isDir) return IoResult.fail(EISDIR, f.path + ": is a directory");
    const r = f.mount.fs.read(f.node, f.offset, dst, len);
    if (r.error.length) { r.error = f.path + ": " + r.error; return r; }
    f.offset += r.bytes;
    return r;
  }

  /** Reads at an explicit offset without moving the file position. */
  pread(fd: i32, offset: u64, dst: usize, len: usize): IoResult {
    const f = this.file(fd);
    if (f == null) return IoResult.fail(EBADF, "pread: bad file descriptor " + fd.toString());
    if (f.node.isDir) return IoResult.fail(EISDIR, f.path + ": is a directory");
    const r = f.mount.fs.read(f.node, offset, dst, len);
    if (r.error.length) r.error = f.path + ": " + r.error;
    return r;
  }

  seek(fd: i32, offset: i64, whence: i32): SeekResult {
    const s = new SeekResult();
    const f = this.file(fd);
    if (f == null) { s.code = EBADF; s.error = "seek: bad file descriptor " + fd.toString(); return s; }
    if (f.node.isDir) { s.code = EISDIR; s.error = f.path + ": is a directory"; return s; }
    let base: i64;
    if (whence == SEEK_SET) base = 0;
    else if (whence == SEEK_CUR) base = <i64>f.offset;
    else if (whence == SEEK_END) base = <i64>f.node.size;
    else { s.code = EINVAL; s.error = "seek: bad whence " + whence.toString(); return s; }
    const to = base + offset;
    if ((offset > 0 && to < base) || to < 0) { s.code = EINVAL; s.error = f.path + ": seek before the start or out of range"; return s; }
    f.offset = <u64>to;
    s.offset = f.offset;
    return s;
  }

  fstat(fd: i32, out: Stat): string {
    const f = this.file(fd);
    if (f == null) return "fstat: bad file descriptor " + fd.toString();
    return f.mount.fs.stat(f.node, out);
  }

  /** Next entry of an open directory (`end` set after the last one). */
  readdir(fd: i32): DirResult {
    const f = this.file(fd);
    if (f == null) return DirResult.fail(EBADF, "readdir: bad file descriptor " + fd.toString());
    if (!f.node.isDir) return DirResult.fail(ENOTDIR, f.path + ": not a directory");
    const r = f.mount.fs.readdir(f.node, f.offset);
    if (r.error.length) { r.error = f.path + ": " + r.error; return r; }
    f.offset = r.next;
    return r;
  }

  /** The entries of the directory at `path` in directory order, without "." and "..". */
  listDir(path: string): DirListing {
    const out = new DirListing();
    const o = this.open(path);
    if (o.error.length) { out.error = o.error; return out; }
    while (true) {
      const r = this.readdir(o.fd);
      if (r.error.length) { out.error = r.error; break; }
      if (r.end) break;
      if (r.name == "." || r.name == "..") continue;
      out.names.push(r.name);
      out.types.push(r.type);
    }
    this.close(o.fd);
    return out;
  }

  /** The whole regular file at `path` when it has at most maxBytes (grammars, schemas): a
   *  copy on the heap, the file closed again. */
  readSmall(path: string, maxBytes: u64): FileBytes {
    const out = new FileBytes();
    const o = this.open(path);
    if (o.error.length) { out.error = o.error; out.code = o.code; return out; }
    const st = new Stat();
    let e = this.fstat(o.fd, st);
    if (e.length == 0 && st.type == FT_DIR) { e = path + ": is a directory"; out.code = EISDIR; }
    if (e.length == 0 && st.size > maxBytes) {
      e = path + ": " + st.size.toString() + " bytes, more than the " + maxBytes.toString() + " this takes"; out.code = EFBIG;
    }
    if (e.length == 0) {
      const data = new Uint8Array(<i32>st.size);
      let got: u64 = 0;
      while (got < st.size) {
        const r = this.read(o.fd, data.dataStart + <usize>got, <usize>(st.size - got));
        if (r.error.length) { e = r.error; out.code = r.code; break; }
        if (r.bytes == 0) break;
        got += <u64>r.bytes;
      }
      out.data = got == st.size ? data : data.slice(0, <i32>got);
    }
    this.close(o.fd);
    out.error = e;
    return out;
  }

  /** The canonical path an open file was opened as. */
  fdPath(fd: i32): string { const f = this.file(fd); return f == null ? "" : f.path; }
}

/** A whole directory (Vfs.listDir): names and their types (FT_*), or what went wrong part way. */
export class DirListing {
  names: Array<string> = new Array<string>();
  types: Array<u8> = new Array<u8>();
  error: string = "";
}

/** Pushes the components of p onto the work list so that the first is popped first. */
function pushComponents(todo: Array<string>, level: Array<i32>, p: string, lvl: i32): void {
  const parts = p.split("/");
  for (let i = parts.length - 1; i >= 0; i--) {
    const s = parts[i];
    if (s.length == 0) continue;
    todo.push(s); level.push(lvl);
  }
}

function canonical(names: Array<string>): string {
  if (names.length <= 1) return "/";
  let s = "";
  for (let i = 1; i < names.length; i++) s += "/" + names[i];
  return s;
}

/** The kernel's one VFS. */
export const vfs = new Vfs();
