// Test entry for llm/chat_template.ts: builds GGUF fixtures (a reference vocabulary with a
// chat template and, optionally, extra control tokens) with llm/gguf_writer.ts, opens the
// chat format of a GGUF image and formats conversations turn by turn. Strings come in as
// UTF-8 bytes at (ptr, len).
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { parseGGUF, GGUFFile, GGUF_TYPE_STRING, GGUF_TYPE_FLOAT32, GGUF_TYPE_INT32 } from "../../llm/gguf";
import { GGUFWriter, GGUFArrayBuilder, GGUFWriteResult } from "../../llm/gguf_writer";
import { ChatFormat } from "../../llm/chat_template";
import { findText } from "../../llm/chat/text";
import { jsonString } from "../../llm/gguf_dump";

export { allocRegion, freeRegion };

function s(p: usize, n: usize): string { return String.UTF8.decodeUnsafe(p, n); }

// ---- fixtures ----

let base: GGUFFile | null = null;
let writer: GGUFWriter | null = null;
let extra = new Array<string>();
let result = new GGUFWriteResult();
let error = "";

/** Starts a fixture from the GGUF image at [p, p+size): all of its metadata is copied. */
export function fixtureBegin(p: usize, size: u64): bool {
  const r = parseGGUF(p, size);
  error = r.error;
  if (!r.ok) return false;
  base = r.file;
  writer = new GGUFWriter();
  writer!.copyMetadata(base!);
  extra = new Array<string>();
  return true;
}
/** Appends a control token to the vocabulary; returns its id. */
export function fixtureAddControlToken(p: usize, n: usize): i32 {
  extra.push(s(p, n));
  return base!.getArray("tokenizer.ggml.tokens")!.length + extra.length - 1;
}
export function fixtureSetString(kp: usize, kn: usize, vp: usize, vn: usize): void { writer!.setStringBytes(s(kp, kn), vp, vn); }
export function fixtureSetU32(kp: usize, kn: usize, v: u32): void { writer!.setU32(s(kp, kn), v); }
export function fixtureSetBool(kp: usize, kn: usize, v: bool): void { writer!.setBool(s(kp, kn), v); }
export function fixtureRemove(kp: usize, kn: usize): bool { return writer!.remove(s(kp, kn)); }

/** Writes the image (resultPtr/resultSize); the extra tokens go at the end of tokens, scores and token_type. */
export function fixtureFinish(): bool {
  const w = writer!;
  if (extra.length > 0) {
    const f = base!;
    const tokens = f.getArray("tokenizer.ggml.tokens")!;
    const t = new GGUFArrayBuilder(GGUF_TYPE_STRING);
    for (let i = 0; i < tokens.length; i++) t.pushStringBytes(tokens.stringPtrAt(i), tokens.stringLenAt(i));
    for (let i = 0; i < extra.length; i++) t.pushString(extra[i]);
    w.setArray("tokenizer.ggml.tokens", t);
    const scores = f.getArray("tokenizer.ggml.scores");
    if (scores !== null) {
      const sc = new GGUFArrayBuilder(GGUF_TYPE_FLOAT32);
      for (let i = 0; i < scores.length; i++) sc.pushFloat(scores.f64At(i));
      for (let i = 0; i < extra.length; i++) sc.pushFloat(0);
      w.setArray("tokenizer.ggml.scores", sc);
    }
    const types = f.getArray("tokenizer.ggml.token_type");
    if (types !== null) {
      const ty = new GGUFArrayBuilder(GGUF_TYPE_INT32);
      for (let i = 0; i < types.length; i++) ty.pushInt(types.i64At(i));
      for (let i = 0; i < extra.length; i++) ty.pushInt(3); // control
      w.setArray("tokenizer.ggml.token_type", ty);
    }
  }
  result = w.finish();
  error = result.error;
  return result.ok;
}
export function resultPtr(): usize { return result.ptr; }
export function resultSize(): u64 { return result.size; }
export function lastError(): string { return error; }

// ---- the chat format ----

let fmt: ChatFormat | null = null;

/** Opens the chat format of the GGUF image at [p, p+size). */
export function open(p: usize, size: u64): bool {
  const r = parseGGUF(p, size);
  error = r.error;
  if (!r.ok) return false;
  fmt = ChatFormat.fromGGUF(r.file!);
  return true;
}
/** Opens the format of a template string with the given BOS/EOS text. */
export function openTemplate(tp: usize, tn: usize, bp: usize, bn: usize, ep: usize, en: usize, addBos: bool): void {
  fmt = ChatFormat.fromTemplate(s(tp, tn), s(bp, bn), s(ep, en), addBos);
}

/** name, reason, describe(), BOS/EOS, stop strings and tokens, as JSON. */
export function info(): string {
  const f = fmt!;
  let stops = "[";
  for (let i = 0; i < f.stopStrings.length; i++) stops += (i > 0 ? "," : "") + jsonString(f.stopStrings[i]);
  let ids = "[";
  for (let i = 0; i < f.stopTokens.length; i++) ids += (i > 0 ? "," : "") + f.stopTokens[i].toString();
  return "{\"name\":" + jsonString(f.name) + ",\"reason\":" + jsonString(f.reason) + ",\"describe\":" + jsonString(f.describe()) +
    ",\"bos\":" + jsonString(f.bosText) + ",\"eos\":" + jsonString(f.eosText) + ",\"addBos\":" + (f.addBos ? "true" : "false") +
    ",\"template\":" + jsonString(f.template) + ",\"stopStrings\":" + stops + "],\"stopTokens\":" + ids + "]}";
}

export function reset(): void { fmt!.reset(); }
/** The date Llama 3.1+ templates write ("06 Dec 2026"). */
export function setToday(p: usize, n: usize): void { fmt!.today = s(p, n); }

/** formatTurn(role, content, addAssistantPrompt) as JSON {piece, error, first, pending}. */
export function turn(rp: usize, rn: usize, cp: usize, cn: usize, addAssistantPrompt: bool): string {
  const f = fmt!;
  return piece(f.formatTurn(s(rp, rn), s(cp, cn), addAssistantPrompt));
}
export function endReply(): string { return piece(fmt!.endReply()); }
export function userTurn(cp: usize, cn: usize): string { return piece(fmt!.userTurn(s(cp, cn))); }
export function isStopToken(id: i32): bool { return fmt!.isStopToken(id); }
export function findStop(p: usize, n: usize): i32 { return fmt!.findStop(s(p, n)); }
/** llm/chat/text.ts findText(text, part, from). */
export function findTextIn(tp: usize, tn: usize, pp: usize, pn: usize, from: i32): i32 { return findText(s(tp, tn), s(pp, pn), from); }

function piece(text: string): string {
  const f = fmt!;
  return "{\"piece\":" + jsonString(text) + ",\"error\":" + jsonString(f.error) + ",\"first\":" + (f.firstPiece ? "true" : "false") +
    ",\"pending\":" + (f.replyPending ? "true" : "false") + "}";
}
