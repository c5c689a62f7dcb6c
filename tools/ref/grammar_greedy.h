// Greedy sampling under a llama.cpp grammar sampler, in node-llama-cpp's order (its
// AddonSampler): the argmax is checked alone first; only when the grammar refuses it are all
// tokens filtered, and the argmax of the rest is taken. Shared by tools/ref/llama-run.c (the
// oracle) and tools/peer/llama-bench-driver.c (the performance peer).
#pragma once
#include <math.h>
#include "llama.h"

/** The next token: cand has room for n_vocab entries (scratch). */
static llama_token grammar_greedy(struct llama_sampler *grammar, const float *logits, int n_vocab, llama_token_data *cand) {
  int best = 0;
  for (int i = 1; i < n_vocab; i++) if (logits[i] > logits[best]) best = i;
  llama_token_data one = { best, 1.0f, 0.0f };
  llama_token_data_array single = { &one, 1, -1, false };
  llama_sampler_apply(grammar, &single);
  if (one.logit != -INFINITY) return best;
  for (int i = 0; i < n_vocab; i++) cand[i] = (llama_token_data){ i, logits[i], 0.0f };
  llama_token_data_array all = { cand, (size_t)n_vocab, -1, false };
  llama_sampler_apply(grammar, &all);
  best = 0;
  for (int i = 1; i < n_vocab; i++) if (cand[i].logit > cand[best].logit) best = i;
  return cand[best].id;
}
