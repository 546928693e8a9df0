/** --target-size / --target-bpw: the budget's parsing, the knapsack's properties, the native error
 * measurement against dequantize(quantize(x)), and whole runs on generated models: the file is never
 * larger than the target, its size is the one predicted, and the bytes do not depend on the threads. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantizeRows, quantize, quantizeRows } from '../src/api.js';
import { QuantNativeError } from '../src/errors.js';
import { GgmlType } from '../src/ggml-types.js';
import { loadNative, resolveSimd } from '../src/native.js';
import { errorWeights, measureTensor, sampleStripes } from '../src/quant/measure.js';
import { chooseOptions, parseSize, type KnapsackItem } from '../src/quant/target.js';
import { writeSyntheticModel } from '../src/synthetic.js';
import type { GgufTensorInfo } from '../src/gguf/format.js';
import { openModel } from '../src/gguf/model.js';
import { TensorDataReader } from '../src/gguf/reader.js';
import { runCli } from './helpers/cli.js';
import { DATASETS, Rng, rows } from './helpers/data.js';
import { makeImatrixEntries, writeGgufImatrix } from './helpers/fixtures.js';
import { loadLlamaRuntime } from './helpers/llama-runtime.js';
import { tempDir } from './helpers/models.js';

describe('parseSize', () => {
  it.each([
    ['123456', 123456], ['4.2GB', 4.2e9], ['4.2 gb', 4.2e9], ['3.5GiB', 3.5 * 2 ** 30], ['3.5G', 3.5 * 2 ** 30], ['700MB', 7e8],
    ['512MiB', 512 * 2 ** 20], ['512M', 512 * 2 ** 20], ['10KB', 10_000], ['2K', 2048], ['.5TB', 5e11], ['100b', 100],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseSize(text)).toBe(Math.floor(bytes));
  });
  it.each(['', 'GB', '4.2XB', '-1GB', '0', '1e9', '4,2GB'])('"%s" is refused with the units it takes', (text) => {
    expect(() => parseSize(text)).toThrow(/not (a|a positive) size/);
  });
});

/** The best pick of every combination: the optimum the heuristic is compared with. */
function bruteForce(items: readonly KnapsackItem[], budget: number): number {
  let best = Infinity;
  const walk = (i: number, bytes: number, error: number): void => {
    if (bytes > budget) return;
    if (i === items.length) { best = Math.min(best, error); return; }
    for (const o of items[i]!.options) walk(i + 1, bytes + o.bytes, error + o.error);
  };
  walk(0, 0, 0);
  return best;
}

/** Options shaped like quant types: more bytes, less error, roughly convex. */
function randomItems(rng: Rng, n: number): KnapsackItem[] {
  return Array.from({ length: n }, () => {
    const size = 1 + Math.floor(rng.next() * 10);
    const scale = 0.1 + rng.next() * 10;
    return { options: [2, 3, 4, 5, 6, 8].map((bits) => ({ bytes: size * bits, error: scale * 2 ** (-bits) * (0.8 + 0.4 * rng.next()) })) };
  });
}

describe('chooseOptions (the multiple-choice knapsack)', () => {
  it.each([1, 2, 3, 4, 5, 6])('random instance %d: within the budget and within 5 % of the brute-force optimum', (seed) => {
    const rng = new Rng(seed);
    const items = randomItems(rng, 7);
    const min = items.reduce((s, it) => s + it.options[0]!.bytes, 0);
    const max = items.reduce((s, it) => s + it.options.at(-1)!.bytes, 0);
    const budget = Math.floor(min + (max - min) * (0.15 + 0.7 * rng.next()));
    const pick = chooseOptions(items, budget)!;
    const bytes = pick.reduce((s, k, i) => s + items[i]!.options[k]!.bytes, 0);
    const error = pick.reduce((s, k, i) => s + items[i]!.options[k]!.error, 0);
    expect(bytes).toBeLessThanOrEqual(budget);
    expect(error).toBeLessThanOrEqual(bruteForce(items, budget) * 1.05);
  });

  it('is undefined below the smallest choice, and all-largest at or above the largest', () => {
    const items = randomItems(new Rng(9), 5);
    const min = items.reduce((s, it) => s + it.options[0]!.bytes, 0);
    const max = items.reduce((s, it) => s + it.options.at(-1)!.bytes, 0);
    expect(chooseOptions(items, min - 1)).toBeUndefined();
    expect(chooseOptions(items, min)).toEqual(items.map(() => 0));
    expect(chooseOptions(items, max)).toEqual(items.map((it) => it.options.length - 1));
  });

  it('never trades bytes for more error: a dominated option is never chosen', () => {
    const items: KnapsackItem[] = [{ options: [{ bytes: 10, error: 5 }, { bytes: 20, error: 6 }, { bytes: 30, error: 1 }] }, { options: [{ bytes: 10, error: 1 }] }];
    expect(chooseOptions(items, 35)).toEqual([0, 0]);
    expect(chooseOptions(items, 40)).toEqual([2, 0]);
  });
});

describe('sampleStripes and errorWeights', () => {
  it('measures every row of a small tensor', () => {
    expect(sampleStripes(256, 256, 256, 512)).toEqual({ stripes: [{ first: 0, rows: 256 }], lattice: 1 });
  });
  it('samples a large tensor in disjoint stripes that never cross a matrix (expert) boundary', () => {
    const { stripes, lattice } = sampleStripes(8 * 14336, 4096, 14336, 8192);
    const sampled = stripes.reduce((s, x) => s + x.rows, 0);
    expect(sampled).toBeGreaterThanOrEqual(Math.ceil((1 << 19) / 4096));
    expect(sampled).toBeLessThan(8 * 14336);
    const sorted = [...stripes].sort((a, b) => a.first - b.first);
    for (let i = 0; i < sorted.length; i++) {
      const s = sorted[i]!;
      expect(Math.floor(s.first / 14336)).toBe(Math.floor((s.first + s.rows - 1) / 14336));
      if (i > 0) expect(s.first).toBeGreaterThanOrEqual(sorted[i - 1]!.first + sorted[i - 1]!.rows);
    }
    // The lattice types' prefix still spans the tensor: from the first eighth to the last quarter.
    const prefix = stripes.slice(0, lattice);
    expect(Math.min(...prefix.map((x) => x.first))).toBeLessThan(8 * 14336 / 8);
    expect(Math.max(...prefix.map((x) => x.first))).toBeGreaterThan(8 * 14336 * 0.7);
  });
  it('samples at most 32 MiB of a huge tensor (a 152k x 8192 F32 embedding)', () => {
    const { stripes } = sampleStripes(152_064, 8192, 152_064, 8192 * 4);
    expect(stripes.reduce((s, x) => s + x.rows, 0) * 8192 * 4).toBeLessThanOrEqual(32 << 20);
  });
  it('scales each matrix of the imatrix to mean 1 (zeros stay usable)', () => {
    const w = errorWeights(Float32Array.of(1, 3, 0, 0, 2, 6), 2)!;
    expect([...w]).toEqual([0.5, 1.5, 1, 1, 0.5, 1.5]);
  });
});

describe('a sampled measurement predicts the whole tensor\'s error', () => {
  const nPerRow = 256, nrows = 8192;
  // Rows whose scale drifts along the tensor (as layers of real checkpoints do), so that where the
  // sample falls matters.
  const rng = new Rng(11);
  const x = new Float32Array(nrows * nPerRow);
  for (let r = 0; r < nrows; r++) {
    const scale = 0.02 * (1 + 0.8 * Math.sin(r / 700)) * (r % 97 === 0 ? 4 : 1);
    for (let j = 0; j < nPerRow; j++) x[r * nPerRow + j] = scale * rng.normal();
  }
  const info = { name: 'blk.0.ffn_up.weight', dims: [nPerRow, nrows], type: GgmlType.F32, offset: 0, nbytes: x.byteLength, fileIndex: 0, dataStart: 0 };
  const plan = { name: info.name, source: info, dims: info.dims, sourceType: GgmlType.F32, targetType: GgmlType.F32, action: 'copy', reason: 'preset default', fallbackFrom: undefined,
    category: 'FFN_UP', bytesIn: x.byteLength, bytesOut: x.byteLength, elements: x.length, imatrix: undefined, requiresImatrix: false, outputFile: 0 } as const;
  const bytes = new Uint8Array(x.buffer);
  const source = { read: async (_t: unknown, start: number, length: number, into: Uint8Array) => { into.set(bytes.subarray(start, start + length)); }, close: async () => undefined };

  it.each([['q4_K', GgmlType.Q4_K], ['iq3_s (a quarter of each stripe)', GgmlType.IQ3_S]])('%s: within five percent of the error over every row', async (_name, type) => {
    const native = loadNative();
    const [predicted] = await measureTensor(plan, [{ type, uniform: false }], { native, simd: resolveSimd(native), threads: 2, source, cancel: new Int32Array(1) });
    const q = await quantizeRows(type, x, nPerRow, { threads: 2 });
    const y = await dequantizeRows(type, q, nPerRow);
    let full = 0;
    for (let i = 0; i < x.length; i++) full += (x[i]! - y[i]!) ** 2;
    expect(Math.abs(predicted! / full - 1)).toBeLessThan(0.05);
  });
});

describe('the native round-trip error', () => {
  const native = loadNative();
  const simd = resolveSimd(native);
  it.each([['q4_K', GgmlType.Q4_K], ['q2_K', GgmlType.Q2_K], ['q8_0', GgmlType.Q8_0], ['iq4_xs', GgmlType.IQ4_XS]])('%s: each row equals the weighted squared error of dequantize(quantize(x))', async (name, type) => {
    const rng = new Rng(7);
    const n = 512, nrows = 6;
    const x = rows(DATASETS.normal!, rng, nrows, n);
    const w = Float32Array.from({ length: n }, () => 0.1 + rng.next());
    const q = await quantizeRows(name, x, n);
    const y = await dequantizeRows(name, q, n);
    const rowErrors = new Float64Array(nrows);
    await native.quantizeAsync({ srcType: GgmlType.F32, dstType: type, nrows, nPerRow: n, src: x, dst: Buffer.alloc(q.length), simd, threads: 2, rowErrors, errorWeights: w });
    for (let r = 0; r < nrows; r++) {
      let e = 0;
      for (let j = 0; j < n; j++) e += w[j]! * (x[r * n + j]! - y[r * n + j]!) ** 2;
      expect(rowErrors[r]).toBeCloseTo(e, 10);
    }
  });
  it('refuses an error array shorter than the rows', () => {
    expect(() => native.quantizeSync({ srcType: 0, dstType: GgmlType.Q8_0, nrows: 4, nPerRow: 32, src: new Float32Array(128), dst: Buffer.alloc(4 * 34), simd: 0, rowErrors: new Float64Array(3) }))
      .toThrow(/rowErrors/);
  });
});

describe('quantize with a target', () => {
  const tmp = tempDir('qn-target-');
  const model = join(tmp.dir, 'syn-f16.gguf');
  const imatrixPath = join(tmp.dir, 'syn.imatrix.gguf');
  let q4Size = 0;
  beforeAll(async () => {
    await writeSyntheticModel(model, { layers: 2, embd: 256, ff: 768, heads: 8, kvHeads: 4, vocab: 512 });
    await writeGgufImatrix(imatrixPath, await makeImatrixEntries(model, 5), 10, ['generated']);
    await quantize({ input: model, output: join(tmp.dir, 'q4km.gguf'), preset: 'Q4_K_M' });
    q4Size = statSync(join(tmp.dir, 'q4km.gguf')).size;
  });
  afterAll(() => tmp.cleanup());

  it('a file no larger than the target, of exactly the size the plan predicts', async () => {
    const out = join(tmp.dir, 'size.gguf');
    const s = await quantize({ input: model, output: out, target: { bytes: q4Size } });
    expect(statSync(out).size).toBeLessThanOrEqual(q4Size);
    expect(statSync(out).size).toBe(s.target!.usedBytes);
    expect(s.target!.belowBytes).toBe(q4Size - s.target!.usedBytes);
    expect(s.target!.leftOutWithoutImatrix).toContain('iq2_xxs');
    expect(s.tensors.filter((t) => t.reason.startsWith('target size')).length).toBe(s.target!.chosenTensors);
  });

  it('the same bytes with 1 and 3 threads (the measurement sums rows in a fixed order)', async () => {
    const a = join(tmp.dir, 't1.gguf'), b = join(tmp.dir, 't3.gguf');
    await quantize({ input: model, output: a, target: { bitsPerWeight: 3.9 }, imatrix: imatrixPath, threads: 1 });
    await quantize({ input: model, output: b, target: { bitsPerWeight: 3.9 }, imatrix: imatrixPath, threads: 3 });
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
  });

  it('a tensor chosen with uniform importance holds the bytes of its type quantized with importance 1 everywhere', async () => {
    const out = join(tmp.dir, 'uniform.gguf');
    const s = await quantize({ input: model, output: out, target: { bitsPerWeight: 3.3 } });
    const t = s.tensors.find((x) => x.reason === 'target size, uniform importance');
    expect(t, 'some tensor takes the uniform-importance search at 3.3 bpw').toBeDefined();
    const [src, dst] = [await openModel(model), await openModel(out)];
    const read = async (path: string, info: GgufTensorInfo): Promise<Buffer> => {
      const r = await TensorDataReader.open([path]);
      const b = Buffer.alloc(info.nbytes);
      await r.read(info, 0, info.nbytes, b);
      await r.close();
      return b;
    };
    const inInfo = src.tensors.find((x) => x.name === t!.name)!, outInfo = dst.tensors.find((x) => x.name === t!.name)!;
    const f16 = await read(model, inInfo);
    const expected = await quantizeRows(t!.type, new Uint16Array(f16.buffer, f16.byteOffset, f16.length / 2), t!.shape[0]!, { srcType: 'f16', imatrix: new Float32Array(t!.shape[0]!).fill(1) });
    expect((await read(out, outInfo)).equals(expected)).toBe(true);
  });

  it('bits per weight: the tensor data stays within the budget', async () => {
    const s = await quantize({ input: model, output: join(tmp.dir, 'bpw.gguf'), target: { bitsPerWeight: 4.2 } });
    expect(s.bitsPerWeightOut).toBeLessThanOrEqual(4.2);
    expect(s.bitsPerWeightOut).toBeGreaterThan(4.0);
  });

  it('a preset limits the candidates to its family', async () => {
    const s = await quantize({ input: model, preset: 'Q4_K_M', target: { bytes: q4Size }, dryRun: true });
    const chosen = new Set(s.tensors.filter((t) => t.reason.startsWith('target size')).map((t) => t.type));
    for (const t of chosen) expect(['q2_K', 'q3_K', 'q4_K', 'q5_K', 'q6_K', 'q8_0']).toContain(t);
    expect(s.preset).toBe('Q4_K_M');
    expect(s.fileType).toBe(15);
  });

  it('dry run: every chosen tensor has its predicted error, and they add up to the total', async () => {
    const s = await quantize({ input: model, target: { bytes: q4Size }, dryRun: true, imatrix: imatrixPath });
    const chosen = s.tensors.filter((t) => t.reason.startsWith('target size'));
    expect(chosen.every((t) => t.predictedError! >= 0)).toBe(true);
    expect(chosen.reduce((x, t) => x + t.predictedError!, 0)).toBeCloseTo(s.target!.predictedError, 8);
    expect(s.target!.leftOutWithoutImatrix).toEqual([]);
    expect(s.outputs).toEqual([]);
  });

  it('an abort while measuring rejects with AbortError and writes nothing', async () => {
    const out = join(tmp.dir, 'aborted.gguf');
    const controller = new AbortController();
    const phases: string[] = [];
    const run = quantize({
      input: model, output: out, target: { bytes: q4Size }, imatrix: imatrixPath, signal: controller.signal,
      onProgress: (p) => { phases.push(p.phase ?? 'writing'); if (p.phase === 'measuring') controller.abort(); },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(phases[0]).toBe('measuring');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(tmp.dir).filter((f) => f.includes('aborted'))).toEqual([]);
  });

  it('a target below the smallest file names the achievable range', async () => {
    const e = await quantize({ input: model, output: join(tmp.dir, 'small.gguf'), target: { bytes: 50_000 } }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(QuantNativeError);
    expect((e as QuantNativeError).code).toBe('E_TARGET_RANGE');
    expect((e as QuantNativeError).hint).toMatch(/between .* and /);
  });

  it('a target above the F16 model says so', async () => {
    const e = await quantize({ input: model, output: join(tmp.dir, 'big.gguf'), target: { bitsPerWeight: 20 } }).catch((x: unknown) => x);
    expect((e as QuantNativeError).code).toBe('E_TARGET_RANGE');
    expect((e as QuantNativeError).message).toMatch(/larger than the model in F16/);
  });

  it.each([[{ bytes: -5 }], [{ bytes: 1.5 }], [{ bitsPerWeight: 0 }], [{ bytes: 10, bitsPerWeight: 3 }], [{ size: 10 }]])('target %j is a bad option', async (target) => {
    await expect(quantize({ input: model, target: target as never })).rejects.toMatchObject({ code: 'E_BAD_OPTION' });
  });

  it('a preset is still required without a target', async () => {
    await expect(quantize({ input: model } as never)).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringMatching(/"preset" option is missing/) });
  });

  it('CLI: --target-size without a type, --json carries the target and per-tensor predicted errors', () => {
    const r = runCli(['quantize', model, join(tmp.dir, 'cli.gguf'), '--target-size', String(q4Size), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { target: { usedBytes: number; kind: string }; tensors: { predictedError?: number }[] };
    expect(s.target.kind).toBe('bytes');
    expect(statSync(join(tmp.dir, 'cli.gguf')).size).toBe(s.target.usedBytes);
    expect(s.tensors.some((t) => t.predictedError !== undefined)).toBe(true);
  });

  it('CLI: --dry-run prints the predicted errors and the total against the budget', () => {
    const r = runCli(['quantize', '--dry-run', '--target-bpw', '4.5', model, join(tmp.dir, 'dry.gguf')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/predicted error/);
    expect(r.stdout).toMatch(/target: 4\.5 bits per weight .* below/);
    expect(r.stdout).toMatch(/left out without an importance matrix: .*iq2_xxs/);
  });

  it('CLI: both budgets at once, or a size that is no size, is a usage error', () => {
    expect(runCli(['quantize', model, 'o.gguf', '--target-size', '2MB', '--target-bpw', '4']).code).toBe(2);
    const r = runCli(['quantize', model, 'o.gguf', '--target-size', 'big']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/4\.2GB/);
  });

  const runtime = loadLlamaRuntime();
  it.runIf(runtime)('the output loads and generates in llama.cpp', async () => {
    const out = join(tmp.dir, 'rt.gguf');
    await quantize({ input: model, output: out, target: { bitsPerWeight: 3.5 }, imatrix: imatrixPath });
    const g = runtime!.generate(out, 'hello', 4);
    expect(g.firstLogits.every(Number.isFinite)).toBe(true);
  });
});
