/* Backtraces (backtrace.h). Every function with calls keeps a frame record {caller's x29,
   return address} at x29 (the Makefile keeps frame pointers), so the chain from x29 names
   the callers. The names come from ksyms (generated after a first link, see
   tools/lib/ksyms.mjs): offsets from sis_exception, sorted, so that they hold wherever the
   image was loaded. The lowered kernel's functions carry their AssemblyScript names
   (kernel/console/println); most of the kernel is inlined into fewer, larger functions by
   the link, so a frame names the outermost function the code was inlined into. The EFI
   build's compiler (a Windows target) stores the pair the other way round, {x30, x29}:
   the record is read either way, the return address being the one in the code. */
#include "backtrace.h"
#include "hw.h"

#define MAX_FRAMES 32

extern const uint64_t ksyms_count;
extern const int64_t ksyms_offsets[];
extern const uint32_t ksyms_name_at[];
extern const char ksyms_names[];
void sis_exception(uint64_t* regs, uint64_t index);

static uint64_t stack_range[4];

void backtrace_stacks(uint64_t boot_lo, uint64_t boot_hi, uint64_t others_lo, uint64_t others_hi) {
  stack_range[0] = boot_lo;
  stack_range[1] = boot_hi;
  stack_range[2] = others_lo;
  stack_range[3] = others_hi;
}

/* A frame record may be read at fp: on a stack, aligned. */
static int frame_ok(uint64_t fp) {
  if (fp & 7) return 0;
  for (int i = 0; i < 4; i += 2)
    if (fp >= stack_range[i] && fp + 16 <= stack_range[i + 1]) return 1;
  return 0;
}

/* The function holding pc and pc's offset in it; 0 when pc lies outside the image's code. */
static const char* symbol(uint64_t pc, uint64_t* offset) {
  const int64_t off = (int64_t)(pc - (uint64_t)(uintptr_t)sis_exception);
  uint64_t lo = 0, hi = ksyms_count; /* the last entry <= off */
  if (hi == 0 || off < ksyms_offsets[0]) return 0;
  while (hi - lo > 1) {
    uint64_t mid = (lo + hi) / 2;
    if (ksyms_offsets[mid] <= off) lo = mid; else hi = mid;
  }
  if (lo + 1 == ksyms_count && off - ksyms_offsets[lo] > (1 << 20)) return 0; /* past the code */
  *offset = (uint64_t)(off - ksyms_offsets[lo]);
  return ksyms_names + ksyms_name_at[lo];
}

static void frame(uint32_t i, uint64_t pc) {
  uint64_t offset = 0;
  const char* name = symbol(pc, &offset);
  uart_puts("  #");
  uart_put_dec(i);
  uart_puts(i < 10 ? "  " : " ");
  uart_put_hex(pc);
  if (name) { uart_puts("  "); uart_puts(name); uart_puts("+"); uart_put_hex(offset); }
  uart_puts("\n");
}

void backtrace_print(uint64_t pc, uint64_t fp) {
  uart_puts("Backtrace:\n");
  frame(0, pc);
  for (uint32_t i = 1; i < MAX_FRAMES && frame_ok(fp); i++) {
    const uint64_t* record = (const uint64_t*)(uintptr_t)fp;
    uint64_t next = record[0], ret = record[1], offset;
    if (!symbol(ret - 4, &offset) && symbol(next - 4, &offset)) { next = record[1]; ret = record[0]; }
    if (!ret) break;
    frame(i, ret - 4); /* the call, not the instruction after it */
    if (next <= fp) break; /* frames go up the stack */
    fp = next;
  }
}
