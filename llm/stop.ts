// Why a generation stopped: one set of codes for the engine (next() returns a token id, or
// the negated code), the backends' results, the shell's summaries and sis-llm, each with
// the name people read ("(stopped: context full)", sis-llm's "stop: max tokens").
export const STOP_END_OF_TEXT: i32 = 1;  // the model produced an end-of-generation token
export const STOP_MAX_TOKENS: i32 = 2;   // the max-tokens setting was reached
export const STOP_CONTEXT_FULL: i32 = 3; // no room left in the context for another token
export const STOP_INTERRUPTED: i32 = 4;  // Ctrl-C (the sink said so) between two tokens
export const STOP_ERROR: i32 = 5;        // the run failed; InferResult.error says why
export const STOP_NOT_STARTED: i32 = 6;  // no model, or begin() failed or was not called
export const STOP_GRAMMAR: i32 = 7;      // the grammar allows no token here (and cannot end)

/** The name of a stop code ("" for none). */
export function stopName(code: i32): string {
  switch (code) {
    case STOP_END_OF_TEXT: return "end of text";
    case STOP_MAX_TOKENS: return "max tokens";
    case STOP_CONTEXT_FULL: return "context full";
    case STOP_INTERRUPTED: return "interrupted";
    case STOP_ERROR: return "error";
    case STOP_NOT_STARTED: return "not started";
    case STOP_GRAMMAR: return "no token fits the grammar";
  }
  return "";
}
