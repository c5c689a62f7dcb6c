import { describe, it, expect, beforeAll } from "vitest";
import { createHash, randomBytes } from "node:crypto";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate, readAsString } from "../tools/lib/wasmhost.mjs";

describe("kernel/lib/sha256", () => {
  let x: any, mem: () => WebAssembly.Memory;
  beforeAll(async () => { const w = await instantiate(await compile("tests/wasm/sha256.ts")); x = w.exports; mem = () => w.memory; });

  const hash = (data: Buffer, chunks: number[]) => {
    const p = Number(x.allocRegion(BigInt(Math.max(1, data.length))));
    new Uint8Array(mem().buffer, p, data.length).set(data);
    x.begin();
    let off = 0, i = 0;
    while (off < data.length) { const n = Math.min(chunks[i++ % chunks.length], data.length - off); x.update(p + off, n); off += n; }
    return readAsString(mem(), x.finishHex());
  };

  it("matches node:crypto for every length around the block and padding edges", () => {
    for (const len of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096, 100_003]) {
      const data = randomBytes(len);
      expect(hash(data, [len || 1]), `length ${len}`).toBe(createHash("sha256").update(data).digest("hex"));
    }
  });

  it("gives the same digest however the input is split", () => {
    const data = randomBytes(10_000);
    const want = createHash("sha256").update(data).digest("hex");
    for (const chunks of [[1], [7, 13], [63, 65, 1], [4096]]) expect(hash(data, chunks)).toBe(want);
  });
});
