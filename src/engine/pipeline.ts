/** Executes a plan: tensors stream through in row chunks (positional reads, never the whole
 * tensor), are converted and quantized by the native workers off the JS thread, and are written in
 * order. The next chunk is read while the current one is quantized and the previous one written,
 * with two fixed sets of buffers, so memory stays bounded whatever the model size. */
import { AbortError, QuantNativeError } from '../errors.js';
import { ggmlTypeName, rowBytes } from '../ggml-types.js';
import type { GgufTensorInfo } from '../gguf/format.js';
import type { GgufModel } from '../gguf/model.js';
import { TensorDataReader } from '../gguf/reader.js';
import { chunkAt, chunkMemory, type AlignedAlloc } from '../gguf/append-file.js';
import { GgufFileWriter } from '../gguf/writer.js';
import { directIoAlloc, type NativeAddon } from '../native.js';
import type { QuantPlan, TensorPlan } from '../quant/plan.js';

export interface EngineProgress {
  /** Index (in plan order) of the tensor being processed. */
  tensorIndex: number;
  tensorName: string;
  /** Input bytes consumed so far, over all tensors. */
  bytesDone: number;
}

/** What tensor data is read from: the model's GGUF files, or a conversion made on the fly. */
export interface TensorSource {
  /** Bytes [start, start + length) of a tensor's data, into `into`. */
  read(tensor: GgufTensorInfo, start: number, length: number, into: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export interface EngineOptions {
  native: NativeAddon;
  simd: number;
  threads: number;
  /** Input bytes per chunk; the engine holds two chunks of input and two of output. */
  chunkBytes: number;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: EngineProgress) => void) | undefined;
  /** Where tensor data comes from; default: the model's GGUF files. */
  source?: TensorSource | undefined;
}

/** One set of reusable buffers, sized for the largest chunk of any tensor; each output chunk is placed at its
 * file offset's phase (chunkAt), so that the writer sends it to the disk without a copy. */
class BufferPair {
  readonly input: Buffer[];
  readonly output: Uint8Array[];
  constructor(inBytes: number, outBytes: number, alignedAlloc: AlignedAlloc | undefined) {
    this.input = [Buffer.allocUnsafe(inBytes), Buffer.allocUnsafe(inBytes)];
    this.output = [chunkMemory(alignedAlloc, outBytes), chunkMemory(alignedAlloc, outBytes)];
  }
}

function rowsPerChunk(t: TensorPlan, chunkBytes: number): number {
  const srcRow = rowBytes(t.sourceType, t.source.dims[0]!)!;
  return Math.max(1, Math.floor(chunkBytes / srcRow));
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('quantization was aborted', { cause: signal.reason });
}

/** Writes every output file of the plan to `paths` (one per plan file). */
export async function executePlan(model: GgufModel, plan: QuantPlan, paths: readonly string[], o: EngineOptions): Promise<void> {
  let inBytes = 1, outBytes = 1;
  for (const t of plan.tensors) {
    const rows = rowsPerChunk(t, o.chunkBytes);
    const ne0 = t.source.dims[0]!;
    inBytes = Math.max(inBytes, Math.min(t.bytesIn, rows * rowBytes(t.sourceType, ne0)!));
    outBytes = Math.max(outBytes, Math.min(t.bytesOut, rows * rowBytes(t.targetType, ne0)!));
  }
  const alignedAlloc = directIoAlloc(o.native);
  const buffers = new BufferPair(inBytes, outBytes, alignedAlloc);
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = (): void => { Atomics.store(cancel, 0, 1); };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const reader: TensorSource = o.source ?? await TensorDataReader.open(model.files.map((f) => f.path));
  const writers: GgufFileWriter[] = [];
  let bytesDone = 0;
  let index = 0;
  try {
    for (let f = 0; f < plan.files.length; f++) {
      throwIfAborted(o.signal);
      const file = plan.files[f]!;
      const decls = file.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.targetType, nbytes: t.bytesOut }));
      const openWriter = async (): Promise<GgufFileWriter> => {
        const writer = await GgufFileWriter.create(paths[f]!, file.kvs, decls, undefined, { alignedAlloc });
        writers.push(writer);
        return writer;
      };
      await processTensors(file.tensors, reader, openWriter, buffers, o, cancel, index, (t, i, n) => {
        bytesDone += n;
        o.onProgress?.({ tensorIndex: i, tensorName: t.name, bytesDone });
      });
      index += file.tensors.length;
    }
    throwIfAborted(o.signal);
    for (const w of writers) await w.finish();
  } catch (e) {
    await Promise.all(writers.map((w) => w.abort()));
    throw e;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
    await reader.close();
  }
}

/** One chunk of rows of one tensor. */
interface Chunk {
  tensor: TensorPlan;
  /** Index of the tensor in plan order. */
  index: number;
  firstRow: number;
  rows: number;
}

/** The sequence of chunks, none over chunkBytes of input, smaller at both ends: the first read and the last
 * quantization and write overlap nothing else, so they are kept short. Sizes start at an eighth of a chunk and
 * double; near the end each chunk takes at most half of what is left. */
function chunksOf(tensors: readonly TensorPlan[], firstIndex: number, chunkBytes: number): Chunk[] {
  const smallest = chunkBytes / 8;
  let left = tensors.reduce((sum, t) => sum + t.bytesIn, 0);
  const chunks: Chunk[] = [];
  tensors.forEach((tensor, i) => {
    const nrows = tensor.elements / tensor.source.dims[0]!;
    const srcRow = rowBytes(tensor.sourceType, tensor.source.dims[0]!)!;
    for (let first = 0; first < nrows;) {
      const limit = Math.min(chunkBytes, smallest * 2 ** chunks.length, Math.max(smallest, left / 2));
      const rows = Math.min(Math.max(1, Math.floor(limit / srcRow)), nrows - first);
      chunks.push({ tensor, index: firstIndex + i, firstRow: first, rows });
      first += rows;
      left -= rows * srcRow;
    }
  });
  return chunks;
}

/** Streams the tensors of one output file through the buffers as one sequence of chunks, so that the next
 * tensor's first read overlaps the current tensor's last quantization. `advance` reports each tensor's start
 * (0 bytes) and every chunk done. */
async function processTensors(
  tensors: readonly TensorPlan[], reader: TensorSource, openWriter: () => Promise<GgufFileWriter>, buffers: BufferPair, o: EngineOptions,
  cancel: Int32Array, firstIndex: number, advance: (t: TensorPlan, index: number, bytes: number) => void,
): Promise<void> {
  const chunks = chunksOf(tensors, firstIndex, o.chunkBytes);
  // A read or write can fail while the loop awaits something else; mark it handled at once (the
  // loop awaits it later and throws then) so Node never reports an unhandled rejection.
  const handled = (p: Promise<void>): Promise<void> => {
    p.catch(() => undefined);
    return p;
  };
  const read = (k: number): Promise<void> => {
    const c = chunks[k]!;
    const srcRow = rowBytes(c.tensor.sourceType, c.tensor.source.dims[0]!)!;
    return handled(reader.read(c.tensor.source, c.firstRow * srcRow, c.rows * srcRow, buffers.input[k % 2]!));
  };

  let pendingRead = chunks.length > 0 ? read(0) : Promise.resolve();
  let pendingWrite: Promise<void> = Promise.resolve();
  let started = -1;
  try {
    // The first read is under way while the writer encodes the metadata, opens its file and makes its staging buffers.
    const writer = await openWriter();
    for (let k = 0; k < chunks.length; k++) {
      const { tensor: t, index, firstRow, rows: n } = chunks[k]!;
      if (index !== started) {
        started = index;
        advance(t, index, 0);
      }
      await pendingRead;
      throwIfAborted(o.signal);
      if (k + 1 < chunks.length) pendingRead = read(k + 1);
      const ne0 = t.source.dims[0]!;
      const srcRow = rowBytes(t.sourceType, ne0)!;
      const dstRow = rowBytes(t.targetType, ne0)!;
      const input = buffers.input[k % 2]!;
      if (t.action === 'copy') {
        // Copies are validated too, as llama.cpp's loader checks every byte range it reads.
        const bad = o.native.findInvalidRow({ type: t.sourceType, nrows: n, nPerRow: ne0, data: input });
        if (bad >= 0) throw invalidInput(t, firstRow + bad);
        // The write must finish before this input buffer is read into again (chunk k + 2).
        await pendingWrite;
        pendingWrite = handled(writer.write(input.subarray(0, n * srcRow)));
        await pendingWrite;
      } else {
        const output = chunkAt(buffers.output[k % 2]!, writer.fileOffset(index - firstIndex, firstRow * dstRow), n * dstRow);
        const r = await o.native.quantizeAsync({
          srcType: t.sourceType, dstType: t.targetType, nrows: n, nPerRow: ne0, src: input, dst: output,
          simd: o.simd, threads: o.threads, imatrix: t.imatrix, firstRow, rowsPerMatrix: t.source.dims[1] ?? 1, cancel,
        });
        if (r.cancelled) throwIfAborted(o.signal);
        if (r.invalidInputRow >= 0) throw invalidInput(t, r.invalidInputRow);
        if (r.invalidOutputRow >= 0) {
          throw new QuantNativeError('E_QUANTIZED_INVALID', `quantized data validation failed: tensor ${t.name}, row ${r.invalidOutputRow}: a ${ggmlTypeName(t.targetType)} scale or value is NaN or Inf (llama.cpp refuses it too)`, {
            hint: 'the weights are too large for this type (F16 scales overflow above 65504); choose another type for this tensor with --tensor-type',
          });
        }
        await pendingWrite;
        pendingWrite = handled(writer.write(output));
      }
      advance(t, index, n * srcRow);
    }
    await pendingWrite;
  } finally {
    // Never leave a read or write in flight into buffers the caller may reuse.
    await pendingRead.catch(() => undefined);
    await pendingWrite.catch(() => undefined);
  }
}

function invalidInput(t: TensorPlan, row: number): QuantNativeError {
  return new QuantNativeError('E_INVALID_DATA', `tensor ${t.name} has invalid data (NaN or Inf) in row ${row}`, {
    hint: 'the input model is damaged: convert it again from the original weights',
  });
}
