/** GGUF on-disk vocabulary: value types, the in-memory shape of metadata and tensor infos. */
import { utf8 } from './utf8.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** llama.cpp refuses tensor names of this many bytes or more (GGML_MAX_NAME). */
export const GGUF_MAX_NAME = 64;
export const GGUF_MAX_DIMS = 4;

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export const VALUE_TYPE_NAMES: Record<GgufValueType, string> = {
  [GgufValueType.UINT8]: 'u8', [GgufValueType.INT8]: 'i8', [GgufValueType.UINT16]: 'u16',
  [GgufValueType.INT16]: 'i16', [GgufValueType.UINT32]: 'u32', [GgufValueType.INT32]: 'i32',
  [GgufValueType.FLOAT32]: 'f32', [GgufValueType.BOOL]: 'bool', [GgufValueType.STRING]: 'str',
  [GgufValueType.ARRAY]: 'arr', [GgufValueType.UINT64]: 'u64', [GgufValueType.INT64]: 'i64',
  [GgufValueType.FLOAT64]: 'f64',
};

/** Byte size of a fixed-size value type (0 for string and array). */
export function valueTypeSize(t: GgufValueType): number {
  switch (t) {
    case GgufValueType.UINT8: case GgufValueType.INT8: case GgufValueType.BOOL: return 1;
    case GgufValueType.UINT16: case GgufValueType.INT16: return 2;
    case GgufValueType.UINT32: case GgufValueType.INT32: case GgufValueType.FLOAT32: return 4;
    case GgufValueType.UINT64: case GgufValueType.INT64: case GgufValueType.FLOAT64: return 8;
    default: return 0;
  }
}

export function isValueType(t: number): t is GgufValueType {
  return Number.isInteger(t) && t >= 0 && t <= 12;
}

/** Arrays of numbers keep the on-disk element type in a typed array, so a 150k-entry token score
 * list costs 600 KB, not 150k JS numbers; strings and nested arrays use plain arrays. */
export type GgufNumericArray =
  | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array
  | BigUint64Array | BigInt64Array | Float64Array;

export interface GgufArray {
  readonly elementType: GgufValueType;
  readonly items: GgufNumericArray | string[] | GgufArray[];
}

/** A string array as a GGUF file holds it: each string a u64 length and its UTF-8 bytes, all checked when read.
 * The strings are made on first use of `items`; until then the writer copies the bytes, so a vocabulary (30-250k
 * tokens, as many merges) passes from input to output without a string made or encoded again. */
export class EncodedStringArray implements GgufArray {
  readonly elementType = GgufValueType.STRING;
  private decoded: string[] | undefined;

  constructor(private readonly bytes: Uint8Array, readonly length: number) {}

  get items(): string[] {
    if (this.decoded === undefined) {
      const view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.length);
      const items = new Array<string>(this.length);
      for (let i = 0, at = 0; i < this.length; i++) {
        const n = view.getUint32(at, true);
        items[i] = utf8.decode(this.bytes.subarray(at + 8, at + 8 + n));
        at += 8 + n;
      }
      this.decoded = items;
    }
    return this.decoded;
  }

  /** The encoded strings, while the items are unread (once read, they may have been changed). */
  get encoded(): Uint8Array | undefined {
    return this.decoded === undefined ? this.bytes : undefined;
  }
}

/** Scalars: numbers for <= 32-bit ints and floats, bigint for 64-bit ints, boolean, string. */
export type GgufValue = number | bigint | boolean | string | GgufArray;

export interface GgufKv {
  readonly key: string;
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

export interface GgufTensorInfo {
  readonly name: string;
  /** ne[0..n_dims), ne[0] being the row length. */
  readonly dims: readonly number[];
  readonly type: number;
  /** Offset relative to the data section of its file. */
  readonly offset: number;
  readonly nbytes: number;
  /** Which file of a split model holds it (0 for a single file). */
  readonly fileIndex: number;
  /** Absolute byte position of its data in that file. */
  readonly dataStart: number;
}

export function padTo(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Number of elements; dims are validated so the product is a safe integer. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** ggml_n_dims: the highest index with ne > 1, plus one (at least 1). */
export function ggmlNDims(dims: readonly number[]): number {
  for (let i = dims.length - 1; i >= 1; i--) if (dims[i]! > 1) return i + 1;
  return 1;
}
