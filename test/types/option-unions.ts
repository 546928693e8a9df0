// Compiled by test/api-boundary.test.ts: the known names compile, misspelled ones must not.
import type { QuantizeOptions, RowsOptions } from '../../src/api.js';

export const ok: QuantizeOptions[] = [
  { input: 'a.gguf', preset: 'Q4_K_M' },
  { input: 'a.gguf', preset: 'q4_k_m' },
  { input: 'a.gguf', preset: '15' },
  { input: 'a.gguf', preset: 'IQ2_XS', simd: 'avx2' },
];
export const okRows: RowsOptions = { simd: 'neon' };

// @ts-expect-error a preset that does not exist
export const badPreset: QuantizeOptions = { input: 'a.gguf', preset: 'Q4_K_MM' };
// @ts-expect-error a SIMD path that does not exist
export const badSimd: RowsOptions = { simd: 'sse4' };
