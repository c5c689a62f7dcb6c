// Module-resolution hook registered by tools/ref/pinned.mjs: resolves node-llama-cpp's
// prebuilt-binaries package to the private copy that holds only the pinned ggml CPU variant.
let specifier = "";
let url = "";

export function initialize(data) {
  ({ specifier, url } = data);
}

export async function resolve(spec, context, next) {
  if (spec === specifier) return { url, format: "module", shortCircuit: true };
  return next(spec, context);
}
