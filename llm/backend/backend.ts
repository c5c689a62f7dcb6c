// The interface between the shell (llmctl) and whatever produces text from a prompt.
// A backend streams each piece of output through a TokenSink as soon as it exists, polls
// the sink for interruption between tokens, and returns counts, timings and an error
// string (empty when all went well). llm/ does not touch the console or the file system
// itself: the sink provides output, interruption and the clock, and a ModelSource the
// bytes of a model file (the shell implements both over the console and the VFS).

export { STOP_END_OF_TEXT, STOP_MAX_TOKENS, STOP_CONTEXT_FULL, STOP_INTERRUPTED, STOP_ERROR, stopName } from "../stop";

/** Generation settings; a backend documents which of them it honours. */
// What a generation takes: one definition with its validation, in llm/settings.ts.
import { InferSettings } from "../settings";
export { InferSettings };

export class InferResult {
  /** Empty on success; otherwise a clear, specific message. */
  error: string = "";
  /** Why it stopped: a STOP_* code of llm/stop.ts (stopName() for people), 0 until set. */
  stopReason: i32 = 0;
  /** Something the user should know about this run ("" when nothing), printed before the summary. */
  note: string = "";
  promptTokens: i32 = 0;
  generatedTokens: i32 = 0;
  /** Time to take in the prompt (tokenize + prefill). */
  promptNs: u64 = 0;
  /** Time spent producing the generated tokens. */
  generateNs: u64 = 0;
  /** Context positions in use after the run, and the context size (0 when the backend has none). */
  contextUsed: i32 = 0;
  contextSize: i32 = 0;
}

/**
 * A model file as the backend reads it: its size, reads at an offset, and progress
 * reports while the file comes in (the shell draws the progress bar). Reads go straight
 * into the destination (a region), so a whole model needs no second copy.
 */
export abstract class ModelSource {
  abstract size(): u64;
  /** Reads exactly `len` bytes at `offset` into dst; returns "" or an error (I/O error, end of file). */
  abstract read(offset: u64, dst: usize, len: usize): string;
  /** `done` of `total` bytes are in after `ns` nanoseconds (called after every chunk, and once with done == total). */
  abstract progress(done: u64, total: u64, ns: u64): void;
  /** True once the user asked to stop (Ctrl-C). */
  abstract interrupted(): bool;
  abstract nowNs(): u64;
}

/** Where a backend sends its output, and how it learns about the outside world. */
export abstract class TokenSink {
  /** One piece of output (UTF-8 bytes; a piece may end inside a character). */
  abstract emit(ptr: usize, len: i32): void;
  /** True once the user asked to stop (Ctrl-C); backends poll this between tokens. */
  abstract interrupted(): bool;
  /** Monotonic nanoseconds, for timings. */
  abstract nowNs(): u64;
  /** Something the user should know before the output that follows (a new conversation). */
  note(text: string): void {}
}

export abstract class Backend {
  /** Short name used by `llmctl backend NAME`. */
  abstract name(): string;
  /** The class users see named: "TransformerBackend". */
  abstract title(): string;
  /** One line: what this backend is. */
  abstract describe(): string;
  /** "key: value" lines for `llmctl info`: the backend, its model and its memory. */
  abstract info(): Array<string>;
  /** Runs one generation. */
  abstract infer(prompt: Uint8Array, settings: InferSettings, sink: TokenSink): InferResult;

  /** A model is loaded and infer can run. */
  isLoaded(): bool { return false; }
  /**
   * Loads the model file `path` from `source` with a context of nCtx tokens (0: the
   * model's own); returns "" or an error message (nothing stays allocated then).
   */
  load(path: string, source: ModelSource, nCtx: i32): string { return "the " + this.name() + " backend does not load models"; }
  /** What the loaded model is (printed after a load): "key: value" lines. */
  modelSummary(): Array<string> { return new Array<string>(); }
  /** Releases the model and all of its memory. */
  unload(): void {}
  /** Changes the context of the loaded model (reallocates the KV cache); "" or an error. */
  setContext(nCtx: i32): string { return ""; }
  /** Memory lines for `llmctl stats`: model, KV cache, scratch. */
  memory(): Array<string> { return new Array<string>(); }
  /** The last generation's time per stage, for `llmctl profile on`. */
  profile(): Array<string> { return new Array<string>(); }
  /** A trap escaped infer: drop per-generation state so the next call starts clean. */
  recover(): void {}
}
