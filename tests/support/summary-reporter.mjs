// Adds one plain closing line, "tests: N passed, N failed[, N skipped]", that CI reads.
export default class SummaryReporter {
  onTestRunEnd(testModules, unhandledErrors) {
    let passed = 0, failed = 0, skipped = 0;
    for (const m of testModules) {
      let count = 0;
      for (const t of m.children.allTests()) {
        count++;
        const s = t.result().state;
        if (s === "passed") passed++;
        else if (s === "failed") failed++;
        else skipped++;
      }
      if (count === 0 && m.state() === "failed") failed++; // a file that failed to load
    }
    failed += unhandledErrors?.length ?? 0;
    const line = `tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}\n`;
    // Printed as the process ends so that it stays the last line, after vitest's summary.
    process.once("exit", () => process.stdout.write(line));
  }
}
