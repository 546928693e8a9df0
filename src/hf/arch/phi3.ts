/** Phi3MiniModel (Phi-3, Phi-3.5): its own hparams keys, its SentencePiece vocabulary with Phi-3's
 * added-token rules, fused qkv and gate_up projections, and LongRoPE factors where the config has them. */
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { QuantNativeError } from '../../errors.js';
import type { Architecture, ConvertContext, TensorRecipe } from '../convert-plan.js';
import { isObject, readJsonFile, type Json } from '../folder.js';
import type { KvBuilder } from '../kv-builder.js';
import { pyTruthy } from '../python.js';
import { readSentencePieces } from '../sentencepiece.js';
import { requireHparam } from '../text-model.js';
import { addBpeVocab } from '../vocab-bpe.js';
import { addSentencePieceVocab, pieceList, TokenType } from '../vocab-spm.js';
import { mapTensorName, textModelTensors } from './common.js';

const NAMES: ReadonlyArray<[RegExp, string]> = [
  [/^(?:model\.)?layers\.(\d+)\.self_attn\.qkv_proj$/, 'blk.{bid}.attn_qkv'],
  [/^(?:model\.)?layers\.(\d+)\.mlp\.gate_up_proj$/, 'blk.{bid}.ffn_up'],
];

function ropeDims(ctx: ConvertContext): number {
  const nEmbd = requireHparam(ctx.hp, ['hidden_size', 'n_embd']) as number;
  const nHead = requireHparam(ctx.hp, ['num_attention_heads', 'n_head']) as number;
  const pct = typeof ctx.rope['partial_rotary_factor'] === 'number' ? ctx.rope['partial_rotary_factor'] : 1.0;
  return Math.floor(Math.trunc(pct * nEmbd) / nHead);
}

function origContext(ctx: ConvertContext): number {
  const v = ctx.rope['original_max_position_embeddings'];
  if (typeof v !== 'number') throw new QuantNativeError('E_HF_CONFIG', 'config.json lacks original_max_position_embeddings, which a Phi-3 model needs');
  return v;
}

const numbers = (v: Json | undefined): number[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? v as number[] : undefined);

export const phi3: Architecture = {
  hfArchitectures: ['Phi3ForCausalLM'],
  ggufArch: 'phi3',

  configDefaults(hp) {
    // Phi3Config's defaults, which AutoConfig's to_dict() holds and the converter then reads.
    const defaults: Record<string, Json> = { original_max_position_embeddings: 4096, rope_theta: 10000.0, rms_norm_eps: 1e-5, max_position_embeddings: 4096 };
    for (const [k, v] of Object.entries(defaults)) if (!(k in hp)) hp[k] = v;
    if (!('num_key_value_heads' in hp) && typeof hp['num_attention_heads'] === 'number') hp['num_key_value_heads'] = hp['num_attention_heads'];
  },

  replacesTextModelParameters: true,

  addParameters(kv: KvBuilder, ctx: ConvertContext): void {
    const a = 'phi3';
    const hp = ctx.hp;
    kv.u32(`${a}.context_length`, requireHparam(hp, ['n_positions', 'max_position_embeddings']) as number);
    kv.u32(`${a}.rope.scaling.original_context_length`, origContext(ctx));
    kv.u32(`${a}.embedding_length`, requireHparam(hp, ['hidden_size', 'n_embd']) as number);
    kv.u32(`${a}.feed_forward_length`, requireHparam(hp, ['intermediate_size']) as number);
    kv.u32(`${a}.block_count`, ctx.blockCount);
    kv.u32(`${a}.attention.head_count`, requireHparam(hp, ['num_attention_heads', 'n_head']) as number);
    kv.u32(`${a}.attention.head_count_kv`, requireHparam(hp, ['num_key_value_heads', 'n_head_kv']) as number);
    kv.f32(`${a}.attention.layer_norm_rms_epsilon`, requireHparam(hp, ['rms_norm_eps']) as number);
    kv.u32(`${a}.rope.dimension_count`, ropeDims(ctx));
    const full = ctx.rope['full_attention'];
    kv.f32(`${a}.rope.freq_base`, (isObject(full) ? full : ctx.rope)['rope_theta'] as number);
    kv.u32('general.file_type', ctx.fileType);
    const window = hp['sliding_window'];
    kv.u32(`${a}.attention.sliding_window`, typeof window === 'number' ? window : 0);
  },

  addEarlyParameters(kv: KvBuilder, ctx: ConvertContext): void {
    // Written while the tensors are prepared, before any other metadata but the architecture.
    const factor = longRopeAttnFactor(ctx);
    if (factor !== undefined) kv.f32('phi3.rope.scaling.attn_factor', factor);
  },

  async addVocab(kv: KvBuilder, ctx: ConvertContext): Promise<void> {
    const dir = ctx.folder.dir;
    if (ctx.tokenizerConfig?.['tokenizer_class'] === 'GPT2Tokenizer') {
      // Phi-4 ships a byte-level BPE tokenizer.
      return addBpeVocab(kv, dir, ctx.hp);
    }
    const path = join(dir, 'tokenizer.model');
    const bytes = await readFile(path).catch(() => undefined);
    if (!bytes) throw new QuantNativeError('E_HF_TOKENIZER', `${path} is missing; a Phi-3 model's vocabulary is read from it`, { hint: 'download tokenizer.model with the model' });
    const pieces = readSentencePieces(bytes, path);
    const size = typeof ctx.hp['vocab_size'] === 'number' ? ctx.hp['vocab_size'] : pieces.length;
    if (pieces.length > size) throw new QuantNativeError('E_HF_TOKENIZER', `${path} has ${pieces.length} pieces, more than vocab_size ${size}`);
    const { tokens, scores, types } = pieceList(pieces, size);
    const set = (id: number, token: string, special: boolean): void => {
      if (id >= size) throw new QuantNativeError('E_HF_TOKENIZER', `added token ${JSON.stringify(token)} has id ${id}, past vocab_size ${size}`);
      tokens[id] = token;
      scores[id] = -1000;
      types[id] = special ? TokenType.CONTROL : TokenType.USER_DEFINED;
    };
    const added = await readJsonFile(join(dir, 'added_tokens.json'), 'added tokens');
    if (isObject(added)) for (const [token, id] of Object.entries(added)) if (typeof id === 'number' && id < size) set(id, token, false);
    const decoder = ctx.tokenizerConfig?.['added_tokens_decoder'];
    if (isObject(decoder)) {
      for (const [key, d] of Object.entries(decoder)) if (isObject(d)) set(Number.parseInt(key, 10), String(d['content']), pyTruthy(d['special']));
    }
    const tj = await readJsonFile(join(dir, 'tokenizer.json'), 'tokenizer');
    const list = isObject(tj) && Array.isArray(tj['added_tokens']) ? tj['added_tokens'] : [];
    for (const d of list) if (isObject(d)) set(Number(d['id']), String(d['content']), pyTruthy(d['special']));

    await addSentencePieceVocab(kv, dir, { tokens, scores: Float32Array.from(scores), types: Int32Array.from(types) });
  },

  recipes(ctx: ConvertContext): TensorRecipe[] {
    return textModelTensors(ctx).map(({ name, tensor }) => ({ name: mapTensorName(name, NAMES, 'Phi-3'), shape: [...tensor.shape], sources: [{ tensor }] }));
  },

  extraTensors(ctx: ConvertContext): TensorRecipe[] {
    const long = numbers(ctx.rope['long_factor']);
    const short = numbers(ctx.rope['short_factor']);
    if (!long || long.length === 0) return [];
    longRopeAttnFactor(ctx);
    if (!short) throw new QuantNativeError('E_HF_CONFIG', 'rope_scaling has long_factor but no short_factor');
    if (long.length !== short.length || long.length !== ropeDims(ctx) / 2) {
      throw new QuantNativeError('E_HF_CONFIG', `the rope long and short factors must have ${ropeDims(ctx) / 2} values each (${long.length} and ${short.length} given)`);
    }
    return [
      { name: 'rope_factors_long.weight', shape: [long.length], sources: [], data: Float32Array.from(long) },
      { name: 'rope_factors_short.weight', shape: [short.length], sources: [], data: Float32Array.from(short) },
    ];
  },
};

/** The attention factor the converter writes with LongRoPE (or YaRN) factors; undefined without them. */
function longRopeAttnFactor(ctx: ConvertContext): number | undefined {
  const long = numbers(ctx.rope['long_factor']);
  if (!long || long.length === 0) return undefined;
  const orig = origContext(ctx);
  const scale = (requireHparam(ctx.hp, ['n_positions', 'max_position_embeddings']) as number) / orig;
  const type = String(ctx.rope['rope_type'] ?? '').toLowerCase();
  if (type === '') throw new QuantNativeError('E_HF_CONFIG', 'rope_scaling has rope factors but no type');
  if (type === 'su' || type === 'longrope') return scale > 1 ? Math.sqrt(1 + Math.log(scale) / Math.log(orig)) : 1;
  if (type === 'yarn') return scale > 1 ? 0.1 * Math.log(scale) + 1 : 1;
  throw new QuantNativeError('E_HF_CONFIG', `rope scaling type ${type} is not supported for Phi-3`);
}
