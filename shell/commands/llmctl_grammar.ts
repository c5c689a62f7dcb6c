// Structured output for llmctl: the options infer and chat take to constrain what the model
// writes, and `llmctl config grammar-file PATH|none` to do it for every generation:
//   --grammar-file PATH        a GBNF grammar (llama.cpp's format, e.g. /models/list.gbnf)
//   --json-schema 'JSON'       a JSON schema, turned into a grammar as llama.cpp does
//   --json-schema-file PATH    the same, read from a file
//   --json                     any JSON object
// A grammar is checked when it is given, so a mistake is reported with its line and column
// before anything is generated.
import { vfs } from "../../kernel/fs/vfs";
import { InferSettings } from "../../llm/settings";
import { parseGrammar, GRAMMAR_NEEDS_VOCAB, GRAMMAR_OK } from "../../llm/grammar/gbnf";
import { jsonSchemaToGrammar, jsonObjectGrammar } from "../../llm/grammar/json_schema";
import { realBackend } from "../../llm/backend/registry";
import { utf8FirstInvalid } from "../utf8";

/** Grammar and schema files are read whole; larger ones are refused. */
export const GRAMMAR_FILE_MAX: u64 = 1 << 20;

/** The options, as the synopsis of infer and chat lists them. */
export const GRAMMAR_OPTIONS = "[--grammar-file PATH | --json-schema 'JSON' | --json-schema-file PATH | --json]";

// grammarOptionKind's answers
export const NOT_GRAMMAR: i32 = 0;
export const GRAMMAR_WITH_VALUE: i32 = 1;
export const GRAMMAR_FLAG: i32 = 2;

/** Whether `--key` is one of the grammar options, and whether it takes a value. */
export function grammarOptionKind(key: string): i32 {
  if (key == "grammar-file" || key == "json-schema" || key == "json-schema-file") return GRAMMAR_WITH_VALUE;
  if (key == "json") return GRAMMAR_FLAG;
  return NOT_GRAMMAR;
}

/** Sets s.grammar from the option `key` (value ignored for flags): "" or an error. */
export function applyGrammarOption(s: InferSettings, key: string, value: string): string {
  let text = new Uint8Array(0), source = "";
  if (key == "json") {
    text = Uint8Array.wrap(String.UTF8.encode(jsonObjectGrammar()));
    source = "any JSON object (--json)";
  } else if (key == "json-schema" || key == "json-schema-file") {
    let schema = value;
    source = "the JSON schema given";
    if (key == "json-schema-file") {
      const f = readText(value);
      if (f.error.length != 0) return f.error;
      schema = String.UTF8.decode(f.data.buffer);
      source = "the JSON schema in " + value;
    }
    const r = jsonSchemaToGrammar(schema);
    if (r.error.length != 0) return "JSON schema: " + oneLine(r.error);
    text = r.grammarBytes;
  } else if (key == "grammar-file") {
    const f = readText(value);
    if (f.error.length != 0) return f.error;
    text = f.data;
    source = value;
  } else {
    return "unknown grammar option '--" + key + "'";
  }
  const err = checkGrammar(text);
  if (err.length != 0) return (key == "grammar-file" ? value + ": " : "the grammar made from it: ") + err;
  s.grammar = text;
  s.grammarSource = source;
  return "";
}

/** llmctl config grammar-file PATH|none: "" or an error. */
export function configGrammarFile(s: InferSettings, value: string): string {
  if (value == "none") { s.grammar = new Uint8Array(0); s.grammarSource = ""; return ""; }
  return applyGrammarOption(s, "grammar-file", value);
}

/** "" or why the engine would refuse this grammar (tokens by name are checked against the
 *  loaded model's vocabulary, or at generation time when none is loaded yet). */
function checkGrammar(text: Uint8Array): string {
  const r = realBackend();
  const tok = r.isLoaded() ? r.engine.tokenizer : null;
  const g = parseGrammar(text, "root", tok);
  if (g.code == GRAMMAR_OK || (g.code == GRAMMAR_NEEDS_VOCAB && tok === null)) return "";
  return g.error;
}

/** The converter's message on one console line: its problems (each with its JSON pointer) joined. */
function oneLine(error: string): string {
  const header = "JSON schema conversion failed:\n";
  const body = error.startsWith(header) ? error.substring(header.length) : error;
  return body.trim().split("\n").join("; ");
}

class Text { data: Uint8Array = new Uint8Array(0); error: string = ""; }

/** A small text file: its bytes, or why not (missing, too large, a NUL, not UTF-8). */
function readText(path: string): Text {
  const out = new Text();
  const f = vfs.readSmall(path, GRAMMAR_FILE_MAX);
  if (f.error.length != 0) { out.error = f.error; return out; }
  for (let i = 0; i < f.data.length; i++) {
    if (f.data[i] == 0) { out.error = path + ": a NUL byte at offset " + i.toString() + ": not a text file"; return out; }
  }
  const bad = utf8FirstInvalid(f.data.dataStart, <usize>f.data.length);
  if (bad >= 0) { out.error = path + ": not UTF-8 text (an invalid byte sequence at offset " + bad.toString() + ")"; return out; }
  out.data = f.data;
  return out;
}
