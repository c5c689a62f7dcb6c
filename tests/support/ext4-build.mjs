// Compiles tests/wasm/storage.ts once for all storage test files: vitest runs test files
// in parallel processes, and two compiles racing on the same output could hand one of
// them a half-written .wasm. A lock directory serialises them; the second finds the
// cached build (compile() checks the source hash) and returns at once.
import { mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { compile, ROOT } from "../../tools/lib/asbuild.mjs";

export const STORAGE_ENTRY = "tests/wasm/storage.ts";

export async function buildStorageWasm() {
  const dir = join(ROOT, "build", "wasm");
  mkdirSync(dir, { recursive: true });
  const lock = join(dir, "storage.lock");
  for (let waited = 0; ; waited += 200) {
    try { mkdirSync(lock); break; } catch (e) {
      if (e.code !== "EEXIST") throw e;
      try { if (Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true }); } catch {}
      if (waited > 600_000) throw new Error("timed out waiting for " + lock);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try { return await compile(STORAGE_ENTRY, { out: "build/wasm/storage.release.wasm" }); }
  finally { rmSync(lock, { recursive: true, force: true }); }
}
