// llama.cpp (through node-llama-cpp) as the oracle for tokenizer tests: one Llama instance
// per process, models loaded on demand (vocabulary-only where that is all a file has).
import { llama as oracleLlama } from "./llamacpp.mjs";

let llama = null;
const models = new Map();

/** The LlamaModel for a GGUF path, or throws with llama.cpp's reason. */
export async function oracleModel(path, { vocabOnly = false } = {}) {
  llama ??= await oracleLlama();
  const key = `${path}:${vocabOnly}`;
  if (!models.has(key)) models.set(key, await llama.loadModel({ modelPath: path, vocabOnly }));
  return models.get(key);
}

export async function disposeOracle() {
  for (const m of models.values()) await m.dispose();
  models.clear();
}
