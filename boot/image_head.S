// The arm64 Linux Image header (Documentation/arch/arm64/booting.rst) and the first
// instructions of a direct boot: a loader (QEMU's -kernel) copies build/Image to RAM at a
// 2 MiB boundary plus text_offset and jumps to its first byte at EL1 or EL2, MMU and
// caches off, x0 = the device tree's physical address. Entered at EL2, it goes on at EL1.
//
// The Image is linked to run where QEMU virt puts it (image.ld: RAM base 0x40000000 +
// text_offset) and is not position independent: the entry checks that it runs at the
// address it was linked for. boot_kernel (start.c) checks EL1 again for both ways in.
//
// No C runs with the MMU off: data accesses would be Device-nGnRnE, which fault when
// unaligned, and the compiler freely merges byte loads into wider ones and copies with
// 16-byte vector pairs. So the entry first turns on a boot map as UEFI leaves one: 1 GiB
// blocks, identity, 0-1 GiB Device (QEMU virt's devices), 1-256 GiB Normal write-back
// (its RAM; its high MMIO starts at 256 GiB). boot_kernel then switches to the kernel's
// tables (mmu.c) exactly as it does after UEFI.
#include "el2.h"

#define BOOT_STACK_BYTES (64 * 1024)

// As mmu.c's: MAIR slot 0 Normal write-back, slot 1 Device-nGnRnE.
#define MAIR_VALUE 0x00ff
#define BLOCK_NORMAL ((1 << 0) | (0 << 2) | (3 << 8) | (1 << 10) | (1 << 54))           // valid block, slot 0, inner shareable, AF, UXN
#define BLOCK_DEVICE ((1 << 0) | (1 << 2) | (1 << 10) | (1 << 53) | (1 << 54))          // valid block, slot 1, AF, PXN, UXN
// T0SZ 16 (48-bit, walks from level 0), walks write-back cached and inner shareable, 4 KiB
// granule, no TTBR1 walks, IPS 40 bits (1 TiB, above the map's 256 GiB).
#define TCR_VALUE (16 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 23) | (2 << 30) | (2 << 32))
#define SCTLR_SET ((1 << 0) | (1 << 2) | (1 << 12))   // M, C, I
#define SCTLR_CLEAR ((1 << 1) | (1 << 19))            // A (unaligned accesses allowed), WXN

    .section .head.text, "ax"
    .globl _head
_head:
    b entry                 // code0
    .long 0                 // code1
    .quad 0x200000          // text_offset: where image.ld links us, past the base of RAM
    .quad _image_size       // image_size: .bss included, so the loader puts nothing there
    .quad 0x2               // flags: little endian, 4 KiB pages, placed near the base of RAM
    .quad 0, 0, 0           // res2-res4
    .ascii "ARM\x64"        // magic
    .long 0                 // res5: no PE header (this Image is no EFI application)

    .text
    .p2align 2
entry:
    EL2_TO_EL1              // (el2.h) at EL1 from here on
    mov x19, x0             // the device tree, for direct_main
    mov x1, #(3 << 20)      // CPACR_EL1.FPEN: FP/SIMD without traps (C code uses it)
    msr cpacr_el1, x1
    isb
    adr x1, _head           // where we run ...
    ldr x2, =_head          // ... and where we were linked for
    cmp x1, x2
    b.ne wrong_place

    ldr x1, =__bss_start    // image.ld: 16-byte aligned, a multiple of 16 long
    ldr x2, =__bss_end
1:  cmp x1, x2
    b.hs 2f
    stp xzr, xzr, [x1], #16
    b 1b

2:  ldr x1, =boot_l0        // the boot map (in .bss, so zero but for these entries)
    ldr x2, =boot_l1
    orr x3, x2, #3          // a table descriptor
    str x3, [x1]
    ldr x3, =BLOCK_DEVICE   // 0-1 GiB
    str x3, [x2]
    ldr x3, =BLOCK_NORMAL
    mov x4, #1
3:  orr x5, x3, x4, lsl #30 // 1 GiB << 30 ... 255 GiB
    str x5, [x2, x4, lsl #3]
    add x4, x4, #1
    cmp x4, #256
    b.lo 3b

    // Drop whatever the caches may hold for .bss (the loader's, from before we zeroed it
    // with uncached stores), so that cached reads see what is in RAM.
    mrs x3, ctr_el0
    ubfx x3, x3, #16, #4    // DminLine: log2 of the line in words
    mov x4, #4
    lsl x3, x4, x3
    ldr x1, =__bss_start
    ldr x2, =__bss_end
    sub x4, x3, #1
    bic x1, x1, x4
4:  dc ivac, x1
    add x1, x1, x3
    cmp x1, x2
    b.lo 4b
    dsb sy

    ldr x1, =MAIR_VALUE
    msr mair_el1, x1
    ldr x1, =TCR_VALUE
    msr tcr_el1, x1
    ldr x1, =boot_l0
    msr ttbr0_el1, x1
    isb
    tlbi vmalle1
    dsb nsh
    isb
    mrs x1, sctlr_el1
    ldr x2, =SCTLR_SET
    orr x1, x1, x2
    ldr x2, =SCTLR_CLEAR
    bic x1, x1, x2
    msr sctlr_el1, x1
    isb

    ldr x1, =boot_stack_top
    mov sp, x1
    mov x29, #0
    mov x30, #0
    mov x0, x19
    bl direct_main          // never returns
5:  wfi
    b 5b

// Says so on QEMU virt's PL011 (its data register; the C code is linked for elsewhere and
// QEMU takes bytes from a UART no one has enabled), then stops.
wrong_place:
    adr x1, wrong_place_text
    mov x2, #0x09000000
3:  ldrb w3, [x1], #1
    cbz w3, 4f
    str w3, [x2]
    b 3b
4:  wfi
    b 4b
wrong_place_text:
    .asciz "FATAL: the Image was loaded at another address than 0x40200000, the one it is linked for\r\n"

    .section .bss.boot_stack, "aw", %nobits
    .p2align 12
boot_l0:
    .space 4096
boot_l1:
    .space 4096
boot_stack:
    .space BOOT_STACK_BYTES
boot_stack_top:
