// llmctl chat: a conversation with the loaded model. It takes over the input lines
// (shell/shell.ts LineConsumer) under the prompt "you> ": every line is a message, the
// reply streams back, and the history stays in the model's KV cache (only the new text is
// processed each turn). The layout of the turns comes from the model's chat template
// (ChatML, Zephyr, Llama-2/3, Phi-3) or is plain "User:/Assistant:" text without one.
//   /reset   forget the conversation (empty KV cache)
//   /exit    back to the sis> prompt (also /quit)
//   /help    these commands
// Options: the generation settings as for infer, and --system "TEXT" (a system prompt).
import { println } from "../../kernel/console";
import { InferSettings } from "../../llm/backend/backend";
import { currentBackend, realBackend, realSelected } from "../../llm/backend/registry";
import { printable } from "../format";
import { FAIL, OK, USAGE } from "../registry";
import { LineConsumer, takeInput } from "../shell";
import { parseOptions } from "./llmctl_config";
import { ConsoleSink, NO_BACKEND, finishGeneration } from "./llmctl_infer";
import { wallClockSeconds } from "../../kernel/drivers/rtc_pl031";
import { formatDayMonthYear } from "../../kernel/lib/date";

export const CHAT_PROMPT = "you> ";

class Chat extends LineConsumer {
  constructor(private settings: InferSettings) { super(); }
  prompt(): string { return CHAT_PROMPT; }
  name(): string { return "llmctl chat"; }

  line(text: string): bool {
    const t = text.trim();
    const r = realBackend();
    if (t == "/exit" || t == "/quit") {
      r.chatEnd();
      println("chat ended (the conversation is forgotten)");
      return false;
    }
    if (t == "/reset") {
      r.chatReset();
      println("conversation reset: the history is cleared (context 0/" + r.engine.nCtx.toString() + ")");
      return true;
    }
    if (t == "/help") { chatHelp(); return true; }
    if (t.length == 0) return true;
    if (t.startsWith("/")) { println("error: unknown chat command '" + printable(t) + "' (/reset, /exit, /help)"); return true; }
    if (!r.isLoaded() || r.chat === null) {
      println("error: the model was unloaded; chat ended");
      return false;
    }
    const res = r.chatTurn(text, this.settings, new ConsoleSink());
    finishGeneration(r, res, true);
    return true;
  }

  abandon(): void { realBackend().chatEnd(); }
}

function chatHelp(): void {
  println("type a message and press Enter; /reset clears the history, /exit returns to the sis> prompt");
}

export function llmctlChat(args: Array<string>): i32 {
  const words = new Array<string>();
  const extra = new Array<string>();
  extra.push("system");
  const settings = parseOptions(args, 2, words, extra);
  if (settings == null) return FAIL;
  let system = "";
  for (let i = 0; i < words.length; i++) {
    if (words[i] == "--system" && i + 1 < words.length) { system = words[i + 1]; i++; continue; }
    return USAGE;
  }
  const b = currentBackend();
  if (b == null) { println("error: " + NO_BACKEND); return FAIL; }
  if (!realSelected()) { println("error: chat needs the transformer backend: llmctl backend real"); return FAIL; }
  const r = realBackend();
  // the date some templates write into the system turn (Llama 3.1+), from the wall clock
  const now = wallClockSeconds();
  const err = r.chatStart(system, now >= 0 ? formatDayMonthYear(now) : "");
  if (err.length != 0) { println("error: " + err); return FAIL; }
  const c = r.chat!;
  const name = r.engine.model!.config.name;
  println("chat with " + (name.length != 0 ? name : r.path) + ", format: " + c.describe());
  println("context: " + r.engine.nCtx.toString() + " tokens; the history stays in the KV cache. /reset clears it, /exit leaves");
  takeInput(new Chat(settings));
  return OK;
}
