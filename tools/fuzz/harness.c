/* libFuzzer harness over the kernel's own parsers: tests/wasm/fuzz.ts, compiled by asc,
 * lowered by wasm2c and built for the host with AddressSanitizer and UBSan around wabt's
 * host runtime (wasm-rt-impl.c; the kernel's freestanding one, boot/runtime.c, is not for
 * a host). One binary per target: FUZZ_EXPORT names the module's export, FUZZ_VOCAB (when
 * defined) the vocabulary GGUF that setup loads first.
 *
 * The contract under test is "an error value, never a trap, never a hang": any WebAssembly
 * trap (an AssemblyScript abort, an out-of-bounds access, a division by zero, unreachable,
 * call stack exhaustion) aborts, and libFuzzer reports it as a crash with the input. Call
 * stack exhaustion is found by a read before a guard page (tools/fuzz/call_depth.h).
 *
 * Out-of-bounds accesses fault in the guard pages wasm2c's runtime reserves behind linear
 * memory (as in the kernel, whose window ends in unmapped pages) and on_segv makes them traps:
 * explicit bounds checks would be a compare before every access, each one traced by
 * libFuzzer's comparison hooks, which then took half of all the time.
 *
 * Between inputs the module is put back as it was after setup, so no state leaks from one
 * input to the next and every crash reproduces from its input alone: the globals (the
 * instance struct) from a copy, linear memory from a snapshot. Only the pages an input wrote
 * are copied back: the snapshot's range is kept read-only, and the first write to a page
 * faults into on_segv, which notes the page and makes it writable (a tokenizer's memory is
 * ~40 MiB after its vocabulary is built, of which an input writes a few hundred KiB). Pages
 * grown since the snapshot are dropped back to zeros. Far cheaper than instantiating again,
 * which would also build the vocabulary again.
 *
 * A page written once is usually written by every input (the allocator's lists, the stack):
 * it stays writable ("hot") and is copied back after every input, which costs a tenth of a
 * fault and an mprotect on a virtual machine. Every HOT_EPOCH inputs the hot pages are made
 * read-only again, so a page one input happened to write is not copied for ever; HOT_MAX
 * caps the copying an input pays for.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>

#include "fuzz.h"
#include "simde/wasm/relaxed-simd.h"

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define EXPORT CAT(w2c_fuzz_fuzz_, FUZZ_EXPORT)

/* Linear memory may grow to this many 64 KiB pages (1 GiB): an input of at most max_len
 * bytes that needs more is a finding (an allocation sized by a field of the input). */
#define MAX_PAGES 16384

struct w2c_env { int unused; };
struct w2c_platform { int unused; };
static struct w2c_env env;
static struct w2c_platform platform;
static w2c_fuzz inst, saved;
static uint8_t* saved_memory;
static uint64_t saved_size;
static int verbose;

/* An AssemblyScript string (UTF-16, its byte length in the word before it), as ASCII. */
static void print_as_string(FILE* f, u32 ptr) {
  const uint8_t* m = inst.w2c_memory.data;
  if (ptr < 4 || ptr > inst.w2c_memory.size) return;
  u32 bytes;
  memcpy(&bytes, m + ptr - 4, 4);
  for (u32 i = 0; i + 1 < bytes && ptr + i + 1 < inst.w2c_memory.size; i += 2) {
    u32 c = m[ptr + i] | (u32)m[ptr + i + 1] << 8;
    fputc(c < 0x80 ? (int)c : '?', f);
  }
}

/* The call-depth guard of tools/fuzz/call_depth.h: fuzz_depth_guard[d] is readable for the
 * depths d below WASM_RT_MAX_CALL_STACK_DEPTH, and the byte for the limit itself is the first
 * of depth_guard_page, unmapped; on_segv makes its fault the call-stack-exhaustion trap. */
const volatile uint8_t* fuzz_depth_guard;
static uint8_t* depth_guard_page;
#define GUARD_PAGE 4096

static void make_depth_guard(void) {
  size_t readable = ((size_t)WASM_RT_MAX_CALL_STACK_DEPTH + GUARD_PAGE - 1) / GUARD_PAGE * GUARD_PAGE;
  uint8_t* m = mmap(NULL, readable + GUARD_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED || mprotect(m + readable, GUARD_PAGE, PROT_NONE) != 0) { perror("fuzz: depth guard"); exit(1); }
  depth_guard_page = m + readable;
  fuzz_depth_guard = depth_guard_page - WASM_RT_MAX_CALL_STACK_DEPTH;
}

void fuzz_trap(wasm_rt_trap_t code) {
  fprintf(stderr, "fuzz: WebAssembly trap: %s\n", wasm_rt_strerror(code));
  abort();
}

void w2c_env_abort(struct w2c_env* e, u32 msg, u32 file, u32 line, u32 col) {
  (void)e;
  fprintf(stderr, "fuzz: AssemblyScript abort: ");
  print_as_string(stderr, msg);
  fprintf(stderr, " at ");
  print_as_string(stderr, file);
  fprintf(stderr, ":%u:%u\n", line, col);
  abort();
}

void w2c_platform_uart_write(struct w2c_platform* p, u32 ptr, u32 len) {
  (void)p;
  if (verbose && (uint64_t)ptr + len <= inst.w2c_memory.size) fwrite(inst.w2c_memory.data + ptr, 1, len, stderr);
}

v128 w2c_platform_f32x4_fma(struct w2c_platform* p, v128 a, v128 b, v128 c) {
  (void)p;
  return simde_wasm_f32x4_relaxed_madd(a, b, c);
}

/* The input's bytes in a fresh buffer of linear memory. */
static u32 put(const uint8_t* data, size_t size) {
  u32 p = w2c_fuzz_fuzzBuffer(&inst, (u32)size);
  if (!p) { fprintf(stderr, "fuzz: no room for %zu input bytes\n", size); abort(); }
  memcpy(inst.w2c_memory.data + p, data, size);
  return p;
}

#ifdef FUZZ_VOCAB
static void load_vocab(void) {
  FILE* f = fopen(FUZZ_VOCAB, "rb");
  if (!f) { perror(FUZZ_VOCAB); exit(1); }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t* b = malloc((size_t)n);
  if (!b || fread(b, 1, (size_t)n, f) != (size_t)n) { perror(FUZZ_VOCAB); exit(1); }
  fclose(f);
  u32 err = w2c_fuzz_fuzzLoadVocab(&inst, put(b, (size_t)n), (u32)n);
  free(b);
  u32 len;
  memcpy(&len, inst.w2c_memory.data + err - 4, 4);
  if (len) {
    fprintf(stderr, "fuzz: %s: ", FUZZ_VOCAB);
    print_as_string(stderr, err);
    fputc('\n', stderr);
    exit(1);
  }
}
#endif

int LLVMFuzzerInitialize(int* argc, char*** argv) {
  (void)argc; (void)argv;
  verbose = getenv("SIS_FUZZ_VERBOSE") != NULL;
  make_depth_guard();
  wasm_rt_init();
  wasm2c_fuzz_instantiate(&inst, &env, &platform);
  if (inst.w2c_memory.max_pages > MAX_PAGES) inst.w2c_memory.max_pages = MAX_PAGES;
#ifdef FUZZ_VOCAB
  load_vocab();
#endif
  saved = inst;
  saved_size = inst.w2c_memory.size;
  saved_memory = malloc(saved_size);
  memcpy(saved_memory, inst.w2c_memory.data, saved_size);
  if (verbose) fprintf(stderr, "fuzz: snapshot of %llu bytes of linear memory\n", (unsigned long long)saved_size);
  return 0;
}

#define PAGE 4096
#define HOT_MAX 2048    /* pages (8 MiB) */
#define HOT_EPOCH 4096  /* inputs */
static uint32_t* hot; /* the snapshot's pages made writable since the epoch began */
static size_t nhot;
static uint8_t* is_hot; /* per page: in hot */
static unsigned inputs_this_epoch;
static struct sigaction chained; /* libFuzzer's handler, for every other fault */

/* wasm2c's guard-page reservation behind linear memory: every address a 32-bit index plus a
 * 32-bit offset can reach (wasm-rt-mem-impl.c, WASM_RT_MEMCHECK_GUARD_PAGES). */
#define RESERVED (8ull << 30)

static void on_segv(int sig, siginfo_t* si, void* ctx) {
  uint8_t* base = inst.w2c_memory.data;
  uint8_t* a = si->si_addr;
  if (a >= base && a < base + saved_size && !is_hot[(a - base) / PAGE]) {
    size_t pg = (size_t)(a - base) / PAGE;
    is_hot[pg] = 1;
    hot[nhot++] = (uint32_t)pg;
    mprotect(base + pg * PAGE, PAGE, PROT_READ | PROT_WRITE);
    return;
  }
  /* past the memory's size, in the reservation: the module's out-of-bounds access */
  if (a >= base && a < base + RESERVED) fuzz_trap(WASM_RT_TRAP_OOB);
  /* the call-depth guard: a call past the limit */
  if (a >= depth_guard_page && a < depth_guard_page + GUARD_PAGE) fuzz_trap(WASM_RT_TRAP_EXHAUSTION);
  if (chained.sa_flags & SA_SIGINFO) { chained.sa_sigaction(sig, si, ctx); return; }
  if (chained.sa_handler != SIG_DFL && chained.sa_handler != SIG_IGN) { chained.sa_handler(sig); return; }
  signal(sig, SIG_DFL);
  raise(sig);
}

/* From the first input on (libFuzzer installs its own handlers after LLVMFuzzerInitialize). */
static void start_tracking(void) {
  size_t pages = saved_size / PAGE;
  hot = malloc(pages * sizeof *hot);
  is_hot = calloc(pages, 1);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &chained);
  mprotect(inst.w2c_memory.data, saved_size, PROT_READ);
}

static void restore(void) {
  uint8_t* base = inst.w2c_memory.data;
  uint64_t size = inst.w2c_memory.size;
  for (size_t i = 0; i < nhot; i++)
    memcpy(base + (size_t)hot[i] * PAGE, saved_memory + (size_t)hot[i] * PAGE, PAGE);
  if (++inputs_this_epoch == HOT_EPOCH || nhot > HOT_MAX) {
    for (size_t i = 0; i < nhot; i++) is_hot[hot[i]] = 0;
    mprotect(base, saved_size, PROT_READ);
    nhot = 0;
    inputs_this_epoch = 0;
  }
  /* grown pages back to zeros, as the next memory.grow must find them, and out of bounds again */
  if (size > saved_size) {
    madvise(base + saved_size, size - saved_size, MADV_DONTNEED);
    mprotect(base + saved_size, size - saved_size, PROT_NONE);
  }
  inst = saved;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 24)) return -1; /* not kept in the corpus */
  if (!hot) start_tracking();
  EXPORT(&inst, put(data, size), (u32)size);
  restore();
  return 0;
}
