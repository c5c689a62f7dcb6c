import { describe, it, expect, beforeAll } from "vitest";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";

describe("kernel/memory/regions", () => {
  let x: any;
  beforeAll(async () => { x = (await instantiate(await compile("tests/wasm/regions.ts"))).exports; });

  it("allocates page-aligned regions and returns them on free", () => {
    x.freeRegion(x.allocRegion(1n)); // the first region also reserves room for the GC heap
    const before = x.linearMemoryBytes();
    const a = x.allocRegion(100n * 1024n);
    const b = x.allocRegion(1n);
    expect(a % 65536).toBe(0);
    expect(x.regionSize(a)).toBe(131072n);
    expect(x.regionBytesInUse()).toBe(196608n);
    expect(x.freeRegion(a)).toBe(1);
    expect(x.freeRegion(a)).toBe(0); // double free is refused
    expect(x.freeRegion(b)).toBe(1);
    expect(x.regionBytesInUse()).toBe(0n);
    // freed runs merged and are reused without growing memory
    const grown = x.linearMemoryBytes();
    const c = x.allocRegion(150000n);
    expect(c).toBe(a); // the merged run (a took the first call's free page, then grew by one)
    expect(x.linearMemoryBytes()).toBe(grown);
    expect(grown - before).toBe(131072n); // one page was already free from the first call

    x.freeRegion(c);
  });

  it("a region larger than every free run extends the free run at the end of memory", () => {
    const a = x.allocRegion(3n * 65536n), b = x.allocRegion(2n * 65536n);
    new Uint8Array(x.memory.buffer, b, 65536).fill(7);
    expect(x.freeRegion(b)).toBe(1); // the last run, ending where memory ends
    const grown = x.linearMemoryBytes();
    const c = x.allocRegion(5n * 65536n); // needs 3 more pages than are free there
    expect(c).toBe(b);
    expect(x.linearMemoryBytes() - grown).toBe(3n * 65536n);
    expect(new Uint8Array(x.memory.buffer, c, 5 * 65536).every((v: number) => v === 0)).toBe(true); // zero-filled
    x.freeRegion(a); x.freeRegion(c);
  });

  it("reports exhaustion with 0 instead of trapping", () => {
    expect(x.allocRegion(5n * 1024n * 1024n * 1024n)).toBe(0);
  });
});

describe("kernel/memory/regions and the GC heap", () => {
  it("a heap that grows after a big region does not double linear memory", async () => {
    const x: any = (await instantiate(await compile("tests/wasm/regions.ts"))).exports;
    x.allocRegion(200n * 1024n * 1024n);
    const after = x.linearMemoryBytes();
    x.churnHeap(8 * 1024 * 1024); // 8 MiB of small GC objects
    expect(x.linearMemoryBytes()).toBe(after);
  });
});
