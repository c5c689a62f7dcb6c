// Seed inputs for the fuzz targets (tests/wasm/fuzz.ts), made from the real files SIS reads:
// node tools/fuzz/seeds.mjs OUT_DIR writes OUT_DIR/<target>/ for every target, and
// OUT_DIR/vocab-spm.gguf (sis-scribe-15m's vocabulary without its tensors, which the
// tokenizer_spm target loads) and vocab-spm-512.gguf (its first 512 tokens: the gbnf target's). Nothing here is committed: the seeds are made again from
// their sources, and only the minimized corpus that grows out of them is kept
// (tests/fuzz/<target>/, docs/RELIABILITY.md). Sources that are absent (../shared,
// llama.cpp's source bundle, mke2fs) leave their part out with a line saying so.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT } from "../lib/asbuild.mjs";
import { shrunkHeader } from "../lib/gguf_edit.mjs";
import { spmVocab } from "./targets.mjs";
import { gemma3Template } from "../lib/hf_vocab.mjs";
import { llamaSourceFile, llamaSourceUnavailable } from "../ref/llama_source.mjs";
import { cppCalls } from "../../tests/support/cpp_cases.mjs";
import { FIXED, randomStrings } from "../../tests/support/tokenizer_strings.mjs";
import { haveMke2fs, mkfs, writeTree } from "../../tests/support/ext4-images.mjs";

const SHARED = resolve(ROOT, "../shared");
const SCRIBE = join(ROOT, "models/sis-scribe-15m-q4_0.gguf");

function writeSeeds(dir, seeds) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const s of seeds) {
    const b = Buffer.isBuffer(s) ? s : Buffer.from(s, "utf8");
    writeFileSync(join(dir, createHash("sha1").update(b).digest("hex")), b);
  }
  return seeds.length;
}
const skip = (what, why) => console.log(`seeds: no ${what}: ${why}`);
const sharedFiles = (sub, ext) => (existsSync(join(SHARED, sub)) ? readdirSync(join(SHARED, sub)).filter((f) => f.endsWith(ext)).map((f) => join(SHARED, sub, f)) : []);

// gguf: the models' headers (metadata and tensor infos) with their arrays cut short, and
// vocabulary files likewise: every key a loader reads, a few KiB each. Cut short, a real
// model's header no longer fits together (a 64-token vocabulary, a 32000-row embedding), so
// tiny models of every family (sis-llm mkmodel, a 300-token vocabulary) give whole headers
// that a load would accept.
function ggufSeeds() {
  const files = [SCRIBE, ...sharedFiles("models", ".gguf"), ...sharedFiles("vocab", ".gguf")];
  const out = [];
  for (const f of files) {
    const b = readFileSync(f);
    for (const maxArray of [0, 4, 64]) out.push(shrunkHeader(b, { maxArray }));
  }
  const tmp = mkdtempSync(join(tmpdir(), "sis-fuzz-seeds-"));
  try {
    const vocabs = [SCRIBE, ...sharedFiles("vocab", "gpt-2.gguf")].map((f, i) => {
      const v = join(tmp, `vocab${i}.gguf`);
      writeFileSync(v, shrunkHeader(readFileSync(f), { tensors: false, maxArray: 300 }));
      return v;
    });
    for (const arch of ["llama", "qwen2", "qwen3", "phi3", "gemma3"]) {
      vocabs.forEach((v, i) => {
        const m = join(tmp, `${arch}-${i}.gguf`);
        execFileSync(process.execPath, [join(ROOT, "tools/sis-llm.mjs"), "mkmodel", m, "--dim", "32", "--layers", "2", "--heads", "4",
          "--kv-heads", "2", "--ff", "64", "--vocab-from", v, "--arch", arch], { stdio: "ignore" });
        out.push(shrunkHeader(readFileSync(m)));
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

// ext4: a small tree on each variant tests/ext4.test.ts reads, as images of a few hundred
// KiB cut after their last non-zero byte (the fuzz disk reads zeros beyond its input).
const EXT4_VARIANTS = [
  { type: "ext4", blockSize: 1024, features: "^has_journal" },
  { type: "ext4", blockSize: 1024, features: "^has_journal,^metadata_csum" },
  { type: "ext4", blockSize: 1024, features: "^has_journal,^64bit,^metadata_csum" },
  { type: "ext4", blockSize: 1024, features: "^has_journal,^extents,^64bit,^metadata_csum" },
  { type: "ext4", blockSize: 1024, features: "^has_journal,meta_bg,^resize_inode,^metadata_csum" },
  { type: "ext4", blockSize: 1024, features: "^has_journal,^64bit", extra: ["-I", "128"] },
  { type: "ext4", blockSize: 4096, features: "^has_journal,^metadata_csum" },
  { type: "ext4", blockSize: 4096, features: "^has_journal,^64bit", extra: ["-I", "1024"] },
  { type: "ext2", blockSize: 1024, features: "" },
  { type: "ext2", blockSize: 4096, features: "", extra: ["-I", "128"] },
];
function ext4Seeds() {
  if (!haveMke2fs) { skip("ext4 seeds", "mke2fs is not installed"); return []; }
  const tmp = mkdtempSync(join(tmpdir(), "sis-fuzz-seeds-"));
  try {
    const spec = {
      "hello.txt": "hello\n", "d/e/f.txt": "deep\n", "emptydir/": {},
      "big.txt": "0123456789abcdef\n".repeat(400), // several blocks that compress (the corpus is stored gzipped) "sparse": { sparse: 3 << 20, writes: [[0, Buffer.from("a")], [2 << 20, Buffer.from("b")]] },
      "links/fast": { symlink: "../hello.txt" }, "links/slow": { symlink: "../d/e/" + "x".repeat(90) + "/../f.txt" },
      "links/loop": { symlink: "loop" }, "links/dir": { symlink: "../d" },
    };
    for (let i = 0; i < 40; i++) spec[`many/entry-with-a-longer-name-${i}`] = "";
    writeTree(join(tmp, "src"), spec);
    const out = [];
    for (const v of EXT4_VARIANTS) {
      const sizeK = v.blockSize === 1024 ? 1024 : 2048;
      const img = mkfs(join(tmp, "img"), join(tmp, "src"), { ...v, sizeK, inodes: 64, htree: true });
      let end = img.length;
      while (end > 0 && img[end - 1] === 0) end--;
      out.push(img.subarray(0, end));
    }
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// tokenizers: llama.cpp's tokenizer test strings and the tokenizer tests' own
function textSeeds() {
  const out = [...FIXED, ...randomStrings(40, 7)];
  for (const f of sharedFiles("vocab", ".inp")) out.push(...readFileSync(f, "utf8").split("\n__ggml_vocab_test__\n"));
  return [...new Set(out)].filter((s) => s.length > 0);
}

// shell: key strokes as a terminal sends them
function shellSeeds() {
  const ESC = "\x1b";
  return [
    "help\r", "ls /models\r\n", "echo \"a b\" 'c d' \\\"x\\\" \"\\n\\t\"\r", "llmctl infer \"And God said\" --max-tokens 32 --temperature 0\n",
    `abc${ESC}[D${ESC}[DX${ESC}[C${ESC}[H>${ESC}[F<\r`, `one\rtwo\r${ESC}[A${ESC}[A${ESC}[B\r`, `word other${ESC}[1;5D${ESC}[1;5C${ESC}b${ESC}f\x17\r`,
    "abcdef\x01\x05\x02\x06\x0b\x15\x7f\x08\x04\x0c\r", "ll\t\t\r", "llmctl lo\t\t --ma\t\r", "x\x03y\r", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\xa6\x99\r",
    "bad \xff\xfe utf8\r", "nul \x00 byte\r", `${ESC}[3~${ESC}[2~${ESC}OH${ESC}OF${ESC}[5~${ESC}[200~paste${ESC}[201~\r`,
    `${ESC}[99;99;99;99;99;99;99;99;99;99;99;99;99;99;99;99;99;99;99;99X\r`, "a".repeat(4100) + "\rok\r", "\"unterminated\r'also\r",
  ].map((s) => Buffer.from(s, "latin1"));
}

// chat templates: the real models' templates (../shared/vocab/templates)
function templateSeeds() {
  const out = sharedFiles("vocab/templates", ".jinja").map((f) => readFileSync(f));
  try { out.push(gemma3Template()); } catch (e) { skip("Gemma 3 template", e.message); } // not in that collection
  return out;
}

// gbnf: the project's grammars, llama.cpp's and those of its tests, a few naming tokens of
// sis-scribe's vocabulary (the target loads its first 512 tokens), and each passing string of
// llama.cpp's grammar tests after a NUL as the target reads it: sis-scribe's token ids, u16 each
async function gbnfSeeds() {
  const out = readdirSync(join(ROOT, "models/grammars")).filter((f) => f.endsWith(".gbnf")).map((f) => readFileSync(join(ROOT, "models/grammars", f)));
  out.push('root ::= "Hello" <[13]> [a-z]+', "root ::= ( !<[2]> )* <[2]>", 'root ::= <s> [0-9]+ | <unk> "x"', "root ::= <nothing-such>");
  const { LLM } = await import("../lib/llm.mjs");
  const llm = await LLM.create();
  if (llm.load(SCRIBE) !== "") throw new Error(`seeds: ${SCRIBE} does not load`);
  const asTokens = (text) => Buffer.from(Uint16Array.from(llm.tokenize(text.toString("utf8"), false)).buffer);
  const why = llamaSourceUnavailable();
  if (why) { skip("llama.cpp grammars", why); return out; }
  for (const name of ["arithmetic", "c", "chess", "english", "japanese", "json", "json_arr", "list"]) {
    const t = llamaSourceFile(`grammars/${name}.gbnf`);
    if (t !== null) out.push(Buffer.from(t));
  }
  const parser = llamaSourceFile("tests/test-grammar-parser.cpp") ?? "";
  for (const c of [...cppCalls(parser, "verify_parsing"), ...cppCalls(parser, "verify_failure")]) out.push(c[0]);
  const integration = llamaSourceFile("tests/test-grammar-integration.cpp") ?? "";
  for (const [, grammar, passing] of cppCalls(integration, "test_grammar")) {
    out.push(grammar);
    if (passing.length) out.push(Buffer.concat([grammar, Buffer.from([0]), asTokens(passing[0])]));
  }
  return out;
}

// JSON schemas: the project's, and every literal in llama.cpp's converter tests that is a JSON object
function schemaSeeds() {
  const out = readdirSync(join(ROOT, "models/grammars")).filter((f) => f.endsWith(".json")).map((f) => readFileSync(join(ROOT, "models/grammars", f)));
  const why = llamaSourceUnavailable();
  if (why) { skip("llama.cpp schemas", why); return out; }
  for (const file of ["tests/test-json-schema-to-grammar.cpp", "tests/test-grammar-integration.cpp"]) {
    const src = llamaSourceFile(file) ?? "";
    for (const m of src.matchAll(/R"""\(([\s\S]*?)\)"""/g)) {
      try { if (typeof JSON.parse(m[1]) === "object") out.push(Buffer.from(m[1])); } catch { /* a grammar, not a schema */ }
    }
  }
  return out;
}

const out = resolve(process.argv[2] ?? join(ROOT, "build/fuzz/seeds"));
mkdirSync(out, { recursive: true });
writeFileSync(join(out, "vocab-spm.gguf"), spmVocab());
writeFileSync(join(out, "vocab-spm-512.gguf"), spmVocab(512));
const text = textSeeds();
const counts = {
  gguf: writeSeeds(join(out, "gguf"), ggufSeeds()),
  ext4: writeSeeds(join(out, "ext4"), ext4Seeds()),
  tokenizer_spm: writeSeeds(join(out, "tokenizer_spm"), text),
  tokenizer_bpe: writeSeeds(join(out, "tokenizer_bpe"), text),
  shell: writeSeeds(join(out, "shell"), shellSeeds()),
  chat_template: writeSeeds(join(out, "chat_template"), templateSeeds()),
  gbnf: writeSeeds(join(out, "gbnf"), await gbnfSeeds()),
  json_schema: writeSeeds(join(out, "json_schema"), schemaSeeds()),
};
console.log("seeds: " + Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ") + ` (in ${out})`);
