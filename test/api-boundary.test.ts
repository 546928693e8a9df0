/** The library as a caller meets it: options checked at the boundary with errors that name the key,
 * the row functions off the JS thread, the preset list telling which presets need an imatrix. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dequantize, dequantizeRows, listPresets, quantize, quantizeRows, type QuantizeOptions } from '../src/api.js';
import { PACKAGE_ROOT } from '../src/native.js';
import { writeSyntheticModel } from '../src/synthetic.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-api-');
const model = join(tmp.dir, 'model-f16.gguf');
beforeAll(async () => {
  // Enough layers for the mixtures that give some layers other types (IQ3_XS's IQ3_XXS layers).
  await writeSyntheticModel(model, { layers: 8, embd: 256, ff: 512, heads: 8, kvHeads: 2, vocab: 300 });
});
afterAll(() => tmp.cleanup());

/** Calls as plain JavaScript would, past the types. */
const untyped = (o: Record<string, unknown>): QuantizeOptions => o as unknown as QuantizeOptions;

describe('quantize() options', () => {
  it('a misspelled key is named, with the option meant', async () => {
    await expect(quantize(untyped({ input: model, output: join(tmp.dir, 'o.gguf'), type: 'Q4_K_M' })))
      .rejects.toMatchObject({ code: 'E_BAD_OPTION', message: 'quantize(): unknown option "type" (did you mean "preset"?)' });
  });
  it('a key one letter off gets the nearest option', async () => {
    await expect(quantize(untyped({ input: model, preset: 'Q8_0', imatirx: 'x.gguf' })))
      .rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringContaining('unknown option "imatirx" (did you mean "imatrix"?)') });
  });
  it('a missing preset is named, with an example', async () => {
    await expect(quantize(untyped({ input: model, output: join(tmp.dir, 'o.gguf') })))
      .rejects.toMatchObject({ code: 'E_BAD_OPTION', message: 'quantize(): the "preset" option is missing', hint: expect.stringContaining("preset: 'Q4_K_M'") });
  });
  it('a value of the wrong kind is named', async () => {
    await expect(quantize(untyped({ input: model, preset: 'Q8_0', force: 'yes' })))
      .rejects.toMatchObject({ code: 'E_BAD_OPTION', message: 'quantize(): "force" must be true or false, got "yes"' });
  });
  it('no options object at all', async () => {
    await expect(quantize(undefined as unknown as QuantizeOptions)).rejects.toMatchObject({ code: 'E_BAD_OPTION' });
  });
  it('dequantize() refuses quantize-only keys', async () => {
    await expect(dequantize(untyped({ input: model, output: join(tmp.dir, 'd.gguf'), preset: 'F16' }) as never))
      .rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringContaining('unknown option "preset"') });
  });
  it('nothing is written when an option is wrong', async () => {
    const out = join(tmp.dir, 'never.gguf');
    await expect(quantize(untyped({ input: model, output: out, preset: 'Q8_0', threads: 0 }))).rejects.toMatchObject({ code: 'E_BAD_OPTION' });
    expect(existsSync(out)).toBe(false);
  });
});

describe('row functions', () => {
  it('quantizeRows of a Uint16Array without srcType names srcType', async () => {
    await expect(quantizeRows('q8_0', new Uint16Array(64), 32)).rejects.toMatchObject({ code: 'E_BAD_OPTION', message: expect.stringContaining('options.srcType') });
  });
  it('quantizeRows of a Uint16Array with srcType works', async () => {
    const ones = new Uint16Array(64).fill(0x3c00); // f16 1.0
    expect((await quantizeRows('q8_0', ones, 32, { srcType: 'f16' })).length).toBe(68);
  });
  it('dequantizeRows runs off the JS thread: it returns a promise of the values', async () => {
    // 127/128: the Q8_0 scale is then 1/128, exact in fp16, so the round trip is exact.
    const q = await quantizeRows('q8_0', new Float32Array(64).fill(127 / 128), 32);
    const pending = dequantizeRows('q8_0', q, 32);
    expect(pending).toBeInstanceOf(Promise);
    expect(Array.from(await pending)).toEqual(new Array(64).fill(127 / 128));
  });
});

describe('listPresets() says which presets need an importance matrix, as the plan decides', () => {
  // Each preset's flag against what a run without an imatrix does (the plan follows llama.cpp's
  // rules, which the oracle tests check): refused exactly when the flag is set.
  for (const p of listPresets().filter((x) => x.supported)) {
    it(`${p.name}: needsImatrix ${p.needsImatrix}`, async () => {
      const run = quantize({ input: model, output: join(tmp.dir, `needs-${p.name}.gguf`), preset: p.name as QuantizeOptions['preset'], force: true });
      if (p.needsImatrix) await expect(run).rejects.toMatchObject({ code: 'E_NEEDS_IMATRIX' });
      else await expect(run).resolves.toMatchObject({ preset: p.name });
    });
  }
});

describe('types', () => {
  it('preset and simd are unions of the known names: a misspelled one does not compile', () => {
    // test/types/option-unions.ts marks its wrong names with @ts-expect-error: if they compiled, tsc fails.
    const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--types', 'node', '--skipLibCheck',
      join(PACKAGE_ROOT, 'test', 'types', 'option-unions.ts')], { stdio: 'pipe' });
  }, 60_000);
});
