// The sessions the documentation shows are what SIS prints now. Every indented block after a
// `<!-- checked: tests/e2e/docs.test.ts -->` line in README.md and docs/llm/USER_GUIDE.md is
// replayed, in document order, on one machine booted with the default models disk: each
// `sis> ` or `you> ` line is typed, and the lines shown after it must appear in what SIS
// prints, in that order (a block may show an excerpt; a line "..." stands for anything).
// Figures that differ from run to run (tok/s, MB/s, seconds, the regions line) are compared
// by shape, every other figure (sizes, token counts, the text itself) exactly.
import { describe, it, expect, beforeAll, afterAll } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SisMachine } from "../support/qemu-serial.mjs";
import { renderTerminal } from "../support/storage-e2e.mjs";
import { mkdisk, findMke2fs } from "../../tools/mkdisk.mjs";
import { ROOT } from "../../tools/lib/asbuild.mjs";

const DOCS = ["README.md", "docs/llm/USER_GUIDE.md"];
const MARK = "<!-- checked: tests/e2e/docs.test.ts -->";

interface Step { doc: string; line: number; input: string; expected: string[] }

/** The checked sessions of a document: one step per typed line, with the lines shown after it. */
export function sessions(doc: string): Step[] {
  const lines = readFileSync(join(ROOT, doc), "utf8").split("\n");
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== MARK) continue;
    let j = i + 1;
    while (j < lines.length && lines[j].trim() === "") j++;
    for (; j < lines.length && (lines[j].startsWith("    ") || lines[j].trim() === ""); j++) {
      const l = lines[j].slice(4);
      if (/^(sis|you)> /.test(l)) steps.push({ doc, line: j + 1, input: l.slice(5), expected: [] });
      else if (l.trim() !== "" && steps.length) steps[steps.length - 1].expected.push(l);
    }
  }
  return steps;
}

/** A line with the run-dependent figures replaced by their shape. */
function norm(l: string): string {
  if (/^regions: /.test(l)) return l.replace(/[\d.]+/g, "#");
  return l
    .replace(/[\d.]+ (tok\/s|MB\/s)/g, "# $1")
    .replace(/\b[\d.]+ (s|ms)\b/g, "# $1")
    .replace(/ +$/, "");
}

const haveMke2fs = !!findMke2fs();
const all = DOCS.flatMap(sessions);

describe.skipIf(!haveMke2fs)("documented sessions are what SIS prints", () => {
  let m: SisMachine, tmp: string;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "sis-docs-"));
    const image = join(tmp, "models.img");
    mkdisk(join(ROOT, "models"), image);
    m = await SisMachine.boot({ disk: image });
  }, 180_000);
  afterAll(() => { m?.kill(); if (tmp) rmSync(tmp, { recursive: true, force: true }); });

  it("the documents have checked sessions", () => {
    for (const d of DOCS) expect(all.some((s) => s.doc === d), d).toBe(true);
  });

  it("every checked line is printed, in order", async () => {
    for (const s of all) {
      const from = m.raw.length, outFrom = m.output.length;
      m.send(s.input + "\r");
      await m.waitFor(/\n(sis|you)> $/, { from: outFrom, timeout: 120_000 });
      const shown = renderTerminal(m.raw.subarray(from).toString("utf8")).slice(1, -1).map(norm);
      let at = 0;
      for (const e of s.expected) {
        if (e.trim() === "...") continue;
        const want = norm(e);
        const k = shown.indexOf(want, at);
        expect(k, `${s.doc}:${s.line} '${s.input}' shows a line SIS does not print:\n  ${e}\nSIS printed:\n  ${shown.join("\n  ")}`).toBeGreaterThanOrEqual(0);
        at = k + 1;
      }
    }
  }, 600_000);
});
