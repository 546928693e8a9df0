/** GGUF v3 writing as llama.cpp's gguf writer does it: header, metadata in the given order, tensor
 * infos, zero padding to the alignment, then each tensor's data followed by zero padding (the last
 * one too). Output goes to a temporary file beside the target and is renamed into place only when
 * every byte has been written. */
import { rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { QuantNativeError } from '../errors.js';
import { outputError } from '../paths.js';
import {
  EncodedStringArray, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufValueType, padTo, valueTypeSize,
  type GgufArray, type GgufKv, type GgufValue,
} from './format.js';
import { AppendFile, type AlignedAlloc } from './append-file.js';
import { partialPath } from './partial.js';

export interface TensorDecl {
  readonly name: string;
  /** Dimensions as written (callers apply ggml_n_dims when llama.cpp would). */
  readonly dims: readonly number[];
  readonly type: number;
  readonly nbytes: number;
}

/** Growable little-endian byte sink for the metadata block. */
class Sink {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void { this.reserve(1); this.buf.writeUInt8(v, this.length); this.length += 1; }
  i8(v: number): void { this.reserve(1); this.buf.writeInt8(v, this.length); this.length += 1; }
  u16(v: number): void { this.reserve(2); this.buf.writeUInt16LE(v, this.length); this.length += 2; }
  i16(v: number): void { this.reserve(2); this.buf.writeInt16LE(v, this.length); this.length += 2; }
  u32(v: number): void { this.reserve(4); this.buf.writeUInt32LE(v, this.length); this.length += 4; }
  i32(v: number): void { this.reserve(4); this.buf.writeInt32LE(v, this.length); this.length += 4; }
  f32(v: number): void { this.reserve(4); this.buf.writeFloatLE(v, this.length); this.length += 4; }
  f64(v: number): void { this.reserve(8); this.buf.writeDoubleLE(v, this.length); this.length += 8; }
  u64(v: bigint): void { this.reserve(8); this.buf.writeBigUInt64LE(v, this.length); this.length += 8; }
  i64(v: bigint): void { this.reserve(8); this.buf.writeBigInt64LE(v, this.length); this.length += 8; }
  bytes(b: Uint8Array): void { this.reserve(b.length); this.buf.set(b, this.length); this.length += b.length; }
  /** A u64 length and the UTF-8 bytes, encoded in place (a vocabulary has 30-250k of them). */
  string(s: string): void {
    this.reserve(8 + 3 * s.length);
    const n = this.buf.write(s, this.length + 8, 'utf8');
    this.buf.writeUInt32LE(n, this.length);
    this.buf.writeUInt32LE(0, this.length + 4);
    this.length += 8 + n;
  }
  zeros(n: number): void { this.reserve(n); this.buf.fill(0, this.length, this.length + n); this.length += n; }
  result(): Buffer { return this.buf.subarray(0, this.length); }
}

function writeScalar(s: Sink, type: GgufValueType, v: GgufValue, key: string): void {
  const bad = (): never => {
    throw new QuantNativeError('E_BAD_OPTION', `metadata ${key}: value ${String(v)} does not fit type ${GgufValueType[type]}`);
  };
  switch (type) {
    case GgufValueType.UINT8: return typeof v === 'number' ? s.u8(v) : bad();
    case GgufValueType.INT8: return typeof v === 'number' ? s.i8(v) : bad();
    case GgufValueType.UINT16: return typeof v === 'number' ? s.u16(v) : bad();
    case GgufValueType.INT16: return typeof v === 'number' ? s.i16(v) : bad();
    case GgufValueType.UINT32: return typeof v === 'number' ? s.u32(v) : bad();
    case GgufValueType.INT32: return typeof v === 'number' ? s.i32(v) : bad();
    case GgufValueType.FLOAT32: return typeof v === 'number' ? s.f32(v) : bad();
    case GgufValueType.BOOL: return typeof v === 'boolean' ? s.u8(v ? 1 : 0) : bad();
    case GgufValueType.STRING: return typeof v === 'string' ? s.string(v) : bad();
    case GgufValueType.UINT64: return typeof v === 'bigint' ? s.u64(v) : bad();
    case GgufValueType.INT64: return typeof v === 'bigint' ? s.i64(v) : bad();
    case GgufValueType.FLOAT64: return typeof v === 'number' ? s.f64(v) : bad();
    case GgufValueType.ARRAY: return typeof v === 'object' ? writeArray(s, v, key) : bad();
  }
}

function writeArray(s: Sink, a: GgufArray, key: string): void {
  s.i32(a.elementType);
  if (a instanceof EncodedStringArray && a.encoded) {
    s.u64(BigInt(a.length));
    s.bytes(a.encoded);
    return;
  }
  s.u64(BigInt(a.items.length));
  if (a.elementType === GgufValueType.STRING) {
    for (const item of a.items as string[]) s.string(item);
  } else if (a.elementType === GgufValueType.ARRAY) {
    for (const item of a.items as GgufArray[]) writeArray(s, item, key);
  } else if (ArrayBuffer.isView(a.items)) {
    // Typed arrays hold the on-disk bytes already (the hosts we run on are little-endian).
    s.bytes(new Uint8Array(a.items.buffer, a.items.byteOffset, a.items.length * valueTypeSize(a.elementType)));
  } else {
    throw new QuantNativeError('E_BAD_OPTION', `metadata ${key}: numeric arrays must be typed arrays`);
  }
}

/** The bytes before the data section: header, metadata, tensor infos, padding. */
export function encodeGgufMeta(kvs: readonly GgufKv[], tensors: readonly TensorDecl[], alignment = GGUF_DEFAULT_ALIGNMENT): Buffer {
  const s = new Sink();
  s.u32(GGUF_MAGIC);
  s.u32(3);
  s.i64(BigInt(tensors.length));
  s.i64(BigInt(kvs.length));
  for (const kv of kvs) {
    s.string(kv.key);
    s.i32(kv.type);
    writeScalar(s, kv.type, kv.value, kv.key);
  }
  let offset = 0;
  for (const t of tensors) {
    s.string(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.i64(BigInt(d));
    s.i32(t.type);
    s.u64(BigInt(offset));
    offset = padTo(offset + t.nbytes, alignment);
  }
  if (tensors.length > 0) s.zeros(padTo(s.length, alignment) - s.length);
  return s.result();
}

/** Total file size for the given metadata block and tensors. */
export function ggufFileSize(metaBytes: number, tensors: readonly TensorDecl[], alignment = GGUF_DEFAULT_ALIGNMENT): number {
  return tensors.reduce((sum, t) => sum + padTo(t.nbytes, alignment), metaBytes);
}

function mapWriteError(cause: unknown, path: string): QuantNativeError {
  const code = (cause as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new QuantNativeError('E_NO_SPACE', `no space left on the device while writing ${path}`, {
      hint: 'free some disk space or write the output to another disk', cause,
    });
  }
  return outputError(cause, dirname(path));
}

export interface WriterIo {
  /** Aligned memory for writing around the page cache (the addon's alignedBuffer); without it the
   * file is written through the page cache. */
  readonly alignedAlloc?: AlignedAlloc;
}

/** Streams one GGUF file: tensor data must arrive in declaration order. */
export class GgufFileWriter {
  private tensorIndex = 0;
  private writtenInTensor = 0;
  /** File offset of each tensor's data. */
  private readonly offsets: number[] = [];

  private constructor(
    private readonly file: AppendFile,
    readonly finalPath: string,
    private readonly tensors: readonly TensorDecl[],
    private readonly alignment: number,
    metaLength: number,
  ) {
    let at = metaLength;
    for (const t of tensors) {
      this.offsets.push(at);
      at += padTo(t.nbytes, alignment);
    }
  }

  /** Where byte `byte` of tensor `index`'s data goes in the file. */
  fileOffset(index: number, byte: number): number {
    return this.offsets[index]! + byte;
  }

  /** Opens a temporary file in the target's folder and writes the metadata. */
  static async create(finalPath: string, kvs: readonly GgufKv[], tensors: readonly TensorDecl[], alignment = GGUF_DEFAULT_ALIGNMENT, io: WriterIo = {}): Promise<GgufFileWriter> {
    return GgufFileWriter.createEncoded(finalPath, encodeGgufMeta(kvs, tensors, alignment), tensors, alignment, io);
  }

  /** As create, with the metadata block already encoded (by encodeGgufMeta, for these tensors): a
   * caller that needed its size before writing does not encode a large vocabulary twice. */
  static async createEncoded(finalPath: string, meta: Buffer, tensors: readonly TensorDecl[], alignment = GGUF_DEFAULT_ALIGNMENT, io: WriterIo = {}): Promise<GgufFileWriter> {
    let file: AppendFile;
    try {
      file = await AppendFile.create(partialPath(finalPath), io.alignedAlloc);
    } catch (cause) {
      throw mapWriteError(cause, finalPath);
    }
    const w = new GgufFileWriter(file, finalPath, tensors, alignment, meta.length);
    try {
      await w.append(meta);
    } catch (e) {
      await w.abort();
      throw e;
    }
    return w;
  }

  get tempPath(): string {
    return this.file.path;
  }

  private async append(data: Uint8Array): Promise<void> {
    try {
      await this.file.append(data);
    } catch (cause) {
      throw mapWriteError(cause, this.finalPath);
    }
  }

  /** Appends bytes of the current tensor; padding is added when a tensor is complete. */
  async write(data: Uint8Array): Promise<void> {
    let rest = data;
    while (rest.length > 0) {
      const t = this.tensors[this.tensorIndex];
      if (!t) throw new RangeError('more tensor data than declared');
      const take = Math.min(rest.length, t.nbytes - this.writtenInTensor);
      await this.append(rest.subarray(0, take));
      this.writtenInTensor += take;
      rest = rest.subarray(take);
      if (this.writtenInTensor === t.nbytes) await this.endTensor();
    }
  }

  private async endTensor(): Promise<void> {
    const t = this.tensors[this.tensorIndex]!;
    const pad = padTo(t.nbytes, this.alignment) - t.nbytes;
    if (pad > 0) await this.append(new Uint8Array(pad));
    this.tensorIndex++;
    this.writtenInTensor = 0;
    // Zero-byte tensors complete as soon as they come up.
    const next = this.tensors[this.tensorIndex];
    if (next && next.nbytes === 0) await this.endTensor();
  }

  /** Checks that every tensor is complete, flushes, and renames into place. */
  async finish(): Promise<void> {
    if (this.tensorIndex === 0 && this.tensors[0]?.nbytes === 0) await this.endTensor();
    if (this.tensorIndex !== this.tensors.length) {
      await this.abort();
      throw new RangeError(`only ${this.tensorIndex} of ${this.tensors.length} tensors were written`);
    }
    try {
      await this.file.finish();
      await rename(this.tempPath, this.finalPath);
    } catch (cause) {
      await this.abort();
      throw mapWriteError(cause, this.finalPath);
    }
  }

  /** Removes the temporary file; safe to call more than once. */
  async abort(): Promise<void> {
    await this.file.close();
    await unlink(this.tempPath).catch(() => undefined);
  }
}
