/** Parsers for llama-quantize's argument syntax, so scripts can switch by changing the program name. */
import { readFileSync } from 'node:fs';
import { QuantNativeError } from '../errors.js';
import type { KvOverride, TensorTypeOverride } from '../quant/plan.js';
import { findPreset, PRESETS } from '../quant/presets.js';
import { nearest } from '../suggest.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface QuantizePositionals {
  input: string;
  output: string | undefined;
  /** Undefined only when `typeOptional` (a target size or bpw was given) and none was named. */
  type: string | undefined;
  threads: number | undefined;
}

/** `<input> [<output>] <type> [nthreads]`: when the argument after the input is a type, the
 * output is omitted (llama-quantize's rule). With a target the type may be left out. */
export function parseQuantizePositionals(args: readonly string[], typeOptional = false): QuantizePositionals {
  if (typeOptional && (args.length === 1 || (args.length === 2 && !findPreset(args[1]!) && !looksLikeType(args[1]!)))) {
    return { input: args[0]!, output: args[1], type: undefined, threads: undefined };
  }
  if (args.length < 2) throw new UsageError('quantize needs an input file and a type, e.g. `quant-native quantize model-f16.gguf Q4_K_M` (or a budget: --target-size 4GB)');
  const [input, second, ...rest] = args as [string, string, ...string[]];
  let output: string | undefined;
  let type: string;
  let tail: string[];
  if (findPreset(second)) {
    type = second;
    tail = rest;
  } else {
    if (rest.length === 0) {
      // One argument after the input: a type the user mistyped, or an output path with the type left out.
      if (looksLikeType(second)) throw unknownType(second);
      throw new UsageError(`missing the type after the output path ${second}, e.g. \`quant-native quantize ${input} ${second} Q4_K_M\``);
    }
    output = second;
    type = rest[0]!;
    tail = rest.slice(1);
    if (!findPreset(type)) throw unknownType(type);
  }
  if (tail.length > 1) throw new UsageError(`unexpected arguments: ${tail.slice(1).join(' ')}`);
  let threads: number | undefined;
  if (tail.length === 1) {
    const n = Number(tail[0]);
    if (!Number.isInteger(n)) throw new UsageError(`nthreads must be an integer, got "${tail[0]}"`);
    threads = n > 0 ? n : undefined; // llama-quantize: <= 0 means all cores
  }
  return { input, output, type, threads };
}

const PRESET_NAMES = PRESETS.map((p) => p.name);

/** Not a path (no extension, no folder) and close to a preset's name. */
function looksLikeType(arg: string): boolean {
  return !/[./\\]/.test(arg) && nearest(arg, PRESET_NAMES) !== undefined;
}

function unknownType(arg: string): UsageError {
  const near = nearest(arg, PRESET_NAMES);
  return new UsageError(`unknown type "${arg}"${near ? `: did you mean ${near}?` : ''} (\`quant-native presets\` lists them all)`);
}

/** --target-bpw X: bits per weight of the tensor data, in (0, 32]. */
export function parseBitsPerWeight(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 32) throw new UsageError(`--target-bpw must be a number of bits per weight such as 3.8, got "${value}"`);
  return n;
}

/** --threads N: a positive integer (undefined when the option is not given). */
export function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--threads must be a positive integer, got "${value}"`);
  return n;
}

/** NAME=TYPE; the name part is lower-cased as llama-quantize does. */
export function parseTensorType(spec: string): TensorTypeOverride {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1) throw new UsageError(`--tensor-type expects NAME=TYPE, got "${spec}"`);
  return { pattern: spec.slice(0, eq).toLowerCase(), type: spec.slice(eq + 1) };
}

/** Whitespace-separated NAME=TYPE tokens, in file order. */
export function readTensorTypeFile(path: string): TensorTypeOverride[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new QuantNativeError('E_IO', `cannot read --tensor-type-file ${path}: ${(cause as Error).message}`, { cause });
  }
  return text.split(/\s+/).filter(Boolean).map(parseTensorType);
}

/** KEY=TYPE:VALUE with TYPE int, float, bool or str (llama.cpp's string_parse_kv_override). */
export function parseKvOverride(spec: string): KvOverride {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`--override-kv expects KEY=TYPE:VALUE, got "${spec}"`);
  const key = spec.slice(0, eq);
  if (key.length >= 128) throw new UsageError(`--override-kv key is too long (${key.length} characters, 127 at most)`);
  const rest = spec.slice(eq + 1);
  const m = /^(int|float|bool|str):(.*)$/s.exec(rest);
  if (!m) throw new UsageError(`--override-kv ${key}: the value must start with int:, float:, bool: or str:`);
  const [, type, raw] = m as unknown as [string, 'int' | 'float' | 'bool' | 'str', string];
  switch (type) {
    case 'int': {
      const n = /^\s*[+-]?\d+/.exec(raw);
      return { key, type, value: n ? Number.parseInt(n[0], 10) : 0 };
    }
    case 'float': {
      const f = Number.parseFloat(raw);
      return { key, type, value: Number.isNaN(f) ? 0 : f };
    }
    case 'bool':
      if (raw !== 'true' && raw !== 'false') throw new UsageError(`--override-kv ${key}: bool values are true or false, got "${raw}"`);
      return { key, type, value: raw === 'true' };
    case 'str':
      if (raw.length > 127) throw new UsageError(`--override-kv ${key}: string values are 127 characters at most`);
      return { key, type, value: raw };
  }
}

/** Comma-separated non-negative layer numbers. */
export function parsePruneLayers(spec: string): number[] {
  return spec.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 0 || s.trim() === '') throw new UsageError(`--prune-layers: invalid layer id "${s}"`);
    return n;
  });
}
