#!/usr/bin/env node
// `make run`: boots SIS in QEMU with the serial console on this terminal.
// Usage: node tools/run.mjs [--cpu C] [--smp N] [--mem M] [--models DIR | --disk IMAGE] [--modern-virtio]
//                           [--load /models/NAME.gguf] [--boot-cmd LINE]...
//
// Boot commands: SIS runs the lines of /models/sis-boot.txt at its first prompt, as if
// typed (kernel/main.ts). --load PATH adds "llmctl backend real" and "llmctl load PATH";
// --boot-cmd adds any line. They go into a copy of the models disk image
// (build/models-boot.img, with debugfs), after the lines the disk's own sis-boot.txt has;
// the image built from the models folder stays as it is.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { qemuCommand } from "./lib/qemu.mjs";
import { ROOT } from "./lib/asbuild.mjs";

export const BOOT_FILE = "sis-boot.txt"; // at the root of the models disk: /models/sis-boot.txt

function findDebugfs() {
  for (const p of ["/usr/sbin/debugfs", "/sbin/debugfs"]) if (existsSync(p)) return p;
  return "debugfs";
}

/** The boot commands that load a model: select the transformer, then load. */
export function loadCommands(path) {
  return ["llmctl backend real", `llmctl load ${quoteArg(path)}`];
}

/** A shell word for SIS's parser: quoted when it has spaces, quotes or backslashes. */
export function quoteArg(s) {
  return /^[^\s"\\]+$/.test(s) ? s : `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/**
 * Copies the ext4 image `image` to `out` and appends `lines` to its /sis-boot.txt (made
 * when absent). Returns `out`.
 */
export function withBootCommands(image, lines, out) {
  const debugfs = findDebugfs();
  const cp = spawnSync("cp", ["--sparse=always", "--reflink=auto", image, out], { stdio: "inherit" });
  if (cp.status !== 0) throw new Error(`cannot copy ${image} to ${out}`);
  let existing = "";
  const cat = spawnSync(debugfs, ["-R", `cat /${BOOT_FILE}`, out], { encoding: "utf8" });
  if (cat.status === 0 && !/File not found/.test(cat.stderr)) existing = cat.stdout;
  const dir = mkdtempSync(join(tmpdir(), "sis-boot-"));
  try {
    const file = join(dir, BOOT_FILE);
    const text = (existing && !existing.endsWith("\n") ? existing + "\n" : existing) +
      "# written by tools/run.mjs\n" + lines.join("\n") + "\n";
    writeFileSync(file, text);
    const cmds = join(dir, "cmds");
    writeFileSync(cmds, `rm /${BOOT_FILE}\nwrite ${file} ${BOOT_FILE}\n`);
    execFileSync(debugfs, ["-w", "-f", cmds, out], { stdio: ["ignore", "pipe", "pipe"] });
    const check = spawnSync(debugfs, ["-R", `cat /${BOOT_FILE}`, out], { encoding: "utf8" });
    if (check.stdout !== text) throw new Error(`debugfs did not write /${BOOT_FILE} into ${out}: ${check.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

function main() {
  const opts = { cpu: "neoverse-n1", smp: 2, mem: "4G", disk: null, models: null, modernVirtio: false };
  const boot = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--cpu") opts.cpu = argv[++i];
    else if (a === "--smp") opts.smp = Number(argv[++i]);
    else if (a === "--mem") opts.mem = argv[++i];
    else if (a === "--disk") opts.disk = argv[++i];
    else if (a === "--models") opts.models = argv[++i];
    else if (a === "--modern-virtio") opts.modernVirtio = true;
    else if (a === "--load") { const p = argv[++i]; if (p) boot.push(...loadCommands(p)); }
    else if (a === "--boot-cmd") { const l = argv[++i]; if (l) boot.push(l); }
    else { console.error(`run: unknown option ${a}`); process.exit(2); }
  }

  if (!opts.disk && opts.models) {
    const mkdisk = join(ROOT, "tools", "mkdisk.mjs");
    if (!existsSync(opts.models)) {
      console.error(`run: models folder ${opts.models} does not exist; booting without a models disk`);
    } else if (existsSync(mkdisk)) {
      const image = join(ROOT, "build", "models.img");
      const r = spawnSync(process.execPath, [mkdisk, opts.models, image], { stdio: "inherit" });
      if (r.status !== 0) process.exit(r.status ?? 1);
      opts.disk = image;
    }
  }
  if (opts.disk && !existsSync(opts.disk)) { console.error(`run: no such disk image: ${opts.disk}`); process.exit(2); }
  if (boot.length) {
    if (!opts.disk) { console.error("run: --load and --boot-cmd need a models disk (the commands go into it)"); process.exit(2); }
    try {
      opts.disk = withBootCommands(resolve(opts.disk), boot, join(ROOT, "build", "models-boot.img"));
    } catch (e) { console.error(`run: ${e.message}`); process.exit(1); }
    console.error(`run: at the first prompt SIS runs: ${boot.join("; ")}`);
  }

  const { cmd, args, cleanup } = qemuCommand(opts);
  console.error(`SIS: booting in QEMU (-cpu ${opts.cpu} -smp ${opts.smp} -m ${opts.mem})${opts.disk ? `, models disk ${opts.disk}` : ", no models disk"}. 'poweroff' at the prompt ends it.`);
  const child = spawn(cmd, args, { stdio: "inherit" });
  child.on("exit", (code, signal) => { cleanup(); process.exit(signal ? 1 : code ?? 0); });
  for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => {}); // Ctrl-C belongs to the guest's serial line
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
