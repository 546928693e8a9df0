/** Whole files byte-identical to llama.cpp's llama_model_quantize: every preset the kernels cover,
 * on real models and on generated ones that exercise every rule, and every option. */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantize, type QuantizeOptions } from '../src/api.js';
import { GgmlType } from '../src/ggml-types.js';
import { readGguf } from '../src/gguf/reader.js';
import { splitPath } from '../src/gguf/model.js';
import { findPreset, type PresetArg, type PresetName } from '../src/quant/presets.js';
import { writeSyntheticModel, type SyntheticModelOptions } from '../src/synthetic.js';
import { ggufImatrixValues, makeImatrixEntries, splitModel, writeGgufImatrix, writeLegacyImatrix } from './helpers/fixtures.js';
import { loadLlamaOracle, type LlamaQuantizeParams } from './helpers/llama-oracle.js';
import { ORACLE_PACKAGE } from './helpers/oracle.js';
import { realModel, tempDir } from './helpers/models.js';

const oracle = loadLlamaOracle();
if (!oracle) console.warn(`\n*** ORACLE MISSING: ${ORACLE_PACKAGE} is not installed here; whole-file byte-identity tests are NOT run ***\n`);

const tmp = tempDir('qn-quant-');
afterAll(() => tmp.cleanup());

const PRESETS: PresetName[] = [
  'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q3_K', 'Q4_K_S', 'Q4_K_M', 'Q4_K',
  'Q5_K_S', 'Q5_K_M', 'Q5_K', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'F16', 'BF16', 'F32', 'COPY',
  'IQ3_S', 'IQ3_M', 'MXFP4_MOE', 'Q1_0', 'Q2_0',
];
/** The presets whose mix holds IQ1_S, IQ1_M, IQ2 or IQ3_XXS tensors, which llama.cpp refuses to
 * produce without an importance matrix; IQ3_S and IQ3_M also run above without one. */
const IMATRIX_PRESETS: PresetName[] = ['IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ2_M', 'IQ3_XXS', 'IQ3_XS', 'IQ3_S', 'IQ3_M'];

const MODELS: Record<string, SyntheticModelOptions> = {
  // >= 8 layers so the first/last-layer rules fire; GQA 4; untied; F16.
  'dense 8 layers gqa4 f16': { layers: 8, embd: 256, ff: 512, heads: 8, kvHeads: 2, vocab: 320, dtype: 'f16', seed: 11 },
  // No GQA, tied embeddings, F32 input.
  'dense gqa1 tied f32': { layers: 3, embd: 256, ff: 768, heads: 4, kvHeads: 4, vocab: 300, dtype: 'f32', tiedEmbeddings: true, seed: 12 },
  // Mixture of experts (3-D expert stacks), BF16 input.
  'moe 4 experts bf16': { layers: 3, embd: 256, ff: 256, heads: 8, kvHeads: 4, vocab: 280, dtype: 'bf16', experts: 4, seed: 13 },
  // Eight experts: the nexp == 8 rules.
  'moe 8 experts f16': { layers: 2, embd: 256, ff: 256, heads: 8, kvHeads: 2, vocab: 260, dtype: 'f16', experts: 8, seed: 14 },
  // ffn_down rows of 344: no 32-block fits either, so everything there falls back to F16.
  'fallback to f16': { layers: 2, embd: 256, ff: 344, heads: 8, kvHeads: 2, vocab: 260, dtype: 'f16', seed: 15 },
  // Rows of 288 and 352: every 256-block type falls back to its 32-block replacement.
  'fallback to 32-blocks': { layers: 2, embd: 288, ff: 352, heads: 9, kvHeads: 3, vocab: 270, dtype: 'f32', seed: 16 },
};

const paths: Record<string, string> = {};

beforeAll(async () => {
  if (!oracle) return;
  for (const [name, o] of Object.entries(MODELS)) {
    paths[name] = join(tmp.dir, `${name.replace(/\W+/g, '-')}.gguf`);
    await writeSyntheticModel(paths[name]!, o);
  }
});

function firstDifference(a: Buffer, b: Buffer): string | undefined {
  if (a.equals(b)) return undefined;
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return `files differ at byte ${i} (llama.cpp ${a.length} bytes, ours ${b.length})`;
}

let serial = 0;

/** Runs both quantizers and compares every output file byte for byte. */
async function compare(input: string, preset: PresetArg, ours: Partial<QuantizeOptions> = {}, llama: Partial<LlamaQuantizeParams> = {}): Promise<void> {
  const p = findPreset(preset)!;
  const id = ++serial;
  const theirs = join(tmp.dir, `llama-${id}.gguf`);
  const mine = join(tmp.dir, `ours-${id}.gguf`);
  const rc = oracle!.quantize(input, ours.keepSplit ? theirs.slice(0, -5) : theirs, {
    ftype: p.ftype, onlyCopy: p.defaultType === undefined, ...llama,
  });
  expect(rc, 'llama_model_quantize status').toBe(0);
  const summary = await quantize({ input, output: mine, preset, force: true, threads: 2, ...ours });
  const pairs = ours.keepSplit
    ? summary.outputs.map((o, i) => [splitPath(theirs.slice(0, -5), i, summary.outputs.length), o] as const)
    : [[theirs, mine] as const];
  for (const [a, b] of pairs) {
    const diff = firstDifference(readFileSync(a), readFileSync(b));
    expect(diff, `${preset} on ${input}`).toBeUndefined();
    rmSync(a);
    rmSync(b);
  }
}

describe.runIf(oracle)('every preset on generated models', () => {
  for (const model of Object.keys(MODELS)) {
    // Q1_0's 128-blocks have no fallback type: both refuse the fallback models (tested below).
    it.each(model.startsWith('fallback') ? PRESETS.filter((p) => p !== 'Q1_0') : PRESETS)(`${model}: %s`, async (preset) => {
      await compare(paths[model]!, preset);
    });
  }
  it.each(['fallback to f16', 'fallback to 32-blocks'])('Q1_0 on rows that are not whole 128-blocks is refused (%s), as llama.cpp refuses it', async (model) => {
    await expect(quantize({ input: paths[model]!, output: join(tmp.dir, 'q1.gguf'), preset: 'Q1_0' }))
      .rejects.toMatchObject({ code: 'E_NO_FALLBACK' });
    expect(oracle!.quantize(paths[model]!, join(tmp.dir, 'q1-llama.gguf'), { ftype: findPreset('Q1_0')!.ftype })).not.toBe(0);
  });
  it('a preset given as its ftype number (15 = Q4_K_M)', async () => {
    await compare(paths['dense 8 layers gqa4 f16']!, '15');
  });
});

describe.runIf(oracle)('real models', () => {
  const real = ['stories260K.gguf', 'tinystories-656k-f32.gguf', 'tiny256-f16.gguf', 'tiny256-f32.gguf', 'llama-2-tiny-random.gguf'];
  for (const name of real) {
    const path = realModel(name);
    it.runIf(path).each(['Q8_0', 'Q4_0', 'Q4_K_M', 'Q5_K_M', 'Q6_K', 'Q3_K_M', 'Q2_K', 'IQ4_XS', 'TQ2_0', 'F16', 'BF16', 'IQ3_M', 'Q2_0'] as const)(`${name}: %s`, async (preset) => {
      await compare(path!, preset);
    });
  }
});

describe.runIf(oracle)('options', () => {
  const dense = (): string => paths['dense 8 layers gqa4 f16']!;
  it('--pure', async () => compare(dense(), 'Q4_K_M', { pure: true }, { pure: true }));
  it('--leave-output-tensor', async () => compare(dense(), 'Q4_K_M', { leaveOutputTensor: true }, { leaveOutputTensor: true }));
  it('--output-tensor-type', async () => compare(dense(), 'Q4_K_M', { outputTensorType: 'q8_0' }, { outputTensorType: GgmlType.Q8_0 }));
  it('--output-tensor-type on tied embeddings', async () =>
    compare(paths['dense gqa1 tied f32']!, 'Q5_K_M', { outputTensorType: 'Q4_0' }, { outputTensorType: GgmlType.Q4_0 }));
  it('--token-embedding-type', async () => compare(dense(), 'Q4_K_M', { tokenEmbeddingType: 'q4_0' }, { tokenEmbeddingType: GgmlType.Q4_0 }));
  it('--tensor-type (repeated; first match wins; counters skip manual tensors)', async () =>
    compare(dense(), 'Q4_K_M',
      { tensorTypes: [{ pattern: 'blk\\.[0-3]\\.attn_v', type: 'q8_0' }, { pattern: 'ffn_down', type: 'q5_0' }, { pattern: 'attn_v', type: 'iq4_xs' }] },
      { tensorTypes: [{ pattern: 'blk\\.[0-3]\\.attn_v', type: GgmlType.Q8_0 }, { pattern: 'ffn_down', type: GgmlType.Q5_0 }, { pattern: 'attn_v', type: GgmlType.IQ4_XS }] }));
  it('--tensor-type and --output-tensor-type NVFP4 (no preset produces it)', async () =>
    compare(dense(), 'Q4_K_M', { tensorTypes: [{ pattern: 'ffn_(up|gate)', type: 'nvfp4' }], outputTensorType: 'nvfp4' },
      { tensorTypes: [{ pattern: 'ffn_(up|gate)', type: GgmlType.NVFP4 }], outputTensorType: GgmlType.NVFP4 }));
  it('--tensor-type with a type that must fall back', async () =>
    compare(paths['fallback to 32-blocks']!, 'Q8_0', { tensorTypes: [{ pattern: 'ffn', type: 'q6_K' }] }, { tensorTypes: [{ pattern: 'ffn', type: GgmlType.Q6_K }] }));
  it('--override-kv of every type, including an existing key', async () => {
    const kv = [
      { key: 'general.name', type: 'str' as const, value: 'renamed' },
      { key: 'test.int', type: 'int' as const, value: -7 },
      { key: 'test.float', type: 'float' as const, value: 0.1 },
      { key: 'test.bool', type: 'bool' as const, value: true },
    ];
    await compare(dense(), 'Q6_K', { overrideKv: kv }, { kvOverrides: kv });
  });
  it('--override-kv that changes hparams the rules read', async () => {
    const kv = [{ key: 'llama.attention.head_count_kv', type: 'int' as const, value: 8 }];
    await compare(dense(), 'Q2_K', { overrideKv: kv }, { kvOverrides: kv });
  });
  it('--prune-layers', async () => compare(dense(), 'Q4_K_M', { pruneLayers: [5, 2] }, { pruneLayers: [2, 5] }));
  it('--allow-requantize from Q8_0', async () => {
    const q8 = join(tmp.dir, 'q8.gguf');
    await quantize({ input: dense(), output: q8, preset: 'Q8_0', force: true });
    await compare(q8, 'Q4_K_M', { allowRequantize: true }, { allowRequantize: true });
    await compare(q8, 'Q5_0', { allowRequantize: true }, { allowRequantize: true });
  });
  it('requantizing without --allow-requantize is refused', async () => {
    const q8 = join(tmp.dir, 'q8b.gguf');
    await quantize({ input: dense(), output: q8, preset: 'Q8_0', force: true });
    await expect(quantize({ input: q8, output: join(tmp.dir, 'x.gguf'), preset: 'Q4_K_M' })).rejects.toMatchObject({ code: 'E_REQUANTIZE' });
    expect(oracle!.quantize(q8, join(tmp.dir, 'y.gguf'), { ftype: 15 })).not.toBe(0);
  });
  it('--keep-split on a split input', async () => {
    const shards = await splitModel(dense(), join(tmp.dir, 'split'), 3);
    await compare(shards[0]!, 'Q4_K_M', { keepSplit: true }, { keepSplit: true });
    await compare(shards[0]!, 'Q5_K_S');
  });

  describe('--imatrix', () => {
    /** Both imatrix formats of one model, made once for its tests, with the metadata llama-quantize records. */
    const imatrixFiles = (label: string, model: string, seed: number, chunks: { dat: number; gguf: number }, datasets: { dat: string; gguf: string[] }) => {
      const files = {} as { entries: Awaited<ReturnType<typeof makeImatrixEntries>>; dat: string; gguf: string; datValues: Map<string, Float32Array>; ggufValues: Map<string, Float32Array> };
      beforeAll(async () => {
        files.entries = await makeImatrixEntries(paths[model]!, seed);
        files.dat = join(tmp.dir, `${label}.imatrix.dat`);
        files.gguf = join(tmp.dir, `${label}.imatrix.gguf`);
        files.datValues = writeLegacyImatrix(files.dat, files.entries, chunks.dat, datasets.dat);
        await writeGgufImatrix(files.gguf, files.entries, chunks.gguf, datasets.gguf);
        files.ggufValues = ggufImatrixValues(files.entries);
      });
      const kv = (format: 'dat' | 'gguf', n: number) => [
        { key: 'quantize.imatrix.file', type: 'str' as const, value: format === 'dat' ? files.dat : files.gguf },
        { key: 'quantize.imatrix.dataset', type: 'str' as const, value: format === 'dat' ? datasets.dat : datasets.gguf[0]! },
        { key: 'quantize.imatrix.entries_count', type: 'int' as const, value: n },
        { key: 'quantize.imatrix.chunks_count', type: 'int' as const, value: format === 'dat' ? chunks.dat : chunks.gguf },
      ];
      /** Both quantizers with the imatrix in one format (or values filtered from it). */
      const run = (preset: PresetName, format: 'dat' | 'gguf', ours: Partial<QuantizeOptions> = {}, values?: Map<string, Float32Array>) => {
        const v = values ?? (format === 'dat' ? files.datValues : files.ggufValues);
        return compare(paths[model]!, preset, { imatrix: format === 'dat' ? files.dat : files.gguf, ...ours }, { imatrix: v, kvOverrides: kv(format, v.size) });
      };
      return { files, run };
    };

    for (const [label, model] of [['dense', 'dense 8 layers gqa4 f16'], ['moe', 'moe 4 experts bf16']] as const) {
      describe(`legacy .dat and GGUF imatrix files on the ${label} model`, () => {
        const { files, run } = imatrixFiles(label, model, 3, { dat: 42, gguf: 17 }, { dat: 'calibration.txt', gguf: ['wiki.train.raw', 'second'] });
        it.each(['Q4_0', 'Q5_0', 'Q4_1', 'Q5_1', 'Q2_K', 'Q2_K_S', 'Q3_K_M', 'Q4_K_M', 'Q5_K_S', 'Q6_K', 'IQ4_NL', 'IQ4_XS'] as const)('%s, both formats', async (preset) => {
          await run(preset, 'dat');
          await run(preset, 'gguf');
        });
        it('--include-weights / --exclude-weights filter the entries (and the entries_count)', async () => {
          await run('Q4_K_M', 'dat', { includeWeights: ['ffn'] }, new Map([...files.datValues].filter(([n]) => n.includes('ffn'))));
          await run('Q4_K_M', 'dat', { excludeWeights: ['attn'] }, new Map([...files.datValues].filter(([n]) => !n.includes('attn'))));
        });
      });
    }
    // Each model runs every low-bit preset with one imatrix format and one preset with the other, so
    // both formats meet both models without doubling the slowest part of the suite.
    for (const [label, model, mainFormat] of [['dense', 'dense 8 layers gqa4 f16', 'gguf'], ['moe', 'moe 4 experts bf16', 'dat']] as const) {
      describe(`the IQ1/IQ2/IQ3 presets on the ${label} model (${mainFormat} imatrix for all, the other format for one)`, () => {
        const { run } = imatrixFiles(`${label}-iq`, model, 5, { dat: 7, gguf: 9 }, { dat: 'calibration.txt', gguf: ['wiki.train.raw'] });
        const other = mainFormat === 'gguf' ? 'dat' : 'gguf';
        it.each(IMATRIX_PRESETS)(`%s (${mainFormat})`, async (preset) => { await run(preset, mainFormat); });
        const extra: PresetName = label === 'dense' ? 'IQ2_XS' : 'IQ1_M';
        it(`${extra} (${other})`, async () => { await run(extra, other); });
      });
    }
    it.each(IMATRIX_PRESETS.filter((p) => p !== 'IQ3_S' && p !== 'IQ3_M'))('%s without an imatrix is refused as llama.cpp refuses it', async (preset) => {
      const input = paths['dense 8 layers gqa4 f16']!;
      await expect(quantize({ input, output: join(tmp.dir, 'z.gguf'), preset }))
        .rejects.toMatchObject({ code: 'E_NEEDS_IMATRIX', message: expect.stringContaining('blk.') });
      expect(oracle!.quantize(input, join(tmp.dir, 'z-llama.gguf'), { ftype: findPreset(preset)!.ftype })).not.toBe(0);
    });
    it('a preset that needs an imatrix is refused without one, naming the tensors', async () => {
      await expect(quantize({ input: paths['dense 8 layers gqa4 f16']!, output: join(tmp.dir, 'z.gguf'), preset: 'Q2_K_S' }))
        .rejects.toMatchObject({ code: 'E_NEEDS_IMATRIX', message: expect.stringContaining('blk.0.') });
    });
  });
});

/** A copy of an F32 model with one weight of blk.0.ffn_up.weight replaced. */
async function modelWithWeight(name: string, value: number): Promise<string> {
  const path = join(tmp.dir, `${name}.gguf`);
  await writeSyntheticModel(path, { ...MODELS['dense gqa1 tied f32']!, layers: 1 });
  const t = (await readGguf(path)).tensors.find((x) => x.name === 'blk.0.ffn_up.weight')!;
  const v = Buffer.alloc(4);
  v.writeFloatLE(value);
  const fd = openSync(path, 'r+');
  writeSync(fd, v, 0, 4, t.dataStart + 4 * 300);
  closeSync(fd);
  return path;
}

describe.runIf(oracle)('refusals match llama.cpp', () => {
  it.each([['NaN', Number.NaN], ['Inf', Number.POSITIVE_INFINITY]])('%s in a weight names the tensor', async (label, value) => {
    const bad = await modelWithWeight(label, value);
    await expect(quantize({ input: bad, output: join(tmp.dir, `${label}-out.gguf`), preset: 'Q4_K_M' }))
      .rejects.toMatchObject({ code: 'E_INVALID_DATA', message: expect.stringContaining('blk.0.ffn_up.weight') });
    expect(oracle!.quantize(bad, join(tmp.dir, `${label}-llama.gguf`), { ftype: 15 })).not.toBe(0);
  });
  it.each([['F16', 1, 70000], ['Q8_0', 7, 9e6]] as const)('a value that overflows %s is refused, naming the tensor and row', async (preset, ftype, value) => {
    const bad = await modelWithWeight(`big-${preset}`, value);
    await expect(quantize({ input: bad, output: join(tmp.dir, `big-${preset}-out.gguf`), preset }))
      .rejects.toMatchObject({ code: 'E_QUANTIZED_INVALID', message: expect.stringMatching(/blk\.0\.ffn_up\.weight, row 1\b/) });
    expect(oracle!.quantize(bad, join(tmp.dir, `big-${preset}-llama.gguf`), { ftype })).not.toBe(0);
    // A value just inside the range is accepted by both.
    const ok = await modelWithWeight(`fits-${preset}`, preset === 'F16' ? 65000 : 8e6);
    await compare(ok, preset);
  });
});
