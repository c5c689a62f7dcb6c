// The flattened device tree (DTB): the description of the hardware that firmware and boot
// loaders hand a kernel (devicetree.org specification v0.4, chapter 5). Fdt.parse reads a
// blob in linear memory into a list of nodes and their properties; every offset and length
// is checked against the blob, so a damaged one gives an error, never a trap.
//
//   const r = Fdt.parse(ptr, size);
//   if (r.fdt === null) log(r.error);
//   const uart = r.fdt!.compatible("arm,pl011");          // node indices
//   const regs = r.fdt!.reg(uart[0]);                      // [address, size] pairs

const FDT_MAGIC: u32 = 0xd00dfeed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/** Limits that keep a hostile blob from costing more than a real one could. */
const MAX_DEPTH: i32 = 64;
const MAX_NODES: i32 = 65536;

/** One node: its name ("cpu@0"; "" for the root), its parent (-1 for the root) and its properties. */
export class FdtNode {
  constructor(public name: string, public parent: i32, public firstProp: i32, public propCount: i32) {}
}

/** One property: its name and where its value lies in the blob. */
export class FdtProp {
  constructor(public name: string, public offset: u32, public length: u32) {}
}

export class FdtResult {
  fdt: Fdt | null = null;
  error: string = "";
}

export class Fdt {
  nodes: Array<FdtNode> = [];
  props: Array<FdtProp> = [];
  /** The CPU that booted, as the header says (its reg value). */
  bootCpu: u32 = 0;
  private blob: Uint8Array;

  private constructor(blob: Uint8Array) { this.blob = blob; }

  /** Reads the blob at [p, p+n) (copied: the caller's memory may be reused). */
  static parse(p: usize, n: u32): FdtResult {
    const out = new FdtResult();
    if (n < 40) { out.error = "device tree: " + n.toString() + " bytes, too short for a header"; return out; }
    const blob = new Uint8Array(<i32>n);
    memory.copy(blob.dataStart, p, <usize>n);
    const f = new Fdt(blob);
    out.error = f.read();
    if (out.error.length == 0) out.fdt = f;
    return out;
  }

  @inline private be32(at: u32): u32 { return bswap<u32>(load<u32>(this.blob.dataStart + <usize>at)); }

  private read(): string {
    const size = <u32>this.blob.length;
    if (this.be32(0) != FDT_MAGIC) return "device tree: bad magic (not a DTB)";
    const total = this.be32(4), offStruct = this.be32(8), offStrings = this.be32(12);
    const version = this.be32(20), lastComp = this.be32(24), sizeStrings = this.be32(32), sizeStruct = this.be32(36);
    const limit = min(total, size); // (a blob may be kept without the free space its header counts)
    if (lastComp > 17 || version < 16) return "device tree: version " + version.toString() + " (compatible with " + lastComp.toString() + "), not 16 or 17";
    if (!within(offStruct, sizeStruct, limit) || !within(offStrings, sizeStrings, limit) || (offStruct & 3) != 0) {
      return "device tree: its blocks lie outside it";
    }
    this.bootCpu = this.be32(28);
    const end = offStruct + sizeStruct;
    let pos = offStruct, depth = 0;
    const open = new Array<i32>(); // the nodes open at each depth
    while (true) {
      if (pos + 4 > end) return "device tree: the structure ends without FDT_END";
      const token = this.be32(pos);
      pos += 4;
      if (token == FDT_BEGIN_NODE) {
        const nameEnd = this.strEnd(pos, end);
        if (nameEnd < 0) return "device tree: a node name runs past the structure block";
        if (depth >= MAX_DEPTH) return "device tree: nodes nested more than " + MAX_DEPTH.toString() + " deep";
        if (this.nodes.length >= MAX_NODES) return "device tree: more than " + MAX_NODES.toString() + " nodes";
        if (depth == 0 && this.nodes.length > 0) return "device tree: a second root node";
        const name = String.UTF8.decodeUnsafe(this.blob.dataStart + <usize>pos, <usize>(<u32>nameEnd - pos));
        this.nodes.push(new FdtNode(name, depth == 0 ? -1 : open[depth - 1], this.props.length, 0));
        if (open.length <= depth) open.push(this.nodes.length - 1); else open[depth] = this.nodes.length - 1;
        depth++;
        pos = align4(<u32>nameEnd + 1);
      } else if (token == FDT_END_NODE) {
        if (depth == 0) return "device tree: a node ends that never began";
        depth--;
      } else if (token == FDT_PROP) {
        if (depth == 0) return "device tree: a property outside every node";
        if (pos + 8 > end) return "device tree: a property header runs past the structure block";
        const len = this.be32(pos), nameOff = this.be32(pos + 4);
        pos += 8;
        if (!within(pos, len, end)) return "device tree: a property's value runs past the structure block";
        if (nameOff >= sizeStrings) return "device tree: a property name outside the strings block";
        const nameEnd = this.strEnd(offStrings + nameOff, offStrings + sizeStrings);
        if (nameEnd < 0) return "device tree: a property name runs past the strings block";
        const node = this.nodes[open[depth - 1]];
        if (node.firstProp + node.propCount != this.props.length) return "device tree: a property after a child node";
        this.props.push(new FdtProp(String.UTF8.decodeUnsafe(this.blob.dataStart + <usize>(offStrings + nameOff), <usize>(<u32>nameEnd - offStrings - nameOff)), pos, len));
        node.propCount++;
        pos = align4(pos + len);
      } else if (token == FDT_NOP) {
        // nothing
      } else if (token == FDT_END) {
        if (depth != 0) return "device tree: it ends inside a node";
        if (this.nodes.length == 0) return "device tree: no root node";
        return "";
      } else {
        return "device tree: unknown token " + token.toString() + " at offset " + (pos - 4).toString();
      }
    }
  }

  /** The offset of the NUL ending the string at `at`, if before `end`; else -1. */
  private strEnd(at: u32, end: u32): i32 {
    for (let i = at; i < end; i++) if (unchecked(this.blob[i]) == 0) return <i32>i;
    return -1;
  }

  /** Property `name` of node n, or null. */
  prop(n: i32, name: string): FdtProp | null {
    const node = this.nodes[n];
    for (let i = node.firstProp; i < node.firstProp + node.propCount; i++) if (this.props[i].name == name) return this.props[i];
    return null;
  }

  /** The i-th big-endian 32-bit cell of a property. */
  cell(p: FdtProp, i: u32): u32 { return this.be32(p.offset + i * 4); }

  /** Property `name` of node n as one cell (missing or short: def). */
  u32Of(n: i32, name: string, def: u32): u32 {
    const p = this.prop(n, name);
    return p === null || p.length < 4 ? def : this.cell(p!, 0);
  }

  /** A string property (the first string of a list); "" when missing. */
  stringOf(n: i32, name: string): string {
    const p = this.prop(n, name);
    if (p === null || p.length == 0) return "";
    let e = p.offset;
    while (e < p.offset + p.length && unchecked(this.blob[e]) != 0) e++;
    return String.UTF8.decodeUnsafe(this.blob.dataStart + <usize>p.offset, <usize>(e - p.offset));
  }

  /** Whether node n's "compatible" list holds `compat`. */
  isCompatible(n: i32, compat: string): bool {
    const p = this.prop(n, "compatible");
    if (p === null) return false;
    let s = p.offset;
    const end = p.offset + p.length;
    while (s < end) {
      let e = s;
      while (e < end && unchecked(this.blob[e]) != 0) e++;
      if (String.UTF8.decodeUnsafe(this.blob.dataStart + <usize>s, <usize>(e - s)) == compat) return true;
      s = e + 1;
    }
    return false;
  }

  /** The nodes compatible with `compat`, in tree order. */
  compatible(compat: string): Array<i32> {
    const out = new Array<i32>();
    for (let i = 0; i < this.nodes.length; i++) if (this.isCompatible(i, compat)) out.push(i);
    return out;
  }

  /** The child of node `parent` named `name` (or `name@...`), or -1. */
  child(parent: i32, name: string): i32 {
    for (let i = 0; i < this.nodes.length; i++) {
      if (this.nodes[i].parent != parent) continue;
      const nm = this.nodes[i].name;
      if (nm == name || (nm.startsWith(name) && nm.length > name.length && nm.charCodeAt(name.length) == 0x40)) return i;
    }
    return -1;
  }

  /** The node at an absolute path ("/cpus", "/psci"), or -1. */
  path(p: string): i32 {
    let n = 0; // the root
    const parts = p.split("/");
    for (let i = 0; i < parts.length; i++) {
      if (parts[i].length == 0) continue;
      n = this.child(n, parts[i]);
      if (n < 0) return -1;
    }
    return n;
  }

  /** Node n's "reg" as (address, size) pairs, with the cell counts its parent gives. */
  reg(n: i32): Array<u64> {
    const out = new Array<u64>();
    const p = this.prop(n, "reg");
    const parent = this.nodes[n].parent;
    if (p === null || parent < 0) return out;
    const ac = this.u32Of(parent, "#address-cells", 2), sc = this.u32Of(parent, "#size-cells", 1);
    if (ac > 2 || sc > 2 || ac == 0) return out; // wider values than the hardware SIS knows
    const stride = (ac + sc) * 4;
    for (let at: u32 = 0; at + stride <= p!.length; at += stride) {
      out.push(this.cells(p!, at / 4, ac));
      out.push(sc == 0 ? 0 : this.cells(p!, at / 4 + ac, sc));
    }
    return out;
  }

  /** `count` cells (1 or 2) from cell i, as one number. */
  cells(p: FdtProp, i: u32, count: u32): u64 {
    let v: u64 = 0;
    for (let k: u32 = 0; k < count; k++) v = (v << 32) | <u64>this.cell(p, i + k);
    return v;
  }
}

// @ts-ignore: decorator
@inline function align4(x: u32): u32 { return (x + 3) & ~3; }

/** Whether [at, at+len) lies within [0, end) (without overflow). */
function within(at: u32, len: u32, end: u32): bool { return at <= end && len <= end - at; }
