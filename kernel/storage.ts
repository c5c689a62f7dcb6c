// Storage at boot: a root file system for mount points, then the models disk (the first
// virtio-blk device on virtio-mmio) mounted read-only with ext4 at /models. Every outcome
// is logged; none stops the boot. Commands ask storageStatus() to explain a missing
// /models ("no models disk is attached", or why the mount failed).

import * as log from "./log";
import { probeVirtioBlk, VirtioBlk } from "./drivers/virtio_blk";
import { Ext4 } from "./fs/ext4";
import { RootFs } from "./fs/rootfs";
import { StatFs } from "./fs/fs";
import { vfs } from "./fs/vfs";

export const MODELS_DIR = "models";
export const MODELS_PATH = "/models";

let rootfs: RootFs | null = null;
let device: VirtioBlk | null = null;
let modelsFs: Ext4 | null = null;
let status = "storage has not been initialised";

/** "12.5 MiB": one decimal from KiB up. */
export function sizeText(n: u64): string {
  if (n < 1024) return n.toString() + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  let div: u64 = 1024;
  while (u < 3 && n / div >= 1024) { div *= 1024; u++; }
  const tenths = (n * 10 + div / 2) / div; // n / div rounded to one decimal
  return (tenths / 10).toString() + "." + (tenths % 10).toString() + " " + units[u];
}

/** Mounts "/" and, when a models disk is attached, /models. Logs what happened. */
export function initStorage(): void {
  const root = new RootFs();
  rootfs = root;
  const e = vfs.mount("/", root);
  if (e.length) { status = "the root file system could not be mounted: " + e; log.error("storage: " + status); return; }

  const blk = probeVirtioBlk();
  if (blk == null) {
    status = "no models disk is attached";
    log.info("storage: no models disk attached (no virtio-blk device on virtio-mmio); " + MODELS_PATH + " is not available");
    return;
  }
  device = blk;
  const what = blk.name() + " (" + sizeText(blk.sectorCount() * 512) + ")";
  const r = Ext4.mount(blk);
  if (r.fs == null) {
    status = "the models disk " + blk.name() + " could not be mounted: " + r.error;
    log.error("storage: cannot mount " + what + " at " + MODELS_PATH + ": " + r.error + "; continuing without " + MODELS_PATH);
    return;
  }
  const fs = r.fs!;
  root.addDir(MODELS_DIR);
  const me = vfs.mount(MODELS_PATH, fs);
  if (me.length) {
    root.removeDir(MODELS_DIR);
    fs.unmount();
    status = "the models disk " + blk.name() + " could not be mounted: " + me;
    log.error("storage: " + me + "; continuing without " + MODELS_PATH);
    return;
  }
  modelsFs = fs;
  status = "";
  const sf = new StatFs();
  fs.statfs(sf);
  const bs = <u64>sf.blockSize;
  log.info("storage: mounted " + what + " at " + MODELS_PATH + ": " + sf.fsType +
    (sf.label.length ? " '" + sf.label + "'" : "") + ", read-only, " + sizeText(sf.blocks * bs) + " file system, " +
    sizeText((sf.blocks > sf.freeBlocks ? sf.blocks - sf.freeBlocks : 0) * bs) + " used, " + sizeText(sf.availBlocks * bs) + " free");
}

/** "" while /models is mounted; otherwise why it is not (for error messages). */
export function storageStatus(): string { return status; }

/** The models disk's block device (null when none was found). */
export function modelsDevice(): VirtioBlk | null { return device; }

/** The ext4 file system mounted at /models (null when none). */
export function modelsFileSystem(): Ext4 | null { return modelsFs; }

/**
 * An error message about `path`, with the reason when the path lies under an absent
 * /models: "/models/x: no such file or directory (no models disk is attached)".
 */
export function explainMissing(path: string, error: string): string {
  if (status.length == 0) return error;
  let abs = path;
  if (!path.startsWith("/")) {
    const cwd = vfs.getcwd();
    abs = cwd == "/" ? "/" + path : cwd + "/" + path;
  }
  while (abs.startsWith("//")) abs = abs.substring(1);
  if (abs == MODELS_PATH || abs.startsWith(MODELS_PATH + "/")) return error + " (" + status + ")";
  return error;
}
