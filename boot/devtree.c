/* The device tree handed over at boot, copied before the firmware's memory can be reused
   (after ExitBootServices UEFI's copy may be overwritten), and a reader for the copy.
   Only the used part is kept: QEMU's blob says 1 MiB but holds a few KiB. */
#include <string.h>
#include "devtree.h"

#define DEVTREE_MAX (256u * 1024u)

static uint8_t kept[DEVTREE_MAX] __attribute__((aligned(8)));
static uint32_t kept_size;

#define be32 dt_be32

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

/* ---- the reader (devicetree specification, chapter 5: the flattened format) ---- */

#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_NOP 4
#define MAX_DEPTH 16

static uint32_t struct_end, strings_off, strings_size;

/* The structure block's bounds, or 0 if the header does not fit the copy. */
static uint32_t struct_start(void) {
  if (kept_size < 40) return 0;
  uint32_t off = be32(kept + 8), size = be32(kept + 36);
  strings_off = be32(kept + 12);
  strings_size = be32(kept + 32);
  if (off > kept_size || size > kept_size - off || strings_off > kept_size || strings_size > kept_size - strings_off) return 0;
  struct_end = off + size;
  return off;
}

static int string_at(const uint8_t* p, uint32_t max, const char* want) {
  for (uint32_t i = 0;; i++) {
    if (i == max || p[i] != (uint8_t)want[i]) return 0;
    if (!want[i]) return 1;
  }
}

/* The property at off (an FDT_PROP token): its name and value; the offset after it, or 0. */
static uint32_t next_property(uint32_t off, const uint8_t** name, uint32_t* name_max, const uint8_t** value, uint32_t* len) {
  if (off + 12 > struct_end) return 0;
  uint32_t n = be32(kept + off + 4), nameoff = be32(kept + off + 8);
  off += 12;
  if (n > struct_end - off) return 0;
  *name = nameoff < strings_size ? kept + strings_off + nameoff : kept;
  *name_max = nameoff < strings_size ? strings_size - nameoff : 0;
  *value = kept + off;
  *len = n;
  return (off + n + 3) & ~3u;
}

int dt_property(const struct dt_node* n, const char* want, const uint8_t** value, uint32_t* len) {
  uint32_t off = n->props;
  while (off + 4 <= struct_end) {
    uint32_t token = be32(kept + off);
    if (token == FDT_NOP) { off += 4; continue; }
    if (token != FDT_PROP) return 0; /* properties come before a node's children */
    const uint8_t* name;
    uint32_t name_max;
    off = next_property(off, &name, &name_max, value, len);
    if (!off) return 0;
    if (string_at(name, name_max, want)) return 1;
  }
  return 0;
}

static uint32_t cells(const struct dt_node* n, const char* name, uint32_t otherwise) {
  const uint8_t* v;
  uint32_t len;
  return dt_property(n, name, &v, &len) && len == 4 ? be32(v) : otherwise;
}

void dt_each_node(int (*visit)(const struct dt_node* n, void* ctx), void* ctx) {
  uint32_t off = struct_start();
  if (!off) return;
  /* per depth: the node's own #address-cells / #size-cells (its children's) and name */
  uint32_t address_cells[MAX_DEPTH], size_cells[MAX_DEPTH];
  struct dt_node open[MAX_DEPTH];
  uint32_t depth = 0; /* nodes open */
  while (off + 4 <= struct_end) {
    uint32_t token = be32(kept + off);
    off += 4;
    if (token == FDT_BEGIN_NODE) {
      if (depth == MAX_DEPTH) return;
      const char* name = (const char*)kept + off;
      while (off < struct_end && kept[off]) off++;
      if (off == struct_end) return;
      off = (off + 1 + 3) & ~3u;
      struct dt_node* n = &open[depth];
      *n = (struct dt_node){
        .name = name, .depth = depth, .props = off,
        .address_cells = depth ? address_cells[depth - 1] : 2, /* the specification's defaults */
        .size_cells = depth ? size_cells[depth - 1] : 1,
        .parent = depth ? &open[depth - 1] : 0,
      };
      address_cells[depth] = cells(n, "#address-cells", 2);
      size_cells[depth] = cells(n, "#size-cells", 1);
      depth++;
      if (!visit(n, ctx)) return;
    } else if (token == FDT_END_NODE) {
      if (depth-- <= 1) return;
    } else if (token == FDT_PROP) {
      const uint8_t *name, *value;
      uint32_t name_max, len;
      off = next_property(off - 4, &name, &name_max, &value, &len);
      if (!off) return;
    } else if (token != FDT_NOP) {
      return; /* FDT_END, or damage */
    }
  }
}

int dt_name_is(const struct dt_node* n, const char* want) {
  uint32_t i = 0;
  for (; want[i]; i++) if (n->name[i] != want[i]) return 0;
  return n->name[i] == 0 || n->name[i] == '@';
}

int dt_string_is(const struct dt_node* n, const char* name, const char* want) {
  const uint8_t* v;
  uint32_t len;
  return dt_property(n, name, &v, &len) && string_at(v, len, want);
}

int dt_is_compatible(const struct dt_node* n, const char* compatible) {
  const uint8_t* v;
  uint32_t len;
  if (!dt_property(n, "compatible", &v, &len)) return 0;
  for (uint32_t i = 0; i < len;) { /* a list of NUL-terminated strings */
    if (string_at(v + i, len - i, compatible)) return 1;
    while (i < len && v[i]) i++;
    i++;
  }
  return 0;
}

static uint64_t read_cells(const uint8_t* p, uint32_t n) { return n == 2 ? dt_be64(p) : be32(p); }

int dt_reg(const struct dt_node* n, uint32_t i, uint64_t* base, uint64_t* size) {
  const uint8_t* v;
  uint32_t len;
  uint32_t ac = n->address_cells, sc = n->size_cells;
  if (ac < 1 || ac > 2 || sc > 2 || !dt_property(n, "reg", &v, &len)) return 0;
  uint32_t entry = 4 * (ac + sc);
  if ((uint64_t)(i + 1) * entry > len) return 0;
  *base = read_cells(v + i * entry, ac);
  *size = sc ? read_cells(v + i * entry + 4 * ac, sc) : 0;
  return 1;
}

int dt_gic_interrupt(const struct dt_node* n, uint32_t i, uint32_t* intid) {
  const uint8_t* v;
  uint32_t len;
  if (!dt_property(n, "interrupts", &v, &len) || (uint64_t)(i + 1) * 12 > len) return 0;
  uint32_t type = be32(v + 12 * i), number = be32(v + 12 * i + 4);
  if (type > 1 || number >= 988) return 0;
  *intid = number + (type == 0 ? 32 : 16); /* SPIs from 32, PPIs from 16 */
  return 1;
}
