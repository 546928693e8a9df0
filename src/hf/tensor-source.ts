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
import { permuteRows } from './convert-engine.js';
import type { ConvertPlan, PlannedTensor } from './convert-plan.js';

/** Whether a path is a model folder (a folder with a config.json) rather than a GGUF file. */
export async function isModelFolder(path: string): Promise<boolean> {
  const s = await stat(path).catch(() => undefined);
  return s?.isDirectory() === true && (await stat(join(path, 'config.json')).then((c) => c.isFile(), () => false));
}

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
    let base = 0;
    for (const s of t.sources) {
      const src = s.tensor;
      const elements = src.shape.reduce((a, b) => a * b, 1);
      const nRows = src.shape.length >= 2 ? src.shape[0]! : elements;
      const rowElems = elements / nRows;
      const outRow = rowBytes(t.type, rowElems)!;
      const first = Math.max(start, base), last = Math.min(start + length, base + nRows * outRow);
      if (first < last) {
        // Source rows covering [first, last), widened to whole heads where rows are permuted.
        const unit = s.permuteHeads !== undefined ? nRows / s.permuteHeads : 1;
        const a = Math.floor((first - base) / outRow), b = Math.ceil((last - base) / outRow);
        const ua = Math.floor(a / unit) * unit, ub = Math.ceil(b / unit) * unit;
        const inRow = src.nbytes / nRows;
        const raw = Buffer.allocUnsafe((ub - ua) * inRow);
        const info: GgufTensorInfo = { name: src.name, dims: [...src.shape].reverse(), type: src.ggmlType!, offset: 0, nbytes: src.nbytes, fileIndex: src.fileIndex, dataStart: src.dataStart };
        await this.reader.read(info, ua * inRow, raw.length, raw);
        let rows: Uint8Array = raw;
        if (s.permuteHeads !== undefined) {
          rows = Buffer.allocUnsafe(raw.length);
          permuteRows(raw, rows, ub - ua, inRow, unit);
        }
        if (src.ggmlType !== t.type) {
          const out = Buffer.allocUnsafe((ub - ua) * outRow);
          await this.native.quantizeAsync({ srcType: src.ggmlType!, dstType: t.type, nrows: ub - ua, nPerRow: rowElems, src: rows, dst: out, simd: this.simd, threads: this.threads, validate: false });
          rows = out;
        }
        const from = first - base - ua * outRow;
        into.set(rows.subarray(from, from + (last - first)), first - start);
      }
      base += nRows * outRow;
    }
  }

  close(): Promise<void> {
    return this.reader.close();
  }
}
