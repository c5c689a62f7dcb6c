// The arm64 Linux Image header (Documentation/arch/arm64/booting.rst) and the first
// instructions of a direct boot: a loader (QEMU's -kernel) copies build/Image to RAM at a
// 2 MiB boundary plus text_offset and jumps to its first byte at EL1 or EL2, MMU and
// caches off, x0 = the device tree's physical address.
//
// The Image is linked to run where QEMU virt puts it (image.ld: RAM base 0x40000000 +
// text_offset) and is not position independent: the entry checks that it runs at the
// address it was linked for. The EL1 check is boot_kernel's (start.c), shared with UEFI.

#define BOOT_STACK_BYTES (64 * 1024)

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
2:  ldr x1, =boot_stack_top
    mov sp, x1
    mov x29, #0
    mov x30, #0
    mov x0, x19
    bl direct_main          // never returns

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
    .p2align 4
boot_stack:
    .space BOOT_STACK_BYTES
boot_stack_top:
