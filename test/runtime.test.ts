/** Files we write are models llama.cpp runs: each supported preset's output loads in llama.cpp's
 * runtime (prebuilt libllama) and generates; high-bit presets keep the reference's greedy text. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantize } from '../src/api.js';
import type { PresetName } from '../src/quant/presets.js';
import { writeSyntheticModel } from '../src/synthetic.js';
import { makeImatrixEntries, writeGgufImatrix } from './helpers/fixtures.js';
import { loadLlamaRuntime } from './helpers/llama-runtime.js';
import { ORACLE_PACKAGE } from './helpers/oracle.js';
import { realModel, tempDir } from './helpers/models.js';

const runtime = loadLlamaRuntime();
if (!runtime) console.warn(`\n*** ${ORACLE_PACKAGE} is not installed here: outputs are NOT loaded in llama.cpp ***\n`);

const PRESETS: PresetName[] = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'Q4_K_S', 'Q4_K_M', 'Q5_K_S',
  'Q5_K_M', 'Q6_K', 'IQ4_NL', 'IQ4_XS', 'TQ1_0', 'TQ2_0', 'F16', 'BF16', 'F32', 'IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S',
  'IQ2_M', 'IQ3_XXS', 'IQ3_XS', 'IQ3_S', 'IQ3_M', 'MXFP4_MOE', 'Q1_0', 'Q2_0'];
/** These presets need an importance matrix; a generated one does (the test is that files load and run). */
const NEEDS_IMATRIX = new Set(['IQ1_S', 'IQ1_M', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ2_M', 'IQ3_XXS', 'IQ3_XS']);

const tmp = tempDir('qn-rt-');
afterAll(() => tmp.cleanup());

const tiny256 = realModel('tiny256-f16.gguf');
const synthetic = join(tmp.dir, 'synthetic-f16.gguf');
const imatrixFor: Record<string, string> = {};
beforeAll(async () => {
  await writeSyntheticModel(synthetic, { layers: 2, embd: 256, ff: 512, heads: 8, kvHeads: 2, vocab: 512 });
  for (const [key, model] of [['synthetic', synthetic], ['tiny256', tiny256]] as const) {
    if (!model) continue;
    imatrixFor[key] = join(tmp.dir, `${key}.imatrix.gguf`);
    await writeGgufImatrix(imatrixFor[key]!, await makeImatrixEntries(model, 3), 10, ['generated']);
  }
});
const imatrix = (preset: string, key: string): { imatrix?: string } => (NEEDS_IMATRIX.has(preset) ? { imatrix: imatrixFor[key]! } : {});

describe.runIf(runtime)('outputs load and generate in llama.cpp', () => {
  it.each(PRESETS)('synthetic model, %s', async (preset) => {
    const out = join(tmp.dir, `syn-${preset}.gguf`);
    await quantize({ input: synthetic, output: out, preset, force: true, ...imatrix(preset, 'synthetic') });
    const r = runtime!.generate(out, 'Once upon a time', 4);
    expect(r.firstLogits.every(Number.isFinite)).toBe(true);
  });

  describe.runIf(tiny256)('a real trained model (tiny256)', () => {
    const reference = (): string => runtime!.generate(tiny256!, 'Once upon a time', 12).text;
    it.each(PRESETS)('%s', async (preset) => {
      const out = join(tmp.dir, `tiny256-${preset}.gguf`);
      await quantize({ input: tiny256!, output: out, preset, force: true, ...imatrix(preset, 'tiny256') });
      const r = runtime!.generate(out, 'Once upon a time', 12);
      expect(r.text.length).toBeGreaterThan(0);
      // Nearly lossless presets keep the F16 model's greedy continuation.
      if (['Q8_0', 'Q6_K', 'F16', 'BF16', 'F32'].includes(preset)) expect(r.text).toBe(reference());
    });
  });
});
