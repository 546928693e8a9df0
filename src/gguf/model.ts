/** A model as one or more GGUF files: split models (`*-00001-of-0000N.gguf` with `split.*` keys)
 * are read as one tensor list, each tensor remembering its file. */
import { GgufError } from '../errors.js';
import { GgufValueType, type GgufKv, type GgufTensorInfo, type GgufValue } from './format.js';
import { readGguf, type GgufFile } from './reader.js';

export interface GgufModel {
  /** The files in shard order (one for an unsplit model). */
  readonly files: readonly GgufFile[];
  /** Metadata of the first file. */
  readonly kvs: readonly GgufKv[];
  /** All tensors, in file order across shards. */
  readonly tensors: readonly GgufTensorInfo[];
}

const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

/** The shard path llama.cpp uses: `<prefix>-%05d-of-%05d.gguf`, 1-based. */
export function splitPath(prefix: string, index: number, count: number): string {
  return `${prefix}-${String(index + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.gguf`;
}

export function kvValue(kvs: readonly GgufKv[], key: string): GgufValue | undefined {
  return kvs.find((kv) => kv.key === key)?.value;
}

function kvNumber(file: GgufFile, key: string): number | undefined {
  const v = kvInteger(file.kvs, key);
  if (v === undefined && kvValue(file.kvs, key) !== undefined) {
    throw new GgufError('E_GGUF_SPLIT', `${file.path}: ${key} must be an integer`, { file: file.path });
  }
  return v;
}

export async function openModel(path: string): Promise<GgufModel> {
  const first = await readGguf(path, { fileIndex: 0 });
  const count = kvNumber(first, 'split.count') ?? 1;
  if (count <= 1) return { files: [first], kvs: first.kvs, tensors: first.tensors };

  if ((kvNumber(first, 'split.no') ?? 0) !== 0) {
    throw new GgufError('E_GGUF_SPLIT', `${path} is shard ${kvNumber(first, 'split.no')! + 1} of a split model, not the first`, {
      file: path, hint: 'pass the -00001-of-NNNNN.gguf file',
    });
  }
  const m = SPLIT_NAME.exec(path);
  if (!m) {
    throw new GgufError('E_GGUF_SPLIT', `${path} declares ${count} shards but its name does not end in -00001-of-${String(count).padStart(5, '0')}.gguf`, { file: path });
  }
  const files: GgufFile[] = [first];
  for (let i = 1; i < count; i++) {
    const p = splitPath(m[1]!, i, count);
    const f = await readGguf(p, { fileIndex: i }).catch((e: unknown) => {
      throw e instanceof GgufError ? e : new GgufError('E_GGUF_SPLIT', `missing shard ${p}`, { file: p, cause: e });
    });
    if ((kvNumber(f, 'split.no') ?? -1) !== i) throw new GgufError('E_GGUF_SPLIT', `${p} should be shard ${i + 1} (split.no = ${i})`, { file: p });
    files.push(f);
  }
  const tensors = files.flatMap((f) => f.tensors);
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name)) throw new GgufError('E_GGUF_DUPLICATE', `tensor ${t.name} appears in more than one shard`, { file: path });
    seen.add(t.name);
  }
  const declared = kvNumber(first, 'split.tensors.count');
  if (declared !== undefined && declared !== tensors.length) {
    throw new GgufError('E_GGUF_SPLIT', `split.tensors.count says ${declared} tensors, the shards hold ${tensors.length}`, { file: path });
  }
  return { files, kvs: first.kvs, tensors };
}

export function kvString(kvs: readonly GgufKv[], key: string): string | undefined {
  const v = kvValue(kvs, key);
  return typeof v === 'string' ? v : undefined;
}

export function kvInteger(kvs: readonly GgufKv[], key: string): number | undefined {
  const kv = kvs.find((k) => k.key === key);
  if (!kv) return undefined;
  if (typeof kv.value === 'number' && kv.type !== GgufValueType.FLOAT32 && kv.type !== GgufValueType.FLOAT64) return kv.value;
  if (typeof kv.value === 'bigint') return Number(kv.value);
  return undefined;
}
