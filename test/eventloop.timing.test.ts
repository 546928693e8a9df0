/** The JS thread stays responsive while quantizing. Run alone (its own vitest pass), as timing
 * needs the machine to itself. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantize } from '../src/api.js';
import { writeSyntheticModel } from '../src/synthetic.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-timing-');
const model = join(tmp.dir, 'model-f16.gguf');
beforeAll(async () => {
  // Tens of MB of F16.
  await writeSyntheticModel(model, { layers: 3, embd: 1024, ff: 2816, heads: 16, kvHeads: 4, vocab: 4096, seed: 6 });
  // One run first, so one-time start-up work (JIT, first use of each path) is not what is measured.
  await quantize({ input: model, output: join(tmp.dir, 'warm.gguf'), preset: 'Q4_K_M', threads: 1 });
});
afterAll(() => tmp.cleanup());

async function maxTimerGap(threads: number): Promise<{ gap: number; seconds: number }> {
  let gap = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    gap = Math.max(gap, now - last);
    last = now;
  }, 10);
  const t0 = performance.now();
  await quantize({ input: model, output: join(tmp.dir, `o-${threads}.gguf`), preset: 'Q4_K_M', threads, force: true, onProgress: () => undefined });
  clearInterval(timer);
  return { gap: gap - 10, seconds: (performance.now() - t0) / 1000 };
}

describe('event loop', () => {
  it('one worker thread: a 10 ms timer never waits more than 20 ms extra', async () => {
    const r = await maxTimerGap(1);
    expect(r.seconds).toBeGreaterThan(0.3);
    expect(r.gap).toBeLessThan(20);
  });
  it('all cores busy: the extra wait stays under 50 ms', async () => {
    const r = await maxTimerGap(2);
    expect(r.gap).toBeLessThan(50);
  });
});
