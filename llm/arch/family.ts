// A model family (GGUF `general.architecture`): what its forward pass does beyond llama's,
// as data the one forward pass (llm/forward.ts) reads at its hooks. Each family is one file
// beside this one saying what differs, after llama.cpp's graph for it (src/models/*.cpp in
// the source node-llama-cpp ships); families.ts lists them.

/** RoPE rotates adjacent pairs (2i, 2i+1) of each head (llama.cpp's LLAMA_ROPE_TYPE_NORM). */
export const ROPE_PAIRS: i32 = 0;
/** RoPE rotates pairs (i, i + n_rot/2): the head's two halves (LLAMA_ROPE_TYPE_NEOX). */
export const ROPE_HALVES: i32 = 1;

export class Family {
  constructor(
    /** general.architecture, the prefix of the family's metadata keys. */
    public arch: string,
    /** The family's name for people (llmctl info, models). */
    public title: string,
    /** ROPE_PAIRS or ROPE_HALVES. */
    public rope: i32,
    /** Each head of q and k is RMS-normed with its own weights (attn_q_norm, attn_k_norm)
     *  before RoPE. */
    public qkNorm: bool,
    /** q is multiplied by 1/sqrt(head size) before attention, which then scales by 1 (the
     *  same product, rounded at another place). */
    public qPrescale: bool = false,
    /** gate and up are one matrix, ffn_up with 2 x n_ff rows: gate's first. */
    public fusedGateUp: bool = false,
    /** Token embeddings are multiplied by sqrt(n_embd). */
    public embedScale: bool = false,
    /** The attention's and the feed-forward's outputs are RMS-normed (post_attention_norm,
     *  post_ffw_norm) before their residual additions. */
    public postNorms: bool = false,
    /** The feed-forward's gate goes through GELU (ggml's table, kernels/vector.ts geglu), not SiLU. */
    public gelu: bool = false,
    /** Sliding-window attention where the file says so (attention.sliding_window, on every
     *  layer but each sliding_window_pattern-th), those layers with RoPE base
     *  rope.freq_base_swa. */
    public slidingWindow: bool = false,
  ) {}
}
