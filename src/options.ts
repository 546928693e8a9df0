/** Validation of the options objects the public functions take, at the boundary: an unknown or
 * misspelled key, a missing required one or a value of the wrong kind is an E_BAD_OPTION that names it,
 * before anything inside the package reads it. */
import { QuantNativeError } from './errors.js';
import type { SimdName } from './native.js';
import type { QuantizeProgress } from './progress-events.js';
import { didYouMean } from './suggest.js';

/** Says what a value should be, or undefined when it is fine. */
export type Check = (value: unknown) => string | undefined;

const is = (ok: (v: unknown) => boolean, what: string): Check => (v) => (ok(v) ? undefined : what);

export const checks = {
  string: is((v) => typeof v === 'string' && v.length > 0, 'a non-empty string'),
  boolean: is((v) => typeof v === 'boolean', 'true or false'),
  positiveInt: is((v) => Number.isInteger(v) && (v as number) >= 1, 'a positive integer'),
  function: is((v) => typeof v === 'function', 'a function'),
  signal: is((v) => v instanceof AbortSignal, 'an AbortSignal'),
  strings: is((v) => Array.isArray(v) && v.every((x) => typeof x === 'string'), 'an array of strings'),
  layers: is((v) => Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0), 'an array of layer numbers'),
  objects: is((v) => Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null), 'an array of objects'),
  presetArg: is((v) => (typeof v === 'string' && v.length > 0) || Number.isInteger(v), "a preset name such as 'Q4_K_M' or a llama ftype number"),
  float32Array: is((v) => v instanceof Float32Array, 'a Float32Array'),
  target: is((v) => {
    if (typeof v !== 'object' || v === null) return false;
    const keys = Object.keys(v);
    const o = v as { bytes?: unknown; bitsPerWeight?: unknown };
    if (keys.length === 1 && keys[0] === 'bytes') return Number.isSafeInteger(o.bytes) && (o.bytes as number) > 0;
    if (keys.length === 1 && keys[0] === 'bitsPerWeight') return typeof o.bitsPerWeight === 'number' && o.bitsPerWeight > 0 && o.bitsPerWeight <= 32;
    return false;
  }, '{ bytes: n } (a positive integer) or { bitsPerWeight: x } (0 < x <= 32)'),
  oneOf: (...values: readonly string[]): Check => is((v) => values.includes(v as string), `one of ${values.map((x) => `'${x}'`).join(', ')}`),
};

/** What every long job (quantize, dequantize, convert) takes besides what it works on. */
export interface JobOptions {
  /** Overwrite an existing output. */
  force?: boolean;
  /** Worker threads (default: all cores). Never changes the output bytes. */
  threads?: number;
  /** SIMD path: auto (default), scalar, avx2, avx512, neon. Never changes the output bytes. */
  simd?: SimdName;
  /** Input bytes per chunk (default 32 MiB); peak memory is about four chunks plus the metadata. */
  chunkBytes?: number;
  signal?: AbortSignal;
  onProgress?: (p: QuantizeProgress) => void;
  /** Path of the .node file, for packagers that move it (Electron asar unpacking). */
  nativeBinding?: string;
}

export const JOB_OPTIONS: Record<keyof JobOptions, Check> = {
  force: checks.boolean, threads: checks.positiveInt, simd: checks.string, chunkBytes: checks.positiveInt,
  signal: checks.signal, onProgress: checks.function, nativeBinding: checks.string,
};

/** Names people reach for, from other tools' APIs, and the option that means it here. */
const ALIASES: Readonly<Record<string, string>> = {
  type: 'preset', quant: 'preset', quantization: 'preset', ftype: 'preset', method: 'preset',
  out: 'output', outfile: 'output', outFile: 'output', outputPath: 'output', dest: 'output',
  model: 'input', file: 'input', inputPath: 'input', src: 'input', source: 'input',
  overwrite: 'force', nthreads: 'threads', nThreads: 'threads', abortSignal: 'signal', progress: 'onProgress',
};

/** Checks `options` against `spec` (every allowed key and its check) and `required`. */
export function validateOptions(fn: string, options: unknown, spec: Readonly<Record<string, Check>>, required: readonly string[] = []): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new QuantNativeError('E_BAD_OPTION', `${fn}() takes an options object, got ${options === null ? 'null' : typeof options}`);
  }
  const known = Object.keys(spec);
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (Object.hasOwn(spec, key)) continue;
    const alias = ALIASES[key];
    const suggestion = alias !== undefined && Object.hasOwn(spec, alias) ? ` (did you mean "${alias}"?)` : didYouMean(key, known);
    throw new QuantNativeError('E_BAD_OPTION', `${fn}(): unknown option "${key}"${suggestion}`, { hint: `the options are: ${known.join(', ')}` });
  }
  for (const key of required) {
    if (given[key] === undefined) throw new QuantNativeError('E_BAD_OPTION', `${fn}(): the "${key}" option is missing`, { hint: requiredHint(key) });
  }
  for (const key of known) {
    const value = given[key];
    if (value === undefined) continue;
    const wanted = spec[key]!(value);
    if (wanted !== undefined) {
      throw new QuantNativeError('E_BAD_OPTION', `${fn}(): "${key}" must be ${wanted}, got ${describe(value)}`);
    }
  }
}

function requiredHint(key: string): string {
  if (key === 'preset') return "name the preset, e.g. preset: 'Q4_K_M' (listPresets() lists them)";
  if (key === 'input') return "give the model to read, e.g. input: 'model-f16.gguf'";
  return `set ${key}`;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v}`;
}
