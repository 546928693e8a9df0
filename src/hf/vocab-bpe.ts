/** _set_vocab_gpt2: a byte-level BPE vocabulary from tokenizer.json (Llama 3, Qwen), its pre-tokenizer
 * recognised as the converter recognises it (the token ids of a check text, hashed), the merges and the
 * special vocabulary. Token ids come from Hugging Face's tokenizers.js, as transformers computes them. */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { QuantNativeError } from '../errors.js';
import { GgufValueType } from '../gguf/format.js';
import { PRE_TOKENIZER_BY_HASH, PRE_TOKENIZER_CHECK_TEXT } from './bpe-pre-hashes.js';
import { isObject, readJsonFile, type JsonObject } from './folder.js';
import type { KvBuilder } from './kv-builder.js';
import { SpecialVocab } from './special-vocab.js';
import { looksSpecial, TokenType } from './vocab-spm.js';

interface AddedToken { id: number; content: string; special: boolean; normalized: boolean }

export interface BpeVocab {
  tokens: string[];
  types: Int32Array;
  pre: string;
}

/** get_vocab_base and get_vocab_base_pre. `vocabSize` is config.json's vocab_size, when it has one. */
export async function readBpeVocab(dir: string, vocabSize: number | undefined): Promise<BpeVocab> {
  const tj = await readJsonFile(join(dir, 'tokenizer.json'), 'tokenizer');
  if (!isObject(tj) || !isObject(tj['model']) || !isObject(tj['model']['vocab'])) {
    throw new QuantNativeError('E_HF_TOKENIZER', `${dir} has no tokenizer.json with a BPE vocabulary (nor a tokenizer.model)`, {
      hint: 'download the tokenizer files with the model',
    });
  }
  const config = await readJsonFile(join(dir, 'tokenizer_config.json'), 'tokenizer config');
  // Loaded here, not at start-up: only BPE vocabularies need it.
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const tokenizer = new Tokenizer(tj, isObject(config) ? config : {});
  const vocab = new Map<number, string>();
  for (const [token, id] of Object.entries(tj['model']['vocab'] as JsonObject)) vocab.set(id as number, token);
  const added = new Map<number, AddedToken>();
  for (const a of Array.isArray(tj['added_tokens']) ? tj['added_tokens'] : []) {
    if (!isObject(a)) continue;
    const t = { id: Number(a['id']), content: String(a['content']), special: a['special'] === true, normalized: a['normalized'] !== false };
    added.set(t.id, t);
    vocab.set(t.id, t.content);
  }
  const addedContents = new Set([...added.values()].map((a) => a.content));
  let maxId = -1;
  for (const id of vocab.keys()) maxId = Math.max(maxId, id);
  const size = vocabSize ?? vocab.size;
  if (maxId >= size) throw new QuantNativeError('E_HF_TOKENIZER', `token id ${maxId} is past vocab_size ${size} of config.json`);

  // get_vocab_base_pre, after that check as in the converter.
  const ids = tokenizer.encode(PRE_TOKENIZER_CHECK_TEXT).ids;
  const hash = createHash('sha256').update(`[${ids.join(', ')}]`).digest('hex');
  const pre = PRE_TOKENIZER_BY_HASH.get(hash);
  if (pre === undefined) {
    throw new QuantNativeError('E_HF_TOKENIZER', `the BPE pre-tokenizer of ${dir} is not one llama.cpp's converter recognises (check hash ${hash})`, {
      hint: 'llama.cpp would refuse this tokenizer too; a newer llama.cpp may know it',
    });
  }


  const tokens: string[] = [];
  const types: number[] = [];
  for (let i = 0; i < size; i++) {
    const known = vocab.get(i);
    if (known === undefined) {
      tokens.push(`[PAD${i}]`);
      types.push(TokenType.UNUSED);
      continue;
    }
    let token = known;
    if (addedContents.has(token)) {
      const a = added.get(i);
      // llama.cpp expects CONTROL and USER_DEFINED tokens pre-normalized: a token the tokenizer does not
      // normalize is encoded and decoded once, as the converter does.
      if (a && !a.normalized) token = tokenizer.decode(tokenizer.encode(token, { add_special_tokens: false }).ids);
      if (a?.special || looksSpecial(token)) {
        types.push(TokenType.CONTROL);
      } else {
        token = token.replaceAll('\u2581', ' ');
        types.push(TokenType.USER_DEFINED);
      }
    } else {
      types.push(TokenType.NORMAL);
    }
    tokens.push(token);
  }
  return { tokens, types: Int32Array.from(types), pre };
}

/** _set_vocab_gpt2: the vocabulary read (to config.json's vocab_size), its keys, then the special vocabulary. */
export async function addBpeVocab(kv: KvBuilder, dir: string, hp: JsonObject): Promise<void> {
  const size = hp['vocab_size'];
  const vocab = await readBpeVocab(dir, typeof size === 'number' ? size : undefined);
  kv.string('tokenizer.ggml.model', 'gpt2');
  kv.string('tokenizer.ggml.pre', vocab.pre);
  kv.array('tokenizer.ggml.tokens', { elementType: GgufValueType.STRING, items: vocab.tokens });
  kv.array('tokenizer.ggml.token_type', { elementType: GgufValueType.INT32, items: vocab.types });
  (await SpecialVocab.load(dir, { loadMerges: true })).addToGguf(kv);
}
