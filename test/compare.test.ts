/** compare: known inputs give known answers. */
import { closeSync, copyFileSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantize } from '../src/api.js';
import { compareModels } from '../src/compare.js';
import { readGguf } from '../src/gguf/reader.js';
import { writeSyntheticModel } from '../src/synthetic.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-compare-');
const model = join(tmp.dir, 'ref-f32.gguf');
beforeAll(async () => {
  await writeSyntheticModel(model, { layers: 2, embd: 256, ff: 512, heads: 8, kvHeads: 2, vocab: 300, dtype: 'f32' });
});
afterAll(() => tmp.cleanup());

describe('compare', () => {
  it('two unrelated models: E_NO_MATCH from the API, exit 1 and the reason from the CLI', async () => {
    const other = join(tmp.dir, 'other.gguf');
    await writeSyntheticModel(other, { layers: 1, embd: 128, ff: 256, heads: 4, kvHeads: 2, vocab: 200, dtype: 'f32' });
    await expect(compareModels(model, other)).rejects.toMatchObject({ code: 'E_NO_MATCH' });
    const r = runCli(['compare', model, other]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no tensor of .* matches one of .* by name and shape/);
  });
  it('identical files have zero error everywhere', async () => {
    const r = await compareModels(model, model);
    expect(r.unmatched).toEqual([]);
    for (const t of r.tensors) expect(t).toMatchObject({ rmse: 0, maxAbsError: 0, cosine: 1, sqnrDb: null });
  });
  it('a file with one tensor perturbed reports that tensor first, with the exact error', async () => {
    const copy = join(tmp.dir, 'perturbed.gguf');
    copyFileSync(model, copy);
    const t = (await readGguf(copy)).tensors.find((x) => x.name === 'blk.1.attn_k.weight')!;
    const delta = Buffer.alloc(4);
    delta.writeFloatLE(5);
    const fd = openSync(copy, 'r+');
    writeSync(fd, delta, 0, 4, t.dataStart + 4 * 100);
    closeSync(fd);
    const r = await compareModels(model, copy);
    expect(r.tensors[0]!.name).toBe('blk.1.attn_k.weight');
    expect(r.tensors[0]!.sqnrDb).not.toBeNull();
    expect(r.tensors.slice(1).every((x) => x.sqnrDb === null)).toBe(true);
    const original = (await readGguf(model)).tensors.find((x) => x.name === 'blk.1.attn_k.weight')!;
    expect(original.nbytes).toBe(t.nbytes);
    expect(r.tensors[0]!.maxAbsError).toBeGreaterThan(4);
  });
  it('quantized files: lower-bit presets have lower SQNR; --json has the documented keys', async () => {
    const sqnr: Record<string, number> = {};
    for (const preset of ['Q8_0', 'Q4_K_M', 'Q2_K'] as const) {
      const out = join(tmp.dir, `${preset}.gguf`);
      await quantize({ input: model, output: out, preset, force: true });
      const r = await compareModels(model, out);
      const t = r.tensors.find((x) => x.name === 'blk.0.ffn_up.weight')!;
      expect(t.cosine).toBeLessThan(1);
      sqnr[preset] = t.sqnrDb!;
    }
    expect(sqnr.Q8_0!).toBeGreaterThan(sqnr.Q4_K_M!);
    expect(sqnr.Q4_K_M!).toBeGreaterThan(sqnr.Q2_K!);
    const cli = runCli(['compare', '--json', model, join(tmp.dir, 'Q4_K_M.gguf')]);
    expect(cli.code).toBe(0);
    const rows = JSON.parse(cli.stdout) as Array<Record<string, unknown>>;
    expect(Object.keys(rows[0]!).sort()).toEqual(['cosine', 'maxAbsError', 'name', 'rmse', 'sqnrDb', 'type']);
    const sorted = rows.map((x) => (x.sqnrDb as number | null) ?? Infinity);
    expect(sorted).toEqual([...sorted].sort((a, b) => a - b));
  });
});
