// mem: memory use: the GC heap (after a full collection), regions (kernel/memory/regions),
// linear memory and the AssemblyScript shadow stack.
import { println } from "../../kernel/console";
import { linearMemoryBytes, regionBytesFree, regionBytesInUse, regionBytesPeak } from "../../kernel/memory/regions";
import { ROOT } from "rt/tlsf";
import { bytes } from "../format";
import { OK, USAGE, registerCommand } from "../registry";

// The GC heap is AssemblyScript's TLSF allocator. Its free lists are walked read-only;
// the layout constants are those of AssemblyScript 0.28 on wasm32 (std/assembly/rt/tlsf.ts:
// SL_BITS 4, AL_BITS 4 -> FL_BITS 23, SL_SIZE 16, heads at HL_START = 96, block header 4).
// TODO(kernel/memory owner): move this next to the region allocator.
const FL_BITS: usize = 23;
const SL_SIZE: usize = 16;
const HL_START: usize = 96;
const TAGS_MASK: usize = 3;
const WALK_LIMIT: i32 = 1 << 22; // a corrupted list must not hang the shell

/** Payload bytes in the TLSF free lists, or -1 if the lists look corrupt. */
function gcFreeBytes(): i64 {
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

function mem(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  __collect();
  const linear = linearMemoryBytes();
  const regionsUsed = regionBytesInUse();
  const regionsFree = regionBytesFree();
  // everything above the heap base that regions do not hold belongs to the GC heap
  const heapTotal = linear - <u64>__heap_base - regionsUsed - regionsFree;
  const free = gcFreeBytes();
  if (free < 0) println("gc heap:  " + bytes(heapTotal) + " (free lists unreadable)");
  else println("gc heap:  " + bytes(heapTotal - <u64>free) + " in use, " + bytes(<u64>free) + " free (after a full collection)");
  println("regions:  " + bytes(regionsUsed) + " in use, " + bytes(regionsFree) + " free, peak " + bytes(regionBytesPeak()));
  println("linear:   " + bytes(linear) + " (" + memory.size().toString() + " pages of 64 KiB)");
  const stackSize = <u64>(__heap_base - __data_end);
  println("stack:    " + (<u64>(__heap_base - __stack_pointer)).toString() + " B of " + bytes(stackSize) + " shadow stack in use");
  return OK;
}

registerCommand("mem", "show memory use (GC heap, regions, linear memory, stack)", "mem", mem);
