/** gguf-py's SpecialVocab: merges, special token ids, add_*_token flags, the chat template and the
 * normalizer flags, read from tokenizer.json, tokenizer_config.json, chat_template.* and config.json
 * with the same precedence, and added to the metadata in the same order. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GgufValueType } from '../gguf/format.js';
import { byCodePoint, isObject, readJsonFile, type Json, type JsonObject } from './folder.js';
import type { KvBuilder } from './kv-builder.js';
import { pyTruthy } from './python.js';

const DEFAULT_TYPES = ['bos', 'eos', 'unk', 'sep', 'pad', 'cls', 'mask'];

/** The GGUF key of each special token type gguf-py has a writer for (cls has none: it is skipped). */
const ID_KEYS: Readonly<Record<string, string>> = {
  bos: 'tokenizer.ggml.bos_token_id', eos: 'tokenizer.ggml.eos_token_id', unk: 'tokenizer.ggml.unknown_token_id',
  sep: 'tokenizer.ggml.seperator_token_id', pad: 'tokenizer.ggml.padding_token_id', mask: 'tokenizer.ggml.mask_token_id',
  eot: 'tokenizer.ggml.eot_token_id', eom: 'tokenizer.ggml.eom_token_id',
  prefix: 'tokenizer.ggml.prefix_token_id', suffix: 'tokenizer.ggml.suffix_token_id', middle: 'tokenizer.ggml.middle_token_id',
};
const ADD_KEYS: Readonly<Record<string, string>> = { bos: 'tokenizer.ggml.add_bos_token', eos: 'tokenizer.ggml.add_eos_token', sep: 'tokenizer.ggml.add_sep_token' };

export interface SpecialVocabOptions {
  loadMerges?: boolean;
  specialTokenTypes?: readonly string[];
  nVocab?: number;
}

export class SpecialVocab {
  merges: string[] = [];
  readonly specialTokenIds = new Map<string, number>();
  readonly addSpecialToken = new Map<string, boolean>();
  chatTemplate: string | JsonObject[] | undefined;
  normalizerLowercase: boolean | undefined;
  normalizerStripAccents: boolean | undefined;
  private specialTokenTypes: string[];

  private constructor(private readonly options: SpecialVocabOptions) {
    this.specialTokenTypes = [...(options.specialTokenTypes ?? DEFAULT_TYPES)];
  }

  static async load(dir: string, options: SpecialVocabOptions = {}): Promise<SpecialVocab> {
    const v = new SpecialVocab(options);
    await v.loadFromTokenizerJson(dir);
    await v.loadFromConfigJson(dir);
    if (options.loadMerges && v.merges.length === 0) await v.loadMergesTxt(dir);
    return v;
  }

  /** _set_special_token: the first id set for a type wins; ids outside the vocabulary are skipped. */
  setSpecialToken(type: string, id: Json | undefined): void {
    if (typeof id !== 'number' || !Number.isInteger(id)) return;
    if (id < 0) throw new Error(`invalid value for special token type ${type}: ${id}`);
    if (this.options.nVocab === undefined || id < this.options.nVocab) {
      if (!this.specialTokenIds.has(type)) this.specialTokenIds.set(type, id);
    }
  }

  addToGguf(kv: KvBuilder): void {
    if (this.merges.length > 0) kv.array('tokenizer.ggml.merges', { elementType: GgufValueType.STRING, items: this.merges });
    for (const [type, id] of this.specialTokenIds) {
      const key = ID_KEYS[type];
      if (key !== undefined) kv.u32(key, id);
    }
    for (const [type, value] of this.addSpecialToken) {
      const key = ADD_KEYS[type];
      if (key !== undefined) kv.bool(key, value);
    }
    if (this.chatTemplate !== undefined) addChatTemplate(kv, this.chatTemplate);
    if (this.normalizerLowercase !== undefined) kv.bool('tokenizer.ggml.normalizer.lowercase', this.normalizerLowercase);
    if (this.normalizerStripAccents !== undefined) kv.bool('tokenizer.ggml.normalizer.strip_accents', this.normalizerStripAccents);
  }

  private async loadMergesTxt(dir: string): Promise<void> {
    const text = await readFile(join(dir, 'merges.txt'), 'utf8').catch(() => undefined);
    if (text === undefined) return;
    const lines = text.split(/\r?\n/);
    if ((lines[0] ?? '').trim().startsWith('#')) lines.shift();
    this.merges = lines.map((l) => l.trim()).filter((l) => l.length > 0)
      .map((l) => l.split(/\s+/)).filter((p) => p.length === 2).map(([a, b]) => `${a} ${b}`);
  }

  private parseNormalizer(n: JsonObject): void {
    const type = n['type'];
    if (type === 'Lowercase') this.normalizerLowercase = true;
    else if (type === 'StripAccents') this.normalizerStripAccents = true;
    else if (type === 'BertNormalizer') {
      if ('lowercase' in n) this.normalizerLowercase = n['lowercase'] as boolean;
      if ('strip_accents' in n) this.normalizerStripAccents = n['strip_accents'] as boolean;
    } else if (type === 'Sequence') {
      for (const sub of (n['normalizers'] as Json[] | undefined) ?? []) if (isObject(sub)) this.parseNormalizer(sub);
    }
  }

  private async loadFromTokenizerJson(dir: string): Promise<void> {
    const tokenizerJson = await readJsonFile(join(dir, 'tokenizer.json'), 'tokenizer');
    const tokenizer = isObject(tokenizerJson) ? tokenizerJson : undefined;
    let addedTokens: Json[] = [];
    if (tokenizer) {
      if (this.options.loadMerges) {
        const model = tokenizer['model'];
        const merges = isObject(model) ? model['merges'] : undefined;
        if (Array.isArray(merges) && merges.length > 0) {
          if (typeof merges[0] === 'string') this.merges = merges as string[];
          else if (Array.isArray(merges[0]) && merges[0].length === 2 && typeof merges[0][0] === 'string') {
            // transformers >= 4.45 stores pairs; spaces inside a part become U+0120 as the converter writes them.
            this.merges = (merges as string[][]).map((pair) => pair.map((part) => part.replaceAll(' ', '\u0120')).join(' '));
          } else {
            throw new Error('Unknown tokenizer merges format');
          }
        }
      }
      const normalizer = tokenizer['normalizer'];
      if (isObject(normalizer)) this.parseNormalizer(normalizer);
      addedTokens = Array.isArray(tokenizer['added_tokens']) ? tokenizer['added_tokens'] : [];
    }
    const configJson = await readJsonFile(join(dir, 'tokenizer_config.json'), 'tokenizer config');
    const config = isObject(configJson) ? configJson : undefined;
    if (tokenizer) this.readPostProcessor(tokenizer, config);
    if (!config || Object.keys(config).length === 0) return;

    this.chatTemplate = await readChatTemplate(dir, config);
    for (const type of this.specialTokenTypes) {
      const add = config[`add_${type}_token`];
      if (typeof add === 'boolean') this.addSpecialToken.set(type, add);
      const entry = config[`${type}_token`];
      let content: string;
      if (typeof entry === 'string') content = entry;
      else if (isObject(entry) && typeof entry['content'] === 'string') content = entry['content'];
      else continue;
      const found = addedTokens.find((t) => isObject(t) && t['content'] === content);
      this.setSpecialToken(type, isObject(found) ? found['id'] : undefined);
    }
  }

  /** The crude reading of the post-processor (RobertaProcessing, TemplateProcessing) the converter
   * does. Token values stay as the config holds them (a string, or an AddedToken object that never
   * equals a string), as the converter compares them. */
  private readPostProcessor(tokenizer: JsonObject, config: JsonObject | undefined): void {
    const tc = config && Object.keys(config).length > 0 ? config : undefined;
    let bos = config?.['bos_token'], cls = config?.['cls_token'], eos = config?.['eos_token'], sep = config?.['sep_token'];
    if (!pyTruthy(bos) && pyTruthy(cls) && tc) tc['bos_token'] = bos = cls!;
    if (!pyTruthy(eos) && pyTruthy(sep) && tc) tc['eos_token'] = eos = sep!;
    const post = tokenizer['post_processor'];
    if (!isObject(post)) return;
    const processors = Array.isArray(post['processors']) ? post['processors'] : [post];
    const specialId = (item: Json | undefined): string | undefined => {
      const st = isObject(item) ? item['SpecialToken'] : undefined;
      const id = isObject(st) ? st['id'] : undefined;
      return typeof id === 'string' && id.length > 0 ? id : undefined;
    };
    const oneOf = (x: string, ...values: Array<Json | undefined>): boolean => values.some((v) => v === x);
    for (const p of processors) {
      if (!isObject(p)) continue;
      if (p['type'] === 'RobertaProcessing') {
        this.addSpecialToken.set('bos', true);
        this.addSpecialToken.set('eos', true);
        this.addSpecialToken.set('sep', true);
        if (!pyTruthy(cls) && tc) tc['cls_token'] = cls = Array.isArray(p['cls']) ? p['cls'][0]! : bos ?? null;
        if (!pyTruthy(sep) && tc) tc['sep_token'] = sep = Array.isArray(p['sep']) ? p['sep'][0]! : eos ?? null;
        continue;
      }
      if (p['type'] !== 'TemplateProcessing') continue;
      const single = Array.isArray(p['single']) ? p['single'] : [];
      let pair = Array.isArray(p['pair']) ? p['pair'] : [];
      let first: string | undefined, last: string | undefined;
      if (single.length > 1) {
        first = specialId(single[0]);
        if (first) {
          if (!tc) bos = first;
          else if (!oneOf(first, bos, cls)) {
            if (!pyTruthy(bos)) tc['bos_token'] = bos = first;
            if (!pyTruthy(cls)) tc['cls_token'] = cls = first;
          }
          this.addSpecialToken.set('bos', oneOf(first, bos, cls));
        }
        last = specialId(single.at(-1));
        if (last) {
          if (!tc) eos = last;
          else if (last !== eos) {
            if (!this.specialTokenTypes.includes('eot')) {
              this.specialTokenTypes.push('eot');
              tc['eot_token'] = eos ?? null;
            } else if (!this.specialTokenTypes.includes('eom')) {
              this.specialTokenTypes.push('eom');
              tc['eom_token'] = eos ?? null;
            }
            tc['eos_token'] = eos = last;
          }
          this.addSpecialToken.set('eos', last === eos);
        }
      }
      if (pair.length > 0) {
        const start = first && specialId(pair[0]) === first ? 1 : 0;
        const stop = last && specialId(pair.at(-1)) === last ? pair.length - 1 : pair.length;
        pair = pair.slice(start, stop);
        if (pair.length > 0) {
          const seqId = (item: Json | undefined): string | undefined => {
            const s = isObject(item) ? item['Sequence'] : undefined;
            return isObject(s) && typeof s['id'] === 'string' ? s['id'] : undefined;
          };
          const middle = pair.slice(1, -1);
          if (seqId(pair[0]) === 'A' && seqId(pair.at(-1)) === 'B' && middle.length > 0) {
            let addSep = false;
            const e0 = specialId(middle[0]);
            if (e0 && oneOf(e0, sep, eos) && !last) addSep = true;
            if (middle.length === 2) {
              const e1 = specialId(middle[1]);
              if (e1 && oneOf(e1, sep, eos)) addSep = true;
            }
            this.addSpecialToken.set('sep', addSep);
            if (addSep && !pyTruthy(sep) && tc) tc['sep_token'] = eos ?? null;
          }
        }
      }
    }
  }

  private async loadFromConfigJson(dir: string): Promise<void> {
    const config = await readJsonFile(join(dir, 'config.json'), 'model config');
    if (!isObject(config)) return;
    const text = config['text_config'];
    for (const type of this.specialTokenTypes) {
      let id = config[`${type}_token_id`];
      if ((id === undefined || id === null) && isObject(text)) id = text[`${type}_token_id`];
      this.setSpecialToken(type, id ?? undefined);
    }
  }
}


/** chat_template from tokenizer_config.json, else chat_template.jinja (with additional_chat_templates/), else chat_template.json. */
async function readChatTemplate(dir: string, config: JsonObject): Promise<string | JsonObject[] | undefined> {
  let alt: string | JsonObject[] | undefined;
  const jinja = await readFile(join(dir, 'chat_template.jinja'), 'utf8').catch(() => undefined);
  if (jinja !== undefined) {
    alt = jinja;
    const extraDir = join(dir, 'additional_chat_templates');
    const extra = (await readdir(extraDir).catch(() => [] as string[])).filter((n) => n.endsWith('.jinja')).sort(byCodePoint);
    if (extra.length > 0) {
      const list: JsonObject[] = [{ name: 'default', template: jinja }];
      for (const n of extra) list.push({ name: n.slice(0, -'.jinja'.length), template: await readFile(join(extraDir, n), 'utf8') });
      alt = list;
    }
  } else {
    const json = await readJsonFile(join(dir, 'chat_template.json'), 'chat template');
    const t = isObject(json) ? json['chat_template'] : undefined;
    if (typeof t === 'string' || Array.isArray(t)) alt = t as string | JsonObject[];
  }
  const t = 'chat_template' in config ? config['chat_template'] : alt;
  if (t === null || t === undefined) return undefined;
  if (typeof t === 'string' || Array.isArray(t)) return t as string | JsonObject[];
  return undefined;
}

/** add_chat_template: a list becomes tokenizer.chat_template.<name> keys plus the default. */
function addChatTemplate(kv: KvBuilder, value: string | JsonObject[]): void {
  if (typeof value === 'string') {
    kv.string('tokenizer.chat_template', value);
    return;
  }
  let fallback: string | undefined;
  const names: string[] = [];
  for (const choice of value) {
    const name = String(choice['name'] ?? '').replace(/[^A-Za-z0-9]/g, '_');
    const template = choice['template'];
    if (!name || typeof template !== 'string') continue;
    if (name === 'default') fallback = template;
    else {
      if (!names.includes(name)) names.push(name);
      kv.string(`tokenizer.chat_template.${name}`, template);
    }
  }
  if (names.length > 0) kv.array('tokenizer.chat_templates', { elementType: GgufValueType.STRING, items: names });
  if (fallback !== undefined) kv.string('tokenizer.chat_template', fallback);
}
