// Chat prompt formatting for multi-turn conversations (llmctl chat).
//
// The model's tokenizer.chat_template is a Jinja program; instead of interpreting it, the
// template's family is recognised by distinctive substrings (llm/chat/detect.ts, in the
// order llama.cpp's built-in formatter uses) and the conversation is laid out by a
// hand-written formatter per family. The layout is the one the template itself produces
// (as llama.cpp renders it with its Jinja engine, which the tests use as the oracle); for
// ChatML, Llama-3, Phi-3 with a system turn and Mistral-style Llama-2 this is also exactly
// what llama.cpp's built-in llama_chat_apply_template produces. Differences from the built-in formatter,
// all in favour of the template:
//   - TinyLlama/Zephyr templates end turns with eos_token ("</s>"): built-in detection
//     calls them GLM-Edge and leaves the turn ends out.
//   - Meta's Llama-2-chat template writes replies as " text </s>" and BOS before every
//     [INST]; the built-in writes "text</s>" and no BOS.
//   - Templates without a system turn (Phi-3-mini, Mistral-Instruct v0.2): the system
//     prompt goes in front of the first user message with "\n" (llama.cpp's Jinja path);
//     the built-in Phi-3 formatter writes a <|system|> turn the model never saw.
// Anything else falls back to plain "User: ...\nAssistant:" turns, and `reason` says why.
//
// Incremental use, so that earlier turns stay in the KV cache and are never re-processed:
//
//   const fmt = ChatFormat.fromGGUF(file);             // the shell prints fmt.describe()
//   let text = fmt.formatTurn("system", sys, false);   // "" when the family merges it later
//   text += fmt.userTurn(line);                         // user message + assistant prompt
//   // feed text, generate until fmt.isStopToken(id) or fmt.findStop(reply) >= 0, then
//   text = fmt.userTurn(next);                          // closes the reply ("<|im_end|>\n" etc.),
//                                                       // then the next user message; and so on
//
// Tokenizing: everything handed out between two generations is one text, tokenized at once
// (parseSpecial = true); the first text of a conversation with addSpecial = true (BOS when
// the model adds one), later ones with addSpecial = false. Each later text then starts with
// the stop token the reply ended on (sampled but not yet fed), so it tokenizes exactly as
// the same stretch of the whole conversation would. A stop string that is not one token
// (the plain fallback's "\nUser:") is not fed: drop its tokens before the next text.
//
// The texts (with each generated reply in between) concatenate to exactly the full prompt
// of the whole conversation. userTurn(u) is endReply() (when a reply is open) followed by
// formatTurn("user", u, true). A reply given as text (history replay) goes through
// formatTurn("assistant", text, false) instead of endReply(): the reply as the template
// writes it, followed by the same closing text. Llama-2 has no assistant prompt: the reply
// follows "[/INST]" directly, whatever addAssistantPrompt says.

import { GGUFFile, GGUF_TYPE_STRING } from "./gguf";
import {
  TemplateInfo, detectTemplate, familyName, FAMILY_PLAIN, FAMILY_CHATML, FAMILY_ZEPHYR, FAMILY_LLAMA2, FAMILY_LLAMA3, FAMILY_PHI3, FAMILY_GEMMA,
} from "./chat/detect";
import { strip, findPiece, findText } from "./chat/text";

const ROLE_NONE: i32 = 0;
const ROLE_SYSTEM: i32 = 1;
const ROLE_USER: i32 = 2;
const ROLE_ASSISTANT: i32 = 3;

function llama3Header(role: string): string { return "<|start_header_id|>" + role + "<|end_header_id|>\n\n"; }

export class ChatFormat {
  /** Family: "chatml", "zephyr", "llama2", "llama3", "phi3", "gemma" or "plain". */
  name: string = "plain";
  /** Why this family (and which variant), or why the plain fallback. */
  reason: string = "";
  /** The Jinja source it was chosen from ("" when the model has none). */
  template: string = "";
  /** Text of the model's BOS / EOS tokens ("" when it has none). */
  bosText: string = "";
  eosText: string = "";
  /** The tokenizer adds BOS itself (then a template's leading bos_token is not written). */
  addBos: bool = false;
  /** Text that ends a reply: generation stops where one appears. */
  stopStrings: Array<string> = new Array<string>();
  /** Tokens that end a reply (stop strings that are single tokens, EOS, EOT). Also stop at the tokenizer's isEog(). */
  stopTokens: Array<i32> = new Array<i32>();
  /** Why the last call returned nothing ("" when it did not fail). */
  error: string = "";
  /** The piece last returned is the first of the conversation (tokenize it with addSpecial = true). */
  firstPiece: bool = false;
  /** Today's date as Llama 3.1+ templates write it ("%d %b %Y"); the template's own fallback
   *  until the caller sets it (llama.cpp renders the date it runs on). */
  today: string = "26 Jul 2024";

  private info: TemplateInfo;
  private started: bool = false;
  private hasPendingSystem: bool = false;
  private pendingSystem: string = "";
  private replyOpen: bool = false;
  private lastRole: i32 = ROLE_NONE;
  private userTurns: i32 = 0;

  private constructor(info: TemplateInfo) { this.info = info; }

  /** The format for a template string with the model's BOS/EOS text and add-BOS setting. */
  static fromTemplate(template: string, bosText: string, eosText: string, addBos: bool): ChatFormat {
    const info = detectTemplate(template);
    const c = new ChatFormat(info);
    c.template = template;
    c.name = familyName(info.family);
    c.reason = info.reason;
    if (info.family == FAMILY_ZEPHYR && info.endWithEos) c.reason += " '" + eosText + "'";
    c.bosText = bosText;
    c.eosText = eosText;
    c.addBos = addBos;
    let stop = "";
    switch (info.family) {
      case FAMILY_CHATML: stop = "<|im_end|>"; break;
      case FAMILY_ZEPHYR: stop = c.zephyrEnd(); break;
      case FAMILY_LLAMA2: stop = eosText; break;
      case FAMILY_LLAMA3: stop = "<|eot_id|>"; break;
      case FAMILY_PHI3: stop = "<|end|>"; break;
      case FAMILY_GEMMA: stop = "<end_of_turn>"; break;
      default: stop = "\nUser:";
    }
    if (stop.length > 0) c.stopStrings.push(stop);
    // plain turns: a model that was never taught them rarely writes "User:"; a blank line
    // ends its paragraph, and the reply with it
    if (info.family == FAMILY_PLAIN) c.stopStrings.push("\n\n");
    if (eosText.length > 0 && !c.stopStrings.includes(eosText)) c.stopStrings.push(eosText);
    return c;
  }

  /** The format for a model: its tokenizer.chat_template, BOS/EOS and stop tokens from the vocabulary. */
  static fromGGUF(f: GGUFFile): ChatFormat {
    const tokens = f.getArray("tokenizer.ggml.tokens");
    const n = tokens !== null && tokens.elemType == GGUF_TYPE_STRING ? tokens.length : 0;
    const model = f.getString("tokenizer.ggml.model", "");
    // the same defaults as the tokenizer (llama.cpp's): SentencePiece BOS 1 / EOS 2 and adds BOS
    let bos = -1, eos = -1, addBos = false;
    if (model == "llama") { bos = 1; eos = 2; addBos = true; }
    else if (model == "gpt2") { bos = 11; eos = 11; }
    bos = tokenId(f, "tokenizer.ggml.bos_token_id", bos, n);
    eos = tokenId(f, "tokenizer.ggml.eos_token_id", eos, n);
    const eot = tokenId(f, "tokenizer.ggml.eot_token_id", -1, n);
    addBos = f.getBool("tokenizer.ggml.add_bos_token", addBos) && bos >= 0;
    const bosText = bos >= 0 ? tokens!.stringAt(bos) : "";
    const eosText = eos >= 0 ? tokens!.stringAt(eos) : "";

    const present = f.has("tokenizer.chat_template");
    const isString = f.hasString("tokenizer.chat_template");
    const c = ChatFormat.fromTemplate(isString ? f.getString("tokenizer.chat_template", "") : "", bosText, eosText, addBos);
    if (present && !isString) c.reason = "tokenizer.chat_template is not a string";

    if (n > 0) {
      for (let i = 0; i < c.stopStrings.length; i++) {
        const id = findPiece(tokens!, c.stopStrings[i]);
        if (id >= 0 && !c.stopTokens.includes(id)) c.stopTokens.push(id);
      }
    }
    if (eos >= 0 && !c.stopTokens.includes(eos)) c.stopTokens.push(eos);
    if (eot >= 0 && !c.stopTokens.includes(eot)) c.stopTokens.push(eot);
    return c;
  }

  /** "zephyr (<|role|> turns ended by eos_token)": what the shell prints. */
  describe(): string { return this.name + " (" + this.reason + ")"; }

  /** Starts a new conversation (the caller clears its KV cache). */
  reset(): void {
    this.started = false;
    this.firstPiece = false;
    this.hasPendingSystem = false;
    this.pendingSystem = "";
    this.replyOpen = false;
    this.lastRole = ROLE_NONE;
    this.userTurns = 0;
    this.error = "";
  }

  /** An assistant prompt is out and its reply has not been closed yet. */
  get replyPending(): bool { return this.replyOpen; }

  isStopToken(id: i32): bool { return this.stopTokens.includes(id); }

  /** Where the earliest stop string starts in `text`, or -1. */
  findStop(text: string): i32 {
    let best = -1;
    for (let i = 0; i < this.stopStrings.length; i++) {
      const at = findText(text, this.stopStrings[i]);
      if (at >= 0 && (best < 0 || at < best)) best = at;
    }
    return best;
  }

  /**
   * The text to append for one message: role "system", "user" or "assistant".
   * addAssistantPrompt (user messages): also open the assistant's reply, so that the model
   * writes it next. An assistant message after that prompt is written without a second one.
   * Returns "" with `error` set when the message cannot be placed; "" without an error when
   * the text is held for the next message (a system prompt merged into the first user one).
   */
  formatTurn(role: string, content: string, addAssistantPrompt: bool): string {
    this.error = "";
    this.firstPiece = false;
    let piece = "";
    if (role == "system") piece = this.system(content);
    else if (role == "user") piece = this.user(content, addAssistantPrompt);
    else if (role == "assistant") piece = this.assistant(content);
    else this.error = "chat: unknown role '" + role + "' (system, user or assistant)";
    if (this.error.length > 0) return "";
    return this.emit(piece);
  }

  /** Closes the open reply (if any), then the user message followed by the assistant prompt. */
  userTurn(content: string): string {
    const text = this.replyOpen ? this.endReply() : "";
    const user = this.formatTurn("user", content, true);
    return this.error.length > 0 ? "" : text + user;
  }

  /**
   * The text that closes a reply the model generated (after the assistant prompt): the
   * turn end ("<|im_end|>\n", "</s>\n", "<|eot_id|>", ...). It starts with the stop token
   * the generation ended on, which was sampled but not yet fed to the model.
   */
  endReply(): string {
    this.error = "";
    this.firstPiece = false;
    if (!this.replyOpen) {
      this.error = "chat: no reply is open (endReply() follows a user message formatted with addAssistantPrompt)";
      return "";
    }
    this.replyOpen = false;
    this.lastRole = ROLE_ASSISTANT;
    return this.emit(this.replyEnd());
  }

  // ---- per family ----

  private zephyrEnd(): string { return this.info.endWithEos ? this.eosText : "<|endoftext|>"; }

  // The text after a reply's content.
  private replyEnd(): string {
    switch (this.info.family) {
      case FAMILY_CHATML: return "<|im_end|>\n";
      case FAMILY_ZEPHYR: return this.zephyrEnd() + "\n";
      case FAMILY_LLAMA2: return this.eosText;
      case FAMILY_LLAMA3: return "<|eot_id|>";
      case FAMILY_PHI3: return "<|end|>\n";
      case FAMILY_GEMMA: return "<end_of_turn>\n";
    }
    return "\n";
  }

  // The assistant prompt: the text before a reply's content.
  private replyStart(): string {
    switch (this.info.family) {
      case FAMILY_CHATML: return "<|im_start|>assistant\n";
      case FAMILY_ZEPHYR: case FAMILY_PHI3: return "<|assistant|>\n";
      case FAMILY_LLAMA3: return llama3Header("assistant");
      case FAMILY_LLAMA2: return "";
      case FAMILY_GEMMA: return "<start_of_turn>model\n";
    }
    return "Assistant:";
  }

  // A whole turn of `role` (not the assistant prompt) in the families with uniform turns.
  private turn(role: string, content: string): string {
    switch (this.info.family) {
      case FAMILY_CHATML: return "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
      case FAMILY_ZEPHYR: return "<|" + role + "|>\n" + content + this.zephyrEnd() + "\n";
      case FAMILY_PHI3: return "<|" + role + "|>\n" + content + "<|end|>\n";
      case FAMILY_LLAMA3:
        // Llama 3.1+: the system turn opens with the knowledge cutoff and today's date
        if (role == "system" && this.info.dateHeader) {
          return llama3Header(role) + "Cutting Knowledge Date: December 2023\nToday Date: " + this.today + "\n\n" + strip(content) + "<|eot_id|>";
        }
        return llama3Header(role) + strip(content) + "<|eot_id|>";
      case FAMILY_GEMMA: return "<start_of_turn>" + role + "\n" + strip(content) + "<end_of_turn>\n";
    }
    // plain
    return (role == "system" ? "System: " : "User: ") + content + "\n";
  }

  private fail(msg: string): string {
    this.error = "chat (" + this.name + "): " + msg;
    return "";
  }

  private emit(piece: string): string {
    if (!this.started && piece.length > 0) {
      this.started = true;
      this.firstPiece = true;
      // a template that starts with bos_token: the tokenizer writes BOS when it adds one
      // (llama.cpp strips the text then), otherwise the text stays
      if (this.info.usesBos && !this.addBos) piece = this.bosText + piece;
    }
    return piece;
  }

  private system(s: string): string {
    if (this.replyOpen) return this.fail("the reply to the last user message is still open (endReply() first)");
    const merge = this.info.family == FAMILY_LLAMA2 || !this.info.systemTurn;
    if (merge) {
      if (this.lastRole != ROLE_NONE && this.lastRole != ROLE_SYSTEM) {
        return this.fail("the template has no system turn; a system prompt can only come first");
      }
      this.pendingSystem = this.hasPendingSystem ? this.pendingSystem + "\n" + s : s;
      this.hasPendingSystem = true;
      this.lastRole = ROLE_SYSTEM;
      return "";
    }
    this.lastRole = ROLE_SYSTEM;
    return this.turn("system", s);
  }

  private user(u: string, addAssistantPrompt: bool): string {
    if (this.replyOpen && this.info.family != FAMILY_LLAMA2) {
      return this.fail("the reply to the last user message is still open (endReply() first)");
    }
    const llama2 = this.info.family == FAMILY_LLAMA2;
    if (llama2 && this.lastRole == ROLE_USER) return this.fail("user and assistant messages must alternate");
    let content = u, head = "";
    if (this.hasPendingSystem) {
      const sys = this.pendingSystem;
      if (llama2 && this.info.sysBlock) content = "<<SYS>>\n" + sys + "\n<</SYS>>\n\n" + u;
      else if (this.info.family == FAMILY_GEMMA && this.info.systemJoin != "\n") head = sys + this.info.systemJoin; // Gemma 3
      else content = u.length > 0 ? sys + "\n" + u : sys;
      this.hasPendingSystem = false;
      this.pendingSystem = "";
    } else if (this.lastRole == ROLE_NONE) {
      // a conversation without a system prompt: the turn some templates write anyway
      if (this.info.dateHeader) head = this.turn("system", "");
      else if (this.info.defaultSystem.length > 0) head = this.turn("system", this.info.defaultSystem);
    }
    let piece: string;
    if (llama2) {
      const bos = this.userTurns > 0 && this.info.bosInHistory ? this.bosText : "";
      piece = bos + "[INST] " + (this.info.strip ? strip(content) : content) + " [/INST]";
      this.replyOpen = true; // the reply follows "[/INST]" directly
    } else if (this.info.family == FAMILY_GEMMA && head.length > 0 && this.info.systemJoin != "\n") {
      piece = "<start_of_turn>user\n" + head + strip(content) + "<end_of_turn>\n";
      if (addAssistantPrompt) piece += this.replyStart();
      this.replyOpen = addAssistantPrompt;
    } else {
      piece = head + this.turn("user", content);
      if (addAssistantPrompt) piece += this.replyStart();
      this.replyOpen = addAssistantPrompt;
    }
    this.lastRole = ROLE_USER;
    this.userTurns++;
    return piece;
  }

  private assistant(a: string): string {
    if (this.hasPendingSystem) return this.fail("a system prompt must be followed by a user message");
    const f = this.info.family;
    if (f == FAMILY_LLAMA2 && !this.replyOpen) return this.fail("an assistant message must follow a user message");
    let body: string;
    if (f == FAMILY_LLAMA2) {
      const s = this.info.strip ? strip(a) : a;
      body = this.info.spacedReply ? " " + s + " " : s;
    } else if (f == FAMILY_LLAMA3 || f == FAMILY_GEMMA) {
      body = strip(a);
    } else if (f == FAMILY_PLAIN) {
      body = " " + a;
    } else {
      body = a;
    }
    const head = this.replyOpen ? "" : this.replyStart();
    this.replyOpen = false;
    this.lastRole = ROLE_ASSISTANT;
    return head + body + this.replyEnd();
  }
}

function tokenId(f: GGUFFile, key: string, def: i32, n: i32): i32 {
  if (def >= n) def = -1;
  const v = f.find(key);
  if (v === null || !v.fitsU32()) return def;
  const id = v.asI64();
  return id < <i64>n ? <i32>id : def;
}
