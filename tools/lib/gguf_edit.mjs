// Small edits of GGUF files for tools and tests (the engine's own reader and writer are
// llm/gguf.ts and llm/gguf_writer.ts).
const STR = 8, ARR = 9;
/** A copy of a GGUF without tensors (a vocabulary file) with the string key `key` set to
 *  `value` (e.g. another tokenizer.ggml.pre), the rest byte for byte as it was. */
export function withStringKey(bytes, key, value) {
  if (bytes.readBigUInt64LE(8) !== 0n) throw new Error("withStringKey: only for GGUF files without tensors");
  const nkv = Number(bytes.readBigUInt64LE(16));
  const SIZES = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];
  let p = 24;
  const skipValue = (t) => {
    if (t === STR) { p += 8 + Number(bytes.readBigUInt64LE(p)); return; }
    if (t === ARR) {
      const elem = bytes.readUInt32LE(p), n = Number(bytes.readBigUInt64LE(p + 4));
      p += 12;
      if (elem === STR || elem === ARR) for (let i = 0; i < n; i++) skipValue(elem);
      else p += n * SIZES[elem];
      return;
    }
    p += SIZES[t];
  };
  for (let i = 0; i < nkv; i++) {
    const klen = Number(bytes.readBigUInt64LE(p));
    const k = bytes.toString("utf8", p + 8, p + 8 + klen);
    p += 8 + klen;
    const t = bytes.readUInt32LE(p);
    p += 4;
    const start = p;
    skipValue(t);
    if (k === key) {
      if (t !== STR) throw new Error(`withStringKey: ${key} is not a string`);
      const v = Buffer.from(value, "utf8"), len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(v.length));
      return Buffer.concat([bytes.subarray(0, start), len, v, bytes.subarray(p)]);
    }
  }
  throw new Error(`withStringKey: no key ${key}`);
}
