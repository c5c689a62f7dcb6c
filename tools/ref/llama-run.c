// llama-run: llama.cpp itself (node-llama-cpp's bundled libllama and ggml, with the CPU backend
// node-llama-cpp picks on this machine) running a prompt and greedy decoding with the context
// settings node-llama-cpp uses by default, writing the logits of every step and, optionally,
// named intermediate tensors of its graph. Built by tools/ref/ggmlref.mjs (`ensureTool`);
// never committed as a binary. It lets tests and engineers compare the engine's logits with
// llama.cpp's directly (node-llama-cpp only hands out probabilities).
//
//   llama-run MODEL OUT_DIR [options]
//     --tokens 1,2,3   prompt token ids (required)
//     --gen N          greedy tokens to decode one at a time after the prompt (default 0)
//     --ctx N          context size (default 256)
//     --batch N        n_batch = n_ubatch, as node-llama-cpp sets both (default min(ctx, 512);
//                      plus one for a model with sliding-window layers, as it adds)
//     --threads N      threads (default 4: node-llama-cpp's default on machines with <= 4 cores)
//     --fa auto|on|off flash attention (default auto, llama.cpp's and node-llama-cpp's default)
//     --dump a,b       dump graph tensors whose names start with any of these prefixes (* = all)
//     --grammar FILE   constrain the greedy tokens by this GBNF grammar (rule root), as
//                      node-llama-cpp's sampler does: the argmax is checked alone first, and
//                      only when the grammar refuses it are all tokens filtered; generation
//                      ends at an end-of-generation token (written to tokens.txt)
//
//   OUT_DIR/logits.f32   f32[steps][n_vocab]: step 0 after the prompt, step i after i generated tokens
//   OUT_DIR/tokens.txt   the greedy tokens (first maximum of each step's logits)
//   OUT_DIR/tSEQ.f32     dumped tensors as f32 (ggml order: ne0 fastest), in graph order; stdout
//                        says "tensor SEQ STEP NE0 NE1 NE2 NE3 NAME" for each
//
// The backends are loaded from GGML_BACKEND_DIR (node-llama-cpp's bins directory).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "llama.h"
#include "ggml.h"
#include "ggml-backend.h"
#include "grammar_greedy.h"

static void die(const char *m) { fprintf(stderr, "llama-run: %s\n", m); exit(1); }

static const char *g_out = NULL;
static char g_prefixes[1024] = "";
static int g_step = 0;
static int g_seq = 0;

static int wanted(const char *name) {
  if (!g_prefixes[0]) return 0;
  if (!strcmp(g_prefixes, "*")) return 1;
  char buf[1024];
  strcpy(buf, g_prefixes);
  for (char *p = strtok(buf, ","); p; p = strtok(NULL, ",")) {
    if (!strncmp(name, p, strlen(p))) return 1;
  }
  return 0;
}

static bool on_tensor(struct ggml_tensor *t, bool ask, void *ud) {
  (void)ud;
  if (ask) return wanted(t->name);
  if (!wanted(t->name)) return true;
  const int64_t n = ggml_nelements(t);
  float *f = malloc((size_t)n * 4);
  if (t->type == GGML_TYPE_F32 && ggml_is_contiguous(t)) {
    ggml_backend_tensor_get(t, f, 0, (size_t)n * 4);
  } else if (t->type == GGML_TYPE_F16 && ggml_is_contiguous(t)) {
    ggml_fp16_t *h = malloc((size_t)n * 2);
    ggml_backend_tensor_get(t, h, 0, (size_t)n * 2);
    ggml_fp16_to_fp32_row(h, f, n);
    free(h);
  } else {
    free(f);
    printf("skip %s (type %d, contiguous %d)\n", t->name, t->type, ggml_is_contiguous(t));
    return true;
  }
  char path[2048];
  snprintf(path, sizeof path, "%s/t%d.f32", g_out, g_seq);
  FILE *o = fopen(path, "wb");
  if (!o || fwrite(f, 4, (size_t)n, o) != (size_t)n) die("cannot write a tensor");
  fclose(o);
  free(f);
  printf("tensor %d %d %lld %lld %lld %lld %s\n", g_seq++, g_step, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3], t->name);
  return true;
}

static void quiet(enum ggml_log_level level, const char *text, void *ud) { (void)level; (void)text; (void)ud; }

static int argmax(const float *x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
  return best;
}

int main(int argc, char **argv) {
  if (argc < 3) die("usage: see tools/ref/llama-run.c");
  const char *model_path = argv[1];
  g_out = argv[2];
  int ctx = 256, batch = -1, threads = 4, gen = 0, fa = -1;
  int ntok = 0, tokens[4096];
  const char *grammar_path = NULL;
  for (int i = 3; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--tokens")) {
      char buf[65536];
      strncpy(buf, v, sizeof buf - 1);
      buf[sizeof buf - 1] = 0;
      for (char *p = strtok(buf, ","); p && ntok < 4096; p = strtok(NULL, ",")) tokens[ntok++] = atoi(p);
    } else if (!strcmp(k, "--gen")) gen = atoi(v);
    else if (!strcmp(k, "--ctx")) ctx = atoi(v);
    else if (!strcmp(k, "--batch")) batch = atoi(v);
    else if (!strcmp(k, "--threads")) threads = atoi(v);
    else if (!strcmp(k, "--fa")) fa = !strcmp(v, "on") ? 1 : !strcmp(v, "off") ? 0 : -1;
    else if (!strcmp(k, "--dump")) { strncpy(g_prefixes, v, sizeof g_prefixes - 1); }
    else if (!strcmp(k, "--grammar")) grammar_path = v;
    else die("unknown option");
  }
  if (ntok == 0) die("no --tokens");
  if (batch <= 0) batch = ctx < 512 ? ctx : 512;

  const char *dir = getenv("GGML_BACKEND_DIR");
  if (!dir) die("GGML_BACKEND_DIR not set");
  ggml_backend_load_all_from_path(dir);
  llama_backend_init();
  llama_log_set(quiet, NULL);

  struct llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  struct llama_model *model = llama_model_load_from_file(model_path, mp);
  if (!model) die("cannot load the model");
  const struct llama_vocab *vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  struct llama_sampler *grammar = NULL;
  llama_token_data *cand = NULL;
  if (grammar_path) {
    FILE *gf = fopen(grammar_path, "rb");
    if (!gf) die("cannot read the grammar file");
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, gf);
    fclose(gf);
    text[n] = 0;
    grammar = llama_sampler_init_grammar(vocab, text, "root");
    if (!grammar) die("llama.cpp refused the grammar");
    cand = malloc(sizeof *cand * (size_t)n_vocab);
  }

  // node-llama-cpp's AddonContext: n_batch = n_ubatch = batchSize, one more for a model with
  // sliding-window layers (LlamaContext: "+1 to handle edge cases with SWA KV cache", which also
  // sizes llama.cpp's window cache); threads for both phases. The prompt still goes in batches of
  // batchSize.
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = ctx;
  cp.n_batch = batch + (llama_model_n_swa(model) > 0);
  cp.n_ubatch = cp.n_batch;
  cp.n_seq_max = 1;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  cp.no_perf = true;
  cp.swa_full = false;
  cp.flash_attn_type = fa < 0 ? LLAMA_FLASH_ATTN_TYPE_AUTO : fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  if (g_prefixes[0]) { cp.cb_eval = on_tensor; cp.cb_eval_user_data = NULL; }
  struct llama_context *lc = llama_init_from_model(model, cp);
  if (!lc) die("cannot create the context");

  char path[2048];
  snprintf(path, sizeof path, "%s/logits.f32", g_out);
  FILE *lf = fopen(path, "wb");
  snprintf(path, sizeof path, "%s/tokens.txt", g_out);
  FILE *tf = fopen(path, "w");
  if (!lf || !tf) die("cannot write to OUT_DIR");

  // the prompt in batches of n_batch (node-llama-cpp queues it that way), logits for the last token
  struct llama_batch b = llama_batch_init(batch, 0, 1);
  int pos = 0;
  for (int i = 0; i < ntok; i += batch) {
    const int nb = ntok - i < batch ? ntok - i : batch;
    b.n_tokens = nb;
    for (int j = 0; j < nb; j++) {
      b.token[j] = tokens[i + j];
      b.pos[j] = pos + j;
      b.n_seq_id[j] = 1;
      b.seq_id[j][0] = 0;
      b.logits[j] = (i + j == ntok - 1);
    }
    if (llama_decode(lc, b) != 0) die("llama_decode failed on the prompt");
    pos += nb;
  }
  int rows = 0;
  for (int s = 0; s <= gen; s++) {
    const float *lg = llama_get_logits_ith(lc, -1);
    if (fwrite(lg, 4, (size_t)n_vocab, lf) != (size_t)n_vocab) die("write failed");
    rows++;
    if (s == gen) break;
    const int t = grammar ? grammar_greedy(grammar, lg, n_vocab, cand) : argmax(lg, n_vocab);
    if (grammar) {
      fprintf(tf, "%d\n", t);
      if (llama_vocab_is_eog(vocab, t)) break;
      llama_sampler_accept(grammar, t);
    } else {
      fprintf(tf, "%d\n", t);
    }
    if (pos >= ctx) break;
    g_step = s + 1;
    b.n_tokens = 1;
    b.token[0] = t;
    b.pos[0] = pos++;
    b.n_seq_id[0] = 1;
    b.seq_id[0][0] = 0;
    b.logits[0] = 1;
    if (llama_decode(lc, b) != 0) die("llama_decode failed");
  }
  fclose(lf);
  fclose(tf);
  printf("steps %d\n", rows);
  llama_batch_free(b);
  if (grammar) { llama_sampler_free(grammar); free(cand); }
  llama_free(lc);
  llama_model_free(model);
  return 0;
}
