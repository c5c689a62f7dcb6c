// vitest globalSetup: builds the ggml/llama.cpp reference tools (tools/ref) once, before any
// test worker starts. A worker that compiled them itself on first use would block its event
// loop for a minute or more on a fresh clone, and vitest reports such a stall as an error.
// Where the tools cannot be built, the tests that need them say why and skip.
import { ggmlRefUnavailable, ensureGgmlRef, ensureLlamaRun, ensureLlamaQuantize } from "../../tools/ref/ggmlref.mjs";

export default function setup() {
  if (ggmlRefUnavailable()) return;
  try {
    ensureGgmlRef();
    ensureLlamaRun();
    ensureLlamaQuantize();
  } catch (e) {
    process.stderr.write(`tools/ref: building the reference tools failed: ${e.message}\n`);
  }
}
