// Small edits of GGUF files for tools and tests (the engine's own reader and writer are
// llm/gguf.ts and llm/gguf_writer.ts).
const STR = 8, ARR = 9;
const SIZES = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8]; // bytes of each scalar GGUF type

/** The metadata entries of a GGUF: [{ key, type, start, valueStart, end }] (byte offsets of the
 *  entry, its value, and the end), and where the tensor infos begin. */
function metadataEntries(bytes) {
  const nkv = Number(bytes.readBigUInt64LE(16));
  let p = 24;
  const entries = [];
  for (let i = 0; i < nkv; i++) {
    const start = p;
    const klen = Number(bytes.readBigUInt64LE(p));
    const key = bytes.toString("utf8", p + 8, p + 8 + klen);
    p += 8 + klen;
    const type = bytes.readUInt32LE(p);
    p += 4;
    const valueStart = p;
    p = valueEnd(bytes, p, type);
    entries.push({ key, type, start, valueStart, end: p });
  }
  return { entries, infoStart: p };
}

/** Where the value of GGUF type t that starts at p ends. */
function valueEnd(bytes, p, t) {
  if (t === STR) return p + 8 + Number(bytes.readBigUInt64LE(p));
  if (t !== ARR) return p + SIZES[t];
  const elem = bytes.readUInt32LE(p), n = Number(bytes.readBigUInt64LE(p + 4));
  p += 12;
  if (elem !== STR && elem !== ARR) return p + n * SIZES[elem];
  for (let i = 0; i < n; i++) p = valueEnd(bytes, p, elem);
  return p;
}

/** Where the n tensor infos that start at p end. */
function tensorInfosEnd(bytes, p, n) {
  for (let i = 0; i < n; i++) {
    p += 8 + Number(bytes.readBigUInt64LE(p)); // name
    const nd = bytes.readUInt32LE(p);
    p += 4 + 8 * nd + 4 + 8;                   // dims, type, offset
  }
  return p;
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
  const p = tensorInfosEnd(bytes, infoStart, nTensors);
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

/**
 * A small copy of a GGUF's header (fuzzing seeds): every metadata array cut to its first
 * `maxArray` elements, the tensor infos as they are (or none, `tensors` false: a vocabulary
 * file) and no tensor data, so the infos' offsets point past the end of the copy.
 */
export function shrunkHeader(bytes, { maxArray = Infinity, tensors = true } = {}) {
  const nTensors = tensors ? Number(bytes.readBigUInt64LE(8)) : 0;
  const { entries, infoStart } = metadataEntries(bytes);
  const kvs = entries.map((e) => {
    if (e.type !== ARR || Number(bytes.readBigUInt64LE(e.valueStart + 4)) <= maxArray) return bytes.subarray(e.start, e.end);
    const elem = bytes.readUInt32LE(e.valueStart);
    let p = e.valueStart + 12;
    for (let i = 0; i < maxArray; i++) p = valueEnd(bytes, p, elem);
    const count = Buffer.alloc(8);
    count.writeBigUInt64LE(BigInt(maxArray));
    return Buffer.concat([bytes.subarray(e.start, e.valueStart + 4), count, bytes.subarray(e.valueStart + 12, p)]);
  });
  const head = Buffer.from(bytes.subarray(0, 24));
  head.writeBigUInt64LE(BigInt(nTensors), 8);
  return Buffer.concat([head, ...kvs, bytes.subarray(infoStart, tensorInfosEnd(bytes, infoStart, nTensors))]);
}
