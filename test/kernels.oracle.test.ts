/** Every kernel against llama.cpp's ggml_quantize_chunk: the same bytes, on realistic and
 * adversarial rows, with and without importance weights, on every available SIMD path. */
import { describe, expect, it } from 'vitest';
import { GgmlType, IMATRIX_REQUIRED_TYPES, ggmlTypeInfo, ggmlTypeName, rowBytes } from '../src/ggml-types.js';
import { loadNative } from '../src/native.js';
import { DATASETS, Rng, importanceWithDeadRun, importanceWithZeros, rows } from './helpers/data.js';
import { ORACLE_PACKAGE, loadGgmlOracle } from './helpers/oracle.js';

const native = loadNative();
const oracle = loadGgmlOracle();
if (!oracle) console.warn(`\n*** ORACLE MISSING: ${ORACLE_PACKAGE} is not installed for this platform; the llama.cpp byte-identity tests are NOT run ***\n`);

const TYPES = [
  GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
  GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
  GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS,
  GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M, GgmlType.MXFP4, GgmlType.NVFP4, GgmlType.Q1_0, GgmlType.Q2_0,
];
/** The lattice types: llama.cpp's own quantizer is slow on them, so their rows stop at 4096 (no code
 * path depends on the length beyond a few super-blocks), and they also get importance weights with a
 * dead run of 48 columns, which leaves whole sub-blocks without weight. */
const LATTICE = new Set<number>([GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M]);
const K_ROW_LENGTHS = [256, 768, 4096, 16384];
const LATTICE_ROW_LENGTHS = [256, 768, 4096];
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
    const info = ggmlTypeInfo(type)!;
    const blockBytes = info.typeSize;
    const lengths = LATTICE.has(type) ? LATTICE_ROW_LENGTHS : info.blockSize < 256
      ? [...new Set(BLOCK32_ROW_LENGTHS.map((n) => Math.ceil(n / info.blockSize) * info.blockSize))]
      : K_ROW_LENGTHS;
    it(ggmlTypeName(type), () => {
      let seed = 1000 * type;
      for (const [dataName, fillRow] of Object.entries(DATASETS)) {
        for (const nPerRow of lengths) {
          const rng = new Rng(++seed);
          const x = rows(fillRow, rng, NROWS, nPerRow);
          const weights = [null, importanceWithZeros(rng, nPerRow), ...(LATTICE.has(type) ? [importanceWithDeadRun(rng, nPerRow)] : [])];
          for (const imatrix of weights.filter((w) => w || !IMATRIX_REQUIRED_TYPES.has(type))) {
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
      const q = ours(type, x, nPerRow, IMATRIX_REQUIRED_TYPES.has(type) ? importanceWithZeros(rng, nPerRow) : null, 0);
      const expected = oracle!.dequantizeRow(type, q, x.length);
      const got = new Float32Array(x.length);
      native.dequantize({ type, nrows: 2, nPerRow, src: q, dst: got });
      expect(Buffer.from(got.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    });
  }
});

it('a type llama.cpp only quantizes with importance weights is refused without them', () => {
  for (const type of IMATRIX_REQUIRED_TYPES) {
    expect(() => ours(type, new Float32Array(256), 256, null, 0)).toThrow(/needs importance weights/);
  }
});
