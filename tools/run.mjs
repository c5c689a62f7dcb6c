#!/usr/bin/env node
// `make run`: boots SIS in QEMU with the serial console on this terminal.
// Usage: node tools/run.mjs [--cpu C] [--smp N] [--mem M] [--models DIR | --disk IMAGE] [--modern-virtio]
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { qemuCommand } from "./lib/qemu.mjs";
import { ROOT } from "./lib/asbuild.mjs";

const opts = { cpu: "neoverse-n1", smp: 2, mem: "4G", disk: null, models: null, modernVirtio: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--cpu") opts.cpu = argv[++i];
  else if (a === "--smp") opts.smp = Number(argv[++i]);
  else if (a === "--mem") opts.mem = argv[++i];
  else if (a === "--disk") opts.disk = argv[++i];
  else if (a === "--models") opts.models = argv[++i];
  else if (a === "--modern-virtio") opts.modernVirtio = true;
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

const { cmd, args, cleanup } = qemuCommand(opts);
console.error(`SIS: booting in QEMU (-cpu ${opts.cpu} -smp ${opts.smp} -m ${opts.mem})${opts.disk ? `, models disk ${opts.disk}` : ", no models disk"}. 'poweroff' at the prompt ends it.`);
const child = spawn(cmd, args, { stdio: "inherit" });
child.on("exit", (code, signal) => { cleanup(); process.exit(signal ? 1 : code ?? 0); });
for (const s of ["SIGINT", "SIGTERM"]) process.on(s, () => {}); // Ctrl-C belongs to the guest's serial line
