// Reads test cases out of llama.cpp's C++ test sources (read at test time from its source
// bundle, tools/ref/llama_source.mjs): the arguments of calls like
//   verify_parsing(R"""(root ::= "a")""", {{"root", 0}}, {{LLAMA_GRETYPE_CHAR, 'a'}, ...});
//   test_grammar("name", R"""(...)""", {"passing", token(10) + "x"}, {"failing"});
// as JavaScript values: string literals (raw, escaped, concatenated with + and token(N),
// which llama.cpp's integration test writes as 0xff and the id's 4 bytes), numbers, character
// literals (as numbers), identifiers (as {id}), and {...} lists (as arrays).

/** The C++ source as a list of tokens: { s: Buffer } strings, numbers, { id }, or punctuation. */
function lex(src) {
  const out = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (/\s/.test(c)) { i++; continue; }
    if (src.startsWith("//", i)) { while (i < n && src[i] !== "\n") i++; continue; }
    if (src.startsWith("/*", i)) { i = src.indexOf("*/", i + 2) + 2; continue; }
    if (src.startsWith('R"', i)) { // raw string R"delim( ... )delim"
      const open = src.indexOf("(", i);
      const delim = src.slice(i + 2, open);
      const end = src.indexOf(`)${delim}"`, open);
      out.push({ s: Buffer.from(src.slice(open + 1, end), "utf8") });
      i = end + delim.length + 2;
      continue;
    }
    if (c === '"' || c === "'") {
      const bytes = [];
      i++;
      while (src[i] !== c) {
        if (src[i] === "\\") {
          const e = src[i + 1];
          const simple = { n: 10, t: 9, r: 13, "\\": 92, '"': 34, "'": 39, "0": 0, a: 7, b: 8, f: 12, v: 11 };
          if (e === "x") {
            let j = i + 2, h = "";
            while (/[0-9a-fA-F]/.test(src[j])) h += src[j++];
            bytes.push(parseInt(h, 16) & 0xff);
            i = j;
          } else if (e === "u" || e === "U") {
            const len = e === "u" ? 4 : 8;
            bytes.push(...Buffer.from(String.fromCodePoint(parseInt(src.slice(i + 2, i + 2 + len), 16)), "utf8"));
            i += 2 + len;
          } else if (/[0-7]/.test(e)) {
            let j = i + 1, o = "";
            while (o.length < 3 && /[0-7]/.test(src[j])) o += src[j++];
            bytes.push(parseInt(o, 8));
            i = j;
          } else {
            if (!(e in simple)) throw new Error(`unknown escape \\${e}`);
            bytes.push(simple[e]);
            i += 2;
          }
        } else {
          const cp = src.codePointAt(i);
          const ch = String.fromCodePoint(cp);
          bytes.push(...Buffer.from(ch, "utf8"));
          i += ch.length;
        }
      }
      i++;
      if (c === "'") out.push(bytes.length === 1 ? bytes[0] : Buffer.from(bytes).toString("utf8").codePointAt(0));
      else out.push({ s: Buffer.from(bytes) });
      continue;
    }
    const num = /^-?\d+/.exec(src.slice(i, i + 24));
    if (num) { out.push(Number(num[0])); i += num[0].length; continue; }
    const id = /^[A-Za-z_][A-Za-z_0-9:]*/.exec(src.slice(i, i + 200));
    if (id) { out.push({ id: id[0] }); i += id[0].length; continue; }
    out.push(c);
    i++;
  }
  return out;
}

/** token(id) as llama.cpp's integration test encodes it. */
function tokenMarker(id) {
  return Buffer.from([0xff, (id >>> 24) & 0xff, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
}

/** One argument value starting at toks[i]: [value, next index]. */
function value(toks, i) {
  const t = toks[i];
  if (t === "{") {
    const list = [];
    i++;
    while (toks[i] !== "}") {
      const [v, j] = value(toks, i);
      list.push(v);
      i = toks[j] === "," ? j + 1 : j;
    }
    return [list, i + 1];
  }
  // a sum of strings and token(N) calls, or a single number / identifier
  let parts = [];
  while (true) {
    const u = toks[i];
    if (u && u.s) { parts.push(u.s); i++; }
    else if (u && u.id === "token" && toks[i + 1] === "(") { parts.push(tokenMarker(toks[i + 2])); i += 4; }
    else if (parts.length === 0) return [u, i + 1];
    else break;
    if (toks[i] === "+") i++;
    else if (toks[i] && toks[i].s) continue; // adjacent literals concatenate
    else break;
  }
  return [Buffer.concat(parts), i];
}

/** The argument lists of every call to `name` in the source, as arrays of values. */
export function cppCalls(src, name) {
  const toks = lex(src);
  const calls = [];
  for (let i = 0; i < toks.length; i++) {
    if (!(toks[i] && toks[i].id === name && toks[i + 1] === "(")) continue;
    if (toks[i - 1] && toks[i - 1].id && /^(void|bool|static)$/.test(toks[i - 1].id)) continue; // the definition
    let j = i + 2;
    const args = [];
    while (toks[j] !== ")") {
      const [v, k] = value(toks, j);
      args.push(v);
      j = toks[k] === "," ? k + 1 : k;
    }
    calls.push(args);
    i = j;
  }
  return calls;
}
