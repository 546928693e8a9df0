/** The conversion of a Hugging Face folder, decided before any tensor data is read: every output
 * tensor (name, shape, type, where its data comes from) and the metadata, in the order llama.cpp's
 * convert_hf_to_gguf.py writes them. */
import { join } from 'node:path';
import { QuantNativeError } from '../errors.js';
import { GgmlType, rowBytes } from '../ggml-types.js';
import type { GgufKv } from '../gguf/format.js';
import { llama } from './arch/llama.js';
import { gemma3 } from './arch/gemma3.js';
import { phi3 } from './arch/phi3.js';
import { qwen2, qwen3, qwen3moe } from './arch/qwen.js';
import { isObject, openHfFolder, readJsonFile, type HfFolder, type JsonObject } from './folder.js';
import { KvBuilder } from './kv-builder.js';
import { addGeneralMetadata, countParameters, loadModelCard } from './metadata.js';
import type { SafetensorsTensor } from './safetensors.js';
import { addTextModelParameters, isSkippedTensor, requireHparam, ropeParameters, textHparams } from './text-model.js';

/** convert_hf_to_gguf.py's --outtype. */
export type OutType = 'auto' | 'f32' | 'f16' | 'bf16' | 'q8_0';

/** llama_ftype of each resolved outtype. */
const FILE_TYPE: Readonly<Record<Exclude<OutType, 'auto'>, number>> = { f32: 0, f16: 1, bf16: 32, q8_0: 7 };
const DEFAULT_TYPE: Readonly<Record<Exclude<OutType, 'auto'>, number>> = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16, q8_0: GgmlType.Q8_0 };

export interface SourceTensor {
  tensor: SafetensorsTensor;
  /** Rows reordered by LlamaModel.permute with this many heads. */
  permuteHeads?: number;
  /** Only these many rows are written (Gemma 3 drops the embedding's rows past its vocabulary; a
   * merged gate_up tensor gives each expert's gate and up halves). */
  rows?: number;
  /** The first row written. */
  rowOffset?: number;
  /** Rows of the tensor seen as a matrix of this many rows (a merged [experts, 2 * ff, embd] as [experts * 2 * ff, embd]). */
  viewRows?: number;
  /** Added to every value, in float32 (Gemma 3's norms are stored minus 1). */
  shift?: number;
}

/** An output tensor before its type is chosen. */
export interface TensorRecipe {
  /** GGUF name. */
  name: string;
  /** numpy shape (slowest dimension first). */
  shape: number[];
  /** One source, or several stacked along a new first axis (a layer's experts); none for generated data. */
  sources: SourceTensor[];
  /** Values the converter computes itself (rope factors), written as F32. */
  data?: Float32Array;
}

export interface PlannedTensor extends TensorRecipe {
  /** ggml type written. */
  type: number;
  /** ggml dims (fastest first), as written. */
  dims: number[];
  nbytes: number;
}

export interface ConvertContext {
  folder: HfFolder;
  blockCount: number;
  /** llama_ftype written as general.file_type. */
  fileType: number;
  /** config.json with text_config merged in. */
  hp: JsonObject;
  rope: JsonObject;
  tokenizerConfig: JsonObject | undefined;
}

/** One converter model class. */
export interface Architecture {
  hfArchitectures: readonly string[];
  ggufArch: string;
  /** The values transformers' config class derives when config.json leaves them out: the converter
   * reads AutoConfig's to_dict(), which holds them. */
  configDefaults(hp: JsonObject): void;
  /** The class writes all of set_gguf_parameters itself instead of adding to TextModel's. */
  replacesTextModelParameters?: boolean;
  /** The keys the class adds after TextModel.set_gguf_parameters. */
  addParameters(kv: KvBuilder, ctx: ConvertContext): void;
  /** Keys written while tensors are prepared, right after general.architecture. */
  addEarlyParameters?(kv: KvBuilder, ctx: ConvertContext): void;
  addVocab(kv: KvBuilder, ctx: ConvertContext): Promise<void>;
  /** The model's tensors in the converter's order, mapped and transformed. */
  recipes(ctx: ConvertContext): TensorRecipe[];
  /** Tensors the converter generates, written first (rope_freqs). */
  extraTensors(ctx: ConvertContext): TensorRecipe[];
}

const ARCHITECTURES: readonly Architecture[] = [llama, qwen2, qwen3, qwen3moe, phi3, gemma3];

export function supportedArchitectures(): string[] {
  return ARCHITECTURES.flatMap((a) => a.hfArchitectures);
}

export interface ConvertPlan {
  folder: HfFolder;
  outType: Exclude<OutType, 'auto'>;
  fileType: number;
  kvs: GgufKv[];
  tensors: PlannedTensor[];
  /** The converter's default file name for this model and outtype (naming_convention). */
  defaultFileName: string;
}

/** The first >= 2-D tensor that is not F32 decides --outtype auto: BF16 or F16, else F16. */
function guessOutType(folder: HfFolder): Exclude<OutType, 'auto'> {
  for (const t of folder.tensors) {
    if (t.shape.length < 2) continue;
    if (t.dtype === 'BF16') return 'bf16';
    if (t.dtype === 'F16') return 'f16';
  }
  return 'f16';
}

/** Weights of a kind the converter cannot (or we do not) convert: already quantized, or of a dtype
 * that is not a float. */
function checkWeights(folder: HfFolder, hp: JsonObject): void {
  const q = hp['quantization_config'];
  if (isObject(q)) {
    const method = String(q['quant_method'] ?? q['quant_algo'] ?? 'unknown');
    throw new QuantNativeError('E_QUANTIZED_WEIGHTS', `${folder.name} holds weights already quantized (${method}); quant-native converts F32, F16 and BF16 weights`, {
      hint: 'use the unquantized (BF16/F16) release of this model',
    });
  }
  // Buffers the converter drops (attention masks, rotary inv_freq) may be of any dtype.
  const odd = folder.tensors.find((t) => t.ggmlType === undefined && !isSkippedTensor(t.name));
  if (odd) {
    const quantized = /^(I8|U8|I32|F8_)/.test(odd.dtype);
    throw new QuantNativeError(quantized ? 'E_QUANTIZED_WEIGHTS' : 'E_HF_WEIGHTS',
      `tensor ${odd.name} is ${odd.dtype}${quantized ? ': the weights look quantized already' : ''}; quant-native converts F32, F16 and BF16 weights`, {
        hint: quantized ? 'use the unquantized (BF16/F16) release of this model' : 'this checkpoint stores weights in a format the converter does not take',
      });
  }
}

/** prepare_tensors' choice of type for one tensor. */
function tensorType(name: string, shape: readonly number[], outType: Exclude<OutType, 'auto'>): number {
  const nDims = shape.length;
  if (nDims <= 1 || name.endsWith('_norm.weight')) return GgmlType.F32;
  if (/\.ffn_gate_inp\.weight$|\.ffn_gate_inp_shexp\.weight$|^position_embd\.weight$|^token_types\.weight$/.test(name) || !name.endsWith('.weight')) return GgmlType.F32;
  const t = DEFAULT_TYPE[outType];
  // gguf-py quantizes whole blocks of the last dimension; otherwise it falls back to F16.
  if (t === GgmlType.Q8_0 && shape.at(-1)! % 32 !== 0) return GgmlType.F16;
  return t;
}

export function naming(parts: { name?: string; basename?: string; finetune?: string; version?: string; sizeLabel?: string }, outputType: string): string {
  const clean = (s: string): string => s.trim().replaceAll(' ', '-').replaceAll('/', '-');
  const name = parts.basename !== undefined ? clean(parts.basename) : parts.name !== undefined ? clean(parts.name) : 'ggml-model';
  const opt = (s: string | undefined): string => (s === undefined ? '' : `-${s.trim().replaceAll(' ', '-')}`);
  return `${name}${parts.sizeLabel !== undefined ? `-${parts.sizeLabel}` : ''}${opt(parts.finetune)}${opt(parts.version)}-${outputType.toUpperCase()}`;
}

/** Plans the conversion of a folder. */
export async function planConversion(dir: string, outTypeOption: OutType = 'auto'): Promise<ConvertPlan> {
  const folder = await openHfFolder(dir);
  const arch = ARCHITECTURES.find((a) => a.hfArchitectures.includes(folder.architecture));
  if (!arch) {
    throw new QuantNativeError('E_UNSUPPORTED_ARCH', `${folder.architecture} models are not supported yet`, {
      hint: `supported: ${supportedArchitectures().join(', ')}; others need llama.cpp's convert_hf_to_gguf.py`,
    });
  }
  const hp = textHparams(folder.config);
  arch.configDefaults(hp);
  checkWeights(folder, hp);
  const outType = outTypeOption === 'auto' ? guessOutType(folder) : outTypeOption;
  const fileType = FILE_TYPE[outType];
  const tokenizerConfigJson = await readJsonFile(join(folder.dir, 'tokenizer_config.json'), 'tokenizer config');
  const blockCount = requireHparam(hp, ['n_layers', 'num_hidden_layers', 'n_layer', 'num_layers']) as number;
  const ctx: ConvertContext = { folder, blockCount, fileType, hp, rope: ropeParameters(hp), tokenizerConfig: isObject(tokenizerConfigJson) ? tokenizerConfigJson : undefined };

  const recipes = [...arch.extraTensors(ctx), ...arch.recipes(ctx)];
  const tensors = recipes.map((r): PlannedTensor => {
    const type = tensorType(r.name, r.shape, outType);
    const dims = [...r.shape].reverse();
    const ne0 = dims[0] ?? 1;
    return { ...r, type, dims, nbytes: rowBytes(type, ne0)! * (dims.reduce((a, b) => a * b, 1) / ne0) };
  });

  const kv = new KvBuilder();
  kv.string('general.architecture', arch.ggufArch);
  arch.addEarlyParameters?.(kv, ctx);
  kv.string('general.type', 'model');
  const generation = await readJsonFile(join(folder.dir, 'generation_config.json'), 'generation config').catch(() => undefined);
  const counts = countParameters(tensors.map((t) => ({ name: t.name, shape: t.shape })));
  addGeneralMetadata(kv, folder.name, hp, isObject(generation) ? generation : undefined, await loadModelCard(folder.dir), counts);
  if (!arch.replacesTextModelParameters) addTextModelParameters(kv, arch.ggufArch, hp, ctx.rope, blockCount, fileType);
  arch.addParameters(kv, ctx);
  kv.u32('general.quantization_version', 2);
  await arch.addVocab(kv, ctx);

  const general = (key: string): string | undefined => {
    const v = kv.list().find((x) => x.key === key)?.value;
    return typeof v === 'string' ? v : undefined;
  };
  const defaultFileName = `${naming({ name: general('general.name'), basename: general('general.basename'), finetune: general('general.finetune'), version: general('general.version'), sizeLabel: general('general.size_label') }, outType)}.gguf`;
  return { folder, outType, fileType, kvs: kv.list(), tensors, defaultFileName };
}
