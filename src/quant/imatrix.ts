/** Importance-matrix files, as llama-quantize loads them: GGUF (`<name>.in_sum2` / `<name>.counts`
 * tensors) or the legacy `.dat` format. Values are normalised exactly as llama.cpp does. */
import { readFile } from 'node:fs/promises';
import { QuantNativeError } from '../errors.js';
import { GgmlType } from '../ggml-types.js';
import { GgufValueType } from '../gguf/format.js';
import { kvValue } from '../gguf/model.js';
import { readGguf, TensorDataReader, type GgufFile } from '../gguf/reader.js';
import { inputError } from '../paths.js';

export interface Imatrix {
  /** Per weight name: ne0 * n_matrices importance values. */
  readonly entries: Map<string, Float32Array>;
  readonly datasets: readonly string[];
  /** Chunks the imatrix was computed on (0 when unknown). */
  readonly chunkCount: number;
  readonly format: 'gguf' | 'legacy';
}

function imatrixError(path: string, message: string): QuantNativeError {
  return new QuantNativeError('E_IMATRIX', `${path}: ${message}`, {
    hint: 'make an importance matrix with llama.cpp\'s llama-imatrix (GGUF or legacy .dat output)',
  });
}

async function loadGgufImatrix(path: string, f: GgufFile): Promise<Imatrix> {
  if (f.tensors.length < 1) throw imatrixError(path, 'no data in the file');
  const datasetsKv = f.kvs.find((kv) => kv.key === 'imatrix.datasets');
  const chunkCount = kvValue(f.kvs, 'imatrix.chunk_count');
  if (!datasetsKv || chunkCount === undefined || kvValue(f.kvs, 'imatrix.chunk_size') === undefined) {
    throw imatrixError(path, 'missing imatrix metadata (imatrix.datasets, imatrix.chunk_count, imatrix.chunk_size)');
  }
  const datasets: string[] = [];
  const dv = datasetsKv.value;
  if (datasetsKv.type === GgufValueType.ARRAY && typeof dv === 'object' && dv.elementType === GgufValueType.STRING) {
    datasets.push(...(dv.items as string[]));
  }
  const pairs = new Map<string, { sums?: (typeof f.tensors)[number]; counts?: (typeof f.tensors)[number] }>();
  for (const t of f.tensors) {
    if (t.name.endsWith('.in_sum2')) {
      const name = t.name.slice(0, -'.in_sum2'.length);
      pairs.set(name, { ...pairs.get(name), sums: t });
    } else if (t.name.endsWith('.counts')) {
      const name = t.name.slice(0, -'.counts'.length);
      pairs.set(name, { ...pairs.get(name), counts: t });
    }
  }
  const entries = new Map<string, Float32Array>();
  const reader = await TensorDataReader.open([path]);
  try {
    for (const [name, { sums, counts }] of [...pairs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (!sums || !counts) throw imatrixError(path, `mismatched sums and counts for ${name}`);
      if (sums.type !== GgmlType.F32 || counts.type !== GgmlType.F32) throw imatrixError(path, `sums and counts for ${name} must be F32`);
      const s = new Float32Array(sums.nbytes / 4);
      const c = new Float32Array(counts.nbytes / 4);
      await reader.read(sums, 0, sums.nbytes, new Uint8Array(s.buffer));
      await reader.read(counts, 0, counts.nbytes, new Uint8Array(c.buffer));
      const ne0 = Math.trunc(s.length / c.length);
      const e = new Float32Array(s.length);
      for (let j = 0; j < c.length; j++) {
        // lround of the stored count, then float division, as llama.cpp does.
        const count = Math.fround(Math.sign(c[j]!) * Math.round(Math.abs(c[j]!)));
        for (let i = 0; i < ne0; i++) e[j * ne0 + i] = count > 0 ? Math.fround(s[j * ne0 + i]! / count) : 1;
      }
      entries.set(name, e);
    }
  } finally {
    await reader.close();
  }
  return { entries, datasets, chunkCount: typeof chunkCount === 'number' ? chunkCount : Number(chunkCount), format: 'gguf' };
}

function loadLegacyImatrix(path: string, b: Buffer): Imatrix {
  let pos = 0;
  const need = (n: number, what: string): void => {
    if (pos + n > b.length) throw imatrixError(path, `file ends while reading ${what}`);
  };
  const i32 = (what: string): number => {
    need(4, what);
    const v = b.readInt32LE(pos);
    pos += 4;
    return v;
  };
  const nEntries = b.length >= 4 ? b.readInt32LE(0) : 0;
  pos = 4;
  if (nEntries < 1) throw imatrixError(path, 'no data in the file (neither GGUF nor a legacy imatrix)');
  const entries = new Map<string, Float32Array>();
  for (let i = 0; i < nEntries; i++) {
    const len = i32(`the name length of entry ${i + 1}`);
    if (len < 0) throw imatrixError(path, `entry ${i + 1} has a negative name length`);
    need(len, `the name of entry ${i + 1}`);
    const raw = b.subarray(pos, pos + len);
    const nul = raw.indexOf(0);
    const name = raw.subarray(0, nul < 0 ? len : nul).toString('utf8');
    pos += len;
    const ncall = i32(`the call count of ${name}`);
    const nval = i32(`the value count of ${name}`);
    if (nval < 1) throw imatrixError(path, `entry ${name} has ${nval} values`);
    need(nval * 4, `the values of ${name}`);
    const e = new Float32Array(nval);
    for (let k = 0; k < nval; k++) {
      const stored = b.readFloatLE(pos + 4 * k);
      e[k] = ncall > 0 ? Math.fround(stored / ncall) : stored;
    }
    pos += nval * 4;
    entries.set(name, e);
  }
  let chunkCount = 0;
  const datasets: string[] = [];
  if (pos + 4 <= b.length) {
    chunkCount = b.readInt32LE(pos);
    pos += 4;
    if (pos + 4 <= b.length) {
      const len = b.readInt32LE(pos);
      pos += 4;
      if (len > 0 && pos + len <= b.length) {
        const raw = b.subarray(pos, pos + len);
        const nul = raw.indexOf(0);
        datasets.push(raw.subarray(0, nul < 0 ? len : nul).toString('utf8'));
      }
    }
  }
  return { entries, datasets, chunkCount, format: 'legacy' };
}

/** Loads an imatrix file: GGUF when it parses as GGUF, otherwise the legacy format. */
export async function loadImatrix(path: string): Promise<Imatrix> {
  const gguf = await readGguf(path).catch(() => undefined);
  let im: Imatrix;
  if (gguf) {
    im = await loadGgufImatrix(path, gguf);
  } else {
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw inputError(cause, path, 'importance matrix');
    }
    im = loadLegacyImatrix(path, bytes);
  }
  for (const [name, values] of im.entries) {
    if (!values.every(Number.isFinite)) throw imatrixError(path, `entry ${name} contains a non-finite value`);
  }
  return im;
}

/** --include-weights / --exclude-weights: substring filters, applied before counting entries. */
export function filterImatrix(im: Imatrix, include: readonly string[], exclude: readonly string[]): Imatrix {
  let names = [...im.entries.keys()];
  if (exclude.length > 0) names = names.filter((n) => !exclude.some((x) => n.includes(x)));
  if (include.length > 0) names = names.filter((n) => include.some((x) => n.includes(x)));
  return { ...im, entries: new Map(names.map((n) => [n, im.entries.get(n)!])) };
}
