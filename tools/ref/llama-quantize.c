// llama-quantize: llama.cpp's own quantizer (llama_model_quantize in node-llama-cpp's
// bundled libllama), so tests and benchmarks can make the files llama.cpp's users make:
// its per-tensor choices for a "mostly X" type (the Q4_K_M and Q5_K_M mixes, the fallbacks
// where a row is not a multiple of 256, the output head's type), no importance matrix.
// Built by tools/ref/ggmlref.mjs (ensureLlamaTool); never committed as a binary.
//
//   llama-quantize IN.gguf OUT.gguf FTYPE     FTYPE: F16 Q8_0 Q4_0 Q5_0 Q5_1 Q4_K_S Q4_K_M Q5_K_M Q6_K IQ4_NL
#include <stdio.h>
#include <string.h>
#include "llama.h"

static const struct { const char *name; enum llama_ftype ftype; } FTYPES[] = {
  { "F16", LLAMA_FTYPE_MOSTLY_F16 }, { "Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0 }, { "Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0 },
  { "Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0 }, { "Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1 }, { "Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S },
  { "Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M }, { "Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M }, { "Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K },
  { "IQ4_NL", LLAMA_FTYPE_MOSTLY_IQ4_NL },
};

static void quiet(enum ggml_log_level level, const char *text, void *user) {
  (void)user;
  if (level >= GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: llama-quantize IN.gguf OUT.gguf FTYPE\n"); return 2; }
  int found = -1;
  for (int i = 0; i < (int)(sizeof FTYPES / sizeof FTYPES[0]); i++) if (!strcmp(argv[3], FTYPES[i].name)) found = i;
  if (found < 0) { fprintf(stderr, "llama-quantize: unknown type %s\n", argv[3]); return 2; }
  llama_log_set(quiet, NULL);
  llama_backend_init();
  llama_model_quantize_params p = llama_model_quantize_default_params();
  p.ftype = FTYPES[found].ftype;
  p.nthread = 2;
  const uint32_t r = llama_model_quantize(argv[1], argv[2], &p);
  llama_backend_free();
  if (r != 0) { fprintf(stderr, "llama-quantize: llama_model_quantize failed (%u)\n", r); return 1; }
  return 0;
}
