/** convert(): a Hugging Face folder to the GGUF file llama.cpp's convert_hf_to_gguf.py writes. */
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { ggmlTypeName } from './ggml-types.js';
import { encodeGgufMeta, ggufFileSize } from './gguf/writer.js';
import { removeStalePartials, stalePartialWarnings } from './gguf/partial.js';
import type { ConvertPlan, OutType } from './hf/convert-plan.js';
import { loadNative, resolveSimd } from './native.js';
import { checks, JOB_OPTIONS, validateOptions, type Check, type JobOptions } from './options.js';
import { checkFreeSpace, checkOutputPath } from './paths.js';
import { progressReporter } from './progress-events.js';

export type { OutType } from './hf/convert-plan.js';

export interface ConvertOptions extends JobOptions {
  /** The Hugging Face model folder (config.json, *.safetensors, tokenizer files). */
  input: string;
  /** Output path; default `<folder>/<Name>-<size>-<finetune>-<version>-<TYPE>.gguf` as the converter names it. */
  output?: string;
  /** As convert_hf_to_gguf.py's --outtype (default auto: BF16 weights give BF16, otherwise F16). */
  outType?: OutType;
  /** Plan and report only. */
  dryRun?: boolean;
}

export interface ConvertedTensor {
  name: string;
  /** ggml dimensions, fastest first. */
  shape: number[];
  /** The safetensors dtype of the source (of each expert, for stacked ones). */
  sourceType: string;
  type: string;
  bytes: number;
}

export interface ConvertSummary {
  input: string;
  /** The file written (none for a dry run). */
  output: string | undefined;
  /** architectures[0] of config.json. */
  architecture: string;
  outType: Exclude<OutType, 'auto'>;
  fileType: number;
  tensors: ConvertedTensor[];
  parameters: number;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
  dryRun: boolean;
  warnings: string[];
  simd: string;
  threads: number;
}

const CONVERT_OPTIONS: Record<keyof ConvertOptions, Check> = {
  ...JOB_OPTIONS, input: checks.string, output: checks.string, outType: checks.oneOf('auto', 'f32', 'f16', 'bf16', 'q8_0'), dryRun: checks.boolean,
};

interface RunFacts {
  output: string | undefined;
  bytesOut: number;
  seconds: number;
  warnings: string[];
  simd: string;
  threads: number;
}

function summarize(options: ConvertOptions, plan: ConvertPlan, run: RunFacts): ConvertSummary {
  const bytesIn = plan.tensors.reduce((s, t) => s + t.sources.reduce((a, x) => a + x.tensor.nbytes, 0), 0);
  return {
    input: options.input,
    output: run.output,
    architecture: plan.folder.architecture,
    outType: plan.outType,
    fileType: plan.fileType,
    tensors: plan.tensors.map((t) => ({ name: t.name, shape: [...t.dims], sourceType: t.sources[0]?.tensor.dtype ?? 'F32', type: ggmlTypeName(t.type), bytes: t.nbytes })),
    parameters: plan.tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0),
    bytesIn,
    bytesOut: run.bytesOut,
    seconds: run.seconds,
    dryRun: options.dryRun ?? false,
    warnings: run.warnings,
    simd: run.simd,
    threads: run.threads,
  };
}

/** The architectures, tokenizers and tensor maps are set up with the first conversion: quantizing a GGUF file never
 * needs them (in the bundled library their set-up is 1.5-3 ms of an 11-14 ms import). */
const hfConversion = (): Promise<typeof import('./hf/convert-plan.js')> => import('./hf/convert-plan.js');

/** Converts a Hugging Face folder to GGUF, byte for byte as llama.cpp's converter does. */
export async function convert(options: ConvertOptions): Promise<ConvertSummary> {
  validateOptions('convert', options, CONVERT_OPTIONS, ['input']);
  const t0 = performance.now();
  const native = loadNative(options.nativeBinding);
  const simd = resolveSimd(native, options.simd);
  const threads = options.threads ?? availableParallelism();
  if (options.output !== undefined && !options.dryRun) {
    await checkOutputPath(options.output, { force: options.force ?? false, suggestedName: 'model.gguf' });
  }
  const plan = await (await hfConversion()).planConversion(options.input, options.outType ?? 'auto');
  const output = options.output ?? join(plan.folder.dir, plan.defaultFileName);
  // Encoded once: its size for the free-space check and the summary, its bytes for the writer.
  const meta = encodeGgufMeta(plan.kvs, plan.tensors);
  const facts = { simd: native.info.simdNames[simd]!, threads, bytesOut: ggufFileSize(meta.length, plan.tensors) };
  if (options.dryRun) return summarize(options, plan, { ...facts, output: undefined, seconds: (performance.now() - t0) / 1000, warnings: [] });
  if (options.output === undefined) await checkOutputPath(output, { force: options.force ?? false, suggestedName: plan.defaultFileName });
  await checkFreeSpace(dirname(resolve(output)), facts.bytesOut);
  const warnings = stalePartialWarnings(await removeStalePartials(dirname(resolve(output))));
  const bytesTotal = plan.tensors.reduce((s, t) => s + t.sources.reduce((a, x) => a + x.tensor.nbytes, 0), 0);
  const progress = progressReporter(plan.tensors.length, bytesTotal, options.onProgress);
  await (await import('./hf/convert-engine.js')).executeConversion(plan, meta, output, {
    native, simd, threads, chunkBytes: options.chunkBytes ?? 32 << 20, signal: options.signal,
    onProgress: (p) => progress.report(p.tensorIndex, p.tensorName, p.bytesDone),
  });
  progress.report(plan.tensors.length - 1, plan.tensors.at(-1)?.name ?? '', bytesTotal, true);
  return summarize(options, plan, { ...facts, output, seconds: (performance.now() - t0) / 1000, warnings });
}

export interface InspectFolderTensor {
  /** The checkpoint's name. */
  name: string;
  dtype: string;
  /** As stored (slowest dimension first). */
  shape: number[];
  file: string;
}

export interface InspectFolderResult {
  path: string;
  /** architectures[0] of config.json, and the GGUF architecture it converts to. */
  architecture: string;
  ggufArchitecture: string;
  /** The type --outtype auto picks for this folder. */
  outType: Exclude<OutType, 'auto'>;
  /** sentencepiece (tokenizer.model or a SentencePiece-style tokenizer.json) or bpe, with the pre-tokenizer llama.cpp uses. */
  tokenizer: { kind: 'sentencepiece' | 'bpe'; pre: string; tokens: number };
  files: string[];
  tensors: InspectFolderTensor[];
  parameters: number;
  bytes: number;
  /** The file name `convert` writes by default. */
  defaultFileName: string;
}

/** What a Hugging Face folder holds and how it would convert (nothing is written). */
export async function inspectFolder(path: string): Promise<InspectFolderResult> {
  const plan = await (await hfConversion()).planConversion(path, 'auto');
  const kv = (key: string): unknown => plan.kvs.find((k) => k.key === key)?.value;
  const tokens = kv('tokenizer.ggml.tokens') as { items: unknown[] } | undefined;
  const f = plan.folder;
  return {
    path,
    architecture: f.architecture,
    ggufArchitecture: String(kv('general.architecture')),
    outType: plan.outType,
    tokenizer: { kind: kv('tokenizer.ggml.model') === 'gpt2' ? 'bpe' : 'sentencepiece', pre: String(kv('tokenizer.ggml.pre')), tokens: tokens?.items.length ?? 0 },
    files: f.files.map((x) => x.path),
    tensors: f.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: [...t.shape], file: basename(f.files[t.fileIndex]!.path) })),
    parameters: f.tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1), 0),
    bytes: f.tensors.reduce((s, t) => s + t.nbytes, 0),
    defaultFileName: plan.defaultFileName,
  };
}
