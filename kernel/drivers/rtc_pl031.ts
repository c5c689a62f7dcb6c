// The PL031 real-time clock (QEMU virt has one at 0x09010000, set to the host's time): the
// wall-clock time, which nothing else in the kernel has (the generic timer counts from boot).
// Its address comes from the device tree (QEMU virt's without one). Read once when asked; a
// machine without the device (checked by its PrimeCell ID) has no wall clock, and the caller
// says so or falls back.
import { mmio_read32 } from "../platform";
import { hardware } from "../devicetree";

const QEMU_VIRT_PL031: u64 = 0x09010000;
const RTCDR: u64 = 0x000;      // data register: seconds since 1970-01-01 00:00 UTC
const PERIPH_ID0: u64 = 0xfe0; // PeriphID0..3, PCellID0..3: 0x31 0x10 0x?4 0x00, 0x0d 0xf0 0x05 0xb1

/** The PL031's address: the device tree's, QEMU virt's when there is no tree, 0 for none. */
function pl031Base(): u64 {
  const hw = hardware();
  return hw.error.length != 0 ? QEMU_VIRT_PL031 : hw.rtc;
}

function idByte(base: u64, o: u64): u32 { return mmio_read32(base + PERIPH_ID0 + o) & 0xff; }

function present(base: u64): bool {
  if (base == 0) return false;
  return idByte(base, 0) == 0x31 && idByte(base, 4) == 0x10 && idByte(base, 16) == 0x0d && idByte(base, 20) == 0xf0 &&
    idByte(base, 24) == 0x05 && idByte(base, 28) == 0xb1;
}

/** Seconds since the Unix epoch from the PL031, or -1 when the machine has none. */
export function wallClockSeconds(): i64 {
  const base = pl031Base();
  if (!present(base)) return -1;
  return <i64>mmio_read32(base + RTCDR);
}
