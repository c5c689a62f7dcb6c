// llama: the reference family (Llama 1-3.x, SmolLM2, TinyLlama, Mistral 7B and many more,
// which differ only in metadata and tensors the binder handles: grouped-query attention,
// tied heads, llama3-style rope_freqs). Optional q/k/v biases, as in every family here.
import { Family, ROPE_PAIRS } from "./family";

export const LLAMA = new Family("llama", "Llama", ROPE_PAIRS, false);
