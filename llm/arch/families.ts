// The model families the engine runs, by GGUF general.architecture.
import { Family } from "./family";
import { LLAMA } from "./llama";
import { QWEN2 } from "./qwen2";
import { QWEN3 } from "./qwen3";
import { PHI3 } from "./phi3";
import { GEMMA3 } from "./gemma3";

const FAMILIES: Family[] = [LLAMA, QWEN2, QWEN3, PHI3, GEMMA3];

/** The family of `arch`, or null when the engine does not run it. */
export function findFamily(arch: string): Family | null {
  for (let i = 0; i < FAMILIES.length; i++) if (FAMILIES[i].arch == arch) return FAMILIES[i];
  return null;
}

/** "llama, qwen2, ..." for error messages. */
export function familyNames(): string {
  let s = "";
  for (let i = 0; i < FAMILIES.length; i++) s += (i > 0 ? ", " : "") + FAMILIES[i].arch;
  return s;
}
