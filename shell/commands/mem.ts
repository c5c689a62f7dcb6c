// mem: memory use: the GC heap (after a full collection), regions (kernel/memory/regions),
// linear memory and the AssemblyScript shadow stack.
import { println } from "../../kernel/console";
import { linearMemoryBytes, regionBytesFree, regionBytesInUse, regionBytesPeak } from "../../kernel/memory/regions";
import { gcFreeBytes, gcHeapBytes, shadowStackInUse, shadowStackSize } from "../../kernel/memory/heap";
import { bytes } from "../format";
import { OK, USAGE, registerCommand } from "../registry";

function mem(args: Array<string>): i32 {
  if (args.length != 1) return USAGE;
  __collect();
  const linear = linearMemoryBytes();
  const regionsUsed = regionBytesInUse();
  const regionsFree = regionBytesFree();
  const heapTotal = gcHeapBytes();
  const free = gcFreeBytes();
  if (free < 0) println("gc heap:  " + bytes(heapTotal) + " (free lists unreadable)");
  else println("gc heap:  " + bytes(heapTotal - <u64>free) + " in use, " + bytes(<u64>free) + " free (after a full collection)");
  println("regions:  " + bytes(regionsUsed) + " in use, " + bytes(regionsFree) + " free, peak " + bytes(regionBytesPeak()));
  println("linear:   " + bytes(linear) + " (" + memory.size().toString() + " pages of 64 KiB)");
  println("stack:    " + shadowStackInUse().toString() + " B of " + bytes(shadowStackSize()) + " shadow stack in use");
  return OK;
}

registerCommand("mem", "show memory use (GC heap, regions, linear memory, stack)", "mem", mem);
