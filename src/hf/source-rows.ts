/** Rows of a source tensor on their way into the GGUF file: read by position, q/k rows permuted by
 * whole heads, converted to the output type by the native kernels, shifted where the converter adds a
 * constant (Gemma's norms). A "row" is a slice of the first dimension (one element of a 1-D tensor):
 * the unit the permutation moves and the converter's own indexing. */
import { GgmlType, rowBytes } from '../ggml-types.js';
import type { GgufTensorInfo } from '../gguf/format.js';
import type { TensorDataReader } from '../gguf/reader.js';
import type { NativeAddon } from '../native.js';
import type { SourceTensor } from './convert-plan.js';

export interface SourceLayout {
  /** Rows used (`rows` from `rowOffset` when the source is cut). */
  nRows: number;
  /** First row used. */
  rowOffset: number;
  rowElems: number;
  /** Source bytes per row. */
  inRow: number;
  /** Rows that must be read together: a head's rows when permuted, the whole of a 1-D tensor. */
  unit: number;
}

export function layoutOf(s: SourceTensor): SourceLayout {
  const src = s.tensor;
  const elements = src.shape.reduce((a, b) => a * b, 1);
  const allRows = s.viewRows ?? (src.shape.length >= 2 ? src.shape[0]! : elements);
  const rowElems = allRows > 0 ? elements / allRows : 0;
  const nRows = s.rows ?? allRows;
  const unit = src.shape.length < 2 ? Math.max(1, nRows) : s.permuteHeads !== undefined ? allRows / s.permuteHeads : 1;
  return { nRows, rowOffset: s.rowOffset ?? 0, rowElems, inRow: rowElems * (src.nbytes / Math.max(1, elements)), unit };
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

export interface RowConverter {
  native: NativeAddon;
  simd: number;
  threads: number;
  cancel?: Int32Array;
}

/** Reads source rows [r0, r1) (r0 a multiple of the layout's unit) and returns them converted to
 * `outType`, in `dst` when one is given (exactly the rows' output bytes): the common case, rows that
 * need neither permutation nor conversion, is then read straight into it. */
export async function convertedRows(
  reader: TensorDataReader, s: SourceTensor, layout: SourceLayout, r0: number, r1: number, outType: number, c: RowConverter,
  dst?: Uint8Array,
): Promise<{ data: Uint8Array; cancelled: boolean }> {
  const src = s.tensor;
  const n = r1 - r0;
  const convert = src.ggmlType !== outType;
  const outBytes = n * rowBytes(outType, layout.rowElems)!;
  const final = (): Uint8Array => dst ?? Buffer.allocUnsafe(outBytes);
  const direct = !convert && s.permuteHeads === undefined;
  const raw = direct ? final() : Buffer.allocUnsafe(n * layout.inRow);
  const info: GgufTensorInfo = { name: src.name, dims: [...src.shape].reverse(), type: src.ggmlType!, offset: 0, nbytes: src.nbytes, fileIndex: src.fileIndex, dataStart: src.dataStart };
  await reader.read(info, (layout.rowOffset + r0) * layout.inRow, n * layout.inRow, raw);
  let rows: Uint8Array = raw;
  if (s.permuteHeads !== undefined) {
    rows = convert ? Buffer.allocUnsafe(raw.length) : final();
    permuteRows(raw, rows, n, layout.inRow, layout.unit);
  }
  let cancelled = false;
  if (convert) {
    const out = final();
    const r = await c.native.quantizeAsync({
      srcType: src.ggmlType!, dstType: outType, nrows: n, nPerRow: layout.rowElems, src: rows, dst: out, simd: c.simd, threads: c.threads, cancel: c.cancel, validate: false,
    });
    cancelled = r.cancelled;
    rows = out;
  }
  if (s.shift !== undefined) {
    if (outType !== GgmlType.F32) throw new Error(`a shifted tensor (${src.name}) must be written as F32`);
    // The converter adds in float32 (torch); a float32 sum computed in double and rounded by
    // Math.fround is the same float32. Float32Array needs 4-byte alignment: work on a copy if not.
    const aligned = rows.byteOffset % 4 === 0 ? rows : new Uint8Array(rows);
    const f = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.length / 4);
    for (let i = 0; i < f.length; i++) f[i] = Math.fround(f[i]! + s.shift);
    if (aligned !== rows) rows.set(aligned);
  }
  return { data: rows.subarray(0, outBytes), cancelled };
}
