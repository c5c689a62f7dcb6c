// qwen2 (Qwen2, Qwen2.5): llama with biases on q, k and v (in every Qwen2 file) and RoPE on
// each head's two halves (llama.cpp's NEOX rotation). The small ones tie their output head.
import { Family, ROPE_HALVES } from "./family";

export const QWEN2 = new Family("qwen2", "Qwen2", ROPE_HALVES, false);
