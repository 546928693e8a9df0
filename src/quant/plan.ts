/** The quantization plan: for every output tensor its type and the reason, plus the output files'
 * metadata, decided once, before any data is read. `--dry-run` prints it, the engine executes it,
 * the summary reports it; nothing else decides a tensor's type. */
import { QuantNativeError } from '../errors.js';
import { GgmlType, PRODUCIBLE_TYPES, ggmlTypeByName, ggmlTypeInfo, ggmlTypeName, isQuantizedType, rowBytes } from '../ggml-types.js';
import { GgufValueType, elementCount, ggmlNDims, type GgufKv, type GgufTensorInfo } from '../gguf/format.js';
import { kvValue, type GgufModel } from '../gguf/model.js';
import type { Imatrix } from './imatrix.js';
import { Ftype, findPreset, PRESETS, type Preset } from './presets.js';
import {
  allowsQuantization, fallbackType, isAttnVLike, isTokenEmbd, mixtureType, requiresImatrix, tensorCategory,
  type Category, type ModelFacts, type RuleContext,
} from './rules.js';

export interface KvOverride {
  key: string;
  type: 'int' | 'float' | 'bool' | 'str';
  value: number | boolean | string;
}

export interface TensorTypeOverride {
  /** ECMAScript regular expression, searched in the tensor name (llama.cpp lower-cases it). */
  pattern: string;
  /** ggml type name, e.g. q8_0. */
  type: string;
}

/** The llama-quantize options that shape the plan (shared by the library API and the CLI). */
export interface RuleOptions {
  /** Quantize tensors that are already quantized (dequantized first), as --allow-requantize. */
  allowRequantize?: boolean;
  /** Leave output.weight as it is. */
  leaveOutputTensor?: boolean;
  /** Every quantizable tensor gets the preset's type (no mixture rules). */
  pure?: boolean;
  /** Type of output.weight (and of tied token embeddings); no fallback is applied. */
  outputTensorType?: string;
  /** Type of token_embd.weight; no fallback is applied. */
  tokenEmbeddingType?: string;
  /** Manual overrides, first match wins. */
  tensorTypes?: readonly TensorTypeOverride[];
  /** Layers to drop; the rest are renumbered. */
  pruneLayers?: readonly number[];
  /** One output shard per input shard. */
  keepSplit?: boolean;
  /** Metadata to set in the output (and to read the model with). */
  overrideKv?: readonly KvOverride[];
  /** Plan and report only; a missing imatrix is then a warning, not an error. */
  dryRun?: boolean;
}

export interface PlanOptions extends RuleOptions {
  /** Preset name (case-insensitive) or llama_ftype number, as llama-quantize takes it. */
  preset: string;
  imatrix?: Imatrix;
  /** The --imatrix argument, recorded in quantize.imatrix.file. */
  imatrixPath?: string;
  /** Types chosen for a target size, by output name: they replace the preset's default and mixture rules. */
  typeChoices?: ReadonlyMap<string, number>;
  /** general.file_type to write instead of the preset's. */
  fileType?: number;
  /** Tensors (by output name) without importance data to quantize with uniform importance (all 1), which
   * takes the kernels' importance-weighted search: a target run picks it where it measured less error. */
  uniformImportance?: ReadonlySet<string>;
}

export type Reason =
  | 'not quantizable'
  | 'copy preset'
  | 'preset default'
  | 'mixture rule'
  | 'tensor-type override'
  | 'target size'
  | 'token-embedding-type'
  | 'output-tensor-type';

export interface TensorPlan {
  /** Name in the output (differs from the source's after --prune-layers). */
  readonly name: string;
  readonly source: GgufTensorInfo;
  /** Dimensions as written: ggml_n_dims of the source's. */
  readonly dims: readonly number[];
  readonly sourceType: number;
  readonly targetType: number;
  /** copy: bytes verbatim; quantize: convert to F32 and quantize. */
  readonly action: 'copy' | 'quantize';
  readonly reason: Reason;
  /** Set when the chosen type did not fit the row length and this type replaced it. */
  readonly fallbackFrom: number | undefined;
  readonly category: Category;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly elements: number;
  /** Importance values (n_matrices * ne0), when an imatrix entry applies. */
  readonly imatrix: Float32Array | undefined;
  readonly requiresImatrix: boolean;
  /** Output shard (0 unless --keep-split of a split model). */
  readonly outputFile: number;
}

export interface OutputFilePlan {
  readonly kvs: readonly GgufKv[];
  readonly tensors: readonly TensorPlan[];
}

export interface QuantPlan {
  readonly preset: Preset;
  /** general.file_type written. */
  readonly ftype: number;
  readonly tensors: readonly TensorPlan[];
  readonly files: readonly OutputFilePlan[];
  readonly fallbackCount: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly elements: number;
  readonly warnings: readonly string[];
}

const GGML_QNT_VERSION = 2;
const FTYPE_GUESSED = 1024;

function parseGgmlType(name: string, what: string): number {
  const t = ggmlTypeByName(name);
  if (!t) {
    throw new QuantNativeError('E_UNKNOWN_TYPE', `unknown type "${name}" for ${what}`, {
      hint: 'use a ggml type name such as q8_0, q6_K, q4_K, f16 (see `quant-native presets`)',
    });
  }
  return t.id;
}

/** (layer from "blk.N.", -1 otherwise), then byte-wise name: llama.cpp's weight_name_comparer. */
function layerOf(name: string): number {
  const m = /^blk\.([+-]?\d+)/.exec(name);
  return m ? Number(m[1]) : -1;
}

export function compareWeightNames(a: string, b: string): number {
  const la = layerOf(a), lb = layerOf(b);
  if (la !== lb) return la - lb;
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function headCount(kvs: readonly GgufKv[], key: string): number | undefined {
  const v = kvValue(kvs, key);
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v && typeof v === 'object' && 'items' in v && v.items.length > 0) return Number(v.items[0]);
  return undefined;
}

function modelFacts(kvs: readonly GgufKv[], names: readonly string[]): ModelFacts {
  const arch = String(kvValue(kvs, 'general.architecture') ?? '');
  const num = (key: string): number | undefined => headCount(kvs, `${arch}.${key}`);
  const nLayer = num('block_count') ?? 0;
  const nHead = num('attention.head_count') ?? 0;
  const nHeadKv = num('attention.head_count_kv') ?? nHead;
  const categories = names.map(tensorCategory);
  const is70B =
    (arch === 'llama' && nLayer === 80 && nHead !== nHeadKv) ||
    (['qwen2', 'deci', 'olmo'].includes(arch) && nLayer === 80) ||
    (arch === 'jais2' && nLayer === 68);
  return {
    arch,
    nExpert: num('expert_count') ?? 0,
    gqa: nHeadKv === 0 ? 0 : Math.trunc(nHead / nHeadKv),
    is70B,
    nLayerAll: nLayer,
    hasTiedEmbeddings: !categories.includes('OUTPUT'),
    nAttentionWv: categories.filter(isAttnVLike).length,
  };
}

/** The input's file type as llama_model_loader reports it (COPY writes this back). */
function inputFtype(kvs: readonly GgufKv[], tensorsInOrder: readonly GgufTensorInfo[]): number {
  const declared = kvValue(kvs, 'general.file_type');
  if (typeof declared === 'number') return declared;
  const counts = new Map<number, number>();
  let max = 0;
  let typeMax: number = GgmlType.F32;
  for (const t of tensorsInOrder) {
    const n = (counts.get(t.type) ?? 0) + 1;
    counts.set(t.type, n);
    if (max < n) {
      max = n;
      typeMax = t.type;
    }
  }
  const byType: Record<number, number> = {
    [GgmlType.F32]: 0, [GgmlType.F16]: 1, [GgmlType.BF16]: 32, [GgmlType.Q4_0]: 2, [GgmlType.Q4_1]: 3,
    [GgmlType.Q5_0]: 8, [GgmlType.Q5_1]: 9, [GgmlType.Q8_0]: 7, [GgmlType.Q2_K]: 10, [GgmlType.Q3_K]: 12,
    [GgmlType.Q4_K]: 15, [GgmlType.Q5_K]: 17, [GgmlType.Q6_K]: 18, [GgmlType.TQ1_0]: 36, [GgmlType.TQ2_0]: 37,
    [GgmlType.IQ2_XXS]: 19, [GgmlType.IQ2_XS]: 20, [GgmlType.IQ2_S]: 28, [GgmlType.IQ3_XXS]: 23,
    [GgmlType.IQ1_S]: 24, [GgmlType.IQ1_M]: 31, [GgmlType.IQ4_NL]: 25, [GgmlType.IQ4_XS]: 30,
    [GgmlType.IQ3_S]: 26, [GgmlType.NVFP4]: 39, [GgmlType.Q1_0]: 40, [GgmlType.Q2_0]: 41,
  };
  return (byType[typeMax] ?? 0) | FTYPE_GUESSED;
}

/** gguf_set_val_*: remove the key if present, then append. */
function setKv(kvs: GgufKv[], kv: GgufKv): void {
  const i = kvs.findIndex((k) => k.key === kv.key);
  if (i >= 0) kvs.splice(i, 1);
  kvs.push(kv);
}

function removeKv(kvs: GgufKv[], key: string): void {
  const i = kvs.findIndex((k) => k.key === key);
  if (i >= 0) kvs.splice(i, 1);
}

/** llama.cpp writes int overrides as u32 of the absolute value (PR 14182). */
function overrideToKv(o: KvOverride): GgufKv {
  switch (o.type) {
    case 'int': return { key: o.key, type: GgufValueType.UINT32, value: Math.abs(Math.trunc(Number(o.value))) % 2 ** 32 };
    case 'float': return { key: o.key, type: GgufValueType.FLOAT32, value: Math.fround(Number(o.value)) };
    case 'bool': return { key: o.key, type: GgufValueType.BOOL, value: Boolean(o.value) };
    case 'str': return { key: o.key, type: GgufValueType.STRING, value: String(o.value) };
  }
}

/** strncpy(…, 127): at most 127 bytes of the UTF-8 encoding. */
function truncateBytes(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  return b.length <= max ? s : b.subarray(0, max).toString('utf8');
}

/** --prune-layers: renames kept blk.N tensors to consecutive numbers, drops pruned ones. */
function pruneMapper(prune: readonly number[]): { map(name: string): string | undefined; blockCount(): number; original(name: string): string } {
  const sorted = [...new Set(prune)].sort((a, b) => a - b);
  const mapped = new Map<number, number | undefined>();
  let next = 0;
  const re = /blk\.(\d+)\./;
  return {
    map(name) {
      if (sorted.length === 0) return name;
      const m = re.exec(name);
      if (!m) return name;
      const blk = Number(m[1]);
      if (!mapped.has(blk)) {
        if (sorted.includes(blk)) mapped.set(blk, undefined);
        else if (blk < sorted[0]!) { mapped.set(blk, blk); next = blk + 1; }
        else mapped.set(blk, next++);
      }
      const to = mapped.get(blk);
      return to === undefined ? undefined : name.slice(0, m.index + 4) + String(to) + name.slice(m.index + 4 + m[1]!.length);
    },
    blockCount: () => next,
    original(name) {
      if (sorted.length === 0) return name;
      const m = re.exec(name);
      if (!m) return name;
      for (const [from, to] of mapped) {
        if (to !== undefined && String(to) === m[1]) return name.slice(0, m.index + 4) + String(from) + name.slice(m.index + 4 + m[1]!.length);
      }
      return name;
    },
  };
}

export function resolvePreset(name: string): Preset {
  const p = findPreset(name);
  if (!p) {
    throw new QuantNativeError('E_UNKNOWN_TYPE', `unknown quantization type "${name}"`, {
      hint: `use one of: ${PRESETS.map((x) => x.name).join(', ')} (or run \`quant-native presets\`)`,
    });
  }
  if (p.ftype === Ftype.NVFP4) throw new QuantNativeError('E_UNKNOWN_TYPE', `invalid output file type ${p.ftype}`);
  return p;
}

export function buildPlan(model: GgufModel, options: PlanOptions): QuantPlan {
  const preset = resolvePreset(options.preset);
  const onlyCopy = preset.defaultType === undefined;
  const defaultType = preset.defaultType ?? GgmlType.F32;
  const warnings: string[] = [];
  const imatrix = options.imatrix && options.imatrix.entries.size > 0 ? options.imatrix : undefined;

  const outputTensorType = options.outputTensorType ? parseGgmlType(options.outputTensorType, '--output-tensor-type') : undefined;
  const tokenEmbeddingType = options.tokenEmbeddingType ? parseGgmlType(options.tokenEmbeddingType, '--token-embedding-type') : undefined;
  const patterns = (options.tensorTypes ?? []).map((o) => {
    let re: RegExp;
    try {
      re = new RegExp(o.pattern.toLowerCase());
    } catch (cause) {
      throw new QuantNativeError('E_BAD_OPTION', `--tensor-type pattern "${o.pattern}" is not a valid regular expression`, { cause });
    }
    return { re, type: parseGgmlType(o.type, `--tensor-type ${o.pattern}`) };
  });
  for (const p of options.pruneLayers ?? []) {
    if (!Number.isInteger(p) || p < 0) throw new QuantNativeError('E_BAD_OPTION', `--prune-layers: invalid layer id ${p}`);
  }

  // Walk order: llama.cpp's sorted weight map; names remapped by --prune-layers in that order.
  const sorted = [...model.tensors].sort((a, b) => compareWeightNames(a.name, b.name));
  const pruner = pruneMapper(options.pruneLayers ?? []);
  let kept: { t: GgufTensorInfo; name: string }[] = [];
  for (const t of sorted) {
    const name = pruner.map(t.name);
    if (name !== undefined) kept.push({ t, name });
  }
  if (options.keepSplit) kept = [...kept].sort((a, b) => a.t.fileIndex - b.t.fileIndex || a.t.offset - b.t.offset);

  // hparams come from the input metadata with the --override-kv values applied (the loader sees them).
  const factKvs = [...model.kvs];
  for (const o of options.overrideKv ?? []) setKv(factKvs, overrideToKv(o));
  const facts = modelFacts(factKvs, kept.map((k) => k.name));
  const ctx: RuleContext = {
    ftype: preset.ftype, model: facts, hasImatrix: imatrix !== undefined, outputTensorType, tokenEmbeddingType,
    counters: { iAttentionWv: 0, iFfnDown: 0, iFfnGate: 0, iFfnUp: 0 },
  };

  let fallbackCount = 0;
  const tensors: TensorPlan[] = [];
  for (const { t, name } of kept) {
    const nDims = ggmlNDims(t.dims);
    const ne0 = t.dims[0]!;
    const ne2 = t.dims[2] ?? 1;
    const category = tensorCategory(name);
    let target = t.type;
    let reason: Reason = onlyCopy ? 'copy preset' : 'not quantizable';
    let fallbackFrom: number | undefined;
    if (allowsQuantization(name, nDims, { onlyCopy, quantizeOutputTensor: !options.leaveOutputTensor })) {
      const namedPerLayerEmbd = name === 'per_layer_token_embd.weight' && patterns.some((p) => p.re.test(name));
      if (tokenEmbeddingType !== undefined && category === 'TOKEN_EMBD' && !namedPerLayerEmbd) {
        target = tokenEmbeddingType;
        reason = 'token-embedding-type';
      } else if (outputTensorType !== undefined && category === 'OUTPUT') {
        target = outputTensorType;
        reason = 'output-tensor-type';
      } else {
        target = defaultType;
        reason = 'preset default';
        if (isQuantizedType(defaultType)) {
          const manual = patterns.find((p) => p.re.test(name));
          const chosen = options.typeChoices?.get(name);
          if (chosen !== undefined) {
            target = chosen;
            reason = 'target size';
          } else if (manual) {
            target = manual.type;
            reason = 'tensor-type override';
          } else if (!options.pure) {
            target = mixtureType(ctx, defaultType, name, ne0, ne2, category);
            if (target !== defaultType) reason = 'mixture rule';
          }
          const fb = fallbackType(name, ne0, target);
          if (fb.fellBack) {
            fallbackCount++;
            fallbackFrom = target;
            target = fb.type;
          }
        }
      }
    }
    const elements = elementCount(t.dims);
    const action = target === t.type ? 'copy' : 'quantize';
    const out = rowBytes(target, ne0);
    if (out === undefined) {
      throw new QuantNativeError('E_BAD_OPTION', `tensor ${name}: row length ${ne0} is not a multiple of ${ggmlTypeName(target)}'s block size ${ggmlTypeInfo(target)?.blockSize}`, {
        hint: 'the type options (--output-tensor-type, --token-embedding-type) are not checked for fit: choose a type with a smaller block',
      });
    }
    let im: Float32Array | undefined;
    if (imatrix && action === 'quantize') {
      const entry = imatrix.entries.get(pruner.original(name));
      if (!entry) {
        warnings.push(`no importance data for ${name}: quantized without it`);
      } else if (entry.length === ne0 * ne2) {
        im = entry;
      } else if (isTokenEmbd(name)) {
        warnings.push(`imatrix size ${entry.length} differs from tensor size ${ne0 * ne2} for ${name}: quantized without it`);
      } else {
        throw new QuantNativeError('E_IMATRIX', `imatrix size ${entry.length} is different from tensor size ${ne0 * ne2} for ${name}`, {
          hint: 'the importance matrix was made for another model (or an older layout of it); make one for this model with llama-imatrix',
        });
      }
    }
    if (im === undefined && action === 'quantize' && options.uniformImportance?.has(name)) im = new Float32Array(ne0 * ne2).fill(1);
    tensors.push({
      name, source: t, dims: t.dims.slice(0, nDims), sourceType: t.type, targetType: target, action, reason, fallbackFrom,
      category, bytesIn: t.nbytes, bytesOut: out * (elements / ne0), elements, imatrix: im,
      requiresImatrix: requiresImatrix(name, target, preset.ftype), outputFile: options.keepSplit ? t.fileIndex : 0,
    });
  }

  checkFeasible(tensors, preset, { hasImatrixFile: imatrix !== undefined, dryRun: options.dryRun ?? false, allowRequantize: options.allowRequantize ?? false }, warnings);

  const ftype = onlyCopy ? inputFtype(model.kvs, sorted) : options.fileType ?? preset.ftype;
  const kvs = outputKvs(model, options, ftype, imatrix, options.pruneLayers?.length ? pruner.blockCount() : undefined);
  const nFiles = options.keepSplit ? Math.max(1, ...tensors.map((t) => t.outputFile + 1)) : 1;
  const files: OutputFilePlan[] = [];
  for (let i = 0; i < nFiles; i++) {
    const own = tensors.filter((t) => t.outputFile === i);
    let fileKvs: GgufKv[] = i === 0 ? [...kvs] : [];
    if (nFiles > 1) {
      fileKvs = [...fileKvs];
      setKv(fileKvs, { key: 'split.no', type: GgufValueType.UINT16, value: i });
      setKv(fileKvs, { key: 'split.count', type: GgufValueType.UINT16, value: nFiles });
      setKv(fileKvs, { key: 'split.tensors.count', type: GgufValueType.INT32, value: tensors.length });
    }
    files.push({ kvs: fileKvs, tensors: own });
  }
  return {
    preset, ftype, tensors, files, fallbackCount, warnings,
    bytesIn: tensors.reduce((s, t) => s + t.bytesIn, 0),
    bytesOut: tensors.reduce((s, t) => s + t.bytesOut, 0),
    elements: tensors.reduce((s, t) => s + t.elements, 0),
  };
}

function checkFeasible(tensors: readonly TensorPlan[], preset: Preset, o: { hasImatrixFile: boolean; dryRun: boolean; allowRequantize: boolean }, warnings: string[]): void {
  // Without any imatrix llama.cpp refuses on the target type alone; with one, only tensors it
  // actually quantizes need their entry.
  const needing = tensors.filter((t) => t.requiresImatrix && !t.imatrix &&
    (o.hasImatrixFile ? t.action === 'quantize' : t.reason !== 'not quantizable' && t.reason !== 'copy preset'));
  if (needing.length > 0) {
    const list = needing.slice(0, 5).map((t) => `${t.name} (${ggmlTypeName(t.targetType)})`).join(', ');
    const message = o.hasImatrixFile
      ? `missing importance data for ${needing.length} tensor(s) in a very low-bit quantization: ${list}`
      : `${preset.name} needs an importance matrix: ${needing.length} tensor(s) get types that require one, e.g. ${list}`;
    if (o.dryRun) warnings.push(message);
    else {
      throw new QuantNativeError('E_NEEDS_IMATRIX', message, {
        hint: 'make one with llama.cpp (`llama-imatrix -m model.gguf -f calibration.txt -o imatrix.gguf`) and pass --imatrix imatrix.gguf',
      });
    }
  }
  for (const t of tensors) {
    if (t.action !== 'quantize') continue;
    if (isQuantizedType(t.sourceType) && !o.allowRequantize) {
      throw new QuantNativeError('E_REQUANTIZE', `tensor ${t.name} is already ${ggmlTypeName(t.sourceType)}: requantizing from type ${ggmlTypeName(t.sourceType)} is disabled`, {
        hint: 'pass --allow-requantize (quality suffers: start from an F16/BF16/F32 model when you can)',
      });
    }
    if (!PRODUCIBLE_TYPES.has(t.targetType) && !o.dryRun) {
      throw new QuantNativeError('E_UNSUPPORTED_TYPE', `tensor ${t.name}: quant-native cannot produce ${ggmlTypeName(t.targetType)} yet`, {
        hint: 'choose another preset, or another type for this tensor with --tensor-type (try --dry-run to see the plan)',
      });
    }
    if (!PRODUCIBLE_TYPES.has(t.sourceType) && !o.dryRun) {
      throw new QuantNativeError('E_UNSUPPORTED_TYPE', `tensor ${t.name}: quant-native cannot read ${ggmlTypeName(t.sourceType)} data yet`, {
        hint: 'start from the F16/BF16/F32 model',
      });
    }
  }
}

function outputKvs(model: GgufModel, options: PlanOptions, ftype: number, imatrix: Imatrix | undefined, blockCount: number | undefined): GgufKv[] {
  const kvs = [...model.kvs];
  setKv(kvs, { key: 'general.quantization_version', type: GgufValueType.UINT32, value: GGML_QNT_VERSION });
  setKv(kvs, { key: 'general.file_type', type: GgufValueType.UINT32, value: ftype });
  removeKv(kvs, 'split.no');
  removeKv(kvs, 'split.count');
  removeKv(kvs, 'split.tensors.count');
  const overrides = [...(options.overrideKv ?? [])];
  if (imatrix) {
    overrides.push({ key: 'quantize.imatrix.file', type: 'str', value: truncateBytes(options.imatrixPath ?? '', 127) });
    if (imatrix.datasets.length > 0) overrides.push({ key: 'quantize.imatrix.dataset', type: 'str', value: truncateBytes(imatrix.datasets[0]!, 127) });
    overrides.push({ key: 'quantize.imatrix.entries_count', type: 'int', value: imatrix.entries.size });
    if (imatrix.chunkCount > 0) overrides.push({ key: 'quantize.imatrix.chunks_count', type: 'int', value: imatrix.chunkCount });
  }
  for (const o of overrides) setKv(kvs, overrideToKv(o));
  if (blockCount !== undefined) {
    const arch = String(kvValue(model.kvs, 'general.architecture') ?? '');
    setKv(kvs, { key: `${arch}.block_count`, type: GgufValueType.UINT32, value: blockCount });
  }
  return kvs;
}
