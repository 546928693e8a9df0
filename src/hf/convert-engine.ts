/** Writes a planned conversion: each output tensor's sources are read by positional reads in chunks
 * of whole rows (whole heads where q/k rows are permuted), converted to the output type by the native
 * kernels off the JS thread, and written in order to a temporary file renamed into place at the end. */
import { AbortError } from '../errors.js';
import { rowBytes } from '../ggml-types.js';
import type { GgufTensorInfo } from '../gguf/format.js';
import { TensorDataReader } from '../gguf/reader.js';
import { GgufFileWriter } from '../gguf/writer.js';
import type { NativeAddon } from '../native.js';
import type { ConvertPlan, PlannedTensor, SourceTensor } from './convert-plan.js';

export interface ConvertEngineOptions {
  native: NativeAddon;
  simd: number;
  threads: number;
  chunkBytes: number;
  signal?: AbortSignal | undefined;
  /** Source bytes consumed so far, and the tensor being written. */
  onProgress?: ((p: { tensorIndex: number; tensorName: string; bytesDone: number }) => void) | undefined;
}

/** LlamaModel.permute on whole rows: within each head, the two halves of its rows are interleaved. */
export function permuteRows(src: Uint8Array, dst: Uint8Array, nRows: number, rowBytesN: number, rowsPerHead: number): void {
  const half = rowsPerHead / 2;
  for (let h = 0; h < nRows / rowsPerHead; h++) {
    for (let i = 0; i < half; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * rowsPerHead + j * half + i) * rowBytesN;
        dst.set(src.subarray(from, from + rowBytesN), (h * rowsPerHead + i * 2 + j) * rowBytesN);
      }
    }
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('conversion was aborted', { cause: signal.reason });
}

/** A source tensor as the reader addresses it. */
function asInfo(s: SourceTensor): GgufTensorInfo {
  const t = s.tensor;
  return { name: t.name, dims: [...t.shape].reverse(), type: t.ggmlType!, offset: 0, nbytes: t.nbytes, fileIndex: t.fileIndex, dataStart: t.dataStart };
}

export async function executeConversion(plan: ConvertPlan, path: string, o: ConvertEngineOptions): Promise<void> {
  const reader = await TensorDataReader.open(plan.folder.files.map((f) => f.path));
  const decls = plan.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, nbytes: t.nbytes }));
  let writer: GgufFileWriter | undefined;
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = (): void => { Atomics.store(cancel, 0, 1); };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let bytesDone = 0;
  try {
    throwIfAborted(o.signal);
    writer = await GgufFileWriter.create(path, plan.kvs, decls);
    for (const [index, t] of plan.tensors.entries()) {
      o.onProgress?.({ tensorIndex: index, tensorName: t.name, bytesDone });
      for (const s of t.sources) {
        await convertSource(t, s, reader, writer, o, cancel, (n) => {
          bytesDone += n;
          o.onProgress?.({ tensorIndex: index, tensorName: t.name, bytesDone });
        });
      }
    }
    throwIfAborted(o.signal);
    await writer.finish();
  } catch (e) {
    await writer?.abort();
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await reader.close();
  }
}

async function convertSource(
  t: PlannedTensor, s: SourceTensor, reader: TensorDataReader, writer: GgufFileWriter, o: ConvertEngineOptions,
  cancel: Int32Array, advance: (bytes: number) => void,
): Promise<void> {
  const src = s.tensor;
  const srcType = src.ggmlType!;
  const ne0 = t.dims[0]!;
  const elements = src.shape.reduce((a, b) => a * b, 1);
  if (elements === 0) return;
  const elemBytes = src.nbytes / elements;
  // "Rows" here are slices of the first dimension (single elements of a 1-D tensor), the unit the
  // permutation moves; chunks hold whole rows, whole heads, and whole ggml rows of ne0 values.
  const nRows = src.shape.length >= 2 ? src.shape[0]! : elements;
  const rowElems = elements / nRows;
  const rowBytesN = rowElems * elemBytes;
  const unit = Math.max(s.permuteHeads !== undefined ? nRows / s.permuteHeads : 1, src.shape.length >= 2 ? 1 : nRows);
  const rowsPerChunk = Math.max(unit, Math.floor(o.chunkBytes / rowBytesN / unit) * unit);
  const input = Buffer.allocUnsafe(Math.min(nRows, rowsPerChunk) * rowBytesN);
  const permuted = s.permuteHeads !== undefined ? Buffer.allocUnsafe(input.length) : undefined;
  const outRow = rowBytes(t.type, ne0)!;
  const output = srcType === t.type ? undefined : Buffer.allocUnsafe((Math.min(nRows, rowsPerChunk) * rowElems / ne0) * outRow);
  const info = asInfo(s);
  for (let r0 = 0; r0 < nRows; r0 += rowsPerChunk) {
    throwIfAborted(o.signal);
    const n = Math.min(rowsPerChunk, nRows - r0);
    const bytes = n * rowBytesN;
    await reader.read(info, r0 * rowBytesN, bytes, input);
    let data = input.subarray(0, bytes);
    if (permuted) {
      permuteRows(data, permuted, n, rowBytesN, nRows / s.permuteHeads!);
      data = permuted.subarray(0, bytes);
    }
    if (output) {
      const ggmlRows = (n * rowElems) / ne0;
      const r = await o.native.quantizeAsync({ srcType, dstType: t.type, nrows: ggmlRows, nPerRow: ne0, src: data, dst: output, simd: o.simd, threads: o.threads, cancel, validate: false });
      if (r.cancelled) throwIfAborted(o.signal);
      await writer.write(output.subarray(0, ggmlRows * outRow));
    } else {
      await writer.write(data);
    }
    advance(bytes);
  }
}
