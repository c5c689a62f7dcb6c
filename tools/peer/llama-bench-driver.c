// llama-bench-driver: the performance peer for SIS's benchmark.
//
// Runs llama.cpp (the arm64 build shipped by @node-llama-cpp/linux-arm64) on one GGUF:
// evaluates a P-token prompt as ONE batch (timed), then greedily decodes N tokens, one
// llama_decode per token (each timed), and prints one JSON line on stdout:
//   {"prefill_tok_s":..,"decode_tok_s":..,"n_prompt":P,"n_gen":N,"threads":T,"text":"..", ...}
//
// The prompt is the tokenized text (BOS added if the model asks for it), cut to P tokens;
// if it is shorter, its tokens (without BOS) are repeated until there are P.
// Decoding does not stop at end-of-generation tokens: a benchmark decodes exactly N.
// With -g FILE the tokens follow that GBNF grammar, sampled as node-llama-cpp samples (the
// argmax checked alone, every token filtered only when the grammar refuses it); decoding
// then stops at an end-of-generation token, and each token's time includes its sampling.
// -s 1 counts the sampling in each token's time without a grammar (the baseline for -g).
// Built by tools/peer/setup.sh with aarch64-linux-gnu-gcc; run by tools/peer/run.mjs.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "llama.h"
#include "ggml-backend.h"
#include "../ref/grammar_greedy.h"

static int verbose = 0;
static char cpu_variant[128] = "";

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// Quiet by default; remember which CPU backend variant ggml picked for this CPU.
static void on_log(enum ggml_log_level level, const char *text, void *user) {
  (void)user;
  const char *v = strstr(text, "libggml-cpu-");
  if (v && strstr(text, "loaded")) {
    size_t n = strcspn(v, "\n");
    if (n >= sizeof cpu_variant) n = sizeof cpu_variant - 1;
    memcpy(cpu_variant, v, n);
    cpu_variant[n] = 0;
  }
  if (verbose || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", f);
    else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

static int argmax(const float *v, int n) {
  int best = 0;
  for (int i = 1; i < n; i++) if (v[i] > v[best]) best = i;
  return best;
}

static void usage(void) {
  fprintf(stderr, "usage: llama-bench-driver -m MODEL.gguf [-p PROMPT] [-P PROMPT_TOKENS] [-n GEN]"
                  " [-t THREADS] [-w WARMUP(0|1)] [-g GRAMMAR.gbnf] [-s SAMPLING_TIMED(0|1)] [-v]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *model_path = NULL;
  const char *prompt = "And God said";
  int n_prompt = 32, n_gen = 32, threads = 1, warmup = 1, time_sampling = 0;
  const char *grammar_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "-v")) { verbose = 1; continue; }
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    if (!strcmp(a, "-m")) model_path = v;
    else if (!strcmp(a, "-p")) prompt = v;
    else if (!strcmp(a, "-P")) n_prompt = atoi(v);
    else if (!strcmp(a, "-n")) n_gen = atoi(v);
    else if (!strcmp(a, "-t")) threads = atoi(v);
    else if (!strcmp(a, "-w")) warmup = atoi(v);
    else if (!strcmp(a, "-g")) grammar_path = v;
    else if (!strcmp(a, "-s")) time_sampling = atoi(v);
    else usage();
  }
  if (!model_path || n_prompt < 1 || n_gen < 1 || threads < 1) usage();

  llama_log_set(on_log, NULL);
  ggml_backend_load_all();  // CPU variants (libggml-cpu-*.so) next to the executable
  llama_backend_init();

  struct llama_model_params mp = llama_model_default_params();
  struct llama_model *model = llama_model_load_from_file(model_path, mp);
  if (!model) { fprintf(stderr, "driver: cannot load %s\n", model_path); return 1; }
  const struct llama_vocab *vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  struct llama_sampler *grammar = NULL;
  llama_token_data *cand = NULL;
  if (grammar_path) {
    FILE *gf = fopen(grammar_path, "rb");
    if (!gf) { fprintf(stderr, "driver: cannot read %s\n", grammar_path); return 1; }
    static char gtext[1 << 20];
    size_t gn = fread(gtext, 1, sizeof gtext - 1, gf);
    fclose(gf);
    gtext[gn] = 0;
    grammar = llama_sampler_init_grammar(vocab, gtext, "root");
    if (!grammar) { fprintf(stderr, "driver: llama.cpp refused the grammar\n"); return 1; }
    cand = malloc(sizeof *cand * (size_t)n_vocab);
    time_sampling = 1;
  }

  // Prompt tokens: tokenize with the model's own BOS rule, then fit to exactly n_prompt.
  int cap = (int)strlen(prompt) + 8;
  llama_token *text_tok = malloc(sizeof(llama_token) * cap);
  int n_text = llama_tokenize(vocab, prompt, (int)strlen(prompt), text_tok, cap, true, false);
  if (n_text < 0) { fprintf(stderr, "driver: tokenize failed\n"); return 1; }
  int first = (n_text > 0 && llama_vocab_get_add_bos(vocab) && text_tok[0] == llama_vocab_bos(vocab)) ? 1 : 0;
  if (n_text <= first) { fprintf(stderr, "driver: empty prompt\n"); return 1; }
  llama_token *tok = malloc(sizeof(llama_token) * (n_prompt + n_gen));
  for (int i = 0; i < n_prompt; i++)
    tok[i] = i < n_text ? text_tok[i] : text_tok[first + (i - n_text) % (n_text - first)];

  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = n_prompt + n_gen + 1;
  cp.n_batch = cp.n_ubatch = n_prompt;  // the whole prompt is one physical batch
  cp.n_threads = cp.n_threads_batch = threads;
  struct llama_context *ctx = llama_init_from_model(model, cp);
  if (!ctx) { fprintf(stderr, "driver: cannot create a context\n"); return 1; }

  // Warm-up (untimed): a 2-token batch then 1 token, so that the emulator's first
  // translation of the compute kernels is not charged to the timed runs.
  if (warmup) {
    llama_token w[2] = { tok[0], tok[n_prompt > 1 ? 1 : 0] };
    if (llama_decode(ctx, llama_batch_get_one(w, 2)) || llama_decode(ctx, llama_batch_get_one(w, 1))) {
      fprintf(stderr, "driver: warm-up decode failed\n"); return 1;
    }
    llama_memory_clear(llama_get_memory(ctx), true);
  }

  double t0 = now_s();
  if (llama_decode(ctx, llama_batch_get_one(tok, n_prompt))) { fprintf(stderr, "driver: prefill failed\n"); return 1; }
  double t_prefill = now_s() - t0;

  double *t_tok = malloc(sizeof(double) * n_gen), t_decode = 0;
  char *text = calloc((size_t)n_gen * 64 + 1, 1);
  size_t text_len = 0;
  int generated = 0;
  for (int i = 0; i < n_gen; i++) {
    double ts = now_s();
    const float *lg = llama_get_logits_ith(ctx, -1);
    const llama_token next = grammar ? grammar_greedy(grammar, lg, n_vocab, cand) : argmax(lg, n_vocab);
    if (grammar) {
      if (llama_vocab_is_eog(vocab, next)) break;
      llama_sampler_accept(grammar, next);
    }
    double sampling = now_s() - ts;
    tok[n_prompt + i] = next;
    generated++;
    int n = llama_token_to_piece(vocab, next, text + text_len, 64, 0, false);
    if (n > 0) text_len += (size_t)n;
    t0 = now_s();
    if (llama_decode(ctx, llama_batch_get_one(&tok[n_prompt + i], 1))) { fprintf(stderr, "driver: decode failed\n"); return 1; }
    t_tok[i] = now_s() - t0 + (time_sampling ? sampling : 0);
    t_decode += t_tok[i];
  }
  n_gen = generated;

  printf("{\"prefill_tok_s\":%.3f,\"decode_tok_s\":%.3f,\"n_prompt\":%d,\"n_gen\":%d,\"threads\":%d,\"text\":",
         n_prompt / t_prefill, n_gen / t_decode, n_prompt, n_gen, threads);
  json_string(stdout, text);
  printf(",\"prefill_ms\":%.2f,\"decode_ms\":[", t_prefill * 1e3);
  for (int i = 0; i < n_gen; i++) printf("%s%.2f", i ? "," : "", t_tok[i] * 1e3);
  printf("],\"tokens\":[");
  for (int i = 0; i < n_prompt + n_gen; i++) printf("%s%d", i ? "," : "", tok[i]);
  printf("],\"cpu_backend\":");
  json_string(stdout, cpu_variant);
  printf("}\n");
  fflush(stdout);

  if (grammar) { llama_sampler_free(grammar); free(cand); }
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
