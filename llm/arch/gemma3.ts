// gemma3 (Gemma 3 text models): qwen3's per-head q/k norms and RoPE on the halves, plus
// embeddings scaled by sqrt(n_embd), q scaled by 1/sqrt(head size) before attention (which
// then scales by 1), RMS norms after the attention and after the feed-forward (before each
// residual addition), a GELU feed-forward (ggml's f16 table) and sliding-window attention on
// 5 of every 6 layers (window attention.sliding_window, RoPE base rope.freq_base_swa,
// 10000 by default), as llama.cpp's graph does.
import { Family, ROPE_HALVES } from "./family";

export const GEMMA3 = new Family("gemma3", "Gemma 3", ROPE_HALVES, true, true, false, true, true, true, true);
