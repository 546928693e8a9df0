/** Loads the native addon and types its raw surface. Nothing here is public API: api.ts wraps it. */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QuantNativeError } from './errors.js';
import { DIRECT_BLOCK, type AlignedAlloc } from './gguf/append-file.js';

export interface NativeTypeInfo {
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
}

export interface NativeInfo {
  readonly napiVersion: number;
  /** SIMD paths this CPU can run, most portable first. */
  readonly simdAvailable: readonly SimdName[];
  readonly simdBest: string;
  /** Whether quantize jobs can read their rows from a file descriptor (srcFd): not on Windows. */
  readonly fileSource: boolean;
  /** Index = the number the native calls take as `simd`. */
  readonly simdNames: readonly SimdName[];
  readonly types: Readonly<Record<string, NativeTypeInfo>>;
}

export type ByteSource = ArrayBufferView | ArrayBuffer;

export interface NativeQuantizeJob {
  srcType: number;
  dstType: number;
  nrows: number;
  nPerRow: number;
  /** The rows, or (srcFd and srcOffset instead) where a file holds them: each thread reads its own rows. */
  src?: ByteSource;
  srcFd?: number;
  srcOffset?: number;
  /** Bytes of srcFd the next job reads, which the kernel is asked to bring into the page cache meanwhile. */
  prefetchOffset?: number;
  prefetchLength?: number;
  dst: ByteSource;
  simd: number;
  threads?: number;
  /** n_per_row floats per matrix (expert); rows pick theirs by (firstRow + row) / rowsPerMatrix. */
  imatrix?: Float32Array;
  firstRow?: number;
  rowsPerMatrix?: number;
  /** Element 0 set to non-zero stops the job between row groups. */
  cancel?: Int32Array;
  /** false skips the NaN/Inf checks of input and output (default true). Only the kernel benchmark sets it, to
   * time the kernel alone as ggml_quantize_chunk is timed; llama.cpp's quantizer makes both checks around
   * that call (its loader and llama_tensor_quantize_impl), as ours does. */
  validate?: boolean;
  /** When given (nrows elements), each row's round-trip error: the sum of errorWeights[j] * (x[j] - y[j])^2
   * over the row, y its dequantized quantization, summed in double in element order. */
  rowErrors?: Float64Array;
  /** Weights of that error, laid out as the imatrix (n_per_row per matrix); default 1. */
  errorWeights?: Float32Array;
}

export interface NativeJobResult {
  /** Global index of the first input row holding NaN/Inf, or -1. */
  readonly invalidInputRow: number;
  /** Global index of the first output row whose scales or values are NaN/Inf, or -1. */
  readonly invalidOutputRow: number;
  readonly cancelled: boolean;
  /** With srcFd: why a read failed ('EOF' when the file ended early), else null. */
  readonly readError: string | null;
}

export interface NativeAddon {
  readonly info: NativeInfo;
  quantizeSync(job: NativeQuantizeJob): NativeJobResult;
  quantizeAsync(job: NativeQuantizeJob): Promise<NativeJobResult>;
  dequantize(job: { type: number; nrows: number; nPerRow: number; src: ByteSource; dst: ByteSource }): void;
  dequantizeAsync(job: { type: number; nrows: number; nPerRow: number; src: ByteSource; dst: ByteSource }): Promise<void>;
  findInvalidRow(job: { type: number; nrows: number; nPerRow: number; data: ByteSource }): number;
  simdParse(name: string): number;
  /** `bytes` zeroed bytes starting on an `alignment` (power of two) boundary. */
  alignedBuffer(job: { bytes: number; alignment: number }): Uint8Array;
}

/** The kernel paths a caller can ask for; `auto` picks the best this CPU runs. */
export type SimdName = 'auto' | 'scalar' | 'avx2' | 'avx512' | 'neon';

export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

let loaded: NativeAddon | undefined;
let loadedFrom: string | undefined;

/** Loads the addon once per JS context. `bindingPath` (or QUANT_NATIVE_BINDING) names a .node
 * file directly, for packagers that move it (Electron's asar unpacking). */
export function loadNative(bindingPath?: string): NativeAddon {
  const explicit = bindingPath ?? process.env.QUANT_NATIVE_BINDING;
  if (loaded && (!explicit || explicit === loadedFrom)) return loaded;
  const require = createRequire(import.meta.url);
  try {
    const path = explicit ?? (require('node-gyp-build') as { resolve(dir: string): string }).resolve(PACKAGE_ROOT);
    loaded = require(path) as NativeAddon;
    loadedFrom = path;
    return loaded;
  } catch (cause) {
    throw new QuantNativeError('E_NATIVE_LOAD', `could not load the quant-native addon: ${(cause as Error).message}`, {
      hint: 'run `npm rebuild quant-native` (building from source needs a C/C++ compiler and CMake), or set nativeBinding to the .node file',
      cause,
    });
  }
}

/** The path of the loaded addon file. */
export function nativeBindingPath(): string | undefined {
  return loadedFrom;
}

/** Resolves a SIMD path name (option, else QUANT_NATIVE_SIMD, else auto) to the addon's index. */
export function resolveSimd(addon: NativeAddon, requested?: string): number {
  const name = (requested ?? process.env.QUANT_NATIVE_SIMD ?? 'auto').trim().toLowerCase();
  const index = addon.simdParse(name);
  if (index < 0) {
    throw new QuantNativeError('E_BAD_OPTION', `unknown SIMD path "${name}"`, {
      hint: `use one of: auto, ${addon.info.simdNames.join(', ')}`,
    });
  }
  const resolved = addon.info.simdNames[index] ?? (name as SimdName);
  if (!addon.info.simdAvailable.includes(resolved)) {
    throw new QuantNativeError('E_SIMD_UNAVAILABLE', `the ${resolved} path is not available on this CPU`, {
      hint: `available here: ${addon.info.simdAvailable.join(', ')} (or auto)`,
    });
  }
  return index;
}

/** Memory for output written around the page cache, unless QUANT_NATIVE_DIRECT_IO=0 asks for buffered
 * writes (for a file system whose O_DIRECT misbehaves). */
export function directIoAlloc(addon: NativeAddon): AlignedAlloc | undefined {
  if (process.env.QUANT_NATIVE_DIRECT_IO === '0') return undefined;
  return (bytes) => addon.alignedBuffer({ bytes, alignment: DIRECT_BLOCK });
}
