// The PL031 real-time clock (QEMU virt has one at 0x09010000, set to the host's time): the
// wall-clock time, which nothing else in the kernel has (the generic timer counts from boot).
// Read once when asked; a machine without the device (checked by its PrimeCell ID) has no
// wall clock, and the caller says so or falls back.
import { mmio_read32 } from "../platform";

const PL031_BASE: u64 = 0x09010000;
const RTCDR: u64 = 0x000;      // data register: seconds since 1970-01-01 00:00 UTC
const PERIPH_ID0: u64 = 0xfe0; // PeriphID0..3, PCellID0..3: 0x31 0x10 0x?4 0x00, 0x0d 0xf0 0x05 0xb1

function present(): bool {
  const id = (o: u64): u32 => mmio_read32(PL031_BASE + PERIPH_ID0 + o) & 0xff;
  return id(0) == 0x31 && id(4) == 0x10 && id(16) == 0x0d && id(20) == 0xf0 && id(24) == 0x05 && id(28) == 0xb1;
}

/** Seconds since the Unix epoch from the PL031, or -1 when the machine has none. */
export function wallClockSeconds(): i64 {
  if (!present()) return -1;
  return <i64>mmio_read32(PL031_BASE + RTCDR);
}
