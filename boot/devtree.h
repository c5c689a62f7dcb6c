#pragma once
#include <stdint.h>
/* The device tree (DTB) the firmware or boot loader handed over: kept for the kernel
   (platform.device_tree) and read by the shim for the hardware it drives itself (machine.c)
   and, on the direct path, for RAM (direct_main.c). UEFI lists it in its configuration
   table; a loader that starts a Linux-style Image passes its address in x0. */
void devtree_keep(const void* blob);              /* copies it if it is a DTB (else keeps none) */
void devtree_from_efi_tables(uint64_t count, const void* tables); /* finds it in UEFI's table */
uint32_t devtree_size(void);                      /* 0: none */
const uint8_t* devtree_data(void);

/* ---- reading the kept copy: every offset is checked against its size ---- */
struct dt_node {
  const char* name;            /* "uart@9000000"; the root's is "" */
  uint32_t depth;              /* the root is 0 */
  uint32_t props;              /* offset of its first property */
  uint32_t address_cells;      /* its parent's #address-cells and #size-cells: how its reg reads */
  uint32_t size_cells;
  const struct dt_node* parent; /* 0 for the root */
};
/* Calls visit for every node, parents before children; stops early when visit returns 0. */
void dt_each_node(int (*visit)(const struct dt_node* n, void* ctx), void* ctx);
/* The property's value and length; 0 if the node has none by that name. */
int dt_property(const struct dt_node* n, const char* name, const uint8_t** value, uint32_t* len);
int dt_is_compatible(const struct dt_node* n, const char* compatible); /* one of its strings */
int dt_name_is(const struct dt_node* n, const char* want); /* its name, the unit address aside */
int dt_string_is(const struct dt_node* n, const char* name, const char* want);
/* reg's entry i, read in the parent's cells (1 or 2 each); 0 past the end. */
int dt_reg(const struct dt_node* n, uint32_t i, uint64_t* base, uint64_t* size);
/* interrupts' entry i as a GIC interrupt ID: three cells (0 SPI / 1 PPI, number, flags). */
int dt_gic_interrupt(const struct dt_node* n, uint32_t i, uint32_t* intid);
static inline uint32_t dt_be32(const uint8_t* p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }
static inline uint64_t dt_be64(const uint8_t* p) { return (uint64_t)dt_be32(p) << 32 | dt_be32(p + 4); }
