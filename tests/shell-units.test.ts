// Unit tests for the shell's pure parts (shell/args.ts, shell/utf8.ts, shell/format.ts),
// compiled from tests/wasm/shell_units.ts. UTF-8 is checked against Node's WHATWG
// TextDecoder; the parser by round-tripping randomly generated words.
import { describe, it, expect, beforeAll } from "vitest";
import { compile } from "../tools/lib/asbuild.mjs";
import { instantiate } from "../tools/lib/wasmhost.mjs";

let u: any;

async function load() {
  const { exports: x }: any = await instantiate(await compile("tests/wasm/shell_units.ts"));
  const put = (data: string | Uint8Array | number[]) => {
    const bytes = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data as any);
    const p = x.inputBuffer(bytes.length);
    new Uint8Array(x.memory.buffer, p, bytes.length).set(bytes);
    return bytes.length;
  };
  const resultBytes = () => Buffer.from(new Uint8Array(x.memory.buffer, x.resultPtr(), x.resultLen()));
  const result = () => resultBytes().toString("utf8");
  return {
    parse(line: string): { args?: string[]; error?: string } {
      const n = x.parse(put(line));
      return n < 0 ? { error: result() } : { args: n === 0 ? [] : result().split("\0") };
    },
    uint: (s: string, max = 0xffffffffffffffffn) => x.uintOf(put(s), max),
    number: (s: string) => x.numberOf(put(s)),
    fixed: (v: number, d: number) => { x.fixedOf(v, d); return result(); },
    bytes: (n: number | bigint) => { x.bytesOf(BigInt(n)); return result(); },
    hms: (s: number | bigint) => { x.hmsOf(BigInt(s)); return result(); },
    date: (secs: number) => { x.dateOf(BigInt(secs)); return result(); },
    dateTime: (secs: number) => { x.dateTimeOf(BigInt(secs)); return result(); },
    printable: (s: string) => { x.printableOf(put(s)); return result(); },
    replaceDecode: (b: Uint8Array) => { const bad = x.replaceDecode(put(b)); return { text: resultBytes(), bad }; },
    firstInvalid: (b: Uint8Array) => x.firstInvalid(put(b)),
  };
}

beforeAll(async () => { u = await load(); });

// A tiny deterministic PRNG so failures reproduce.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
}

describe("shell/args parseArgs", () => {
  it("splits on spaces and tabs, ignoring leading/trailing/multiple separators", () => {
    expect(u.parse("")).toEqual({ args: [] });
    expect(u.parse("  \t  ")).toEqual({ args: [] });
    expect(u.parse("a b  c")).toEqual({ args: ["a", "b", "c"] });
    expect(u.parse("\tx\ty\t")).toEqual({ args: ["x", "y"] });
    expect(u.parse("help")).toEqual({ args: ["help"] });
  });

  it("keeps quoted text together, including empty and adjacent quoted parts", () => {
    expect(u.parse('"hello world"')).toEqual({ args: ["hello world"] });
    expect(u.parse('a"b c"d')).toEqual({ args: ["ab cd"] });
    expect(u.parse('""')).toEqual({ args: [""] });
    expect(u.parse('x "" y')).toEqual({ args: ["x", "", "y"] });
    expect(u.parse('"a""b"')).toEqual({ args: ["ab"] });
    expect(u.parse('llmctl infer "tell me a story" --max-tokens 5'))
      .toEqual({ args: ["llmctl", "infer", "tell me a story", "--max-tokens", "5"] });
  });

  it("understands \\\" \\\\ \\n \\t inside quotes and leaves backslashes alone outside", () => {
    expect(u.parse('"a\\"b"')).toEqual({ args: ['a"b'] });
    expect(u.parse('"a\\\\b"')).toEqual({ args: ["a\\b"] });
    expect(u.parse('"a\\nb"')).toEqual({ args: ["a\nb"] });
    expect(u.parse('"a\\tb"')).toEqual({ args: ["a\tb"] });
    expect(u.parse("a\\b c\\")).toEqual({ args: ["a\\b", "c\\"] });
    expect(u.parse('"\\\\"')).toEqual({ args: ["\\"] });
  });

  it("reports an unbalanced quote with its column", () => {
    expect(u.parse('"abc').error).toMatch(/^unbalanced quote: the '"' at column 1 is never closed$/);
    expect(u.parse('echo ok "abc\\"').error).toMatch(/column 9/); // an escaped quote does not close
    expect(u.parse('x "a\\').error).toMatch(/unbalanced quote.*column 3/); // trailing backslash
    expect(u.parse('a"').error).toMatch(/unbalanced quote.*column 2/);
  });

  it("rejects unknown escapes inside quotes", () => {
    expect(u.parse('"a\\qb"').error).toBe("unknown escape '\\q' at column 3 (inside quotes use \\\" \\\\ \\n \\t)");
    expect(u.parse('ok "\\x41"').error).toMatch(/unknown escape '\\x' at column 5/);
  });

  it("passes Unicode through", () => {
    expect(u.parse('"héllo wörld" 😀 €')).toEqual({ args: ["héllo wörld", "😀", "€"] });
  });

  it("round-trips random words through quoting", () => {
    const r = rng(1234);
    const alphabet = ["a", "b", "Z", "0", " ", "\t", '"', "\\", "\n", "é", "€", "😀", "-", "'"];
    const quote = (w: string) => '"' + w.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t") + '"';
    for (let iter = 0; iter < 300; iter++) {
      const words: string[] = [];
      const count = Math.floor(r() * 6);
      for (let i = 0; i < count; i++) {
        let w = "";
        const len = Math.floor(r() * 8);
        for (let j = 0; j < len; j++) w += alphabet[Math.floor(r() * alphabet.length)];
        words.push(w);
      }
      const seps = [" ", "  ", "\t", " \t "];
      const line = (r() < 0.5 ? " " : "") + words.map(quote).join(seps[Math.floor(r() * seps.length)]);
      expect(u.parse(line), JSON.stringify(line)).toEqual({ args: words });
    }
  });
});

describe("shell/args numbers", () => {
  it("parses strict unsigned decimals", () => {
    expect(u.uint("0")).toBe(0n);
    expect(u.uint("42")).toBe(42n);
    expect(u.uint("9223372036854775807")).toBe(9223372036854775807n);
    for (const bad of ["", "9223372036854775808", "18446744073709551616", "99999999999999999999999", "12a", "-1", "+1", " 1", "1 ", "0x10", "1.0", "1e3"]) {
      expect(u.uint(bad), bad).toBe(-1n);
    }
    expect(u.uint("1000000", 1000000n)).toBe(1000000n);
    expect(u.uint("1000001", 1000000n)).toBe(-1n);
  });

  it("parses strict decimal numbers and refuses anything else", () => {
    const good: [string, number][] = [["0.5", 0.5], ["-1", -1], ["+2", 2], ["1e-3", 0.001], [".5", 0.5], ["5.", 5], ["1.25E2", 125], ["0", 0]];
    for (const [s, v] of good) expect(u.number(s), s).toBe(v);
    for (const bad of ["", "-", ".", "abc", "1.2.3", "1e", "1e+", "e5", "inf", "NaN", "1e400", "0x1", " 1", "1 ", "1,5"]) {
      expect(Number.isNaN(u.number(bad)), bad).toBe(true);
    }
  });
});

describe("kernel/lib/date", () => {
  it("writes Unix time as strftime's %d %b %Y (UTC), leap days and centuries included", () => {
    const MON = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    const js = (s: number) => { const d = new Date(s * 1000); return `${String(d.getUTCDate()).padStart(2, "0")} ${MON[d.getUTCMonth()]} ${d.getUTCFullYear()}`; };
    expect(u.date(0)).toBe("01 Jan 1970");
    expect(u.date(1721952000)).toBe("26 Jul 2024");
    for (const s of [951782400, 951868799, 4107542400, 2147483647, 4294967295, -86400, -1]) expect(u.date(s), String(s)).toBe(js(s));
    let seed = 11;
    for (let i = 0; i < 2000; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const s = seed * 3;
      expect(u.date(s)).toBe(js(s));
      expect(u.dateTime(s)).toBe(new Date(s * 1000).toISOString().replace("T", " ").replace(/\.000Z$/, " UTC"));
    }
  });
});

describe("shell/format", () => {
  it("formats fixed-point numbers", () => {
    expect(u.fixed(0.8, 2)).toBe("0.80");
    expect(u.fixed(Math.fround(0.8), 2)).toBe("0.80");
    expect(u.fixed(123.456, 1)).toBe("123.5");
    expect(u.fixed(2.5, 0)).toBe("3");
    expect(u.fixed(-1.25, 1)).toBe("-1.3");
    expect(u.fixed(-0.0001, 2)).toBe("0.00");
    expect(u.fixed(0.0625, 3)).toBe("0.063");
    expect(u.fixed(7, 3)).toBe("7.000");
    expect(u.fixed(NaN, 1)).toBe("nan");
    // agrees with toFixed away from ties
    const r = rng(99);
    for (let i = 0; i < 200; i++) {
      const v = Math.floor(r() * 1e7) / 1000 + 0.0001;
      expect(u.fixed(v, 2), String(v)).toBe(v.toFixed(2));
    }
  });

  it("formats byte counts", () => {
    expect(u.bytes(0)).toBe("0 B");
    expect(u.bytes(1023)).toBe("1023 B");
    expect(u.bytes(1024)).toBe("1.0 KiB");
    expect(u.bytes(1536)).toBe("1.5 KiB");
    expect(u.bytes(262144)).toBe("256.0 KiB");
    expect(u.bytes(1048576)).toBe("1.0 MiB");
    expect(u.bytes(5n * 1024n ** 3n)).toBe("5.0 GiB");
  });

  it("formats durations and escapes control characters", () => {
    expect(u.hms(0)).toBe("0:00:00");
    expect(u.hms(3723)).toBe("1:02:03");
    expect(u.hms(360000)).toBe("100:00:00");
    expect(u.printable("plain é")).toBe("plain é");
    expect(u.printable("a\nb\x7f\x01")).toBe("a\\x0ab\\x7f\\x01");
  });
});

describe("shell/utf8 units", () => {
  const decoder = new TextDecoder("utf-8");
  const fatal = new TextDecoder("utf-8", { fatal: true });
  const isValid = (b: Uint8Array) => { try { fatal.decode(b); return true; } catch { return false; } };

  function check(bytes: Uint8Array) {
    const { text, bad } = u.replaceDecode(bytes);
    const expected = Buffer.from(decoder.decode(bytes), "utf8");
    expect(text.toString("hex"), Buffer.from(bytes).toString("hex")).toBe(expected.toString("hex"));
    const valid = isValid(bytes);
    expect(bad === 0, Buffer.from(bytes).toString("hex")).toBe(valid);
    const first = u.firstInvalid(bytes);
    expect(first === -1).toBe(valid);
    if (!valid) {
      expect(isValid(bytes.subarray(0, first))).toBe(true);
      expect(isValid(bytes.subarray(0, first + 1))).toBe(false);
    }
  }

  it("matches the WHATWG decoder on edge cases", () => {
    const cases = [
      [], [0x41], [0x00], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80],
      [0x80], [0xbf], [0xc0, 0x80], [0xc1, 0xbf], [0xe0, 0x80, 0x80], [0xe0, 0x9f, 0xbf],
      [0xed, 0xa0, 0x80], [0xed, 0x9f, 0xbf], [0xf0, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80],
      [0xf4, 0x8f, 0xbf, 0xbf], [0xf5, 0x80], [0xff], [0xfe, 0xff], [0xe2, 0x82], [0xe2, 0x82, 0x41],
      [0xf0, 0x9f, 0x98], [0xf0, 0x9f, 0x41, 0x42], [0x61, 0xc3], [0xc3, 0xc3, 0xa9],
      [0xef, 0xbf, 0xbd], [0xee, 0x80, 0x80], [0xf1, 0x80, 0x80, 0x80, 0x80],
    ];
    for (const c of cases) check(new Uint8Array(c));
  });

  it("matches the WHATWG decoder on random byte strings", () => {
    const r = rng(7);
    const pieces = [[0x41], [0x20], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9f, 0x98, 0x80], [0xed, 0xa0, 0x80], [0xc0], [0x80], [0xf4, 0x90]];
    for (let i = 0; i < 2000; i++) {
      const out: number[] = [];
      const n = Math.floor(r() * 12);
      for (let j = 0; j < n; j++) {
        if (r() < 0.5) out.push(Math.floor(r() * 256));
        else out.push(...pieces[Math.floor(r() * pieces.length)]);
      }
      check(new Uint8Array(out));
    }
  });
});
