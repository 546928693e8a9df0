/** Per-tensor error of a quantized model against its reference: both are dequantized to F32 in row
 * chunks (never a whole tensor in memory) and compared element by element. */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { QuantNativeError } from './errors.js';
import { checks, validateOptions } from './options.js';
import { PRODUCIBLE_TYPES, ggmlTypeName, rowBytes } from './ggml-types.js';
import { elementCount, type GgufTensorInfo } from './gguf/format.js';
import { openModel } from './gguf/model.js';
import { TensorDataReader } from './gguf/reader.js';
import { loadNative } from './native.js';

export interface TensorComparison {
  name: string;
  /** Type in the quantized file. */
  type: string;
  referenceType: string;
  rmse: number;
  maxAbsError: number;
  /** Cosine similarity of the two tensors as vectors (1 = same direction). */
  cosine: number;
  /** Signal-to-quantization-noise ratio in dB; null when the tensors are identical. */
  sqnrDb: number | null;
}

export interface CompareResult {
  /** Worst first (lowest SQNR). */
  tensors: TensorComparison[];
  /** Tensors present in only one file, or with different shapes. */
  unmatched: string[];
}

const CHUNK_ELEMENTS = 1 << 20;

export async function compareModels(referencePath: string, quantizedPath: string, options: { nativeBinding?: string } = {}): Promise<CompareResult> {
  validateOptions('compareModels', options, { nativeBinding: checks.string });
  const native = loadNative(options.nativeBinding);
  const [ref, quant] = await Promise.all([openModel(referencePath), openModel(quantizedPath)]);
  const refByName = new Map(ref.tensors.map((t) => [t.name, t]));
  const refReader = await TensorDataReader.open(ref.files.map((f) => f.path));
  const quantReader = await TensorDataReader.open(quant.files.map((f) => f.path));
  const tensors: TensorComparison[] = [];
  const unmatched: string[] = ref.tensors.filter((t) => !quant.tensors.some((q) => q.name === t.name)).map((t) => t.name);
  const dequant = (t: GgufTensorInfo, bytes: Buffer, rows: number, out: Float32Array): Promise<void> =>
    native.dequantizeAsync({ type: t.type, nrows: rows, nPerRow: t.dims[0]!, src: bytes, dst: out });
  try {
    for (const q of quant.tensors) {
      const r = refByName.get(q.name);
      if (!r || elementCount(r.dims) !== elementCount(q.dims) || r.dims[0] !== q.dims[0]) {
        unmatched.push(q.name);
        continue;
      }
      for (const t of [q, r]) {
        if (!PRODUCIBLE_TYPES.has(t.type)) {
          throw new QuantNativeError('E_UNSUPPORTED_TYPE', `tensor ${t.name}: quant-native cannot read ${ggmlTypeName(t.type)} data yet`);
        }
      }
      const ne0 = q.dims[0]!;
      const nrows = elementCount(q.dims) / ne0;
      const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / ne0));
      const qBytes = Buffer.allocUnsafe(rowsPerChunk * rowBytes(q.type, ne0)!);
      const rBytes = Buffer.allocUnsafe(rowsPerChunk * rowBytes(r.type, ne0)!);
      const a = new Float32Array(rowsPerChunk * ne0);
      const b = new Float32Array(rowsPerChunk * ne0);
      let sumErr2 = 0, sumRef2 = 0, sumQ2 = 0, dot = 0, maxAbs = 0;
      for (let row = 0; row < nrows; row += rowsPerChunk) {
        const n = Math.min(rowsPerChunk, nrows - row);
        await refReader.read(r, row * rowBytes(r.type, ne0)!, n * rowBytes(r.type, ne0)!, rBytes);
        await quantReader.read(q, row * rowBytes(q.type, ne0)!, n * rowBytes(q.type, ne0)!, qBytes);
        await Promise.all([dequant(r, rBytes, n, a), dequant(q, qBytes, n, b)]);
        for (let i = 0; i < n * ne0; i++) {
          const x = a[i]!, y = b[i]!, d = y - x;
          sumErr2 += d * d;
          sumRef2 += x * x;
          sumQ2 += y * y;
          dot += x * y;
          if (Math.abs(d) > maxAbs) maxAbs = Math.abs(d);
        }
        await nextTurn();
      }
      const count = nrows * ne0;
      tensors.push({
        name: q.name, type: ggmlTypeName(q.type), referenceType: ggmlTypeName(r.type),
        rmse: Math.sqrt(sumErr2 / count),
        maxAbsError: maxAbs,
        cosine: sumRef2 > 0 && sumQ2 > 0 ? dot / Math.sqrt(sumRef2 * sumQ2) : sumRef2 === sumQ2 ? 1 : 0,
        sqnrDb: sumErr2 === 0 ? null : 10 * Math.log10(sumRef2 / sumErr2),
      });
    }
  } finally {
    await Promise.all([refReader.close(), quantReader.close()]);
  }
  if (tensors.length === 0) {
    throw new QuantNativeError('E_NO_MATCH', `no tensor of ${quantizedPath} matches one of ${referencePath} by name and shape`, {
      hint: 'compare a quantized model with the model it was made from',
    });
  }
  tensors.sort((x, y) => (x.sqnrDb ?? Infinity) - (y.sqnrDb ?? Infinity));
  return { tensors, unmatched };
}
