/** quantize() of a Hugging Face folder in one pass: the bytes llama.cpp's llama_model_quantize writes
 * from the converted file, which itself is first checked against convert_hf_to_gguf.py's output. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quantize } from '../src/api.js';
import { convert } from '../src/convert.js';
import { findPreset, type PresetName } from '../src/quant/presets.js';
import { ggufImatrixValues, makeImatrixEntries, writeGgufImatrix } from './helpers/fixtures.js';
import { HF_DIR, hfFixture, manifest, sha256 } from './helpers/hf.js';
import { loadLlamaOracle } from './helpers/llama-oracle.js';
import { tempDir } from './helpers/models.js';

const oracle = loadLlamaOracle();
const tmp = tempDir('qn-hfq-');
afterAll(() => tmp.cleanup());

/** The converted file of a fixture (once), after checking it is the converter's. */
const converted = new Map<string, { folder: string; gguf: string }>();
async function fixture(name: string): Promise<{ folder: string; gguf: string }> {
  const known = converted.get(name);
  if (known) return known;
  const folder = hfFixture(name, tmp.dir);
  const gguf = join(tmp.dir, `${name}-converted.gguf`);
  await convert({ input: folder, output: gguf, force: true });
  expect(sha256(readFileSync(gguf)), 'the conversion itself').toBe(manifest(name, 'auto').sha256);
  converted.set(name, { folder, gguf });
  return { folder, gguf };
}

let serial = 0;

describe.runIf(HF_DIR && oracle)('quantize(folder) equals convert + llama_model_quantize', () => {
  // Llama, Mistral and Mixtral with three presets each; Phi-3 (fused projections), Gemma 3 (shifted norms,
  // cut embedding), Llama 3 (rope_freqs) and Qwen3-MoE (stacked experts) with one.
  const cases: Array<[string, PresetName]> = [];
  for (const name of ['llama-spm', 'mistral', 'mixtral']) for (const preset of ['Q8_0', 'Q4_K_M', 'IQ4_XS'] as const) cases.push([name, preset]);
  cases.push(['phi3', 'Q4_K_M'], ['gemma3', 'Q4_K_M'], ['llama3', 'Q4_K_M'], ['qwen3moe', 'Q4_K_M']);
  for (const [name, preset] of cases) {
    it(`${name}: ${preset}`, async () => {
      const { folder, gguf } = await fixture(name);
      const id = ++serial;
      const theirs = join(tmp.dir, `llama-${id}.gguf`), mine = join(tmp.dir, `ours-${id}.gguf`);
      expect(oracle!.quantize(gguf, theirs, { ftype: findPreset(preset)!.ftype }), 'llama_model_quantize status').toBe(0);
      await quantize({ input: folder, output: mine, preset, threads: 2 });
      expect(readFileSync(mine).equals(readFileSync(theirs))).toBe(true);
    });
  }
  it('qwen3moe: a target size reads the folder as its converted file (same choice, same bytes)', async () => {
    const { folder, gguf } = await fixture('qwen3moe');
    const fromFolder = join(tmp.dir, 'target-folder.gguf'), fromGguf = join(tmp.dir, 'target-gguf.gguf');
    const a = await quantize({ input: folder, output: fromFolder, target: { bitsPerWeight: 5.5 }, threads: 2 });
    await quantize({ input: gguf, output: fromGguf, target: { bitsPerWeight: 5.5 }, threads: 2 });
    expect(a.target!.chosenTensors).toBeGreaterThan(0);
    expect(readFileSync(fromFolder).equals(readFileSync(fromGguf))).toBe(true);
  });
  for (const name of ['llama-spm', 'mistral', 'mixtral']) {
    it(`${name}: IQ2_XS with an importance matrix`, async () => {
      const { folder, gguf } = await fixture(name);
      const entries = await makeImatrixEntries(gguf, 3);
      const im = join(tmp.dir, `${name}.imatrix.gguf`);
      await writeGgufImatrix(im, entries, 5, ['calibration.txt']);
      const values = ggufImatrixValues(entries);
      const theirs = join(tmp.dir, `llama-iq2-${name}.gguf`), mine = join(tmp.dir, `ours-iq2-${name}.gguf`);
      const rc = oracle!.quantize(gguf, theirs, {
        ftype: findPreset('IQ2_XS')!.ftype, imatrix: values,
        kvOverrides: [
          { key: 'quantize.imatrix.file', type: 'str', value: im },
          { key: 'quantize.imatrix.dataset', type: 'str', value: 'calibration.txt' },
          { key: 'quantize.imatrix.entries_count', type: 'int', value: values.size },
          { key: 'quantize.imatrix.chunks_count', type: 'int', value: 5 },
        ],
      });
      expect(rc, 'llama_model_quantize status').toBe(0);
      const s = await quantize({ input: folder, output: mine, preset: 'IQ2_XS', imatrix: im, threads: 2 });
      expect(s.imatrix?.appliedTensors).toBeGreaterThan(0);
      expect(readFileSync(mine).equals(readFileSync(theirs))).toBe(true);
    });
  }
  it('without an output path, the file goes into the folder with llama-quantize\'s name', async () => {
    const folder = hfFixture('llama-spm', join(tmp.dir, 'default-out'));
    const s = await quantize({ input: folder, preset: 'Q8_0' });
    expect(s.outputs).toEqual([join(folder, 'ggml-model-Q8_0.gguf')]);
  });
});
