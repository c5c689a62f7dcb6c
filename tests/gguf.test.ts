import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { readGgufFileInfo } from "node-llama-cpp";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING, loadBytes, str, withBytes, buildGGUF, f32Data, T } from "./support/gguf_fixture.mjs";

let inst: any;
let x: any;
let scratch = 0;

beforeAll(async () => {
  inst = await instantiate(await compile("tests/wasm/gguf.ts"));
  x = inst.exports;
  scratch = x.allocRegion(1n << 16n);
});

/** Parses bytes in a fresh region; returns { ok, error, base }. The region is freed unless keep. */
function parseBytes(bytes: Buffer, keep = false) {
  const base = loadBytes(inst, bytes);
  const ok = x.parse(base, BigInt(bytes.length)) === 1;
  const error = str(inst, "lastError");
  if (!keep) x.freeRegion(base);
  return { ok, error, base };
}

function expectError(bytes: Buffer, ...fragments: (string | RegExp)[]) {
  const r = parseBytes(bytes);
  expect(r.ok, `expected an error, parse succeeded`).toBe(false);
  expect(r.error.startsWith("GGUF: ")).toBe(true);
  for (const f of fragments) expect(r.error).toMatch(f);
  return r.error;
}

const keyInfo = (k: string) => JSON.parse(withBytes(inst, scratch, k, (p: number, n: number) => str(inst, "keyInfo", p, n)));
const arrayElement = (k: string, i: number) =>
  JSON.parse(withBytes(inst, scratch, k, (p: number, n: number) => str(inst, "arrayElement", p, n, i)));
const findTensor = (name: string) => withBytes(inst, scratch, name, (p: number, n: number) => x.findTensor(p, n));

/** node-llama-cpp nests metadata by the dots in keys; flatten it back to "a.b.c" keys. */
function flatten(obj: any, prefix = "", out: Record<string, any> = {}) {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out[key] = v;
  }
  return out;
}

/** JSON numbers from our dump vs node-llama-cpp values (which may be bigint). */
function normalize(v: any): any {
  if (typeof v === "bigint") return Number(v);
  if (Array.isArray(v)) return v.map(normalize);
  return v;
}

// A small valid file with one of each metadata type and three tensors.
function goodSpec(): any {
  return {
    kvs: [
      ["general.architecture", T.STR, "llama"],
      ["t.u8", T.U8, 200], ["t.i8", T.I8, -100], ["t.u16", T.U16, 60000], ["t.i16", T.I16, -30000],
      ["t.u32", T.U32, 4000000000], ["t.i32", T.I32, -2000000000], ["t.f32", T.F32, 1.5],
      ["t.bool", T.BOOL, true], ["t.str", T.STR, "héllo \"wörld\"\n🦙"],
      ["t.u64", T.U64, 123456789012n], ["t.i64", T.I64, -123456789012n], ["t.f64", T.F64, -2.25],
      ["t.arr.f32", T.ARR, { elem: T.F32, items: [0.5, -1, 3] }],
      ["t.arr.i32", T.ARR, { elem: T.I32, items: [1, -2, 3, 2147483647] }],
      ["t.arr.str", T.ARR, { elem: T.STR, items: ["a", "", "▁b c"] }],
      ["t.arr.arr", T.ARR, { elem: T.ARR, items: [{ elem: T.U8, items: [1, 2] }, { elem: T.STR, items: ["x", "yz"] }, { elem: T.ARR, items: [] }] }],
      ["t.arr.empty", T.ARR, { elem: T.BOOL, items: [] }],
      ["t.arr.bool", T.ARR, { elem: T.BOOL, items: [true, false] }],
    ],
    tensors: [
      { name: "a.weight", dims: [8, 2], type: 0, data: f32Data(16) },
      { name: "b.weight", dims: [32, 1, 1, 1], type: 8, data: Buffer.alloc(34, 7) },
      { name: "c", dims: [3], type: 0, data: f32Data(3, -1) },
    ],
  };
}

describe("GGUF reader: real files", () => {
  const files = HAVE_SHARED
    ? [...readdirSync(join(SHARED, "models")).map((f) => join(SHARED, "models", f)),
       ...readdirSync(join(SHARED, "vocab")).map((f) => join(SHARED, "vocab", f))].filter((f) => f.endsWith(".gguf"))
    : [];
  it.skipIf(!HAVE_SHARED)("finds the reference files" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
  });
  for (const path of files) {
    it(`parses ${path.split("/").slice(-2).join("/")} as node-llama-cpp does, tensors in place`, async () => {
      const bytes = readFileSync(path);
      const { ok, error, base } = parseBytes(bytes, true);
      try {
        expect(error).toBe("");
        expect(ok).toBe(true);
        const ref = await readGgufFileInfo(path, { readTensorInfo: true });
        expect(x.version()).toBe(ref.version);
        expect(x.tensorCount()).toBe(Number(ref.tensorCount));
        const meta = JSON.parse(str(inst, "metadata"));
        const refMeta = flatten(ref.metadata);
        expect(Object.keys(meta).sort()).toEqual(Object.keys(refMeta).sort());
        expect(x.kvCount()).toBe(Object.keys(refMeta).length);
        for (const k of Object.keys(refMeta)) expect(meta[k], k).toEqual(normalize(refMeta[k]));
        const ts = JSON.parse(str(inst, "tensors"));
        const refTs = ref.fullTensorInfo ?? [];
        expect(ts.length).toBe(refTs.length);
        ts.forEach((t: any, i: number) => {
          const r = refTs[i];
          expect(t.name).toBe(r.name);
          expect(t.dims).toEqual(r.dimensions.map(Number));
          expect(t.type).toBe(r.ggmlType);
          expect(t.offset).toBe(Number(r.offset));
          expect(t.fileOffset).toBe(Number(r.fileOffset));
          // the data pointer is the image itself, not a copy
          expect(x.tensorData(i)).toBe(base + t.fileOffset);
          expect(t.fileOffset + t.nbytes).toBeLessThanOrEqual(bytes.length);
          expect(findTensor(t.name)).toBe(i);
        });
        expect(findTensor("no.such.tensor")).toBe(-1);
        if (ts.length) expect(x.dataOffset()).toBe(BigInt(ts[0].fileOffset - ts[0].offset));
        expect(x.alignment()).toBe(32);
      } finally {
        x.freeRegion(base);
      }
    });
  }
});

describe("GGUF reader: metadata of every type", () => {
  it("reads every value type, nested arrays included", () => {
    const { bytes } = buildGGUF(goodSpec());
    const r = parseBytes(bytes, true);
    expect(r.error).toBe("");
    const meta = JSON.parse(str(inst, "metadata"));
    for (const [k, t, v] of goodSpec().kvs) {
      const plain = (t: number, v: any): any => t === T.ARR ? v.items.map((it: any) => plain(v.elem, it)) : typeof v === "bigint" ? Number(v) : v;
      expect(meta[k], k).toEqual(plain(t, v));
    }
    const types = JSON.parse(str(inst, "metadataTypes"));
    expect(types["t.u8"]).toBe(T.U8);
    expect(types["t.i64"]).toBe(T.I64);
    expect(types["t.arr.str"]).toEqual([9, T.STR]);
    expect(types["t.arr.arr"]).toEqual([9, 9, [[9, T.U8], [9, T.STR], [9, 9, []]]]);
    x.freeRegion(r.base);
  });

  it("typed getters: integers of any width, range checks, defaults for absent keys", () => {
    const r = parseBytes(buildGGUF(goodSpec()).bytes, true);
    expect(r.ok).toBe(true);
    const u8 = keyInfo("t.u8");
    expect(u8).toMatchObject({ has: true, type: T.U8, hasInt: true, hasU32: true, u32: 200, i32: 200, i64: "200", f64: 200, hasFloat: false });
    const i8 = keyInfo("t.i8");
    expect(i8).toMatchObject({ hasInt: true, hasU32: false, u32: 12345, i32: -100, i64: "-100" });
    expect(keyInfo("t.u32")).toMatchObject({ hasU32: true, u32: 4000000000, i32: -12345 /* out of i32 range */ });
    expect(keyInfo("t.u64")).toMatchObject({ hasInt: true, hasU32: false, u32: 12345, i64: "123456789012" });
    expect(keyInfo("t.i64")).toMatchObject({ hasInt: true, i64: "-123456789012" });
    expect(keyInfo("t.f32")).toMatchObject({ hasFloat: true, hasInt: false, f64: 1.5, f32: 1.5, u32: 12345 });
    expect(keyInfo("t.f64")).toMatchObject({ hasFloat: true, f64: -2.25 });
    expect(keyInfo("t.bool")).toMatchObject({ hasBool: true, bool: true, hasInt: false });
    expect(keyInfo("t.str")).toMatchObject({ hasString: true, string: "héllo \"wörld\"\n🦙", hasInt: false, arrayLength: -1 });
    const missing = keyInfo("no.such.key");
    expect(missing).toMatchObject({ has: false, type: -1, hasInt: false, hasString: false, u32: 12345, i64: "-99", f64: -1.5, bool: true, string: "<none>", arrayLength: -1 });
    expect(keyInfo("t.arr.i32")).toMatchObject({ hasArray: true, arrayLength: 4, hasInt: false, u32: 12345 });
    expect(arrayElement("t.arr.i32", 1)).toMatchObject({ i64: "-2", f64: -2 });
    expect(arrayElement("t.arr.i32", 3)).toMatchObject({ i64: "2147483647" });
    expect(arrayElement("t.arr.i32", 4)).toMatchObject({ i64: "0", f64: 0 }); // out of range: zero, no trap
    expect(arrayElement("t.arr.i32", -1)).toMatchObject({ i64: "0" });
    expect(arrayElement("t.arr.f32", 0)).toMatchObject({ f64: 0.5, i64: "0" });
    expect(arrayElement("t.arr.str", 2)).toMatchObject({ string: "▁b c", stringLen: 6 });
    expect(arrayElement("t.arr.str", 1)).toMatchObject({ string: "", stringLen: 0 });
    expect(arrayElement("t.arr.arr", 1)).toMatchObject({ subLength: 2 });
    expect(arrayElement("t.arr.bool", 0)).toMatchObject({ bool: true });
    expect(arrayElement("t.arr.bool", 1)).toMatchObject({ bool: false });
    expect(arrayElement("t.arr.empty", 0)).toMatchObject({ subLength: -1, i64: "0" });
    expect(arrayElement("t.str", 0)).toBe(null);
    x.freeRegion(r.base);
  });

  it("tensor infos: dims, element counts, byte sizes, pointers into the image", () => {
    const { bytes, marks } = buildGGUF(goodSpec());
    const r = parseBytes(bytes, true);
    expect(r.ok).toBe(true);
    const ts = JSON.parse(str(inst, "tensors"));
    expect(ts).toEqual([
      { name: "a.weight", dims: [8, 2], type: 0, offset: 0, fileOffset: marks.dataStart, nbytes: 64, nelements: 16 },
      { name: "b.weight", dims: [32, 1, 1, 1], type: 8, offset: 64, fileOffset: marks.dataStart + 64, nbytes: 34, nelements: 32 },
      { name: "c", dims: [3], type: 0, offset: 128, fileOffset: marks.dataStart + 128, nbytes: 12, nelements: 3 },
    ]);
    expect(x.dataOffset()).toBe(BigInt(marks.dataStart));
    // the bytes at the data pointer are the tensor's bytes
    const p = x.tensorData(0);
    expect(new Float32Array(inst.memory.buffer.slice(p, p + 64))).toEqual(new Float32Array(f32Data(16).buffer.slice(0, 64)));
    x.freeRegion(r.base);
  });

  it("general.alignment: honoured when a power of two (any integer type)", () => {
    const spec = goodSpec();
    spec.alignment = 64;
    const { bytes, marks } = buildGGUF(spec);
    expect(marks.dataStart % 64).toBe(0);
    const r = parseBytes(bytes, true);
    expect(r.error).toBe("");
    expect(x.alignment()).toBe(64);
    expect(x.dataOffset()).toBe(BigInt(marks.dataStart));
    x.freeRegion(r.base);
    const s2 = goodSpec();
    s2.kvs.push(["general.alignment", T.U64, 16n]);
    const r2 = parseBytes(buildGGUF({ ...s2, tensors: [] }).bytes, true);
    expect(r2.error).toBe("");
    expect(x.alignment()).toBe(16);
    x.freeRegion(r2.base);
  });

  it("version 2 files parse like version 3", () => {
    const r = parseBytes(buildGGUF({ ...goodSpec(), version: 2 }).bytes, true);
    expect(r.error).toBe("");
    expect(x.version()).toBe(2);
    expect(x.tensorCount()).toBe(3);
    x.freeRegion(r.base);
  });

  it("an empty file (no kv, no tensors) is valid", () => {
    const r = parseBytes(buildGGUF({}).bytes);
    expect(r.error).toBe("");
  });
});

describe("GGUF reader: bad input gives a clear error, never a trap", () => {
  const good = () => buildGGUF(goodSpec());

  it("truncated at every point of the header and in the data", () => {
    const { bytes, marks } = good();
    const seen = new Set<string>();
    for (let n = 0; n < bytes.length; n++) {
      const r = parseBytes(bytes.subarray(0, n));
      expect(r.ok, `truncated to ${n} bytes`).toBe(false);
      expect(r.error).toMatch(/truncated|past the end|too small|impossible|more than the remaining/);
      seen.add(r.error.replace(/[0-9]+/g, "#").slice(0, 40));
    }
    expect(seen.size).toBeGreaterThan(5); // the messages say where it broke
    // cutting into tensor data names the tensor
    expect(parseBytes(bytes.subarray(0, marks.dataStart + 70)).error).toMatch(/tensor 'b.weight' data .* past the end of the file/);
  });

  it.skipIf(!HAVE_SHARED)("truncated real vocab file at hundreds of points" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), () => {
    const bytes = readFileSync(join(SHARED, "vocab", "ggml-vocab-llama-spm.gguf"));
    const base = loadBytes(inst, bytes);
    for (let i = 0; i < 300; i++) {
      const n = i < 100 ? i * 7 : Math.floor(((i - 100) / 200) * bytes.length);
      const ok = x.parse(base, BigInt(n)) === 1;
      expect(ok, `cut at ${n}`).toBe(false);
      expect(str(inst, "lastError")).toMatch(/^GGUF: .*(truncated|past the end|too small|impossible|more than the remaining)/);
    }
    expect(x.parse(base, BigInt(bytes.length))).toBe(1);
    x.freeRegion(base);
  });

  it("wrong magic", () => {
    expectError(buildGGUF({ ...goodSpec(), magic: "GGML" }).bytes, /bad magic 47 47 4d 4c/, /not a GGUF file/);
  });

  it("version 1", () => {
    expectError(buildGGUF({ ...goodSpec(), version: 1 }).bytes, /version 1 is not supported/);
  });

  it("version 4", () => {
    expectError(buildGGUF({ ...goodSpec(), version: 4 }).bytes, /version 4 is not supported \(only versions 2 and 3\)/);
  });

  it("big-endian file", () => {
    expectError(buildGGUF({ ...goodSpec(), version: 0x03000000 }).bytes, /big-endian/);
  });

  it("absurd tensor count", () => {
    expectError(buildGGUF({ ...goodSpec(), tensorCount: 1n << 62n }).bytes, /tensor count 4611686018427387904 is impossible/);
    expectError(buildGGUF({ ...goodSpec(), tensorCount: 0xffffffffffffffffn }).bytes, /tensor count .* is impossible/);
  });

  it("absurd kv count", () => {
    expectError(buildGGUF({ ...goodSpec(), kvCount: 1n << 40n }).bytes, /metadata count 1099511627776 is impossible/);
  });

  it("counts that would fit the file but are implausible are refused before allocating", () => {
    const pad = (b: Buffer, n: number) => Buffer.concat([b, Buffer.alloc(n)]);
    expectError(pad(buildGGUF({ kvCount: (1 << 20) + 1 }).bytes, 14_000_000), /metadata count 1048577 is implausibly large \(limit 1048576\)/);
    expectError(pad(buildGGUF({ tensorCount: (1 << 20) + 1 }).bytes, 34_000_000), /tensor count 1048577 is implausibly large/);
    const nested = buildGGUF({ kvs: [["a", T.ARR, { elem: T.ARR, items: [], count: (1 << 20) + 1 }]] }).bytes;
    expectError(pad(nested, 13_000_000), /value of 'a' has 1048577 elements of array, more than this reader accepts \(1048576\)/);
  });

  it("kv count slightly too large runs into the tensor infos and fails cleanly", () => {
    const spec = goodSpec();
    expectError(buildGGUF({ ...spec, kvCount: spec.kvs.length + 1 }).bytes, /^GGUF: /);
  });

  it("string length past the end (key, value, array element)", () => {
    const { bytes, marks } = good();
    const b1 = Buffer.from(bytes);
    b1.writeBigUInt64LE(1n << 50n, marks.kv[1]); // key length of the 2nd kv
    expectError(b1, /key of metadata entry 1 at offset \d+ claims 1125899906842624 bytes, past the end/);
    const b2 = Buffer.from(bytes);
    // value of general.architecture: after key (8 + 20 bytes) and type (4)
    b2.writeBigUInt64LE(BigInt(bytes.length), marks.kv[0] + 8 + 20 + 4);
    expectError(b2, /value of 'general.architecture' .* past the end of the file/);
    const spec = goodSpec();
    spec.kvs = [["s", T.ARR, { elem: T.STR, items: ["ok", Buffer.alloc(0)] }]];
    const b3 = buildGGUF(spec).bytes;
    // second element's length field: find it by scanning for the "ok" string
    const at = b3.indexOf(Buffer.from("ok")) + 2;
    b3.writeBigUInt64LE(0xffffffffffffff00n, at);
    expectError(b3, /value of 's'\[1\] .* past the end/);
  });

  it("absurd array element count", () => {
    const spec = goodSpec();
    spec.kvs = [["a", T.ARR, { elem: T.U32, items: [1, 2], count: 1n << 61n }]];
    expectError(buildGGUF(spec).bytes, /value of 'a' claims 2305843009213693952 elements of u32, more than the remaining/);
  });

  it("unknown metadata value type", () => {
    const { bytes, marks } = good();
    const b = Buffer.from(bytes);
    b.writeUInt32LE(13, marks.kv[1] + 8 + 4); // type of "t.u8"
    expectError(b, /value of 't.u8' has unknown value type 13/);
  });

  it("arrays nested too deep", () => {
    let v: any = { elem: T.U8, items: [] };
    for (let i = 0; i < 40; i++) v = { elem: T.ARR, items: [v] };
    expectError(buildGGUF({ kvs: [["deep", T.ARR, v]] }).bytes, /nested deeper than 16 levels/);
  });

  it("duplicate metadata key", () => {
    expectError(buildGGUF({ kvs: [["k", T.U8, 1], ["k", T.U8, 2]] }).bytes, /duplicate metadata key 'k'/);
  });

  it("bad general.alignment", () => {
    expectError(buildGGUF({ ...goodSpec(), alignment: 48 }).bytes, /general.alignment 48 is not a power of two/);
    expectError(buildGGUF({ kvs: [["general.alignment", T.U32, 0]] }).bytes, /general.alignment must be a positive/);
    expectError(buildGGUF({ kvs: [["general.alignment", T.STR, "32"]] }).bytes, /general.alignment must be a positive/);
  });

  it("dimension 0", () => {
    const spec = goodSpec();
    spec.tensors[0].dims = [8, 0];
    expectError(buildGGUF(spec).bytes, /tensor 'a.weight' has dimension 1 equal to 0/);
  });

  it("no dimensions", () => {
    const spec = goodSpec();
    spec.tensors[2] = { name: "c", dims: [], type: 0, data: Buffer.alloc(4) };
    expectError(buildGGUF(spec).bytes, /tensor 'c' has 0 dimensions \(must be 1 to 4\)/);
  });

  it("too many dimensions", () => {
    const spec = goodSpec();
    spec.tensors[1].dims = [32, 1, 1, 1, 1];
    expectError(buildGGUF(spec).bytes, /tensor 'b.weight' has 5 dimensions \(must be 1 to 4\)/);
    const { bytes, marks } = good();
    const b = Buffer.from(bytes);
    b.writeUInt32LE(0xffffffff, marks.tensorInfo[0].nDims);
    expectError(b, /tensor 'a.weight' has 4294967295 dimensions/);
  });

  it("element count overflowing 64 bits", () => {
    const spec = goodSpec();
    spec.tensors[0].dims = [1n << 32n, 1n << 32n];
    expectError(buildGGUF(spec).bytes, /tensor 'a.weight' has too many elements/);
  });

  it("unknown tensor type id", () => {
    const spec = goodSpec();
    spec.tensors[2].type = 99;
    expectError(buildGGUF(spec).bytes, /tensor 'c' has unknown tensor type id 99/);
  });

  it("row length not a whole number of blocks", () => {
    const spec = goodSpec();
    spec.tensors[1].dims = [33];
    expectError(buildGGUF(spec).bytes, /tensor 'b.weight' row length 33 is not a multiple of the Q8_0 block size 32/);
  });

  it("offset out of range", () => {
    const { bytes, marks } = good();
    const b = Buffer.from(bytes);
    b.writeBigUInt64LE(1n << 40n, marks.tensorInfo[2].offset);
    expectError(b, /tensor 'c' data \(offset 1099511627776, 12 bytes\) lies past the end of the file/);
    const b2 = Buffer.from(bytes);
    b2.writeBigUInt64LE(0xffffffffffffffe0n, marks.tensorInfo[2].offset); // offset + size wraps around
    expectError(b2, /tensor 'c' data .* past the end of the file/);
  });

  it("huge tensor that does not fit", () => {
    const spec = goodSpec();
    spec.tensors[0].dims = [8, 1n << 40n];
    expectError(buildGGUF(spec).bytes, /tensor 'a.weight' data .* past the end of the file/);
  });

  it("misaligned offset", () => {
    const { bytes, marks } = good();
    const b = Buffer.from(bytes);
    b.writeBigUInt64LE(68n, marks.tensorInfo[1].offset);
    expectError(b, /tensor 'b.weight' offset 68 is not a multiple of the alignment 32/);
  });

  it("overlapping tensors", () => {
    const { bytes, marks } = good();
    const b = Buffer.from(bytes);
    b.writeBigUInt64LE(32n, marks.tensorInfo[1].offset); // a.weight covers 0..64
    expectError(b, /tensors 'a.weight' and 'b.weight' overlap/);
    const b2 = Buffer.from(bytes);
    b2.writeBigUInt64LE(0n, marks.tensorInfo[2].offset); // same start as a.weight
    expectError(b2, /tensors '.*' and '.*' overlap/);
  });

  it("duplicate tensor names", () => {
    const spec = goodSpec();
    spec.tensors[2].name = "a.weight";
    expectError(buildGGUF(spec).bytes, /duplicate tensor name 'a.weight'/);
  });

  it("an image that lies outside linear memory", () => {
    const mem = inst.memory.buffer.byteLength;
    expect(x.parse(mem - 16, 1024n)).toBe(0);
    expect(str(inst, "lastError")).toMatch(/outside linear memory/);
  });

  it("random damage never traps", () => {
    const { bytes } = good();
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(bytes);
      const hits = 1 + Math.floor(rnd() * 4);
      for (let h = 0; h < hits; h++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const r = parseBytes(b); // a trap would throw here
      if (!r.ok) { errors++; expect(r.error).toMatch(/^GGUF: ./); }
    }
    expect(errors).toBeGreaterThan(100);
  });
});
