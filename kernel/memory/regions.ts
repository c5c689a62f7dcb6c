// Large buffers (model images, KV caches, scratch, DMA rings) live in regions: runs of
// 64 KiB WebAssembly pages taken from memory.grow and handed back on free, so that loading
// and unloading a model returns memory to where it was. Small objects use the GC heap.
// This file is the one owner of that part of the memory layout.

const PAGE: usize = 65536;

// AssemblyScript's allocator grows linear memory by at least its current size whenever
// the GC heap runs out, so a heap that first grows after a 600 MiB model was placed would
// take another 600 MiB. Room for the GC heap is therefore made once, below every region,
// before the first region is taken.
const GC_HEAP_RESERVE: usize = 32 << 20;
let heapReserved = false;

function reserveGcHeap(): void {
  heapReserved = true;
  heap.free(heap.alloc(GC_HEAP_RESERVE));
}

// Free and used runs, kept as parallel arrays sorted by start page (few entries).
const freeStart = new Array<u32>();
const freePages = new Array<u32>();
const usedStart = new Array<u32>();
const usedPages = new Array<u32>();
let pagesInUse: u64 = 0;
let peakPagesInUse: u64 = 0;

function insertSorted(starts: Array<u32>, counts: Array<u32>, start: u32, pages: u32): i32 {
  let i = 0;
  while (i < starts.length && starts[i] < start) i++;
  starts.push(0); counts.push(0);
  for (let j = starts.length - 1; j > i; j--) { starts[j] = starts[j - 1]; counts[j] = counts[j - 1]; }
  starts[i] = start; counts[i] = pages;
  return i;
}

function removeAt(starts: Array<u32>, counts: Array<u32>, i: i32): void {
  for (let j = i; j < starts.length - 1; j++) { starts[j] = starts[j + 1]; counts[j] = counts[j + 1]; }
  starts.pop(); counts.pop();
}

/** Allocates `bytes` rounded up to whole pages, 64 KiB aligned, zero-filled. Returns 0 when memory is exhausted. */
export function allocRegion(bytes: u64): usize {
  if (!heapReserved) reserveGcHeap();
  if (bytes == 0) bytes = 1;
  const pagesWanted = (bytes + <u64>PAGE - 1) / <u64>PAGE;
  if (pagesWanted > 65536) return 0;
  const n = <u32>pagesWanted;
  let start: u32 = 0;
  let found = false;
  for (let i = 0; i < freeStart.length; i++) {
    if (freePages[i] >= n) {
      start = freeStart[i];
      if (freePages[i] == n) removeAt(freeStart, freePages, i);
      else { freeStart[i] += n; freePages[i] -= n; }
      found = true;
      memory.fill(<usize>start * PAGE, 0, <usize>n * PAGE);
      break;
    }
  }
  if (!found) {
    // a free run that ends where memory ends is extended by growing: one contiguous block
    const last = freeStart.length - 1, end = <u32>memory.size();
    if (last >= 0 && freeStart[last] + freePages[last] == end) {
      const have = freePages[last];
      if (memory.grow(<i32>(n - have)) < 0) return 0;
      start = freeStart[last];
      removeAt(freeStart, freePages, last);
      memory.fill(<usize>start * PAGE, 0, <usize>have * PAGE); // the grown pages are zero already
    } else {
      const before = memory.grow(<i32>n);
      if (before < 0) return 0;
      start = <u32>before; // fresh pages are zero already
    }
  }
  insertSorted(usedStart, usedPages, start, n);
  pagesInUse += n;
  if (pagesInUse > peakPagesInUse) peakPagesInUse = pagesInUse;
  return <usize>start * PAGE;
}

/** Returns a region to the free list (merging neighbours). Unknown pointers are ignored and reported false. */
export function freeRegion(ptr: usize): bool {
  if (ptr == 0 || (ptr & (PAGE - 1)) != 0) return false;
  const start = <u32>(ptr / PAGE);
  let idx = -1;
  for (let i = 0; i < usedStart.length; i++) if (usedStart[i] == start) { idx = i; break; }
  if (idx < 0) return false;
  const n = usedPages[idx];
  removeAt(usedStart, usedPages, idx);
  pagesInUse -= n;
  const i = insertSorted(freeStart, freePages, start, n);
  // merge with the next run, then with the previous one
  if (i + 1 < freeStart.length && freeStart[i] + freePages[i] == freeStart[i + 1]) {
    freePages[i] += freePages[i + 1];
    removeAt(freeStart, freePages, i + 1);
  }
  if (i > 0 && freeStart[i - 1] + freePages[i - 1] == freeStart[i]) {
    freePages[i - 1] += freePages[i];
    removeAt(freeStart, freePages, i);
  }
  return true;
}

/** Size in bytes of the region starting at ptr, or 0. */
export function regionSize(ptr: usize): u64 {
  const start = <u32>(ptr / PAGE);
  for (let i = 0; i < usedStart.length; i++) if (usedStart[i] == start) return <u64>usedPages[i] * PAGE;
  return 0;
}

export function regionBytesInUse(): u64 { return pagesInUse * <u64>PAGE; }
export function regionBytesPeak(): u64 { return peakPagesInUse * <u64>PAGE; }
/** Bytes held in the free list (reusable without growing memory). */
export function regionBytesFree(): u64 {
  let total: u64 = 0;
  for (let i = 0; i < freePages.length; i++) total += <u64>freePages[i];
  return total * <u64>PAGE;
}
/** Linear memory size now, in bytes. */
export function linearMemoryBytes(): u64 { return <u64>memory.size() * <u64>PAGE; }
