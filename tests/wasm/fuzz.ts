// Fuzz entry: one export per input SIS parses, each taking arbitrary bytes at [p, p+n) and
// running the kernel's own parser on them. The contract under test is the one every parser
// has (docs/DESIGN.md, "Conventions"): bad input gives an error value, never a trap and
// never a hang. Each returns OK when the input was accepted, REJECTED when the parser said
// why not; a trap is the finding. tools/fuzz/harness.c drives this module as wasm2c's C
// under libFuzzer, tests/fuzz.test.ts replays the corpora through it in Node (docs/RELIABILITY.md).
//
// State: the drivers reset the module between inputs (the C harness restores a snapshot of
// memory and globals taken after setup; Node instantiates afresh), so a target may leave
// globals (the editor's history, the VFS's mounts) as they fall.
import { allocRegion } from "../../kernel/memory/regions";
import { BlockDevice, SECTOR_SIZE, checkRange } from "../../kernel/block/device";
import { Ext4 } from "../../kernel/fs/ext4";
import { vfs } from "../../kernel/fs/vfs";
import { Stat, FT_DIR, FT_LNK, FT_REG } from "../../kernel/fs/fs";
import { parseGGUF } from "../../llm/gguf";
import { metadataJSON, tensorsJSON } from "../../llm/gguf_dump";
import { planModel } from "../../llm/backend/model_plan";
import { Tokenizer } from "../../llm/tokenizer/tokenizer";
import { StreamDecoder } from "../../llm/tokenizer/stream_decoder";
import { ChatFormat } from "../../llm/chat_template";
import { parseGrammar } from "../../llm/grammar/gbnf";
import { GrammarMatcher } from "../../llm/grammar/matcher";
import { MAX_STACKS_PER_CALL } from "../../llm/grammar/stacks";
import { GrammarVocab } from "../../llm/grammar/vocab";
import { jsonSchemaToGrammarUtf8 } from "../../llm/grammar/json_schema";
import { parseArgs, parseNumber, parseUint } from "../../shell/args";
import { FEED_LINE, feed, lineLength, linePtr, setCompleter, showTail } from "../../shell/editor";
import { completeLine } from "../../shell/completion";
import { registerCommand, setArgCompleter } from "../../shell/registry";
import { Completion } from "../../shell/editor";

export const OK: i32 = 0;
export const REJECTED: i32 = 1;

/** Room for n input bytes (a fresh region: the driver resets memory after each input). */
export function fuzzBuffer(n: u32): usize { return allocRegion(<u64>(n > 0 ? n : 1)); }

function bytesAt(p: usize, n: u32): Uint8Array {
  const b = new Uint8Array(n);
  memory.copy(b.dataStart, p, <usize>n);
  return b;
}

// ---- gguf: header, metadata and tensor infos, as `llmctl load` and `llmctl models` read them ----

/** A file's bytes read as the whole file and as the first bytes of a larger one (planModel). */
export function fuzz_gguf(p: usize, n: u32): i32 {
  const r = parseGGUF(p, <u64>n);
  if (r.ok) {
    const f = r.file!;
    metadataJSON(f);
    tensorsJSON(f);
    // what loading reads from the metadata besides the model: the tokenizer and chat format
    const t = Tokenizer.fromGGUF(f);
    if (t.tokenizer !== null) t.tokenizer!.encodeBytes(p, <i32>min<u32>(n, 64), true, true);
    ChatFormat.fromGGUF(f);
  }
  // the same bytes as the header of a file that goes on (tensor data after them)
  const plan = planModel(p, <u64>n, <u64>n + (<u64>1 << 32), 0);
  return r.ok || (plan.error.length == 0 && !plan.needMore) ? OK : REJECTED;
}

// ---- ext4 through the VFS on an in-memory disk ----

// A disk of DISK_SECTORS whose first sectors are the input; the rest reads as zeros, so that
// an image cut after its last non-zero byte (the seeds) is still the whole file system.
const DISK_SECTORS: u64 = 64 << 11; // 64 MiB
// Bounds on the walk: a damaged directory may list thousands of entries or loop.
const WALK_ENTRIES = 512;
const WALK_DEPTH = 12;
const READ_BYTES: u64 = 1 << 20;

class MemDisk implements BlockDevice {
  constructor(private base: usize, private len: u64) {}
  name(): string { return "fuzzdisk"; }
  sectorSize(): u32 { return SECTOR_SIZE; }
  sectorCount(): u64 { return DISK_SECTORS; }
  readSectors(lba: u64, count: u32, dst: usize): string {
    const e = checkRange(this, lba, count);
    if (e.length) return e;
    const off = lba * <u64>SECTOR_SIZE, size = <u64>count * <u64>SECTOR_SIZE;
    const have = off >= this.len ? 0 : min<u64>(size, this.len - off);
    if (have > 0) memory.copy(dst, this.base + <usize>off, <usize>have);
    memory.fill(dst + <usize>have, 0, <usize>(size - have));
    return "";
  }
}

let walked = 0;
const st = new Stat();
let readBuf: usize = 0;

/** Mounts the input as an ext4 image and reads everything reachable: entries, files, links. */
export function fuzz_ext4(p: usize, n: u32): i32 {
  const m = Ext4.mount(new MemDisk(p, <u64>n));
  if (m.fs === null) return REJECTED;
  if (vfs.mount("/", m.fs!).length) return REJECTED;
  readBuf = allocRegion(64 << 10);
  walked = 0;
  walk("/", 0);
  vfs.unmount("/");
  return OK;
}

function walk(dir: string, depth: i32): void {
  const l = vfs.listDir(dir);
  for (let i = 0; i < l.names.length && walked < WALK_ENTRIES; i++) {
    walked++;
    const path = (dir == "/" ? "/" : dir + "/") + l.names[i];
    vfs.lstat(path, st);
    const t = l.types[i];
    if (t == FT_LNK) {
      vfs.readlink(path);
      vfs.stat(path, st); // follows the link (and any chain or loop behind it)
      readFile(path);
    } else if (t == FT_DIR) {
      if (depth < WALK_DEPTH) walk(path, depth + 1);
    } else if (t == FT_REG) {
      readFile(path);
    }
  }
}

/** Reads up to READ_BYTES of the file, then a few bytes near its end (the last extent). */
function readFile(path: string): void {
  const o = vfs.open(path);
  if (o.error.length) return;
  let got: u64 = 0;
  while (got < READ_BYTES) {
    const r = vfs.read(o.fd, readBuf, 64 << 10);
    if (r.error.length || r.bytes == 0) break;
    got += r.bytes;
  }
  if (vfs.fstat(o.fd, st).length == 0 && st.size > 0) vfs.pread(o.fd, st.size - 1, readBuf, 4096);
  vfs.close(o.fd);
}

// ---- tokenizers: arbitrary bytes as text through a real vocabulary ----

let tok: Tokenizer | null = null;

/** Setup (once, before the snapshot): the vocabulary GGUF at [p, p+n). "" or the error. */
export function fuzzLoadVocab(p: usize, n: u32): string {
  const r = parseGGUF(p, <u64>n);
  if (!r.ok) return r.error;
  const t = Tokenizer.fromGGUF(r.file!);
  tok = t.tokenizer;
  if (tok !== null) grammarVocab = new GrammarVocab(tok!);
  return t.error;
}

/** Encodes the input (with and without special-token parsing) and decodes the ids again. */
export function fuzz_tokenizer(p: usize, n: u32): i32 {
  const t = tok!;
  const ids = t.encodeBytes(p, <i32>n, true, true);
  t.detokenize(ids, false, true);
  t.detokenize(t.encodeBytes(p, <i32>n, false, false), true, false);
  const d = new StreamDecoder(t, true, true);
  for (let i = 0; i < ids.length; i++) d.push(ids[i]);
  d.flush();
  // the input read as token ids (any i32: out-of-range ids are the decoder's to refuse)
  for (let i: u32 = 0; i + 4 <= n && i < 256; i += 4) t.decodeToken(load<i32>(p + i), (i & 4) != 0);
  return OK;
}

// ---- shell: the line editor and the argument parser on a byte stream from the console ----

// a few commands and an argument completer, so that Tab has names to offer (at start: in the snapshot)
registerCommand("help", "", "", (a: Array<string>): i32 => 0);
registerCommand("llmctl", "", "", (a: Array<string>): i32 => 0);
setArgCompleter("llmctl", (words: Array<string>, word: string): Array<string> => ["load", "infer", "--max-tokens"]);
setCompleter((before: string): Completion => completeLine(before));

/** Feeds the bytes to the editor; each finished line goes through the argument parser. */
export function fuzz_shell(p: usize, n: u32): i32 {
  let lines = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (feed(load<u8>(p + i)) != FEED_LINE) continue;
    lines++;
    const r = parseArgs(String.UTF8.decodeUnsafe(linePtr(), <usize>lineLength()));
    for (let k = 0; k < r.args.length; k++) { parseNumber(r.args[k]); parseUint(r.args[k], u32.MAX_VALUE); }
  }
  showTail(); // as kernel_poll does once the input at hand is in
  return lines > 0 ? OK : REJECTED;
}

// ---- chat templates: which format a template is, then a conversation in it ----

export function fuzz_chat_template(p: usize, n: u32): i32 {
  const f = ChatFormat.fromTemplate(String.UTF8.decodeUnsafe(p, <usize>n), "<s>", "</s>", true);
  f.formatTurn("system", "Be brief.", false);
  f.formatTurn("user", "Hello", true);
  f.endReply();
  f.userTurn("And then?");
  f.findStop("text</s><|im_end|>");
  return f.error.length == 0 ? OK : REJECTED;
}

// ---- grammars: GBNF text, then a matcher fed the tokens after the first NUL ----

const MATCH_TOKENS: u32 = 32;

/** The grammar's view of the vocabulary setup loaded (sis-scribe's), made once per process. */
let grammarVocab: GrammarVocab | null = null;

/** The text before the first NUL parsed as GBNF with a vocabulary (so `<text>` token names
 *  resolve), then a matcher asked which tokens may come first (the walk over the vocabulary's
 *  trie) and fed the u16 token ids after the NUL while it allows them, as generation does. */
export function fuzz_gbnf(p: usize, n: u32): i32 {
  let g = n;
  for (let i: u32 = 0; i < n; i++) if (load<u8>(p + i) == 0) { g = i; break; }
  const r = parseGrammar(bytesAt(p, g), "root", tok);
  if (r.grammar === null) return REJECTED;
  const m = new GrammarMatcher(r.grammar!);
  const v = grammarVocab!;
  m.allowedTokens(v, new Uint8Array(v.size));
  const end = min<u32>(n, g + 1 + 2 * MATCH_TOKENS);
  for (let i = g + 1; i + 2 <= end; i += 2) {
    // each step is held to the matcher's limits, not the steps together: past one step's
    // worth of stacks the input stops, so that it stays within libFuzzer's second
    if (m.workSpent > <i64>MAX_STACKS_PER_CALL) break;
    const id = <i32>load<u16>(p + i) % v.size;
    if (!m.allows(v, id)) break;
    m.acceptToken(id, v.piecePtr(id), v.pieceLen(id), v.isEog(id));
  }
  return OK;
}

/** A JSON schema to GBNF, and that grammar parsed as `llmctl infer --json-schema` does. (What the
 *  converter writes need not parse: for maxItems below minItems it writes x{6,5} as llama.cpp
 *  does, which the parser refuses with a message.) */
export function fuzz_json_schema(p: usize, n: u32): i32 {
  const s = jsonSchemaToGrammarUtf8(p, <usize>n);
  if (s.error.length != 0) return REJECTED;
  return parseGrammar(s.grammarBytes, "root", null).grammar === null ? REJECTED : OK;
}
