export { allocRegion, freeRegion, regionSize, regionBytesInUse, regionBytesFree, linearMemoryBytes } from "../../kernel/memory/regions";
