// A parsed JSON document: one class for every kind of value, shaped after what
// nlohmann::ordered_json (llama.cpp's JSON) can tell apart, because the schema converter's
// output depends on it:
//   - objects keep their keys in document order (properties become rules in that order); a
//     key given twice keeps its first place and takes the later value, as ordered_json does;
//   - numbers remember whether they were written as a signed integer (a minus sign, fits
//     i64), an unsigned one (no sign, fits u64) or anything else (f64), and their source text.
// Strings are either text (UTF-16, the usual AssemblyScript string) or "byte strings" (one
// char per UTF-8 byte, 0..255), chosen when parsing: the schema converter works on bytes,
// as llama.cpp's std::string code does.

export const JSON_NULL: i32 = 0;
export const JSON_BOOL: i32 = 1;
export const JSON_NUMBER: i32 = 2;
export const JSON_STRING: i32 = 3;
export const JSON_ARRAY: i32 = 4;
export const JSON_OBJECT: i32 = 5;

/** Number kinds: written with a minus sign and fits i64; no sign and fits u64; anything else. */
export const NUM_INT: i32 = 0;
export const NUM_UINT: i32 = 1;
export const NUM_FLOAT: i32 = 2;

export class JsonValue {
  kind: i32 = JSON_NULL;
  boolValue: bool = false;
  numKind: i32 = NUM_INT;
  intValue: i64 = 0;     // NUM_INT, and NUM_UINT's bits
  floatValue: f64 = 0;   // NUM_FLOAT (and every number's value as a double)
  /** A number's text as written in the document. */
  numText: string = "";
  /** A string's value. */
  str: string = "";
  /** Array elements, or object values (parallel to keys). */
  items: Array<JsonValue> = new Array<JsonValue>();
  /** Object keys in document order. */
  keys: Array<string> = new Array<string>();
  private index: Map<string, i32> | null = null;

  static ofNull(): JsonValue { return new JsonValue(); }
  static ofBool(b: bool): JsonValue { const v = new JsonValue(); v.kind = JSON_BOOL; v.boolValue = b; return v; }
  static ofString(s: string): JsonValue { const v = new JsonValue(); v.kind = JSON_STRING; v.str = s; return v; }
  static newArray(): JsonValue { const v = new JsonValue(); v.kind = JSON_ARRAY; return v; }
  static newObject(): JsonValue { const v = new JsonValue(); v.kind = JSON_OBJECT; v.index = new Map<string, i32>(); return v; }
  static ofInt(x: i64): JsonValue {
    const v = new JsonValue(); v.kind = JSON_NUMBER; v.numKind = NUM_INT; v.intValue = x; v.floatValue = <f64>x; v.numText = x.toString(); return v;
  }

  isNull(): bool { return this.kind == JSON_NULL; }
  isBool(): bool { return this.kind == JSON_BOOL; }
  isNumber(): bool { return this.kind == JSON_NUMBER; }
  /** Written as an integer (nlohmann's is_number_integer: signed or unsigned). */
  isInteger(): bool { return this.kind == JSON_NUMBER && this.numKind != NUM_FLOAT; }
  isString(): bool { return this.kind == JSON_STRING; }
  isArray(): bool { return this.kind == JSON_ARRAY; }
  isObject(): bool { return this.kind == JSON_OBJECT; }

  /** nlohmann's size(): elements or members; 0 for null; 1 for any other single value. */
  size(): i32 {
    if (this.kind == JSON_ARRAY || this.kind == JSON_OBJECT) return this.items.length;
    return this.kind == JSON_NULL ? 0 : 1;
  }
  /** nlohmann's empty(): size() == 0. */
  empty(): bool { return this.size() == 0; }

  /** Whether this is an object with member `key` (false for anything else). */
  has(key: string): bool { return this.kind == JSON_OBJECT && this.index!.has(key); }
  /** The member `key` of an object, or null. */
  get(key: string): JsonValue | null {
    if (this.kind != JSON_OBJECT || !this.index!.has(key)) return null;
    return this.items[this.index!.get(key)];
  }

  /** Sets member `key` of an object: a new key goes last, an existing one keeps its place. */
  set(key: string, value: JsonValue): void {
    const idx = this.index!;
    if (idx.has(key)) { this.items[idx.get(key)] = value; return; }
    idx.set(key, this.keys.length);
    this.keys.push(key);
    this.items.push(value);
  }
  push(value: JsonValue): void { this.items.push(value); }

  /** A copy of an object (members shared, not copied). */
  shallowCopy(): JsonValue {
    const v = JsonValue.newObject();
    for (let i = 0; i < this.keys.length; i++) v.set(this.keys[i], this.items[i]);
    return v;
  }

  /** What nlohmann's iteration visits: array elements, object values, nothing for null, itself otherwise. */
  elements(): Array<JsonValue> {
    if (this.kind == JSON_ARRAY || this.kind == JSON_OBJECT) return this.items;
    const out = new Array<JsonValue>();
    if (this.kind != JSON_NULL) out.push(this);
    return out;
  }
  /** The keys nlohmann's items() gives: object keys, array indices as text, "" for a single value. */
  entryKeys(): Array<string> {
    if (this.kind == JSON_OBJECT) return this.keys;
    const out = new Array<string>();
    if (this.kind == JSON_ARRAY) { for (let i = 0; i < this.items.length; i++) out.push(i.toString()); }
    else if (this.kind != JSON_NULL) out.push("");
    return out;
  }

  /** nlohmann's type_name(), for messages. */
  typeName(): string {
    switch (this.kind) {
      case JSON_NULL: return "null";
      case JSON_BOOL: return "boolean";
      case JSON_NUMBER: return "number";
      case JSON_STRING: return "string";
      case JSON_ARRAY: return "array";
      default: return "object";
    }
  }

  /** Equal to the string s (nlohmann's json == "s"). */
  equalsString(s: string): bool { return this.kind == JSON_STRING && this.str == s; }
  /** Equal to the boolean b (nlohmann's json == true). */
  equalsBool(b: bool): bool { return this.kind == JSON_BOOL && this.boolValue == b; }

  /** get<int64_t>() of a number or boolean as C++ converts it on x86-64 (out-of-range doubles give INT64_MIN). */
  toI64(): i64 {
    if (this.kind == JSON_BOOL) return this.boolValue ? 1 : 0;
    if (this.numKind != NUM_FLOAT) return this.intValue;
    return f64ToI64(this.floatValue);
  }
  /** get<int>() of a number or boolean as C++ converts it on x86-64 (integers wrap, out-of-range doubles give INT_MIN). */
  toI32(): i32 {
    if (this.kind == JSON_BOOL) return this.boolValue ? 1 : 0;
    if (this.numKind != NUM_FLOAT) return <i32>this.intValue;
    const x = this.floatValue;
    if (!(x > -2147483649.0 && x < 2147483648.0)) return i32.MIN_VALUE;
    return <i32>x;
  }
}

/** static_cast<int64_t>(double) as x86-64's cvttsd2si computes it. */
export function f64ToI64(x: f64): i64 {
  if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0)) return i64.MIN_VALUE;
  return <i64>x;
}
