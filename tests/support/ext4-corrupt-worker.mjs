// Worker for tests/ext4-corrupt.test.ts: damages images and checks the reader on each,
// reporting progress after every image so that the test's watchdog can tell a hang
// (a loop in the reader) from slow progress, and terminate it.
import { parentPort, workerData } from "node:worker_threads";
import { Ext4Host } from "./ext4-host.mjs";
import { damage, depsOf, touches } from "./ext4-corrupt.mjs";
import { sha256 } from "./ext4-images.mjs";

const { wasm, bases, runs, seed0 } = workerData;
const failures = [];
const stats = { images: 0, mountErrors: 0, mounted: 0, reads: 0, readErrors: 0, intactChecked: 0, touchedButCorrect: 0, touchedWrongData: 0, messages: new Set() };
const newHost = (sectors) => Ext4Host.create(wasm, { maxSectorsPerOp: sectors * 8 });

function checkImage(h, base, info, view, seed) {
  const { img, changed, ops } = damage(Buffer.from(base.image.buffer, base.image.byteOffset, base.image.byteLength), info, view, seed);
  const tag = `${base.name} seed ${seed} [${ops.join("; ")}]`;
  const fail = (m) => failures.push(`${tag}: ${m}`);
  const note = (e) => { const m = e.replace(/\d+/g, "N"); if (stats.messages.size < 400) stats.messages.add(m); };
  stats.images++;
  h.unmount("/");
  const baseline = h.x.regionBytesInUse();
  const me = h.mount(img);
  if (me) {
    stats.mountErrors++;
    note(me);
    if (!touches(depsOf(view, info, "/", { withData: false }), changed)) fail(`mount failed though nothing it reads was touched: ${me}`);
    if (h.x.regionBytesInUse() !== baseline) fail("a failed mount leaked buffers");
    return;
  }
  stats.mounted++;
  for (const [path, want] of Object.entries(base.files)) {
    const r = h.readFile(path, { chunk: 65536, max: want.size + 65536 });
    stats.reads++;
    const intact = !touches(depsOf(view, info, path), changed);
    if (r.error !== undefined) {
      stats.readErrors++;
      note(r.error);
      if (!r.error.trim()) fail(`${path}: empty error message`);
      if (intact) fail(`${path}: untouched file gave an error: ${r.error}`);
    } else if (sha256(r.data) === want.sha) {
      if (intact) stats.intactChecked++; else stats.touchedButCorrect++;
    } else if (intact) fail(`${path}: untouched file read wrong data (${r.data.length} bytes, want ${want.size})`);
    else stats.touchedWrongData++;
  }
  for (const [path, names] of Object.entries(base.dirs)) {
    const r = h.list(path, 10000);
    const intact = !touches(depsOf(view, info, path), changed);
    if (r.error !== undefined) {
      note(r.error);
      if (intact) fail(`${path}: untouched directory gave an error: ${r.error}`);
    } else if (intact) {
      const got = r.entries.map((e) => e.name).sort().join("/");
      if (got !== [...names].sort().join("/")) fail(`${path}: untouched directory listed differently`);
    }
  }
  for (const [path, target] of Object.entries(base.links)) {
    const r = h.readlink(path);
    const intact = !touches(depsOf(view, info, path), changed);
    if (r.error !== undefined) { note(r.error); if (intact) fail(`${path}: untouched link gave an error: ${r.error}`); }
    else if (intact && r.target !== target) fail(`${path}: untouched link read ${JSON.stringify(r.target)}`);
  }
  if (h.x.openCount() !== 0) fail("handles left open");
  const ue = h.unmount("/");
  if (ue) fail(`unmount: ${ue}`);
  if (h.x.regionBytesInUse() !== baseline) fail("buffers leaked across mount/unmount");
}

let h = await newHost(bases[0].image.length / 512);
for (const base of bases) {
  for (let i = 0; i < runs; i++) {
    const seed = seed0 + i;
    parentPort.postMessage({ progress: `${base.name} seed ${seed}` });
    try { checkImage(h, base, base.info, base.view, seed); }
    catch (e) {
      failures.push(`${base.name} seed ${seed}: ${e.constructor.name}: ${e.message}`);
      h = await newHost(base.image.length / 512); // a trapped instance is not trusted further
    }
  }
}
parentPort.postMessage({ done: true, failures, stats: { ...stats, messages: [...stats.messages] } });
