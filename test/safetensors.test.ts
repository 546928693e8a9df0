/** Safetensors headers as the converter meets them, broken in every way the format allows: each is a
 * one-line error with a stable code, never a crash, a hang or a huge allocation. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QuantNativeError } from '../src/errors.js';
import { readSafetensors } from '../src/hf/safetensors.js';
import { Rng } from './helpers/data.js';
import { tempDir } from './helpers/models.js';
import { f32Bytes, safetensorsBytes, type StTensor } from './helpers/safetensors.js';

const tmp = tempDir('qn-st-');
afterAll(() => tmp.cleanup());

const TENSORS: StTensor[] = [
  { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [8, 4], data: f32Bytes(32) },
  { name: 'model.norm.weight', dtype: 'F32', shape: [4], data: f32Bytes(4, 2) },
];

let n = 0;
function file(bytes: Uint8Array): string {
  const p = join(tmp.dir, `case-${n++}.safetensors`);
  writeFileSync(p, bytes);
  return p;
}

describe('a valid file', () => {
  it('lists every tensor with its dtype, shape and absolute byte range', async () => {
    const bytes = safetensorsBytes(TENSORS);
    const f = await readSafetensors(file(bytes));
    const dataStart = bytes.length - 32 * 4 - 4 * 4;
    expect(f.tensors.map((t) => [t.name, t.dtype, t.shape, t.dataStart, t.nbytes])).toEqual([
      ['model.embed_tokens.weight', 'F32', [8, 4], dataStart, 128],
      ['model.norm.weight', 'F32', [4], dataStart + 128, 16],
    ]);
    expect(f.metadata).toEqual({ format: 'pt' });
  });
});

describe('malformed files', () => {
  const valid = safetensorsBytes(TENSORS);
  const cases: Array<[string, () => Uint8Array, string]> = [
    ['shorter than the length field', () => valid.subarray(0, 5), 'E_ST_TRUNCATED'],
    ['a header length beyond the file', () => valid.subarray(0, 40), 'E_ST_TRUNCATED'],
    ['an absurd header length (2^63)', () => { const b = Buffer.from(valid); b.writeBigUInt64LE(1n << 63n, 0); return b; }, 'E_ST_HEADER'],
    ['a header that is not JSON', () => { const b = Buffer.from(valid); b[8] = 0x5b; b[9] = 0x7b; return b; }, 'E_ST_HEADER'],
    ['a header that is a JSON array', () => safetensorsBytes(TENSORS, () => [1, 2]), 'E_ST_HEADER'],
    ['data cut short (offsets outside the data)', () => valid.subarray(0, valid.length - 8), 'E_ST_OFFSET'],
    ['overlapping tensors', () => safetensorsBytes(TENSORS, (h) => ({ ...h, 'model.norm.weight': { dtype: 'F32', shape: [4], data_offsets: [112, 128] } })), 'E_ST_OFFSET'],
    ['shape x dtype not the byte length', () => safetensorsBytes(TENSORS, (h) => ({ ...h, 'model.norm.weight': { dtype: 'F32', shape: [5], data_offsets: [128, 144] } })), 'E_ST_SHAPE'],
    ['an unknown dtype', () => safetensorsBytes(TENSORS, (h) => ({ ...h, 'model.norm.weight': { dtype: 'F17', shape: [4], data_offsets: [128, 144] } })), 'E_ST_DTYPE'],
    ['offsets that are not a pair', () => safetensorsBytes(TENSORS, (h) => ({ ...h, 'model.norm.weight': { dtype: 'F32', shape: [4], data_offsets: [144, 128] } })), 'E_ST_HEADER'],
    ['a negative dimension', () => safetensorsBytes(TENSORS, (h) => ({ ...h, 'model.norm.weight': { dtype: 'F32', shape: [-4], data_offsets: [128, 144] } })), 'E_ST_HEADER'],
    ['a duplicate tensor name', () => {
      const text = `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`;
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(text.length));
      return Buffer.concat([len, Buffer.from(text), Buffer.alloc(8)]);
    }, 'E_ST_DUPLICATE'],
  ];
  for (const [what, make, code] of cases) {
    it(`${what}: ${code}`, async () => {
      const p = file(make());
      const err = await readSafetensors(p).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(QuantNativeError);
      expect(err).toMatchObject({ code, message: expect.stringContaining(p) });
      expect((err as Error).message).not.toContain('\n');
    });
  }
});

describe('fuzz', () => {
  it('random mutations of a valid file never crash, hang or allocate past the file', async () => {
    const valid = safetensorsBytes(TENSORS);
    const rng = new Rng(77);
    const cases = Number(process.env.QN_FUZZ_CASES ?? 300);
    for (let i = 0; i < cases; i++) {
      const b = Buffer.from(valid);
      const flips = 1 + rng.int(6);
      for (let k = 0; k < flips; k++) b[rng.int(b.length)] = rng.int(256);
      const cut = rng.int(4) === 0 ? rng.int(b.length) : b.length;
      const p = file(b.subarray(0, cut));
      const r = await readSafetensors(p).then(() => undefined, (e: unknown) => e);
      if (r !== undefined) expect(r, `case ${i}`).toBeInstanceOf(QuantNativeError);
    }
  });
});
