// Tab completion for the line editor (shell/editor.ts): the first word completes to a
// command name; later words to what the command's ArgCompleter offers (llmctl: subcommands,
// options, setting names, model files), else to paths (relative ones from the working
// directory).
import { Completion } from "./editor";
import { ArgCompleter, commandNames, findCommand } from "./registry";
import { vfs } from "../kernel/fs/vfs";
import { FT_DIR, FT_LNK, FT_UNKNOWN, Stat } from "../kernel/fs/fs";

function isSpace(c: i32): bool { return c == 0x20 || c == 0x09; }

/** The completer the shell installs: `before` is the line up to the cursor. */
export function completeLine(before: string): Completion {
  // the words before the one being typed, and where that one starts
  const words = new Array<string>();
  let i = 0, start = 0;
  const n = before.length;
  while (true) {
    while (i < n && isSpace(before.charCodeAt(i))) i++;
    start = i;
    while (i < n && !isSpace(before.charCodeAt(i))) i++;
    if (i >= n) break;
    words.push(before.substring(start, i));
  }
  const word = before.substring(start);
  let out = new Array<string>();
  if (words.length == 0) {
    out = commandNames();
  } else {
    const cmd = findCommand(words[0]);
    let c: ArgCompleter | null = null;
    if (cmd != null) c = cmd.completer;
    if (c != null) out = c(words, word);
    else if (!word.startsWith("-")) out = pathChoices(word, "");
  }
  return new Completion(start, byPrefix(out, word));
}

/** The words of `all` that start with `prefix`, sorted, without repeats. */
export function byPrefix(all: Array<string>, prefix: string): Array<string> {
  const r = new Array<string>();
  for (let i = 0; i < all.length; i++) if (all[i].startsWith(prefix) && !r.includes(all[i])) r.push(all[i]);
  r.sort((a: string, b: string): i32 => a < b ? -1 : a > b ? 1 : 0);
  return r;
}

/**
 * Paths that `word` may become: the entries of its directory part (relative words against the
 * working directory), directories with a trailing "/". With `suffix`, only files ending in it
 * (and directories, to go on into).
 */
export function pathChoices(word: string, suffix: string): Array<string> {
  const slash = word.lastIndexOf("/");
  const dir = slash < 0 ? "" : word.substring(0, slash + 1);
  const listing = vfs.listDir(dir.length == 0 ? "." : dir);
  const out = new Array<string>();
  const st = new Stat();
  for (let i = 0; i < listing.names.length; i++) {
    const name = listing.names[i];
    let isDir = listing.types[i] == FT_DIR;
    if (listing.types[i] == FT_LNK || listing.types[i] == FT_UNKNOWN) isDir = vfs.stat(dir + name, st).length == 0 && st.type == FT_DIR;
    if (isDir) out.push(dir + name + "/");
    else if (suffix.length == 0 || name.toLowerCase().endsWith(suffix)) out.push(dir + name);
  }
  return out;
}
