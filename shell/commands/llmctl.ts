// llmctl: the shell side of the LLM subsystem. This file dispatches the subcommands and
// holds their help; each group lives in its own file:
//   llmctl_model.ts   backend, load, unload, info
//   llmctl_infer.ts   infer, stats, profile
//   llmctl_chat.ts    chat (takes over the input lines)
//   llmctl_config.ts  config (and the --options every generation takes)
//   llmctl_bench.ts   bench
//   llmctl_models.ts  models
import { println } from "../../kernel/console";
import { recoverBackends } from "../../llm/backend/registry";
import { printable } from "../format";
import { OK, USAGE, onTrapRecovery, registerCommand, setArgCompleter } from "../registry";
import { pathChoices } from "../completion";
import { llmctlBench } from "./llmctl_bench";
import { llmctlChat } from "./llmctl_chat";
import { CONFIG_KEYS, llmctlConfig } from "./llmctl_config";
import { llmctlInfer, llmctlProfile, llmctlStats } from "./llmctl_infer";
import { llmctlBackend, llmctlInfo, llmctlLoad, llmctlUnload } from "./llmctl_model";
import { familyNames } from "../../llm/arch/families";
import { llmctlModels } from "./llmctl_models";
import { GRAMMAR_OPTIONS } from "./llmctl_grammar";

// (the grammar options on a line of their own, indented under the command)
const OPTIONS = "[--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--min-p M] [--repeat-penalty R] [--seed S]\n" +
  "      " + GRAMMAR_OPTIONS;

class Sub {
  constructor(public name: string, public synopsis: string, public help: string, public run: (args: Array<string>) => i32) {}
}

const subs = new Array<Sub>();
function sub(name: string, synopsis: string, help: string, run: (args: Array<string>) => i32): void {
  subs.push(new Sub(name, synopsis, help, run));
}

sub("backend", "llmctl backend [stub [--delay-ms N] | real]",
  "select the backend: 'real' is the transformer (TransformerBackend, runs GGUF models), 'stub' a synthetic\n" +
  "  testing backend without a model (--delay-ms: wait before each word). Without a name: show the selected one.", llmctlBackend);
sub("models", "llmctl models", "list every .gguf file under /models with its size and its family and name (or why it would not load)", llmctlModels);
sub("load", "llmctl load PATH",
  "load a GGUF model (architectures: " + familyNames() + "): the header is checked first (format, architecture, tensor types)\n" +
  "  and the model must fit in free memory with its KV cache and scratch before the file is read; then it is\n" +
  "  read with a progress bar and its details are printed. Replaces a model loaded before. Ctrl-C stops it.", llmctlLoad);
sub("unload", "llmctl unload", "free the model, its KV cache and scratch (all of its memory)", llmctlUnload);
sub("info", "llmctl info", "the backend, the loaded model, its memory (model, KV cache, scratch) and the settings", llmctlInfo);
sub("infer", "llmctl infer \"PROMPT\" " + OPTIONS,
  "continue PROMPT: the text streams as it is generated; Ctrl-C stops it and keeps what was produced;\n" +
  "  then [N tokens, prompt P tok at X tok/s, generation Y tok/s]. Options override the settings (llmctl config).\n" +
  "  --grammar-file (GBNF, llama.cpp's format), --json-schema, --json-schema-file or --json (any JSON object)\n" +
  "  make the output follow a grammar, as llama.cpp's --grammar-file/--json-schema do.", llmctlInfer);
sub("chat", "llmctl chat [--system \"TEXT\"] " + OPTIONS,
  "talk with the model: lines typed at the 'you> ' prompt are messages, the history stays in the KV cache;\n" +
  "  the turns follow the model's chat template (plain User:/Assistant: turns without one).\n" +
  "  /reset clears the history, /exit returns to the shell.", llmctlChat);
sub("config", "llmctl config [KEY VALUE]",
  "show the generation settings, or set one: " + CONFIG_KEYS + ".\n" +
  "  seed: a number or 'random'; context: tokens (0 = the model's own), applied to a loaded model at once.", llmctlConfig);
sub("stats", "llmctl stats", "inferences, tokens, average latency and tok/s since boot, memory and KV cache size", llmctlStats);
sub("profile", "llmctl profile [on|off]",
  "when on, each inference is followed by its time per stage: tokenization, embedding, every layer, output head,\n" +
  "  sampling, detokenization (with percentages), and prefill/generation tok/s", llmctlProfile);
sub("bench", "llmctl bench [--pp N,N,...] [--tg N,N,...] [--pg P,N] [--runs R]",
  "speed of the loaded model: prompt processing of 10/50/100 tokens (pp) and generation of 1/10/50 tokens (tg),\n" +
  "  tok/s each, and memory (model, KV cache, scratch peak). --pg P,N: a P-token prefill then N tokens generated\n" +
  "  after it, timed apart (alone unless --pp/--tg are given too). --runs R: the median of R runs.", llmctlBench);
sub("help", "llmctl help [SUBCOMMAND]", "list the subcommands, or explain one", llmctlHelp);

function findSub(name: string): Sub | null {
  for (let i = 0; i < subs.length; i++) if (subs[i].name == name) return subs[i];
  return null;
}

function llmctlHelp(args: Array<string>): i32 {
  if (args.length == 2) {
    println("llmctl subcommands ('llmctl help NAME' or 'llmctl NAME --help' for one):");
    for (let i = 0; i < subs.length; i++) println("  " + subs[i].synopsis);
    return OK;
  }
  if (args.length != 3) return USAGE;
  const s = findSub(args[2]);
  if (s == null) { println("error: unknown llmctl subcommand '" + printable(args[2]) + "' (llmctl help lists them)"); return USAGE; }
  println("usage: " + s.synopsis);
  println("  " + s.help);
  return OK;
}

function llmctl(args: Array<string>): i32 {
  if (args.length < 2) return USAGE;
  const s = findSub(args[1]);
  if (s == null) {
    println("error: unknown llmctl subcommand '" + printable(args[1]) + "'");
    return USAGE;
  }
  if (args.length == 3 && (args[2] == "--help" || args[2] == "-h")) {
    const h = new Array<string>();
    h.push("llmctl"); h.push("help"); h.push(s.name);
    return llmctlHelp(h);
  }
  const run = s.run;
  const rc = run(args);
  if (rc == USAGE) { println("usage: " + s.synopsis); return 1; }
  return rc;
}

onTrapRecovery(recoverBackends);

function usage(): string {
  let u = "";
  for (let i = 0; i < subs.length; i++) u += (i > 0 ? "\n       " : "") + subs[i].synopsis;
  return u + "\n       ('llmctl help SUBCOMMAND' explains one)";
}

registerCommand("llmctl", "the LLM subsystem: backend, load/unload models, infer, chat, config, stats, profile, bench", usage(), llmctl);
setArgCompleter("llmctl", completeLlmctl);

/** The --options a synopsis names (what Tab offers after a subcommand). */
function optionsOf(synopsis: string): Array<string> {
  const out = new Array<string>();
  const parts = synopsis.split(" ");
  for (let i = 0; i < parts.length; i++) {
    let w = parts[i];
    while (w.startsWith("[")) w = w.substring(1);
    if (!w.startsWith("--")) continue;
    let e = 2;
    while (e < w.length && (w.charCodeAt(e) == 0x2d || (w.charCodeAt(e) >= 0x61 && w.charCodeAt(e) <= 0x7a))) e++;
    out.push(w.substring(0, e));
  }
  return out;
}

// Tab after `llmctl`: subcommands, then each one's words (model files for load, setting
// names for config, its --options).
function completeLlmctl(words: Array<string>, word: string): Array<string> {
  const out = new Array<string>();
  if (words.length == 1 || (words.length == 2 && words[1] == "help")) {
    for (let i = 0; i < subs.length; i++) out.push(subs[i].name);
    return out;
  }
  const s = findSub(words[1]);
  if (s == null) return out;
  if (word.startsWith("-")) return optionsOf(s.synopsis);
  if (words.length == 2) {
    if (s.name == "load") return pathChoices(word, ".gguf");
    if (s.name == "backend") { out.push("stub"); out.push("real"); }
    if (s.name == "profile") { out.push("on"); out.push("off"); }
    if (s.name == "config") { const k = CONFIG_KEYS.split(", "); for (let i = 0; i < k.length; i++) out.push(k[i]); }
  }
  return out;
}
