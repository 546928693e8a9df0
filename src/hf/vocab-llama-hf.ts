/** gguf-py's LlamaHfVocab: a SentencePiece-style BPE vocabulary (byte fallback) read from tokenizer.json,
 * as transformers' fast tokenizer presents it (base vocabulary, added tokens past it, special tokens). */
import { join } from 'node:path';
import { isObject, readJsonFile, type Json, type JsonObject } from './folder.js';
import { TokenType, type SpmVocab } from './vocab-spm.js';

/** Why the converter would not read the folder this way: 'absent' (no tokenizer.json, or not a Llama
 * BPE one: FileNotFoundError) or 'llama3' (TypeError): both send it on to the GPT-2 BPE reader. */
export type LlamaHfRefusal = 'absent' | 'llama3';

/** transformers' SPECIAL_TOKENS_ATTRIBUTES, in the order all_special_tokens lists them. */
const SPECIAL_ATTRIBUTES = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

const content = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : isObject(v) && typeof v['content'] === 'string' ? v['content'] : undefined);

/** The special tokens a tokenizer declares (tokenizer_config.json over special_tokens_map.json). */
function allSpecialTokens(config: JsonObject, map: JsonObject): string[] {
  const out: string[] = [];
  const push = (t: string | undefined): void => { if (t !== undefined && !out.includes(t)) out.push(t); };
  for (const attr of SPECIAL_ATTRIBUTES) push(content(attr in config ? config[attr] : map[attr]));
  const extra = 'additional_special_tokens' in config ? config['additional_special_tokens'] : map['additional_special_tokens'];
  if (Array.isArray(extra)) for (const t of extra) push(content(t));
  return out;
}

export type LlamaHfVocab = SpmVocab;

export async function readLlamaHfVocab(dir: string): Promise<LlamaHfVocab | LlamaHfRefusal> {
  const tj = await readJsonFile(join(dir, 'tokenizer.json'), 'tokenizer');
  if (!isObject(tj) || !isObject(tj['model'])) return 'absent';
  const model = tj['model'];
  if (model['type'] === 'BPE' && model['ignore_merges'] === true && model['byte_fallback'] === false) return 'llama3';
  const decoder = tj['decoder'];
  if (model['type'] !== 'BPE' || model['byte_fallback'] !== true || !isObject(decoder) || decoder['type'] !== 'Sequence') return 'absent';

  const vocab = isObject(model['vocab']) ? (model['vocab'] as Record<string, number>) : {};
  const baseSize = Object.keys(vocab).length;
  const added = (Array.isArray(tj['added_tokens']) ? tj['added_tokens'] : []).filter(isObject)
    .map((a) => ({ content: String(a['content']), id: Number(a['id']) }));
  const byId: string[] = [];
  for (const [token, id] of Object.entries(vocab)) byId[id] = token;
  for (const a of added) byId[a.id] = a.content;
  const vocabIds = new Map<string, number>(Object.entries(vocab));
  for (const a of added) vocabIds.set(a.content, a.id);

  const config = await readJsonFile(join(dir, 'tokenizer_config.json'), 'tokenizer config');
  const map = await readJsonFile(join(dir, 'special_tokens_map.json'), 'special tokens map');
  const specials = allSpecialTokens(isObject(config) ? config : {}, isObject(map) ? map : {});
  const specialIds = new Set(specials.map((t) => vocabIds.get(t)).filter((id): id is number => id !== undefined));
  const typeOf = (id: number, text: string): number => (/^<0x[0-9A-Fa-f]{2}>$/.test(text) ? TokenType.BYTE : specialIds.has(id) ? TokenType.CONTROL : TokenType.NORMAL);

  const tokens: string[] = [];
  const types: number[] = [];
  for (let id = 0; id < baseSize; id++) {
    const text = byId[id] ?? '';
    tokens.push(text);
    types.push(typeOf(id, text));
  }
  for (const a of [...added].sort((x, y) => x.id - y.id)) {
    if (a.id < baseSize) continue;
    tokens.push(a.content);
    types.push(specials.includes(a.content) ? typeOf(vocabIds.get(a.content)!, '') : TokenType.USER_DEFINED);
  }
  return { tokens, scores: new Float32Array(tokens.length).fill(-1000), types: Int32Array.from(types) };
}
