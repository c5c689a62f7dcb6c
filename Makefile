# SIS: `make run` boots the kernel in QEMU, `make test` runs every test.
# Both start with tools/setup.sh, which installs whatever is missing.

CPU ?= neoverse-n1
SMP ?= 2
MEM ?= 4G
MODELS ?= models
DISK ?=
GIC ?= 2
# direct: QEMU starts build/Image itself (-kernel), with no firmware; uefi: the firmware
# boots build/BOOTAA64.EFI from an ESP image. SIS_FIRMWARE sets it for the tests too.
FIRMWARE ?= $(or $(SIS_FIRMWARE),direct)

BUILD := build
TC_ENV := .cache/toolchain/env.mk
-include $(TC_ENV)
# Node.js 20 where the system's is older (Debian 12): tools/setup.sh puts it here.
export PATH := $(CURDIR)/.cache/toolchain/node/bin:$(PATH)

KERNEL_ENTRY ?= kernel/main.ts
AS_SOURCES := $(shell find kernel shell llm -name '*.ts' 2>/dev/null) asconfig.json
BOOT_C := $(wildcard boot/*.c)
BOOT_S := $(wildcard boot/*.S)
# Each way in has its own entry; everything else in boot/ is shared.
EFI_ONLY := efi_main
IMAGE_ONLY := direct_main image_head
BOOT_H := $(wildcard boot/*.h boot/include/*.h boot/include/*/*/*.h)

# The shim and the lowered kernel are PE/COFF objects for UEFI; _WIN32/_MSC_VER are
# undefined so that wasm2c's headers take their plain C11-less, thread-free paths.
CLANG_TARGET := --target=aarch64-unknown-windows -U_WIN32 -U_WIN64 -U_MSC_VER
# build/Image is an ELF link (ld.lld, then llvm-objcopy -O binary): the same sources
# compiled again for a bare-metal ELF target, in $(BUILD)/obj-image.
IMAGE_TARGET := --target=aarch64-none-elf
# Linear-memory accesses are checked by guard pages, not compare-and-branch: the shim's
# page tables (boot/mmu.c) map the WebAssembly window only up to the memory's size.
# WASM_RT_USE_MMAP=1 only lets wasm-rt.h accept that; the runtime is boot/runtime.c,
# which has no mmap. memory.fill/copy/init keep their explicit range checks.
# -flto: the linker (lld-link, ld.lld) inlines the shim's small imports into the lowered kernel (platform.f32x4_fma
# is one fmla, called in the engine's innermost loops).
# Frame records in every function that calls (the default on AArch64, said here because the
# shim's backtraces walk them: boot/backtrace.c).
COMMON_CFLAGS := -std=gnu99 -O2 -flto -march=armv8-a -ffreestanding -fno-math-errno -fno-stack-protector \
  -fno-omit-frame-pointer -momit-leaf-frame-pointer \
  -fno-asynchronous-unwind-tables -nostdinc \
  -isystem boot/include -isystem $(shell clang -print-resource-dir 2>/dev/null)/include \
  -isystem $(WASM_RT_INCLUDE) -isystem $(SIMDE_INCLUDE) -Iboot -I$(BUILD)/kernel \
  -DWASM_RT_USE_MMAP=1 -DWASM_RT_MEMCHECK_GUARD_PAGES=1 -DWASM_RT_MEMCHECK_BOUNDS_CHECK=0 \
  -DWASM_RT_STACK_DEPTH_COUNT=1 -DWASM_RT_MAX_CALL_STACK_DEPTH=20000 \
  -Wall -Wno-unused-function -Wno-unused-variable -Wno-unused-but-set-variable
CFLAGS := $(CLANG_TARGET) -mno-stack-arg-probe $(COMMON_CFLAGS)
IMAGE_CFLAGS := $(IMAGE_TARGET) $(COMMON_CFLAGS)

.PHONY: all setup kernel image run debug gdb test test-host test-e2e clean fuzz fuzz-merge

all: kernel

setup:
	@tools/setup.sh

$(TC_ENV):
	@tools/setup.sh

kernel: $(if $(filter direct,$(FIRMWARE)),$(BUILD)/Image,$(BUILD)/esp.img)
image: $(BUILD)/Image

# --debug only adds the name section (the code is the same bytes): function names for the
# shim's backtraces and for gdb (make debug). --native-dot: the shim's SDOT (llm/quant/common.ts).
$(BUILD)/kernel.wasm: $(AS_SOURCES) tools/lib/asbuild.mjs Makefile | $(TC_ENV)
	@mkdir -p $(BUILD)
	node tools/lib/asbuild.mjs $(KERNEL_ENTRY) $@ --debug --native-dot
	@touch $@

# wasm2c cannot translate relaxed SIMD: the engine's fused multiply-adds become shim calls.
$(BUILD)/kernel.lowered.wasm: $(BUILD)/kernel.wasm tools/lib/lower-fma.mjs
	node tools/lib/lower-fma.mjs $< $@

# wasm2c follows every load with an empty asm statement that takes the loaded value
# (FORCE_READ), so that a load whose value is unused still faults on a guard page. clang must
# assume such a statement writes memory: it then reloads the memory's base after every load
# and never shares or hoists one (TinyLlama-shaped prefill in QEMU 10% slower). Only a load
# the program never uses could trap differently without them, so the kernel's C drops them;
# the build stops if this wasm2c writes them in a form the edit does not recognise.
$(BUILD)/kernel/kernel.c: $(BUILD)/kernel.lowered.wasm | $(TC_ENV)
	@mkdir -p $(BUILD)/kernel
	$(WASM2C) -n kernel $< -o $@
	sed -i -E 's/^(#define (SIMD_)?FORCE_READ(_INT|_FLOAT)?\(var\)) __asm__\(.*$$/\1/' $@
	@if grep -q '__asm__' $@; then echo "Makefile: $@ still has an asm statement (FORCE_READ in a new form?)" >&2; rm -f $@; exit 1; fi

# boot/call_depth.h: each core's call depth next to its own instance (boot/runtime.c).
$(BUILD)/obj/kernel.o: $(BUILD)/kernel/kernel.c $(BOOT_H) Makefile
	@mkdir -p $(BUILD)/obj
	clang $(CFLAGS) -include boot/call_depth.h -Wno-everything -c $< -o $@

$(BUILD)/obj/%.o: boot/%.c $(BOOT_H) $(BUILD)/kernel/kernel.c Makefile
	@mkdir -p $(BUILD)/obj
	clang $(CFLAGS) -c $< -o $@

# The SHA-2 instructions are used only after the CPU reports them (ID_AA64ISAR0_EL1).
$(BUILD)/obj/sha256_ce.o: CFLAGS += -march=armv8-a+sha2
$(BUILD)/obj-image/sha256_ce.o: IMAGE_CFLAGS += -march=armv8-a+sha2

$(BUILD)/obj/%.o: boot/%.S $(BOOT_H) Makefile
	@mkdir -p $(BUILD)/obj
	clang $(CLANG_TARGET) -c $< -o $@

$(BUILD)/obj-image/kernel.o: $(BUILD)/kernel/kernel.c $(BOOT_H) Makefile
	@mkdir -p $(BUILD)/obj-image
	clang $(IMAGE_CFLAGS) -include boot/call_depth.h -Wno-everything -c $< -o $@

$(BUILD)/obj-image/%.o: boot/%.c $(BOOT_H) $(BUILD)/kernel/kernel.c Makefile
	@mkdir -p $(BUILD)/obj-image
	clang $(IMAGE_CFLAGS) -c $< -o $@

$(BUILD)/obj-image/%.o: boot/%.S $(BOOT_H) Makefile
	@mkdir -p $(BUILD)/obj-image
	clang $(IMAGE_TARGET) -c $< -o $@

BOOT_NAMES := $(patsubst boot/%.c,%,$(BOOT_C)) $(patsubst boot/%.S,%,$(BOOT_S))
OBJS := $(BUILD)/obj/kernel.o $(patsubst %,$(BUILD)/obj/%.o,$(filter-out $(IMAGE_ONLY),$(BOOT_NAMES)))
IMAGE_OBJS := $(BUILD)/obj-image/kernel.o $(patsubst %,$(BUILD)/obj-image/%.o,$(filter-out $(EFI_ONLY),$(BOOT_NAMES)))

# -enable-misched=false: LLVM's machine scheduler lengthens register lifetimes in the engine's
# long unrolled kernels and spills vectors to the stack (156 spills in the Q4_0 tile instead of
# 28), which costs far more under QEMU's TCG, where every memory access is a software TLB
# lookup, than any pipeline stall it avoids (TinyLlama-shape prefill in QEMU ~20% faster).
#
# Both images are linked twice, as Linux links kallsyms: first with an empty symbol table,
# then with the table of that first link's functions (tools/lib/ksyms.mjs; the shim's
# backtraces read it). The table follows the code, so no function moves (--same checks it).
KSYMS := node tools/lib/ksyms.mjs
LLD_LINK := lld-link -machine:arm64 -subsystem:efi_application -entry:efi_main -nodefaultlib -mllvm:-enable-misched=false -debug:symtab
$(BUILD)/BOOTAA64.EFI: $(OBJS) tools/lib/ksyms.mjs
	$(KSYMS) --empty $(BUILD)/obj/ksyms-empty.S --coff
	clang $(CLANG_TARGET) -c $(BUILD)/obj/ksyms-empty.S -o $(BUILD)/obj/ksyms-empty.o
	$(LLD_LINK) -out:$(BUILD)/BOOTAA64.pass1.efi $(OBJS) $(BUILD)/obj/ksyms-empty.o
	$(KSYMS) $(BUILD)/BOOTAA64.pass1.efi $(BUILD)/obj/ksyms.S --coff
	clang $(CLANG_TARGET) -c $(BUILD)/obj/ksyms.S -o $(BUILD)/obj/ksyms.o
	$(LLD_LINK) -out:$@ $(OBJS) $(BUILD)/obj/ksyms.o
	$(KSYMS) --same $(BUILD)/BOOTAA64.pass1.efi $@

# The Linux-style arm64 Image (boot/image_head.S, boot/image.ld) that QEMU starts with
# -kernel: the ELF link (build/Image.elf, with symbols and debug information: make debug),
# then its loaded bytes from the header on.
LD_IMAGE := ld.lld -T boot/image.ld -nostdlib -static --gc-sections -mllvm -enable-misched=false
$(BUILD)/Image: $(IMAGE_OBJS) boot/image.ld tools/lib/ksyms.mjs
	$(KSYMS) --empty $(BUILD)/obj-image/ksyms-empty.S
	clang $(IMAGE_TARGET) -c $(BUILD)/obj-image/ksyms-empty.S -o $(BUILD)/obj-image/ksyms-empty.o
	$(LD_IMAGE) -o $(BUILD)/Image.pass1.elf $(IMAGE_OBJS) $(BUILD)/obj-image/ksyms-empty.o
	$(KSYMS) $(BUILD)/Image.pass1.elf $(BUILD)/obj-image/ksyms.S
	clang $(IMAGE_TARGET) -c $(BUILD)/obj-image/ksyms.S -o $(BUILD)/obj-image/ksyms.o
	$(LD_IMAGE) -o $(BUILD)/Image.elf $(IMAGE_OBJS) $(BUILD)/obj-image/ksyms.o
	$(KSYMS) --same $(BUILD)/Image.pass1.elf $(BUILD)/Image.elf
	llvm-objcopy -O binary $(BUILD)/Image.elf $@

$(BUILD)/esp.img: $(BUILD)/BOOTAA64.EFI
	rm -f $@.tmp
	mformat -i $@.tmp -C -T 65536 -h 64 -s 32 -v SIS ::
	mmd -i $@.tmp ::/EFI ::/EFI/BOOT
	mcopy -i $@.tmp $< ::/EFI/BOOT/BOOTAA64.EFI
	mv $@.tmp $@

run: setup
	@$(MAKE) --no-print-directory kernel
	node tools/run.mjs --firmware $(FIRMWARE) --cpu $(CPU) --smp $(SMP) --mem $(MEM) --gic $(GIC) $(if $(DISK),--disk $(DISK),--models $(MODELS)) $(if $(LOAD),--load $(LOAD))

# make debug: make run's machine on the direct path, stopped at its first instruction until
# gdb attaches: `make gdb` in another terminal (gdb-multiarch, build/Image.elf's symbols).
GDB_PORT ?= 1234
debug: setup
	@$(MAKE) --no-print-directory image
	node tools/run.mjs --firmware direct --gdb $(GDB_PORT) --cpu $(CPU) --smp $(SMP) --mem $(MEM) --gic $(GIC) $(if $(DISK),--disk $(DISK),--models $(MODELS)) $(if $(LOAD),--load $(LOAD))

gdb: setup
	gdb-multiarch -q -x tools/gdb/sis.gdb -ex "target remote localhost:$(GDB_PORT)" $(BUILD)/Image.elf

# both ways in are tested: the direct Image (the default) and the EFI image (tests/e2e/boot)
test: setup
	@$(MAKE) --no-print-directory kernel image
	npx vitest run

# ---- fuzzing (docs/RELIABILITY.md) -------------------------------------------------------
# `make fuzz [TARGET=gguf] [SECONDS=n]` (n: CPU seconds per target): libFuzzer over tests/wasm/fuzz.ts, the kernel's own
# parsers as wasm2c's C, built for this host with AddressSanitizer and UBSan around wabt's host
# runtime (not boot/runtime.c). `make fuzz-merge` minimizes what the runs found into tests/fuzz/.
FUZZ_TARGETS := gguf ext4 tokenizer_spm tokenizer_bpe shell chat_template gbnf json_schema
TARGET ?= $(FUZZ_TARGETS)
SECONDS ?= 10
FUZZ := $(BUILD)/fuzz
# wabt's host runtime sources sit beside the headers setup linked (usr/src/wasm2c of the same wabt)
WASM_RT_SRC = $(abspath $(dir $(realpath $(WASM_RT_INCLUDE)/wasm-rt.h))../src/wasm2c)
# Guard pages, not bounds checks (the harness turns a fault behind linear memory into a trap),
# and the kernel's call-depth limit; every trap goes to the harness's fuzz_trap, which aborts.
# UBSan without pointer-overflow: every linear-memory access is data + a checked offset, which
# cannot wrap, and checking each one made the module nearly twice as slow. Without alignment:
# linear memory is read and written through memcpy (any alignment is defined), so its checks
# only test the instance's own fields, aligned by the compiler; libFuzzer traced each one as a
# comparison, a quarter of all the time (a corpus replay ran 1.33 times faster without them).
FUZZ_CFLAGS = -g -O2 -fsanitize=address,undefined -fno-sanitize=pointer-overflow,alignment -fno-sanitize-recover=all \
  -I$(FUZZ) -isystem $(WASM_RT_INCLUDE) \
  -DWASM_RT_USE_MMAP=1 -DWASM_RT_MEMCHECK_GUARD_PAGES=1 -DWASM_RT_SKIP_SIGNAL_RECOVERY=1 \
  -DWASM_RT_STACK_DEPTH_COUNT=1 -DWASM_RT_MAX_CALL_STACK_DEPTH=20000 -DWASM_RT_TRAP_HANDLER=fuzz_trap
FUZZ_RT_OBJS := $(FUZZ)/obj/wasm-rt-impl.o $(FUZZ)/obj/wasm-rt-mem-impl.o
.SECONDARY: $(FUZZ_RT_OBJS)
# the module's export each target calls (fuzz_<name>), and the vocabulary it loads first
FUZZ_EXPORT = $(if $(filter tokenizer_%,$*),tokenizer,$*)
FUZZ_VOCAB_tokenizer_spm := $(CURDIR)/$(FUZZ)/seeds/vocab-spm.gguf
FUZZ_VOCAB_gbnf := $(CURDIR)/$(FUZZ)/seeds/vocab-spm-512.gguf
FUZZ_VOCAB_tokenizer_bpe := $(abspath ../shared/vocab/ggml-vocab-llama-bpe.gguf)

FUZZ_CHECK = $(if $(filter-out $(FUZZ_TARGETS),$(TARGET)),$(error TARGET: no fuzz target $(filter-out $(FUZZ_TARGETS),$(TARGET)) (there are: $(FUZZ_TARGETS))))

fuzz: setup
	$(FUZZ_CHECK)
	@$(MAKE) --no-print-directory $(patsubst %,$(FUZZ)/bin/%,$(TARGET)) $(FUZZ)/seeds/.stamp
	tools/fuzz/fuzz.sh run $(SECONDS) $(TARGET)

fuzz-merge: setup
	$(FUZZ_CHECK)
	@$(MAKE) --no-print-directory $(patsubst %,$(FUZZ)/bin/%,$(TARGET)) $(FUZZ)/seeds/.stamp
	tools/fuzz/fuzz.sh merge 0 $(TARGET)

$(FUZZ)/fuzz.wasm: $(AS_SOURCES) tests/wasm/fuzz.ts tools/lib/asbuild.mjs | $(TC_ENV)
	@mkdir -p $(FUZZ)
	node tools/lib/asbuild.mjs tests/wasm/fuzz.ts $@
	@touch $@

$(FUZZ)/fuzz.lowered.wasm: $(FUZZ)/fuzz.wasm tools/lib/lower-fma.mjs
	node tools/lib/lower-fma.mjs $< $@

$(FUZZ)/fuzz.c: $(FUZZ)/fuzz.lowered.wasm | $(TC_ENV)
	$(WASM2C) -n fuzz $< -o $@

# tools/fuzz/call_depth.h: the call-depth check as a read before a guard page, not a compare
$(FUZZ)/obj/fuzz.o: $(FUZZ)/fuzz.c tools/fuzz/call_depth.h Makefile
	@mkdir -p $(FUZZ)/obj
	nice -n 19 clang $(FUZZ_CFLAGS) -include tools/fuzz/call_depth.h -fsanitize=fuzzer-no-link -Wno-everything -c $< -o $@

$(FUZZ)/obj/%.o: $(WASM_RT_SRC)/%.c Makefile | $(TC_ENV)
	@mkdir -p $(FUZZ)/obj
	nice -n 19 clang $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ)/bin/%: tools/fuzz/harness.c $(FUZZ)/obj/fuzz.o $(FUZZ_RT_OBJS) Makefile
	@mkdir -p $(FUZZ)/bin
	nice -n 19 clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -DFUZZ_EXPORT=$(FUZZ_EXPORT) \
	  $(if $(FUZZ_VOCAB_$*),-DFUZZ_VOCAB='"$(FUZZ_VOCAB_$*)"') $< $(FUZZ)/obj/fuzz.o $(FUZZ_RT_OBJS) -lm -o $@

$(FUZZ)/seeds/.stamp: tools/fuzz/seeds.mjs
	nice -n 19 node tools/fuzz/seeds.mjs $(FUZZ)/seeds
	@touch $@

clean:
	rm -rf $(BUILD)
