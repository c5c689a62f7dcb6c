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
/** Direct unless SIS_FIRMWARE says otherwise (e.g. SIS_FIRMWARE=uefi npx vitest run tests/e2e/X). */
export const DEFAULT_FIRMWARE = process.env.SIS_FIRMWARE || "direct";

/** What `firmware` boots from: the file that must exist before QEMU starts. */
export function bootFile(firmware = DEFAULT_FIRMWARE) {
  if (!FIRMWARES.includes(firmware)) throw new Error(`unknown firmware '${firmware}' (one of ${FIRMWARES.join(", ")})`);
  return firmware === "direct" ? DIRECT_IMAGE : ESP_IMAGE;
}

/**
 * qemuCommand({ firmware, cpu, smp, mem, gic, disk, modernVirtio, interactive }) -> { cmd, args, cleanup }
 * firmware: "direct" (the default, or SIS_FIRMWARE's): QEMU starts build/Image itself (-kernel,
 * the device tree in x0), with no firmware and no ESP; "uefi": QEMU runs the ArmVirtQemu
 * firmware, which boots build/BOOTAA64.EFI from the ESP on virtio-blk-pci (the kernel ignores
 * that disk).
 * gic: the interrupt controller's version, 2 (QEMU's default) or 3. el2: the machine has EL2 and
 * starts the kernel there (virtualization=on; PSCI then goes by smc). dtb: a device tree file given
 * to the direct path instead of QEMU's own (tests of what a tree may lack). gdbPort: QEMU's gdb stub
 * listens there and the machine waits, before its first instruction, for gdb to continue it.
 * disk: an ext4 image attached as a virtio-mmio block device (the models disk), or none.
 * The serial console is QEMU's stdio with signal=off: Ctrl-C reaches SIS as the byte 0x03
 * (stops a generation, cancels a line) instead of killing QEMU. interactive (make run) adds
 * QEMU's mux, whose Ctrl-A X ends QEMU at once (Ctrl-A Ctrl-A sends a Ctrl-A); programs
 * driving the console (the tests) leave it off, so that every byte reaches SIS.
 */
export function qemuCommand({ firmware = DEFAULT_FIRMWARE, cpu = "neoverse-n1", smp = 2, mem = "4G", gic = 2, el2 = false, dtb = null, gdbPort = 0, disk = null, modernVirtio = false, interactive = false } = {}) {
  const image = bootFile(firmware);
  for (const f of firmware === "direct" ? [image] : [FIRMWARE_CODE, FIRMWARE_VARS, image]) {
    if (!existsSync(f)) throw new Error(`missing ${f}: run 'make kernel${firmware === "uefi" ? " FIRMWARE=uefi" : ""}' (or tools/setup.sh for the firmware)`);
  }
  const dir = mkdtempSync(join(tmpdir(), "sis-qemu-"));
  const args = [
    "-M", `virt,acpi=off,gic-version=${gic}${el2 ? ",virtualization=on" : ""}`, "-cpu", cpu, "-smp", String(smp), "-m", mem,
    "-display", "none", "-monitor", "none", "-nic", "none",
    "-chardev", `stdio,id=console,signal=off${interactive ? ",mux=on" : ""}`, "-serial", "chardev:console",
  ];
  if (firmware === "direct") {
    args.push("-kernel", image);
    if (dtb) args.push("-dtb", dtb);
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
  if (gdbPort) args.push("-gdb", `tcp:localhost:${gdbPort}`, "-S");
  if (disk) {
    args.push("-drive", `if=none,id=models,format=raw,readonly=on,file=${resolve(disk)}`,
      "-device", "virtio-blk-device,drive=models");
    if (modernVirtio) args.push("-global", "virtio-mmio.force-legacy=false");
  }
  return { cmd: "qemu-system-aarch64", args, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
