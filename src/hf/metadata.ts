/** The general.* metadata llama.cpp's converter derives (gguf-py's Metadata): the name, basename,
 * finetune, version and size label from the folder name, config.json's _name_or_path and the model
 * card; sampling defaults from generation_config.json. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GgufValueType } from '../gguf/format.js';
import { isObject, type Json, type JsonObject } from './folder.js';
import type { KvBuilder } from './kv-builder.js';
import { pyFormatFixed, pyIsAlpha, pyIsDecimal, pyIsLower, pyRound, pyTitle } from './python.js';

/** id_to_title: words title-cased unless they are acronyms or version numbers. */
export function idToTitle(s: string): string {
  return s.trim().replaceAll('-', ' ').split(/\s+/).filter(Boolean)
    .map((w) => (pyIsLower(w) && !/^(v\d+(?:\.\d+)*|\d.*)$/su.test(w) ? pyTitle(w) : w)).join(' ');
}

export interface ModelIdComponents {
  fullName: string | undefined;
  org: string | undefined;
  basename: string | undefined;
  finetune: string | undefined;
  version: string | undefined;
  sizeLabel: string | undefined;
}

type NameType = 'basename' | 'size_label' | 'finetune' | 'version' | 'type';

/** get_model_id_components. */
export function modelIdComponents(modelId: string | undefined, totalParams: number): ModelIdComponents {
  const none: ModelIdComponents = { fullName: undefined, org: undefined, basename: undefined, finetune: undefined, version: undefined, sizeLabel: undefined };
  if (modelId === undefined) return none;
  if (modelId.includes(' ')) return { ...none, fullName: modelId };
  let org: string | undefined;
  let full: string;
  const slash = modelId.indexOf('/');
  if (slash >= 0) {
    org = modelId.slice(0, slash);
    full = modelId.slice(slash + 1);
  } else {
    full = modelId;
  }
  if (org !== undefined && org.length > 0 && org[0] === '.') org = undefined;

  const parts = full.split('-').filter((p) => p.length > 0);
  const types: Set<NameType>[] = parts.map(() => new Set());
  for (let i = 0; i < parts.length; i++) {
    let part = parts[i]!;
    if (/^(v|iter)?\d+([.]\d+)*$/iu.test(part)) {
      types[i]!.add('version');
    } else if (/^(i?q\d(_[\p{L}\p{N}_])*|b?fp?(16|32))$/iu.test(part)) {
      types[i]!.add('type');
      parts[i] = part.toUpperCase();
    } else if (i > 0 && /^(([A]|\d+[x])?\d+([._]\d+)?[KMBT][\d]?|small|mini|medium|large|x?xl)$/iu.test(part)) {
      part = part.replaceAll('_', '.');
      // bloom-7b1 notation
      if (pyIsDecimal(part.at(-1)!)) part = `${part.slice(0, -2)}.${part.at(-1)!}${part.at(-2)!}`;
      if (part.length > 1 && pyIsDecimal(part.at(-2)!) && 'kmbt'.includes(part.at(-1)!)) part = part.slice(0, -1) + part.at(-1)!.toUpperCase();
      if (totalParams !== 0) {
        const value = Number(part.slice(0, -1));
        const scale = ' KMBT'.indexOf(part.at(-1)!);
        // Python's float() fails on such parts (and the label is then used as is); so does find() with -1.
        if (part.slice(0, -1).trim() !== '' && Number.isFinite(value)) {
          const labelParams = value * 1000 ** scale;
          if ((totalParams < 0 && labelParams < Math.floor(Math.abs(totalParams) / 8))
            || (totalParams > 0 && Math.abs(labelParams - totalParams) > Math.floor((7 * totalParams) / 8))) {
            types[i]!.add('finetune');
            part = part.slice(0, -1) + part.at(-1)!.toLowerCase();
          }
        }
      }
      if (types[i]!.size === 0) types[i]!.add('size_label');
      parts[i] = part;
    } else if (i > 0 && /^(chat|instruct|vision|lora)$/iu.test(part)) {
      if (totalParams < 0 && part.toLowerCase() === 'lora') types[i]!.add('type');
      else types[i]!.add('finetune');
    }
  }
  if (parts.some((p, i) => types[i]!.has('size_label') && [...p].some(pyIsDecimal))) {
    parts.forEach((p, i) => {
      if (types[i]!.has('size_label') && [...p].every(pyIsAlpha)) types[i]!.delete('size_label');
    });
  }
  let atStart = true;
  parts.forEach((p, i) => {
    const t = types[i]!;
    if (atStart && ((t.size === 0 && pyIsAlpha(p[0]!)) || t.has('version'))) {
      t.add('basename');
    } else {
      atStart = false;
      if (t.size === 0) t.add('finetune');
    }
  });
  for (let i = parts.length - 1; i >= 0; i--) {
    const t = types[i]!;
    if (t.has('basename') && t.size > 1) t.delete('basename');
    else break;
  }
  const join = (pick: (t: Set<NameType>) => boolean): string | undefined => parts.filter((_, i) => pick(types[i]!)).join('-') || undefined;
  let basename = join((t) => t.has('basename'));
  const sizeLabel = [...new Set(parts.filter((_, i) => types[i]!.has('size_label')))].join('-') || undefined;
  const finetune = join((t) => t.has('finetune'));
  const version = join((t) => t.has('version') && !t.has('basename'));
  if (sizeLabel === undefined && finetune === undefined && version === undefined) basename = undefined;
  return { fullName: full, org, basename, finetune, version, sizeLabel };
}

/** model_weight_count_rounded_notation. */
function roundedNotation(count: number, minDigits: number): string {
  let scaled: number, suffix: string;
  if (count > 1e12) [scaled, suffix] = [count * 1e-12, 'T'];
  else if (count > 1e9) [scaled, suffix] = [count * 1e-9, 'B'];
  else if (count > 1e6) [scaled, suffix] = [count * 1e-6, 'M'];
  else [scaled, suffix] = [count * 1e-3, 'K'];
  const fix = Math.max(minDigits - String(pyRound(scaled)).replace(/^0+/, '').length, 0);
  return `${pyFormatFixed(scaled, fix)}${suffix}`;
}

/** gguf.size_label. */
export function sizeLabel(total: number, shared: number, expert: number, expertCount: number): string {
  return expertCount > 0 ? `${expertCount}x${roundedNotation(Math.abs(shared) + Math.abs(expert), 2)}` : roundedNotation(Math.abs(total), 2);
}

export interface ParameterCounts {
  total: number;
  shared: number;
  expert: number;
  expertCount: number;
}

/** GGUFWriter.get_total_parameter_count over the output tensors (GGUF names, numpy shapes). */
export function countParameters(tensors: ReadonlyArray<{ name: string; shape: readonly number[] }>): ParameterCounts {
  let total = 0, shared = 0, expert = 0, expertSum = 0, expertTensors = 0;
  for (const { name, shape } of tensors) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (name.includes('_exps.') && shape.length >= 3) {
      const count = shape.at(name.includes('.bias') ? -2 : -3)!;
      expert += Math.floor(size / count);
      expertSum += count;
      expertTensors++;
    } else {
      shared += size;
    }
    total += size;
  }
  return { total, shared, expert, expertCount: expertTensors > 0 ? Math.floor(expertSum / expertTensors) : 0 };
}

interface Metadata {
  name?: string; author?: string; version?: string; organization?: string; finetune?: string; basename?: string;
  description?: string; sizeLabel?: string; license?: Json; licenseName?: string; licenseLink?: string;
  sourceUrl?: string; sourceDoi?: string; sourceUuid?: string; sourceRepoUrl?: string;
  baseModels?: JsonObject[]; datasets?: JsonObject[]; tags?: Json[]; languages?: Json[];
}

const SAMPLING: ReadonlyArray<[string, string, GgufValueType]> = [
  ['sequence', 'sequence', GgufValueType.STRING], ['top_k', 'top_k', GgufValueType.INT32], ['top_p', 'top_p', GgufValueType.FLOAT32],
  ['min_p', 'min_p', GgufValueType.FLOAT32], ['xtc_probability', 'xtc_probability', GgufValueType.FLOAT32],
  ['xtc_threshold', 'xtc_threshold', GgufValueType.FLOAT32], ['temperature', 'temp', GgufValueType.FLOAT32],
  ['penalty_last_n', 'penalty_last_n', GgufValueType.INT32], ['penalty_repeat', 'penalty_repeat', GgufValueType.FLOAT32],
  ['mirostat', 'mirostat', GgufValueType.INT32], ['mirostat_tau', 'mirostat_tau', GgufValueType.FLOAT32],
  ['mirostat_eta', 'mirostat_eta', GgufValueType.FLOAT32],
];

/** Metadata.load then set_gguf_meta_model: the general.* keys in the converter's order. `card` is the
 * model card's YAML front matter, when there is one. */
export function addGeneralMetadata(
  kv: KvBuilder, folderName: string, config: JsonObject, generation: JsonObject | undefined, card: JsonObject | undefined, counts: ParameterCounts,
): void {
  const m: Metadata = {};
  const total = counts.total;
  const str = (v: Json | undefined): string | undefined => (v === undefined || v === null ? undefined : typeof v === 'string' ? v : JSON.stringify(v));
  if (card) {
    const use = (key: keyof Metadata, cardKey: string): void => {
      if (cardKey in card && m[key] === undefined) (m as Record<string, unknown>)[key] = card[cardKey];
    };
    use('name', 'name'); use('author', 'author'); use('version', 'version'); use('organization', 'organization');
    use('description', 'description'); use('finetune', 'finetune'); use('basename', 'basename'); use('sizeLabel', 'size_label');
    use('sourceUrl', 'url'); use('sourceDoi', 'doi'); use('sourceUuid', 'uuid'); use('sourceRepoUrl', 'repo_url');
    use('name', 'model_name'); use('author', 'model_author'); use('version', 'model_version'); use('organization', 'model_organization');
    use('description', 'model_description'); use('finetune', 'model_finetune'); use('basename', 'model_basename');
    use('sizeLabel', 'model_size_label'); use('sourceUrl', 'model_url'); use('sourceDoi', 'model_doi'); use('sourceUuid', 'model_uuid');
    use('sourceRepoUrl', 'model_repo_url'); use('name', 'model_name'); use('author', 'model_creator'); use('basename', 'model_type');
    const related = (value: Json | undefined): JsonObject[] => {
      const ids = value === undefined || value === null ? [] : typeof value === 'string' ? [value] : Array.isArray(value) ? value : [];
      return ids.map((id) => {
        if (isObject(id)) return id;
        if (typeof id !== 'string') return {};
        const entry: JsonObject = {};
        let hfId: string | undefined;
        if (/^(https?|ssh):\/\//.test(id)) {
          entry['repo_url'] = id;
          if (id.includes('huggingface.co')) hfId = /^https?:\/\/huggingface\.co\/([^/]+\/[^/]+)$/.exec(id)?.[1];
        } else {
          hfId = id;
        }
        if (hfId !== undefined) {
          const c = modelIdComponents(hfId, total);
          if (c.fullName !== undefined) entry['name'] = idToTitle(c.fullName);
          if (c.org !== undefined) entry['organization'] = idToTitle(c.org);
          if (c.version !== undefined) entry['version'] = c.version;
          if (!/^(https?|ssh):\/\//.test(id) && c.org !== undefined && c.fullName !== undefined) entry['repo_url'] = `https://huggingface.co/${c.org}/${c.fullName}`;
        }
        return entry;
      });
    };
    if ('base_model' in card || 'base_models' in card || 'base_model_sources' in card) {
      m.baseModels = [...(m.baseModels ?? []), ...related(card['base_model'] ?? card['base_models'] ?? card['base_model_sources'])];
    }
    if ('datasets' in card || 'dataset' in card || 'dataset_sources' in card) {
      m.datasets = [...(m.datasets ?? []), ...related(card['datasets'] ?? card['dataset'] ?? card['dataset_sources'])];
    }
    use('license', 'license'); use('licenseName', 'license_name'); use('licenseLink', 'license_link');
    const append = (key: 'tags' | 'languages', cardKey: string): void => {
      const v = card[cardKey];
      if (v === undefined || v === null) return;
      const current = m[key] ?? [];
      if (typeof v === 'string') current.push(v);
      else if (Array.isArray(v)) current.push(...v);
      m[key] = current;
    };
    append('tags', 'tags'); append('tags', 'pipeline_tag'); append('languages', 'languages'); append('languages', 'language');
  }
  const fill = (c: ModelIdComponents): void => {
    if (m.name === undefined && c.fullName !== undefined) m.name = idToTitle(c.fullName);
    if (m.organization === undefined && c.org !== undefined) m.organization = idToTitle(c.org);
    m.basename ??= c.basename;
    m.finetune ??= c.finetune;
    m.version ??= c.version;
    m.sizeLabel ??= c.sizeLabel;
  };
  const nameOrPath = config['_name_or_path'];
  if (typeof nameOrPath === 'string' && nameOrPath.split('/').length - 1 <= 1) fill(modelIdComponents(nameOrPath, total));
  fill(modelIdComponents(folderName, total));
  m.name ??= folderName;
  if (m.sizeLabel === undefined && total > 0) m.sizeLabel = sizeLabel(counts.total, counts.shared, counts.expert, counts.expertCount);

  for (const [genKey, name, type] of SAMPLING) {
    let v = generation?.[genKey];
    if (genKey === 'penalty_repeat') v = generation?.['penalty_repeat'] ?? generation?.['repetition_penalty'];
    if (v === undefined || v === null) continue;
    if (type === GgufValueType.STRING) kv.string(`general.sampling.${name}`, String(v));
    else if (typeof v === 'number' || typeof v === 'boolean') kv.set(`general.sampling.${name}`, type, Number(v));
  }
  kv.string('general.name', str(m.name)!);
  const optional: ReadonlyArray<[string, string | undefined]> = [
    ['general.author', str(m.author)], ['general.version', str(m.version)], ['general.organization', str(m.organization)],
    ['general.finetune', str(m.finetune)], ['general.basename', str(m.basename)], ['general.description', str(m.description)],
    ['general.size_label', str(m.sizeLabel)],
    ['general.license', m.license === undefined || m.license === null ? undefined : Array.isArray(m.license) ? m.license.join(',') : str(m.license)],
    ['general.license.name', str(m.licenseName)], ['general.license.link', str(m.licenseLink)],
    ['general.source.url', str(m.sourceUrl)], ['general.source.doi', str(m.sourceDoi)], ['general.source.uuid', str(m.sourceUuid)],
    ['general.source.repo_url', str(m.sourceRepoUrl)],
  ];
  for (const [key, value] of optional) if (value !== undefined) kv.string(key, value);
  const entries = (prefix: string, list: JsonObject[] | undefined): void => {
    if (list === undefined) return;
    kv.u32(`general.${prefix}.count`, list.length);
    list.forEach((e, i) => {
      for (const field of ['name', 'author', 'version', 'organization', 'description', 'url', 'doi', 'uuid', 'repo_url']) {
        if (field in e) kv.string(`general.${prefix}.${i}.${field}`, str(e[field])!);
      }
    });
  };
  entries('base_model', m.baseModels);
  entries('dataset', m.datasets);
  if (m.tags !== undefined) kv.array('general.tags', { elementType: GgufValueType.STRING, items: m.tags.map((t) => str(t)!) });
  if (m.languages !== undefined) kv.array('general.languages', { elementType: GgufValueType.STRING, items: m.languages.map((t) => str(t)!) });
}

/** Metadata.load_model_card: the YAML front matter of README.md, read as PyYAML's safe_load reads it
 * (YAML 1.1), with the converter's two fixes (the Norway problem, tabs); undefined when there is none. */
export async function loadModelCard(dir: string): Promise<JsonObject | undefined> {
  const text = await readFile(join(dir, 'README.md'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // str.splitlines(): every line boundary Python knows; no empty last line.
  const lines = text.split(/\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]/);
  if (lines.at(-1) === '') lines.pop();
  if (lines.length === 0 || lines[0] !== '---') return undefined;
  const body: string[] = [];
  for (const line of lines.slice(1)) {
    if (line === '---') break;
    body.push(line);
  }
  const source = `${body.join('\n')}\n`.replaceAll('- no\n', '- "no"\n').replaceAll('\t', '  ');
  let data: unknown;
  // Loaded here, not at start-up: only a conversion with a model card needs the YAML parser (27 ms to load).
  const { parse: parseYaml } = await import('yaml');
  try {
    data = parseYaml(source, { version: '1.1' });
  } catch {
    // The converter would stop on a model card it cannot parse; a broken card should not stop a conversion here.
    return undefined;
  }
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as JsonObject) : undefined;
}
