/** Writes a planned conversion: each output tensor's sources are read by positional reads in chunks
 * of whole rows (source-rows.ts), converted off the JS thread, and written in order to a temporary file
 * renamed into place at the end. */
import { AbortError } from '../errors.js';
import { TensorDataReader } from '../gguf/reader.js';
import { GgufFileWriter } from '../gguf/writer.js';
import { directIoAlloc, type NativeAddon } from '../native.js';
import type { ConvertPlan, PlannedTensor, SourceTensor } from './convert-plan.js';
import { convertedRows, layoutOf } from './source-rows.js';

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
  let writer: GgufFileWriter | undefined;
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = (): void => { Atomics.store(cancel, 0, 1); };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let bytesDone = 0;
  try {
    throwIfAborted(o.signal);
    writer = await GgufFileWriter.createEncoded(path, meta, decls, undefined, { alignedAlloc: directIoAlloc(o.native) });
    for (const [index, t] of plan.tensors.entries()) {
      o.onProgress?.({ tensorIndex: index, tensorName: t.name, bytesDone });
      if (t.data) {
        await writer.write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
        continue;
      }
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
  const layout = layoutOf(s);
  if (layout.nRows === 0 || layout.rowElems === 0) return;
  // Chunks of whole units (heads where rows are permuted), about chunkBytes of source each.
  const rowsPerChunk = Math.max(layout.unit, Math.floor(o.chunkBytes / layout.inRow / layout.unit) * layout.unit);
  for (let r0 = 0; r0 < layout.nRows; r0 += rowsPerChunk) {
    throwIfAborted(o.signal);
    const r1 = Math.min(layout.nRows, r0 + rowsPerChunk);
    const { data, cancelled } = await convertedRows(reader, s, layout, r0, r1, t.type, { native: o.native, simd: o.simd, threads: o.threads, cancel });
    if (cancelled) throwIfAborted(o.signal);
    await writer.write(data);
    advance((r1 - r0) * layout.inRow);
  }
}
