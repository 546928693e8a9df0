/** A Hugging Face model folder as llama.cpp's converter sees it: config.json (the hparams), the
 * safetensors weights (one file, or shards listed by model.safetensors.index.json), and the tensors in
 * the converter's order: file after file, each file's tensors sorted by name. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { QuantNativeError } from '../errors.js';
import { inputError } from '../paths.js';
import { readSafetensors, type SafetensorsFile, type SafetensorsTensor } from './safetensors.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface HfFolder {
  dir: string;
  /** The folder's own name, from which the converter derives general.name and friends. */
  name: string;
  /** config.json with the converter's renames (text_config from llm_config, ...). */
  config: JsonObject;
  /** architectures[0] (or text_config's), as get_model_architecture picks it. */
  architecture: string;
  files: SafetensorsFile[];
  tensors: SafetensorsTensor[];
}

/** Python's sort order for str: by code point. */
export function byCodePoint(a: string, b: string): number {
  const x = [...a], y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i]!.codePointAt(0)! - y[i]!.codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** A JSON file of the folder, or undefined when it is not there. */
export async function readJsonFile(path: string, what: string): Promise<Json | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw inputError(cause, path, what);
  }
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    throw new QuantNativeError('E_HF_CONFIG', `${path} is not valid JSON (${(e as Error).message})`, { hint: `the ${what} is damaged; fetch it again` });
  }
}

export const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** load_hparams: config.json read directly, with the sub-config renames the converter applies. */
async function loadConfig(dir: string): Promise<JsonObject> {
  const path = join(dir, 'config.json');
  const config = await readJsonFile(path, 'model config');
  if (config === undefined) {
    throw new QuantNativeError('E_HF_CONFIG', `${dir} has no config.json`, { hint: 'a Hugging Face model folder holds config.json beside its *.safetensors files; download the whole repository' });
  }
  if (!isObject(config)) throw new QuantNativeError('E_HF_CONFIG', `${path} is not a JSON object`);
  for (const key of ['llm_config', 'lm_config', 'language_config', 'lfm']) {
    if (key in config) config['text_config'] = config[key]!;
  }
  const thinker = config['thinker_config'];
  if (isObject(thinker)) config['text_config'] = thinker['text_config'] ?? null;
  return config;
}

function architectureOf(config: JsonObject, dir: string): string {
  const text = config['text_config'];
  const fromText = isObject(text) && Array.isArray(text['architectures']) ? text['architectures'][0] : undefined;
  const top = Array.isArray(config['architectures']) ? config['architectures'][0] : undefined;
  const arch = fromText ?? top;
  if (typeof arch !== 'string') {
    throw new QuantNativeError('E_HF_CONFIG', `${join(dir, 'config.json')} names no architecture ("architectures": [...])`, { hint: 'this does not look like a transformers model folder' });
  }
  return arch;
}

/** get_model_part_names: model*.safetensors, sorted; the index's shards when there is one. */
async function partNames(dir: string): Promise<{ parts: string[]; indexed: Set<string> | undefined; weightMap: Record<string, string> }> {
  const names = await readdir(dir);
  const index = await readJsonFile(join(dir, 'model.safetensors.index.json'), 'weight index');
  if (index !== undefined) {
    const map = isObject(index) ? index['weight_map'] : undefined;
    if (!isObject(map) || !Object.values(map).every((v) => typeof v === 'string')) {
      throw new QuantNativeError('E_HF_CONFIG', `${join(dir, 'model.safetensors.index.json')} has no weight_map of tensor names to files`);
    }
    const weightMap = map as Record<string, string>;
    return { parts: [...new Set(Object.values(weightMap))].sort(byCodePoint), indexed: new Set(Object.keys(weightMap)), weightMap };
  }
  const parts = names.filter((n) => n.startsWith('model') && n.endsWith('.safetensors')).sort(byCodePoint);
  if (parts.length === 0) {
    const other = names.find((n) => n.endsWith('.bin') || n.endsWith('.pt') || n.endsWith('.pth') || n === 'consolidated.safetensors' || n.endsWith('.gguf'));
    throw new QuantNativeError('E_HF_WEIGHTS', `${dir} holds no model*.safetensors weights${other ? ` (it has ${other})` : ''}`, {
      hint: other?.endsWith('.gguf') ? `pass the GGUF file itself: ${join(dir, other)}` : 'quant-native reads safetensors weights; PyTorch .bin checkpoints need llama.cpp\'s convert_hf_to_gguf.py',
    });
  }
  return { parts, indexed: undefined, weightMap: {} };
}

/** Opens a model folder: config, weights and the tensor order, every header validated. */
export async function openHfFolder(path: string): Promise<HfFolder> {
  const dir = resolve(path);
  const s = await stat(dir).catch((cause: unknown) => { throw inputError(cause, path, 'model folder'); });
  if (!s.isDirectory()) throw new QuantNativeError('E_HF_CONFIG', `${path} is not a folder`);
  const config = await loadConfig(dir);
  const architecture = architectureOf(config, dir);
  const { parts, indexed, weightMap } = await partNames(dir);
  const files: SafetensorsFile[] = [];
  for (const [i, part] of parts.entries()) {
    const file = join(dir, part);
    if (indexed && !(await stat(file).then((x) => x.isFile(), () => false))) {
      const missing = [...indexed].filter((n) => weightMap[n] === part);
      throw new QuantNativeError('E_HF_SHARD', `${part}, listed in model.safetensors.index.json with ${missing.length} tensor(s), is missing from ${dir}`, {
        hint: 'an incomplete download? Fetch every model-*.safetensors shard of the repository',
      });
    }
    files.push(await readSafetensors(file, i));
  }
  const tensors: SafetensorsTensor[] = [];
  const where = new Map<string, string>();
  for (const f of files) {
    for (const t of [...f.tensors].sort((a, b) => byCodePoint(a.name, b.name))) {
      const first = where.get(t.name);
      if (first !== undefined) {
        throw new QuantNativeError('E_ST_DUPLICATE', `tensor ${t.name} is in both ${first} and ${basename(f.path)}`, { hint: 'the shards do not belong together; fetch the repository again' });
      }
      where.set(t.name, basename(f.path));
      tensors.push(t);
    }
  }
  if (indexed) {
    const missing = [...indexed].filter((n) => !where.has(n));
    const extra = [...where.keys()].filter((n) => !indexed.has(n));
    if (missing.length > 0 || extra.length > 0) {
      throw new QuantNativeError('E_HF_SHARD', `model.safetensors.index.json and the shards disagree: ${missing.length} tensor(s) missing (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', ...' : ''}), ${extra.length} not listed`, {
        hint: 'an incomplete or mixed download? Fetch the repository again',
      });
    }
  }
  return { dir, name: basename(dir), config, architecture, files, tensors };
}
