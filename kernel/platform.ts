// The platform interface: the only way AssemblyScript reaches hardware.
// boot/ implements these in C on bare metal; tools/lib/wasmhost.mjs on the host.
// See docs/DESIGN.md for the contract of each import.

@external("platform", "uart_write") export declare function uart_write(ptr: usize, len: usize): void;
@external("platform", "uart_read") export declare function uart_read(): i32;
@external("platform", "time_ns") export declare function time_ns(): u64;
@external("platform", "power_off") export declare function power_off(): void;
@external("platform", "reset") export declare function reset(): void;
/** An unexpected CPU exception on purpose (brk): the shim reports it with a backtrace and halts. */
@external("platform", "cpu_exception") export declare function cpu_exception(): void;
@external("platform", "mmio_read32") export declare function mmio_read32(addr: u64): u32;
@external("platform", "mmio_write32") export declare function mmio_write32(addr: u64, value: u32): void;
@external("platform", "mem_phys_base") export declare function mem_phys_base(): u64;
@external("platform", "barrier") export declare function barrier(): void;
@external("platform", "wait_for_interrupt") export declare function wait_for_interrupt(): void;
@external("platform", "mem_limit") export declare function mem_limit(): u64;
@external("platform", "cpu_state") export declare function cpu_state(i: u32): i32;
/** Whether the CPU has Arm's integer dot product (SDOT, FEAT_DotProd). */
@external("platform", "cpu_has_dot") export declare function cpu_has_dot(): bool;
/** c + in each i32 lane l the sum of the products of a's and b's int8 lanes 4l..4l+3 (one SDOT;
 *  only where cpu_has_dot() is true). Exists in the kernel's module alone: llm/quant/common.ts. */
@external("platform", "i32x4_dot_i8x16") export declare function i32x4_dot_i8x16(a: v128, b: v128, c: v128): v128;
/** Copies the device tree the firmware or loader handed over into [dst, dst+max) when it fits; its size (0: none). */
@external("platform", "device_tree") export declare function device_tree(dst: usize, max: u32): u32;
@external("platform", "sha256_blocks") export declare function sha256_blocks(state: usize, data: usize, blocks: u32): bool;
// Cores (kernel/parallel.ts): the boot core starts workers and posts jobs; the atomics act on
// aligned 32-bit words of linear memory (load: acquire, store: release, add: acquire-release,
// returns the old value).
@external("platform", "core_start") export declare function core_start(i: u32): bool;
@external("platform", "core_wake") export declare function core_wake(i: u32): void;
@external("platform", "core_idle") export declare function core_idle(): void;
@external("platform", "core_check") export declare function core_check(raise: u32): void;
@external("platform", "atomic_load32") export declare function atomic_load32(ptr: usize): u32;
@external("platform", "atomic_store32") export declare function atomic_store32(ptr: usize, value: u32): void;
@external("platform", "atomic_add32") export declare function atomic_add32(ptr: usize, delta: u32): u32;
