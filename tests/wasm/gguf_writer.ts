// Test entry for llm/gguf_writer.ts; re-exports the reader entry to read results back.
import { parseGGUF } from "../../llm/gguf";
import { GGUFWriter, GGUFArrayBuilder, GGUFWriteResult } from "../../llm/gguf_writer";
import { GGUF_TYPE_UINT8, GGUF_TYPE_INT16, GGUF_TYPE_STRING, GGUF_TYPE_ARRAY, GGUF_TYPE_FLOAT64, GGUF_TYPE_BOOL, GGUF_TYPE_UINT64 } from "../../llm/gguf";
import { GGML_F32, GGML_Q8_0, GGML_F16 } from "../../llm/tensor_types";

export * from "./gguf";

let result: GGUFWriteResult = new GGUFWriteResult();

export function resultPtr(): usize { return result.ptr; }
export function resultSize(): u64 { return result.size; }
export function resultError(): string { return result.error; }
export function resultTensorData(i: i32): usize { return result.tensorData[i]; }

/** Every metadata type through the typed setters, plus three tensors. */
export function writeEveryType(alignment: u32): bool {
  const w = new GGUFWriter();
  w.setString("general.architecture", "test");
  if (alignment != 32) w.setAlignment(alignment);
  w.setU8("t.u8", 255);
  w.setI8("t.i8", -128);
  w.setU16("t.u16", 65535);
  w.setI16("t.i16", -32768);
  w.setU32("t.u32", 0xffffffff);
  w.setI32("t.i32", i32.MIN_VALUE);
  w.setU64("t.u64", 0xffffffffffffffff);
  w.setI64("t.i64", i64.MIN_VALUE);
  w.setF32("t.f32", 0.1);
  w.setF64("t.f64", 0.1);
  w.setBool("t.true", true);
  w.setBool("t.false", false);
  w.setString("t.str", "snow ☃ and 🦙, \"quoted\"");
  w.setString("t.empty", "");
  w.setString("t.replaced", "first");
  w.setArrayStrings("t.strings", ["<unk>", "▁the", "", "é"]);
  const f = new Float32Array(3); f[0] = -0.5; f[1] = 1e-5; f[2] = 3;
  w.setArrayF32("t.f32s", f);
  const i = new Int32Array(2); i[0] = -7; i[1] = 2147483647;
  w.setArrayI32("t.i32s", i);
  const u = new Uint32Array(1); u[0] = 4000000000;
  w.setArrayU32("t.u32s", u);
  const b = new Uint8Array(2); b[0] = 0; b[1] = 255;
  w.setArrayU8("t.u8s", b);
  w.setArray("t.i16s", new GGUFArrayBuilder(GGUF_TYPE_INT16).pushInt(-2).pushInt(300));
  w.setArray("t.u64s", new GGUFArrayBuilder(GGUF_TYPE_UINT64).pushInt(1).pushInt(-1));
  w.setArray("t.f64s", new GGUFArrayBuilder(GGUF_TYPE_FLOAT64).pushFloat(2.5));
  w.setArray("t.bools", new GGUFArrayBuilder(GGUF_TYPE_BOOL).pushBool(true).pushBool(false));
  w.setArray("t.nested", new GGUFArrayBuilder(GGUF_TYPE_ARRAY)
    .pushArray(new GGUFArrayBuilder(GGUF_TYPE_STRING).pushString("a").pushString("bc"))
    .pushArray(new GGUFArrayBuilder(GGUF_TYPE_UINT8).pushInt(9))
    .pushArray(new GGUFArrayBuilder(GGUF_TYPE_ARRAY).pushArray(new GGUFArrayBuilder(GGUF_TYPE_BOOL).pushBool(true))));
  w.setArray("t.emptyarr", new GGUFArrayBuilder(GGUF_TYPE_STRING));
  w.setString("t.replaced", "second"); // replaces in place, keeps the position

  const data = new Float32Array(6);
  for (let k = 0; k < 6; k++) data[k] = <f32>k * 0.25;
  w.addTensor("w.f32", GGML_F32, [3, 2], data.dataStart);
  w.addTensor("w.q8", GGML_Q8_0, [64], 0); // left zero, filled below through tensorData
  w.addTensor("w.f16", GGML_F16, [1, 1, 1, 5], 0);
  result = w.finish();
  if (!result.ok) return false;
  const q = result.tensorData[1];
  for (let k = 0; k < 68; k++) store<u8>(q + <usize>k, <u8>(k + 1));
  return true;
}

/** Parses the image at [base, base+size), copies metadata and tensors into a writer, writes. */
export function rewrite(base: usize, size: u64): bool {
  const r = parseGGUF(base, size);
  if (!r.ok) { result = new GGUFWriteResult(); result.error = r.error; return false; }
  const f = r.file!;
  const w = new GGUFWriter();
  w.copyMetadata(f);
  for (let k = 0; k < f.tensorCount; k++) {
    const t = f.tensors[k];
    const dims = new Array<u64>(<i32>t.nDims);
    for (let d: u32 = 0; d < t.nDims; d++) dims[d] = t.dims[d];
    w.addTensor(t.name, t.type, dims, t.data);
  }
  result = w.finish();
  return result.ok;
}

/** Each invalid use of the writer, by number; returns the writer's error message. */
export function misuse(n: i32): string {
  const w = new GGUFWriter();
  w.setU8("k", 1);
  switch (n) {
    case 0: w.addTensor("t", GGML_F32, [], 0); break;
    case 1: w.addTensor("t", GGML_F32, [1, 1, 1, 1, 1], 0); break;
    case 2: w.addTensor("t", GGML_F32, [4, 0], 0); break;
    case 3: w.addTensor("t", 99, [4], 0); break;
    case 4: w.addTensor("t", GGML_Q8_0, [40], 0); break;
    case 5: w.addTensor("t", GGML_F32, [4], 0); w.addTensor("t", GGML_F32, [4], 0); break;
    case 6: w.setAlignment(24); break;
    case 7: w.setArray("a", new GGUFArrayBuilder(GGUF_TYPE_UINT8).pushString("x")); break;
    case 8: w.setArray("a", new GGUFArrayBuilder(77)); break;
    case 9: w.addTensor("t", GGML_F32, [0x100000000, 0x100000000], 0); break;
  }
  return w.finish().error;
}
