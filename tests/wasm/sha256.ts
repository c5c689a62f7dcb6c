import { Sha256 } from "../../kernel/lib/sha256";
import { allocRegion } from "../../kernel/memory/regions";
export { allocRegion };
let current: Sha256 | null = null;
export function begin(): void { current = new Sha256(); }
export function update(ptr: usize, len: usize): void { current!.update(ptr, len); }
export function finishHex(): string { return current!.finish(); }
