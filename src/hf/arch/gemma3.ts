/** Gemma3Model (Gemma 3 text): TextModel's hparams with Gemma's defaults written over them, the
 * SentencePiece vocabulary without a space prefix, the embedding cut to the vocabulary and the norms
 * stored minus one (Gemma3RMSNorm multiplies by 1 + weight) shifted back. */
import { QuantNativeError } from '../../errors.js';
import type { Architecture, ConvertContext, TensorRecipe } from '../convert-plan.js';
import { isObject, type Json } from '../folder.js';
import type { KvBuilder } from '../kv-builder.js';
import { addBpeVocab } from '../vocab-bpe.js';
import { addSentencePieceVocab, createSentencePieceVocab, spmVocabSize } from '../vocab-spm.js';
import { mapTensorName, textModelTensors } from './common.js';

const NAMES: ReadonlyArray<[RegExp, string]> = [
  [/^(?:model\.)?layers\.(\d+)\.post_attention_layernorm$/, 'blk.{bid}.post_attention_norm'],
  [/^(?:model\.)?layers\.(\d+)\.pre_feedforward_layernorm$/, 'blk.{bid}.ffn_norm'],
  [/^(?:model\.)?layers\.(\d+)\.post_feedforward_layernorm$/, 'blk.{bid}.post_ffw_norm'],
];

const num = (v: Json | undefined, fallback: number): number => (typeof v === 'number' ? v : fallback);

export const gemma3: Architecture = {
  hfArchitectures: ['Gemma3ForCausalLM'],
  ggufArch: 'gemma3',

  configDefaults() {
    // Gemma3Model writes its own defaults for what the config leaves out (addParameters).
  },

  addParameters(kv: KvBuilder, ctx: ConvertContext): void {
    const a = 'gemma3';
    const hp = ctx.hp;
    kv.u32(`${a}.context_length`, num(hp['max_position_embeddings'], 131072));
    kv.u32(`${a}.attention.head_count`, num(hp['num_attention_heads'], 8));
    kv.f32(`${a}.attention.layer_norm_rms_epsilon`, num(hp['rms_norm_eps'], 1e-6));
    kv.u32(`${a}.attention.key_length`, num(hp['head_dim'], 256));
    kv.u32(`${a}.attention.value_length`, num(hp['head_dim'], 256));
    const full = ctx.rope['full_attention'];
    kv.f32(`${a}.rope.freq_base`, num((isObject(full) ? full : ctx.rope)['rope_theta'], 1_000_000.0));
    if (hp['attn_logit_softcapping'] !== undefined && hp['attn_logit_softcapping'] !== null) {
      throw new QuantNativeError('E_HF_CONFIG', 'attn_logit_softcapping is set, which Gemma 3 does not have (a Gemma 2 config?)');
    }
    const softcap = hp['final_logit_softcapping'];
    if (typeof softcap === 'number' && softcap !== 0) kv.f32(`${a}.final_logit_softcapping`, softcap);
    if (hp['sliding_window_pattern'] !== 1) kv.u32(`${a}.attention.sliding_window`, hp['sliding_window'] as number);
    kv.u32(`${a}.attention.head_count_kv`, num(hp['num_key_value_heads'], 4));
  },

  async addVocab(kv: KvBuilder, ctx: ConvertContext): Promise<void> {
    const spm = await createSentencePieceVocab(ctx.folder.dir, ctx.hp);
    // As the converter: without tokenizer.model, the byte-level BPE reader and its pre-tokenizer check.
    if (!spm) return addBpeVocab(kv, ctx.folder.dir, ctx.hp);
    await addSentencePieceVocab(kv, ctx.folder.dir, spm);
    kv.bool('tokenizer.ggml.add_space_prefix', false);
  },

  recipes(ctx: ConvertContext): TensorRecipe[] {
    // The embedding is cut to the vocabulary the converter builds (its size from the hparams).
    const rows = spmVocabSize(ctx.hp);
    return textModelTensors(ctx).map(({ name, tensor }) => {
      const shape = [...tensor.shape];
      const embedding = name.includes('embed_tokens.weight') && rows > 0 && rows < shape[0]!;
      if (embedding) shape[0] = rows;
      return {
        name: mapTensorName(name, NAMES, 'Gemma 3'), shape,
        sources: [{ tensor, ...(embedding ? { rows } : {}), ...(name.endsWith('norm.weight') ? { shift: 1 } : {}) }],
      };
    });
  },

  extraTensors(): TensorRecipe[] {
    return [];
  },
};
