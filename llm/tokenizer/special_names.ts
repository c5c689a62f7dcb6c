// Special tokens that llama.cpp recognises by their text when the GGUF metadata does not
// say: end-of-turn, end-of-message, fill-in-the-middle and end-of-generation tokens. Such
// tokens become control tokens, which changes how text containing them is tokenized (they
// are no longer matched unless special tokens are parsed) and how they are decoded, so the
// same rules are needed here to get llama.cpp's ids.

import { GGUFFile } from "../gguf";
import { Vocab, ATTR_CONTROL, ATTR_UNUSED, ATTR_USER_DEFINED, ATTR_NORMAL } from "./vocab";

const EOT_NAMES: string[] = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
  "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"];
const EOM_NAMES: string[] = ["<|eom_id|>"];
const FIM_PRE_NAMES: string[] = ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];
const FIM_SUF_NAMES: string[] = ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];
const FIM_MID_NAMES: string[] = ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];
const FIM_PAD_NAMES: string[] = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_NAMES: string[] = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
const FIM_SEP_NAMES: string[] = ["<|file_sep|>"];
const EOG_NAMES: string[] = ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
  "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
  "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["];
// always rendered as text (gpt-oss)
const ALWAYS_RENDERED: string[] = ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

export class SpecialIds {
  eot: i32 = -1;
  eom: i32 = -1;
  fimPre: i32 = -1; fimSuf: i32 = -1; fimMid: i32 = -1; fimPad: i32 = -1; fimRep: i32 = -1; fimSep: i32 = -1;
  /** End-of-generation tokens (EOS, EOT, EOM and the ones found by name). */
  eog: Array<i32> = new Array<i32>();
}

function addControl(v: Vocab, id: i32): void {
  v.attrs[id] = <u16>(<u32>v.attrs[id] | ATTR_CONTROL);
}

// The lowest id whose piece is one of `names` (llama.cpp takes whichever its hash map
// yields first; vocabularies have at most one of each in practice), made a control token.
function detect(v: Vocab, current: i32, names: string[]): i32 {
  if (current >= 0) return current;
  let best = -1;
  for (let i = 0; i < names.length; i++) {
    const id = v.findString(names[i]);
    if (id >= 0 && (best < 0 || id < best)) best = id;
  }
  if (best >= 0) addControl(v, best);
  return best;
}

function keyId(f: GGUFFile, key: string, n: i32): i32 {
  const val = f.find(key);
  if (val === null || !val.fitsU32() || val.asI64() >= <i64>n) return -1;
  return <i32>val.asI64();
}

/** Applies llama.cpp's by-name rules to v's attributes; eos is the EOS id already chosen. */
export function detectSpecialTokens(f: GGUFFile, v: Vocab, eos: i32): SpecialIds {
  const s = new SpecialIds();
  const n = v.n;
  s.eot = detect(v, keyId(f, "tokenizer.ggml.eot_token_id", n), EOT_NAMES);
  s.eom = detect(v, keyId(f, "tokenizer.ggml.eom_token_id", n), EOM_NAMES);
  let pre = keyId(f, "tokenizer.ggml.fim_pre_token_id", n); if (pre < 0) pre = keyId(f, "tokenizer.ggml.prefix_token_id", n);
  let suf = keyId(f, "tokenizer.ggml.fim_suf_token_id", n); if (suf < 0) suf = keyId(f, "tokenizer.ggml.suffix_token_id", n);
  let mid = keyId(f, "tokenizer.ggml.fim_mid_token_id", n); if (mid < 0) mid = keyId(f, "tokenizer.ggml.middle_token_id", n);
  s.fimPre = detect(v, pre, FIM_PRE_NAMES);
  s.fimSuf = detect(v, suf, FIM_SUF_NAMES);
  s.fimMid = detect(v, mid, FIM_MID_NAMES);
  s.fimPad = detect(v, keyId(f, "tokenizer.ggml.fim_pad_token_id", n), FIM_PAD_NAMES);
  s.fimRep = detect(v, keyId(f, "tokenizer.ggml.fim_rep_token_id", n), FIM_REP_NAMES);
  s.fimSep = detect(v, keyId(f, "tokenizer.ggml.fim_sep_token_id", n), FIM_SEP_NAMES);

  // control tokens named "...unused..." are unused
  const unused = String.UTF8.encode("unused");
  for (let id = 0; id < n; id++) {
    if ((v.attr(id) & ATTR_CONTROL) == 0) continue;
    const p = v.piecePtr(id), len = v.pieceLen(id);
    for (let k = 0; k + 6 <= len; k++) {
      if (memory.compare(p + <usize>k, changetype<usize>(unused), 6) == 0) { v.attrs[id] = <u16>(v.attr(id) | ATTR_UNUSED); break; }
    }
  }

  const eog = s.eog;
  if (s.fimPad >= 0) eog.push(s.fimPad);
  if (s.fimRep >= 0 && !eog.includes(s.fimRep)) eog.push(s.fimRep);
  if (s.fimSep >= 0 && !eog.includes(s.fimSep)) eog.push(s.fimSep);
  for (let i = 0; i < EOG_NAMES.length; i++) {
    const id = v.findString(EOG_NAMES[i]);
    if (id < 0) continue;
    if (!eog.includes(id)) eog.push(id);
    addControl(v, id);
  }
  for (let i = 0; i < ALWAYS_RENDERED.length; i++) {
    const id = v.findString(ALWAYS_RENDERED[i]);
    if (id >= 0) v.attrs[id] = <u16>ATTR_USER_DEFINED;
  }
  if (eos >= 0 && !eog.includes(eos)) eog.push(eos);
  if (s.eot >= 0 && !eog.includes(s.eot)) eog.push(s.eot);
  if (s.eom >= 0 && !eog.includes(s.eom)) eog.push(s.eom);

  // chat formats where "<|end|>" ends a message but not the generation
  const endId = eogId(v, eog, "<|end|>");
  const hasCall = eogId(v, eog, "<|call|>") >= 0 || eogId(v, eog, "<|calls|>") >= 0;
  if (endId >= 0 && hasCall && (eogId(v, eog, "<|return|>") >= 0 || eogId(v, eog, "<|flush|>") >= 0)) {
    eog.splice(eog.indexOf(endId), 1);
    v.attrs[endId] = <u16>ATTR_USER_DEFINED;
  }
  // and where "</s>" is ordinary text
  const sId = eogId(v, eog, "</s>");
  if (sId >= 0 && eogId(v, eog, "<|tool_response>") >= 0) {
    eog.splice(eog.indexOf(sId), 1);
    v.attrs[sId] = <u16>ATTR_NORMAL;
  }
  return s;
}

function eogId(v: Vocab, eog: Array<i32>, name: string): i32 {
  const id = v.findString(name);
  return id >= 0 && eog.includes(id) ? id : -1;
}
