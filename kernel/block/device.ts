// A block device: a linear array of 512-byte sectors that can be read into memory.
// Drivers (virtio-blk, a RAM disk, a host-backed test disk) implement it; the block
// cache and file systems only ever see this interface.

/** Every device speaks in 512-byte sectors, whatever its physical block size. */
export const SECTOR_SIZE: u32 = 512;
export const SECTOR_SHIFT: u32 = 9;

export interface BlockDevice {
  /** A short name for messages ("virtio-blk@0x0a003e00"). */
  name(): string;
  /** Always SECTOR_SIZE; kept as a method so callers never assume. */
  sectorSize(): u32;
  /** Capacity in sectors. */
  sectorCount(): u64;
  /**
   * Reads `count` sectors starting at `lba` into linear memory at `dst`.
   * Returns "" on success, otherwise a message naming the operation and the sector.
   */
  readSectors(lba: u64, count: u32, dst: usize): string;
}

/** Checks a request against the device size; "" when it fits. */
export function checkRange(dev: BlockDevice, lba: u64, count: u32): string {
  const n = dev.sectorCount();
  if (count == 0) return "";
  if (lba >= n || <u64>count > n - lba) {
    return dev.name() + ": read of sectors " + lba.toString() + "+" + count.toString() +
      " is past the end of the device (" + n.toString() + " sectors)";
  }
  return "";
}
