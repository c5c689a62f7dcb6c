#!/usr/bin/env node
// `make run`: boots SIS in QEMU with the serial console on this terminal.
// Usage: node tools/run.mjs [--firmware direct|uefi] [--cpu C] [--smp N] [--mem M] [--gic 2|3] [--gdb PORT] [--models DIR | --disk IMAGE] [--modern-virtio]
//                           [--load /models/NAME.gguf] [--boot-cmd LINE]...
//
// Boot commands: SIS runs the lines of /models/sis-boot.txt before its first prompt, each
// shown after "boot> " (kernel/main.ts). --load PATH adds "llmctl backend real" and "llmctl load PATH";
// --boot-cmd adds any line. They go into a copy of the models disk image
// (build/models-boot.img, with debugfs), after the lines the disk's own sis-boot.txt has;
// the image built from the models folder stays as it is.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { qemuCommand, FIRMWARES, DEFAULT_FIRMWARE } from "./lib/qemu.mjs";
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

/** The hints `make run` prints after the firmware has cleared the screen. */
const HINTS = ["'poweroff' at the prompt ends SIS; Ctrl-A X ends QEMU at once; Ctrl-C stops a generation or cancels a line"];

function main() {
  const opts = { firmware: DEFAULT_FIRMWARE, cpu: "neoverse-n1", smp: 2, mem: "4G", gic: 2, disk: null, models: null, modernVirtio: false, interactive: true };
  const boot = [];
  const hints = [...HINTS];
  const argv = process.argv.slice(2);
  const fail = (msg) => { console.error(`run: ${msg}`); process.exit(2); };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => { const v = argv[++i]; if (v === undefined || v === "") fail(`${a} needs a value`); return v; };
    if (a === "--firmware") opts.firmware = value();
    else if (a === "--cpu") opts.cpu = value();
    else if (a === "--smp") opts.smp = Number(value());
    else if (a === "--mem") opts.mem = value();
    else if (a === "--gic") opts.gic = Number(value());
    else if (a === "--gdb") opts.gdbPort = Number(value());
    else if (a === "--disk") opts.disk = value();
    else if (a === "--models") opts.models = value();
    else if (a === "--modern-virtio") opts.modernVirtio = true;
    else if (a === "--load") boot.push(...loadCommands(value()));
    else if (a === "--boot-cmd") boot.push(value());
    else fail(`unknown option ${a}`);
  }
  if (!Number.isInteger(opts.smp) || opts.smp < 1) fail(`SMP must be a whole number of cores, not '${opts.smp}'`);
  if (opts.gic !== 2 && opts.gic !== 3) fail(`GIC must be 2 or 3 (the interrupt controller's version)`);
  if (!FIRMWARES.includes(opts.firmware)) fail(`FIRMWARE must be one of ${FIRMWARES.join(", ")}, not '${opts.firmware}'`);

  // every mistake is reported here, before QEMU starts and the firmware clears the screen
  if (!opts.disk && opts.models) {
    if (!existsSync(opts.models)) fail(`models folder ${opts.models} does not exist (MODELS=DIR names a folder of .gguf files; DISK=IMAGE an ext4 image)`);
    const image = join(ROOT, "build", "models.img");
    const r = spawnSync(process.execPath, [join(ROOT, "tools", "mkdisk.mjs"), opts.models, image], { stdio: "inherit" });
    if (r.status !== 0) process.exit(r.status ?? 1);
    opts.disk = image;
  }
  if (opts.disk && !existsSync(opts.disk)) fail(`no such disk image: ${opts.disk}`);
  if (boot.length) {
    if (!opts.disk) fail("--load and --boot-cmd need a models disk (the commands go into it)");
    try {
      opts.disk = withBootCommands(resolve(opts.disk), boot, join(ROOT, "build", "models-boot.img"));
    } catch (e) { fail(e.message); }
    hints.push(`before its first prompt SIS runs: ${boot.join("; ")}`);
  }

  if (opts.gdbPort !== undefined && (!Number.isInteger(opts.gdbPort) || opts.gdbPort < 1 || opts.gdbPort > 65535)) fail(`GDB_PORT must be a TCP port, not '${opts.gdbPort}'`);
  const { cmd, args, cleanup } = qemuCommand(opts);
  if (opts.gdbPort) {
    console.error(`SIS: QEMU waits for gdb on localhost:${opts.gdbPort} before the first instruction: run 'make gdb${opts.gdbPort !== 1234 ? ` GDB_PORT=${opts.gdbPort}` : ""}' in another terminal`);
  }
  console.error(`SIS: booting in QEMU${opts.firmware === "direct" ? " (-kernel build/Image, no firmware)" : " (UEFI firmware, build/esp.img)"} (-cpu ${opts.cpu} -smp ${opts.smp} -m ${opts.mem}${opts.gic === 3 ? ", GICv3" : ""})${opts.disk ? `, models disk ${opts.disk}` : ", no models disk"}`);
  // QEMU's output passes through here so that the hints can follow the firmware's screen
  // clearing: they go out right after the kernel's first line. Input stays QEMU's own.
  const child = spawn(cmd, args, { stdio: ["inherit", "pipe", "inherit"] });
  let seen = "", hinted = false;
  child.stdout.on("data", (chunk) => {
    if (hinted) { process.stdout.write(chunk); return; }
    seen += chunk.toString("latin1");
    const banner = /\nSIS [^\r\n]*\r*\n/.exec(seen);
    if (!banner) { process.stdout.write(chunk); seen = seen.slice(-256); return; }
    const cut = chunk.length - (seen.length - (banner.index + banner[0].length));
    process.stdout.write(chunk.subarray(0, Math.max(0, cut)));
    process.stdout.write(hints.map((h) => `run: ${h}\r\n`).join(""));
    process.stdout.write(chunk.subarray(Math.max(0, cut)));
    hinted = true;
  });
  child.on("exit", (code, signal) => { cleanup(); process.exit(signal ? 1 : code ?? 0); });
  for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => {}); // Ctrl-C belongs to the guest's serial line
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
