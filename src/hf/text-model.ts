/** TextModel's share of the conversion, common to every text architecture: the merged hparams, the
 * rope parameters, and set_gguf_parameters' keys in its order. */
import { QuantNativeError } from '../errors.js';
import { isObject, type Json, type JsonObject } from './folder.js';
import type { KvBuilder } from './kv-builder.js';

/** The hparams a text model reads: text_config merged over the top level, as TextModel.__init__ does. */
export function textHparams(config: JsonObject): JsonObject {
  const text = config['text_config'];
  return isObject(text) ? { ...config, ...text } : { ...config };
}

/** find_hparam: the value of the first key present (a null value counts as present, as in Python). */
export function findHparam(hp: JsonObject, keys: readonly string[]): Json | undefined {
  const key = keys.find((k) => k in hp);
  return key === undefined ? undefined : hp[key];
}

export function requireHparam(hp: JsonObject, keys: readonly string[], file = 'config.json'): Json {
  const v = findHparam(hp, keys);
  if (v === undefined) {
    throw new QuantNativeError('E_HF_CONFIG', `${file} lacks ${keys.length > 1 ? `all of ${keys.join(', ')}` : keys[0]}, which the converter needs for this architecture`, {
      hint: 'the config is incomplete or of another kind of model; fetch config.json from the model repository again',
    });
  }
  return v;
}

/** self.rope_parameters after TextModel.__init__'s mirroring of the global rope keys. */
export function ropeParameters(hp: JsonObject): JsonObject {
  const raw = 'rope_parameters' in hp ? hp['rope_parameters'] : hp['rope_scaling'];
  const rp: JsonObject = isObject(raw) ? raw : {};
  const theta = findHparam(hp, ['global_rope_theta', 'rope_global_theta', 'rope_theta_global', 'rope_theta', 'rotary_emb_base']);
  const localTheta = findHparam(hp, ['local_rope_theta', 'rope_local_theta', 'rope_theta_local', 'swa_rope_theta', 'rope_local_base_freq']);
  const partial = findHparam(hp, ['partial_rotary_factor', 'rope_pct', 'rope_percent']);
  const origMax = findHparam(hp, ['original_max_position_embeddings']);
  if (!('full_attention' in rp) && !('sliding_attention' in rp)) {
    if (localTheta !== undefined && localTheta !== null) rp['sliding_attention'] = { rope_theta: localTheta };
    if (!('rope_theta' in rp) && theta !== undefined && theta !== null) rp['rope_theta'] = theta;
    if (!('rope_type' in rp) && rp['type'] !== undefined && rp['type'] !== null) rp['rope_type'] = rp['type'];
    if (!('partial_rotary_factor' in rp) && partial !== undefined && partial !== null) rp['partial_rotary_factor'] = partial;
    if (!('original_max_position_embeddings' in rp) && origMax !== undefined && origMax !== null) rp['original_max_position_embeddings'] = origMax;
  }
  return rp;
}

const num = (v: Json | undefined): number | undefined => (typeof v === 'number' ? v : undefined);
const present = (v: Json | undefined): v is Exclude<Json, null> => v !== undefined && v !== null;

/** TextModel.set_gguf_parameters. `fileType` is the llama_ftype written as general.file_type. */
export function addTextModelParameters(kv: KvBuilder, arch: string, hp: JsonObject, rope: JsonObject, blockCount: number, fileType: number): void {
  const u32 = (key: string, v: Json | undefined): void => { if (present(v)) kv.u32(`${arch}.${key}`, v as number); };
  const f32 = (key: string, v: Json | undefined): void => { if (present(v)) kv.f32(`${arch}.${key}`, v as number); };
  kv.u32(`${arch}.block_count`, blockCount);
  u32('context_length', findHparam(hp, ['max_position_embeddings', 'n_ctx', 'n_positions', 'max_length', 'max_sequence_length', 'model_max_length']));
  u32('embedding_length', findHparam(hp, ['hidden_size', 'n_embd', 'dim']));
  u32('feed_forward_length', findHparam(hp, ['prefix_dense_intermediate_size', 'dense_intermediate_size', 'intermediate_size', 'n_inner', 'hidden_dim']));
  u32('attention.head_count', findHparam(hp, ['num_attention_heads', 'n_head', 'n_heads']));
  u32('attention.head_count_kv', findHparam(hp, ['num_key_value_heads', 'n_kv_heads']));
  if (hp['is_causal'] === false) kv.bool(`${arch}.attention.causal`, false);

  const full = rope['full_attention'];
  const rp: JsonObject = isObject(full) ? full : rope;
  const ropeType = rp['rope_type'];
  if (typeof ropeType === 'string') {
    const factor = num(rp['factor']);
    if (ropeType === 'linear' && factor !== undefined) {
      kv.string(`${arch}.rope.scaling.type`, 'linear');
      kv.f32(`${arch}.rope.scaling.factor`, factor);
    } else if (ropeType === 'yarn' && factor !== undefined) {
      kv.string(`${arch}.rope.scaling.type`, 'yarn');
      kv.f32(`${arch}.rope.scaling.factor`, factor);
      kv.u32(`${arch}.rope.scaling.original_context_length`, rp['original_max_position_embeddings'] as number);
      f32('rope.scaling.yarn_ext_factor', rp['extrapolation_factor']);
      f32('rope.scaling.yarn_attn_factor', rp['attention_factor'] ?? rp['attn_factor']);
      f32('rope.scaling.yarn_beta_fast', rp['beta_fast']);
      f32('rope.scaling.yarn_beta_slow', rp['beta_slow']);
    } else if (ropeType === 'su' || ropeType === 'longrope') {
      kv.string(`${arch}.rope.scaling.type`, 'longrope');
    }
  }
  const sections = rope['mrope_section'];
  if (Array.isArray(sections)) {
    const four = [...sections, 0, 0, 0, 0].slice(0, 4) as number[];
    kv.array(`${arch}.rope.dimension_sections`, { elementType: 5, items: Int32Array.from(four) });
  }
  f32('rope.freq_base', rp['rope_theta']);
  const swa = rope['sliding_attention'];
  if (isObject(swa)) f32('rope.freq_base_swa', swa['rope_theta']);
  f32('attention.layer_norm_rms_epsilon', findHparam(hp, ['rms_norm_eps', 'norm_eps']));
  f32('attention.layer_norm_epsilon', findHparam(hp, ['layer_norm_eps', 'layer_norm_epsilon', 'norm_epsilon']));
  u32('expert_count', findHparam(hp, ['num_local_experts', 'num_experts', 'n_routed_experts']));
  u32('expert_used_count', findHparam(hp, ['num_experts_per_tok', 'num_experts_per_token', 'top_k_experts']));
  u32('expert_group_count', hp['n_group']);
  u32('expert_group_used_count', hp['topk_group']);
  const scoreFunc = findHparam(hp, ['score_function', 'scoring_func', 'score_func', 'moe_router_activation', 'moe_router_activation_func', 'expert_selection_fn']);
  if (present(scoreFunc)) {
    const gating: Record<string, number> = { softmax: 1, sigmoid: 2, sqrtsoftplus: 4 };
    const g = gating[String(scoreFunc)];
    if (g === undefined) throw new QuantNativeError('E_HF_CONFIG', `unsupported expert score gating function ${JSON.stringify(scoreFunc)}`);
    kv.u32(`${arch}.expert_gating_func`, g);
  }
  const headDim = hp['head_dim'];
  if (present(headDim)) {
    kv.u32(`${arch}.attention.key_length`, headDim as number);
    kv.u32(`${arch}.attention.value_length`, headDim as number);
  }
  kv.u32('general.file_type', fileType);
}

/** TextModel.filter_tensors: multimodal tensors dropped, language_model. prefixes removed; undefined
 * for a tensor the converter skips. */
export function textModelFilter(name: string): string | undefined {
  if (/^(mlp|vit\.|vpm\.|siglip2\.|conformer\.|merger\.|resampler\.|sound_encoder\.|sound_projection\.|speech_embeddings\.)/.test(name)
    || /visual\.|vision\.|audio\.|talker\.|vision_|audio_|token2wav\.|code2wav\.|projector\.|pre_mm_projector_norm|image_newline|view_seperator|patch_embed|patch_embedding|patch_merger\.|patch_merge_mlp\.|model\.connector\./.test(name)) {
    return undefined;
  }
  const n = name.replace('language_model.', '');
  return n.endsWith('e_score_correction_bias') ? n.replace('e_score_correction_bias', 'e_score_correction.bias') : n;
}

/** Tensors prepare_tensors never writes. */
export const isSkippedTensor = (name: string): boolean => /\.(attention\.masked_bias|attention\.bias|rotary_emb\.inv_freq)$/.test(name);
