/** What each candidate type loses on each tensor: the tensor's rows (all of a small tensor, evenly
 * spread stripes of a large one) quantized and dequantized by the native kernels, and the squared
 * difference summed with the importance of each column. Each row's error is computed on its own, in
 * double, so the total does not depend on the thread count. */
import { AbortError, QuantNativeError } from '../errors.js';
import { GgmlType, rowBytes } from '../ggml-types.js';
import type { TensorSource } from '../engine/pipeline.js';
import type { NativeAddon } from '../native.js';
import type { TensorPlan } from './plan.js';

/** Rows of a tensor with at most this many elements are all measured. */
const MEASURE_ALL_ELEMENTS = 1 << 19;
/** Of larger tensors, this share of the rows (at least MEASURE_ALL_ELEMENTS elements), in stripes. */
const SAMPLE_SHARE = 1 / 64;
const STRIPES = 16;
/** Input bytes sampled from one tensor at most, so memory stays bounded whatever the tensor's size. */
const MAX_SAMPLE_BYTES = 32 << 20;
/** The lattice types' searches run 10-30x slower than the K-quants': they measure the first quarter
 * of each stripe only (still spread over the whole tensor). */
const LATTICE_TYPES: ReadonlySet<number> = new Set([GgmlType.IQ1_S, GgmlType.IQ1_M, GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S, GgmlType.IQ3_XXS, GgmlType.IQ3_S]);
const LATTICE_SHARE = 4;

export function isLatticeType(type: number): boolean {
  return LATTICE_TYPES.has(type);
}

export interface MeasureContext {
  native: NativeAddon;
  simd: number;
  threads: number;
  source: TensorSource;
  signal?: AbortSignal | undefined;
  cancel: Int32Array;
}

interface Stripe {
  first: number;
  rows: number;
}

/** The rows measured: all, or STRIPES runs spread evenly, none crossing a matrix (expert) boundary.
 * The first quarter of every stripe is listed first, so that a prefix of the list is itself spread
 * over the tensor; `lattice` is how many runs of it the lattice types measure. */
export function sampleStripes(nrows: number, ne0: number, rowsPerMatrix: number, rowBytes: number): { stripes: Stripe[]; lattice: number } {
  const wanted = Math.max(STRIPES, Math.min(Math.floor(MAX_SAMPLE_BYTES / rowBytes), Math.max(Math.ceil(MEASURE_ALL_ELEMENTS / ne0), Math.ceil(nrows * SAMPLE_SHARE))));
  if (wanted >= nrows) {
    const all = splitAtMatrices({ first: 0, rows: nrows }, rowsPerMatrix);
    return { stripes: all, lattice: all.length };
  }
  const per = Math.ceil(wanted / STRIPES);
  const heads: Stripe[] = [], tails: Stripe[] = [];
  for (let g = 0; g < STRIPES; g++) {
    const first = Math.floor((g * nrows) / STRIPES);
    const rows = Math.min(per, Math.floor(((g + 1) * nrows) / STRIPES) - first);
    const head = Math.ceil(rows / LATTICE_SHARE);
    heads.push(...splitAtMatrices({ first, rows: head }, rowsPerMatrix));
    if (rows > head) tails.push(...splitAtMatrices({ first: first + head, rows: rows - head }, rowsPerMatrix));
  }
  return { stripes: [...heads, ...tails], lattice: heads.length };
}

function splitAtMatrices(s: Stripe, rowsPerMatrix: number): Stripe[] {
  const out: Stripe[] = [];
  for (let r = s.first; r < s.first + s.rows;) {
    const n = Math.min(s.first + s.rows - r, rowsPerMatrix - (r % rowsPerMatrix));
    out.push({ first: r, rows: n });
    r += n;
  }
  return out;
}

/** The imatrix as error weights: each matrix's values divided by their mean, so that the importance
 * ranks columns within a tensor without rescaling the tensor against the others. */
export function errorWeights(imatrix: Float32Array | undefined, ne0: number): Float32Array | undefined {
  if (!imatrix) return undefined;
  const w = new Float32Array(imatrix.length);
  for (let m = 0; m * ne0 < imatrix.length; m++) {
    let sum = 0;
    for (let j = 0; j < ne0; j++) sum += imatrix[m * ne0 + j]!;
    const mean = sum / ne0;
    for (let j = 0; j < ne0; j++) w[m * ne0 + j] = mean > 0 ? imatrix[m * ne0 + j]! / mean : 1;
  }
  return w;
}

/** A way to quantize a tensor: its type, and whether to use uniform importance where it has none. */
export interface MeasuredVariant {
  type: number;
  uniform: boolean;
}

/** Predicted error of the whole tensor in each variant (Infinity where the type's scales overflow). */
export async function measureTensor(t: TensorPlan, variants: readonly MeasuredVariant[], ctx: MeasureContext): Promise<number[]> {
  const ne0 = t.source.dims[0]!;
  const nrows = t.elements / ne0;
  const rowsPerMatrix = t.source.dims[1] ?? 1;
  const srcRow = rowBytes(t.sourceType, ne0)!;
  const { stripes, lattice } = sampleStripes(nrows, ne0, rowsPerMatrix, srcRow);
  const sampled = stripes.reduce((s, x) => s + x.rows, 0);
  const input = Buffer.allocUnsafe(sampled * srcRow);
  let at = 0;
  for (const s of stripes) {
    await ctx.source.read(t.source, s.first * srcRow, s.rows * srcRow, input.subarray(at, at + s.rows * srcRow));
    at += s.rows * srcRow;
  }
  const weights = errorWeights(t.imatrix, ne0);
  const uniform = t.imatrix ? undefined : new Float32Array(ne0).fill(1);
  const rowErrors = new Float64Array(sampled);
  const errors: number[] = [];
  for (const { type, uniform: useUniform } of variants) {
    throwIfAborted(ctx.signal);
    const imatrix = t.imatrix ?? (useUniform ? uniform : undefined);
    const own = isLatticeType(type) ? stripes.slice(0, lattice) : stripes;
    const rowsHere = own.reduce((s, x) => s + x.rows, 0);
    const output = Buffer.allocUnsafe(rowsHere * rowBytes(type, ne0)!);
    // One call for a single matrix; per stripe when the importance differs between experts.
    const perStripe = t.imatrix !== undefined && t.imatrix.length > ne0;
    const calls = perStripe ? own : [{ first: 0, rows: rowsHere }];
    let row = 0;
    let overflow = false;
    for (const c of calls) {
      const firstRow = perStripe ? c.first : 0;
      const r = await ctx.native.quantizeAsync({
        srcType: t.sourceType, dstType: type, nrows: c.rows, nPerRow: ne0,
        src: input.subarray(row * srcRow), dst: output.subarray(row * rowBytes(type, ne0)!), simd: ctx.simd, threads: ctx.threads,
        imatrix, firstRow, rowsPerMatrix, cancel: ctx.cancel,
        rowErrors: rowErrors.subarray(row, row + c.rows), errorWeights: weights,
      });
      if (r.cancelled) throwIfAborted(ctx.signal);
      if (r.invalidInputRow >= 0) {
        throw new QuantNativeError('E_INVALID_DATA', `tensor ${t.name} has invalid data (NaN or Inf) in a row`, {
          hint: 'the input model is damaged: convert it again from the original weights',
        });
      }
      overflow ||= r.invalidOutputRow >= 0;
      row += c.rows;
    }
    let sum = 0;
    for (let r = 0; r < rowsHere; r++) sum += rowErrors[r]!;
    errors.push(overflow ? Infinity : (sum * nrows) / rowsHere);
  }
  return errors;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('quantization was aborted', { cause: signal.reason });
}
