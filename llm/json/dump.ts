// JSON text of a value, exactly as nlohmann::json's dump() writes it (no indentation): the
// converter turns constants into grammar literals through it, so its escaping and number
// formatting are part of the grammar's text.

import { JsonValue, JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, NUM_INT, NUM_UINT } from "./value";
import { formatDouble } from "./number";

const HEX = "0123456789abcdef";

/** s as a JSON string literal: '"', '\\' and control characters escaped (\b \f \n \r \t, else \u00xx); everything else as is. */
export function dumpString(s: string): string {
  const parts = new Array<string>();
  parts.push("\"");
  let run = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    if (i > run) parts.push(s.substring(run, i));
    run = i + 1;
    switch (c) {
      case 0x22: parts.push("\\\""); break;
      case 0x5c: parts.push("\\\\"); break;
      case 0x08: parts.push("\\b"); break;
      case 0x0c: parts.push("\\f"); break;
      case 0x0a: parts.push("\\n"); break;
      case 0x0d: parts.push("\\r"); break;
      case 0x09: parts.push("\\t"); break;
      default: parts.push("\\u00" + HEX.charAt(c >> 4) + HEX.charAt(c & 15));
    }
  }
  if (s.length > run) parts.push(s.substring(run));
  parts.push("\"");
  return parts.join("");
}

/** A number as nlohmann writes it: integers exactly, floating-point numbers by formatDouble. */
export function dumpNumber(v: JsonValue): string {
  if (v.numKind == NUM_INT) return v.intValue.toString();
  if (v.numKind == NUM_UINT) return (<u64>v.intValue).toString();
  return formatDouble(v.floatValue);
}

/** The compact JSON text of v. */
export function dumpJson(v: JsonValue): string {
  const parts = new Array<string>();
  dumpInto(v, parts);
  return parts.join("");
}

function dumpInto(v: JsonValue, out: Array<string>): void {
  switch (v.kind) {
    case JSON_NULL: out.push("null"); return;
    case JSON_BOOL: out.push(v.boolValue ? "true" : "false"); return;
    case JSON_NUMBER: out.push(dumpNumber(v)); return;
    case JSON_STRING: out.push(dumpString(v.str)); return;
    case JSON_ARRAY: {
      out.push("[");
      for (let i = 0; i < v.items.length; i++) {
        if (i > 0) out.push(",");
        dumpInto(v.items[i], out);
      }
      out.push("]");
      return;
    }
    default: {
      out.push("{");
      for (let i = 0; i < v.keys.length; i++) {
        if (i > 0) out.push(",");
        out.push(dumpString(v.keys[i]));
        out.push(":");
        dumpInto(v.items[i], out);
      }
      out.push("}");
    }
  }
}
