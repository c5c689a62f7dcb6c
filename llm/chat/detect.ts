// Recognising the family of a chat template (tokenizer.chat_template, a Jinja source) by
// distinctive substrings, the way llama.cpp's built-in chat formatter does (no Jinja
// interpreter), plus a few flags read off the template for the details that differ between
// real templates of one family (where llama.cpp's built-in formatter and the template
// itself disagree, the template wins: it is what the model was trained on, and it is what
// llama.cpp renders with its Jinja engine).
//
// The checks run in llama.cpp's order, so a template is given the same family llama.cpp
// gives it, with one deliberate exception: a template with <|user|>/<|assistant|> turns that
// end with eos_token (TinyLlama-1.1B-Chat, zephyr-7b-beta) is Zephyr here, while
// llama.cpp's built-in detection files it under GLM-Edge (which drops the turn ends).

import { findText, hasText } from "./text";

export const FAMILY_PLAIN: i32 = 0;
export const FAMILY_CHATML: i32 = 1;
export const FAMILY_ZEPHYR: i32 = 2;
export const FAMILY_LLAMA2: i32 = 3;
export const FAMILY_LLAMA3: i32 = 4;
export const FAMILY_PHI3: i32 = 5;
export const FAMILY_GEMMA: i32 = 6;

export function familyName(f: i32): string {
  switch (f) {
    case FAMILY_CHATML: return "chatml";
    case FAMILY_ZEPHYR: return "zephyr";
    case FAMILY_LLAMA2: return "llama2";
    case FAMILY_LLAMA3: return "llama3";
    case FAMILY_PHI3: return "phi3";
    case FAMILY_GEMMA: return "gemma";
  }
  return "plain";
}

/** What a template says about how to lay out a conversation. */
export class TemplateInfo {
  family: i32 = FAMILY_PLAIN;
  /** One line: why this family (and which variant). */
  reason: string = "";
  /**
   * The template reads a system message. When it does not (Phi-3-mini, Mistral-Instruct
   * v0.2), the system prompt is put in front of the first user message with "\n", as
   * llama.cpp does for such templates.
   */
  systemTurn: bool = true;
  /** The template writes bos_token at the start of the conversation. */
  usesBos: bool = false;
  /** Zephyr: turns end with eos_token (else with the literal "<|endoftext|>"). */
  endWithEos: bool = false;
  /** Llama-2: the system prompt goes in a <<SYS>> block (else it is merged with "\n"). */
  sysBlock: bool = false;
  /** Llama-2: message text is stripped of surrounding whitespace (content.strip()). */
  strip: bool = false;
  /** Llama-2: each [INST] after the first is preceded by BOS. */
  bosInHistory: bool = false;
  /** Llama-2: replies are written " text " before EOS (else "text"). */
  spacedReply: bool = false;
  /** ChatML: the system turn the template writes when the conversation has none (Qwen2.5's
   *  "You are Qwen, ...", SmolLM2's), "" for none. */
  defaultSystem: string = "";
  /** Llama 3.1+: a system turn always comes first, opening with the knowledge cutoff and
   *  today's date ("Cutting Knowledge Date: December 2023\nToday Date: 06 Dec 2026\n\n"). */
  dateHeader: bool = false;
  /** Gemma: how a system prompt joins the first user message ("\n\n" for Gemma 3's
   *  first_user_prefix; "\n", llama.cpp's way, for templates with no place for it). */
  systemJoin: string = "\n";
}

/** The text of the literal '<|im_start|>system\n...<|im_end|>' a ChatML template writes on its
 *  own (its default system prompt), or "". */
function literalSystem(t: string): string {
  const open = "<|im_start|>system\\n";
  let at = findText(t, open);
  while (at >= 0) {
    const from = at + open.length, end = findText(t, "<|im_end|>", from);
    if (end > from) {
      const text = t.substring(from, end);
      if (!hasText(text, "'") && !hasText(text, "\"") && !hasText(text, "{")) return text;
    }
    at = findText(t, open, from);
  }
  return "";
}

// Ways a template writes a message's role verbatim (so any role, system included, gets a turn).
const GENERIC_ROLE: string[] = [
  "message['role'] +", "+ message['role']", "message[\"role\"] +", "+ message[\"role\"]",
  "message.role +", "+ message.role", "{{ message['role'] }}", "{{ message.role }}", "{{ message[\"role\"] }}",
];

function hasAny(t: string, parts: string[]): bool {
  for (let i = 0; i < parts.length; i++) if (hasText(t, parts[i])) return true;
  return false;
}

function unsupported(what: string): TemplateInfo {
  const r = new TemplateInfo();
  r.reason = "tokenizer.chat_template looks like " + what + ", which is not supported";
  return r;
}

/** The family of template `t` ("" = no template). Unknown templates give FAMILY_PLAIN with the reason. */
export function detectTemplate(t: string): TemplateInfo {
  if (t.length == 0) {
    const r = new TemplateInfo();
    r.reason = "the model has no tokenizer.chat_template";
    return r;
  }
  const r = new TemplateInfo();
  r.usesBos = hasText(t, "bos_token");
  r.systemTurn = hasText(t, "system") || hasAny(t, GENERIC_ROLE);

  if (hasText(t, "<|im_start|>")) {
    if (hasText(t, "<|im_sep|>")) return unsupported("phi4 (<|im_sep|>)");
    if (hasText(t, "<end_of_utterance>")) return unsupported("smolvlm (<end_of_utterance>)");
    r.family = FAMILY_CHATML;
    r.defaultSystem = literalSystem(t);
    r.reason = "<|im_start|>role ... <|im_end|> turns" + (r.defaultSystem.length > 0 ? ", a default system prompt" : "");
  } else if (t.startsWith("mistral") || hasText(t, "[INST]")) {
    if (hasText(t, "[SYSTEM_PROMPT]")) return unsupported("mistral-v7 ([SYSTEM_PROMPT])");
    if (hasText(t, "' [INST] ' + system_message") || hasText(t, "[AVAILABLE_TOOLS]")) return unsupported("mistral-v1/v3 (official Mistral template)");
    r.family = FAMILY_LLAMA2;
    r.sysBlock = hasText(t, "<<SYS>>");
    r.strip = hasText(t, ".strip()") || hasText(t, "| trim") || hasText(t, "|trim");
    r.bosInHistory = hasText(t, "bos_token + '[INST]") || hasText(t, "bos_token + \"[INST]");
    r.spacedReply = hasText(t, "' ' + eos_token") || hasText(t, "\" \" + eos_token");
    // without <<SYS>> there is no place for a system prompt (Mistral-Instruct raises an error)
    r.systemTurn = r.sysBlock;
    r.reason = "[INST] ... [/INST] turns" + (r.sysBlock ? ", system prompt in <<SYS>>" : ", system prompt merged into the first message") +
      (r.bosInHistory ? ", BOS before each [INST]" : "") + (r.strip ? ", text stripped" : "") + (r.spacedReply ? ", replies spaced" : "");
  } else if (hasText(t, "<|assistant|>") && hasText(t, "<|end|>")) {
    r.family = FAMILY_PHI3;
    r.reason = "<|role|> ... <|end|> turns" + (r.systemTurn ? "" : ", no system turn (merged into the first message)");
  } else if (hasText(t, "[gMASK]<sop>")) {
    return unsupported("chatglm4 ([gMASK]<sop>)");
  } else if (hasText(t, "<|assistant|>") && hasText(t, "<|user|>")) {
    // llama.cpp: falcon3 when "</s>" is written out, glmedge otherwise. Templates that end
    // each turn with eos_token (TinyLlama-Chat, Zephyr) are Zephyr.
    if (!hasText(t, "</s>") && hasText(t, "eos_token")) {
      r.family = FAMILY_ZEPHYR;
      r.endWithEos = true;
      r.reason = "<|role|> turns ended by eos_token";
    } else {
      return unsupported(hasText(t, "</s>") ? "falcon3 (<|user|>, </s>)" : "glmedge (<|user|> without turn ends)");
    }
  } else if (hasText(t, "<|user|>") && hasText(t, "<|endoftext|>")) {
    r.family = FAMILY_ZEPHYR;
    r.reason = "<|role|> turns ended by <|endoftext|>";
  } else if (hasText(t, "<start_of_turn>")) {
    r.family = FAMILY_GEMMA;
    const prefix = hasText(t, "first_user_prefix");
    r.systemTurn = false; // no system turn: it joins the first user message
    r.systemJoin = prefix ? "\n\n" : "\n";
    r.reason = "<start_of_turn>user/model ... <end_of_turn> turns, system prompt " +
      (prefix ? "before the first message" : "merged into the first message");
  } else if (hasText(t, "<|start_header_id|>") && hasText(t, "<|end_header_id|>")) {
    r.family = FAMILY_LLAMA3;
    r.dateHeader = hasText(t, "Cutting Knowledge Date");
    r.reason = "<|start_header_id|>role<|end_header_id|> ... <|eot_id|> turns" + (r.dateHeader ? ", a system turn with today's date" : "");
  } else {
    const p = new TemplateInfo();
    p.reason = "tokenizer.chat_template is not one of the known families (chatml, zephyr, llama2, llama3, phi3, gemma)";
    return p;
  }
  return r;
}
