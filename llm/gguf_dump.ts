// Text views of a parsed GGUF file: metadata and tensor table as JSON, for host tools
// ("what is in this model?") and for tests that compare against other readers.

import {
  GGUFFile, GGUFValue, ggufIsIntegerType, GGUF_TYPE_STRING, GGUF_TYPE_ARRAY, GGUF_TYPE_BOOL,
  GGUF_TYPE_FLOAT32, GGUF_TYPE_FLOAT64, GGUF_TYPE_UINT64,
} from "./gguf";

/** s as a JSON string literal. */
export function jsonString(s: string): string {
  let out = "\"";
  let run = 0; // start of the current run of characters that need no escaping
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    out += s.substring(run, i);
    if (c == 0x22) out += "\\\"";
    else if (c == 0x5c) out += "\\\\";
    else if (c == 0x0a) out += "\\n";
    else {
      const h = c.toString(16);
      out += "\\u" + "0000".substring(h.length) + h;
    }
    run = i + 1;
  }
  return out + s.substring(run) + "\"";
}

function floatJSON(x: f64): string {
  if (isNaN(x)) return "\"NaN\"";
  if (!isFinite(x)) return x > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  return x.toString();
}

function scalarJSON(t: u32, v: GGUFValue, i: i32): string {
  // i < 0: v itself is the scalar; otherwise element i of array v
  if (t == GGUF_TYPE_BOOL) return (i < 0 ? v.asBool() : v.boolAt(i)) ? "true" : "false";
  if (t == GGUF_TYPE_FLOAT32) return floatJSON(i < 0 ? <f64><f32>v.asF64() : <f64>v.f32At(i));
  if (t == GGUF_TYPE_FLOAT64) return floatJSON(i < 0 ? v.asF64() : v.f64At(i));
  if (t == GGUF_TYPE_UINT64) return i < 0 ? v.asU64().toString() : (<u64>v.i64At(i)).toString();
  if (ggufIsIntegerType(t)) return (i < 0 ? v.asI64() : v.i64At(i)).toString();
  return "null";
}

/** One value as JSON (integers as exact decimal numbers, NaN/Infinity as strings). */
export function valueJSON(v: GGUFValue): string {
  if (v.type == GGUF_TYPE_STRING) return jsonString(v.asString());
  if (v.type != GGUF_TYPE_ARRAY) return scalarJSON(v.type, v, -1);
  const parts = new Array<string>(v.length);
  for (let i = 0; i < v.length; i++) {
    if (v.elemType == GGUF_TYPE_STRING) parts[i] = jsonString(v.stringAt(i));
    else if (v.elemType == GGUF_TYPE_ARRAY) parts[i] = valueJSON(v.arrayAt(i)!);
    else parts[i] = scalarJSON(v.elemType, v, i);
  }
  return "[" + parts.join(",") + "]";
}

/** {"key": value, ...} in file order. */
export function metadataJSON(f: GGUFFile): string {
  const parts = new Array<string>(f.kvCount);
  for (let i = 0; i < f.kvCount; i++) parts[i] = jsonString(f.keys[i]) + ":" + valueJSON(f.values[i]);
  return "{" + parts.join(",") + "}";
}

/** {"key": type id, or [9, elemType] for arrays, or [9, 9, [element types]] for arrays of arrays}. */
export function metadataTypesJSON(f: GGUFFile): string {
  const parts = new Array<string>(f.kvCount);
  for (let i = 0; i < f.kvCount; i++) parts[i] = jsonString(f.keys[i]) + ":" + typeJSON(f.values[i]);
  return "{" + parts.join(",") + "}";
}

function typeJSON(v: GGUFValue): string {
  if (v.type != GGUF_TYPE_ARRAY) return v.type.toString();
  if (v.elemType == GGUF_TYPE_ARRAY) {
    const parts = new Array<string>(v.length);
    for (let i = 0; i < v.length; i++) parts[i] = typeJSON(v.arrayAt(i)!);
    return "[9,9,[" + parts.join(",") + "]]";
  }
  return "[9," + v.elemType.toString() + "]";
}

/** [{"name","dims","type","offset","fileOffset","nbytes","nelements"}, ...] in file order. */
export function tensorsJSON(f: GGUFFile): string {
  const parts = new Array<string>(f.tensorCount);
  for (let i = 0; i < f.tensorCount; i++) {
    const t = f.tensors[i];
    const dims = new Array<string>(<i32>t.nDims);
    for (let d: u32 = 0; d < t.nDims; d++) dims[d] = t.dims[d].toString();
    parts[i] = "{\"name\":" + jsonString(t.name) + ",\"dims\":[" + dims.join(",") + "],\"type\":" + t.type.toString() +
      ",\"offset\":" + t.offset.toString() + ",\"fileOffset\":" + (<u64>(t.data - f.base)).toString() +
      ",\"nbytes\":" + t.nbytes.toString() + ",\"nelements\":" + t.nelements.toString() + "}";
  }
  return "[" + parts.join(",") + "]";
}
