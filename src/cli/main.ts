/** The quant-native command line. Exit codes: 0 done, 1 failed, 2 usage, 130/143 interrupted. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { dequantize, inspect, listPresets, quantize, type QuantizeOptions, type QuantizeSummary, type TargetSummary } from '../api.js';
import { parseSize, type Target } from '../quant/target.js';
import { convert, inspectFolder, type ConvertSummary, type InspectFolderResult, type OutType } from '../convert.js';
import { supportedArchitectures } from '../hf/convert-plan.js';
import type { QuantizeProgress } from '../progress-events.js';
import { compareModels } from '../compare.js';
import { AbortError, QuantNativeError } from '../errors.js';
import { loadNative, nativeBindingPath, PACKAGE_ROOT, resolveSimd, type SimdName } from '../native.js';
import { PRESETS, type PresetArg } from '../quant/presets.js';
import { isModelFolder } from '../paths.js';
import { nearest } from '../suggest.js';
import { writeSyntheticModel } from '../synthetic.js';
import { UsageError, parseBitsPerWeight, parseKvOverride, parseThreads, parsePruneLayers, parseQuantizePositionals, parseTensorType, readTensorTypeFile } from './args.js';
import { duration, humanBytes, mib, table } from './format.js';
import { ProgressRenderer, pickProgressMode } from './progress.js';

const COMMANDS = ['quantize', 'convert', 'inspect', 'presets', 'dequantize', 'compare', 'demo', 'help'];

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

function versionText(): string {
  const native = loadNative();
  const active = native.info.simdNames[resolveSimd(native)];
  return [
    `quant-native ${packageVersion()}`,
    `addon: Node-API ${native.info.napiVersion}, ${nativeBindingPath() ?? 'unknown path'}`,
    `simd: ${active} (available: ${native.info.simdAvailable.join(', ')})`,
  ].join('\n');
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

interface QuantizeCliOptions {
  allowRequantize?: boolean;
  leaveOutputTensor?: boolean;
  pure?: boolean;
  imatrix?: string;
  includeWeights?: string[];
  excludeWeights?: string[];
  outputTensorType?: string;
  tokenEmbeddingType?: string;
  tensorType?: string[];
  tensorTypeFile?: string;
  pruneLayers?: string;
  keepSplit?: boolean;
  overrideKv?: string[];
  dryRun?: boolean;
  threads?: string;
  force?: boolean;
  json?: boolean;
  progress?: boolean;
  simd?: string;
  maxBufferSize?: string;
  targetSize?: string;
  targetBpw?: string;
}

function printSummary(s: QuantizeSummary): void {
  const predicted = s.target !== undefined;
  const rows = s.tensors.map((t) => [
    t.name, t.shape.join('x'), t.sourceType, t.type, t.action === 'copy' ? 'copied' : t.reason,
    ...(predicted ? [t.predictedError === undefined ? '' : t.predictedError.toExponential(3)] : []), `${mib(t.bytesIn)} -> ${mib(t.bytesOut)}`,
  ]);
  const header = ['tensor', 'shape', 'from', 'to', 'why', ...(predicted ? ['predicted error'] : []), 'size'];
  process.stdout.write(`${table(rows, header)}\n\n`);
  process.stdout.write(`model size: ${mib(s.bytesIn)} (${s.bitsPerWeightIn.toFixed(2)} bpw)\n`);
  process.stdout.write(`quant size: ${mib(s.bytesOut)} (${s.bitsPerWeightOut.toFixed(2)} bpw)\n`);
  if (s.target) printTarget(s.target);
  if (s.fallbackCount > 0) {
    process.stdout.write(`warning: ${s.fallbackCount} of ${s.tensors.length} tensor(s) (${s.fallbackParameters.toLocaleString('en-US')} parameters) fell back to another type because their row length does not fit the preset's block size\n`);
  }
  if (s.imatrix) {
    process.stdout.write(`imatrix: ${s.imatrix.file} (${s.imatrix.entries} entries) applied to ${s.imatrix.appliedTensors} of ${s.imatrix.quantizedTensors} quantized tensors\n`);
  }
  for (const w of s.warnings) process.stdout.write(`warning: ${w}\n`);
  if (s.dryRun) process.stdout.write('dry run: nothing was written\n');
  else process.stdout.write(`wrote ${s.outputs.join(', ')} in ${duration(s.seconds)} (${s.simd}, ${s.threads} threads, ${humanBytes(s.bytesIn / Math.max(s.seconds, 1e-9))}/s)\n`);
}

function printTarget(t: TargetSummary): void {
  const what = t.kind === 'bytes' ? `file size ${t.value} bytes (${humanBytes(t.value)})` : `${t.value} bits per weight (${t.budgetBytes} bytes of tensor data)`;
  process.stdout.write(`target: ${what}; chosen: ${t.usedBytes} bytes, ${t.belowBytes} bytes (${(t.belowFraction * 100).toFixed(3)} %) below; ${t.chosenTensors} tensor types chosen, total predicted error ${t.predictedError.toExponential(4)}\n`);
  process.stdout.write(`possible with these candidates: ${t.range.min} to ${t.range.max} bytes\n`);
  if (t.leftOutWithoutImatrix.length > 0) {
    process.stdout.write(`left out without an importance matrix: ${t.leftOutWithoutImatrix.join(', ')} (pass --imatrix to let them compete)\n`);
  }
}

/** Runs a long job with Ctrl-C / SIGTERM turned into an abort; returns the exit code on a signal. */
async function withSignals<T>(run: (signal: AbortSignal) => Promise<T>): Promise<{ value?: T; signalCode?: number }> {
  const controller = new AbortController();
  let signalCode: number | undefined;
  const onInt = (): void => { signalCode = 130; controller.abort(new Error('interrupted (SIGINT)')); };
  const onTerm = (): void => { signalCode = 143; controller.abort(new Error('terminated (SIGTERM)')); };
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    return { value: await run(controller.signal) };
  } catch (e) {
    if (signalCode !== undefined && e instanceof AbortError) return { signalCode };
    throw e;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

interface CliRun {
  json?: boolean;
  progress?: boolean;
  /** Said in the summary's warnings (options accepted for compatibility that change nothing). */
  notes?: readonly string[];
}

/** Runs a long job with progress and signals; prints its summary (or JSON) and returns the exit code. */
async function runJob<T extends { warnings: string[] }>(
  job: (signal: AbortSignal, onProgress: (p: QuantizeProgress) => void) => Promise<T>, cli: CliRun, print: (summary: T) => void,
): Promise<number> {
  const renderer = new ProgressRenderer(pickProgressMode({ progress: cli.progress, json: cli.json ?? false }, process.stderr.isTTY === true));
  const { value, signalCode } = await withSignals((signal) => job(signal, (p) => renderer.update(p)));
  renderer.finish();
  if (signalCode !== undefined) {
    const message = `interrupted (${signalCode === 130 ? 'SIGINT' : 'SIGTERM'}); no output was written`;
    if (cli.json) process.stdout.write(`${JSON.stringify({ error: { code: 'E_ABORTED', message } })}\n`);
    process.stderr.write(`quant-native: ${message}\n`);
    return signalCode;
  }
  const summary = { ...value!, warnings: [...value!.warnings, ...(cli.notes ?? [])] };
  if (cli.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else print(summary);
  return 0;
}

function runQuantize(options: QuantizeOptions, cli: CliRun, job = quantize): Promise<number> {
  return runJob((signal, onProgress) => job({ ...options, signal, onProgress }), cli, printSummary);
}

function printConvertSummary(s: ConvertSummary): void {
  const rows = s.tensors.map((t) => [t.name, t.shape.join('x'), t.sourceType.toLowerCase(), t.type, mib(t.bytes)]);
  process.stdout.write(`${table(rows, ['tensor', 'shape', 'from', 'to', 'size'])}\n\n`);
  process.stdout.write(`${s.architecture}: ${s.parameters.toLocaleString('en-US')} parameters, --outtype ${s.outType}\n`);
  for (const w of s.warnings) process.stdout.write(`warning: ${w}\n`);
  if (s.dryRun) process.stdout.write('dry run: nothing was written\n');
  else process.stdout.write(`wrote ${s.output} (${mib(s.bytesOut)}) in ${duration(s.seconds)} (${s.simd}, ${s.threads} threads)\n`);
}

/** llama-quantize's --max-buffer-size MiB: validated as it does, then only noted. */
function maxBufferSizeNotes(value: string | undefined): string[] {
  if (value === undefined) return [];
  if (!(Number.parseInt(value, 10) > 0)) throw new UsageError(`invalid --max-buffer-size '${value}': a positive number of MiB`);
  return ['--max-buffer-size has no effect here: quant-native streams every tensor in row chunks (set chunkBytes in the API to change their size)'];
}

function targetFrom(o: QuantizeCliOptions): Target | undefined {
  if (o.targetSize !== undefined && o.targetBpw !== undefined) throw new UsageError('--target-size and --target-bpw cannot be combined: give one budget');
  if (o.targetSize !== undefined) return { bytes: parseSize(o.targetSize) };
  if (o.targetBpw !== undefined) return { bitsPerWeight: parseBitsPerWeight(o.targetBpw) };
  return undefined;
}

function quantizeOptionsFrom(o: QuantizeCliOptions, pos: { input: string; output: string | undefined; type: string | undefined; threads: number | undefined }): QuantizeOptions {
  if (o.includeWeights?.length && o.excludeWeights?.length) throw new UsageError('--include-weights and --exclude-weights cannot be combined');
  const target = targetFrom(o);
  const tensorTypes = [...(o.tensorType ?? []).map(parseTensorType), ...(o.tensorTypeFile ? readTensorTypeFile(o.tensorTypeFile) : [])];
  const threads = parseThreads(o.threads) ?? pos.threads;
  return {
    input: pos.input,
    ...(pos.output !== undefined ? { output: pos.output } : {}),
    ...(pos.type !== undefined ? { preset: pos.type as PresetArg } : {}),
    ...(target !== undefined ? { target } : {}),
    ...(o.imatrix !== undefined ? { imatrix: o.imatrix } : {}),
    includeWeights: o.includeWeights ?? [],
    excludeWeights: o.excludeWeights ?? [],
    allowRequantize: o.allowRequantize ?? false,
    leaveOutputTensor: o.leaveOutputTensor ?? false,
    pure: o.pure ?? false,
    ...(o.outputTensorType !== undefined ? { outputTensorType: o.outputTensorType } : {}),
    ...(o.tokenEmbeddingType !== undefined ? { tokenEmbeddingType: o.tokenEmbeddingType } : {}),
    tensorTypes,
    pruneLayers: o.pruneLayers ? parsePruneLayers(o.pruneLayers) : [],
    keepSplit: o.keepSplit ?? false,
    overrideKv: (o.overrideKv ?? []).map(parseKvOverride),
    dryRun: o.dryRun ?? false,
    force: o.force ?? false,
    ...(threads !== undefined ? { threads } : {}),
    ...(o.simd !== undefined ? { simd: o.simd as SimdName } : {}),
  };
}

/** The type list of llama-quantize's usage, with what quant-native adds. */
function typeListHelp(): string {
  const lines = PRESETS.map((p) => `  ${p.name === 'COPY' ? '        ' : `${String(p.ftype).padStart(2)}  or  `}${p.name.padEnd(9)} : ${p.description}`);
  return ['', 'Allowed quantization types (name or number, case-insensitive):', ...lines].join('\n');
}

function addQuantizeOptions(c: Command): Command {
  return c
    .option('--allow-requantize', 'allow inputs that are already quantized (dequantized, then quantized again)')
    .option('--leave-output-tensor', 'leave output.weight as it is')
    .option('--pure', 'every quantizable tensor gets the preset type (no mixture rules)')
    .option('--imatrix <file>', 'importance matrix (GGUF or legacy .dat from llama-imatrix)')
    .option('--include-weights <name>', 'use importance data only for tensors whose name contains NAME (repeatable)', collect)
    .option('--exclude-weights <name>', 'drop importance data for tensors whose name contains NAME (repeatable)', collect)
    .option('--output-tensor-type <type>', 'type of output.weight (and tied token embeddings)')
    .option('--token-embedding-type <type>', 'type of token_embd.weight')
    .option('--tensor-type <name=type>', 'type for tensors whose name matches the regex NAME (repeatable; first match wins)', collect)
    .option('--tensor-type-file <file>', 'file of whitespace-separated NAME=TYPE overrides')
    .option('--prune-layers <list>', 'drop these layers, e.g. 20,21,22')
    .option('--keep-split', 'write one output shard per input shard')
    .option('--override-kv <key=type:value>', 'set metadata, TYPE one of int, float, bool, str (repeatable)', collect)
    .option('--target-size <size>', 'a file size to fill with the least error: each tensor gets the type that, over the model, loses least (4.2GB = 10^9 bytes, 3.9GiB or 3.9G = 2^30, 700MB, bytes); the type is then optional and limits the candidates to its family')
    .option('--target-bpw <bits>', 'as --target-size, in bits per weight of the tensor data, e.g. 3.8')
    .option('--dry-run', 'print the plan (types, reasons, sizes; with a target, each tensor\'s predicted error) without writing anything')
    .option('--max-buffer-size <MiB>', 'accepted for llama-quantize compatibility; no effect (quant-native always streams)')
    .option('-t, --threads <n>', 'worker threads (default: all cores)')
    .option('--simd <path>', 'force a kernel path: auto, scalar, avx2, avx512, neon (default: QUANT_NATIVE_SIMD or auto)')
    .option('-f, --force', 'overwrite an existing output file')
    .option('--json', 'print one JSON summary on stdout')
    .option('--progress', 'with --json: also print JSON lines of progress')
    .option('--no-progress', 'no progress output');
}

function buildProgram(exit: { code: number }): Command {
  const program = new Command('quant-native')
    .description('Quantize GGUF models and Hugging Face folders (F32/F16/BF16 to Q8_0, Q4_K_M, ...) byte-for-byte like llama.cpp, with SIMD kernels.')
    .usage('<command> [options]')
    .option('-v, --version', 'print the version, the addon ABI and the active SIMD path')
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText('after', `
Examples:
  $ quant-native demo                                   # a tiny model, quantized end to end
  $ quant-native quantize model-f16.gguf model-Q4_K_M.gguf Q4_K_M
  $ quant-native model-f16.gguf Q8_0                    # llama-quantize syntax works too
  $ quant-native quantize --dry-run model-f16.gguf Q4_K_M
  $ quant-native convert ./Qwen3-8B                      # a Hugging Face folder to GGUF, no Python
  $ quant-native quantize ./Qwen3-8B qwen3-Q4_K_M.gguf Q4_K_M
  $ quant-native inspect model.gguf --json
  $ quant-native presets

Environment:
  QUANT_NATIVE_SIMD=scalar|avx2|avx512|neon|auto   force a kernel path (outputs are identical on every path)
  QUANT_NATIVE_BINDING=/path/to/addon.node  load the native addon from this file`);

  program.action((opts: { version?: boolean }) => {
    if (opts.version) process.stdout.write(`${versionText()}\n`);
    else program.outputHelp();
  });

  addQuantizeOptions(
    program.command('quantize')
      .description('quantize a model, as llama-quantize does')
      .usage('[options] <input.gguf> [output.gguf] <type> [nthreads]')
      .argument('<args...>', 'input, optional output, type (name or ftype number) and optional thread count'),
  )
    .addHelpText('after', () => `${typeListHelp()}

\`quant-native presets\` shows the same list with bits per weight and which presets need --imatrix.
Without an output path the file is <input dir>/ggml-model-<TYPE>.gguf, as llama-quantize names it.

Examples:
  $ quant-native quantize llama-3-8b-f16.gguf llama-3-8b-Q4_K_M.gguf Q4_K_M
  $ quant-native quantize --imatrix imatrix.gguf model-f16.gguf out.gguf IQ4_XS
  $ quant-native quantize --tensor-type attn_v=q8_0 --tensor-type ffn_down=q6_K in.gguf out.gguf Q4_K_M
  $ quant-native quantize --json --no-progress in.gguf out.gguf Q8_0 | jq .bitsPerWeightOut
  $ quant-native quantize --target-size 4.2GB model-f16.gguf out.gguf          # least predicted error in 4.2 GB
  $ quant-native quantize --target-bpw 3.8 --imatrix imatrix.gguf model-f16.gguf out.gguf
  $ quant-native quantize --target-size 4GiB --dry-run model-f16.gguf out.gguf Q4_K_M   # K-quants only; print the choice`)
    .action(async (args: string[], o: QuantizeCliOptions) => {
      const typeOptional = o.targetSize !== undefined || o.targetBpw !== undefined;
      exit.code = await runQuantize(quantizeOptionsFrom(o, parseQuantizePositionals(args, typeOptional)), { ...o, notes: maxBufferSizeNotes(o.maxBufferSize) });
    });

  program.command('convert')
    .description('convert a Hugging Face model folder to GGUF, as llama.cpp\'s convert_hf_to_gguf.py does (no Python)')
    .argument('<model-folder>', 'the folder with config.json, *.safetensors and the tokenizer files')
    .argument('[output.gguf]', 'default: <folder>/<Name>-<size>-<finetune>-<version>-<TYPE>.gguf, as the converter names it')
    .addOption(new Option('--outtype <type>', 'output type, as the converter\'s --outtype (auto: BF16 weights stay BF16, others become F16)').choices(['auto', 'f32', 'f16', 'bf16', 'q8_0']).default('auto'))
    .option('--dry-run', 'print what would be written, write nothing')
    .option('-f, --force', 'overwrite an existing output file')
    .option('-t, --threads <n>', 'worker threads (default: all cores)')
    .option('--json', 'print one JSON summary on stdout')
    .option('--progress', 'with --json: also print JSON lines of progress')
    .option('--no-progress', 'no progress output')
    .addHelpText('after', () => `
Supported architectures: ${supportedArchitectures().join(', ')}.
\`quant-native quantize <model-folder> out.gguf Q4_K_M\` converts and quantizes in one pass.

Examples:
  $ quant-native convert ./SmolLlama-140K-Chat-v0.1                 # writes SmolLlama-140K-Chat-v0.1-F16.gguf inside the folder
  $ quant-native convert ./my-model my-model-f16.gguf --outtype f16
  $ quant-native convert --dry-run --json ./my-model | jq .tensors`)
    .action(async (input: string, output: string | undefined, o: { outtype: string; dryRun?: boolean; force?: boolean; threads?: string; json?: boolean; progress?: boolean }) => {
      const threads = parseThreads(o.threads);
      exit.code = await runJob((signal, onProgress) => convert({
        input, ...(output !== undefined ? { output } : {}), outType: o.outtype as OutType, dryRun: o.dryRun ?? false, force: o.force ?? false,
        ...(threads !== undefined ? { threads } : {}), signal, onProgress,
      }), o, printConvertSummary);
    });

  program.command('dequantize')
    .description('write a quantized model back as F32, F16 or BF16')
    .argument('<input.gguf>')
    .argument('<output.gguf>')
    .addOption(new Option('--type <type>', 'output float type').choices(['f32', 'f16', 'bf16']).default('f16'))
    .option('-f, --force', 'overwrite an existing output file')
    .option('-t, --threads <n>', 'worker threads (default: all cores)')
    .option('--json', 'print one JSON summary on stdout')
    .option('--progress', 'with --json: also print JSON lines of progress')
    .option('--no-progress', 'no progress output')
    .addHelpText('after', '\nExample:\n  $ quant-native dequantize model-Q8_0.gguf model-f16.gguf --type f16')
    .action(async (input: string, output: string, o: { type: string; force?: boolean; threads?: string; json?: boolean; progress?: boolean }) => {
      const opts = quantizeOptionsFrom({ force: o.force ?? false, ...(o.threads ? { threads: o.threads } : {}) }, { input, output, type: o.type.toUpperCase(), threads: undefined });
      const type = o.type as 'f32' | 'f16' | 'bf16';
      exit.code = await runQuantize(opts, o, ({ preset: _preset, allowRequantize: _allowRequantize, ...q }) => dequantize({ ...q, output, type }));
    });

  program.command('inspect')
    .description('show a model\'s metadata and tensors (a GGUF file, or a Hugging Face folder: what it would convert to)')
    .argument('<file.gguf|model-folder>')
    .option('--json', 'print the result as JSON (a stable shape, see the README)')
    .addHelpText('after', '\nExamples:\n  $ quant-native inspect model.gguf\n  $ quant-native inspect model.gguf --json | jq \'.tensors[] | select(.type == "q4_K") | .name\'')
    .action(async (file: string, o: { json?: boolean }) => {
      if (await isModelFolder(file)) {
        printFolder(await inspectFolder(file), o.json ?? false);
        return;
      }
      const r = await inspect(file);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
        return;
      }
      const out: string[] = [];
      out.push(`${r.path}: GGUF v${r.version}${r.files.length > 1 ? `, ${r.files.length} shards` : ''}`);
      out.push(`architecture: ${r.architecture ?? '?'}   name: ${r.name ?? '?'}   file type: ${r.fileType ?? '?'}${r.fileTypeName ? ` (${r.fileTypeName})` : ''}`);
      out.push(`tensors: ${r.tensors.length}   parameters: ${r.parameters.toLocaleString('en-US')}   tensor data: ${mib(r.tensorBytes)} (${r.bitsPerWeight.toFixed(2)} bpw)   file: ${mib(r.fileBytes)}`);
      out.push('', 'metadata:');
      for (const m of r.metadata) {
        const v = m.value;
        const shown = v && typeof v === 'object' && !Array.isArray(v)
          ? `[${(v as { first: unknown[] }).first.map((x) => JSON.stringify(x)).join(', ')}, ...] (${(v as { length: number }).length} items)`
          : JSON.stringify(v);
        out.push(`  ${m.key.padEnd(40)} ${m.type.padEnd(14)} ${shown.length > 100 ? `${shown.slice(0, 97)}...` : shown}`);
      }
      out.push('', table(r.tensors.map((t) => [t.name, t.type, t.shape.join('x'), mib(t.bytes)]), ['tensor', 'type', 'shape', 'size']));
      process.stdout.write(`${out.join('\n')}\n`);
    });

  program.command('presets')
    .description('list the quantization presets')
    .option('--json', 'print the list as JSON')
    .addHelpText('after', '\nExamples:\n  $ quant-native presets\n  $ quant-native presets --json | jq -r \'.[] | select(.needsImatrix | not) | .name\'')
    .action((o: { json?: boolean }) => {
      const list = listPresets();
      if (o.json) {
        process.stdout.write(`${JSON.stringify(list)}\n`);
        return;
      }
      process.stdout.write(`${table(list.map((p) => [
        String(p.fileType), p.name, p.defaultType ?? '-', p.bitsPerWeight === undefined ? '-' : p.bitsPerWeight.toFixed(4).replace(/0+$/, '').replace(/\.$/, ''),
        p.supported ? 'yes' : 'not yet', p.needsImatrix ? 'needs --imatrix' : '', p.description,
      ]), ['ftype', 'preset', 'default type', 'bpw', 'supported', 'imatrix', 'llama.cpp notes'])}\n`);
    });

  program.command('compare')
    .description('per-tensor error of a quantized model against its reference')
    .argument('<reference.gguf>')
    .argument('<quantized.gguf>')
    .option('--json', 'print one object per tensor as JSON')
    .addHelpText('after', '\nExample:\n  $ quant-native compare model-f16.gguf model-Q4_K_M.gguf')
    .action(async (reference: string, quantized: string, o: { json?: boolean }) => {
      const r = await compareModels(reference, quantized);
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r.tensors.map(({ name, type, rmse, maxAbsError, cosine, sqnrDb }) => ({ name, type, rmse, maxAbsError, cosine, sqnrDb })))}\n`);
        return;
      }
      const fmt = (v: number): string => (v === 0 ? '0' : v.toExponential(3));
      process.stdout.write(`${table(r.tensors.map((t) => [
        t.name, `${t.referenceType}->${t.type}`, fmt(t.rmse), fmt(t.maxAbsError), t.cosine.toFixed(6), t.sqnrDb === null ? 'identical' : `${t.sqnrDb.toFixed(2)} dB`,
      ]), ['tensor (worst first)', 'types', 'rmse', 'max abs error', 'cosine', 'SQNR'])}\n`);
      if (r.unmatched.length > 0) process.stdout.write(`\nnot compared (missing or reshaped): ${r.unmatched.join(', ')}\n`);
    });

  program.command('demo')
    .description('write a small synthetic model, quantize it to Q4_K_M, show the result, clean up')
    .option('--json', 'print the quantization summary as JSON')
    .addHelpText('after', '\nExample:\n  $ npx quant-native demo')
    .action(async (o: { json?: boolean }) => {
      removeStaleDemoFolders();
      const dir = mkdtempSync(join(tmpdir(), `${DEMO_PREFIX}${process.pid}-`));
      // Until the quantization's own handlers take over, an interrupt removes the folder and exits.
      const onSignal = (signal: NodeJS.Signals): void => {
        rmSync(dir, { recursive: true, force: true });
        process.stderr.write('quant-native: interrupted; the demo files were removed\n');
        process.exit(signal === 'SIGINT' ? 130 : 143);
      };
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        const input = join(dir, 'demo-f16.gguf');
        process.stderr.write(`writing a synthetic llama-shaped F16 model to ${input} ...\n`);
        await writeSyntheticModel(input, { layers: 4, embd: 512, ff: 1536, heads: 8, kvHeads: 4, vocab: 2048, dtype: 'f16', name: 'quant-native demo' });
        const info = await inspect(input);
        process.stderr.write(`  ${info.tensors.length} tensors, ${info.parameters.toLocaleString('en-US')} parameters, ${mib(info.fileBytes)}\n`);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        process.stderr.write('quantizing to Q4_K_M ...\n');
        exit.code = await runQuantize({ input, output: join(dir, 'demo-Q4_K_M.gguf'), preset: 'Q4_K_M' }, { json: o.json ?? false });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        rmSync(dir, { recursive: true, force: true });
      }
      if (exit.code === 0) {
        process.stderr.write('the demo files were removed again. Your own model: quant-native quantize model-f16.gguf model-Q4_K_M.gguf Q4_K_M\n');
      }
    });

  return program;
}

function printFolder(r: InspectFolderResult, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const out = [
    `${r.path}: Hugging Face folder, ${r.files.length} weight file(s)`,
    `architecture: ${r.architecture} -> ${r.ggufArchitecture}   --outtype auto: ${r.outType}   converts to: ${r.defaultFileName}`,
    `tokenizer: ${r.tokenizer.kind}${r.tokenizer.kind === 'bpe' ? ` (pre-tokenizer ${r.tokenizer.pre})` : ''}, ${r.tokenizer.tokens.toLocaleString('en-US')} tokens`,
    `tensors: ${r.tensors.length}   parameters: ${r.parameters.toLocaleString('en-US')}   weights: ${mib(r.bytes)}`,
    '',
    table(r.tensors.map((t) => [t.name, t.dtype, t.shape.join('x'), t.file]), ['tensor', 'dtype', 'shape', 'file']),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

const DEMO_PREFIX = 'quant-native-demo-';

/** Demo folders of runs killed outright (`quant-native-demo-<pid>-*` of a pid that is gone). */
function removeStaleDemoFolders(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = name.startsWith(DEMO_PREFIX) ? Number.parseInt(name.slice(DEMO_PREFIX.length), 10) : NaN;
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
}

/** The one JSON object `--json` prints on stdout for a failure. */
function jsonError(code: string, message: string, hint?: string): void {
  process.stdout.write(`${JSON.stringify({ error: { code, message, ...(hint ? { hint } : {}) } })}\n`);
}

function printError(e: unknown, json: boolean): void {
  if (e instanceof QuantNativeError) {
    if (json) jsonError(e.code, e.message, e.hint);
    process.stderr.write(`quant-native: error: ${e.message}\n`);
    if (e.hint) process.stderr.write(`  hint: ${e.hint}\n`);
    return;
  }
  const hint = 'this is a bug in quant-native; please report it with the command you ran';
  if (json) jsonError('E_INTERNAL', e instanceof Error ? e.message : String(e), hint);
  process.stderr.write(`quant-native: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.stderr.write(`  hint: ${hint}\n`);
}

/** Accepts llama-quantize's bare form: `quant-native [options] in.gguf [out.gguf] TYPE [n]`; a
 * mistyped command that is no file is a usage error that names the command meant. */
export function normalizeArgv(args: readonly string[]): string[] {
  const first = args.find((a) => !a.startsWith('-'));
  if (first === undefined || COMMANDS.includes(first)) return [...args];
  const meant = nearest(first, COMMANDS);
  if (meant !== undefined && !/[./\\]/.test(first) && !existsSync(first)) {
    throw new UsageError(`unknown command "${first}": did you mean ${meant}? (commands: ${COMMANDS.join(', ')})`);
  }
  return ['quantize', ...args];
}

export async function main(argv: readonly string[]): Promise<number> {
  // A reader that stops early (`quant-native presets | head`) is no error: stop quietly, as Unix tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const exit = { code: 0 };
  const program = buildProgram(exit);
  const json = argv.includes('--json');
  let args: string[] = [...argv];
  try {
    args = normalizeArgv(argv);
    await program.parseAsync(args, { from: 'user' });
    return exit.code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit 0; every parse problem is a usage error (commander has printed it).
      if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return 0;
      if (json) jsonError('E_USAGE', e.message.replace(/^error: /, ''));
      return 2;
    }
    if (e instanceof UsageError) {
      const command = COMMANDS.includes(args[0] ?? '') ? `${args[0]} ` : '';
      if (json) jsonError('E_USAGE', e.message, `see: quant-native ${command}--help`);
      process.stderr.write(`quant-native: ${e.message}\n  see: quant-native ${command}--help\n`);
      return 2;
    }
    printError(e, json);
    return 1;
  }
}
