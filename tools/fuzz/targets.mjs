// The fuzz targets (tests/wasm/fuzz.ts) for the Node side: the module's export each calls and
// the vocabulary it loads first. The Makefile's fuzz rules say the same for the C harness.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { join, resolve } from "node:path";
import { ROOT } from "../lib/asbuild.mjs";
import { shrunkHeader } from "../lib/gguf_edit.mjs";

const BPE_VOCAB = resolve(ROOT, "../shared/vocab/ggml-vocab-llama-bpe.gguf");

/** sis-scribe-15m's vocabulary: the model's header without its tensors (its first `tokens`
 *  tokens only, when given: a valid smaller vocabulary). */
export function spmVocab(tokens = Infinity) {
  return shrunkHeader(readFileSync(join(ROOT, "models/sis-scribe-15m-q4_0.gguf")), { tensors: false, maxArray: tokens });
}

/** name -> { exportName, vocab(): Buffer | null (null: absent here), missing: why not,
 *  fresh: each input needs a module of its own (the target keeps state between calls) } */
export const TARGETS = {
  gguf: {}, ext4: {}, chat_template: {}, json_schema: {},
  // token names (<text>) resolve, and the matcher runs on tokens: 512 of them, so that asking
  // which may come next (a walk over the whole vocabulary) takes a millisecond, not 250
  gbnf: { vocab: () => spmVocab(512) },
  shell: { fresh: true }, // the line editor's line, history and escape state
  tokenizer_spm: { exportName: "fuzz_tokenizer", vocab: spmVocab },
  tokenizer_bpe: {
    exportName: "fuzz_tokenizer",
    vocab: () => (existsSync(BPE_VOCAB) ? readFileSync(BPE_VOCAB) : null),
    missing: `${BPE_VOCAB} is absent`,
  },
};
for (const [name, t] of Object.entries(TARGETS)) t.exportName ??= `fuzz_${name}`;

/** Every input kept under tests/fuzz/<target>/ (corpus and findings; *.gz unpacked): [{ path, bytes }]. */
export function keptInputs(target) {
  const out = [];
  const walk = (dir) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push({ path: p, bytes: name.endsWith(".gz") ? gunzipSync(readFileSync(p)) : readFileSync(p) });
    }
  };
  walk(join(ROOT, "tests/fuzz", target));
  return out;
}
