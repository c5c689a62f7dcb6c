// The stub backend: a TESTING backend with no model. Its output is labelled as synthetic
// and is a deterministic transformation of the prompt (its words in reverse order),
// streamed one word per "token" through the same sink a real backend uses, so that the
// shell's plumbing (streaming, max-tokens, Ctrl-C, stats) can be tested without a model.
// It never pretends to be a language model: sampling settings are ignored and say so.
import { Backend, InferResult, InferSettings, STOP_END_OF_TEXT, STOP_INTERRUPTED, STOP_MAX_TOKENS, TokenSink } from "./backend";
import { MAX_TOKENS_UNLIMITED } from "../settings";

export const STUB_LABEL = "[stub backend: synthetic output, no model]";

function isSpace(b: u8): bool {
  return b == 0x20 || b == 0x09 || b == 0x0a || b == 0x0d;
}

export class StubBackend extends Backend {
  /** Busy-waits this long before each token (0: none), to make Ctrl-C testable by hand. */
  pieceDelayMs: u32 = 0;

  private lastPromptNs: u64 = 0;
  private lastGenerateNs: u64 = 0;
  private lastWords: i32 = 0;

  name(): string { return "stub"; }
  title(): string { return "StubBackend"; }

  describe(): string {
    return "synthetic testing backend, no model: streams a labelled, deterministic transformation of the prompt (its words in reverse order)";
  }

  info(): Array<string> {
    const lines = new Array<string>();
    lines.push("backend: stub (" + this.describe() + ")");
    lines.push("model: none (the stub does not load models)");
    lines.push("tokens: one per whitespace-separated word of the prompt");
    lines.push("settings honoured: max-tokens; sampling settings are ignored");
    lines.push("delay per token: " + this.pieceDelayMs.toString() + " ms");
    return lines;
  }

  infer(prompt: Uint8Array, settings: InferSettings, sink: TokenSink): InferResult {
    const r = new InferResult();
    if (settings.grammar.length != 0) r.note = "the stub backend ignores the grammar: its output is not constrained";
    const t0 = sink.nowNs();
    // "tokenize": word boundaries
    const starts = new Array<i32>();
    const ends = new Array<i32>();
    const n = prompt.length;
    let i = 0;
    while (i < n) {
      while (i < n && isSpace(prompt[i])) i++;
      if (i >= n) break;
      const s = i;
      while (i < n && !isSpace(prompt[i])) i++;
      starts.push(s);
      ends.push(i);
    }
    r.promptTokens = starts.length;
    const t1 = sink.nowNs();
    r.promptNs = t1 - t0;

    const label = String.UTF8.encode(STUB_LABEL);
    sink.emit(changetype<usize>(label), label.byteLength);
    const piece = new Uint8Array(n + 1);
    for (let w = starts.length - 1; w >= 0; w--) {
      if (settings.maxTokens != MAX_TOKENS_UNLIMITED && r.generatedTokens >= settings.maxTokens) { r.stopReason = STOP_MAX_TOKENS; break; }
      if (this.wait(sink)) { r.stopReason = STOP_INTERRUPTED; break; }
      const len = ends[w] - starts[w];
      piece[0] = 0x20;
      memory.copy(piece.dataStart + 1, prompt.dataStart + <usize>starts[w], <usize>len);
      sink.emit(piece.dataStart, len + 1);
      r.generatedTokens++;
    }
    if (r.stopReason == 0) r.stopReason = STOP_END_OF_TEXT;
    r.generateNs = sink.nowNs() - t1;
    this.lastPromptNs = r.promptNs;
    this.lastGenerateNs = r.generateNs;
    this.lastWords = r.generatedTokens;
    return r;
  }

  profile(): Array<string> {
    const lines = new Array<string>();
    lines.push("profile: the stub backend has no model, so no stages to time: splitting the prompt into words " +
      this.lastPromptNs.toString() + " ns, streaming " + this.lastWords.toString() + " words " + this.lastGenerateNs.toString() + " ns");
    return lines;
  }

  // The per-token delay; returns true if the user interrupted.
  private wait(sink: TokenSink): bool {
    if (sink.interrupted()) return true;
    if (this.pieceDelayMs == 0) return false;
    const until = sink.nowNs() + <u64>this.pieceDelayMs * 1000000;
    while (sink.nowNs() < until) if (sink.interrupted()) return true;
    return false;
  }
}
