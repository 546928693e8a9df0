/** The engine's chunk pipeline: reads run ahead of the quantization across tensor boundaries, and the bytes do not
 * depend on the chunk size, on who reads the input or on how the output goes to the disk. */
import { copyFileSync, readdirSync, readFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantize } from '../src/api.js';
import { executePlan, type TensorSource } from '../src/engine/pipeline.js';
import type { GgufTensorInfo } from '../src/gguf/format.js';
import { openModel } from '../src/gguf/model.js';
import { TensorDataReader } from '../src/gguf/reader.js';
import { loadNative, resolveSimd } from '../src/native.js';
import { buildPlan } from '../src/quant/plan.js';
import { writeSyntheticModel } from '../src/synthetic.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-pipeline-');
const input = join(tmp.dir, 'model-f16.gguf');
beforeAll(async () => {
  await writeSyntheticModel(input, { layers: 2, embd: 256, ff: 512, heads: 4, kvHeads: 2, vocab: 512, seed: 9 });
});
afterAll(() => tmp.cleanup());

describe('engine pipeline', () => {
  it('reads the next tensor\'s first chunk before the current tensor\'s last chunk is done', async () => {
    const model = await openModel(input);
    const plan = buildPlan(model, { preset: 'Q4_K_M' });
    const events: string[] = [];
    const reader = await TensorDataReader.open(model.files.map((f) => f.path));
    const source: TensorSource = {
      read: (t: GgufTensorInfo, start: number, length: number, into: Uint8Array) => {
        events.push(`read ${t.name} ${start}`);
        return reader.read(t, start, length, into);
      },
      close: () => reader.close(),
    };
    const native = loadNative();
    let bytesDone = 0;
    await executePlan(model, plan, [join(tmp.dir, 'out.gguf')], {
      native, simd: resolveSimd(native), threads: 1, chunkBytes: 64 << 10, source,
      onProgress: (p) => {
        if (p.bytesDone > bytesDone) events.push(`done ${p.tensorName} ${p.bytesDone}`);
        bytesDone = p.bytesDone;
      },
    });
    // Every tensor after the first is first read while the one before it is still being processed.
    const tensors = plan.files[0]!.tensors;
    let cumulative = 0;
    for (let i = 0; i + 1 < tensors.length; i++) {
      cumulative += tensors[i]!.bytesIn;
      const nextRead = events.indexOf(`read ${tensors[i + 1]!.source.name} 0`);
      const finished = events.indexOf(`done ${tensors[i]!.name} ${cumulative}`);
      expect(nextRead, `${tensors[i + 1]!.name}`).toBeGreaterThanOrEqual(0);
      expect(finished, `${tensors[i]!.name}`).toBeGreaterThanOrEqual(0);
      expect(nextRead, `${tensors[i + 1]!.name} read after ${tensors[i]!.name} was done`).toBeLessThan(finished);
    }
  });

  it('writes the same bytes whether the native workers read the file or the JS side reads it for them', async () => {
    const model = await openModel(input);
    const plan = buildPlan(model, { preset: 'Q4_K_M' });
    const native = loadNative();
    const outputs = [join(tmp.dir, 'workers-read.gguf'), join(tmp.dir, 'js-read.gguf')];
    await executePlan(model, plan, [outputs[0]!], { native, simd: resolveSimd(native), threads: 2, chunkBytes: 40000 });
    const reader = await TensorDataReader.open(model.files.map((f) => f.path));
    let reads = 0;
    const source: TensorSource = {
      read: (t, start, length, into) => { reads++; return reader.read(t, start, length, into); },
      close: () => reader.close(),
    };
    await executePlan(model, plan, [outputs[1]!], { native, simd: resolveSimd(native), threads: 2, chunkBytes: 40000, source });
    expect(reads).toBeGreaterThan(plan.tensors.length);
    expect(readFileSync(outputs[1]!).equals(readFileSync(outputs[0]!))).toBe(true);
  });

  it('an input cut short while it is quantized is reported as truncated and leaves no output', async () => {
    const copy = join(tmp.dir, 'shrinking.gguf'), output = join(tmp.dir, 'from-shrinking.gguf');
    copyFileSync(input, copy);
    const half = Math.floor(statSync(copy).size / 2);
    let cut = false;
    const run = quantize({
      input: copy, output, preset: 'Q4_K_M', chunkBytes: 3000, threads: 2,
      onProgress: () => {
        if (!cut) truncateSync(copy, half);
        cut = true;
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'E_GGUF_TRUNCATED', message: expect.stringContaining('shrinking.gguf ended while reading tensor') });
    expect(cut).toBe(true);
    expect(readdirSync(tmp.dir).filter((f) => f.startsWith('from-shrinking'))).toEqual([]);
  });

  it('writes the same bytes whatever the chunk size', async () => {
    const a = join(tmp.dir, 'a.gguf'), b = join(tmp.dir, 'b.gguf');
    await quantize({ input, output: a, preset: 'Q4_K_M', chunkBytes: 32 << 20 });
    await quantize({ input, output: b, preset: 'Q4_K_M', chunkBytes: 3000 });
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
  });

  it('writes the same bytes through the page cache (QUANT_NATIVE_DIRECT_IO=0) as around it', async () => {
    const a = join(tmp.dir, 'direct.gguf'), b = join(tmp.dir, 'buffered.gguf');
    await quantize({ input, output: a, preset: 'Q4_K_M', chunkBytes: 5000, threads: 2 });
    process.env.QUANT_NATIVE_DIRECT_IO = '0';
    try {
      await quantize({ input, output: b, preset: 'Q4_K_M', chunkBytes: 5000, threads: 2 });
    } finally {
      delete process.env.QUANT_NATIVE_DIRECT_IO;
    }
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
  });
});
