/** Generated inputs for whole-file tests: importance matrices in both formats and split models. */
import { writeFileSync } from 'node:fs';
import { GgmlType } from '../../src/ggml-types.js';
import { GgufValueType, type GgufKv } from '../../src/gguf/format.js';
import { kvValue, splitPath } from '../../src/gguf/model.js';
import { TensorDataReader, readGguf } from '../../src/gguf/reader.js';
import { GgufFileWriter, type TensorDecl } from '../../src/gguf/writer.js';
import { Rng } from './data.js';

export interface RawImatrixEntry {
  name: string;
  /** Raw sums of squared activations, n_mat * ne0. */
  sums: Float32Array;
  /** Token counts per matrix. */
  counts: number[];
}

/** Plausible activation statistics for every quantizable 2-D/3-D weight of a model, with zeros. */
export async function makeImatrixEntries(modelPath: string, seed: number): Promise<RawImatrixEntry[]> {
  const f = await readGguf(modelPath);
  const rng = new Rng(seed);
  return f.tensors
    .filter((t) => t.dims.length >= 2 && t.name.endsWith('.weight') && !t.name.includes('norm') && !t.name.includes('ffn_gate_inp'))
    .map((t) => {
      const ne0 = t.dims[0]!;
      const nMat = t.dims[2] ?? 1;
      const counts = Array.from({ length: nMat }, (_, j) => (j === 1 ? 0 : 512 + rng.int(512)));
      const sums = Float32Array.from({ length: ne0 * nMat }, (_, i) => (i % 29 === 5 ? 0 : counts[Math.floor(i / ne0)]! * rng.next() * rng.next() * 4));
      return { name: t.name, sums, counts };
    })
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** llama-imatrix's legacy .dat: values stored as (sum / count) * ncall, plus the trailer. Returns
 * the values llama-quantize derives from the file (stored / ncall), for the oracle. */
export function writeLegacyImatrix(path: string, entries: readonly RawImatrixEntry[], chunks: number, dataset: string): Map<string, Float32Array> {
  const loaded = new Map<string, Float32Array>();
  const parts: Buffer[] = [];
  const i32 = (v: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; };
  parts.push(i32(entries.length));
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const ncall = 3;
    parts.push(i32(name.length), name, i32(ncall), i32(e.sums.length));
    const ne0 = e.sums.length / e.counts.length;
    const vals = Float32Array.from(e.sums, (s, i) => Math.fround(Math.fround(s / Math.max(1, e.counts[Math.floor(i / ne0)]!)) * ncall));
    parts.push(Buffer.from(vals.buffer));
    loaded.set(e.name, Float32Array.from(vals, (v) => Math.fround(v / ncall)));
  }
  const ds = Buffer.from(dataset);
  parts.push(i32(chunks), i32(ds.length), ds);
  writeFileSync(path, Buffer.concat(parts));
  return loaded;
}

/** llama-imatrix's GGUF output: <name>.in_sum2 [ne0, n_mat] and <name>.counts [1, n_mat]. */
export async function writeGgufImatrix(path: string, entries: readonly RawImatrixEntry[], chunks: number, datasets: string[]): Promise<void> {
  const kvs: GgufKv[] = [
    { key: 'general.type', type: GgufValueType.STRING, value: 'imatrix' },
    { key: 'imatrix.datasets', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items: datasets } },
    { key: 'imatrix.chunk_count', type: GgufValueType.UINT32, value: chunks },
    { key: 'imatrix.chunk_size', type: GgufValueType.UINT32, value: 512 },
  ];
  const decls: TensorDecl[] = [];
  const data: Float32Array[] = [];
  for (const e of entries) {
    const nMat = e.counts.length;
    const ne0 = e.sums.length / nMat;
    decls.push({ name: `${e.name}.in_sum2`, dims: nMat > 1 ? [ne0, nMat] : [ne0, 1], type: GgmlType.F32, nbytes: e.sums.length * 4 });
    data.push(e.sums);
    decls.push({ name: `${e.name}.counts`, dims: [1, nMat], type: GgmlType.F32, nbytes: nMat * 4 });
    data.push(Float32Array.from(e.counts));
  }
  const w = await GgufFileWriter.create(path, kvs, decls);
  for (const d of data) await w.write(new Uint8Array(d.buffer));
  await w.finish();
}

/** Splits a model into `n` shards as gguf-split does (metadata in the first, split.* in all). */
export async function splitModel(src: string, prefix: string, n: number): Promise<string[]> {
  const f = await readGguf(src);
  const per = Math.ceil(f.tensors.length / n);
  const reader = await TensorDataReader.open([src]);
  const paths: string[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const own = f.tensors.slice(i * per, (i + 1) * per);
      const split: GgufKv[] = [
        { key: 'split.no', type: GgufValueType.UINT16, value: i },
        { key: 'split.count', type: GgufValueType.UINT16, value: n },
        { key: 'split.tensors.count', type: GgufValueType.INT32, value: f.tensors.length },
      ];
      const kvs = i === 0 ? [...f.kvs.filter((kv) => kvValue(split, kv.key) === undefined), ...split] : split;
      const p = splitPath(prefix, i, n);
      const w = await GgufFileWriter.create(p, kvs, own.map((t) => ({ name: t.name, dims: t.dims, type: t.type, nbytes: t.nbytes })));
      for (const t of own) {
        const b = Buffer.alloc(t.nbytes);
        await reader.read(t, 0, t.nbytes, b);
        await w.write(b);
      }
      await w.finish();
      paths.push(p);
    }
  } finally {
    await reader.close();
  }
  return paths;
}

/** llama-quantize's view of a GGUF imatrix's values, for the oracle: sums / counts (or 1). */
export function ggufImatrixValues(entries: readonly RawImatrixEntry[]): Map<string, Float32Array> {
  return new Map(entries.map((e) => {
    const ne0 = e.sums.length / e.counts.length;
    return [e.name, Float32Array.from(e.sums, (s, i) => {
      const c = e.counts[Math.floor(i / ne0)]!;
      return c > 0 ? Math.fround(s / c) : 1;
    })];
  }));
}
