// llama.cpp's own source files, read out of the source bundle node-llama-cpp ships
// (node_modules/node-llama-cpp/llama/gitRelease.bundle: the release it was built from).
// Tests use it for llama.cpp's test cases (grammar parser and integration tests, JSON schema
// conversions) without copying them into this project.
//
//   const text = llamaSourceFile("tests/test-grammar-parser.cpp");   // null when unavailable
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const BUNDLE = join(ROOT, "node_modules/node-llama-cpp/llama/gitRelease.bundle");
const GIT_DIR = join(ROOT, "build/ref/llama-src.git");

/** Why llama.cpp's source cannot be read here, or "". */
export function llamaSourceUnavailable() {
  if (!existsSync(BUNDLE)) return `no llama.cpp source bundle at ${BUNDLE}`;
  try { execFileSync("git", ["--version"], { stdio: "ignore" }); } catch { return "git is not installed"; }
  return "";
}

/** A bare clone of the bundle, made once (under a private name, then renamed: test files run in parallel). */
function gitDir() {
  if (existsSync(join(GIT_DIR, "HEAD"))) return GIT_DIR;
  mkdirSync(dirname(GIT_DIR), { recursive: true });
  const tmp = mkdtempSync(`${GIT_DIR}-`);
  try {
    execFileSync("git", ["clone", "--quiet", "--bare", BUNDLE, join(tmp, "g")], { stdio: "pipe" });
    try { renameSync(join(tmp, "g"), GIT_DIR); } catch { /* another process was first */ }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return GIT_DIR;
}

/** The text of one file of llama.cpp's source tree (path from its root), or null when unavailable. */
export function llamaSourceFile(path) {
  if (llamaSourceUnavailable()) return null;
  return execFileSync("git", ["--git-dir", gitDir(), "show", `HEAD:${path}`], { encoding: "utf8", maxBuffer: 1 << 26 });
}
