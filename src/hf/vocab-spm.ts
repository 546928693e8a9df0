/** _set_vocab_sentencepiece: the vocabulary from tokenizer.model, with added_tokens.json and the
 * added_tokens_decoder of tokenizer_config.json applied over it, then the special vocabulary. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GgufValueType } from '../gguf/format.js';
import { isObject, readJsonFile, type JsonObject } from './folder.js';
import type { KvBuilder } from './kv-builder.js';
import { pyTruthy } from './python.js';
import { PieceType, readSentencePieces, type Piece } from './sentencepiece.js';
import { SpecialVocab } from './special-vocab.js';
import { findHparam } from './text-model.js';

/** The converter's SentencePieceTokenTypes (the GGUF token types). */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** does_token_look_special. */
export function looksSpecial(token: string): boolean {
  return ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(token)
    || (token.startsWith('<|') && token.endsWith('|>'))
    || (token.startsWith('<\uff5c') && token.endsWith('\uff5c>'))
    || (token.startsWith('<unused') && token.endsWith('>'));
}

/** The token type the converter gives a piece: SentencePiece's IsUnknown, IsControl, IsUnused, IsByte,
 * else normal (user-defined pieces too). */
export function pieceTokenType(type: PieceType): number {
  switch (type) {
    case PieceType.UNKNOWN: return TokenType.UNKNOWN;
    case PieceType.CONTROL: return TokenType.CONTROL;
    case PieceType.UNUSED: return TokenType.UNUSED;
    case PieceType.BYTE: return TokenType.BYTE;
    default: return TokenType.NORMAL;
  }
}

export interface SpmVocab {
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
}

/** The converter's list of `size` tokens from the pieces: [PADi] (score -10000, unused) where no
 * piece is, pieces past `size` left out. */
export function pieceList(pieces: readonly Piece[], size: number): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = Array.from({ length: size }, (_, i) => `[PAD${i}]`);
  const scores = new Array<number>(size).fill(-10000);
  const types = new Array<number>(size).fill(TokenType.UNUSED);
  for (let id = 0; id < pieces.length && id < size; id++) {
    const p = pieces[id]!;
    tokens[id] = p.piece;
    scores[id] = p.score;
    types[id] = pieceTokenType(p.type);
  }
  return { tokens, scores, types };
}

/** The vocabulary size _create_vocab_sentencepiece builds to: from the hparams, else (0) the tokenizer's. */
export function spmVocabSize(hp: JsonObject): number {
  const v = findHparam(hp, ['vocab_size_per_layer_input', 'vocab_size']);
  return typeof v === 'number' && v > 0 ? v : 0;
}

/** _create_vocab_sentencepiece; undefined when the folder has no tokenizer.model. */
export async function createSentencePieceVocab(dir: string, hp: JsonObject): Promise<SpmVocab | undefined> {
  const path = join(dir, 'tokenizer.model');
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (bytes === undefined) return undefined;
  const pieces = readSentencePieces(bytes, path);
  const vocabSize = spmVocabSize(hp) || pieces.length;
  const { tokens, scores, types } = pieceList(pieces, vocabSize);
  const added = await readJsonFile(join(dir, 'added_tokens.json'), 'added tokens');
  if (isObject(added)) {
    for (const [token, id] of Object.entries(added)) {
      if (typeof id !== 'number' || id >= vocabSize) continue;
      tokens[id] = token;
      scores[id] = -1000;
      types[id] = TokenType.USER_DEFINED;
    }
  }
  const config = await readJsonFile(join(dir, 'tokenizer_config.json'), 'tokenizer config');
  const decoder = isObject(config) ? config['added_tokens_decoder'] : undefined;
  if (isObject(decoder)) {
    for (const [key, data] of Object.entries(decoder)) {
      const id = Number.parseInt(key, 10);
      if (!isObject(data) || typeof data['content'] !== 'string' || id >= vocabSize) continue;
      let token = data['content'];
      if (pyTruthy(data['special']) || looksSpecial(token)) {
        types[id] = TokenType.CONTROL;
      } else {
        token = token.replaceAll('\u2581', ' ');
        types[id] = TokenType.USER_DEFINED;
      }
      scores[id] = -1000;
      tokens[id] = token;
    }
  }
  return { tokens, scores: Float32Array.from(scores), types: Int32Array.from(types) };
}

/** The tokenizer keys of a SentencePiece-kind vocabulary (tokenizer.ggml.model "llama"), as
 * _set_vocab_sentencepiece, _set_vocab_llama_hf and Phi-3 write them, then the special vocabulary. */
export async function addSentencePieceVocab(kv: KvBuilder, dir: string, vocab: SpmVocab): Promise<void> {
  kv.string('tokenizer.ggml.model', 'llama');
  kv.string('tokenizer.ggml.pre', 'default');
  kv.array('tokenizer.ggml.tokens', { elementType: GgufValueType.STRING, items: vocab.tokens });
  kv.array('tokenizer.ggml.scores', { elementType: GgufValueType.FLOAT32, items: vocab.scores });
  kv.array('tokenizer.ggml.token_type', { elementType: GgufValueType.INT32, items: vocab.types });
  const special = await SpecialVocab.load(dir, { nVocab: vocab.tokens.length });
  special.addToGguf(kv);
}
