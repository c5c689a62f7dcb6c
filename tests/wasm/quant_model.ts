// Test entry: re-quantizes every quantized tensor of a reference GGUF (made by llama.cpp's
// quantizer) from the F16 source model with this project's reference quantizers, and reports
// per tensor how many rows differ from the reference bytes.
import { allocRegion, freeRegion } from "../../kernel/memory/regions";
import { parseGGUF, GGUFFile } from "../../llm/gguf";
import { dequantizeRow, quantizeRow } from "../../llm/kernels/matmul";
import { rowBytes, typeName, GGML_F32, GGML_F16 } from "../../llm/tensor_types";
export { allocRegion, freeRegion };

let src: GGUFFile | null = null;
let ref: GGUFFile | null = null;

/** Parses both images; returns "" or the first error. */
export function load(srcBase: usize, srcSize: u64, refBase: usize, refSize: u64): string {
  const a = parseGGUF(srcBase, srcSize);
  if (!a.ok) return "source: " + a.error;
  const b = parseGGUF(refBase, refSize);
  if (!b.ok) return "reference: " + b.error;
  src = a.file; ref = b.file;
  return "";
}

/** JSON array: one entry per reference tensor, {name, type, rows, k, badRows, firstBad, note}. */
export function compareAll(): string {
  const s = src!, r = ref!;
  let out = "[";
  let scratch: usize = 0, scratchBytes: usize = 0;
  for (let i = 0; i < r.tensors.length; i++) {
    const t = r.tensors[i];
    if (i > 0) out += ",";
    out += "{\"name\":\"" + t.name + "\",\"type\":\"" + typeName(t.type) + "\"";
    const st = s.findTensor(t.name);
    if (st === null) { out += ",\"note\":\"missing in source\"}"; continue; }
    if (t.type == GGML_F32 || t.type == GGML_F16 || st.type == t.type) { out += ",\"note\":\"not requantized\"}"; continue; }
    const k = <i32>t.ne0, rows = <i32>t.rows;
    const rb = <usize>rowBytes(t.type, <u64>k), srb = <usize>rowBytes(st.type, <u64>k);
    if (rb == 0 || srb == 0 || st.ne0 != t.ne0 || st.rows != t.rows) { out += ",\"note\":\"shape or type mismatch\"}"; continue; }
    const need = (<usize>k << 2) + rb;
    if (need > scratchBytes) {
      if (scratch) freeRegion(scratch);
      scratch = allocRegion(<u64>need); scratchBytes = need;
    }
    const f = scratch, q = scratch + (<usize>k << 2);
    let bad = 0, firstBad = -1;
    for (let row = 0; row < rows; row++) {
      dequantizeRow(st.data + <usize>row * srb, st.type, f, k);
      quantizeRow(f, t.type, q, k);
      if (memory.compare(q, t.data + <usize>row * rb, rb) != 0) { bad++; if (firstBad < 0) firstBad = row; }
    }
    out += ",\"rows\":" + rows.toString() + ",\"k\":" + k.toString() + ",\"badRows\":" + bad.toString() + ",\"firstBad\":" + firstBad.toString() + "}";
  }
  if (scratch) freeRegion(scratch);
  return out + "]";
}

// Access to the source model's tensors, for comparisons run on the JS side (K-quants vs ggml).
export function srcTensorCount(): i32 { return src!.tensors.length; }
export function srcTensorName(i: i32): string { return src!.tensors[i].name; }
export function srcTensorType(i: i32): u32 { return src!.tensors[i].type; }
export function srcTensorK(i: i32): i32 { return <i32>src!.tensors[i].ne0; }
export function srcTensorRows(i: i32): i32 { return <i32>src!.tensors[i].rows; }
/** Tensor i of the source as f32 rows at dst (k*rows floats). */
export function srcTensorToF32(i: i32, dst: usize): bool {
  const t = src!.tensors[i];
  const k = <i32>t.ne0, rows = <i32>t.rows;
  const rb = <usize>rowBytes(t.type, <u64>k);
  for (let r = 0; r < rows; r++) if (!dequantizeRow(t.data + <usize>r * rb, t.type, dst + (<usize>r * <usize>k << 2), k)) return false;
  return true;
}
/** rows rows of k floats at src quantized to `type` at dst. */
export function quantizeRows(type: u32, srcp: usize, dst: usize, k: i32, rows: i32): bool {
  const rb = <usize>rowBytes(type, <u64>k);
  for (let r = 0; r < rows; r++) if (!quantizeRow(srcp + (<usize>r * <usize>k << 2), type, dst + <usize>r * rb, k)) return false;
  return true;
}
