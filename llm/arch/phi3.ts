// phi3 (Phi-3, Phi-3.5 mini): llama with q, k and v in one matrix (attn_qkv: q's rows, then
// k's, then v's) and gate and up in another (ffn_up with 2 x n_ff rows: gate's, then up's),
// RoPE on the halves with LongRoPE (per-frequency divisors rope_factors_short, or _long when
// the context exceeds rope.scaling.original_context_length, and cos/sin scaled by
// rope.scaling.attn_factor), and q scaled by 1/sqrt(head size) before attention (which then
// scales by 1), as llama.cpp's graph does. Its sliding window is off in llama.cpp too.
import { Family, ROPE_HALVES } from "./family";

export const PHI3 = new Family("phi3", "Phi-3", ROPE_HALVES, false, true, true);
