/** Writes a planned conversion: each output tensor's sources are read by positional reads in chunks
 * of whole rows (source-rows.ts), converted off the JS thread, and written in order to a temporary file
 * renamed into place at the end; each chunk's write overlaps the next chunk's reading and conversion. */
import { AbortError } from '../errors.js';
import { TensorDataReader } from '../gguf/reader.js';
import { chunkAt, chunkMemory, type AlignedAlloc } from '../gguf/append-file.js';
import { GgufFileWriter } from '../gguf/writer.js';
import { rowBytes } from '../ggml-types.js';
import { directIoAlloc, type NativeAddon } from '../native.js';
import type { ConvertPlan } from './convert-plan.js';
import { convertedRows, layoutOf, type SourceLayout } from './source-rows.js';

export interface ConvertEngineOptions {
  native: NativeAddon;
  simd: number;
  threads: number;
  chunkBytes: number;
  signal?: AbortSignal | undefined;
  /** Source bytes consumed so far, and the tensor being written. */
  onProgress?: ((p: { tensorIndex: number; tensorName: string; bytesDone: number }) => void) | undefined;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('conversion was aborted', { cause: signal.reason });
}

/** Writes `plan` to `path`; `meta` is its encoded metadata block (encodeGgufMeta of its kvs and tensors). */
export async function executeConversion(plan: ConvertPlan, meta: Buffer, path: string, o: ConvertEngineOptions): Promise<void> {
  const reader = await TensorDataReader.open(plan.folder.files.map((f) => f.path));
  const decls = plan.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, nbytes: t.nbytes }));
  const alignedAlloc = directIoAlloc(o.native);
  let writer: GgufFileWriter | undefined;
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = (): void => { Atomics.store(cancel, 0, 1); };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let bytesDone = 0;
  try {
    throwIfAborted(o.signal);
    writer = await GgufFileWriter.createEncoded(path, meta, decls, undefined, { alignedAlloc });
    const output = new OutputChunks(writer, plan, o.chunkBytes, alignedAlloc);
    try {
      for (const [index, t] of plan.tensors.entries()) {
        o.onProgress?.({ tensorIndex: index, tensorName: t.name, bytesDone });
        if (t.data) {
          await output.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
          continue;
        }
        let written = 0;
        for (const s of t.sources) {
          const layout = layoutOf(s);
          if (layout.nRows === 0 || layout.rowElems === 0) continue;
          const outRow = rowBytes(t.type, layout.rowElems)!;
          const step = rowsPerChunk(layout, o.chunkBytes);
          for (let r0 = 0; r0 < layout.nRows; r0 += step) {
            throwIfAborted(o.signal);
            const r1 = Math.min(layout.nRows, r0 + step);
            const dst = output.next(index, written, (r1 - r0) * outRow);
            const { data, cancelled } = await convertedRows(reader, s, layout, r0, r1, t.type, { native: o.native, simd: o.simd, threads: o.threads, cancel }, dst);
            if (cancelled) throwIfAborted(o.signal);
            await output.write(data);
            written += data.length;
            bytesDone += (r1 - r0) * layout.inRow;
            o.onProgress?.({ tensorIndex: index, tensorName: t.name, bytesDone });
          }
        }
      }
      await output.settle();
    } catch (e) {
      await output.settle().catch(() => undefined);
      throw e;
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

/** Chunks of whole units (heads where rows are permuted), about chunkBytes of source each. */
function rowsPerChunk(layout: SourceLayout, chunkBytes: number): number {
  return Math.max(layout.unit, Math.floor(chunkBytes / layout.inRow / layout.unit) * layout.unit);
}

/** Two output buffers taken in turn: a chunk is converted into one while the other is being written. Each chunk
 * sits at its file offset's phase in aligned memory, so that the writer sends it to the disk without a copy. */
class OutputChunks {
  private readonly buffers: Uint8Array[];
  private turn = 0;
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly writer: GgufFileWriter, plan: ConvertPlan, chunkBytes: number, alignedAlloc: AlignedAlloc | undefined) {
    let largest = 1;
    for (const t of plan.tensors) {
      for (const s of t.sources) {
        const layout = layoutOf(s);
        if (layout.nRows === 0 || layout.rowElems === 0) continue;
        largest = Math.max(largest, Math.min(layout.nRows, rowsPerChunk(layout, chunkBytes)) * rowBytes(t.type, layout.rowElems)!);
      }
    }
    this.buffers = [chunkMemory(alignedAlloc, largest), chunkMemory(alignedAlloc, largest)];
  }

  /** Room for the next chunk of `bytes`, byte `at` of tensor `index`: free once the write two chunks back is done. */
  next(index: number, at: number, bytes: number): Uint8Array {
    return chunkAt(this.buffers[this.turn++ % 2]!, this.writer.fileOffset(index, at), bytes);
  }

  /** Starts writing `data` once the previous write is done; a failure surfaces at the next write or at settle. */
  async write(data: Uint8Array): Promise<void> {
    await this.pending;
    const w = this.writer.write(data);
    w.catch(() => undefined);
    this.pending = w;
  }

  /** Waits for the last write, so that nothing writes into the file after this; throws its failure. */
  async settle(): Promise<void> {
    await this.pending;
  }
}
