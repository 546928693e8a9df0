/** Every kernel against llama.cpp's ggml_quantize_chunk: the same bytes, on realistic and
 * adversarial rows, with and without importance weights, on every available SIMD path. */
import { describe, expect, it } from 'vitest';
import { GgmlType, ggmlTypeName, rowBytes } from '../src/ggml-types.js';
import { loadNative } from '../src/native.js';
import { DATASETS, Rng, importanceWithZeros, rows } from './helpers/data.js';
import { ORACLE_PACKAGE, loadGgmlOracle } from './helpers/oracle.js';

const native = loadNative();
const oracle = loadGgmlOracle();
if (!oracle) console.warn(`\n*** ORACLE MISSING: ${ORACLE_PACKAGE} is not installed for this platform; the llama.cpp byte-identity tests are NOT run ***\n`);

const TYPES = [
  GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
  GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
  GgmlType.TQ1_0, GgmlType.TQ2_0,
];
const K_ROW_LENGTHS = [256, 768, 4096, 16384];
const BLOCK32_ROW_LENGTHS = [32, 96, 4096];
const NROWS = 3;

function ours(type: number, x: Float32Array, nPerRow: number, imatrix: Float32Array | null, simd: number): Buffer {
  const nrows = x.length / nPerRow;
  const dst = Buffer.alloc(nrows * rowBytes(type, nPerRow)!);
  native.quantizeSync({ srcType: GgmlType.F32, dstType: type, nrows, nPerRow, src: x, dst, simd, imatrix: imatrix ?? undefined });
  return dst;
}

/** Index of the first differing block, for a readable failure. */
function firstDiff(a: Buffer, b: Buffer, blockBytes: number): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return Math.floor(i / blockBytes);
  return -1;
}

const paths = native.info.simdAvailable.map((name) => ({ name, index: native.info.simdNames.indexOf(name) }));

describe.runIf(oracle)('kernels are byte-identical to ggml_quantize_chunk', () => {
  for (const type of TYPES) {
    const blockBytes = rowBytes(type, type === GgmlType.F16 || type === GgmlType.BF16 ? 1 : type >= 10 && type !== 20 ? 256 : 32)!;
    const lengths = [GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.IQ4_NL].includes(type as 1)
      ? BLOCK32_ROW_LENGTHS
      : K_ROW_LENGTHS;
    it(ggmlTypeName(type), () => {
      let seed = 1000 * type;
      for (const [dataName, fillRow] of Object.entries(DATASETS)) {
        for (const nPerRow of lengths) {
          const rng = new Rng(++seed);
          const x = rows(fillRow, rng, NROWS, nPerRow);
          for (const imatrix of [null, importanceWithZeros(rng, nPerRow)]) {
            const expected = oracle!.quantizeChunk(type, x, NROWS, nPerRow, imatrix, rowBytes(type, nPerRow)!);
            for (const path of paths) {
              const got = ours(type, x, nPerRow, imatrix, path.index);
              const where = `${dataName}, rows of ${nPerRow}, ${imatrix ? 'with' : 'without'} imatrix, ${path.name} path`;
              expect(firstDiff(got, expected, blockBytes), where).toBe(-1);
            }
          }
        }
      }
    });
  }
});

describe.runIf(oracle)('dequantization matches ggml bit for bit', () => {
  for (const type of TYPES) {
    it(ggmlTypeName(type), () => {
      const nPerRow = 512;
      const rng = new Rng(77 + type);
      const x = rows(DATASETS['heavy-tailed with outliers']!, rng, 2, nPerRow);
      const q = ours(type, x, nPerRow, null, 0);
      const expected = oracle!.dequantizeRow(type, q, x.length);
      const got = new Float32Array(x.length);
      native.dequantize({ type, nrows: 2, nPerRow, src: q, dst: got });
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    });
  }
});
