/** dequantize(quantize(x)) stays within the error bounds of llama.cpp's tests/test-quantize-fns.cpp,
 * on its data (0.1 + 2 cos(i + offset), 4096 values) and with its RMSE (sqrt(sum d^2) / n). */
import { describe, expect, it } from 'vitest';
import { dequantizeRows, quantizeRows } from '../src/api.js';
import { loadNative } from '../src/native.js';

const BOUNDS: Record<string, number> = {
  f16: 0.002, bf16: 0.002, q4_0: 0.002, q4_1: 0.002, q5_0: 0.002, q5_1: 0.002, q8_0: 0.002,
  q2_K: 0.0075, q3_K: 0.004, q4_K: 0.002, q5_K: 0.002, q6_K: 0.002, iq4_nl: 0.002, iq4_xs: 0.002,
  tq1_0: 0.01, tq2_0: 0.01,
};

function testData(offset: number, n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => 0.1 + 2 * Math.fround(Math.cos(Math.fround(i + offset))));
}

function rmse(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(sum) / a.length;
}

describe('quantization error within test-quantize-fns bounds', () => {
  for (const simd of loadNative().info.simdAvailable) {
    it.each(Object.entries(BOUNDS))(`%s on the ${simd} path`, async (type, bound) => {
      for (const offset of [0, 1]) {
        const x = testData(offset, 4096);
        const q = await quantizeRows(type, x, 4096, { simd });
        const err = rmse(x, await dequantizeRows(type, q, 4096));
        expect(err).toBeLessThan(bound);
        expect(err).toBeGreaterThan(0);
      }
    });
  }
});
