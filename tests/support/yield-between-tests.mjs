// Runs before each test file (vitest.config.ts setupFiles). A test that returns without
// awaiting anything hands control back to the runner as a microtask, so a file of such tests
// (and synchronous hooks) runs as one block the worker's event loop never sees the end of. Its
// messages to vitest then wait, and a call the runner made before the block times out after
// 60 s (vitest: 'Timeout calling "onTaskUpdate"'): tests/oracle_families.test.ts, 86 tests
// of 1-2 s each, did on a slow night. One turn of the event loop before each test lets them
// through.
import { beforeEach } from "vitest";

beforeEach(() => new Promise((resolve) => setImmediate(resolve)));
