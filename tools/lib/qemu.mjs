// How SIS is started in QEMU: one place for `make run`, the end-to-end tests and the
// benchmarks, so they all boot the same machine.
import { copyFileSync, mkdtempSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT } from "./asbuild.mjs";

export const FIRMWARE_CODE = "/usr/share/AAVMF/AAVMF_CODE.fd";
export const FIRMWARE_VARS = "/usr/share/AAVMF/AAVMF_VARS.fd";
export const ESP_IMAGE = join(ROOT, "build", "esp.img");
export const DIRECT_IMAGE = join(ROOT, "build", "Image");
export const FIRMWARES = ["uefi", "direct"];
/** UEFI unless SIS_FIRMWARE says otherwise (e.g. SIS_FIRMWARE=direct npx vitest run tests/e2e/X). */
export const DEFAULT_FIRMWARE = process.env.SIS_FIRMWARE || "uefi";

/** What `firmware` boots from: the file that must exist before QEMU starts. */
export function bootFile(firmware = DEFAULT_FIRMWARE) {
  if (!FIRMWARES.includes(firmware)) throw new Error(`unknown firmware '${firmware}' (one of ${FIRMWARES.join(", ")})`);
  return firmware === "direct" ? DIRECT_IMAGE : ESP_IMAGE;
}

/**
 * qemuCommand({ firmware, cpu, smp, mem, disk, modernVirtio, interactive }) -> { cmd, args, cleanup }
 * firmware: "uefi" (the default, or SIS_FIRMWARE's): QEMU runs the ArmVirtQemu firmware, which boots
 * build/BOOTAA64.EFI from the ESP on virtio-blk-pci (the kernel ignores that disk);
 * "direct": QEMU starts build/Image itself (-kernel, the device tree in x0), with no
 * firmware and no ESP.
 * disk: an ext4 image attached as a virtio-mmio block device (the models disk), or none.
 * The serial console is QEMU's stdio with signal=off: Ctrl-C reaches SIS as the byte 0x03
 * (stops a generation, cancels a line) instead of killing QEMU. interactive (make run) adds
 * QEMU's mux, whose Ctrl-A X ends QEMU at once (Ctrl-A Ctrl-A sends a Ctrl-A); programs
 * driving the console (the tests) leave it off, so that every byte reaches SIS.
 */
export function qemuCommand({ firmware = DEFAULT_FIRMWARE, cpu = "neoverse-n1", smp = 2, mem = "4G", disk = null, modernVirtio = false, interactive = false } = {}) {
  const image = bootFile(firmware);
  for (const f of firmware === "direct" ? [image] : [FIRMWARE_CODE, FIRMWARE_VARS, image]) {
    if (!existsSync(f)) throw new Error(`missing ${f}: run 'make kernel${firmware === "direct" ? " FIRMWARE=direct" : ""}' (or tools/setup.sh for the firmware)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "sis-qemu-"));
  const args = [
    "-M", "virt,acpi=off", "-cpu", cpu, "-smp", String(smp), "-m", mem,
    "-display", "none", "-monitor", "none", "-nic", "none",
    "-chardev", `stdio,id=console,signal=off${interactive ? ",mux=on" : ""}`, "-serial", "chardev:console",
  ];
  if (firmware === "direct") {
    args.push("-kernel", image);
  } else {
    const vars = join(dir, "vars.fd");
    copyFileSync(FIRMWARE_VARS, vars); // per-run copy: the firmware may write its variables
    args.push(
      "-drive", `if=pflash,format=raw,readonly=on,file=${FIRMWARE_CODE}`,
      "-drive", `if=pflash,format=raw,file=${vars}`,
      "-drive", `if=none,id=esp,format=raw,readonly=on,file=${image}`,
      "-device", "virtio-blk-pci,drive=esp,bootindex=0",
    );
  }
  if (disk) {
    args.push("-drive", `if=none,id=models,format=raw,readonly=on,file=${resolve(disk)}`,
      "-device", "virtio-blk-device,drive=models");
    if (modernVirtio) args.push("-global", "virtio-mmio.force-legacy=false");
  }
  return { cmd: "qemu-system-aarch64", args, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
