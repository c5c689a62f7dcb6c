// The argument parser: a line -> words.
//   Words are separated by spaces or tabs. "..." quotes a word (or part of one:
//   a"b c"d is one word); inside double quotes \" \\ \n \t are escapes and any other
//   backslash escape is an error. '...' quotes literally, as in sh (no escapes: 'a\n'
//   is a, \ and n). An unclosed quote is an error. Outside quotes a backslash is an
//   ordinary character.

export class ParsedLine {
  args: Array<string> = new Array<string>();
  /** Empty when the line parsed; otherwise what is wrong with it. */
  error: string = "";
}

function isSpace(c: i32): bool {
  return c == 0x20 || c == 0x09;
}

export function parseArgs(line: string): ParsedLine {
  const r = new ParsedLine();
  const n = line.length;
  let i = 0;
  while (true) {
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) break;
    let word = "";
    while (i < n && !isSpace(line.charCodeAt(i))) {
      const q = line.charCodeAt(i);
      if (q != 0x22 && q != 0x27) {
        const from = i;
        while (i < n && !isSpace(line.charCodeAt(i)) && line.charCodeAt(i) != 0x22 && line.charCodeAt(i) != 0x27) i++;
        word += line.substring(from, i);
        continue;
      }
      if (q == 0x27) { // a single-quoted part: literal up to the next '
        const end = line.indexOf("'", i + 1);
        if (end < 0) {
          r.error = "unbalanced quote: the \"'\" at column " + (i + 1).toString() + " is never closed";
          return r;
        }
        word += line.substring(i + 1, end);
        i = end + 1;
        continue;
      }
      // a quoted part
      const open = i;
      i++;
      let from = i;
      let closed = false;
      while (i < n) {
        const c = line.charCodeAt(i);
        if (c == 0x22) {
          word += line.substring(from, i);
          i++;
          closed = true;
          break;
        }
        if (c == 0x5c && i + 1 < n) {
          word += line.substring(from, i);
          const e = line.charCodeAt(i + 1);
          if (e == 0x22) word += "\"";
          else if (e == 0x5c) word += "\\";
          else if (e == 0x6e) word += "\n";
          else if (e == 0x74) word += "\t";
          else {
            r.error = "unknown escape '\\" + String.fromCharCode(e) + "' at column " + (i + 1).toString() +
              " (inside quotes use \\\" \\\\ \\n \\t)";
            return r;
          }
          i += 2;
          from = i;
          continue;
        }
        i++;
      }
      if (!closed) {
        r.error = "unbalanced quote: the '\"' at column " + (open + 1).toString() + " is never closed";
        return r;
      }
    }
    r.args.push(word);
  }
  return r;
}

// (strict number parsing lives in kernel/lib/parse.ts: the LLM settings use it too)
export { parseNumber, parseUint } from "../kernel/lib/parse";
