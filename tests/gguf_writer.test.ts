import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { readGgufFileInfo } from "node-llama-cpp";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING, loadBytes, str } from "./support/gguf_fixture.mjs";

let inst: any;
let x: any;
beforeAll(async () => {
  inst = await instantiate(await compile("tests/wasm/gguf_writer.ts"));
  x = inst.exports;
});

/** Copies the writer's result out of linear memory and frees its region. */
function takeResult(): Buffer {
  const p = x.resultPtr(), n = Number(x.resultSize());
  const b = Buffer.from(new Uint8Array(inst.memory.buffer, p, n));
  x.freeRegion(p);
  return b;
}

function parseWithOurs(bytes: Buffer) {
  const base = loadBytes(inst, bytes);
  const ok = x.parse(base, BigInt(bytes.length)) === 1;
  const out = ok
    ? { ok, meta: JSON.parse(str(inst, "metadata")), types: JSON.parse(str(inst, "metadataTypes")), tensors: JSON.parse(str(inst, "tensors")) }
    : { ok, error: str(inst, "lastError") };
  x.freeRegion(base);
  return out as any;
}

function flatten(obj: any, prefix = "", out: Record<string, any> = {}) {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out);
    else out[key] = v;
  }
  return out;
}

const f32 = (v: number) => Math.fround(v);

describe("GGUF writer", () => {
  for (const alignment of [32, 64]) {
    it(`writes every metadata type and tensors (alignment ${alignment}); llama.cpp's reader agrees`, async () => {
      expect(x.writeEveryType(alignment)).toBe(1);
      expect(str(inst, "resultError")).toBe("");
      const bytes = takeResult();
      const expected: Record<string, any> = {
        "general.architecture": "test",
        ...(alignment !== 32 ? { "general.alignment": alignment } : {}),
        "t.u8": 255, "t.i8": -128, "t.u16": 65535, "t.i16": -32768, "t.u32": 4294967295, "t.i32": -2147483648,
        "t.u64": 18446744073709551615n, "t.i64": -9223372036854775808n, "t.f32": f32(0.1), "t.f64": 0.1,
        "t.true": true, "t.false": false, "t.str": "snow ☃ and 🦙, \"quoted\"", "t.empty": "", "t.replaced": "second",
        "t.strings": ["<unk>", "▁the", "", "é"], "t.f32s": [-0.5, f32(1e-5), 3], "t.i32s": [-7, 2147483647],
        "t.u32s": [4000000000], "t.u8s": [0, 255], "t.i16s": [-2, 300], "t.u64s": [1n, 18446744073709551615n],
        "t.f64s": [2.5], "t.bools": [true, false], "t.nested": [["a", "bc"], [9], [[true]]], "t.emptyarr": [],
      };
      // 1. llama.cpp's JS reader (node-llama-cpp) reads what we wrote
      const dir = mkdtempSync(join(tmpdir(), "sis-gguf-"));
      try {
        const path = join(dir, "every.gguf");
        writeFileSync(path, bytes);
        const ref = await readGgufFileInfo(path, { readTensorInfo: true });
        expect(ref.version).toBe(3);
        const meta = flatten(ref.metadata);
        const same = (got: any, want: any): boolean =>
          Array.isArray(want) ? Array.isArray(got) && got.length === want.length && want.every((w, i) => same(got[i], w))
            : typeof want === "bigint" ? BigInt(got) === want : got === want;
        for (const [k, v] of Object.entries(expected)) expect(same(meta[k], v), `${k}: ${meta[k]}`).toBe(true);
        expect(Object.keys(meta).sort()).toEqual(Object.keys(expected).sort());
        const ts = ref.fullTensorInfo!;
        expect(ts.map((t: any) => [t.name, t.dimensions.map(Number), t.ggmlType, Number(t.offset)])).toEqual([
          ["w.f32", [3, 2], 0, 0], ["w.q8", [64], 8, alignment === 32 ? 32 : 64], ["w.f16", [1, 1, 1, 5], 1, alignment === 32 ? 128 : 192],
        ]);
        const dataStart = Number(ts[0].fileOffset);
        expect(dataStart % alignment).toBe(0);
        expect(Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset + dataStart, bytes.byteOffset + dataStart + 24)))).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25]);
        const q = Number(ts[1].fileOffset);
        expect(Array.from(bytes.subarray(q, q + 68))).toEqual(Array.from({ length: 68 }, (_, k) => k + 1));
        expect(bytes.length).toBe(Number(ts[2].fileOffset) + alignment * Math.ceil(10 / alignment));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      // 2. our reader reads it back with the exact types
      const ours = parseWithOurs(bytes);
      expect(ours.ok).toBe(true);
      expect(ours.types["t.u8"]).toBe(0);
      expect(ours.types["t.i16"]).toBe(3);
      expect(ours.types["t.u64s"]).toEqual([9, 10]);
      expect(ours.types["t.nested"]).toEqual([9, 9, [[9, 8], [9, 0], [9, 9, [[9, 7]]]]]);
      expect(ours.types["t.emptyarr"]).toEqual([9, 8]);
      expect(Object.keys(ours.meta)).toEqual(Object.keys(expected)); // order kept, "t.replaced" in place
      expect(ours.meta["t.str"]).toBe(expected["t.str"]);
      expect(ours.meta["t.nested"]).toEqual(expected["t.nested"]);
    });
  }

  it("rejects invalid tensors and arrays with a clear error (and writes nothing)", () => {
    const msgs = Array.from({ length: 10 }, (_, n) => str(inst, "misuse", n));
    expect(msgs[0]).toMatch(/^GGUF writer: tensor 't' has 0 dimensions/);
    expect(msgs[1]).toMatch(/tensor 't' has 5 dimensions/);
    expect(msgs[2]).toMatch(/tensor 't' has dimension 1 equal to 0/);
    expect(msgs[3]).toMatch(/tensor 't' has unknown tensor type id 99/);
    expect(msgs[4]).toMatch(/row length 40 is not a multiple of the Q8_0 block size 32/);
    expect(msgs[5]).toMatch(/duplicate tensor name 't'/);
    expect(msgs[6]).toMatch(/alignment 24 is not a power of two/);
    expect(msgs[7]).toMatch(/array 'a': cannot push a string into an array of u8/);
    expect(msgs[8]).toMatch(/array 'a': unknown array element type 77/);
    expect(msgs[9]).toMatch(/tensor 't' has too many elements/);
  });

  const files = HAVE_SHARED
    ? [...readdirSync(join(SHARED, "models")).map((f) => join(SHARED, "models", f)),
       ...readdirSync(join(SHARED, "vocab")).map((f) => join(SHARED, "vocab", f))].filter((f) => f.endsWith(".gguf"))
    : [];
  it.skipIf(!HAVE_SHARED)("round-trips the reference files" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), () => {
    expect(files.length).toBeGreaterThanOrEqual(7);
  });
  for (const path of files) {
    it(`round-trips ${path.split("/").slice(-2).join("/")}: same metadata, tensors, and bytes`, () => {
      const bytes = readFileSync(path);
      const base = loadBytes(inst, bytes);
      const ok = x.rewrite(base, BigInt(bytes.length));
      x.freeRegion(base);
      expect(str(inst, "resultError")).toBe("");
      expect(ok).toBe(1);
      const out = takeResult();
      const a = parseWithOurs(bytes), b = parseWithOurs(out);
      expect(b.ok).toBe(true);
      expect(b.meta).toEqual(a.meta);
      expect(b.types).toEqual(a.types);
      expect(b.tensors).toEqual(a.tensors);
      for (const t of b.tensors) {
        expect(out.subarray(t.fileOffset, t.fileOffset + t.nbytes).equals(bytes.subarray(t.fileOffset, t.fileOffset + t.nbytes)), t.name).toBe(true);
      }
      // same layout rules as llama.cpp's writer: the whole file comes back identical
      expect(out.length).toBe(bytes.length);
      expect(out.equals(bytes)).toBe(true);
    });
  }
});
