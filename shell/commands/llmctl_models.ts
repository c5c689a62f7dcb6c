// `llmctl models`: every .gguf file under /models (the models disk), found recursively,
// with its size and what its header says: the family and name, or why it would not load
// (read as `llmctl load` reads it first, without the tensor data). Directories are walked
// without following symbolic links (a link to a .gguf file is listed; a link to a directory
// is not entered), so a loop cannot hang it.
import { println } from "../../kernel/console";
import { Stat, FT_DIR, FT_REG, FT_LNK, FT_UNKNOWN } from "../../kernel/fs/fs";
import { vfs } from "../../kernel/fs/vfs";
import { MODELS_PATH } from "../../kernel/storage";
import { bytes, printable } from "../format";
import { fsError, joinPath } from "./fs";
import { FAIL, OK, USAGE } from "../registry";
import { realBackend } from "../../llm/backend/registry";
import { VfsSource } from "./llmctl_model";

/** What the header of the model at `path` says: "qwen2 (Qwen2): NAME", or why it cannot load. */
function describeModel(path: string, size: u64): string {
  const o = vfs.open(path);
  if (o.error.length != 0) return "cannot read: " + o.error;
  const plan = realBackend().inspect(path, new VfsSource(o.fd, size, path), 0);
  vfs.close(o.fd);
  if (plan.error.length != 0) {
    const prefix = path + ": ";
    return "cannot load: " + (plan.error.startsWith(prefix) ? plan.error.substring(prefix.length) : plan.error);
  }
  const c = plan.config!;
  return c.arch + " (" + c.family.title + ")" + (plan.name.length != 0 ? ": " + plan.name : "");
}

const MAX_DEPTH: i32 = 32;
const MAX_ENTRIES: i32 = 100000;

class Found {
  paths: Array<string> = new Array<string>();
  sizes: Array<u64> = new Array<u64>();
  errors: Array<string> = new Array<string>();
  visited: i32 = 0;
}

export function isModelName(name: string): bool {
  return name.length > 5 && name.toLowerCase().endsWith(".gguf");
}

function walk(dir: string, depth: i32, f: Found): void {
  if (depth > MAX_DEPTH) { f.errors.push(dir + ": directories nested deeper than " + MAX_DEPTH.toString() + ", not searched"); return; }
  const o = vfs.open(dir);
  if (o.error.length) { f.errors.push(o.error); return; }
  const names = new Array<string>();
  const types = new Array<u8>();
  while (true) {
    const r = vfs.readdir(o.fd);
    if (r.error.length) { f.errors.push(r.error); break; }
    if (r.end) break;
    if (r.name == "." || r.name == "..") continue;
    if (++f.visited > MAX_ENTRIES) { f.errors.push(dir + ": more than " + MAX_ENTRIES.toString() + " entries under " + MODELS_PATH + ", search stopped"); break; }
    names.push(r.name);
    types.push(r.type);
  }
  vfs.close(o.fd);
  const st = new Stat();
  for (let i = 0; i < names.length; i++) {
    const p = joinPath(dir, names[i]);
    let t = types[i];
    if (t == FT_UNKNOWN || t == FT_REG || t == FT_LNK) {
      // the entry's own type (no filetype feature), or what a link points to
      const e = t == FT_LNK ? vfs.stat(p, st) : vfs.lstat(p, st);
      if (e.length) { if (isModelName(names[i])) f.errors.push(t == FT_LNK ? p + ": broken symbolic link: " + e : e); continue; }
      if (t == FT_UNKNOWN) t = st.type;
      if (t == FT_LNK && st.type != FT_REG) continue; // links are entered only to files
      if (st.type == FT_REG) {
        if (isModelName(names[i])) { f.paths.push(p); f.sizes.push(st.size); }
        continue;
      }
    }
    if (t == FT_DIR) walk(p, depth + 1, f);
  }
}

export function llmctlModels(args: Array<string>): i32 {
  if (args.length != 2) return USAGE;
  const st = new Stat();
  const e = vfs.stat(MODELS_PATH, st);
  if (e.length) { fsError(MODELS_PATH, e); return FAIL; }
  const f = new Found();
  walk(MODELS_PATH, 0, f);
  // sort by path (insertion sort on indices: a few entries)
  const order = new Array<i32>();
  for (let i = 0; i < f.paths.length; i++) {
    let j = order.length;
    order.push(i);
    while (j > 0 && f.paths[order[j - 1]] > f.paths[i]) { order[j] = order[j - 1]; j--; }
    order[j] = i;
  }
  let total: u64 = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    total += f.sizes[i];
    println(printable(f.paths[i]) + "  " + f.sizes[i].toString() + " bytes" + (f.sizes[i] >= 1024 ? " (" + bytes(f.sizes[i]) + ")" : "") +
      "  " + printable(describeModel(f.paths[i], f.sizes[i])));
  }
  for (let i = 0; i < f.errors.length; i++) println("error: " + printable(f.errors[i]));
  const n = order.length;
  if (n == 0) println("no .gguf files under " + MODELS_PATH);
  else println(n.toString() + (n == 1 ? " model, " : " models, ") + bytes(total) + " in all");
  return f.errors.length != 0 ? FAIL : OK;
}
