// EL2_TO_EL1 (assembly): a core entered at EL2 (a hypervisor-capable machine: QEMU's
// virtualization=on, U-Boot on most boards) goes on at EL1, where SIS runs, with nothing
// trapped to EL2: AArch64 at EL1, the counter and timers, FP/SIMD, and on GICv3 the
// system-register CPU interface. At EL1 already it does nothing. x0 is kept; x1 and x2 are used.
#pragma once

#define ICC_SRE_EL2 S3_4_C12_C9_5

.macro EL2_TO_EL1
    mrs x1, CurrentEL
    cmp x1, #(2 << 2)
    b.ne 9f
    mov x1, #(1 << 31)          // HCR_EL2: RW (EL1 is AArch64), nothing else trapped or routed
    msr hcr_el2, x1
    mrs x1, cnthctl_el2
    orr x1, x1, #3              // EL1PCTEN, EL1PCEN: the physical counter and timer
    msr cnthctl_el2, x1
    msr cntvoff_el2, xzr        // the virtual counter reads as the physical one
    mov x1, #0x33ff             // CPTR_EL2: its RES1 bits, TFP clear (FP/SIMD not trapped)
    msr cptr_el2, x1
    msr hstr_el2, xzr
    mrs x1, midr_el1
    msr vpidr_el2, x1
    mrs x1, mpidr_el1
    msr vmpidr_el2, x1
    mrs x1, id_aa64pfr0_el1
    ubfx x1, x1, #24, #4        // GIC: the system-register interface is there
    cbz x1, 8f
    mrs x1, ICC_SRE_EL2
    mov x2, #0x9                // SRE, Enable: EL1 may use ICC_*_EL1
    orr x1, x1, x2
    msr ICC_SRE_EL2, x1
    isb
8:  ldr x1, =0x30d00800         // SCTLR_EL1's architectural reset value: MMU and caches off
    msr sctlr_el1, x1
    mov x1, #0x3c5              // SPSR: EL1h, D, A, I, F masked
    msr spsr_el2, x1
    adr x1, 9f
    msr elr_el2, x1
    eret
9:
.endm
