// qwen3 (Qwen3 dense): qwen2 without the biases, and with each head of q and k RMS-normed
// (attn_q_norm, attn_k_norm: one weight vector of the head size, shared by the heads) before
// RoPE. The head size comes from attention.key_length (128 for every Qwen3, whatever the
// embedding width).
import { Family, ROPE_HALVES } from "./family";

export const QWEN3 = new Family("qwen3", "Qwen3", ROPE_HALVES, true);
