// Which backend `llmctl` talks to, and the generation settings commands start from.
// Starts with none selected: output only ever comes from a backend the user chose by
// name ("stub": synthetic testing output; "real": the transformer). Each backend is made
// once and kept, so switching back and forth keeps a loaded model.
import { Backend, InferSettings } from "./backend";
import { StubBackend } from "./stub";
import { TransformerBackend } from "./real";

export const BACKEND_NAMES = "stub, real";

let current: Backend | null = null;
let stub: StubBackend | null = null;
let real: TransformerBackend | null = null;
const defaults = new InferSettings();
/** Context for the next load in tokens (0: the model's own context_length). */
let context: i32 = 0;

export function currentBackend(): Backend | null {
  return current;
}

export function stubBackend(): StubBackend {
  let s = stub;
  if (s == null) { s = new StubBackend(); stub = s; }
  return s;
}

export function realBackend(): TransformerBackend {
  let r = real;
  if (r == null) { r = new TransformerBackend(); real = r; }
  return r;
}

/** True when the selected backend is the transformer. */
export function realSelected(): bool {
  return current != null && current === real;
}

/** Selects a backend by name; returns "" or why it cannot be selected (the selection is then unchanged). */
export function selectBackend(name: string): string {
  if (name == "stub") { current = stubBackend(); return ""; }
  if (name == "real") { current = realBackend(); return ""; }
  return "unknown backend '" + name + "' (available: " + BACKEND_NAMES + ")";
}

/** The settings infer starts from (command options override a copy). */
export function defaultSettings(): InferSettings {
  return defaults;
}

export function contextSetting(): i32 { return context; }
export function setContextSetting(n: i32): void { context = n; }

/** After a trap: let every backend drop per-generation state. */
export function recoverBackends(): void {
  const s = stub;
  if (s != null) s.recover();
  const r = real;
  if (r != null) r.recover();
}
