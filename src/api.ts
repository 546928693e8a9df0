/** The public, documented surface. Every option is validated here before native code sees it. */
import { availableParallelism } from 'node:os';
import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { QuantNativeError } from './errors.js';
import { GgmlType, IMATRIX_REQUIRED_TYPES, PRODUCIBLE_TYPES, ggmlTypeByName, ggmlTypeInfo, ggmlTypeName, rowBytes } from './ggml-types.js';
import { GgufValueType, padTo, type GgufKv } from './gguf/format.js';
import { kvString, openModel, splitPath, type GgufModel } from './gguf/model.js';
import { executePlan } from './engine/pipeline.js';
import { removeStalePartials, stalePartialWarnings } from './gguf/partial.js';
import { filterImatrix, loadImatrix, type Imatrix } from './quant/imatrix.js';
import { buildPlan, resolvePreset, type QuantPlan, type RuleOptions } from './quant/plan.js';
import { PRESETS, presetNeedsImatrix, type Preset, type PresetArg } from './quant/presets.js';
import type { TargetOutcome, TargetPlanOptions } from './quant/target-plan.js';
import type { ConvertPlan } from './hf/convert-plan.js';
import type { Target } from './quant/target.js';
import { TensorDataReader } from './gguf/reader.js';
import { loadNative, resolveSimd, type NativeAddon, type SimdName } from './native.js';
import { checks, JOB_OPTIONS, validateOptions, type Check, type JobOptions } from './options.js';
import { checkFreeSpace, checkInputFile, checkOutputPath, isModelFolder } from './paths.js';
import { progressReporter } from './progress-events.js';

export interface QuantizeOptions extends RuleOptions, JobOptions {
  /** Input GGUF (the first shard of a split model), or a Hugging Face model folder, read as the GGUF
   * file llama.cpp's converter would write from it (default outtype). */
  input: string;
  /** Output path; default `<input dir>/ggml-model-<PRESET>.gguf` as llama-quantize names it. */
  output?: string;
  /** Preset name (Q4_K_M, q8_0, …; case-insensitive) or llama ftype number as a string ('15'). Optional
   * with a `target`, where it limits the types to its family (K-quants, legacy, IQ). */
  preset?: PresetArg;
  /** A size budget instead of fixed rules: each tensor gets the type that, over the model, gives the
   * least predicted error within `{ bytes }` of output file or `{ bitsPerWeight }` of tensor data. */
  target?: Target;
  /** Path of an importance matrix (GGUF or legacy .dat). */
  imatrix?: string;
  /** Keep only importance data of tensors whose name contains one of these. */
  includeWeights?: readonly string[];
  /** Drop importance data of tensors whose name contains one of these. */
  excludeWeights?: readonly string[];
}

export type { QuantizeProgress } from './progress-events.js';

/** The importance matrix a run used. */
export interface ImatrixSummary {
  file: string;
  /** Entries in the file (after includeWeights / excludeWeights). */
  entries: number;
  /** Quantized tensors that got importance data, of `quantizedTensors`. */
  appliedTensors: number;
  quantizedTensors: number;
}

export interface TensorSummary {
  name: string;
  shape: number[];
  sourceType: string;
  type: string;
  action: 'copy' | 'quantize';
  reason: string;
  /** The type that was chosen first, when it did not fit the row length. */
  fallbackFrom: string | undefined;
  bytesIn: number;
  bytesOut: number;
  /** With a target: the chosen type's predicted error (importance-weighted squared error). */
  predictedError?: number;
}

/** What a target run chose, against its budget. */
export interface TargetSummary {
  /** 'bytes': the output file's size; 'bitsPerWeight': tensor data over all weights. */
  kind: 'bytes' | 'bitsPerWeight';
  /** The target as given. */
  value: number;
  /** The budget and what the plan uses of it, in bytes of the same measure. */
  budgetBytes: number;
  usedBytes: number;
  /** How far the result is below the target, in bytes and as a share of it. */
  belowBytes: number;
  belowFraction: number;
  /** The smallest and largest the candidate types allow, in the same measure. */
  range: { min: number; max: number };
  /** Sum of the chosen types' predicted errors. */
  predictedError: number;
  /** Tensors whose type was chosen. */
  chosenTensors: number;
  /** Candidate types left out because no importance matrix was given. */
  leftOutWithoutImatrix: string[];
}

export interface QuantizeSummary {
  input: string;
  /** Files written (none for a dry run). */
  outputs: string[];
  preset: string;
  fileType: number;
  tensors: TensorSummary[];
  /** Tensors whose type fell back because the row length did not fit, and their parameters. */
  fallbackCount: number;
  fallbackParameters: number;
  parameters: number;
  bytesIn: number;
  bytesOut: number;
  bitsPerWeightIn: number;
  bitsPerWeightOut: number;
  seconds: number;
  dryRun: boolean;
  /** Undefined when no importance matrix was given. */
  imatrix: ImatrixSummary | undefined;
  /** Undefined without a target. */
  target: TargetSummary | undefined;
  warnings: string[];
  simd: string;
  threads: number;
}

function positiveInt(v: number | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || v < 1) throw new QuantNativeError('E_BAD_OPTION', `${name} must be a positive integer, got ${v}`);
  return v;
}

/** llama-quantize's default output name: `<input dir>/ggml-model-<NAME>.gguf` (`target` for a target
 * run without a preset). */
export function defaultOutputPath(input: string, presetName: string | undefined): string {
  // A model folder is quantized into itself, where convert and then llama-quantize would put the file.
  const folder = statSync(input, { throwIfNoEntry: false })?.isDirectory() === true ? resolve(input) : dirname(resolve(input));
  return join(folder, defaultOutputName(presetName));
}

function defaultOutputName(presetName: string | undefined): string {
  return `ggml-model-${presetName === undefined ? 'target' : resolvePreset(presetName).name}.gguf`;
}

function outputPaths(options: QuantizeOptions, plan: QuantPlan): string[] {
  const base = options.output ?? defaultOutputPath(options.input, options.preset);
  if (!options.keepSplit) return [base];
  // As llama-quantize: strip .gguf, then name every shard (even a single one) -NNNNN-of-NNNNN.gguf.
  const prefix = base.endsWith('.gguf') ? base.slice(0, -5) : base;
  return plan.files.map((_, i) => splitPath(prefix, i, plan.files.length));
}

async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}

/** What can be known about the output before the input is read: a folder, a missing or read-only
 * folder, an existing file, or the input itself. Split outputs are checked by name after the plan. */
async function checkOutputEarly(options: QuantizeOptions): Promise<void> {
  const base = options.output ?? defaultOutputPath(options.input, options.preset);
  if (!options.keepSplit && (resolve(base) === resolve(options.input) || (await sameFile(base, options.input)))) throw sameFileError(base);
  const suggestedName = defaultOutputName(options.preset);
  await checkOutputPath(base, { force: (options.force ?? false) || (options.keepSplit ?? false), suggestedName });
}

const sameFileError = (path: string): QuantNativeError =>
  new QuantNativeError('E_SAME_FILE', `the output ${path} is the input file`, { hint: 'choose another output path: the input is never modified' });

/** What needs the plan: no output is any of the input's shards; split outputs, named only now, are
 * checked as the single output was before the input was read; and there is room for them. */
async function checkOutputs(model: GgufModel, paths: readonly string[], plan: QuantPlan, options: QuantizeOptions): Promise<void> {
  for (const p of paths) {
    for (const f of model.files) if (resolve(p) === resolve(f.path) || (await sameFile(p, f.path))) throw sameFileError(p);
    if (options.keepSplit) await checkOutputPath(p, { force: options.force ?? false, suggestedName: basename(p) });
  }
  // The output's metadata is the input's plus a few keys; encoding it here as well as in the writer
  // would serialise a large vocabulary twice at start-up.
  const metadata = model.files.reduce((sum, f) => sum + f.dataOffset, 0) + 4096;
  const needed = plan.tensors.reduce((sum, t) => sum + padTo(t.bytesOut, 32), metadata);
  await checkFreeSpace(dirname(resolve(paths[0]!)), needed);
}

function imatrixSummary(options: QuantizeOptions, plan: QuantPlan, imatrix: Imatrix | undefined): ImatrixSummary | undefined {
  if (imatrix === undefined || options.imatrix === undefined) return undefined;
  const quantized = plan.tensors.filter((t) => t.action === 'quantize');
  return { file: options.imatrix, entries: imatrix.entries.size, appliedTensors: quantized.filter((t) => t.imatrix !== undefined).length, quantizedTensors: quantized.length };
}

interface RunFacts {
  target?: TargetOutcome | undefined;
  outputs: string[];
  seconds: number;
  simd: string;
  threads: number;
  imatrix: ImatrixSummary | undefined;
  warnings: readonly string[];
}

function targetSummary(o: TargetOutcome): TargetSummary {
  const below = o.budgetBytes - o.usedBytes;
  return {
    kind: 'bytes' in o.target ? 'bytes' : 'bitsPerWeight',
    value: 'bytes' in o.target ? o.target.bytes : o.target.bitsPerWeight,
    budgetBytes: o.budgetBytes, usedBytes: o.usedBytes, belowBytes: below, belowFraction: o.budgetBytes > 0 ? below / o.budgetBytes : 0,
    range: o.range, predictedError: o.predictedError, chosenTensors: o.choices.length, leftOutWithoutImatrix: o.leftOutWithoutImatrix,
  };
}

function summarize(options: QuantizeOptions, plan: QuantPlan, run: RunFacts): QuantizeSummary {
  const fallbackParameters = plan.tensors.filter((t) => t.fallbackFrom !== undefined).reduce((s, t) => s + t.elements, 0);
  const predicted = new Map(run.target?.choices.map((c) => [c.name, c.error]));
  const uniform = new Set(run.target?.choices.filter((c) => c.uniform).map((c) => c.name));
  return {
    input: options.input,
    outputs: run.outputs,
    preset: plan.preset.name,
    fileType: plan.ftype,
    tensors: plan.tensors.map((t) => ({
      name: t.name, shape: [...t.dims], sourceType: ggmlTypeName(t.sourceType), type: ggmlTypeName(t.targetType), action: t.action,
      reason: t.fallbackFrom !== undefined ? `fallback: row length ${t.dims[0]} does not fit ${ggmlTypeName(t.fallbackFrom)}`
        : uniform.has(t.name) ? `${t.reason}, uniform importance` : t.reason,
      fallbackFrom: t.fallbackFrom !== undefined ? ggmlTypeName(t.fallbackFrom) : undefined,
      bytesIn: t.bytesIn, bytesOut: t.bytesOut,
      ...(predicted.has(t.name) ? { predictedError: predicted.get(t.name)! } : {}),
    })),
    fallbackCount: plan.fallbackCount,
    fallbackParameters,
    parameters: plan.elements,
    bytesIn: plan.bytesIn,
    bytesOut: plan.bytesOut,
    bitsPerWeightIn: plan.elements ? (plan.bytesIn * 8) / plan.elements : 0,
    bitsPerWeightOut: plan.elements ? (plan.bytesOut * 8) / plan.elements : 0,
    seconds: run.seconds,
    dryRun: options.dryRun ?? false,
    imatrix: run.imatrix,
    target: run.target ? targetSummary(run.target) : undefined,
    warnings: [...plan.warnings, ...run.warnings],
    simd: run.simd,
    threads: run.threads,
  };
}
const RULE_OPTIONS: Record<keyof RuleOptions, Check> = {
  allowRequantize: checks.boolean, leaveOutputTensor: checks.boolean, pure: checks.boolean, outputTensorType: checks.string,
  tokenEmbeddingType: checks.string, tensorTypes: checks.objects, pruneLayers: checks.layers, keepSplit: checks.boolean,
  overrideKv: checks.objects, dryRun: checks.boolean,
};
const QUANTIZE_OPTIONS: Record<keyof QuantizeOptions, Check> = {
  ...RULE_OPTIONS, ...JOB_OPTIONS, input: checks.string, output: checks.string, preset: checks.presetArg, imatrix: checks.string,
  includeWeights: checks.strings, excludeWeights: checks.strings, target: checks.target,
};

/** Quantizes a GGUF model as llama-quantize does, byte for byte. */
export async function quantize(options: QuantizeOptions): Promise<QuantizeSummary> {
  // A target makes the preset optional; validateOptions reports a missing or wrong options object.
  const withTarget = typeof options === 'object' && options !== null && options.target !== undefined;
  validateOptions('quantize', options, QUANTIZE_OPTIONS, withTarget ? ['input'] : ['input', 'preset']);
  return runQuantize(options.preset === undefined ? options : { ...options, preset: String(options.preset) as PresetArg });
}

async function runQuantize(options: QuantizeOptions): Promise<QuantizeSummary> {
  const t0 = performance.now();
  const native = loadNative(options.nativeBinding);
  const simd = resolveSimd(native, options.simd);
  const threads = positiveInt(options.threads, 'threads', availableParallelism());
  const chunkBytes = positiveInt(options.chunkBytes, 'chunkBytes', 32 << 20);
  const folder = await isModelFolder(options.input);
  if (!folder) await checkInputFile(options.input, 'input');
  if (!options.dryRun) await checkOutputEarly(options);
  // A Hugging Face folder is read as the GGUF file its conversion (default outtype) would be.
  const conversion = folder ? await (await import('./hf/convert-plan.js')).planConversion(options.input, 'auto') : undefined;
  const model = conversion ? (await import('./hf/tensor-source.js')).virtualModel(conversion) : await openModel(options.input);
  let imatrix = options.imatrix ? await loadImatrix(options.imatrix) : undefined;
  if (imatrix) imatrix = filterImatrix(imatrix, options.includeWeights ?? [], options.excludeWeights ?? []);
  const planOptions = { ...options, preset: options.preset ?? 'Q8_0', imatrix, imatrixPath: options.imatrix };
  const planned = options.target === undefined
    ? { plan: buildPlan(model, planOptions), outcome: undefined }
    : await planToTarget(model, { ...planOptions, presetGiven: options.preset !== undefined, target: options.target }, conversion, {
      native, simd, threads, signal: options.signal, onProgress: options.onProgress,
    });
  const plan = planned.plan;
  const facts = { simd: native.info.simdNames[simd]!, threads, imatrix: imatrixSummary(options, plan, imatrix), target: planned.outcome };
  if (options.dryRun) return summarize(options, plan, { ...facts, outputs: [], seconds: (performance.now() - t0) / 1000, warnings: [] });

  const paths = outputPaths(options, plan);
  await checkOutputs(model, paths, plan, options);
  const stale = stalePartialWarnings(await removeStalePartials(dirname(resolve(paths[0]!))));
  const progress = progressReporter(plan.tensors.length, plan.bytesIn, options.onProgress);
  const source = conversion ? await (await import('./hf/tensor-source.js')).HfTensorSource.open(conversion, native, simd, threads) : undefined;
  await executePlan(model, plan, paths, {
    native, simd, threads, chunkBytes, signal: options.signal, source,
    onProgress: (p) => progress.report(p.tensorIndex, p.tensorName, p.bytesDone),
  });
  progress.report(plan.tensors.length - 1, plan.tensors.at(-1)?.name ?? '', plan.bytesIn, true);
  return summarize(options, plan, { ...facts, outputs: paths, seconds: (performance.now() - t0) / 1000, warnings: stale });
}

/** Measures the candidates on the model's data (its GGUF files, or the folder's conversion) and plans to the target. */
async function planToTarget(
  model: GgufModel, options: TargetPlanOptions, conversion: ConvertPlan | undefined,
  o: { native: NativeAddon; simd: number; threads: number; signal: AbortSignal | undefined; onProgress: QuantizeOptions['onProgress'] },
): Promise<{ plan: QuantPlan; outcome: TargetOutcome }> {
  const { buildTargetPlan } = await import('./quant/target-plan.js');
  const source = conversion
    ? await (await import('./hf/tensor-source.js')).HfTensorSource.open(conversion, o.native, o.simd, o.threads)
    : await TensorDataReader.open(model.files.map((f) => f.path));
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = (): void => { Atomics.store(cancel, 0, 1); };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let progress: ReturnType<typeof progressReporter> | undefined;
  try {
    return await buildTargetPlan(model, {
      ...options,
      onMeasured: (index, count, name, bytesBefore, bytesTotal) => {
        progress ??= progressReporter(count, bytesTotal, o.onProgress, 'measuring');
        progress.report(Math.min(index, count - 1), name, bytesBefore, index === count);
      },
    }, { native: o.native, simd: o.simd, threads: o.threads, source, signal: o.signal, cancel });
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await source.close();
  }
}

export interface DequantizeOptions extends Omit<QuantizeOptions, 'preset' | 'allowRequantize' | 'output'> {
  output: string;
  /** The float type to write (default f16). */
  type?: 'f32' | 'f16' | 'bf16';
}

const { preset: _preset, allowRequantize: _allowRequantize, ...DEQUANTIZE_SHARED } = QUANTIZE_OPTIONS;
const DEQUANTIZE_OPTIONS: Record<keyof DequantizeOptions, Check> = { ...DEQUANTIZE_SHARED, type: checks.oneOf('f32', 'f16', 'bf16') };

/** Writes a quantized model back as floats (llama-quantize's F32/F16/BF16 with --allow-requantize). */
export async function dequantize(options: DequantizeOptions): Promise<QuantizeSummary> {
  validateOptions('dequantize', options, DEQUANTIZE_OPTIONS, ['input', 'output']);
  const { type = 'f16', ...rest } = options;
  return runQuantize({ ...rest, preset: type, allowRequantize: true });
}

export interface PresetInfo {
  name: string;
  fileType: number;
  /** The type most tensors get; undefined for COPY. */
  defaultType: string | undefined;
  /** Bits per weight of the default type. */
  bitsPerWeight: number | undefined;
  description: string;
  /** Whether quant-native can produce this preset's default type today. */
  supported: boolean;
  /** Whether llama.cpp's rules make this preset refuse to run without an importance matrix (`imatrix`). */
  needsImatrix: boolean;
}

/** Every llama-quantize preset, in llama-quantize's order. */
export function listPresets(): PresetInfo[] {
  return PRESETS.map((p: Preset) => {
    const t = p.defaultType === undefined ? undefined : ggmlTypeInfo(p.defaultType);
    return {
      name: p.name,
      fileType: p.ftype,
      defaultType: t?.name,
      bitsPerWeight: t ? (t.typeSize * 8) / t.blockSize : undefined,
      description: p.description,
      supported: p.defaultType === undefined || PRODUCIBLE_TYPES.has(p.defaultType),
      needsImatrix: presetNeedsImatrix(p),
    };
  });
}

export interface InspectTensor {
  name: string;
  type: string;
  shape: number[];
  bytes: number;
  offset: number;
  file: number;
}

export interface InspectResult {
  path: string;
  files: string[];
  version: number;
  architecture: string | undefined;
  name: string | undefined;
  fileType: number | undefined;
  fileTypeName: string | undefined;
  metadata: Array<{ key: string; type: string; value: unknown }>;
  tensors: InspectTensor[];
  tensorBytes: number;
  parameters: number;
  bitsPerWeight: number;
  fileBytes: number;
}

const ARRAY_PREVIEW = 8;

function jsonValue(kv: GgufKv): { type: string; value: unknown } {
  const v = kv.value;
  if (typeof v === 'bigint') return { type: GgufValueType[kv.type].toLowerCase(), value: v.toString() };
  if (typeof v !== 'object') return { type: GgufValueType[kv.type].toLowerCase(), value: v };
  const items = Array.from(v.items as ArrayLike<unknown>, (x) => (typeof x === 'bigint' ? x.toString() : x));
  const elementType = GgufValueType[v.elementType].toLowerCase();
  return {
    type: `array<${elementType}>`,
    value: items.length > ARRAY_PREVIEW ? { length: items.length, first: items.slice(0, ARRAY_PREVIEW) } : items,
  };
}

/** Structure of a GGUF model (split models as one). Long arrays are summarised. */
export async function inspect(path: string): Promise<InspectResult> {
  const model = await openModel(path);
  const fileTypeKv = model.kvs.find((kv) => kv.key === 'general.file_type')?.value;
  const fileType = typeof fileTypeKv === 'number' ? fileTypeKv : undefined;
  const tensors = model.tensors.map((t) => ({ name: t.name, type: ggmlTypeName(t.type), shape: [...t.dims], bytes: t.nbytes, offset: t.offset, file: t.fileIndex }));
  const parameters = model.tensors.reduce((s, t) => s + t.dims.reduce((a, b) => a * b, 1), 0);
  const tensorBytes = model.tensors.reduce((s, t) => s + t.nbytes, 0);
  return {
    path,
    files: model.files.map((f) => f.path),
    version: model.files[0]!.version,
    architecture: kvString(model.kvs, 'general.architecture'),
    name: kvString(model.kvs, 'general.name'),
    fileType,
    fileTypeName: fileType === undefined ? undefined : PRESETS.find((p) => p.ftype === (fileType & ~1024) && p.defaultType !== undefined)?.name,
    metadata: model.kvs.map((kv) => ({ key: kv.key, ...jsonValue(kv) })),
    tensors,
    tensorBytes,
    parameters,
    bitsPerWeight: parameters ? (tensorBytes * 8) / parameters : 0,
    fileBytes: model.files.reduce((s, f) => s + f.fileSize, 0),
  };
}

export interface RowsOptions {
  /** Worker threads for this call (default 1). */
  threads?: number;
  simd?: SimdName;
  nativeBinding?: string;
}

export interface QuantizeRowsOptions extends RowsOptions {
  /** n_per_row importance values (required by IQ2_XXS, IQ2_XS and IQ1_S). */
  imatrix?: Float32Array;
  /** What a Uint16Array holds; required with one (f16 or bf16 bits). Float32Array input is f32. */
  srcType?: 'f32' | 'f16' | 'bf16';
}

const ROWS_OPTIONS: Record<keyof RowsOptions, Check> = { threads: checks.positiveInt, simd: checks.string, nativeBinding: checks.string };
const QUANTIZE_ROWS_OPTIONS: Record<keyof QuantizeRowsOptions, Check> = { ...ROWS_OPTIONS, imatrix: checks.float32Array, srcType: checks.oneOf('f32', 'f16', 'bf16') };

function typeId(name: string | number): number {
  const t = typeof name === 'number' ? ggmlTypeInfo(name) : ggmlTypeByName(name);
  if (!t) throw new QuantNativeError('E_UNKNOWN_TYPE', `unknown type ${String(name)}`, { hint: 'use a ggml type name such as q4_K or q8_0' });
  if (!PRODUCIBLE_TYPES.has(t.id)) throw new QuantNativeError('E_UNSUPPORTED_TYPE', `quant-native does not handle ${t.name} yet`);
  return t.id;
}

function native(options: RowsOptions): { addon: NativeAddon; simd: number } {
  const addon = loadNative(options.nativeBinding);
  return { addon, simd: resolveSimd(addon, options.simd) };
}

/** Quantizes rows of F32 (or F16/BF16 bits) you bring; off the JS thread. */
export async function quantizeRows(type: string | number, src: Float32Array | Uint16Array, nPerRow: number, options: QuantizeRowsOptions = {}): Promise<Buffer> {
  validateOptions('quantizeRows', options, QUANTIZE_ROWS_OPTIONS);
  const dstType = typeId(type);
  if (src instanceof Uint16Array && options.srcType !== 'f16' && options.srcType !== 'bf16') {
    throw new QuantNativeError('E_BAD_OPTION', `quantizeRows(): a Uint16Array holds f16 or bf16 bits: say which with options.srcType ('f16' or 'bf16')${options.srcType ? `, not '${options.srcType}'` : ''}`);
  }
  if (src instanceof Float32Array && options.srcType !== undefined && options.srcType !== 'f32') {
    throw new QuantNativeError('E_BAD_OPTION', `quantizeRows(): a Float32Array is f32 input, but options.srcType is '${options.srcType}': pass its bits as a Uint16Array`);
  }
  if (!(src instanceof Float32Array) && !(src instanceof Uint16Array)) {
    throw new QuantNativeError('E_BAD_OPTION', 'quantizeRows(): src must be a Float32Array (f32) or a Uint16Array (f16/bf16 bits with options.srcType)');
  }
  const srcType = options.srcType === 'f16' ? GgmlType.F16 : options.srcType === 'bf16' ? GgmlType.BF16 : GgmlType.F32;
  const row = rowBytes(dstType, nPerRow);
  if (!Number.isInteger(nPerRow) || nPerRow < 1 || row === undefined || src.length % nPerRow !== 0) {
    throw new QuantNativeError('E_BAD_OPTION', `rows of ${nPerRow} do not fit ${ggmlTypeName(dstType)} (block ${ggmlTypeInfo(dstType)!.blockSize}) or do not divide the ${src.length} values`);
  }
  if (IMATRIX_REQUIRED_TYPES.has(dstType) && !options.imatrix) {
    throw new QuantNativeError('E_NEEDS_IMATRIX', `${ggmlTypeName(dstType)} needs importance weights: pass options.imatrix (nPerRow values)`, {
      hint: 'make an importance matrix with llama.cpp (`llama-imatrix -m model.gguf -f calibration.txt -o imatrix.gguf`)',
    });
  }
  const nrows = src.length / nPerRow;
  const dst = Buffer.alloc(nrows * row);
  const { addon, simd } = native(options);
  const r = await addon.quantizeAsync({ srcType, dstType, nrows, nPerRow, src, dst, simd, threads: positiveInt(options.threads, 'threads', 1), imatrix: options.imatrix });
  if (r.invalidInputRow >= 0) throw new QuantNativeError('E_INVALID_DATA', `row ${r.invalidInputRow} holds NaN or Inf`);
  if (r.invalidOutputRow >= 0) throw new QuantNativeError('E_QUANTIZED_INVALID', `row ${r.invalidOutputRow}: a scale overflowed to Inf or NaN`);
  return dst;
}

/** Dequantizes rows of a type back to F32; off the JS thread. */
export async function dequantizeRows(type: string | number, data: Uint8Array, nPerRow: number, options: RowsOptions = {}): Promise<Float32Array> {
  validateOptions('dequantizeRows', options, ROWS_OPTIONS);
  const id = typeId(type);
  const row = rowBytes(id, nPerRow);
  if (row === undefined || data.length % row !== 0) throw new QuantNativeError('E_BAD_OPTION', `${data.length} bytes are not whole rows of ${nPerRow} ${ggmlTypeName(id)} values`);
  const nrows = data.length / row;
  const out = new Float32Array(nrows * nPerRow);
  await native(options).addon.dequantizeAsync({ type: id, nrows, nPerRow, src: data, dst: out });
  return out;
}

