// Helpers for the storage end-to-end tests (tests/e2e/storage*.test.ts): test data with
// the host's checksums, disk images through tools/mkdisk.mjs, the host's view of an image
// (dumpe2fs/debugfs), QEMU boots with a blkdebug-wrapped disk (injected I/O errors), and
// a terminal renderer so that a progress line updated with CR and ESC[K reads as a user
// would see it.
import { spawn, execFileSync } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { closeSync, openSync, writeSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { qemuCommand, ESP_IMAGE } from "../../tools/lib/qemu.mjs";
import { SisMachine } from "./qemu-serial.mjs";

export const PROMPT = "sis> ";
export const DUMPE2FS = "/usr/sbin/dumpe2fs";
export const DEBUGFS = "/usr/sbin/debugfs";

/**
 * Writes `size` bytes of random-looking data (fast: crypto.randomFillSync in 8 MiB
 * pieces, every byte written, no holes) and returns its SHA-256 hex.
 */
export function writeDataFile(path, size) {
  const CH = 8 << 20;
  const fd = openSync(path, "w");
  const h = createHash("sha256");
  const buf = Buffer.alloc(Math.min(CH, Math.max(size, 1)));
  try {
    for (let off = 0; off < size; off += CH) {
      const n = Math.min(CH, size - off);
      randomFillSync(buf, 0, n);
      writeSync(fd, buf, 0, n);
      h.update(buf.subarray(0, n));
    }
  } finally { closeSync(fd); }
  return h.digest("hex");
}

export const sha256hex = (b) => createHash("sha256").update(b).digest("hex");

/** Superblock figures as the host reads them: { blockSize, blocks, free, reserved, label }. */
export function hostSuper(image) {
  const t = execFileSync(DUMPE2FS, ["-h", image], { stdio: ["ignore", "pipe", "pipe"] }).toString();
  const num = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, "m").exec(t)[1]);
  return {
    blockSize: num("Block size"), blocks: num("Block count"), free: num("Free blocks"),
    reserved: num("Reserved block count"), label: /^Filesystem volume name:\s+(.*)$/m.exec(t)[1].trim(),
  };
}

/** Inode number of a path in the image (debugfs). */
export function hostInode(image, path) {
  const t = execFileSync(DEBUGFS, ["-R", `stat "${path}"`, image], { stdio: ["ignore", "pipe", "pipe"] }).toString();
  return Number(/Inode: (\d+)/.exec(t)[1]);
}

/** First physical block of a file's data (debugfs). */
export function hostFirstBlock(image, path) {
  const t = execFileSync(DEBUGFS, ["-R", `stat "${path}"`, image], { stdio: ["ignore", "pipe", "pipe"] }).toString();
  const m = /EXTENTS:\n\(0(?:-\d+)?\):(\d+)/.exec(t);
  if (!m) throw new Error(`no extents for ${path}:\n${t}`);
  return Number(m[1]);
}

/**
 * What a terminal shows for `raw` serial output: CR returns to column 0, ESC[K erases to
 * the end of the line, other escape sequences change nothing visible, LF ends a line.
 */
export function renderTerminal(raw) {
  const lines = [];
  let cur = [];
  let col = 0;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === "\n") { lines.push(cur.join("")); cur = []; col = 0; continue; }
    if (c === "\r") { col = 0; continue; }
    if (c === "\x1b" && raw[i + 1] === "[") {
      let j = i + 2;
      while (j < raw.length && /[0-9;=?]/.test(raw[j])) j++;
      if (raw[j] === "K") cur.length = col;
      i = j;
      continue;
    }
    cur[col++] = c;
  }
  lines.push(cur.join(""));
  return lines;
}

/**
 * Runs a shell line and returns { text, raw }: `text` is what the terminal shows between
 * the echoed line and the next prompt (rendered), `raw` the bytes as sent.
 */
export async function runRendered(m, line, { timeout = 30_000 } = {}) {
  const rawFrom = m.raw.length;
  await m.run(line, { timeout });
  const raw = m.raw.subarray(rawFrom).toString("utf8");
  const lines = renderTerminal(raw);
  // lines: echoed command, output..., "sis> " (the new prompt)
  if (lines[lines.length - 1] !== PROMPT) throw new Error(`no prompt at the end of: ${JSON.stringify(raw.slice(-200))}`);
  return { text: lines.slice(1, -1).join("\n"), raw };
}

/** The options' QEMU command with the models disk behind blkdebug (config file `config`). */
export function blkdebugArgs(opts, config) {
  const q = qemuCommand(opts);
  const disk = resolve(opts.disk);
  const i = q.args.findIndex((a) => a.includes("id=models") && a.includes(`file=${disk}`));
  if (i < 0) throw new Error("qemuCommand no longer attaches the models disk as expected");
  q.args[i] = `if=none,id=models,format=raw,readonly=on,file=blkdebug:${resolve(config)}:${disk}`;
  return q;
}

/**
 * Boots with the models disk wrapped in QEMU's blkdebug driver so that every read that
 * touches `sector` (512-byte units) fails with EIO. Returns a SisMachine at the prompt.
 */
export async function bootWithIoError(opts, sector, configPath) {
  writeFileSync(configPath, `[inject-error]\nevent = "read_aio"\nerrno = "5"\nsector = "${sector}"\nonce = "off"\nimmediately = "off"\n`);
  const { cmd, args, cleanup } = blkdebugArgs(opts, configPath);
  const proc = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  const m = new SisMachine(proc, cleanup);
  await m.waitFor(PROMPT, { timeout: opts.bootTimeout ?? 120_000 });
  return m;
}

export { ESP_IMAGE };
