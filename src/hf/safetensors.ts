/** Safetensors files, read and validated as a header only: an 8-byte little-endian header length, a
 * JSON header naming each tensor's dtype, shape and byte range, then the data. Every length and range
 * is checked against the file before anything is allocated or read; data is read later by range. */
import { open } from 'node:fs/promises';
import { QuantNativeError, type ErrorCode } from '../errors.js';
import { GgmlType } from '../ggml-types.js';
import { folderError, inputError } from '../paths.js';

/** The safetensors library refuses larger headers too (MAX_HEADER_SIZE). */
const MAX_HEADER = 100_000_000;

/** Bytes per element of every dtype the format defines. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8,
};

/** The float dtypes a model's weights can be converted from, as ggml types. */
const FLOAT_DTYPES: Readonly<Record<string, number>> = { F32: GgmlType.F32, F16: GgmlType.F16, BF16: GgmlType.BF16 };

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  /** As stored (row-major, slowest dimension first), not reversed as GGUF writes it. */
  shape: number[];
  /** The ggml type of a float dtype; undefined for others. */
  ggmlType: number | undefined;
  /** Index into the folder's list of files. */
  fileIndex: number;
  /** Absolute position of the first byte in its file. */
  dataStart: number;
  nbytes: number;
}

export interface SafetensorsFile {
  path: string;
  size: number;
  tensors: SafetensorsTensor[];
  /** The header's `__metadata__` (string values only, as the format says). */
  metadata: Record<string, string>;
}

export class SafetensorsError extends QuantNativeError {
  readonly file: string;

  constructor(code: ErrorCode, file: string, message: string, hint?: string) {
    super(code, `${file}: ${message}`, hint === undefined ? {} : { hint });
    this.name = 'SafetensorsError';
    this.file = file;
  }
}

const TRUNCATED_HINT = 'the file is shorter than its header says: an incomplete download? Compare its size with the source and fetch it again';

/** The top-level keys of a JSON object text, in order, duplicates included (JSON.parse keeps only the last). */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (k < text.length && /\s/.test(text[k]!)) k++;
        if (text[k] === ':') keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      }
      i = j;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return keys;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Reads and validates one safetensors file's header. */
export async function readSafetensors(path: string, fileIndex = 0): Promise<SafetensorsFile> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (cause) {
    throw inputError(cause, path, 'weights file');
  }
  try {
    const s = await fh.stat();
    if (s.isDirectory()) throw await folderError(path, 'weights file', 'a safetensors file');
    const size = s.size;
    const fail = (code: ErrorCode, message: string, hint?: string): never => {
      throw new SafetensorsError(code, path, message, hint);
    };
    if (size < 8) fail('E_ST_TRUNCATED', `${size} bytes, too short for a safetensors header`, TRUNCATED_HINT);
    const lengthBytes = Buffer.alloc(8);
    await fh.read(lengthBytes, 0, 8, 0);
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(MAX_HEADER)) {
      fail('E_ST_HEADER', `header length ${headerLength} is beyond the format's limit of ${MAX_HEADER} bytes: not a safetensors file?`);
    }
    const n = Number(headerLength);
    if (8 + n > size) fail('E_ST_TRUNCATED', `header of ${n} bytes does not fit in the file (${size} bytes)`, TRUNCATED_HINT);
    const headerBytes = Buffer.alloc(n);
    const { bytesRead } = await fh.read(headerBytes, 0, n, 8);
    if (bytesRead < n) fail('E_ST_TRUNCATED', `short read of the header (${bytesRead} of ${n} bytes)`, TRUNCATED_HINT);

    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    } catch {
      return fail('E_ST_HEADER', 'the header is not valid UTF-8');
    }
    let header: unknown;
    try {
      header = JSON.parse(text);
    } catch (e) {
      return fail('E_ST_HEADER', `the header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('E_ST_HEADER', 'the header is not a JSON object');
    const entries = header as Record<string, unknown>;
    const seen = new Set<string>();
    for (const k of topLevelKeys(text)) {
      if (seen.has(k)) fail('E_ST_DUPLICATE', `tensor ${JSON.stringify(k)} is listed twice in the header`);
      seen.add(k);
    }

    const dataStart = 8 + n;
    const dataLength = size - dataStart;
    const tensors: SafetensorsTensor[] = [];
    let metadata: Record<string, string> = {};
    for (const [name, raw] of Object.entries(entries)) {
      if (name === '__metadata__') {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('E_ST_HEADER', '__metadata__ is not an object');
        metadata = Object.fromEntries(Object.entries(raw as object).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
        continue;
      }
      const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
      if (typeof info !== 'object' || info === null) fail('E_ST_HEADER', `tensor ${name}: its entry is not an object`);
      const { dtype, shape, data_offsets: offsets } = info!;
      if (typeof dtype !== 'string' || DTYPE_BYTES[dtype] === undefined) {
        fail('E_ST_DTYPE', `tensor ${name} has dtype ${JSON.stringify(dtype)}, which safetensors does not define`);
      }
      if (!Array.isArray(shape) || shape.length > 8 || !shape.every(isCount)) fail('E_ST_HEADER', `tensor ${name}: shape ${JSON.stringify(shape)} is not a list of sizes`);
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
        fail('E_ST_HEADER', `tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair`);
      }
      const [begin, end] = offsets as [number, number];
      if (end > dataLength) {
        fail('E_ST_OFFSET', `tensor ${name} ends at data byte ${end}, beyond the ${dataLength} bytes of data the file holds`, TRUNCATED_HINT);
      }
      const dims = shape as number[];
      const elements = dims.reduce((a, b) => a * b, 1);
      if (!Number.isSafeInteger(elements * DTYPE_BYTES[dtype as string]!) || elements * DTYPE_BYTES[dtype as string]! !== end - begin) {
        fail('E_ST_SHAPE', `tensor ${name}: shape [${dims.join(', ')}] of ${dtype} is ${elements * DTYPE_BYTES[dtype as string]!} bytes, but its data_offsets span ${end - begin}`);
      }
      tensors.push({ name, dtype: dtype as string, shape: dims, ggmlType: FLOAT_DTYPES[dtype as string], fileIndex, dataStart: dataStart + begin, nbytes: end - begin });
    }
    const byOffset = [...tensors].sort((a, b) => a.dataStart - b.dataStart);
    for (let i = 1; i < byOffset.length; i++) {
      const prev = byOffset[i - 1]!, t = byOffset[i]!;
      if (t.dataStart < prev.dataStart + prev.nbytes) fail('E_ST_OFFSET', `tensors ${prev.name} and ${t.name} overlap`);
    }
    return { path, size, tensors, metadata };
  } finally {
    await fh.close();
  }
}
