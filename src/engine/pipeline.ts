/** Executes a plan: tensors stream through in row chunks (never the whole tensor), are converted and
 * quantized by the native workers off the JS thread, and are written in order, the previous chunk while
 * the current one is quantized, with two fixed sets of buffers, so memory stays bounded whatever the
 * model size. Chunks of a GGUF file are read by the native workers themselves, each its own rows into a
 * buffer in its cache, while the kernel is asked to fetch the next chunk from the disk; chunks of other
 * sources (and tensors copied as they are) are read a chunk ahead into buffers on the JS side. */
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
 * file offset's phase (chunkAt), so that the writer sends it to the disk without a copy. The input buffers are
 * made when a chunk is first read on the JS side. */
class BufferPair {
  private inputs: Buffer[] | undefined;
  readonly output: Uint8Array[];
  constructor(private readonly inBytes: number, outBytes: number, alignedAlloc: AlignedAlloc | undefined) {
    this.output = [chunkMemory(alignedAlloc, outBytes), chunkMemory(alignedAlloc, outBytes)];
  }
  input(k: number): Buffer {
    this.inputs ??= [Buffer.allocUnsafe(this.inBytes), Buffer.allocUnsafe(this.inBytes)];
    return this.inputs[k % 2]!;
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

  const files = o.source ? undefined : await TensorDataReader.open(model.files.map((f) => f.path));
  const reader: TensorSource = o.source ?? files!;
  // Where the addon cannot read files (Windows), every chunk is read on the JS side.
  const direct = o.native.info.fileSource ? files : undefined;
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
      await processTensors(file.tensors, reader, direct, openWriter, buffers, o, cancel, index, (t, i, n) => {
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

/** Bytes [start, start + length) of its tensor's data that a chunk covers. */
function chunkRange(c: Chunk): { start: number; length: number } {
  const srcRow = rowBytes(c.tensor.sourceType, c.tensor.source.dims[0]!)!;
  return { start: c.firstRow * srcRow, length: c.rows * srcRow };
}

/** Streams the tensors of one output file through the buffers as one sequence of chunks, so that the next
 * tensor's first read overlaps the current tensor's last quantization. `direct`: the files whose chunks the
 * native workers read themselves. `advance` reports each tensor's start (0 bytes) and every chunk done. */
async function processTensors(
  tensors: readonly TensorPlan[], reader: TensorSource, direct: TensorDataReader | undefined, openWriter: () => Promise<GgufFileWriter>, buffers: BufferPair, o: EngineOptions,
  cancel: Int32Array, firstIndex: number, advance: (t: TensorPlan, index: number, bytes: number) => void,
): Promise<void> {
  const chunks = chunksOf(tensors, firstIndex, o.chunkBytes);
  // A read or write can fail while the loop awaits something else; mark it handled at once (the
  // loop awaits it later and throws then) so Node never reports an unhandled rejection.
  const handled = (p: Promise<void>): Promise<void> => {
    p.catch(() => undefined);
    return p;
  };
  // Where in its file each chunk the workers read lies. Copies go from the input buffer to the writer, so they are
  // read on the JS side whatever the source.
  const inFile = chunks.map((c) => {
    if (!direct || c.tensor.action === 'copy') return undefined;
    const { start, length } = chunkRange(c);
    return direct.locate(c.tensor.source, start, length);
  });
  const read = (k: number): Promise<void> => {
    const c = chunks[k]!;
    if (inFile[k]) return Promise.resolve();
    const { start, length } = chunkRange(c);
    return handled(reader.read(c.tensor.source, start, length, buffers.input(k)));
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
      if (t.action === 'copy') {
        const input = buffers.input(k);
        // Copies are validated too, as llama.cpp's loader checks every byte range it reads.
        const bad = o.native.findInvalidRow({ type: t.sourceType, nrows: n, nPerRow: ne0, data: input });
        if (bad >= 0) throw invalidInput(t, firstRow + bad);
        // The write must finish before this input buffer is read into again (chunk k + 2).
        await pendingWrite;
        pendingWrite = handled(writer.write(input.subarray(0, n * srcRow)));
        await pendingWrite;
      } else {
        const output = chunkAt(buffers.output[k % 2]!, writer.fileOffset(index - firstIndex, firstRow * dstRow), n * dstRow);
        const here = inFile[k], ahead = inFile[k + 1];
        const source = here ? { srcFd: here.fd, srcOffset: here.offset } : { src: buffers.input(k) };
        const prefetch = here && ahead?.fd === here.fd ? { prefetchOffset: ahead.offset, prefetchLength: ahead.length } : {};
        const r = await o.native.quantizeAsync({
          srcType: t.sourceType, dstType: t.targetType, nrows: n, nPerRow: ne0, ...source, ...prefetch, dst: output,
          simd: o.simd, threads: o.threads, imatrix: t.imatrix, firstRow, rowsPerMatrix: t.source.dims[1] ?? 1, cancel,
        });
        if (r.cancelled) throwIfAborted(o.signal);
        // As llama.cpp's loader, a file that ends early is an error before any row's data is.
        if (r.readError !== null) throw r.readError === 'EOF' ? direct!.truncated(t.source) : readFailed(t, r.readError);
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

function readFailed(t: TensorPlan, reason: string): QuantNativeError {
  return new QuantNativeError('E_IO', `cannot read tensor ${t.name}: ${reason}`, {
    hint: 'check that the input file is readable and not being changed while it is quantized',
  });
}

function invalidInput(t: TensorPlan, row: number): QuantNativeError {
  return new QuantNativeError('E_INVALID_DATA', `tensor ${t.name} has invalid data (NaN or Inf) in row ${row}`, {
    hint: 'the input model is damaged: convert it again from the original weights',
  });
}
