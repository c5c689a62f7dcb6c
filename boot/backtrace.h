/* Backtraces for unexpected CPU exceptions: the frame-pointer chain, each return address
   named from the image's own symbol table (tools/lib/ksyms.mjs). */
#pragma once
#include <stdint.h>

/* The stacks a frame record may be on: the boot core's and the other cores'. */
void backtrace_stacks(uint64_t boot_lo, uint64_t boot_hi, uint64_t others_lo, uint64_t others_hi);
/* Prints pc, then the callers along the frame records from fp (x29). */
void backtrace_print(uint64_t pc, uint64_t fp);
