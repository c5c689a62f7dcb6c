/* The device tree handed over at boot, copied before the firmware's memory can be reused
   (after ExitBootServices UEFI's copy may be overwritten). Only the used part is kept:
   QEMU's blob says 1 MiB but holds a few KiB. */
#include <string.h>
#include "devtree.h"

#define DEVTREE_MAX (256u * 1024u)

static uint8_t kept[DEVTREE_MAX] __attribute__((aligned(8)));
static uint32_t kept_size;

static uint32_t be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

void devtree_keep(const void* blob) {
  const uint8_t* b = blob;
  kept_size = 0;
  if (!b || be32(b) != 0xd00dfeedu) return;
  /* the used extent: the header's blocks (structure, strings, reserved map) */
  uint32_t end = 40;
  const uint32_t off_struct = be32(b + 8), off_strings = be32(b + 12), off_rsv = be32(b + 16);
  const uint32_t size_strings = be32(b + 32), size_struct = be32(b + 36);
  if (off_struct + size_struct > end) end = off_struct + size_struct;
  if (off_strings + size_strings > end) end = off_strings + size_strings;
  if (off_rsv + 16 > end) end = off_rsv + 16;
  const uint32_t total = be32(b + 4);
  if (end > total) end = total;
  if (end > DEVTREE_MAX) return; /* the kernel is told there is none, and says so */
  memcpy(kept, b, end);
  kept_size = end;
}

typedef struct { uint32_t d1; uint16_t d2, d3; uint8_t d4[8]; } guid_t;
typedef struct { guid_t guid; const void* table; } efi_table_t;
static const guid_t DTB_GUID = { 0xb1b621d5, 0xf19c, 0x41a5, { 0x83, 0x0b, 0xd9, 0x15, 0x2c, 0x69, 0xaa, 0xe0 } };

void devtree_from_efi_tables(uint64_t count, const void* tables) {
  const efi_table_t* t = tables;
  for (uint64_t i = 0; i < count; i++) {
    if (memcmp(&t[i].guid, &DTB_GUID, sizeof DTB_GUID) == 0) { devtree_keep(t[i].table); return; }
  }
}

uint32_t devtree_size(void) { return kept_size; }
const uint8_t* devtree_data(void) { return kept; }
