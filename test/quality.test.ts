/** Quality as users choose by it: each preset's output of a real trained model (tiny256) runs in
 * llama.cpp's runtime on held-out text; KL divergence of the next-token distribution against the F32
 * model, top-1 agreement and perplexity. Measurements, so the assertions are sane bounds: Q8_0 nearly
 * lossless, and more bits never clearly worse. `npm run quality` prints the table, with the rows that failed. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantize } from '../src/api.js';
import type { PresetName } from '../src/quant/presets.js';
import { logSoftmax, scorePositions, statsOf } from './helpers/held-out.js';
import { loadLlamaRuntime } from './helpers/llama-runtime.js';
import { realModel, tempDir } from './helpers/models.js';

const runtime = loadLlamaRuntime();
const f32 = realModel('tiny256-f32.gguf');
const textFile = realModel('tiny256-valid.txt');
const PRESETS: PresetName[] = ['Q2_K', 'Q3_K_S', 'Q3_K_M', 'Q3_K_L', 'IQ4_XS', 'IQ4_NL', 'Q4_0', 'Q4_1', 'Q4_K_S', 'Q4_K_M', 'Q5_0', 'Q5_1',
  'Q5_K_S', 'Q5_K_M', 'Q6_K', 'Q8_0', 'TQ2_0', 'F16', 'IQ3_S', 'IQ3_M', 'Q2_0'];
const TOKENS = 256;

const tmp = tempDir('qn-quality-');
afterAll(() => tmp.cleanup());

interface Row { preset: string; bytes: number; bpw: number; kl: number; top1: number; ppl: number }

/** A row's measurement: undefined until its test ran, an error message when it failed. */
const rows = new Map<string, Row | string>();

function printTable(): void {
  if (rows.size === 0) return;
  const done = [...rows.values()].filter((r): r is Row => typeof r !== 'string').sort((a, b) => a.bpw - b.bpw);
  const lines = [
    `\nquality on tiny256 (llama.cpp runtime from @node-llama-cpp/linux-x64 3.21.1), ${TOKENS} tokens of tiny256-valid.txt, reference F32; ${new Date().toISOString().slice(0, 10)}\n`,
    '| preset | bytes | bpw | mean KL | same top-1 | perplexity |', '|---|---:|---:|---:|---:|---:|',
    ...done.map((r) => `| ${r.preset} | ${r.bytes} | ${r.bpw.toFixed(2)} | ${r.kl.toFixed(6)} | ${r.top1.toFixed(1)} % | ${r.ppl.toFixed(4)} |`),
    ...PRESETS.filter((p) => typeof rows.get(p) === 'string').map((p) => `| ${p} | failed: ${String(rows.get(p))} | | | | |`),
  ];
  console.log(lines.join('\n'));
}

describe.runIf(runtime && f32 && textFile)('quality of every preset on tiny256 (llama.cpp runtime)', () => {
  let text = '';
  let refLp: Float64Array[] = [];
  beforeAll(() => {
    text = readFileSync(textFile!, 'utf8').slice(0, 4000);
    refLp = runtime!.evaluate(f32!, text, TOKENS).logits.map(logSoftmax);
  });
  // Printed even when some presets failed, so `npm run quality` always shows what it measured.
  afterAll(printTable);

  // One test per preset, each far inside its limit on a slow or busy machine (1-5 s here).
  for (const preset of PRESETS) {
    it(`${preset}: sane KL divergence, top-1 agreement and perplexity`, async () => {
      try {
        const out = join(tmp.dir, `${preset}.gguf`);
        const s = await quantize({ input: f32!, output: out, preset, force: true });
        const q = runtime!.evaluate(out, text, TOKENS);
        const sums = { kl: 0, agree: 0, nll: 0, n: 0 };
        scorePositions(sums, refLp, q.logits, q.tokens);
        const { kl, top1, perplexity } = statsOf(sums);
        const row = { preset, bytes: s.bytesOut, bpw: s.bitsPerWeightOut, kl, top1, ppl: perplexity };
        rows.set(preset, row);
        expect(Number.isFinite(row.ppl)).toBe(true);
        expect(row.kl).toBeGreaterThanOrEqual(0);
      } catch (e) {
        rows.set(preset, e instanceof Error ? e.message.split('\n')[0]! : String(e));
        throw e;
      }
    }, 60_000);
  }

  it('Q8_0 is nearly lossless and F16 no worse', () => {
    const q8 = rows.get('Q8_0'), f16 = rows.get('F16');
    if (typeof q8 !== 'object' || typeof f16 !== 'object') throw new Error('the Q8_0 or F16 row failed');
    expect(q8.kl).toBeLessThan(0.001);
    expect(q8.top1).toBeGreaterThan(97);
    expect(f16.kl).toBeLessThan(q8.kl + 1e-4);
  });

  it('more bits are never clearly worse: a preset with at least one bit per weight more has lower KL', () => {
    const done = [...rows.values()].filter((r): r is Row => typeof r !== 'string');
    expect(done.length).toBeGreaterThan(1);
    for (const a of done) for (const b of done) if (b.bpw - a.bpw >= 1) expect(b.kl, `${b.preset} vs ${a.preset}`).toBeLessThan(a.kl);
  });
});
