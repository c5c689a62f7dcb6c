// Test entry for llm/gguf.ts: load bytes into a region, parse, and report the result as
// strings/numbers that the vitest side compares with other readers.
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { parseGGUF, GGUFFile } from "../../llm/gguf";
import { metadataJSON, metadataTypesJSON, tensorsJSON, jsonString } from "../../llm/gguf_dump";

export { allocRegion, freeRegion };

let file: GGUFFile | null = null;
let error = "";

/** Parses [base, base+size). Returns true when it succeeded. */
export function parse(base: usize, size: u64): bool {
  const r = parseGGUF(base, size);
  file = r.file;
  error = r.error;
  return r.ok;
}
export function lastError(): string { return error; }
export function version(): u32 { return file!.version; }
export function alignment(): u32 { return file!.alignment; }
export function dataOffset(): u64 { return file!.dataOffset; }
export function kvCount(): i32 { return file!.kvCount; }
export function tensorCount(): i32 { return file!.tensorCount; }
export function metadata(): string { return metadataJSON(file!); }
export function metadataTypes(): string { return metadataTypesJSON(file!); }
export function tensors(): string { return tensorsJSON(file!); }

/** Index of the tensor named by the UTF-8 bytes at [p, p+n) via findTensor, or -1. */
export function findTensor(p: usize, n: usize): i32 {
  const t = file!.findTensor(String.UTF8.decodeUnsafe(p, n));
  if (t === null) return -1;
  return file!.tensors.indexOf(t);
}

/** Absolute address of tensor i's data (to check that it points into the image). */
export function tensorData(i: i32): usize { return file!.tensors[i].data; }

/** What every typed getter says about the key named by the bytes at [p, p+n), as JSON. */
export function keyInfo(p: usize, n: usize): string {
  const f = file!;
  const k = String.UTF8.decodeUnsafe(p, n);
  const arr = f.getArray(k);
  return "{\"has\":" + b(f.has(k)) + ",\"type\":" + f.typeOf(k).toString() +
    ",\"hasInt\":" + b(f.hasInt(k)) + ",\"hasU32\":" + b(f.hasU32(k)) + ",\"hasFloat\":" + b(f.hasFloat(k)) +
    ",\"hasBool\":" + b(f.hasBool(k)) + ",\"hasString\":" + b(f.hasString(k)) + ",\"hasArray\":" + b(f.hasArray(k)) +
    ",\"u32\":" + f.getU32(k, 12345).toString() + ",\"i32\":" + f.getI32(k, -12345).toString() +
    ",\"i64\":\"" + f.getI64(k, -99).toString() + "\",\"f64\":" + f.getF64(k, -1.5).toString() +
    ",\"f32\":" + (<f64>f.getF32(k, -2.5)).toString() + ",\"bool\":" + b(f.getBool(k, true)) +
    ",\"string\":" + jsonString(f.getString(k, "<none>")) +
    ",\"arrayLength\":" + (arr === null ? "-1" : arr.length.toString()) + "}";
}

/** Element i of the array under key [p, p+n) through every element accessor, as JSON. */
export function arrayElement(p: usize, n: usize, i: i32): string {
  const v = file!.getArray(String.UTF8.decodeUnsafe(p, n));
  if (v === null) return "null";
  const sub = v.arrayAt(i);
  return "{\"i64\":\"" + v.i64At(i).toString() + "\",\"f64\":" + v.f64At(i).toString() + ",\"bool\":" + b(v.boolAt(i)) +
    ",\"string\":" + jsonString(v.stringAt(i)) + ",\"stringLen\":" + v.stringLenAt(i).toString() +
    ",\"subLength\":" + (sub === null ? "-1" : sub.length.toString()) + "}";
}

function b(x: bool): string { return x ? "true" : "false"; }
