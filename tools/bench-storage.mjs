#!/usr/bin/env node
// Storage benchmark (not a test): sequential read throughput of a large file in SIS under
// QEMU, next to the host reading the same bytes of the same image file.
//
//   node tools/bench-storage.mjs [--size BYTES] [--runs N] [--modern-virtio] [--uncached]
//                                [--keep DIR] [--cpu C] [--smp N] [--mem M] [--hash-mib N]
//
// Builds a temporary folder with one file of --size bytes (default 637,699,456: the size
// of tinyllama-1.1b-chat-v1.0.Q4_0.gguf) of random data, packs it with tools/mkdisk.mjs,
// boots SIS with that disk, and runs `readfile` on it N times (the kernel's read path:
// VFS -> ext4 -> block cache -> virtio-blk, into one 8 MiB buffer, data unused). The host
// side reads the same file's extents (from debugfs) out of the image with Node in 8 MiB
// pieces. Both read through the host's page cache (QEMU's default cache=writeback), so the
// comparison is the guest's I/O path against a plain read(2) loop on the host. With
// --uncached, QEMU opens the image with cache=none (O_DIRECT) and the host side is
// `dd iflag=direct` over the same extents: both then read the host's disk.
// The guest's figure is its own timer (readfile); the wall time of the whole shell round
// trip, measured on the host, is printed beside it as a cross-check.
// Also times `sha256sum` of a 64 MiB prefix-sized file to show the hashing rate.
import { execFileSync, spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { mkdisk } from "./mkdisk.mjs";
import { SisMachine } from "../tests/support/qemu-serial.mjs";
import { qemuCommand } from "./lib/qemu.mjs";

const TINYLLAMA_Q4_0 = 637_699_456;
const opts = { size: TINYLLAMA_Q4_0, runs: 3, modernVirtio: false, uncached: false, keep: null, cpu: "neoverse-n1", smp: 2, mem: "4G", hashMiB: 64 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--size") opts.size = Number(argv[++i]);
  else if (a === "--runs") opts.runs = Number(argv[++i]);
  else if (a === "--modern-virtio") opts.modernVirtio = true;
  else if (a === "--uncached") opts.uncached = true;
  else if (a === "--keep") opts.keep = argv[++i];
  else if (a === "--cpu") opts.cpu = argv[++i];
  else if (a === "--smp") opts.smp = Number(argv[++i]);
  else if (a === "--mem") opts.mem = argv[++i];
  else if (a === "--hash-mib") opts.hashMiB = Number(argv[++i]);
  else { console.error(`bench-storage: unknown option ${a}`); process.exit(2); }
}
if (!(opts.size > 0) || !(opts.runs >= 1)) { console.error("bench-storage: --size and --runs must be positive"); process.exit(2); }

const MB = 1e6, MiB = 1 << 20;
const CHUNK = 8 * MiB;

/** Writes `size` random bytes to path; returns the SHA-256. */
function writeRandom(path, size) {
  const fd = openSync(path, "w");
  const h = createHash("sha256");
  const buf = Buffer.alloc(CHUNK);
  try {
    for (let off = 0; off < size; off += CHUNK) {
      const n = Math.min(CHUNK, size - off);
      randomFillSync(buf, 0, n);
      writeSync(fd, buf, 0, n);
      h.update(buf.subarray(0, n));
    }
  } finally { closeSync(fd); }
  return h.digest("hex");
}

/** The file's physical extents in the image, as [byteOffset, byteLength] (debugfs). */
function extentsOf(image, path) {
  const out = execFileSync("/usr/sbin/debugfs", ["-R", `stat ${path}`, image], { stdio: ["ignore", "pipe", "pipe"] }).toString();
  const bs = Number(/Block size:\s+(\d+)/.exec(execFileSync("/usr/sbin/dumpe2fs", ["-h", image], { stdio: ["ignore", "pipe", "pipe"] }).toString())[1]);
  const sec = /EXTENTS:\n([\s\S]*)/.exec(out);
  if (!sec) throw new Error(`debugfs shows no extents for ${path}`);
  const ranges = [];
  for (const m of sec[1].matchAll(/\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?/g)) {
    const start = Number(m[3]), end = m[4] ? Number(m[4]) : start;
    ranges.push([start * bs, (end - start + 1) * bs]);
  }
  return ranges;
}

/** Host, O_DIRECT: `dd iflag=direct` over each extent (the last one cut to the file size). */
function hostReadDirect(image, ranges, size) {
  let left = size;
  const t0 = process.hrtime.bigint();
  for (const [off, len] of ranges) {
    if (left <= 0) break;
    const n = Math.min(len, left);
    const count = Math.ceil(n / 4096) * 4096; // O_DIRECT wants whole blocks
    execFileSync("dd", [`if=${image}`, "of=/dev/null", "bs=8M", "iflag=direct,skip_bytes,count_bytes", `skip=${off}`, `count=${count}`], { stdio: ["ignore", "ignore", "pipe"] });
    left -= n;
  }
  if (left > 0) throw new Error(`extents cover ${size - left} of ${size} bytes`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Boots like SisMachine.boot, with the models disk opened by QEMU with cache=none. */
async function bootUncached(o) {
  const q = qemuCommand(o);
  const i = q.args.findIndex((a) => a.startsWith("if=none,id=models,"));
  if (i < 0) throw new Error("qemuCommand no longer attaches the models disk as expected");
  q.args[i] += ",cache=none";
  const proc = spawn(q.cmd, q.args, { stdio: ["pipe", "pipe", "pipe"] });
  const m = new SisMachine(proc, q.cleanup);
  await m.waitFor("sis> ", { timeout: 120_000 });
  return m;
}

/** Host: reads `size` bytes of the file's extents from the image in CHUNK pieces. */
function hostRead(image, ranges, size) {
  const fd = openSync(image, "r");
  const buf = Buffer.alloc(CHUNK);
  let left = size;
  const t0 = process.hrtime.bigint();
  try {
    for (const [off, len] of ranges) {
      for (let done = 0; done < len && left > 0;) {
        const n = Math.min(CHUNK, len - done, left);
        const got = readSync(fd, buf, 0, n, off + done);
        if (got !== n) throw new Error(`short read at ${off + done}`);
        done += n; left -= n;
      }
    }
  } finally { closeSync(fd); }
  if (left !== 0) throw new Error(`extents cover ${size - left} of ${size} bytes`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const fmt = (v, d = 1) => v.toFixed(d);

const dir = opts.keep ?? mkdtempSync(join(tmpdir(), "sis-bench-storage-"));
mkdirSync(join(dir, "src"), { recursive: true });
const image = join(dir, "bench.img");
let m = null;
try {
  const big = "big.bin", small = "hash.bin";
  console.log(`bench-storage: writing a ${fmt(opts.size / MB)} MB file and a ${opts.hashMiB} MiB file in ${dir} ...`);
  writeRandom(join(dir, "src", big), opts.size);
  const hashSum = writeRandom(join(dir, "src", small), opts.hashMiB * MiB);
  const tDisk = Date.now();
  mkdisk(join(dir, "src"), image, { label: "sis-bench" });
  console.log(`bench-storage: mkdisk ${((Date.now() - tDisk) / 1000).toFixed(1)} s; booting SIS (-cpu ${opts.cpu} -smp ${opts.smp} -m ${opts.mem}${opts.modernVirtio ? ", modern virtio-mmio" : ""}) ...`);

  const machine = { disk: image, cpu: opts.cpu, smp: opts.smp, mem: opts.mem, modernVirtio: opts.modernVirtio };
  m = opts.uncached ? await bootUncached(machine) : await SisMachine.boot(machine);
  const device = /info: (virtio-blk@\S+: .*)/.exec(m.output)?.[1] ?? "(no device line)";
  const guest = [], wall = [];
  for (let i = 0; i < opts.runs; i++) {
    const w0 = process.hrtime.bigint();
    const out = await m.run(`readfile /models/${big}`, { timeout: 600_000 });
    wall.push(Number(process.hrtime.bigint() - w0) / 1e9);
    const r = /read (\d+) bytes .* in ([\d.]+) s, ([\d.]+) MB\/s/.exec(out.split("\n").pop());
    if (!r || Number(r[1]) !== opts.size) throw new Error(`unexpected readfile output:\n${out}`);
    guest.push(Number(r[2]));
  }
  const tHash = Date.now();
  const hashOut = await m.run(`sha256sum /models/${small}`, { timeout: 600_000 });
  const hashS = (Date.now() - tHash) / 1000;
  if (!hashOut.includes(`${hashSum}  /models/${small}`)) throw new Error(`sha256sum mismatch:\n${hashOut}`);
  await m.poweroff();
  m = null;

  const ranges = extentsOf(image, `/${big}`);
  const host = [];
  for (let i = 0; i < opts.runs; i++) host.push(opts.uncached ? hostReadDirect(image, ranges, opts.size) : hostRead(image, ranges, opts.size));

  const g = median(guest), h = median(host);
  const line = (what, s) => `  ${what.padEnd(40)} ${fmt(s, 3).padStart(8)} s   ${fmt(opts.size / MB / s).padStart(8)} MB/s`;
  console.log("");
  console.log(`Sequential read of a ${opts.size.toLocaleString("en-US")}-byte file, ${opts.uncached ? "uncached (QEMU cache=none / dd iflag=direct)" : "through the host page cache"} ` +
    `(median of ${opts.runs}; runs: guest ${guest.map((x) => fmt(x, 2)).join(", ")} s, host ${host.map((x) => fmt(x, 2)).join(", ")} s)`);
  console.log(line("SIS in QEMU (readfile, guest timer)", g));
  console.log(line("SIS in QEMU (shell round trip, wall)", median(wall)));
  console.log(line(opts.uncached ? "host, dd iflag=direct, same extents" : "host, Node read(2) of the same extents", h));
  console.log(`  guest/host: ${fmt(g / h, 1)}x the host's time; target for ${fmt(TINYLLAMA_Q4_0 / MB)} MB: under 10 s -> ${fmt(g * TINYLLAMA_Q4_0 / opts.size, 2)} s ${g * TINYLLAMA_Q4_0 / opts.size < 10 ? "(met)" : "(NOT met)"}`);
  console.log(`  sha256sum of ${opts.hashMiB} MiB in SIS: ${fmt(hashS, 2)} s wall (${fmt(opts.hashMiB * MiB / MB / hashS)} MB/s, includes the shell round trip)`);
  console.log(`  device: ${device}`);
} finally {
  if (m) m.kill();
  if (!opts.keep) rmSync(dir, { recursive: true, force: true });
}
