// The real kernel (kernel/main.ts -> .wasm) driven through tests/support/kernel-host.mjs
// exactly as the C shim drives it: boot, every command, every kind of bad input, and
// every WebAssembly trap followed by more working commands.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { compile } from "../tools/lib/asbuild.mjs";
import { KernelHost, PROMPT, trapKind } from "./support/kernel-host.mjs";

let wasm: string;
const boot = (opts: any = {}) => KernelHost.start({ wasm, ...opts });

// Every command the shell registers today, with a word its one-line help must contain.
const COMMANDS: [string, RegExp][] = [
  ["debug", /trap/], ["echo", /print/], ["help", /commands/], ["llmctl", /LLM/], ["log", /log/],
  ["mem", /memory/], ["poweroff", /off/], ["reboot", /restart/], ["uptime", /since boot/], ["date", /real-time clock/], ["version", /version/],
];

function countPrompts(s: string) {
  return s.split(PROMPT).length - 1;
}

/** Shadow-stack bytes in use as reported by `mem` (must not drift across traps). */
async function stackInUse(k: any) {
  const m = /stack:\s+(\d+) B of/.exec(await k.command("mem"));
  expect(m).not.toBeNull();
  return Number(m![1]);
}

/** GC heap in use as reported by `mem`, in bytes. */
async function heapInUse(k: any) {
  const m = /gc heap:\s+([\d.]+) (B|KiB|MiB) in use/.exec(await k.command("mem"));
  expect(m).not.toBeNull();
  return Number(m![1]) * { B: 1, KiB: 1024, MiB: 1048576 }[m![2] as "B"];
}

beforeAll(async () => {
  wasm = await compile("kernel/main.ts", { target: "release" });
});

describe("boot", () => {
  it("prints the banner, log lines, one boot-time line, then the first prompt", async () => {
    const clock = { ns: 0n };
    const k = await boot({ bootMs: 1234, clock: () => (clock.ns += 1000n) });
    const out = k.output;
    expect(out.endsWith("\r\n" + PROMPT)).toBe(true);
    expect(countPrompts(out)).toBe(1);
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(out).toContain(`SIS ${pkg.version}`);
    const lines = out.split("\r\n").slice(0, -1).filter((l: string) => l.length);
    for (const l of lines.slice(1)) expect(l).toMatch(/^\[ {3}\d\.\d{3}\] (debug|info|warn|error): /);
    const bootLines = lines.filter((l: string) => /boot: ready in/.test(l));
    expect(bootLines).toHaveLength(1);
    const m = /boot: ready in ([\d.]+) ms \(firmware and shim 1234 ms, kernel ([\d.]+) ms\)/.exec(bootLines[0]);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeCloseTo(1234 + Number(m![2]), 0);
    expect(lines[lines.length - 1]).toBe(bootLines[0]); // the boot line comes last, right before the prompt
    expect(k.traps).toEqual([]);
  });

  it("uses only CR LF line ends on the wire", async () => {
    const k = await boot();
    await k.command("help");
    const raw = k.output;
    expect(raw.replace(/\r\n/g, "")).not.toMatch(/[\r\n]/);
  });
});

describe("commands", () => {
  it("help lists every command with its one line, and help CMD shows usage", async () => {
    const k = await boot();
    const out = await k.command("help");
    const listed = [...out.matchAll(/^ {2}(\S+) +(.+)$/gm)].map((m) => m[1]);
    expect(listed).toEqual([...listed].sort()); // sorted by name
    for (const [name, word] of COMMANDS) {
      expect(listed).toContain(name);
      expect(out).toMatch(new RegExp(`^  ${name} +.*${word.source}`, "m"));
    }
    for (const name of listed) { // including commands other files register
      const usage = await k.command(`help ${name}`);
      expect(usage).toMatch(new RegExp(`^${name}: .+\nusage: ${name}`));
    }
    expect(await k.command("help nosuch")).toBe("error: unknown command 'nosuch' (try 'help')\n");
    expect(await k.command("help a b")).toBe("usage: help [COMMAND]\n");
  });

  it("version shows name, version and build", async () => {
    const k = await boot();
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    const out = await k.command("version");
    expect(out).toMatch(new RegExp(`^SIS ${pkg.version.replace(/\./g, "\\.")} - `));
    expect(out).toMatch(/build: AssemblyScript 0\.28\.\d+, release \(optimize 3, shrink 0\), incremental GC, simd on/);
    expect(await k.command("version x")).toBe("usage: version\n");
  });

  it("uptime reads the platform clock", async () => {
    let now = 0n;
    const k = await boot({ clock: () => now });
    now = 3723_500_000_000n;
    expect(await k.command("uptime")).toBe("up 1:02:03 (3723.500 s since boot)\n");
    now = 59_999_000_000n;
    expect(await k.command("uptime")).toBe("up 0:00:59 (59.999 s since boot)\n");
  });

  it("mem reports the GC heap, regions, linear memory and stack", async () => {
    const k = await boot();
    const out = await k.command("mem");
    expect(out).toMatch(/^gc heap: +[\d.]+ (B|KiB|MiB) in use, [\d.]+ (B|KiB|MiB) free \(after a full collection\)$/m);
    expect(out).toMatch(/^regions: +0 B in use, 0 B free, peak 0 B$/m);
    expect(out).toMatch(/^linear: +1\.0 MiB \(16 pages of 64 KiB\)$/m);
    expect(out).toMatch(/^stack: +\d+ B of 256\.0 KiB shadow stack in use$/m);
    // garbage is collected: a burst of allocation does not stay "in use"
    const before = await heapInUse(k);
    for (let i = 0; i < 20; i++) await k.command("echo " + "y".repeat(3000));
    expect(await heapInUse(k)).toBeLessThan(before + 16 * 1024);
  });

  it("echo prints its words, quoted text, escapes and Unicode", async () => {
    const k = await boot();
    expect(await k.command("echo")).toBe("\n");
    expect(await k.command("echo a   b  c")).toBe("a b c\n");
    expect(await k.command('echo "a   b" c')).toBe("a   b c\n");
    expect(await k.command('echo "say \\"hi\\"" back\\slash "\\\\"')).toBe('say "hi" back\\slash \\\n');
    expect(await k.command('echo "two\\nlines"')).toBe("two\nlines\n"); // LF goes out as CR LF
    expect(await k.command("echo héllo € 😀")).toBe("héllo € 😀\n");
  });

  it("log shows recent kernel log lines and controls the console level", async () => {
    const k = await boot();
    const all = await k.command("log");
    expect(all).toMatch(/info: boot: ready in/);
    expect(await k.command("log level")).toBe("console log level: info\n");
    expect(await k.command("debug log debug quiet line")).toBe(""); // below the console level
    expect(await k.command("debug log warn loud line")).toMatch(/^\[ +\d+\.\d{3}\] warn: loud line\n$/);
    const two = (await k.command("log 2")).trim().split("\n");
    expect(two).toHaveLength(2);
    expect(two[0]).toMatch(/debug: quiet line$/);
    expect(two[1]).toMatch(/warn: loud line$/);
    expect(await k.command("log level debug")).toBe("console log level: debug\n");
    expect(await k.command("debug log debug now visible")).toMatch(/debug: now visible/);
    expect(await k.command("log 0")).toMatch(/^error: '0' is not a line count/);
    expect(await k.command("log x")).toMatch(/^error: 'x' is not a line count/);
    expect(await k.command("log level loud")).toMatch(/^error: unknown log level 'loud'/);
    expect(await k.command("log level info extra")).toMatch(/^usage: log/);
    expect(await k.command("debug log shout x")).toMatch(/^error: unknown log level 'shout'/);
  });

  it("the log ring keeps the most recent 128 lines", async () => {
    const k = await boot();
    for (let i = 0; i < 200; i++) k.send(`debug log debug line ${i}\r`);
    const lines = (await k.command("log")).trim().split("\n");
    expect(lines).toHaveLength(128);
    expect(lines[0]).toMatch(/debug: line 72$/);
    expect(lines[127]).toMatch(/debug: line 199$/);
  });

  it("poweroff and reboot call the platform and log it", async () => {
    const a = await boot();
    a.send("poweroff\r");
    expect(a.halted).toBe("poweroff");
    expect(a.output).toMatch(/info: power: system off\r\n$/);
    const b = await boot();
    b.send("reboot\r");
    expect(b.halted).toBe("reset");
    expect(b.output).toMatch(/info: power: system reset\r\n$/);
    const c = await boot();
    expect(await c.command("poweroff now")).toBe("usage: poweroff\n");
    expect(c.halted).toBeNull();
  });

  it("unknown commands and empty lines", async () => {
    const k = await boot();
    expect(await k.command("frobnicate")).toBe("error: unknown command 'frobnicate' (try 'help')\n");
    expect(await k.command('"a\\nb"')).toBe("error: unknown command 'a\\x0ab' (try 'help')\n");
    const m = k.mark();
    k.send("\r");
    expect(k.since(m)).toBe("\r\n" + PROMPT);
    k.send("   \t \r");
    expect(countPrompts(k.since(m))).toBe(2);
    expect(k.since(m)).not.toMatch(/error/);
  });
});

describe("line editor", () => {
  it("CR, LF and CR LF each end a line exactly once, also when split across reads", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("echo 1\recho 2\necho 3\r\necho 4\n\r");
    const out = k.since(m);
    expect(out).toBe("echo 1\r\n1\r\nsis> echo 2\r\n2\r\nsis> echo 3\r\n3\r\nsis> echo 4\r\n4\r\nsis> \r\nsis> ");
    const m2 = k.mark();
    k.send("echo split\r");
    k.send("\necho next\r");
    k.send("\n");
    expect(k.since(m2)).toBe("echo split\r\nsplit\r\nsis> echo next\r\nnext\r\nsis> ");
  });

  it("swallows escape sequences it has no key for (function keys, Alt, paste marks) without echoing them", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("ec\x1b[Bho \x1bOPx\x1b[200~y\x1bz\x1b[15;2~\x1b[201~\r");
    expect(k.since(m)).toBe("echo xy\r\nxy\r\nsis> ");
    // an escape cut short by a control byte lets that byte through
    const m2 = k.mark();
    k.send("echo q\x1b\r");
    expect(k.since(m2)).toBe("echo q\r\nq\r\nsis> ");
    // an endless "parameter" run is given up on without eating the line end
    const m3 = k.mark();
    k.send("echo w\x1b[" + "1;".repeat(100) + "\r");
    expect(k.since(m3)).toMatch(/^echo w.*\r\n/);
    expect(countPrompts(k.since(m3))).toBe(1);
  });

  it("backspace (DEL and BS) deletes whole characters, and does nothing at the start of a line", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("\x7f\x08\x7f");
    expect(k.since(m)).toBe("");
    k.send("echo abx\x7fc\r");
    expect(k.since(m)).toBe("echo abx\b \bc\r\nabc\r\nsis> ");
    expect(await k.command("echo 😀é\x7f\x08Z")).toBe("Z\n");
    expect(await k.command("echo a\x00\x7fb")).toBe("ab\n"); // ^@ takes two columns to erase
    expect(k.output).toContain("a^@\b \b\b \bb");
    expect(await k.command("xy\x7f\x7f\x7f\x7fecho ok")).toBe("ok\n");
  });

  it("Ctrl-U kills the line, Ctrl-W the last word, Ctrl-C cancels with ^C", async () => {
    const k = await boot();
    expect(await k.command("garbage\x15echo ok")).toBe("ok\n");
    expect(k.output).toContain("garbage\r\x1b[K" + PROMPT + "echo ok");
    expect(await k.command("echo one two  \x17three")).toBe("one three\n");
    const m = k.mark();
    k.send("echo never\x03");
    expect(k.since(m)).toBe("echo never^C\r\n" + PROMPT);
    k.send("\x03");
    expect(k.since(m)).toBe("echo never^C\r\n" + PROMPT + "^C\r\n" + PROMPT);
    expect(await k.command("echo after")).toBe("after\n");
  });

  it("discards a 100 KB line pasted at once and keeps working", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("echo " + "x".repeat(100_000) + "\r\n");
    const out = k.since(m);
    expect(out).toBe("echo " + "x".repeat(4091) + "\r\nerror: line too long (100005 bytes, limit 4096)\r\n" + PROMPT);
    expect(await k.command("echo fine")).toBe("fine\n");
  });

  it("accepts exactly 4096 bytes and refuses 4097", async () => {
    const k = await boot();
    expect(await k.command("echo " + "z".repeat(4091))).toBe("z".repeat(4091) + "\n");
    expect(await k.command("echo " + "z".repeat(4092))).toBe("error: line too long (4097 bytes, limit 4096)\n");
    // multi-byte characters count in bytes: 5 + 2 * 2045 + 1 = 4096, 5 + 2 * 2046 = 4097
    expect(await k.command("echo a" + "é".repeat(2045))).toBe("a" + "é".repeat(2045) + "\n");
    expect(await k.command("echo " + "é".repeat(2046))).toBe("error: line too long (4097 bytes, limit 4096)\n");
  }, 30_000);

  it("refuses lines with NUL bytes or ill-formed UTF-8, with the position", async () => {
    const k = await boot();
    expect(await k.command("echo a\x00b")).toBe("error: NUL byte in line at position 7; line ignored\n");
    const m = k.mark();
    k.send(Buffer.from([0x65, 0x63, 0x68, 0x6f, 0x20, 0xff, 0x41, 0xe2, 0x82, 0x0d]));
    expect(k.since(m)).toBe("echo \uFFFDA\uFFFD\r\nerror: invalid UTF-8 in line (byte 0xff at position 6); line ignored\r\n" + PROMPT);
    for (const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf5], [0x80], [0xf4, 0x90, 0x80, 0x80], [0xe0, 0x80, 0x80]]) {
      const mm = k.mark();
      k.send(Buffer.concat([Buffer.from("echo x"), Buffer.from(bad), Buffer.from("\r")]));
      expect(k.since(mm)).toMatch(new RegExp(`invalid UTF-8 in line \\(byte 0x${bad[0].toString(16)} at position 7\\); line ignored`));
    }
    // a character cut short by an escape sequence or the line end is ill-formed too
    const m2 = k.mark();
    k.send(Buffer.from([0x65, 0x63, 0x68, 0x6f, 0x20, 0xe2, 0x82, 0x1b, 0x5b, 0x41, 0xac, 0x0d]));
    expect(k.since(m2)).toMatch(/invalid UTF-8 in line \(byte 0xe2 at position 6\)/);
    expect(await k.command("echo still alive")).toBe("still alive\n");
  });

  it("reports unbalanced quotes and unknown escapes", async () => {
    const k = await boot();
    expect(await k.command('echo "unterminated')).toBe("error: unbalanced quote: the '\"' at column 6 is never closed\n");
    expect(await k.command('echo "a\\qb"')).toMatch(/^error: unknown escape '\\q' at column 8/);
    expect(await k.command("echo ok")).toBe("ok\n");
  });

  it("ignores other control bytes; TAB inside quotes is text, echoed as a space", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("echo a\x07\x0f\x12\x14\x16\x18\x1a\x1cb\r");
    expect(k.since(m)).toBe("echo ab\r\nab\r\n" + PROMPT);
    expect(await k.command('echo "x\ty"')).toBe("x\ty\n");
  });

  it("edits inside the line: Left/Right, Home/End, Ctrl-A/E/B/F, Delete, Ctrl-D, Ctrl-K, Ctrl-W at the cursor", async () => {
    const k = await boot();
    // the issue's example: echo abc, Left, Left, X gives aXbc (not abcX)
    const m = k.mark();
    k.send("echo abc\x1b[D\x1b[DX\r");
    expect(k.since(m)).toBe("echo abc\b\bXbc\x1b[K\x1b[2Dbc\r\naXbc\r\n" + PROMPT);
    expect(await k.command("cho abc\x1b[He\x1b[Fd")).toBe("abcd\n");              // Home, End (CSI H/F)
    expect(await k.command("cho x\x1b[1~e\x1b[4~y")).toBe("xy\n");                   // Home, End (CSI 1~/4~)
    expect(await k.command("cho x\x1bOHe\x1bOFy")).toBe("xy\n");                     // Home, End (SS3)
    expect(await k.command("echo abXc\x1b[D\x1b[D\x1b[3~")).toBe("abc\n");          // Delete
    expect(await k.command("echo abXc\x02\x02\x04")).toBe("abc\n");                 // Ctrl-B, Ctrl-D
    expect(await k.command("xecho ab\x01\x04\x05c")).toBe("abc\n");                 // Ctrl-A, Ctrl-D, Ctrl-E
    expect(await k.command("echo ab\x02\x02\x06\x06c")).toBe("abc\n");             // Ctrl-F
    expect(await k.command("echo abc junk\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x0b")).toBe("abc\n"); // Ctrl-K
    expect(await k.command("echo one two three\x1b[1;5D\x17X")).toBe("one Xthree\n"); // Ctrl-Left, Ctrl-W
    expect(await k.command("echo one two\x1bb\x1bb\x1bfZ")).toBe("oneZ two\n");    // Alt-b, Alt-f
    expect(await k.command("echo ab\x1b[Dé\x1b[D\x7f")).toBe("éb\n");              // Backspace in the middle
    // keys split across reads are still one key
    const m2 = k.mark();
    k.send("echo ac\x1b"); k.send("["); k.send("Db\r");
    expect(k.since(m2)).toMatch(/\r\nabc\r\nsis> $/);
  });

  it("a paste inside a long line is drawn once, not once per character, and the screen shows the line", async () => {
    const k = await boot();
    // what a VT100 shows on the prompt's row: text, \b, CSI n D (left), CSI K (clear to the end)
    const screen = (out: string) => {
      const row: string[] = [];
      let col = 0;
      for (let i = 0; i < out.length; i++) {
        const c = out[i];
        if (c === "\r") col = 0;
        else if (c === "\b") col = Math.max(0, col - 1);
        else if (c === "\x1b") {
          const m = /^\x1b\[(\d*)([A-Z])/.exec(out.slice(i));
          if (!m) throw new Error(`unexpected escape ${JSON.stringify(out.slice(i, i + 8))}`);
          if (m[2] === "D") col = Math.max(0, col - Number(m[1] || 1));
          else if (m[2] === "K") row.length = col;
          i += m[0].length - 1;
        } else row[col++] = c;
      }
      return row.join("");
    };
    const m = k.mark();
    // a 3000-character line, Home, past "echo ", then 1000 characters pasted: one read
    k.send("echo " + "b".repeat(3000) + "\x1b[H" + "\x1b[C".repeat(5) + "a".repeat(1000));
    const echoed = k.since(m);
    expect(echoed.length).toBeLessThan(3 * 4005); // drawn once: about 2x the line, not 1000 x 3000
    expect(screen(PROMPT + echoed)).toBe(PROMPT + "echo " + "a".repeat(1000) + "b".repeat(3000));
    k.send("\r");
    expect(k.since(m)).toContain("\r\n" + "a".repeat(1000) + "b".repeat(3000) + "\r\n" + PROMPT);
  });

  it("Up/Down (and Ctrl-P/N) walk the history; the line being typed comes back; history lists it", async () => {
    const k = await boot();
    expect(await k.command("echo first")).toBe("first\n");
    expect(await k.command("echo second")).toBe("second\n");
    expect(await k.command("\x1b[A")).toBe("second\n");            // the last line again
    expect(await k.command("\x1b[A\x1b[A\x1b[A")).toBe("first\n"); // stops at the oldest; a repeat of the last is kept once
    expect(await k.command("\x10\x10\x0e")).toBe("first\n");      // Ctrl-P, Ctrl-P, Ctrl-N
    expect(await k.command("echo typed\x1b[A\x1b[B")).toBe("typed\n");
    expect(await k.command("\x1b[A\x1b[D\x1b[DX")).toBe("typXed\n");     // a recalled line is edited
    const h = await k.command("history");
    expect(h).toBe("   1  echo first\n   2  echo second\n   3  echo first\n   4  echo typed\n   5  echo typXed\n   6  history\n");
    expect(await k.command("history 2")).toBe("   6  history\n   7  history 2\n");
    // a refused line is not remembered; Ctrl-C leaves the history alone
    await k.command("echo \x00bad");
    k.send("\x1b[A\x03");
    expect(await k.command("\x1b[A")).toBe("   6  history\n   7  history 2\n");
  });

  it("Tab completes commands, llmctl subcommands, settings and options; a second Tab lists the choices", async () => {
    const k = await boot();
    let m = k.mark();
    k.send("ver\t\r");
    expect(k.since(m)).toMatch(/^version \r\nSIS /);
    expect(await k.command("llmctl conf\tmax-t\t6")).toBe("max-tokens      6\n");
    expect(await k.command("llmctl infer x --temp\t0 --max-t\t1")).toMatch(/^error: no backend selected/);
    m = k.mark();
    k.send("llmctl in\t\t"); // the first Tab adds what infer and info share, the second lists them
    expect(k.since(m)).toBe("llmctl inf\r\ninfer  info\r\n\r\x1b[K" + PROMPT + "llmctl inf");
    k.send("\x15");
    m = k.mark();
    k.send("re\t\t\x15");  // readfile, reboot: nothing in common beyond "re"
    expect(k.since(m)).toMatch(/^re\r\nreadfile  reboot\r\n/);
    m = k.mark();
    k.send('echo "a\tb" llmctl\t\r'); // inside quotes Tab is text; unquoted, echo completes paths (none here)
    expect(k.since(m)).toMatch(/\r\na\tb llmctl\r\n/);
  });

  it("3000 lines of random keys (escapes, Tab, quotes, control bytes, bad UTF-8) never trap, and the shell answers", async () => {
    const k = await boot();
    let s = 7;
    const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const keys = ["\x1b", "[", "O", "A", "B", "C", "D", "H", "F", "~", "1", ";", "5", "\t", "\x7f", "\x01", "\x02", "\x04",
      "\x05", "\x06", "\x0b", "\x0c", "\x0e", "\x10", "\x15", "\x17", "'", '"', "/", "l", "s", " ", "llmctl ", "é", "\xff", "\x00", "-"];
    for (let i = 0; i < 3000; i++) {
      let line = "";
      for (let j = Math.floor(r() * 40); j > 0; j--) line += keys[Math.floor(r() * keys.length)];
      k.send(Buffer.from(line, "latin1"));
      k.send(r() < 0.5 ? "\r" : "\x15\x03");
    }
    expect(await k.command("echo alive", { timeoutMs: 60_000 })).toBe("alive\n");
    expect(k.output).not.toMatch(/trapped/);
  }, 120_000);

  it("single quotes quote literally; exit and quit point to poweroff", async () => {
    const k = await boot();
    expect(await k.command("echo 'a  b' \"c d\" 'x\\n'")).toBe("a  b c d x\\n\n");
    expect(await k.command("echo 'open")).toBe("error: unbalanced quote: the \"'\" at column 6 is never closed\n");
    for (const w of ["exit", "quit"]) expect(await k.command(w)).toMatch(/^error: there is no shell to leave: 'poweroff' turns the machine off/);
  });
});

describe("console input while a command runs", () => {
  it("keeps type-ahead typed during a command and runs it afterwards", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("debug spin 20\recho typed ahead\r");
    await k.waitFor(/typed ahead\r\n.*typed ahead\r\nsis> $/s, { from: m });
    expect(k.since(m)).toMatch(/^debug spin 20\r\nspun 20 ms\r\nsis> echo typed ahead\r\ntyped ahead\r\nsis> $/);
  });

  it("Ctrl-C interrupts a polling command and discards the type-ahead before it", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("debug spin 60000\recho dropped\x03echo kept\r");
    const out = k.since(m);
    expect(out).toMatch(/^debug spin 60000\r\n\^C\r\ninterrupted after \d+ ms\r\nsis> echo kept\r\nkept\r\nsis> $/);
  });

  it("Ctrl-C typed later (by the clock) interrupts", async () => {
    let now = 0n;
    const k = await boot({ clock: () => (now += 100_000n) }); // every reading advances 0.1 ms
    const m = k.mark();
    k.schedule("\x03", now + 50_000_000n); // 50 ms from now
    k.send("debug spin 1000\r");
    expect(k.since(m)).toMatch(/\^C\r\ninterrupted after (4\d|5\d) ms\r\nsis> $/);
  });

  it("reports type-ahead that overflowed the input ring", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("debug spin 1\r" + "q".repeat(20000));
    expect(k.since(m)).toMatch(/warning: 3616 bytes typed during 'debug' were dropped \(input buffer full\)\r\nsis> /);
    k.send("\r");
    expect(k.since(m)).toMatch(/error: line too long \(16384 bytes, limit 4096\)\r\nsis> $/);
  });
});

describe("llmctl", () => {
  it("starts with no backend and refuses to infer", async () => {
    const k = await boot();
    expect(await k.command("llmctl backend")).toBe("backend: none selected\n");
    expect(await k.command('llmctl infer "hi"')).toMatch(/^error: no backend selected \(try 'llmctl backend stub'/);
    const info = await k.command("llmctl info");
    expect(info).toMatch(/^backend: none selected \(available: stub, real\)\nmemory: no model loaded\nregions: \d+ B in use/);
    expect(info).toMatch(/^settings:\n  temperature     0\.80\n  top-k           40\n  top-p           0\.95\n  min-p           0\.05\n  repeat-penalty  1\.00 \(off\)\n  repeat-last-n   64 \(tokens the penalty looks back over\)\n  seed            random \(from the clock\)\n  max-tokens      128\n  context         0 \(the model's own\)\n  threads         1 \(of 1 core\)\n  grammar-file    none\n$/m);
  });

  it("selects the transformer backend, which needs a model, and keeps the selection on errors", async () => {
    const k = await boot();
    expect(await k.command("llmctl backend real")).toBe("LLM backend: TransformerBackend\n");
    expect(await k.command("llmctl backend")).toMatch(/^backend: real \(TransformerBackend: /);
    expect(await k.command('llmctl infer "hi"')).toMatch(/^error: no model is loaded \(llmctl load/m);
    await k.command("llmctl backend stub");
    expect(await k.command("llmctl backend gpt")).toMatch(/^error: unknown backend 'gpt' \(available: stub, real\)/);
    expect(await k.command("llmctl backend")).toMatch(/^backend: stub \(/);
  });

  it("the stub streams a labelled, deterministic transformation of the prompt", async () => {
    const k = await boot({ recordWrites: true });
    expect(await k.command("llmctl backend stub")).toMatch(/^backend: stub selected \(synthetic testing backend, no model/);
    const info = await k.command("llmctl info");
    expect(info).toMatch(/^backend: stub \(synthetic/);
    expect(info).toMatch(/model: none/);
    const prompt = "the quick  brown fox jumps";
    k.writes.length = 0;
    const out = await k.command(`llmctl infer "${prompt}"`);
    const words = prompt.split(/\s+/);
    const expected = "[stub backend: synthetic output, no model]" + words.slice().reverse().map((w) => " " + w).join("");
    expect(out.split("\n")[0]).toBe(expected);
    expect(out.split("\n")[1]).toBe("(stopped: end of text)");
    expect(out.split("\n")[2]).toMatch(/^\[5 tokens, prompt 5 tok at ([\d.]+|-) tok\/s, generation ([\d.]+|-) tok\/s\]$/);
    // streamed piece by piece: the label and each word arrive as separate writes
    for (const piece of ["[stub backend: synthetic output, no model]", ...words.slice().reverse().map((w) => " " + w)]) {
      expect(k.writes).toContain(piece);
    }
    // Unicode survives
    expect((await k.command('llmctl infer "héllo 😀"')).split("\n")[0]).toBe("[stub backend: synthetic output, no model] 😀 héllo");
    // an empty or blank prompt is refused before any backend sees it
    for (const p of ['""', '"   "', "' \t '"]) {
      expect(await k.command(`llmctl infer ${p}`)).toBe("error: the prompt is empty or only spaces: give the model some text to continue\n");
    }
    // one token is "1 token"
    expect(await k.command('llmctl infer "a b" --max-tokens 1')).toMatch(/\n\[1 token, prompt 2 tok at /);
  });

  it("honours --max-tokens and validates every option", async () => {
    const k = await boot();
    await k.command("llmctl backend stub");
    const out = await k.command('llmctl infer "a b c d e" --max-tokens 2');
    expect(out).toMatch(/^\[stub backend: synthetic output, no model\] e d\n\[2 tokens, prompt 5 tok at /);
    const ok = await k.command('llmctl infer --temperature 0.7 --top-k 0 --top-p 1 --min-p 0 --repeat-penalty 1.0 --seed 42 "x y"');
    expect(ok).toMatch(/^\[stub backend: synthetic output, no model\] y x\n/);
    const bad: [string, RegExp][] = [
      ["--max-tokens -2", /--max-tokens needs a whole number from 0/],
      ["--max-tokens -3", /--max-tokens needs a whole number/],
      ["--max-tokens 12abc", /--max-tokens needs a whole number from 0 to 1000000, or -1 for no limit, not '12abc'/],
      ["--max-tokens", /option '--max-tokens' needs a value/],
      ["--temperature hot", /--temperature needs a number from 0 to 100/],
      ["--temperature -1", /--temperature needs/],
      ["--top-p 1.5", /--top-p needs a number from 0 to 1/],
      ["--min-p x", /--min-p needs/],
      ["--repeat-penalty 0", /--repeat-penalty needs/],
      ["--top-k 1.5", /--top-k needs a whole number/],
      ["--seed -1", /--seed needs a whole number/],
      ["--frobnicate 1", /unknown option '--frobnicate'/],
    ];
    for (const [opt, re] of bad) expect(await k.command(`llmctl infer "p" ${opt}`), opt).toMatch(new RegExp("^error: " + re.source));
    expect(await k.command("llmctl infer two words")).toMatch(/^error: infer takes one prompt; quote it/);
    expect(await k.command("llmctl infer")).toMatch(/^usage: llmctl infer "PROMPT"/);
    expect(await k.command("llmctl")).toMatch(/^usage: llmctl backend/);
    expect(await k.command("llmctl fly")).toMatch(/^error: unknown llmctl subcommand 'fly'\nusage: /);
    expect(await k.command("llmctl backend stub --delay-ms lots")).toMatch(/^error: --delay-ms needs a number/);
  });

  it("Ctrl-C stops a generation", async () => {
    const k = await boot();
    await k.command("llmctl backend stub");
    const m = k.mark();
    k.send('llmctl infer "a b c d"\r\x03');
    expect(k.since(m)).toMatch(/\[stub backend: synthetic output, no model\]\^C\r\n\(stopped by Ctrl-C; the output so far is kept\)\r\n\[0 tokens, prompt 4 tok at /);
    // mid-stream, with a per-token delay and Ctrl-C arriving later
    let now = 0n;
    const k2 = await boot({ clock: () => (now += 10_000n) }); // 10 us per reading
    await k2.command("llmctl backend stub --delay-ms 10");
    const m2 = k2.mark();
    k2.schedule("\x03", now + 25_000_000n); // during the third token's delay
    k2.send('llmctl infer "1 2 3 4 5 6"\r');
    expect(k2.since(m2)).toMatch(/\[stub backend: synthetic output, no model\] 6 5\^C\r\n\(stopped by Ctrl-C; the output so far is kept\)\r\n\[2 tokens, prompt 6 tok at /);
    expect(await k2.command("echo next")).toBe("next\n");
    expect(await k2.command("llmctl info")).toMatch(/^delay per token: 10 ms$/m);
    await k2.command("llmctl backend stub"); // a plain selection resets the delay
    expect(await k2.command("llmctl info")).toMatch(/^delay per token: 0 ms$/m);
  });
});

describe("trap recovery", () => {
  const KINDS: [string, number, string][] = [
    ["oob", 1, "out-of-bounds memory access"],
    ["oob-load", 1, "out-of-bounds memory access"],
    ["oob-store", 1, "out-of-bounds memory access"],
    ["oob-max", 1, "out-of-bounds memory access"],
    ["oob-fill", 1, "out-of-bounds memory access"],
    ["divzero", 2, "integer divide by zero"],
    ["overflow", 3, "integer overflow"],
    ["unreachable", 5, "unreachable executed"],
    ["stack", 6, "call stack exhausted"],
    ["indirect", 7, "indirect call type mismatch or bad table index"],
    ["abort", 8, "other trap"],
  ];

  it("each trap kind is real, is recovered from, and commands keep working", async () => {
    const k = await boot();
    for (const [name, kind, text] of KINDS) {
      const out = await k.command(`debug trap ${name}`);
      expect(out, name).toMatch(new RegExp(`^debug: .*\nerror: command 'debug' trapped: ${text}\n$`));
      expect(k.traps.at(-1).kind, name).toBe(kind);
      expect(await k.command("echo still here")).toBe("still here\n");
      expect(await k.command("help")).toMatch(/^commands:/);
    }
    expect(k.traps).toHaveLength(KINDS.length);
    expect(await k.command("log 1")).toMatch(/error: command 'debug' trapped: other trap/);
  });

  it("recovers many times without leaking shadow stack or heap", async () => {
    const k = await boot();
    await k.command("llmctl backend stub");
    const stack0 = await stackInUse(k);
    const heap0 = await heapInUse(k);
    for (let round = 0; round < 40; round++) {
      for (const [name] of KINDS) await k.command(`debug trap ${name}`);
      expect(await k.command(`echo round ${round}`)).toBe(`round ${round}\n`);
    }
    expect(k.traps).toHaveLength(40 * KINDS.length);
    expect(await stackInUse(k)).toBe(stack0);
    expect(await heapInUse(k)).toBeLessThan(heap0 + 64 * 1024); // the log ring holds at most 128 lines
    expect((await k.command('llmctl infer "still works"')).split("\n")[0]).toBe("[stub backend: synthetic output, no model] works still");
  }, 60_000);

  it("a trap mid-line: the CR LF pair and the type-ahead after it survive", async () => {
    const k = await boot();
    const m = k.mark();
    k.send("debug trap divzero\r\necho one\r\ndebug trap oob\r\necho two\r\n");
    expect(k.since(m)).toBe(
      "debug trap divzero\r\ndebug: dividing an i32 by zero\r\nerror: command 'debug' trapped: integer divide by zero\r\n" + PROMPT +
      "echo one\r\none\r\n" + PROMPT +
      "debug trap oob\r\n" + k.since(m).match(/debug: reading[^\r]*/)![0] + "\r\nerror: command 'debug' trapped: out-of-bounds memory access\r\n" + PROMPT +
      "echo two\r\ntwo\r\n" + PROMPT);
  });

  it("conversion: refused honestly when float->int is saturating, a real trap otherwise", async () => {
    const k = await boot();
    expect(await k.command("debug trap conversion")).toMatch(/^error: this build cannot raise an invalid-conversion trap/);
    expect(k.traps).toEqual([]);
    const trapping = await compile("kernel/main.ts", { target: "release", args: ["--disable", "nontrapping-f2i"] });
    const k2 = await KernelHost.start({ wasm: trapping });
    expect(await k2.command("debug trap conversion")).toBe("debug: converting NaN to i32\nerror: command 'debug' trapped: invalid conversion to integer\n");
    expect(k2.traps.map((t: any) => t.kind)).toEqual([4]);
    expect(await k2.command("echo ok")).toBe("ok\n");
  }, 120_000);

  it("a trap outside any command, and an unknown kind, are still reported", async () => {
    const k = await boot();
    const m = k.mark();
    k.exports.kernel_recover(5);
    expect(k.since(m)).toBe("\r\nerror: kernel trapped outside a command: unreachable executed\r\n" + PROMPT);
    k.exports.kernel_recover(42);
    expect(k.since(m)).toMatch(/error: kernel trapped outside a command: unknown trap kind 42\r\nsis> $/);
    expect(await k.command("echo ok")).toBe("ok\n");
  });

  it("debug refuses unknown kinds and bad usage", async () => {
    const k = await boot();
    expect(await k.command("debug trap meltdown")).toMatch(/^error: unknown trap kind 'meltdown' \(oob\|oob-load\|oob-store\|oob-max\|oob-fill\|unreachable\|divzero\|overflow\|stack\|conversion\|indirect\|abort\)/);
    expect(await k.command("debug")).toMatch(/^usage: debug trap /);
    expect(await k.command("debug spin soon")).toMatch(/^error: 'soon' is not a number of milliseconds/);
    expect(k.traps).toEqual([]);
  });

  it("maps V8's trap messages to the shim's kinds", () => {
    const rt = (m: string) => new WebAssembly.RuntimeError(m);
    expect(trapKind(rt("memory access out of bounds"))).toBe(1);
    expect(trapKind(rt("divide by zero"))).toBe(2);
    expect(trapKind(rt("remainder by zero"))).toBe(2);
    expect(trapKind(rt("divide result unrepresentable"))).toBe(3);
    expect(trapKind(rt("float unrepresentable in integer range"))).toBe(4);
    expect(trapKind(rt("unreachable"))).toBe(5);
    expect(trapKind(new RangeError("Maximum call stack size exceeded"))).toBe(6);
    expect(trapKind(rt("null function or function signature mismatch"))).toBe(7);
    expect(trapKind(rt("table index is out of bounds"))).toBe(7);
    expect(trapKind(rt("something new"))).toBe(8);
    expect(trapKind(new TypeError("harness bug"))).toBe(0);
    expect(trapKind(new RangeError("Invalid array length"))).toBe(0);
  });
});
