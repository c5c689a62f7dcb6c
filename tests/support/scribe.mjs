// The real model's comparison runs: sis-scribe-15m in each of its four quantizations
// (../shared/models) and the prompts every oracle comparison continues.
import { resolve } from "node:path";
import { SHARED } from "./gguf_fixture.mjs";

export const SCRIBE_MODELS = ["f16", "q8_0", "q4_0", "q4_0-pure"].map((q) => resolve(SHARED, "models", `sis-scribe-15m-${q}.gguf`));
export const SCRIBE_PROMPTS = [
  "And God said",
  "In the beginning",
  "ROMEO:\nWhat light through yonder window breaks?",
  "Thou shalt not",
  "The king said unto his servants, Go ye",
];
