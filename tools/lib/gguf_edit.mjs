// Small edits of GGUF files for tools and tests (the engine's own reader and writer are
// llm/gguf.ts and llm/gguf_writer.ts).
const STR = 8, ARR = 9;
const SIZES = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8]; // bytes of each scalar GGUF type

/** The metadata entries of a GGUF: [{ key, type, start, valueStart, end }] (byte offsets of the
 *  entry, its value, and the end), and where the tensor infos begin. */
function metadataEntries(bytes) {
  const nkv = Number(bytes.readBigUInt64LE(16));
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
  const entries = [];
  for (let i = 0; i < nkv; i++) {
    const start = p;
    const klen = Number(bytes.readBigUInt64LE(p));
    const key = bytes.toString("utf8", p + 8, p + 8 + klen);
    p += 8 + klen;
    const type = bytes.readUInt32LE(p);
    p += 4;
    const valueStart = p;
    skipValue(type);
    entries.push({ key, type, start, valueStart, end: p });
  }
  return { entries, infoStart: p };
}

/** A copy of a GGUF without tensors (a vocabulary file) with the string key `key` set to
 *  `value` (e.g. another tokenizer.ggml.pre), the rest byte for byte as it was. */
export function withStringKey(bytes, key, value) {
  if (bytes.readBigUInt64LE(8) !== 0n) throw new Error("withStringKey: only for GGUF files without tensors");
  const e = metadataEntries(bytes).entries.find((x) => x.key === key);
  if (!e) throw new Error(`withStringKey: no key ${key}`);
  if (e.type !== STR) throw new Error(`withStringKey: ${key} is not a string`);
  const v = Buffer.from(value, "utf8"), len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(v.length));
  return Buffer.concat([bytes.subarray(0, e.valueStart), len, v, bytes.subarray(e.end)]);
}

/**
 * A copy of a GGUF (tensors included) with key `key` given the value `valueBytes` of GGUF
 * type `type` (its encoding: for an array, the element type, the count and the elements).
 * The key is replaced where it is, or added last; the tensor data moves to the next
 * alignment boundary, the tensor infos' offsets (relative to it) stay as they are.
 */
export function withKey(bytes, key, type, valueBytes) {
  const nTensors = Number(bytes.readBigUInt64LE(8));
  const { entries, infoStart } = metadataEntries(bytes);
  const al = entries.find((e) => e.key === "general.alignment");
  const alignment = al ? bytes.readUInt32LE(al.valueStart) : 32;
  const kvs = entries.map((e) => (e.key === key ? entry(key, type, valueBytes) : bytes.subarray(e.start, e.end)));
  if (!entries.some((e) => e.key === key)) kvs.push(entry(key, type, valueBytes));
  let p = infoStart;
  for (let i = 0; i < nTensors; i++) {
    p += 8 + Number(bytes.readBigUInt64LE(p)); // name
    const nd = bytes.readUInt32LE(p);
    p += 4 + 8 * nd + 4 + 8;                   // dims, type, offset
  }
  const infos = bytes.subarray(infoStart, p);
  const dataStart = Math.ceil(p / alignment) * alignment;
  const head = Buffer.alloc(24);
  bytes.copy(head, 0, 0, 8);
  head.writeBigUInt64LE(BigInt(nTensors), 8);
  head.writeBigUInt64LE(BigInt(kvs.length), 16);
  const body = Buffer.concat([head, ...kvs, infos]);
  const pad = Buffer.alloc((alignment - (body.length % alignment)) % alignment);
  return Buffer.concat([body, pad, bytes.subarray(dataStart)]);
}

function entry(key, type, valueBytes) {
  const k = Buffer.from(key, "utf8"), head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(k.length), 0);
  const t = Buffer.alloc(4);
  t.writeUInt32LE(type);
  return Buffer.concat([head.subarray(0, 8), k, t, valueBytes]);
}

/** The encoding of a GGUF array of booleans (for withKey with type 9). */
export function boolArray(values) {
  const b = Buffer.alloc(12 + values.length);
  b.writeUInt32LE(7, 0); // GGUF_TYPE_BOOL
  b.writeBigUInt64LE(BigInt(values.length), 4);
  values.forEach((v, i) => { b[12 + i] = v ? 1 : 0; });
  return b;
}
