// Figures about the AssemblyScript GC heap and shadow stack, for `mem` and `llmctl info`.
// The heap is AssemblyScript's TLSF allocator; its free lists are walked read-only with the
// layout constants of AssemblyScript 0.28 on wasm32 (std/assembly/rt/tlsf.ts: SL_BITS 4,
// AL_BITS 4 -> FL_BITS 23, SL_SIZE 16, list heads at HL_START = 96, block header 4 bytes).
import { ROOT } from "rt/tlsf";
import { linearMemoryBytes, regionBytesFree, regionBytesInUse } from "./regions";

const FL_BITS: usize = 23;
const SL_SIZE: usize = 16;
const HL_START: usize = 96;
const TAGS_MASK: usize = 3;
const WALK_LIMIT: i32 = 1 << 22; // a corrupted list must not hang the shell

/** Payload bytes in the TLSF free lists, or -1 if the lists look corrupt. */
export function gcFreeBytes(): i64 {
  const root = changetype<usize>(ROOT);
  if (root == 0) return 0;
  const memEnd = <u64>memory.size() << 16;
  let total: i64 = 0;
  let steps = 0;
  for (let fl: usize = 0; fl < FL_BITS; fl++) {
    for (let sl: usize = 0; sl < SL_SIZE; sl++) {
      let block = load<usize>(root + HL_START + ((fl * SL_SIZE + sl) << alignof<usize>()));
      while (block != 0) {
        if (<u64>block + 12 > memEnd || ++steps > WALK_LIMIT) return -1;
        const info = load<usize>(block);
        if ((info & 1) == 0) return -1; // not marked FREE: not a free list
        total += <i64>(info & ~TAGS_MASK);
        block = load<usize>(block, 8); // next
      }
    }
  }
  return total;
}

/** Bytes the GC heap spans: everything above the heap base that regions do not hold. */
export function gcHeapBytes(): u64 {
  return linearMemoryBytes() - <u64>__heap_base - regionBytesInUse() - regionBytesFree();
}

/** Shadow-stack bytes in use and its size. */
export function shadowStackInUse(): u64 { return <u64>(__heap_base - __stack_pointer); }
export function shadowStackSize(): u64 { return <u64>(__heap_base - __data_end); }
