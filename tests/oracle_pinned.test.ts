// Every bit-exact comparison runs ONE named llama.cpp build, ggml's haswell CPU variant, whatever
// ggml would pick on this host (tools/ref/pinned.mjs): node-llama-cpp, tools/ref's ggml-ref
// and llama-run alike. This checks that the pin holds in a process, not just by configuration.
import { describe, it, expect } from "vitest";
import { readdirSync } from "node:fs";
import { basename } from "node:path";
import { pinnedBinsDir, loadedCpuVariants, PINNED_VARIANT, PINNED_CPU_LIB, hostCpuFlags } from "../tools/ref/pinned.mjs";
import { hostCpuLib, ggmlRefUnavailable } from "../tools/ref/ggmlref.mjs";
import { llama, PINNED_MISSING } from "./support/llamacpp.mjs";
import { SHARED, HAVE_SHARED } from "./support/gguf_fixture.mjs";

describe.skipIf(!!PINNED_MISSING)("the llama.cpp oracle is the pinned build" + (PINNED_MISSING ? ` (${PINNED_MISSING})` : ""), () => {
  it(`node-llama-cpp runs ggml's ${PINNED_VARIANT} CPU variant and no other`, async () => {
    const l: any = await llama();
    if (HAVE_SHARED) { // a model load runs the CPU backend for real
      const m = await l.loadModel({ modelPath: `${SHARED}/models/sis-scribe-15m-q4_0.gguf` });
      await m.dispose();
    }
    expect(loadedCpuVariants()).toEqual([PINNED_VARIANT]);
  });

  it("the backend folder node-llama-cpp and llama-run load from holds only that variant", () => {
    const cpu = readdirSync(pinnedBinsDir()).filter((f) => f.startsWith("libggml-cpu-"));
    expect(cpu).toEqual([basename(PINNED_CPU_LIB)]);
  });

  it.skipIf(!!ggmlRefUnavailable())("names what ggml itself would pick here", () => {
    const host = basename(hostCpuLib());
    const avx512 = hostCpuFlags().includes("avx512f");
    console.log(`ggml's own choice on this host: ${host} (avx512f: ${avx512}); the oracles use ${basename(PINNED_CPU_LIB)}`);
    expect(host).toMatch(/^libggml-cpu-\w+\.so$/);
    if (avx512) expect(host).not.toBe(basename(PINNED_CPU_LIB)); // the case the pin exists for
  });
});
