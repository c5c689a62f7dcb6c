#pragma once
#include <stdint.h>
/* The device tree (DTB) the firmware or boot loader handed over, kept for the kernel
   (platform.device_tree): UEFI lists it in its configuration table; a loader that starts
   a Linux-style Image passes its address in x0. */
void devtree_keep(const void* blob);              /* copies it if it is a DTB (else keeps none) */
void devtree_from_efi_tables(uint64_t count, const void* tables); /* finds it in UEFI's table */
uint32_t devtree_size(void);                      /* 0: none */
const uint8_t* devtree_data(void);
