// A JSON parser (RFC 8259, as strict as nlohmann::json's: no comments, no trailing commas,
// no NaN, strings must be well-formed UTF-8 with paired surrogates in \u escapes, numbers
// that overflow a double are refused; a leading UTF-8 byte order mark is skipped; a NUL byte
// outside a string ends the document, as it does for nlohmann).
// Errors are returned, never thrown: "line L, column C: <what was expected>", the column
// counted in characters from 1. Nesting is limited (maxDepth) so that a hostile document
// cannot exhaust the stack of the recursive descent.

import { JsonValue, JSON_NUMBER, NUM_INT, NUM_UINT, NUM_FLOAT } from "./value";
import { byteString, encodeUtf8, utf8SequenceLength } from "./bytes";
import { parseDouble } from "./number";

export const JSON_MAX_DEPTH: i32 = 128;

export class JsonParseResult {
  value: JsonValue | null = null;
  /** "" when the document parsed. */
  error: string = "";
  get ok(): bool { return this.error.length == 0; }
}

/** Parses text (UTF-16; encoded to UTF-8 first). byteStrings: string values as byte strings (llm/json/bytes.ts). */
export function parseJson(text: string, byteStrings: bool = false, maxDepth: i32 = JSON_MAX_DEPTH): JsonParseResult {
  const bytes = encodeUtf8(text);
  return parseJsonBytes(changetype<usize>(bytes.buffer), <usize>bytes.length, byteStrings, maxDepth);
}

/** Parses the UTF-8 document at [p, p+n). */
export function parseJsonBytes(p: usize, n: usize, byteStrings: bool = false, maxDepth: i32 = JSON_MAX_DEPTH): JsonParseResult {
  const parser = new Parser(p, n, byteStrings, maxDepth);
  const r = new JsonParseResult();
  // a byte order mark is allowed before the document (nlohmann skips it)
  if (n >= 3 && load<u8>(p) == 0xef && load<u8>(p + 1) == 0xbb && load<u8>(p + 2) == 0xbf) parser.pos = 3;
  const v = parser.value(0);
  if (v !== null) {
    parser.skipSpace();
    if (parser.peek() >= 0) parser.fail("unexpected " + parser.describe() + " after the JSON value");
  }
  if (parser.error.length > 0) {
    r.error = parser.where() + ": " + parser.error;
    return r;
  }
  r.value = v;
  return r;
}

class Parser {
  pos: usize = 0;
  error: string = "";
  errorAt: usize = 0;
  private buf: Uint8Array = new Uint8Array(64);

  constructor(private p: usize, private n: usize, private byteStrings: bool, private maxDepth: i32) {}

  fail(msg: string): void {
    if (this.error.length > 0) return;
    this.error = msg;
    this.errorAt = this.pos;
  }

  /** "line L, column C" of the error position (columns count characters, not bytes). */
  where(): string {
    let line = 1, col = 1;
    for (let i: usize = 0; i < this.errorAt && i < this.n; i++) {
      const b = load<u8>(this.p + i);
      if (b == 0x0a) { line++; col = 1; }
      else if ((b & 0xc0) != 0x80) col++;
    }
    return "line " + line.toString() + ", column " + col.toString();
  }

  /** The character at pos, for messages. */
  describe(): string {
    if (this.pos >= this.n) return "end of input";
    if (load<u8>(this.p + this.pos) == 0) return "a NUL byte (end of input)";
    const b = load<u8>(this.p + this.pos);
    if (b > 0x20 && b < 0x7f) return "'" + String.fromCharCode(b) + "'";
    const h = (<u32>b).toString(16).toUpperCase();
    return "byte 0x" + (h.length < 2 ? "0" : "") + h;
  }

  skipSpace(): void {
    while (this.pos < this.n) {
      const b = load<u8>(this.p + this.pos);
      if (b != 0x20 && b != 0x09 && b != 0x0a && b != 0x0d) break;
      this.pos++;
    }
  }

  /** The byte at pos, or -1 at the end. A NUL byte between tokens ends the input too (nlohmann's
   *  lexer does so; llama.cpp's schemas come from C strings). */
  peek(): i32 {
    if (this.pos >= this.n) return -1;
    const b = <i32>load<u8>(this.p + this.pos);
    return b == 0 ? -1 : b;
  }

  value(depth: i32): JsonValue | null {
    this.skipSpace();
    const c = this.peek();
    if (c == 0x7b || c == 0x5b) {
      if (depth >= this.maxDepth) { this.fail("nesting deeper than " + this.maxDepth.toString() + " levels"); return null; }
      return c == 0x7b ? this.object(depth + 1) : this.array(depth + 1);
    }
    if (c == 0x22) return this.string();
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
    if (c == 0x74) return this.word("true", JsonValue.ofBool(true));
    if (c == 0x66) return this.word("false", JsonValue.ofBool(false));
    if (c == 0x6e) return this.word("null", JsonValue.ofNull());
    this.fail("expected a value, found " + this.describe());
    return null;
  }

  private word(w: string, v: JsonValue): JsonValue | null {
    for (let i = 0; i < w.length; i++) {
      if (this.peek() != w.charCodeAt(i)) { this.fail("expected '" + w + "', found " + this.describe()); return null; }
      this.pos++;
    }
    return v;
  }

  private object(depth: i32): JsonValue | null {
    const obj = JsonValue.newObject();
    this.pos++; // {
    this.skipSpace();
    if (this.peek() == 0x7d) { this.pos++; return obj; }
    while (true) {
      this.skipSpace();
      if (this.peek() != 0x22) { this.fail("expected a string as object key, found " + this.describe()); return null; }
      const key = this.string();
      if (key === null) return null;
      this.skipSpace();
      if (this.peek() != 0x3a) { this.fail("expected ':' after an object key, found " + this.describe()); return null; }
      this.pos++;
      const v = this.value(depth);
      if (v === null) return null;
      obj.set(key.str, v);
      this.skipSpace();
      const c = this.peek();
      if (c == 0x2c) { this.pos++; continue; }
      if (c == 0x7d) { this.pos++; return obj; }
      this.fail("expected ',' or '}' after an object member, found " + this.describe());
      return null;
    }
  }

  private array(depth: i32): JsonValue | null {
    const arr = JsonValue.newArray();
    this.pos++; // [
    this.skipSpace();
    if (this.peek() == 0x5d) { this.pos++; return arr; }
    while (true) {
      const v = this.value(depth);
      if (v === null) return null;
      arr.push(v);
      this.skipSpace();
      const c = this.peek();
      if (c == 0x2c) { this.pos++; continue; }
      if (c == 0x5d) { this.pos++; return arr; }
      this.fail("expected ',' or ']' after an array element, found " + this.describe());
      return null;
    }
  }

  private put(len: i32, b: u32): i32 {
    if (len >= this.buf.length) {
      const nb = new Uint8Array(this.buf.length * 2);
      nb.set(this.buf);
      this.buf = nb;
    }
    this.buf[len] = <u8>b;
    return len + 1;
  }

  private putCodePoint(len: i32, c: u32): i32 {
    if (c < 0x80) return this.put(len, c);
    if (c < 0x800) { len = this.put(len, 0xc0 | (c >> 6)); return this.put(len, 0x80 | (c & 0x3f)); }
    if (c < 0x10000) {
      len = this.put(len, 0xe0 | (c >> 12)); len = this.put(len, 0x80 | ((c >> 6) & 0x3f));
      return this.put(len, 0x80 | (c & 0x3f));
    }
    len = this.put(len, 0xf0 | (c >> 18)); len = this.put(len, 0x80 | ((c >> 12) & 0x3f));
    len = this.put(len, 0x80 | ((c >> 6) & 0x3f));
    return this.put(len, 0x80 | (c & 0x3f));
  }

  /** Four hex digits at pos (after "\u"), or -1. */
  private hex4(): i32 {
    if (this.pos + 4 > this.n) return -1;
    let v = 0;
    for (let i: usize = 0; i < 4; i++) {
      const c = <i32>load<u8>(this.p + this.pos + i);
      let d = -1;
      if (c >= 0x30 && c <= 0x39) d = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) d = c - 0x61 + 10;
      else if (c >= 0x41 && c <= 0x46) d = c - 0x41 + 10;
      if (d < 0) return -1;
      v = (v << 4) | d;
    }
    return v;
  }

  private string(): JsonValue | null {
    this.pos++; // "
    let len = 0;
    while (true) {
      if (this.pos >= this.n) { this.fail("unterminated string"); return null; }
      const b = <u32>load<u8>(this.p + this.pos);
      if (b == 0x22) { this.pos++; break; }
      if (b < 0x20) {
        const h = b.toString(16).toUpperCase();
        this.fail("control character U+00" + (h.length < 2 ? "0" : "") + h + " in a string (write it as an escape)");
        return null;
      }
      if (b >= 0x80) {
        const sl = utf8SequenceLength(this.p + this.pos, this.n - this.pos);
        if (sl == 0) { this.fail("invalid UTF-8 in a string"); return null; }
        for (let i = 0; i < sl; i++) len = this.put(len, load<u8>(this.p + this.pos + <usize>i));
        this.pos += <usize>sl;
        continue;
      }
      if (b != 0x5c) { len = this.put(len, b); this.pos++; continue; }
      // an escape
      if (this.pos + 1 >= this.n) { this.pos++; this.fail("unterminated string"); return null; }
      const e = <u32>load<u8>(this.p + this.pos + 1);
      let out: i32 = -1;
      switch (e) {
        case 0x22: out = 0x22; break;
        case 0x5c: out = 0x5c; break;
        case 0x2f: out = 0x2f; break;
        case 0x62: out = 0x08; break;
        case 0x66: out = 0x0c; break;
        case 0x6e: out = 0x0a; break;
        case 0x72: out = 0x0d; break;
        case 0x74: out = 0x09; break;
      }
      if (out >= 0) { len = this.put(len, <u32>out); this.pos += 2; continue; }
      if (e != 0x75) { this.fail("invalid escape '\\" + (e >= 0x20 && e < 0x7f ? String.fromCharCode(e) : "?") + "' in a string"); return null; }
      this.pos += 2;
      const u = this.hex4();
      if (u < 0) { this.fail("expected four hex digits after '\\u'"); return null; }
      let cp = <u32>u;
      if (cp >= 0xdc00 && cp <= 0xdfff) { this.pos -= 2; this.fail("lone low surrogate \\u" + hexWord(cp) + " (it must follow a high surrogate \\uD800-\\uDBFF)"); return null; }
      if (cp >= 0xd800 && cp <= 0xdbff) {
        this.pos += 4;
        if (!(this.pos + 1 < this.n && load<u8>(this.p + this.pos) == 0x5c && load<u8>(this.p + this.pos + 1) == 0x75)) {
          this.pos -= 6;
          this.fail("high surrogate \\u" + hexWord(cp) + " must be followed by a low surrogate \\uDC00-\\uDFFF");
          return null;
        }
        this.pos += 2;
        const lo = this.hex4();
        if (lo < 0) { this.fail("expected four hex digits after '\\u'"); return null; }
        if (lo < 0xdc00 || lo > 0xdfff) {
          this.pos -= 8;
          this.fail("high surrogate \\u" + hexWord(cp) + " must be followed by a low surrogate \\uDC00-\\uDFFF");
          return null;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (<u32>lo - 0xdc00);
      }
      this.pos += 4;
      len = this.putCodePoint(len, cp);
    }
    const base = changetype<usize>(this.buf.buffer);
    return JsonValue.ofString(this.byteStrings ? byteString(base, <usize>len) : String.UTF8.decodeUnsafe(base, <usize>len));
  }

  private digits(): usize {
    const start = this.pos;
    while (this.pos < this.n) {
      const c = load<u8>(this.p + this.pos);
      if (c < 0x30 || c > 0x39) break;
      this.pos++;
    }
    return this.pos - start;
  }

  private number(): JsonValue | null {
    const start = this.pos;
    const negative = this.peek() == 0x2d;
    if (negative) this.pos++;
    const c = this.peek();
    if (c < 0x30 || c > 0x39) { this.fail("expected a digit after '-', found " + this.describe()); return null; }
    if (c == 0x30) {
      this.pos++;
      const d = this.peek();
      if (d >= 0x30 && d <= 0x39) { this.fail("a number cannot have a leading zero"); return null; }
    } else this.digits();
    let integral = true;
    if (this.peek() == 0x2e) {
      integral = false;
      this.pos++;
      if (this.digits() == 0) { this.fail("expected a digit after '.', found " + this.describe()); return null; }
    }
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      integral = false;
      this.pos++;
      const s = this.peek();
      if (s == 0x2b || s == 0x2d) this.pos++;
      if (this.digits() == 0) { this.fail("expected a digit in the exponent, found " + this.describe()); return null; }
    }
    const text = byteString(this.p + start, this.pos - start);
    const v = new JsonValue();
    v.kind = JSON_NUMBER;
    v.numText = text;
    if (integral) {
      // an integer that fits: i64 with a minus sign, u64 without (as nlohmann stores them)
      let mag: u64 = 0;
      let fits = true;
      for (let i = negative ? 1 : 0; i < text.length; i++) {
        const d = <u64>(text.charCodeAt(i) - 0x30);
        if (mag > (u64.MAX_VALUE - d) / 10) { fits = false; break; }
        mag = mag * 10 + d;
      }
      if (fits && negative && mag <= 0x8000000000000000) {
        v.numKind = NUM_INT;
        v.intValue = -(<i64>mag);
        v.floatValue = <f64>v.intValue;
        return v;
      }
      if (fits && !negative) {
        v.numKind = NUM_UINT;
        v.intValue = <i64>mag;
        v.floatValue = <f64>mag;
        return v;
      }
    }
    const x = parseDouble(text);
    if (!isFinite(x)) { this.pos = start; this.fail("number " + text + " is out of range for a double"); return null; }
    v.numKind = NUM_FLOAT;
    v.floatValue = x;
    return v;
  }
}

function hexWord(v: u32): string {
  const h = v.toString(16).toUpperCase();
  return "0000".substring(h.length) + h;
}
