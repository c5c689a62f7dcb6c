// Checksums used by ext4 metadata: CRC32C (metadata_csum) and CRC16 (the older
// uninit_bg / gdt_csum group descriptor checksum). Table driven, tables built lazily.

let crc32cTable: StaticArray<u32> | null = null;
let crc16Table: StaticArray<u16> | null = null;

function buildCrc32c(): StaticArray<u32> {
  const t = new StaticArray<u32>(256);
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c;
  }
  return t;
}

/**
 * The raw CRC32C register update (reflected, Castagnoli polynomial) with no final
 * inversion: this is the form ext4 chains (seeded with ~0, or with a per-fs seed).
 */
export function crc32cUpdate(crc: u32, ptr: usize, len: usize): u32 {
  if (crc32cTable == null) crc32cTable = buildCrc32c();
  const tab = crc32cTable!;
  for (let i: usize = 0; i < len; i++) {
    crc = unchecked(tab[(crc ^ <u32>load<u8>(ptr + i)) & 0xff]) ^ (crc >>> 8);
  }
  return crc;
}

/** Feeds one little-endian u32 (inode numbers, group numbers, generations). */
export function crc32cU32(crc: u32, v: u32): u32 {
  if (crc32cTable == null) crc32cTable = buildCrc32c();
  const tab = crc32cTable!;
  for (let i = 0; i < 4; i++) {
    crc = unchecked(tab[(crc ^ (v & 0xff)) & 0xff]) ^ (crc >>> 8);
    v >>>= 8;
  }
  return crc;
}

/** Feeds `len` zero bytes (a checksum field that is counted as zero). */
export function crc32cZeros(crc: u32, len: usize): u32 {
  if (crc32cTable == null) crc32cTable = buildCrc32c();
  const tab = crc32cTable!;
  for (let i: usize = 0; i < len; i++) crc = unchecked(tab[crc & 0xff]) ^ (crc >>> 8);
  return crc;
}

function buildCrc16(): StaticArray<u16> {
  const t = new StaticArray<u16>(256);
  for (let i: u32 = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = <u16>c;
  }
  return t;
}

/** CRC16 (reflected 0x8005, "CRC-16/ARC" register) as used by gdt_csum. */
export function crc16Update(crc: u16, ptr: usize, len: usize): u16 {
  if (crc16Table == null) crc16Table = buildCrc16();
  const tab = crc16Table!;
  let c = <u32>crc;
  for (let i: usize = 0; i < len; i++) c = <u32>unchecked(tab[(c ^ <u32>load<u8>(ptr + i)) & 0xff]) ^ (c >>> 8);
  return <u16>c;
}

export function crc16U32(crc: u16, v: u32): u16 {
  const tmp = memory.data(4);
  store<u32>(tmp, v);
  return crc16Update(crc, tmp, 4);
}
