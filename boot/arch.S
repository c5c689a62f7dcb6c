// AArch64 pieces that C cannot express: setjmp/longjmp for wasm traps, the exception
// vector table, the switch onto the kernel's own stack and onto its own page tables.

#include "el2.h"

    .text

// int sis_setjmp(jmp_buf b): saves callee-saved state (x19-x30, sp, d8-d15).
    .globl sis_setjmp
    .p2align 2
sis_setjmp:
    stp x19, x20, [x0, #0]
    stp x21, x22, [x0, #16]
    stp x23, x24, [x0, #32]
    stp x25, x26, [x0, #48]
    stp x27, x28, [x0, #64]
    stp x29, x30, [x0, #80]
    mov x2, sp
    str x2, [x0, #96]
    stp d8, d9, [x0, #104]
    stp d10, d11, [x0, #120]
    stp d12, d13, [x0, #136]
    stp d14, d15, [x0, #152]
    mov w0, #0
    ret

// void sis_longjmp(jmp_buf b, int v): returns v (1 if v == 0) from the matching setjmp.
    .globl sis_longjmp
    .p2align 2
sis_longjmp:
    ldp x19, x20, [x0, #0]
    ldp x21, x22, [x0, #16]
    ldp x23, x24, [x0, #32]
    ldp x25, x26, [x0, #48]
    ldp x27, x28, [x0, #64]
    ldp x29, x30, [x0, #80]
    ldr x2, [x0, #96]
    mov sp, x2
    ldp d8, d9, [x0, #104]
    ldp d10, d11, [x0, #120]
    ldp d12, d13, [x0, #136]
    ldp d14, d15, [x0, #152]
    cmp w1, #0
    csinc w0, w1, wzr, ne
    ret

// void call_on_stack(void (*fn)(void), void* stack_top): never returns.
    .globl call_on_stack
    .p2align 2
call_on_stack:
    mov sp, x1
    mov x29, #0
    mov x30, #0
    br x0

// Translation-table switch (mmu.c): void mmu_switch(mair, tcr, ttbr0, sctlr).
// The MMU is off for the few instructions in between, which make no data access: nothing
// is ever translated with a mix of the firmware's and our MAIR/TCR/TTBR0, and the TLB is
// emptied of the firmware's entries before translation resumes. The code is identity
// mapped in both regimes, so execution carries on at the next instruction.
    .globl mmu_switch
    .p2align 2
mmu_switch:
    dsb ish                 // our table writes are complete before any walk
    mrs x4, sctlr_el1
    bic x4, x4, #1          // SCTLR_EL1.M = 0
    msr sctlr_el1, x4
    isb
    msr mair_el1, x0
    msr tcr_el1, x1
    msr ttbr0_el1, x2
    isb
    tlbi vmalle1
    dsb ish
    isb
    msr sctlr_el1, x3       // MMU, caches on, with our tables
    isb
    ret

// A secondary core's first instructions (smp.c): PSCI CPU_ON starts it here at EL1 (or at
// EL2, as the boot core was: then it drops to EL1 first, el2.h), MMU
// and caches off, x0 = its smp_params block (mair 0, tcr 8, ttbr0 16, sctlr 24, vbar 32,
// stack_top 40, index 48). It takes the boot core's translation registers (the same tables),
// enables FP/SIMD, vectors and the MMU, then runs smp_secondary_main(index) on its stack.
    .globl smp_secondary_entry
    .p2align 2
smp_secondary_entry:
    EL2_TO_EL1
    msr daifset, #0xf
    mov x19, x0
    mov x1, #(3 << 20)      // CPACR_EL1.FPEN: FP/SIMD without traps
    msr cpacr_el1, x1
    ldr x1, [x19, #32]
    msr vbar_el1, x1
    ldr x1, [x19, #0]
    msr mair_el1, x1
    ldr x1, [x19, #8]
    msr tcr_el1, x1
    ldr x1, [x19, #16]
    msr ttbr0_el1, x1
    isb
    tlbi vmalle1
    dsb ish
    isb
    ldr x1, [x19, #24]
    msr sctlr_el1, x1       // MMU and caches on, with the kernel's tables
    isb
    ldr x1, [x19, #40]
    mov sp, x1
    mov x29, #0
    mov x30, #0
    ldr x0, [x19, #48]
    bl smp_secondary_main
1:  wfi
    b 1b

// Exception vectors: every entry saves x0-x30 and calls sis_exception(frame, index).
// sis_exception reports and halts, except for an out-of-bounds WebAssembly access (a
// fault in the guard part of the WebAssembly window): then it points ELR_EL1 at the
// trap routine and returns, and we resume there.
    .macro VECTOR index
    .p2align 7
    sub sp, sp, #256
    stp x0, x1, [sp, #0]
    mov x1, #\index
    b exception_entry
    .endm

    .globl exception_vectors
    .p2align 11
exception_vectors:
    VECTOR 0
    VECTOR 1
    VECTOR 2
    VECTOR 3
    VECTOR 4
    VECTOR 5
    VECTOR 6
    VECTOR 7
    VECTOR 8
    VECTOR 9
    VECTOR 10
    VECTOR 11
    VECTOR 12
    VECTOR 13
    VECTOR 14
    VECTOR 15

    .p2align 2
exception_entry:
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    str x30, [sp, #240]
    mov x0, sp
    bl sis_exception
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldr x30, [sp, #240]
    ldp x0, x1, [sp, #0]
    add sp, sp, #256
    eret
