/** Streamed, validated GGUF reading: the header, metadata and tensor infos are parsed through a
 * small positional-read window; every count and length is checked against what the rest of the
 * file could hold before anything is allocated. Tensor data is read on demand, by row range. */
import { open, type FileHandle } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { GgufError, type ErrorCode } from '../errors.js';
import { ggmlTypeInfo, ggmlTypeName, rowBytes } from '../ggml-types.js';
import { folderError, inputError } from '../paths.js';
import {
  EncodedStringArray, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_DIMS, GGUF_MAX_NAME, GgufValueType, isValueType, padTo, valueTypeSize,
  type GgufArray, type GgufKv, type GgufNumericArray, type GgufTensorInfo, type GgufValue,
} from './format.js';
import { isWellFormedUtf8, utf8 } from './utf8.js';

const WINDOW = 1 << 20;
const MAX_STRING = 1 << 30;
const MAX_ARRAY = 2 ** 30;
// Smallest possible encodings, used to bound counts by the bytes left in the file.
const MIN_KV_BYTES = 8 + 1 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 1 + 4 + 8 + 4 + 8;

/** A cursor over a file that reads through a window, so parsing costs few syscalls. */
class Cursor {
  pos = 0;
  private buf = Buffer.alloc(0);
  private bufStart = 0;

  private lastYield = performance.now();

  constructor(private readonly fh: FileHandle, readonly size: number, readonly file: string) {}

  /** Reads from the window resolve at once, so a long metadata block would run as one chain of
   * microtasks and starve timers (a 150k-token vocabulary); give the event loop a turn every few ms. */
  async breathe(): Promise<void> {
    const now = performance.now();
    if (now - this.lastYield < 4) return;
    await nextTurn();
    this.lastYield = performance.now();
  }

  fail(code: ErrorCode, message: string, at = this.pos, hint = code === 'E_GGUF_TRUNCATED' ? TRUNCATED_HINT : undefined): never {
    throw new GgufError(code, `${this.file}: ${message} (at byte ${at})`, { file: this.file, offset: at, ...(hint ? { hint } : {}) });
  }

  remaining(): number {
    return this.size - this.pos;
  }

  /** Makes n bytes at pos available; fails as truncated when the file ends first. */
  private async need(n: number, what: string): Promise<void> {
    if (n > this.remaining()) this.fail('E_GGUF_TRUNCATED', `file ends inside ${what}: ${n} bytes needed, ${this.remaining()} left`);
    if (this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(Math.max(n, WINDOW), this.remaining());
    const buf = Buffer.allocUnsafe(len);
    const { bytesRead } = await this.fh.read(buf, 0, len, this.pos);
    if (bytesRead < n) this.fail('E_GGUF_TRUNCATED', `short read in ${what}`);
    this.buf = buf.subarray(0, bytesRead);
    this.bufStart = this.pos;
  }

  private at(): number {
    return this.pos - this.bufStart;
  }

  async bytes(n: number, what: string): Promise<Buffer> {
    await this.need(n, what);
    const b = this.buf.subarray(this.at(), this.at() + n);
    this.pos += n;
    return b;
  }

  async u8(what: string): Promise<number> { await this.need(1, what); const v = this.buf.readUInt8(this.at()); this.pos += 1; return v; }
  async i8(what: string): Promise<number> { await this.need(1, what); const v = this.buf.readInt8(this.at()); this.pos += 1; return v; }
  async u16(what: string): Promise<number> { await this.need(2, what); const v = this.buf.readUInt16LE(this.at()); this.pos += 2; return v; }
  async i16(what: string): Promise<number> { await this.need(2, what); const v = this.buf.readInt16LE(this.at()); this.pos += 2; return v; }
  async u32(what: string): Promise<number> { await this.need(4, what); const v = this.buf.readUInt32LE(this.at()); this.pos += 4; return v; }
  async i32(what: string): Promise<number> { await this.need(4, what); const v = this.buf.readInt32LE(this.at()); this.pos += 4; return v; }
  async f32(what: string): Promise<number> { await this.need(4, what); const v = this.buf.readFloatLE(this.at()); this.pos += 4; return v; }
  async f64(what: string): Promise<number> { await this.need(8, what); const v = this.buf.readDoubleLE(this.at()); this.pos += 8; return v; }
  async u64(what: string): Promise<bigint> { await this.need(8, what); const v = this.buf.readBigUInt64LE(this.at()); this.pos += 8; return v; }
  async i64(what: string): Promise<bigint> { await this.need(8, what); const v = this.buf.readBigInt64LE(this.at()); this.pos += 8; return v; }

  /** Steps over the next string when it is valid and already in the window; otherwise false with nothing consumed
   * (string() then reads it, or reports what is wrong): a vocabulary's strings without an await or a string each. */
  skipStringInWindow(): boolean {
    const at = this.pos - this.bufStart;
    if (at < 0 || at + 8 > this.buf.length) return false;
    const lo = this.buf.readUInt32LE(at), hi = this.buf.readUInt32LE(at + 4);
    const end = at + 8 + lo;
    if (hi !== 0 || lo > MAX_STRING || end > this.buf.length) return false;
    if (!isWellFormedUtf8(this.buf, at + 8, end)) return false;
    this.pos = this.bufStart + end;
    return true;
  }

  /** A copy of bytes [from, to) of the file, from the window when it holds them. */
  async copy(from: number, to: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(to - from);
    if (from >= this.bufStart && to <= this.bufStart + this.buf.length) {
      this.buf.copy(out, 0, from - this.bufStart, to - this.bufStart);
      return out;
    }
    const { bytesRead } = await this.fh.read(out, 0, out.length, from);
    if (bytesRead < out.length) this.fail('E_GGUF_TRUNCATED', 'short read', from);
    return out;
  }

  async string(what: string): Promise<string> {
    const start = this.pos;
    const len = await this.u64(`the length of ${what}`);
    if (len > BigInt(MAX_STRING) || len > BigInt(this.remaining())) {
      this.fail('E_GGUF_LIMIT', `${what} claims ${len} bytes but only ${this.remaining()} remain`, start);
    }
    const raw = await this.bytes(Number(len), what);
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail('E_GGUF_UTF8', `${what} is not valid UTF-8`, start);
    }
  }
}

export interface GgufFile {
  readonly path: string;
  readonly version: number;
  readonly fileSize: number;
  /** Metadata in file order. */
  readonly kvs: readonly GgufKv[];
  readonly tensors: readonly GgufTensorInfo[];
  readonly alignment: number;
  /** Absolute start of the data section (0 bytes of data when there are no tensors). */
  readonly dataOffset: number;
}

export interface ReadOptions {
  /** Index stored in each tensor's fileIndex (for split models). */
  fileIndex?: number;
  /** What the file is to the user, for errors ("input", "reference model", ...). */
  what?: string;
}

const TRUNCATED_HINT = 'the file is shorter than its own header says: an incomplete download or copy? Compare its size with the source and fetch it again';

async function readArray(c: Cursor, key: string, depth: number): Promise<GgufArray> {
  const start = c.pos;
  const elementType = await c.i32(`the element type of ${key}`);
  if (!isValueType(elementType)) c.fail('E_GGUF_VALUE_TYPE', `array ${key} has unknown element type ${elementType}`, start);
  const count = await c.u64(`the length of array ${key}`);
  const elemMin = elementType === GgufValueType.STRING ? 8 : elementType === GgufValueType.ARRAY ? 12 : valueTypeSize(elementType);
  if (count > BigInt(MAX_ARRAY) || count * BigInt(elemMin) > BigInt(c.remaining())) {
    c.fail('E_GGUF_LIMIT', `array ${key} claims ${count} elements, more than the ${c.remaining()} remaining bytes can hold`, start);
  }
  const n = Number(count);
  if (elementType === GgufValueType.STRING) {
    const first = c.pos;
    for (let i = 0; i < n; i++) {
      if (!c.skipStringInWindow()) await c.string(`${key}[${i}]`);
      if ((i & 1023) === 1023) await c.breathe();
    }
    return new EncodedStringArray(await c.copy(first, c.pos), n);
  }
  if (elementType === GgufValueType.ARRAY) {
    if (depth >= 8) c.fail('E_GGUF_LIMIT', `array ${key} nests more than 8 levels deep`, start);
    const items: GgufArray[] = new Array(n);
    for (let i = 0; i < n; i++) items[i] = await readArray(c, `${key}[${i}]`, depth + 1);
    return { elementType, items };
  }
  const size = valueTypeSize(elementType);
  const raw = await c.bytes(n * size, `array ${key}`);
  // Copy into an aligned buffer of its own so the typed array owns it.
  const copy = new ArrayBuffer(raw.length);
  new Uint8Array(copy).set(raw);
  return { elementType, items: typedArrayOf(elementType, copy, n) };
}

function typedArrayOf(t: GgufValueType, buf: ArrayBuffer, n: number): GgufNumericArray {
  switch (t) {
    case GgufValueType.UINT8: case GgufValueType.BOOL: return new Uint8Array(buf, 0, n);
    case GgufValueType.INT8: return new Int8Array(buf, 0, n);
    case GgufValueType.UINT16: return new Uint16Array(buf, 0, n);
    case GgufValueType.INT16: return new Int16Array(buf, 0, n);
    case GgufValueType.UINT32: return new Uint32Array(buf, 0, n);
    case GgufValueType.INT32: return new Int32Array(buf, 0, n);
    case GgufValueType.FLOAT32: return new Float32Array(buf, 0, n);
    case GgufValueType.UINT64: return new BigUint64Array(buf, 0, n);
    case GgufValueType.INT64: return new BigInt64Array(buf, 0, n);
    case GgufValueType.FLOAT64: return new Float64Array(buf, 0, n);
    default: throw new Error(`not a numeric type: ${t}`);
  }
}

async function readValue(c: Cursor, key: string, type: GgufValueType): Promise<GgufValue> {
  switch (type) {
    case GgufValueType.UINT8: return c.u8(key);
    case GgufValueType.INT8: return c.i8(key);
    case GgufValueType.UINT16: return c.u16(key);
    case GgufValueType.INT16: return c.i16(key);
    case GgufValueType.UINT32: return c.u32(key);
    case GgufValueType.INT32: return c.i32(key);
    case GgufValueType.FLOAT32: return c.f32(key);
    case GgufValueType.BOOL: return (await c.u8(key)) !== 0;
    case GgufValueType.STRING: return c.string(`the value of ${key}`);
    case GgufValueType.ARRAY: return readArray(c, key, 0);
    case GgufValueType.UINT64: return c.u64(key);
    case GgufValueType.INT64: return c.i64(key);
    case GgufValueType.FLOAT64: return c.f64(key);
  }
}

/** Reads and validates everything but the tensor data. */
export async function readGguf(path: string, options: ReadOptions = {}): Promise<GgufFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    throw inputError(cause, path, options.what ?? 'input');
  }
  try {
    // A folder opens for reading on POSIX systems; its reads would fail with EISDIR.
    const s = await fh.stat();
    if (s.isDirectory()) throw await folderError(path, options.what ?? 'input');
    const size = s.size;
    return await parse(new Cursor(fh, size, path), options.fileIndex ?? 0);
  } finally {
    await fh.close();
  }
}

async function parse(c: Cursor, fileIndex: number): Promise<GgufFile> {
  if (c.size < 4) c.fail('E_GGUF_TRUNCATED', `file is ${c.size} bytes, too short for a GGUF header`, 0);
  const magic = await c.u32('the magic');
  if (magic !== GGUF_MAGIC) {
    c.fail('E_GGUF_MAGIC', `not a GGUF file (magic ${magic.toString(16).padStart(8, '0')}, expected 46554747 "GGUF")`, 0,
      'check the path: quant-native reads .gguf files; convert other formats with llama.cpp\'s convert_hf_to_gguf.py first');
  }
  const version = await c.u32('the version');
  if (version === 1) {
    c.fail('E_GGUF_VERSION', 'GGUF version 1 is not supported (llama.cpp dropped it too)', 4,
      'convert the model again with a current llama.cpp to get a version 3 file');
  }
  if (version === 0 || (version & 0xffff) === 0 || version > 3) {
    c.fail('E_GGUF_VERSION', `unsupported GGUF version ${version} (versions 2 and 3 are read)`, 4);
  }
  const tensorCountAt = c.pos;
  const tensorCount = await c.i64('the tensor count');
  const kvCountAt = c.pos;
  const kvCount = await c.i64('the metadata count');
  if (tensorCount < 0n || tensorCount * BigInt(MIN_TENSOR_INFO_BYTES) > BigInt(c.remaining())) {
    c.fail('E_GGUF_LIMIT', `tensor count ${tensorCount} is impossible for a file of ${c.size} bytes`, tensorCountAt);
  }
  if (kvCount < 0n || kvCount * BigInt(MIN_KV_BYTES) > BigInt(c.remaining())) {
    c.fail('E_GGUF_LIMIT', `metadata count ${kvCount} is impossible for a file of ${c.size} bytes`, kvCountAt);
  }

  const kvs: GgufKv[] = [];
  const seenKeys = new Set<string>();
  for (let i = 0; i < Number(kvCount); i++) {
    const keyAt = c.pos;
    const key = await c.string(`metadata key #${i}`);
    if (key.length === 0) c.fail('E_GGUF_KEY', `metadata key #${i} is empty`, keyAt);
    if (seenKeys.has(key)) c.fail('E_GGUF_DUPLICATE', `metadata key ${key} appears twice`, keyAt);
    seenKeys.add(key);
    const typeAt = c.pos;
    const type = await c.i32(`the type of ${key}`);
    if (!isValueType(type)) c.fail('E_GGUF_VALUE_TYPE', `metadata ${key} has unknown value type ${type}`, typeAt);
    kvs.push({ key, type, value: await readValue(c, key, type) });
    await c.breathe();
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const alignKv = kvs.find((kv) => kv.key === 'general.alignment');
  if (alignKv) {
    const a = alignKv.value;
    if (alignKv.type !== GgufValueType.UINT32 || typeof a !== 'number' || a === 0 || (a & (a - 1)) !== 0) {
      c.fail('E_GGUF_ALIGNMENT', `general.alignment must be a power-of-two u32, got ${String(a)}`, 0);
    }
    alignment = a;
  }

  const infos: { name: string; dims: number[]; type: number; offset: number; nbytes: number; at: number }[] = [];
  const seenNames = new Set<string>();
  for (let i = 0; i < Number(tensorCount); i++) {
    const at = c.pos;
    const name = await c.string(`tensor name #${i}`);
    if (Buffer.byteLength(name) >= GGUF_MAX_NAME) c.fail('E_GGUF_LIMIT', `tensor name "${name.slice(0, 80)}" is ${Buffer.byteLength(name)} bytes, the limit is ${GGUF_MAX_NAME - 1}`, at);
    if (seenNames.has(name)) c.fail('E_GGUF_DUPLICATE', `tensor ${name} appears twice`, at);
    seenNames.add(name);
    const nDims = await c.u32(`the dimension count of ${name}`);
    if (nDims < 1 || nDims > GGUF_MAX_DIMS) c.fail('E_GGUF_SHAPE', `tensor ${name} has ${nDims} dimensions (1 to ${GGUF_MAX_DIMS} allowed)`, at);
    const dims: number[] = [];
    let elements = 1n;
    for (let d = 0; d < nDims; d++) {
      const ne = await c.i64(`dimension ${d} of ${name}`);
      if (ne <= 0n) c.fail('E_GGUF_SHAPE', `tensor ${name} has dimension ${d} of ${ne}`, at);
      elements *= ne;
      if (elements > BigInt(Number.MAX_SAFE_INTEGER)) c.fail('E_GGUF_SHAPE', `tensor ${name} has more elements than fit in 2^53`, at);
      dims.push(Number(ne));
    }
    const typeAt = c.pos;
    const type = await c.i32(`the type of ${name}`);
    const traits = ggmlTypeInfo(type);
    if (!traits) c.fail('E_GGUF_TENSOR_TYPE', `tensor ${name} has unknown or removed type ${type}`, typeAt);
    if (dims[0]! % traits.blockSize !== 0) {
      c.fail('E_GGUF_SHAPE', `tensor ${name}: row length ${dims[0]} is not a multiple of ${traits.name}'s block size ${traits.blockSize}`, at);
    }
    const offset = await c.u64(`the offset of ${name}`);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) c.fail('E_GGUF_OFFSET', `tensor ${name} has offset ${offset}, beyond any file`, typeAt + 4);
    const nbytes = rowBytes(type, dims[0]!)! * (Number(elements) / dims[0]!);
    infos.push({ name, dims, type, offset: Number(offset), nbytes, at });
    if ((i & 255) === 255) await c.breathe();
  }

  const dataOffset = infos.length > 0 ? padTo(c.pos, alignment) : c.pos;
  const tensors: GgufTensorInfo[] = [];
  let expected = 0;
  for (const t of infos) {
    if (t.offset % alignment !== 0) c.fail('E_GGUF_ALIGNMENT', `tensor ${t.name} has offset ${t.offset}, not a multiple of the alignment ${alignment}`, t.at);
    if (t.offset < expected) c.fail('E_GGUF_OFFSET', `tensor ${t.name} at offset ${t.offset} overlaps the tensor before it (which ends at ${expected})`, t.at);
    if (t.offset !== expected) c.fail('E_GGUF_OFFSET', `tensor ${t.name} has offset ${t.offset}, expected ${expected}: tensor data must be contiguous in info order`, t.at);
    const dataStart = dataOffset + t.offset;
    if (dataStart + t.nbytes > c.size) {
      c.fail('E_GGUF_TRUNCATED', `tensor ${t.name} (${ggmlTypeName(t.type)}, ${t.nbytes} bytes at ${dataStart}) extends past the end of the file (${c.size} bytes)`, t.at);
    }
    tensors.push({ name: t.name, dims: t.dims, type: t.type, offset: t.offset, nbytes: t.nbytes, fileIndex, dataStart });
    expected = padTo(t.offset + t.nbytes, alignment);
  }
  return { path: c.file, version, fileSize: c.size, kvs, tensors, alignment, dataOffset };
}

/** Positional reads of tensor data by row range; one open handle per file. */
export class TensorDataReader {
  private constructor(private readonly handles: FileHandle[], private readonly paths: string[]) {}

  static async open(paths: readonly string[]): Promise<TensorDataReader> {
    const handles: FileHandle[] = [];
    try {
      for (const p of paths) handles.push(await open(p, 'r'));
    } catch (cause) {
      await Promise.all(handles.map((h) => h.close()));
      throw new GgufError('E_IO', `cannot open ${paths[handles.length]}: ${(cause as Error).message}`, { cause });
    }
    return new TensorDataReader(handles, [...paths]);
  }

  /** Where bytes [start, start + length) of a tensor's data lie: the open file's descriptor and offset. */
  locate(tensor: GgufTensorInfo, start: number, length: number): { fd: number; offset: number; length: number } {
    if (start < 0 || length < 0 || start + length > tensor.nbytes) {
      throw new RangeError(`range of ${length} bytes at ${start} is outside tensor ${tensor.name} (${tensor.nbytes} bytes)`);
    }
    const fh = this.handles[tensor.fileIndex];
    if (!fh) throw new RangeError(`tensor ${tensor.name} names file ${tensor.fileIndex}, which is not open`);
    return { fd: fh.fd, offset: tensor.dataStart + start, length };
  }

  /** The error of a read of a tensor's data that found its file shorter than the metadata says. */
  truncated(tensor: GgufTensorInfo): GgufError {
    return new GgufError('E_GGUF_TRUNCATED', `${this.paths[tensor.fileIndex]} ended while reading tensor ${tensor.name}`, { file: this.paths[tensor.fileIndex], hint: TRUNCATED_HINT });
  }

  /** Reads bytes [start, start + length) of a tensor's data into `into` (from its offset 0). */
  async read(tensor: GgufTensorInfo, start: number, length: number, into: Uint8Array): Promise<void> {
    if (start < 0 || length < 0 || start + length > tensor.nbytes || length > into.length) {
      throw new RangeError(`read of ${length} bytes at ${start} is outside tensor ${tensor.name} (${tensor.nbytes} bytes)`);
    }
    const fh = this.handles[tensor.fileIndex];
    if (!fh) throw new RangeError(`tensor ${tensor.name} names file ${tensor.fileIndex}, which is not open`);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(into, done, length - done, tensor.dataStart + start + done);
      if (bytesRead === 0) throw this.truncated(tensor);
      done += bytesRead;
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.close()));
  }
}
