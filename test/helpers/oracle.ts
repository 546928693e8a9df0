/** llama.cpp's own quantizer, loaded from the prebuilt libraries in @node-llama-cpp/linux-x64, as
 * the source of expected bytes. Undefined where that package does not exist (other platforms). */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import koffi from 'koffi';

export const ORACLE_PACKAGE = '@node-llama-cpp/linux-x64@3.21.1';

export function oracleBinDir(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  try {
    const require = createRequire(import.meta.url);
    // The package's exports map hides package.json; its main entry sits in dist/.
    const dir = join(dirname(require.resolve('@node-llama-cpp/linux-x64')), '..', 'bins', 'linux-x64');
    return existsSync(join(dir, 'libggml-base.so')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export interface GgmlOracle {
  quantizeChunk(type: number, src: Float32Array, nrows: number, nPerRow: number, imatrix: Float32Array | null, rowBytes: number): Buffer;
  dequantizeRow(type: number, src: Uint8Array, n: number): Float32Array;
}

const DEQUANT_SYMBOLS: Record<number, string> = {
  1: 'ggml_fp16_to_fp32_row', 30: 'ggml_bf16_to_fp32_row', 2: 'dequantize_row_q4_0', 3: 'dequantize_row_q4_1',
  6: 'dequantize_row_q5_0', 7: 'dequantize_row_q5_1', 8: 'dequantize_row_q8_0', 10: 'dequantize_row_q2_K',
  11: 'dequantize_row_q3_K', 12: 'dequantize_row_q4_K', 13: 'dequantize_row_q5_K', 14: 'dequantize_row_q6_K',
  20: 'dequantize_row_iq4_nl', 23: 'dequantize_row_iq4_xs', 34: 'dequantize_row_tq1_0', 35: 'dequantize_row_tq2_0',
  16: 'dequantize_row_iq2_xxs', 17: 'dequantize_row_iq2_xs', 22: 'dequantize_row_iq2_s', 18: 'dequantize_row_iq3_xxs',
  21: 'dequantize_row_iq3_s', 19: 'dequantize_row_iq1_s', 29: 'dequantize_row_iq1_m', 39: 'dequantize_row_mxfp4',
  40: 'dequantize_row_nvfp4', 41: 'dequantize_row_q1_0', 42: 'dequantize_row_q2_0',
};

let cached: GgmlOracle | undefined;

export function loadGgmlOracle(): GgmlOracle | undefined {
  if (cached) return cached;
  const dir = oracleBinDir();
  if (!dir) return undefined;
  const lib = koffi.load(join(dir, 'libggml-base.so'));
  const quantizeChunk = lib.func('size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)');
  const dequant = new Map<number, (src: Uint8Array, dst: Float32Array, n: number) => void>();
  for (const [type, symbol] of Object.entries(DEQUANT_SYMBOLS)) {
    dequant.set(Number(type), lib.func(`void ${symbol}(const void *x, float *y, int64_t k)`));
  }
  cached = {
    quantizeChunk(type, src, nrows, nPerRow, imatrix, rowBytes) {
      const dst = Buffer.alloc(nrows * rowBytes);
      const written = Number(quantizeChunk(type, src, dst, 0, nrows, nPerRow, imatrix));
      if (written !== dst.length) throw new Error(`ggml_quantize_chunk wrote ${written} bytes, expected ${dst.length}`);
      return dst;
    },
    dequantizeRow(type, src, n) {
      const fn = dequant.get(type);
      if (!fn) throw new Error(`no oracle dequantizer for type ${type}`);
      const out = new Float32Array(n);
      fn(src, out, n);
      return out;
    },
  };
  return cached;
}
