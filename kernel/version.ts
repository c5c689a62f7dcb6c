// Name, version and build description, shown by the boot banner and `version`.
// VERSION follows package.json (tests/kernel-host.test.ts checks that they agree).

export const NAME = "SIS";
export const VERSION = "0.1.0";
export const DESCRIPTION = "AArch64 kernel in AssemblyScript (wasm32 -> wasm2c -> native)";

function runtimeName(): string {
  if (ASC_RUNTIME == 0) return "stub";
  if (ASC_RUNTIME == 1) return "minimal";
  if (ASC_RUNTIME == 2) return "incremental";
  return "runtime " + ASC_RUNTIME.toString();
}

/** One line describing how this kernel was compiled (all compile-time facts). */
export function buildInfo(): string {
  const mode = ASC_OPTIMIZE_LEVEL == 0 ? "debug" : "release";
  return "AssemblyScript " + ASC_VERSION_MAJOR.toString() + "." + ASC_VERSION_MINOR.toString() + "." +
    ASC_VERSION_PATCH.toString() + ", " + mode + " (optimize " + ASC_OPTIMIZE_LEVEL.toString() +
    ", shrink " + ASC_SHRINK_LEVEL.toString() + "), " + runtimeName() + " GC, simd " +
    (ASC_FEATURE_SIMD ? "on" : "off") + ", nontrapping-f2i " + (ASC_FEATURE_NONTRAPPING_F2I ? "on" : "off");
}
