/** A Hugging Face folder seen as the GGUF file the converter would write from it, without writing it:
 * its metadata and tensor list, and reads of any row range of a tensor's converted data (source rows
 * read by position, q/k rows permuted by whole heads, converted to the output type off the JS thread).
 * The quantize pipeline reads from it as from a GGUF file, so one pass gives the bytes of
 * convert_hf_to_gguf.py followed by llama-quantize. */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { rowBytes } from '../ggml-types.js';
import { GGUF_DEFAULT_ALIGNMENT, type GgufTensorInfo } from '../gguf/format.js';
import type { GgufModel } from '../gguf/model.js';
import type { TensorSource } from '../engine/pipeline.js';
import { TensorDataReader } from '../gguf/reader.js';
import { encodeGgufMeta } from '../gguf/writer.js';
import type { NativeAddon } from '../native.js';
import { convertedRows, layoutOf } from './source-rows.js';
import type { ConvertPlan, PlannedTensor } from './convert-plan.js';

/** The converted file's metadata and tensor infos, as a GgufModel. */
export function virtualModel(plan: ConvertPlan): GgufModel {
  const dataOffset = encodeGgufMeta(plan.kvs, plan.tensors).length;
  let offset = 0;
  const tensors = plan.tensors.map((t): GgufTensorInfo => {
    const info = { name: t.name, dims: t.dims, type: t.type, offset, nbytes: t.nbytes, fileIndex: 0, dataStart: dataOffset + offset };
    offset += Math.ceil(t.nbytes / GGUF_DEFAULT_ALIGNMENT) * GGUF_DEFAULT_ALIGNMENT;
    return info;
  });
  const file = { path: plan.folder.dir, version: 3, fileSize: dataOffset + offset, kvs: plan.kvs, tensors, alignment: GGUF_DEFAULT_ALIGNMENT, dataOffset };
  return { files: [file], kvs: plan.kvs, tensors };
}

export class HfTensorSource implements TensorSource {
  private readonly byName: Map<string, PlannedTensor>;

  private constructor(plan: ConvertPlan, private readonly reader: TensorDataReader, private readonly native: NativeAddon, private readonly simd: number, private readonly threads: number) {
    this.byName = new Map(plan.tensors.map((t) => [t.name, t]));
  }

  static async open(plan: ConvertPlan, native: NativeAddon, simd: number, threads: number): Promise<HfTensorSource> {
    return new HfTensorSource(plan, await TensorDataReader.open(plan.folder.files.map((f) => f.path)), native, simd, threads);
  }

  async read(tensor: GgufTensorInfo, start: number, length: number, into: Uint8Array): Promise<void> {
    const t = this.byName.get(tensor.name);
    if (!t) throw new RangeError(`no tensor ${tensor.name} in the conversion`);
    if (t.data) {
      into.set(new Uint8Array(t.data.buffer, t.data.byteOffset + start, length));
      return;
    }
    let base = 0;
    for (const s of t.sources) {
      const layout = layoutOf(s);
      const outRow = rowBytes(t.type, layout.rowElems)!;
      const first = Math.max(start, base), last = Math.min(start + length, base + layout.nRows * outRow);
      if (first < last) {
        // The source rows covering [first, last), widened to whole units.
        const a = Math.floor((first - base) / outRow), b = Math.ceil((last - base) / outRow);
        const ua = Math.floor(a / layout.unit) * layout.unit, ub = Math.min(layout.nRows, Math.ceil(b / layout.unit) * layout.unit);
        const c = { native: this.native, simd: this.simd, threads: this.threads };
        const from = first - base - ua * outRow;
        if (from === 0 && ub * outRow === last - base) {
          // The pipeline asks for whole rows and whole heads: write them straight into its buffer.
          await convertedRows(this.reader, s, layout, ua, ub, t.type, c, into.subarray(first - start, last - start));
        } else {
          const { data } = await convertedRows(this.reader, s, layout, ua, ub, t.type, c);
          into.set(data.subarray(from, from + (last - first)), first - start);
        }
      }
      base += layout.nRows * outRow;
    }
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}
