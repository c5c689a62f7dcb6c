#define _GNU_SOURCE
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
//        converts it itself) or the weight type's vec_dot_type (used as given). With
//        GGML_REF_ACT_CPU set, F32 activations for Q8_0/Q8_1 products are converted by that
//        CPU build's quantize_row_q8_0/_q8_1 first (what llama.cpp's x86 build does before
//        its products; the reference build rounds differently), then multiplied as above.
//        With GGML_REF_REPACK=1 the weights go into the CPU build's extra (repacked) buffer
//        type when it takes them, as llama.cpp loads Q4_0/Q4_K matrices on AVX2 machines, so
//        that its repacked gemv/gemm kernels run
//   ggml-ref actq      TYPE N IN.f32 OUT.bin                quantize_row_q8_0/_q8_1/_q8_K of the
//        CPU build in GGML_REF_ACT_CPU (the activation conversion of that build)
//   ggml-ref silu      N IN.f32 OUT.f32
//   ggml-ref swiglu    N G.f32 U.f32 OUT.f32
//   ggml-ref geglu     N G.f32 U.f32 OUT.f32             ggml_geglu_split (GELU from ggml's f16 table)
//   ggml-ref rmsnorm   N EPS IN.f32 OUT.f32
//   ggml-ref softmax   N SCALE IN.f32 OUT.f32              ggml_soft_max_ext without mask
//   ggml-ref flashattn HD NHEAD NHEADKV NQ NCELLS POS0 THREADS Q.f32 K.f16 V.f16 OUT.f32
//        ggml_flash_attn_ext as llama.cpp builds it (F32 q, F16 cache, causal F16 mask,
//        scale 1/sqrt(HD), F32 precision) for NQ tokens at positions POS0.. against NCELLS
//        cache cells (cell j visible to token t when j <= POS0 + t), on THREADS threads.
//        Q is f32[NQ][NHEAD][HD], K and V f16[NCELLS][NHEADKV][HD], OUT f32[NQ][NHEAD][HD].
//   ggml-ref fmaf      N A.f32 B.f32 C.f32 OUT.f32          the C library's fmaf (one rounding)
//   ggml-ref sincosf   N IN.f32 OUT.f32                    the C library's sincosf: cos, sin pairs
//        (what ggml's rope cache calls: GCC merges its cosf and sinf of one angle)
//   ggml-ref vsoftmax  N MAX IN.f32 OUT                    the CPU backend's ggml_vec_soft_max_f32:
//        OUT = f32[N] exp(IN - MAX) then the f64 sum it returns (its SIMD exp for groups of 8
//        on AVX2 builds, expf for the rest); GGML_REF_CPU should name that build
//   ggml-ref bestcpu DIR                                   the CPU variant in DIR that ggml
//        itself would load on this machine (highest ggml_backend_score), as node-llama-cpp does
//
// TYPE is a ggml type id (GGUF numbering). The CPU backend is loaded from the library in
// GGML_REF_CPU (default: the portable x86-64 build, whose kernels are ggml's reference ones).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <dirent.h>
#include <dlfcn.h>
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

static ggml_backend_t cpu_backend_threads(int threads);
static ggml_backend_reg_t g_cpu_reg = NULL;
static ggml_backend_t cpu_backend(void) { return cpu_backend_threads(1); }

static ggml_backend_t cpu_backend_threads(int threads) {
  const char *lib = getenv("GGML_REF_CPU");
  if (!lib) die("GGML_REF_CPU not set");
  ggml_backend_reg_t reg = ggml_backend_load(lib);
  if (!reg) die("cannot load the CPU backend");
  g_cpu_reg = reg;
  ggml_backend_t be = ggml_backend_dev_init(ggml_backend_reg_dev_get(reg, 0), NULL);
  if (!be) die("cannot init the CPU backend");
  ggml_backend_set_n_threads_t set_threads = (ggml_backend_set_n_threads_t)
    ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
  if (set_threads) set_threads(be, threads);
  return be;
}

// ggml_backend_load_best's choice: the libggml-cpu-*.so in dir with the highest score.
static void best_cpu(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) die(dir);
  char best[4096] = "";
  int best_score = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, "libggml-cpu", 11) || !strstr(e->d_name, ".so")) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    int (*score)(void) = (int (*)(void))dlsym(h, "ggml_backend_score");
    const int sc = score ? score() : 0;
    if (sc > best_score) { best_score = sc; strcpy(best, path); }
    dlclose(h);
  }
  closedir(d);
  if (!best[0]) die("no usable CPU backend");
  printf("%s\n", best);
}

// quantize_row_q8_0/_q8_1/_q8_K (from_float of the activation types) of the CPU build in
// GGML_REF_ACT_CPU, or NULL when that is not set or t is not one of them.
typedef void (*from_float_fn)(const float *, void *, int64_t);
static from_float_fn act_from_float(enum ggml_type t) {
  const char *lib = getenv("GGML_REF_ACT_CPU");
  if (!lib || !lib[0]) return NULL;
  const char *name = t == GGML_TYPE_Q8_0 ? "quantize_row_q8_0" : t == GGML_TYPE_Q8_1 ? "quantize_row_q8_1" :
    t == GGML_TYPE_Q8_K ? "quantize_row_q8_K" : NULL;
  if (!name) return NULL;
  void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
  if (!h) die("cannot load GGML_REF_ACT_CPU");
  from_float_fn f = (from_float_fn)dlsym(h, name);
  if (!f) die("no activation quantizer in GGML_REF_ACT_CPU");
  return f;
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
  if (!strcmp(cmd, "actq") && argc == 6) {
    enum ggml_type t = (enum ggml_type)atoi(argv[2]);
    int64_t n = atoll(argv[3]);
    from_float_fn f = act_from_float(t);
    if (!f) die("actq needs GGML_REF_ACT_CPU and TYPE Q8_0, Q8_1 or Q8_K");
    float *src = read_file(argv[4], (size_t)n * 4);
    size_t bytes = ggml_row_size(t, n);
    void *dst = calloc(1, bytes);
    f(src, dst, n);
    write_file(argv[5], dst, bytes);
    return 0;
  }
  if (!strcmp(cmd, "mulmat") && argc == 10) {
    enum ggml_type wt = (enum ggml_type)atoi(argv[2]);
    int64_t k = atoll(argv[3]), rows = atoll(argv[4]), n = atoll(argv[5]);
    enum ggml_type xt = (enum ggml_type)atoi(argv[7]);
    // the activation type of Q4_0/Q8_0 (Q8_0) and Q4_1 (Q8_1) products
    const enum ggml_type act = (wt == GGML_TYPE_Q4_0 || wt == GGML_TYPE_Q8_0) ? GGML_TYPE_Q8_0 :
      wt == GGML_TYPE_Q4_1 ? GGML_TYPE_Q8_1 : GGML_TYPE_COUNT;
    const char *repack = getenv("GGML_REF_REPACK");
    const int want_repack = repack && !strcmp(repack, "1");
    // (repacked products take f32 activations and convert them themselves, as the x86 build does)
    from_float_fn conv = xt == GGML_TYPE_F32 && act != GGML_TYPE_COUNT && !want_repack ? act_from_float(act) : NULL;
    void *xconv = NULL;
    if (conv) {
      float *xf = read_file(argv[8], (size_t)(k * n) * 4);
      xconv = calloc(1, ggml_row_size(act, k) * n);
      for (int64_t t = 0; t < n; t++) conv(xf + t * k, (char *)xconv + t * ggml_row_size(act, k), k);
      xt = act;
    }
    ggml_backend_t be = cpu_backend();
    struct ggml_context *ctx = new_ctx();
    struct ggml_tensor *w = ggml_new_tensor_2d(ctx, wt, k, rows);
    struct ggml_tensor *x = ggml_new_tensor_2d(ctx, xt, k, n);
    struct ggml_tensor *y = ggml_mul_mat(ctx, w, x);
    // the weights in the CPU build's repacked buffer type, when asked and when it takes them
    ggml_backend_buffer_t wbuf = NULL;
    if (want_repack) {
      ggml_backend_dev_t dev = ggml_backend_reg_dev_get(g_cpu_reg, 0);
      ggml_backend_dev_get_extra_bufts_t get = (ggml_backend_dev_get_extra_bufts_t)
        ggml_backend_reg_get_proc_address(g_cpu_reg, "ggml_backend_dev_get_extra_bufts");
      for (ggml_backend_buffer_type_t *b = get ? get(dev) : NULL; b && *b && !wbuf; b++) {
        ggml_backend_buffer_t buf = ggml_backend_buft_alloc_buffer(*b, ggml_backend_buft_get_alloc_size(*b, w));
        if (!buf) continue;
        if (ggml_backend_tensor_alloc(buf, w, ggml_backend_buffer_get_base(buf)) == GGML_STATUS_SUCCESS &&
            ggml_backend_dev_supports_op(dev, y)) wbuf = buf;
        else { w->buffer = NULL; w->data = NULL; ggml_backend_buffer_free(buf); }
      }
    }
    if (!ggml_backend_alloc_ctx_tensors(ctx, be)) die("alloc failed");
    void *wd = read_file(argv[6], ggml_nbytes(w));
    void *xd = xconv ? xconv : read_file(argv[8], ggml_nbytes(x));
    ggml_backend_tensor_set(w, wd, 0, ggml_nbytes(w));
    ggml_backend_tensor_set(x, xd, 0, ggml_nbytes(x));
    if (!ggml_backend_supports_op(be, y)) die("the CPU backend does not support this product");
    float *out = malloc(ggml_nbytes(y));
    run(be, ctx, y, out);
    write_file(argv[9], out, ggml_nbytes(y));
    return 0;
  }
  if ((!strcmp(cmd, "silu") && argc == 5) || ((!strcmp(cmd, "swiglu") || !strcmp(cmd, "geglu")) && argc == 6) ||
      ((!strcmp(cmd, "rmsnorm") || !strcmp(cmd, "softmax")) && argc == 6)) {
    int64_t n = atoll(argv[2]);
    ggml_backend_t be = cpu_backend();
    struct ggml_context *ctx = new_ctx();
    struct ggml_tensor *a = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n), *b = NULL, *y;
    const char *in = argv[3], *outp = argv[argc - 1];
    if (!strcmp(cmd, "silu")) y = ggml_silu(ctx, a);
    else if (!strcmp(cmd, "swiglu")) { b = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n); y = ggml_swiglu_split(ctx, a, b); }
    else if (!strcmp(cmd, "geglu")) { b = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, n); y = ggml_geglu_split(ctx, a, b); }
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
  if (!strcmp(cmd, "sincosf") && argc == 5) {
    int64_t n = atoll(argv[2]);
    float *x = read_file(argv[3], (size_t)n * 4);
    float *y = malloc((size_t)n * 8);
    for (int64_t i = 0; i < n; i++) sincosf(x[i], &y[2 * i + 1], &y[2 * i]);
    write_file(argv[4], y, (size_t)n * 8);
    return 0;
  }
  if (!strcmp(cmd, "fmaf") && argc == 7) {
    int64_t n = atoll(argv[2]);
    float *a = read_file(argv[3], (size_t)n * 4), *b = read_file(argv[4], (size_t)n * 4), *c = read_file(argv[5], (size_t)n * 4);
    float *y = malloc((size_t)n * 4);
    for (int64_t i = 0; i < n; i++) y[i] = fmaf(a[i], b[i], c[i]);
    write_file(argv[6], y, (size_t)n * 4);
    return 0;
  }
  if (!strcmp(cmd, "vsoftmax") && argc == 6) {
    const char *lib = getenv("GGML_REF_CPU");
    if (!lib) die("GGML_REF_CPU not set");
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) die("cannot load GGML_REF_CPU");
    double (*softmax)(int, float *, const float *, float) = (double (*)(int, float *, const float *, float))dlsym(h, "ggml_vec_soft_max_f32");
    if (!softmax) die("no ggml_vec_soft_max_f32 in that build");
    int n = atoi(argv[2]);
    float mx = (float)atof(argv[3]);
    float *x = read_file(argv[4], (size_t)n * 4);
    char *out = malloc((size_t)n * 4 + 8);
    double sum = softmax(n, (float *)out, x, mx);
    memcpy(out + (size_t)n * 4, &sum, 8);
    write_file(argv[5], out, (size_t)n * 4 + 8);
    return 0;
  }
  if (!strcmp(cmd, "bestcpu") && argc == 3) {
    best_cpu(argv[2]);
    return 0;
  }
  if (!strcmp(cmd, "flashattn") && argc == 13) {
    const int64_t hd = atoll(argv[2]), nh = atoll(argv[3]), nkvh = atoll(argv[4]), nq = atoll(argv[5]);
    const int64_t ncells = atoll(argv[6]), pos0 = atoll(argv[7]);
    const int threads = atoi(argv[8]);
    ggml_backend_t be = cpu_backend_threads(threads);
    struct ggml_context *ctx = new_ctx();
    // as llama.cpp's graph: q [hd, nh, nq] and the cache [hd, nkvh, ncells], permuted (0, 2, 1, 3)
    struct ggml_tensor *q = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, hd, nh, nq);
    struct ggml_tensor *k = ggml_new_tensor_3d(ctx, GGML_TYPE_F16, hd, nkvh, ncells);
    struct ggml_tensor *v = ggml_new_tensor_3d(ctx, GGML_TYPE_F16, hd, nkvh, ncells);
    struct ggml_tensor *mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, ncells, nq);
    struct ggml_tensor *y = ggml_flash_attn_ext(ctx, ggml_permute(ctx, q, 0, 2, 1, 3), ggml_permute(ctx, k, 0, 2, 1, 3),
      ggml_permute(ctx, v, 0, 2, 1, 3), mask, 1.0f / sqrtf((float)hd), 0.0f, 0.0f);
    ggml_flash_attn_ext_set_prec(y, GGML_PREC_F32);
    if (!ggml_backend_alloc_ctx_tensors(ctx, be)) die("alloc failed");
    void *qd = read_file(argv[9], ggml_nbytes(q));
    void *kd = read_file(argv[10], ggml_nbytes(k));
    void *vd = read_file(argv[11], ggml_nbytes(v));
    ggml_fp16_t *md = malloc(ggml_nbytes(mask));
    for (int64_t t = 0; t < nq; t++)
      for (int64_t j = 0; j < ncells; j++) md[t * ncells + j] = ggml_fp32_to_fp16(j <= pos0 + t ? 0.0f : -INFINITY);
    ggml_backend_tensor_set(q, qd, 0, ggml_nbytes(q));
    ggml_backend_tensor_set(k, kd, 0, ggml_nbytes(k));
    ggml_backend_tensor_set(v, vd, 0, ggml_nbytes(v));
    ggml_backend_tensor_set(mask, md, 0, ggml_nbytes(mask));
    if (!ggml_backend_supports_op(be, y)) die("the CPU backend does not support this attention");
    float *out = malloc(ggml_nbytes(y));
    run(be, ctx, y, out);
    write_file(argv[12], out, ggml_nbytes(y));
    return 0;
  }
  die("bad command or argument count");
  return 1;
}
