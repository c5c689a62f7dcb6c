// Chat prompt formatting (llm/chat_template.ts) against llama.cpp.
//
// Oracle: node-llama-cpp 3.21.1 does not expose llama.cpp's built-in
// llama_chat_apply_template, but it ships llama.cpp's own Jinja engine (common/jinja) as
// the native AddonJinjaRenderer. llamaCppPrompt() below renders a model's real
// tokenizer.chat_template with it the way llama.cpp's common_chat_templates_apply does on its
// Jinja path: messages, bos_token, eos_token and add_generation_prompt as variables; a
// system message that the template does not use is put in front of the first user message
// with "\n" (llama.cpp's workaround for templates without a system role); a leading
// bos_token is dropped when the tokenizer adds BOS itself (so BOS is not doubled).
//
// For each family a GGUF fixture is built with llm/gguf_writer.ts from a reference
// vocabulary in ../shared (plus the family's control tokens where the vocabulary lacks
// them) and the family's real template; node-llama-cpp loads it (vocabulary only) for the
// template, BOS/EOS text, add-BOS setting and the tokens of the stop strings. The pieces our
// formatter hands out turn by turn must concatenate to llama.cpp's full prompt.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";
import { SHARED, HAVE_SHARED, SHARED_MISSING, loadBytes, str } from "./support/gguf_fixture.mjs";
import { llama } from "./support/llamacpp.mjs";
import { gemma3Template, gemma3Vocab } from "../tools/lib/hf_vocab.mjs";

// ---- real chat templates (model metadata, as published with each model) ----

// TinyLlama/TinyLlama-1.1B-Chat-v1.0 (identical to HuggingFaceH4/zephyr-7b-beta)
const T_ZEPHYR = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n" +
  "{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n" +
  "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n" +
  "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
// teknium/OpenHermes-2.5-Mistral-7B
const T_CHATML = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
// meta-llama/Llama-2-7b-chat-hf
const T_LLAMA2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
  "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}" +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
  "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
  "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
// mistralai/Mistral-7B-Instruct-v0.2 (Llama-2 [INST] turns without a system prompt)
const T_MISTRAL = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}" +
  "{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
// meta-llama/Meta-Llama-3-8B-Instruct
const T_LLAMA3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + " +
  "'<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}" +
  "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
// microsoft/Phi-3-small-8k-instruct (a system turn, unlike Phi-3-mini whose template is in ggml-vocab-phi-3.gguf)
const T_PHI3_SMALL = "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";
// microsoft/Phi-3-vision-128k-instruct (no BOS)
const T_PHI3_VISION = "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}{% endfor %}" +
  "{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{- '<|assistant|>\n' -}}{% endif %}";
// TheBloke/FusionNet_34Bx2_MoE-AWQ (Llama-2: BOS inside the history, text not stripped)
const T_FUSIONNET = "{%- for idx in range(0, messages|length) -%}\n{%- if messages[idx]['role'] == 'user' -%}\n{%- if idx > 1 -%}\n" +
  "{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}\n{%- else -%}\n{{- messages[idx]['content'] + ' [/INST]' -}}\n{%- endif -%}\n" +
  "{% elif messages[idx]['role'] == 'system' %}\n{{- '[INST] <<SYS>>\\n' + messages[idx]['content'] + '\\n<</SYS>>\\n\\n' -}}\n" +
  "{%- elif messages[idx]['role'] == 'assistant' -%}\n{{- ' '  + messages[idx]['content'] + ' ' + eos_token -}}\n{% endif %}\n{% endfor %}";
// google/gemma-7b-it (no system turn: llama.cpp merges a system prompt into the first message)
const T_GEMMA = "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}" +
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
  "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}" +
  "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
// mistralai/Mistral-Large-Instruct-2411 ("v7", not implemented)
const T_MISTRAL_V7 = "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + '[/INST]' }}" +
  "{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'assistant' %}" +
  "{{ ' ' + message['content'] + eos_token }}{% else %}{{ raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %}";

type Msg = { role: string; content: string };

// A system prompt and three exchanges, then a fourth question for the model to answer.
// Text with surrounding whitespace and non-ASCII on purpose (some templates strip).
const CONVERSATION: Msg[] = [
  { role: "system", content: "You are a helpful assistant. Answer in one line." },
  { role: "user", content: "Hello! Who are you?" },
  { role: "assistant", content: "I am SIS, a small kernel that runs a language model." },
  { role: "user", content: "  What is 2 + 2?\nShow the sum.  " },
  { role: "assistant", content: "   2 + 2 = 4.   " },
  { role: "user", content: "Say \"héllo\" to the 🦙." },
  { role: "assistant", content: "Héllo, 🦙!" },
  { role: "user", content: "Thanks. Bye!" },
];

// ---- wasm side ----

let inst: any;
let x: any;
let scratch = 0;
const SCRATCH = 1 << 20;

/** Writes each string as UTF-8 to scratch memory; returns [ptr, len, ptr, len, ...]. */
function args(...texts: string[]): number[] {
  const out: number[] = [];
  let at = scratch;
  for (const t of texts) {
    const b = Buffer.from(t, "utf8");
    if (at + b.length > scratch + SCRATCH) throw new Error("scratch too small");
    new Uint8Array(inst.memory.buffer, at, b.length).set(b);
    out.push(at, b.length);
    at += b.length;
  }
  return out;
}

const info = () => JSON.parse(str(inst, "info"));
const turn = (role: string, content: string, prompt: boolean) => JSON.parse(str(inst, "turn", ...args(role, content), prompt ? 1 : 0));
const endReply = () => JSON.parse(str(inst, "endReply"));
const userTurn = (content: string) => JSON.parse(str(inst, "userTurn", ...args(content)));

/** Today as llama.cpp's Jinja renderer writes strftime_now("%d %b %Y"). */
function today(): string {
  const d = new Date();
  const mon = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][d.getMonth()];
  return `${String(d.getDate()).padStart(2, "0")} ${mon} ${d.getFullYear()}`;
}

function openTemplate(template: string, bos = "<s>", eos = "</s>", addBos = true) {
  x.openTemplate(...args(template, bos, eos), addBos ? 1 : 0);
  x.setToday(...args(today()));
  return info();
}

/** Replays the messages turn by turn (user messages with the assistant prompt); the pieces in order. */
function replay(msgs: Msg[], userPrompt = true): string[] {
  x.reset();
  const pieces: string[] = [];
  msgs.forEach((m, i) => {
    const last = i === msgs.length - 1;
    const r = turn(m.role, m.content, m.role === "user" && (userPrompt || last));
    expect(r.error, `${m.role} message ${i}`).toBe("");
    pieces.push(r.piece);
  });
  return pieces;
}

/**
 * The conversation with generated replies: after each user message (with the assistant
 * prompt) the model writes the reply and stops at a stop token or string, and endReply()
 * closes it. The generated reply is the replayed assistant piece without the closing text
 * endReply() returns (collected in `replies`). Returns the texts fed to the model, in order.
 */
function generated(msgs: Msg[], replayPieces: string[], stopStrings: string[], replies = new Map<number, string>()): string[] {
  x.reset();
  const fed: string[] = [];
  msgs.forEach((m, i) => {
    if (m.role !== "assistant") {
      const r = turn(m.role, m.content, m.role === "user");
      expect(r.error).toBe("");
      fed.push(r.piece);
      if (m.role === "user") expect(r.pending, `reply open after user message ${i}`).toBe(true);
      return;
    }
    const end = endReply();
    expect(end.error).toBe("");
    expect(end.pending).toBe(false);
    const whole = replayPieces[i];
    expect(whole.endsWith(end.piece), `assistant piece ${JSON.stringify(whole)} ends with ${JSON.stringify(end.piece)}`).toBe(true);
    const reply = whole.slice(0, whole.length - end.piece.length);
    // generation must be able to run to the end of the reply and then stop where the turn ends
    for (const s of stopStrings) expect(reply.includes(s), `reply ${JSON.stringify(reply)} contains stop string ${JSON.stringify(s)}`).toBe(false);
    expect(x.findStop(...args(reply))).toBe(-1);
    expect(stopStrings.some((s) => end.piece.startsWith(s) || s.startsWith(end.piece)), `closing text ${JSON.stringify(end.piece)}`).toBe(true);
    // plain turns stop where the model starts the next "User:" line
    const tail = stopStrings.some((s) => end.piece.startsWith(s)) ? end.piece : end.piece + "User: next";
    expect(x.findStop(...args(reply + tail + "more text"))).toBe(reply.length);
    fed.push(reply, end.piece);
    replies.set(i, reply);
  });
  return fed;
}

/**
 * The chat shell's loop: the system prompt, then per question one userTurn() (which closes
 * the previous reply first) and the reply the model generates (`replies`, from generated()).
 * Returns the texts fed to the model, in order.
 */
function shellLoop(msgs: Msg[], replies: Map<number, string>): string[] {
  x.reset();
  const fed: string[] = [];
  let between = "";
  msgs.forEach((m, i) => {
    if (m.role === "assistant") {
      fed.push(between, replies.get(i)!);
      between = "";
      return;
    }
    const r = m.role === "user" ? userTurn(m.content) : turn(m.role, m.content, false);
    expect(r.error).toBe("");
    if (m.role === "user") expect(r.pending).toBe(true);
    between += r.piece;
  });
  fed.push(between);
  return fed;
}

// ---- llama.cpp side ----

let l: any = null;
let Renderer: any = null;

/** llama.cpp's full prompt for `msgs` with the generation prompt (see the header comment). */
function llamaCppPrompt(template: string, msgs: Msg[], bos: string, eos: string, addBos: boolean): string {
  const render = (messages: Msg[]) => new Renderer(template).render({ messages, bos_token: bos, eos_token: eos, add_generation_prompt: true }) as string;
  let messages = msgs;
  if (msgs[0]?.role === "system") {
    const probe = "SYSTEM-PROBE-7f3a";
    let used = false;
    try { used = render([{ role: "system", content: probe }, { role: "user", content: "u" }]).includes(probe); } catch { used = false; }
    if (!used) {
      const first = msgs.findIndex((m) => m.role === "user");
      const user = msgs[first].content;
      messages = [{ role: "user", content: user.length ? msgs[0].content + "\n" + user : msgs[0].content }, ...msgs.slice(first + 1)];
    }
  }
  const out = render(messages);
  return addBos && bos.length && out.startsWith(bos) ? out.slice(bos.length) : out;
}

beforeAll(async () => {
  inst = await instantiate(await compile("tests/wasm/chat_template.ts"));
  x = inst.exports;
  scratch = x.allocRegion(BigInt(SCRATCH));
  l = await llama();
  Renderer = l._bindings?.AddonJinjaRenderer ?? null;
  if (!Renderer) throw new Error("node-llama-cpp no longer exposes llama.cpp's Jinja renderer (_bindings.AddonJinjaRenderer): the oracle is gone");
});

// ---- template families, as template strings ----

type Case = { name: string; template: string; family: string; bos?: string; eos?: string; addBos?: boolean; reason?: RegExp };
const STRING_CASES: Case[] = [
  { name: "TinyLlama-1.1B-Chat / Zephyr", template: T_ZEPHYR, family: "zephyr", reason: /eos_token/ },
  { name: "OpenHermes-2.5 (ChatML)", template: T_CHATML, family: "chatml" },
  { name: "Llama-2-chat", template: T_LLAMA2, family: "llama2", reason: /<<SYS>>.*BOS before each \[INST\].*stripped.*spaced/ },
  { name: "Mistral-7B-Instruct-v0.2", template: T_MISTRAL, family: "llama2", reason: /merged/ },
  { name: "FusionNet (Llama-2, BOS in history)", template: T_FUSIONNET, family: "llama2", reason: /<<SYS>>, BOS before each \[INST\], replies spaced$/ },
  { name: "Meta-Llama-3-8B-Instruct", template: T_LLAMA3, family: "llama3" },
  { name: "Meta-Llama-3-8B-Instruct, BOS not added by the tokenizer", template: T_LLAMA3, family: "llama3", bos: "<|begin_of_text|>", eos: "<|eot_id|>", addBos: false },
  { name: "Phi-3-small", template: T_PHI3_SMALL, family: "phi3", bos: "<s>", eos: "<|endoftext|>" },
  { name: "Phi-3-vision", template: T_PHI3_VISION, family: "phi3", eos: "<|endoftext|>" },
  { name: "Gemma-7b-it", template: T_GEMMA, family: "gemma", bos: "<bos>", eos: "<eos>" },
];

/** A template from ../shared/vocab/templates (llama.cpp's collection; read, never copied). */
const shared = (file: string) => { try { return readFileSync(join(SHARED, "vocab", "templates", file), "utf8"); } catch { return ""; } };
// The families issue 13 adds: Qwen2.5/Qwen3 (ChatML with their own defaults), Llama 3.x (the
// date header), Phi-3.5, Gemma.
const SHARED_CASES: Case[] = [
  { name: "Qwen2.5-7B-Instruct", template: shared("Qwen-Qwen2.5-7B-Instruct.jinja"), family: "chatml", bos: "", eos: "<|im_end|>", addBos: false },
  { name: "Qwen3-0.6B", template: shared("Qwen-Qwen3-0.6B.jinja"), family: "chatml", bos: "", eos: "<|im_end|>", addBos: false },
  { name: "Llama-3.2-3B-Instruct", template: shared("meta-llama-Llama-3.2-3B-Instruct.jinja"), family: "llama3", bos: "<|begin_of_text|>", eos: "<|eot_id|>" },
  { name: "Phi-3.5-mini-instruct", template: shared("microsoft-Phi-3.5-mini-instruct.jinja"), family: "phi3", bos: "<s>", eos: "<|endoftext|>" },
  { name: "Gemma-2-2b-it", template: shared("google-gemma-2-2b-it.jinja"), family: "gemma", bos: "<bos>", eos: "<eos>" },
];
// Gemma 3's is not in that collection: it comes with its tokenizer (tools/lib/hf_vocab.mjs).
// A system prompt opens the first user turn, followed by a blank line.
const GEMMA3_CASE: Case = { name: "Gemma-3 (Google's tokenizer_config.json)", template: gemma3Template(), family: "gemma", bos: "<bos>", eos: "<end_of_turn>" };

describe("findText (the search template detection and stop strings use)", () => {
  it("finds what String.prototype.indexOf finds, from any start", () => {
    // a small alphabet makes near misses (a first unit that matches, then a difference) common
    const alphabet = ["a", "b", "<", "|", "é", "😀"];
    let seed = 12345;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const word = (max: number) => Array.from({ length: rand(max + 1) }, () => alphabet[rand(alphabet.length)]);
    for (let k = 0; k < 3000; k++) {
      // parts cut from the text at characters (not inside a surrogate pair, which UTF-8 cannot
      // carry); texts long enough for the eight-unit steps and a tail after them
      const chars = word(k % 2 == 0 ? 24 : 70), text = chars.join("");
      const part = (k % 3 == 0 ? chars.slice(rand(chars.length + 1)).slice(0, rand(6)) : word(4)).join("");
      const from = rand(text.length + 4) - 2;
      expect(x.findTextIn(...args(text, part), from), `${JSON.stringify(text)}.indexOf(${JSON.stringify(part)}, ${from})`).toBe(text.indexOf(part, from));
    }
  });
});

describe("chat formats of real templates, turn by turn, equal llama.cpp's prompt", () => {
  for (const c of [...STRING_CASES, ...(HAVE_SHARED ? SHARED_CASES : []), GEMMA3_CASE]) {
    it(c.name, () => {
      const bos = c.bos ?? "<s>", eos = c.eos ?? "</s>", addBos = c.addBos ?? true;
      const fi = openTemplate(c.template, bos, eos, addBos);
      expect(fi.name).toBe(c.family);
      if (c.reason) expect(fi.reason).toMatch(c.reason);
      const want = llamaCppPrompt(c.template, CONVERSATION, bos, eos, addBos);
      const pieces = replay(CONVERSATION);
      expect(pieces.join("")).toBe(want);
      const replies = new Map<number, string>();
      expect(generated(CONVERSATION, pieces, fi.stopStrings, replies).join("")).toBe(want);
      expect(shellLoop(CONVERSATION, replies).join("")).toBe(want);
      // without the assistant prompt after each question, the reply writes its own header
      expect(replay(CONVERSATION, false).join("")).toBe(want);
      // a conversation without a system prompt
      const noSystem = CONVERSATION.slice(1);
      if (!c.template.includes("idx > 1")) { // FusionNet writes no [INST] before a first message that has no system prompt
        expect(replay(noSystem).join("")).toBe(llamaCppPrompt(c.template, noSystem, bos, eos, addBos));
      }
    });
  }

  it("the first piece carries the system prompt and is marked first; BOS text only when the tokenizer does not add it", () => {
    for (const [addBos, lead] of [[true, ""], [false, "<|begin_of_text|>"]] as const) {
      openTemplate(T_LLAMA3, "<|begin_of_text|>", "<|eot_id|>", addBos);
      const sys = turn("system", "Be brief.", false);
      expect(sys).toMatchObject({ first: true, error: "" });
      expect(sys.piece).toBe(lead + "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>");
      expect(turn("user", "Hi", true).first).toBe(false);
    }
    // a family that puts the system prompt into the first user message: the system call gives nothing
    openTemplate(T_MISTRAL);
    expect(turn("system", "Be brief.", false)).toMatchObject({ piece: "", first: false, error: "" });
    const u = turn("user", "Hi", true);
    expect(u).toMatchObject({ first: true, piece: "[INST] Be brief.\nHi [/INST]" });
  });

  it("a system message the template cannot place, and turns out of order, are errors", () => {
    openTemplate(T_MISTRAL);
    turn("user", "Hi", true);
    turn("assistant", "Hello", false);
    expect(turn("system", "late", false).error).toMatch(/no system turn; a system prompt can only come first/);
    openTemplate(T_LLAMA2);
    turn("user", "a", true);
    expect(turn("user", "b", true).error).toMatch(/must alternate/);
    openTemplate(T_CHATML);
    expect(endReply().error).toMatch(/no reply is open/);
    turn("user", "a", true);
    expect(turn("user", "b", true).error).toMatch(/still open/);
    expect(turn("tool", "x", false).error).toMatch(/unknown role 'tool'/);
    // ChatML takes a system message anywhere
    endReply();
    const mid = turn("system", "New rules.", false);
    expect(mid.error).toBe("");
    expect(mid.piece).toBe(llamaCppPrompt(T_CHATML, [{ role: "system", content: "New rules." }], "", "", false).replace(/<\|im_start\|>assistant\n$/, ""));
  });
});

describe("templates that are not implemented fall back to plain turns and say why", () => {
  const cases: [string, string, RegExp][] = [
    ["none", "", /has no tokenizer.chat_template/],
    ["mistral-v7", T_MISTRAL_V7, /looks like mistral-v7/],
    ["phi-4", "{% for m in messages %}{{'<|im_start|>' + m['role'] + '<|im_sep|>' + m['content'] + '<|im_end|>'}}{% endfor %}", /looks like phi4/],
    ["glm-edge", "{% for item in messages %}<|{{ item['role'] }}|>\n{{ item['content'] }}{% endfor %}<|user|><|assistant|>", /looks like glmedge/],
    ["unknown", "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}", /not one of the known families/],
  ];
  for (const [name, template, reason] of cases) {
    it(name, () => {
      const fi = openTemplate(template);
      expect(fi.name).toBe("plain");
      expect(fi.reason).toMatch(reason);
      expect(fi.describe).toBe(`plain (${fi.reason})`);
    });
  }

  it("plain turns: 'User: ...\\nAssistant:' (our own fallback, written out)", () => {
    const fi = openTemplate("");
    expect(fi.stopStrings).toEqual(["\nUser:", "\n\n", "</s>"]); // a blank line ends a plain reply too
    const pieces = replay(CONVERSATION);
    expect(pieces.join("")).toBe(
      "System: You are a helpful assistant. Answer in one line.\n" +
      "User: Hello! Who are you?\nAssistant: I am SIS, a small kernel that runs a language model.\n" +
      "User:   What is 2 + 2?\nShow the sum.  \nAssistant:    2 + 2 = 4.   \n" +
      "User: Say \"héllo\" to the 🦙.\nAssistant: Héllo, 🦙!\n" +
      "User: Thanks. Bye!\nAssistant:");
    const replies = new Map<number, string>();
    expect(generated(CONVERSATION, pieces, fi.stopStrings, replies).join("")).toBe(pieces.join(""));
    expect(shellLoop(CONVERSATION, replies).join("")).toBe(pieces.join(""));
  });
});

// ---- GGUF fixtures from the reference vocabularies ----

type Fixture = {
  name: string; family: string; vocab: string; template?: string; controls?: string[];
  bos?: string; eos?: string; addBos?: boolean;
  /** the file's EOS is the turn-ending token itself (Gemma 3's <end_of_turn>) */
  eosEndsTurn?: boolean;
};
const FIXTURES: Fixture[] = [
  { name: "zephyr (TinyLlama-1.1B-Chat's template and vocabulary)", family: "zephyr", vocab: "ggml-vocab-llama-spm.gguf", template: T_ZEPHYR },
  { name: "chatml", family: "chatml", vocab: "ggml-vocab-llama-spm.gguf", template: T_CHATML, controls: ["<|im_start|>", "<|im_end|>"] },
  { name: "llama2 (Llama-2-chat)", family: "llama2", vocab: "ggml-vocab-llama-spm.gguf", template: T_LLAMA2 },
  { name: "llama2 (Mistral-7B-Instruct-v0.2)", family: "llama2", vocab: "ggml-vocab-llama-spm.gguf", template: T_MISTRAL },
  { name: "llama3", family: "llama3", vocab: "ggml-vocab-llama-spm.gguf", template: T_LLAMA3,
    controls: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], bos: "<|begin_of_text|>", eos: "<|end_of_text|>" },
  { name: "llama3, add_bos_token false", family: "llama3", vocab: "ggml-vocab-llama-spm.gguf", template: T_LLAMA3,
    controls: ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"], bos: "<|begin_of_text|>", eos: "<|end_of_text|>", addBos: false },
  { name: "chatml on a GPT-2 vocabulary (no BOS added)", family: "chatml", vocab: "ggml-vocab-gpt-2.gguf", template: T_CHATML, controls: ["<|im_start|>", "<|im_end|>"] },
  { name: "phi3 (Phi-3-mini: the template in ggml-vocab-phi-3.gguf)", family: "phi3", vocab: "ggml-vocab-phi-3.gguf" },
  { name: "phi3 (Phi-3-small)", family: "phi3", vocab: "ggml-vocab-phi-3.gguf", template: T_PHI3_SMALL },
  // a path: made from Gemma 3's own tokenizer files, its template inside (tools/lib/hf_vocab.mjs)
  { name: "gemma (Gemma 3: its vocabulary and template)", family: "gemma", vocab: gemma3Vocab(), eosEndsTurn: true },
];

let dir = "";
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** Builds the fixture with the GGUF writer; returns the file's bytes and the image in wasm memory. */
function buildFixture(f: Fixture): { bytes: Buffer; image: number } {
  const vocab = readFileSync(f.vocab.startsWith("/") ? f.vocab : join(SHARED, "vocab", f.vocab));
  const base = loadBytes(inst, vocab);
  try {
    expect(x.fixtureBegin(base, BigInt(vocab.length)), str(inst, "lastError")).toBe(1);
    const ids = new Map<string, number>();
    for (const t of f.controls ?? []) ids.set(t, x.fixtureAddControlToken(...args(t)));
    if (f.template !== undefined) x.fixtureSetString(...args("tokenizer.chat_template", f.template));
    if (f.bos) x.fixtureSetU32(...args("tokenizer.ggml.bos_token_id"), ids.get(f.bos));
    if (f.eos) x.fixtureSetU32(...args("tokenizer.ggml.eos_token_id"), ids.get(f.eos));
    if (f.addBos !== undefined) x.fixtureSetBool(...args("tokenizer.ggml.add_bos_token"), f.addBos ? 1 : 0);
    expect(x.fixtureFinish(), str(inst, "lastError")).toBe(1);
  } finally {
    x.freeRegion(base);
  }
  const image = x.resultPtr();
  const size = Number(x.resultSize());
  return { bytes: Buffer.from(new Uint8Array(inst.memory.buffer, image, size)), image };
}

describe("chat formats of GGUF files, checked with llama.cpp loading the same file", () => {
  it.skipIf(!HAVE_SHARED)("the sis-scribe model has no template: plain turns" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), () => {
    const bytes = readFileSync(join(SHARED, "models", "sis-scribe-15m-q4_0.gguf"));
    const base = loadBytes(inst, bytes);
    try {
      expect(x.open(base, BigInt(bytes.length))).toBe(1);
    } finally {
      x.freeRegion(base);
    }
    const fi = info();
    expect(fi).toMatchObject({ name: "plain", reason: "the model has no tokenizer.chat_template", bos: "<s>", eos: "</s>", addBos: true, stopTokens: [2] });
    expect(fi.describe).toBe("plain (the model has no tokenizer.chat_template)");
  });

  it.skipIf(!HAVE_SHARED)("a chat template that is not a string is reported" + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), () => {
    const vocab = readFileSync(join(SHARED, "vocab", "ggml-vocab-llama-spm.gguf"));
    const base = loadBytes(inst, vocab);
    expect(x.fixtureBegin(base, BigInt(vocab.length))).toBe(1);
    x.fixtureSetU32(...args("tokenizer.chat_template"), 7);
    expect(x.fixtureFinish()).toBe(1);
    x.freeRegion(base);
    const image = x.resultPtr();
    expect(x.open(image, x.resultSize())).toBe(1);
    x.freeRegion(image);
    expect(info()).toMatchObject({ name: "plain", reason: "tokenizer.chat_template is not a string", template: "" });
  });

  for (const f of FIXTURES) {
    it.skipIf(!HAVE_SHARED)(f.name + (HAVE_SHARED ? "" : ` (${SHARED_MISSING})`), async () => {
      const { bytes, image } = buildFixture(f);
      dir ||= mkdtempSync(join(tmpdir(), "sis-chat-"));
      const path = join(dir, f.name.replace(/[^a-z0-9]+/gi, "_") + ".gguf");
      writeFileSync(path, bytes);
      const model = await l.loadModel({ modelPath: path, vocabOnly: true });
      try {
        const template: string = model.fileInfo.metadata.tokenizer.chat_template;
        if (f.template !== undefined) expect(template).toBe(f.template);
        const bos: string = model.tokens.bosString ?? "", eos: string = model.tokens.eosString ?? "";
        const addBos: boolean = model.tokens.shouldPrependBosToken;
        if (f.bos) expect(bos).toBe(f.bos);

        expect(x.open(image, BigInt(bytes.length))).toBe(1);
        x.freeRegion(image);
        const fi = info();
        expect(fi.name).toBe(f.family);
        expect(fi.template).toBe(template);
        expect({ bos: fi.bos, eos: fi.eos, addBos: fi.addBos }).toEqual({ bos, eos, addBos });

        // stop tokens: the stop strings that llama.cpp reads as one token, and EOS
        const want = new Set<number>();
        for (const s of fi.stopStrings) {
          const ids = model.tokenize(s, true);
          if (ids.length === 1) want.add(ids[0]);
        }
        want.add(model.tokens.eos);
        if (model.tokens.eot !== null) want.add(model.tokens.eot); // llama.cpp's end-of-turn token (by name where the file does not say)
        expect(new Set(fi.stopTokens)).toEqual(want);
        for (const id of want) expect(x.isStopToken(id)).toBe(1);
        expect(x.isStopToken(5)).toBe(0);
        // the turn-ending token is a single token, not text that happens to spell it
        expect(fi.stopTokens.length).toBeGreaterThanOrEqual(f.family === "zephyr" || f.family === "llama2" || f.eosEndsTurn ? 1 : 2);

        const prompt = llamaCppPrompt(template, CONVERSATION, bos, eos, addBos);
        const pieces = replay(CONVERSATION);
        expect(pieces.join("")).toBe(prompt);
        const replies = new Map<number, string>();
        expect(generated(CONVERSATION, pieces, fi.stopStrings, replies).join("")).toBe(prompt);
        const texts = shellLoop(CONVERSATION, replies);
        expect(texts.join("")).toBe(prompt);
        // each text with the reply after it tokenizes (llama.cpp, special tokens parsed) to the
        // same tokens as that stretch of the whole prompt: the KV cache built turn by turn is
        // the one the whole conversation would give
        const bosIds = addBos ? [model.tokens.bos] : [];
        const whole = [...bosIds, ...model.tokenize(prompt, true)];
        const stretches: number[] = [...bosIds];
        for (let k = 0; k < texts.length; k += 2) stretches.push(...model.tokenize(texts[k] + (texts[k + 1] ?? ""), true));
        expect(stretches).toEqual(whole);
        // every text after the first starts with the stop token the reply before it ended on
        for (let k = 2; k < texts.length; k += 2) {
          const stop = fi.stopStrings.find((s: string) => texts[k].startsWith(s));
          expect(stop, `text ${k} ${JSON.stringify(texts[k])}`).toBeDefined();
          const ids = model.tokenize(stop, true);
          expect(ids.length).toBe(1);
          expect(fi.stopTokens).toContain(ids[0]);
        }
        // the first piece is the one to tokenize with BOS (the user's, where the system prompt goes into it)
        x.reset();
        const firsts = CONVERSATION.map((m) => turn(m.role, m.content, m.role === "user").first);
        const systemInUser = fi.name === "llama2" || fi.name === "gemma" || f.name.startsWith("phi3 (Phi-3-mini");
        expect(firsts.indexOf(true)).toBe(systemInUser ? 1 : 0);
        expect(firsts.filter(Boolean).length).toBe(1);
        if (!addBos && template.includes("bos_token")) expect(pieces.join("").startsWith(bos)).toBe(true);
      } finally {
        await model.dispose();
      }
    });
  }
});
