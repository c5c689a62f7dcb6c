// The interface between the shell (llmctl) and whatever produces text from a prompt.
// A backend streams each piece of output through a TokenSink as soon as it exists, polls
// the sink for interruption between tokens, and returns counts, timings and an error
// string (empty when all went well). llm/ does not touch the console or the clock
// itself: the sink provides both.

export const STOP_END_OF_TEXT = "end of text";
export const STOP_MAX_TOKENS = "max tokens";
export const STOP_INTERRUPTED = "interrupted";
export const STOP_ERROR = "error";

/** Generation settings; a backend documents which of them it honours. */
export class InferSettings {
  maxTokens: i32 = 256;
  temperature: f32 = 0.8;
  topK: i32 = 40;        // 0: off
  topP: f32 = 0.95;      // 1: off
  minP: f32 = 0.05;      // 0: off
  repeatPenalty: f32 = 1.1; // 1: off
  repeatLastN: i32 = 64;
  seed: u64 = 0;         // 0: pick one from the clock
  seedSet: bool = false;

  clone(): InferSettings {
    const s = new InferSettings();
    s.maxTokens = this.maxTokens;
    s.temperature = this.temperature;
    s.topK = this.topK;
    s.topP = this.topP;
    s.minP = this.minP;
    s.repeatPenalty = this.repeatPenalty;
    s.repeatLastN = this.repeatLastN;
    s.seed = this.seed;
    s.seedSet = this.seedSet;
    return s;
  }
}

export class InferResult {
  /** Empty on success; otherwise a clear, specific message. */
  error: string = "";
  /** One of the STOP_* strings. */
  stopReason: string = "";
  promptTokens: i32 = 0;
  generatedTokens: i32 = 0;
  /** Time to take in the prompt (tokenize + prefill). */
  promptNs: u64 = 0;
  /** Time spent producing the generated tokens. */
  generateNs: u64 = 0;
}

/** Where a backend sends its output, and how it learns about the outside world. */
export abstract class TokenSink {
  /** One piece of output (UTF-8 bytes; a piece may end inside a character). */
  abstract emit(ptr: usize, len: i32): void;
  /** True once the user asked to stop (Ctrl-C); backends poll this between tokens. */
  abstract interrupted(): bool;
  /** Monotonic nanoseconds, for timings. */
  abstract nowNs(): u64;
}

export abstract class Backend {
  /** Short name used by `llmctl backend NAME`. */
  abstract name(): string;
  /** One line: what this backend is. */
  abstract describe(): string;
  /** "key: value" lines for `llmctl info`. */
  abstract info(): Array<string>;
  /** Runs one generation. */
  abstract infer(prompt: Uint8Array, settings: InferSettings, sink: TokenSink): InferResult;

  /** A model is loaded and infer can run. */
  isLoaded(): bool { return false; }
  /** Loads a model; returns "" or an error message. */
  load(path: string): string { return "backend '" + this.name() + "' does not load models"; }
  /** Releases the model and its memory. */
  unload(): void {}
  /** A trap escaped infer: drop per-generation state so the next call starts clean. */
  recover(): void {}
}
