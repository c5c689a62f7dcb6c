// ggml-ref: runs ggml's own code (the libraries bundled with node-llama-cpp) on data files,
// so tests can compare the engine's kernels with ggml itself. Built by tools/ref/build.mjs;
// never committed as a binary.
//
//   ggml-ref quantize  TYPE NROWS NPERROW IN.f32 OUT.bin   ggml_quantize_chunk (no imatrix)
//   ggml-ref fromref   TYPE N IN.f32 OUT.bin                type traits' from_float_ref (Q8_1, Q8_K…)
//   ggml-ref dequantize TYPE N IN.bin OUT.f32               type traits' to_float
//   ggml-ref fp16      N IN.f32 OUT.u16                     ggml_fp32_to_fp16_row
//   ggml-ref bf16      N IN.f32 OUT.u16                     ggml_fp32_to_bf16_row_ref
//   ggml-ref expf      N IN.f32 OUT.f32                     the C library's expf
//   ggml-ref mulmat    WTYPE K ROWS N W.bin XTYPE X.bin OUT.f32
//        ggml_mul_mat on the CPU backend: OUT[t*ROWS + r] = W[r]·X[t]; XTYPE is F32 (ggml
//        converts it itself) or the weight type's vec_dot_type (used as given)
//   ggml-ref silu      N IN.f32 OUT.f32
//   ggml-ref swiglu    N G.f32 U.f32 OUT.f32
//   ggml-ref rmsnorm   N EPS IN.f32 OUT.f32
//   ggml-ref softmax   N SCALE IN.f32 OUT.f32              ggml_soft_max_ext without mask
//
// TYPE is a ggml type id (GGUF numbering). The CPU backend is loaded from the library in
// GGML_REF_CPU (default: the portable x86-64 build, whose kernels are ggml's reference ones).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"

// Exported by libggml-base but declared only in its private headers; Q8_K has no entry in
// the public type traits.
void quantize_row_q8_K_ref(const float *x, void *y, int64_t k);
void dequantize_row_q8_K(const void *x, float *y, int64_t k);

static void die(const char *m) { fprintf(stderr, "ggml-ref: %s\n", m); exit(1); }

static void *read_file(const char *path, size_t want) {
  FILE *f = fopen(path, "rb");
  if (!f) die(path);
  void *p = malloc(want ? want : 1);
  if (fread(p, 1, want, f) != want) die("short read");
  fclose(f);
  return p;
}

static void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) die("write failed");
  fclose(f);
}

static ggml_backend_t cpu_backend(void) {
  const char *lib = getenv("GGML_REF_CPU");
  if (!lib) die("GGML_REF_CPU not set");
  ggml_backend_reg_t reg = ggml_backend_load(lib);
  if (!reg) die("cannot load the CPU backend");
  ggml_backend_t be = ggml_backend_dev_init(ggml_backend_reg_dev_get(reg, 0), NULL);
  if (!be) die("cannot init the CPU backend");
  ggml_backend_set_n_threads_t set_threads = (ggml_backend_set_n_threads_t)
    ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
  if (set_threads) set_threads(be, 1);
  return be;
}

static struct ggml_context *new_ctx(void) {
  struct ggml_init_params ip = { 16 * ggml_tensor_overhead() + ggml_graph_overhead(), NULL, true };
  return ggml_init(ip);
}

// Computes `out` (whose inputs are already set), copies it to `dst`.
static void run(ggml_backend_t be, struct ggml_context *ctx, struct ggml_tensor *out, void *dst) {
  struct ggml_cgraph *g = ggml_new_graph(ctx);
  ggml_build_forward_expand(g, out);
  if (ggml_backend_graph_compute(be, g) != GGML_STATUS_SUCCESS) die("compute failed");
  ggml_backend_tensor_get(out, dst, 0, ggml_nbytes(out));
}

int main(int argc, char **argv) {
  if (argc < 2) die("usage: see tools/ref/ggml-ref.c");
  const char *cmd = argv[1];
  if (!strcmp(cmd, "quantize") && argc == 7) {
    enum ggml_type t = (enum ggml_type)atoi(argv[2]);
    int64_t nrows = atoll(argv[3]), per = atoll(argv[4]);
    float *src = read_file(argv[5], (size_t)(nrows * per) * 4);
    size_t bytes = ggml_row_size(t, per) * nrows;
    void *dst = calloc(1, bytes);
    size_t got = ggml_quantize_chunk(t, src, dst, 0, nrows, per, NULL);
    if (got != bytes) die("quantize size mismatch");
    write_file(argv[6], dst, bytes);
    return 0;
  }
  if (!strcmp(cmd, "fromref") && argc == 6) {
    enum ggml_type t = (enum ggml_type)atoi(argv[2]);
    int64_t n = atoll(argv[3]);
    float *src = read_file(argv[4], (size_t)n * 4);
    size_t bytes = ggml_row_size(t, n);
    void *dst = calloc(1, bytes);
    const struct ggml_type_traits *tr = ggml_get_type_traits(t);
    if (t == GGML_TYPE_Q8_K) quantize_row_q8_K_ref(src, dst, n);
    else if (!tr->from_float_ref) die("no from_float_ref");
    else tr->from_float_ref(src, dst, n);
    write_file(argv[5], dst, bytes);
    return 0;
  }
  if (!strcmp(cmd, "dequantize") && argc == 6) {
    enum ggml_type t = (enum ggml_type)atoi(argv[2]);
    int64_t n = atoll(argv[3]);
    void *src = read_file(argv[4], ggml_row_size(t, n));
    float *dst = malloc((size_t)n * 4);
    const struct ggml_type_traits *tr = ggml_get_type_traits(t);
    if (t == GGML_TYPE_Q8_K) dequantize_row_q8_K(src, dst, n);
    else if (!tr->to_float) die("no to_float");
    else tr->to_float(src, dst, n);
    write_file(argv[5], dst, (size_t)n * 4);
    return 0;
  }
  if ((!strcmp(cmd, "fp16") || !strcmp(cmd, "bf16") || !strcmp(cmd, "expf")) && argc == 5) {
    int64_t n = atoll(argv[2]);
    float *src = read_file(argv[3], (size_t)n * 4);
    if (!strcmp(cmd, "expf")) {
      float *dst = malloc((size_t)n * 4);
      for (int64_t i = 0; i < n; i++) dst[i] = expf(src[i]);
      write_file(argv[4], dst, (size_t)n * 4);
      return 0;
    }
    uint16_t *dst = malloc((size_t)n * 2);
    if (!strcmp(cmd, "fp16")) ggml_fp32_to_fp16_row(src, (ggml_fp16_t *)dst, n);
    else ggml_fp32_to_bf16_row_ref(src, (ggml_bf16_t *)dst, n);
    write_file(argv[4], dst, (size_t)n * 2);
    return 0;
  }
  if (!strcmp(cmd, "mulmat") && argc == 10) {
    enum ggml_type wt = (enum ggml_type)atoi(argv[2]);
    int64_t k = atoll(argv[3]), rows = atoll(argv[4]), n = atoll(argv[5]);
    enum ggml_type xt = (enum ggml_type)atoi(argv[7]);
    ggml_backend_t be = cpu_backend();
    struct ggml_context *ctx = new_ctx();
    struct ggml_tensor *w = ggml_new_tensor_2d(ctx, wt, k, rows);
    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, xt, k, n);
    struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
    if (!ggml_backend_alloc_ctx_tensors(ctx, be)) die("alloc failed");
    void *wd = read_file(argv[6], ggml_nbytes(w));
    void *xd = read_file(argv[8], ggml_nbytes(x));
    ggml_backend_tensor_set(w, wd, 0, ggml_nbytes(w));
    ggml_backend_tensor_set(x, xd, 0, ggml_nbytes(x));
    if (!ggml_backend_supports_op(be, y)) die("the CPU backend does not support this product");
    float *out = malloc(ggml_nbytes(y));
    run(be, ctx, y, out);
    write_file(argv[9], out, ggml_nbytes(y));
    return 0;
  }
  if ((!strcmp(cmd, "silu") && argc == 5) || (!strcmp(cmd, "swiglu") && argc == 6) ||
      ((!strcmp(cmd, "rmsnorm") || !strcmp(cmd, "softmax")) && argc == 6)) {
    int64_t n = atoll(argv[2]);
    ggml_backend_t be = cpu_backend();
    struct ggml_context *ctx = new_ctx();
    struct ggml_tensor *a = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n), *b = NULL, *y;
    const char *in = argv[3], *outp = argv[argc - 1];
    if (!strcmp(cmd, "silu")) y = ggml_silu(ctx, a);
    else if (!strcmp(cmd, "swiglu")) { b = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n); y = ggml_swiglu_split(ctx, a, b); }
    else if (!strcmp(cmd, "rmsnorm")) { y = ggml_rms_norm(ctx, a, (float)atof(argv[3])); in = argv[4]; }
    else { y = ggml_soft_max_ext(ctx, a, NULL, (float)atof(argv[3]), 0.0f); in = argv[4]; }
    if (!ggml_backend_alloc_ctx_tensors(ctx, be)) die("alloc failed");
    void *ad = read_file(in, (size_t)n * 4);
    ggml_backend_tensor_set(a, ad, 0, (size_t)n * 4);
    if (b) { void *bd = read_file(argv[4], (size_t)n * 4); ggml_backend_tensor_set(b, bd, 0, (size_t)n * 4); }
    float *out = malloc((size_t)n * 4);
    run(be, ctx, y, out);
    write_file(outp, out, (size_t)n * 4);
    return 0;
  }
  die("bad command or argument count");
  return 1;
}
