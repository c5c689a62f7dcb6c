export { allocRegion, freeRegion, regionSize, regionBytesInUse, regionBytesFree, linearMemoryBytes } from "../../kernel/memory/regions";
/** Allocates about `bytes` of small GC objects and keeps them alive. */
const kept = new Array<Uint8Array>();
export function churnHeap(bytes: i32): void { for (let n = 0; n < bytes; n += 4096) kept.push(new Uint8Array(4000)); }
