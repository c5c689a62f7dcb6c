// Which backend `llmctl` talks to. Starts with none selected: output only ever comes
// from a backend the user chose by name. The transformer backend ("real") is not part
// of this build yet, and asking for it says so.
import { Backend, InferSettings } from "./backend";
import { StubBackend } from "./stub";

export const REAL_UNAVAILABLE =
  "the transformer backend ('real') is not available in this build yet; the only backend is 'stub' (synthetic test output, no model)";

let current: Backend | null = null;
let stub: StubBackend | null = null;
const defaults = new InferSettings();

export function currentBackend(): Backend | null {
  return current;
}

export function stubBackend(): StubBackend {
  let s = stub;
  if (s == null) { s = new StubBackend(); stub = s; }
  return s;
}

/** Selects a backend by name; returns "" or why it cannot be selected (the selection is then unchanged). */
export function selectBackend(name: string): string {
  if (name == "stub") {
    current = stubBackend();
    return "";
  }
  if (name == "real") return REAL_UNAVAILABLE;
  return "unknown backend '" + name + "' (available: stub; 'real' is not in this build yet)";
}

/** The settings infer starts from (command options override a copy). */
export function defaultSettings(): InferSettings {
  return defaults;
}

/** After a trap: let the selected backend drop per-generation state. */
export function recoverBackends(): void {
  const b = current;
  if (b != null) b.recover();
}
