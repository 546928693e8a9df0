/** llama.cpp's per-tensor type rules (src/llama-quant.cpp), one function per rule family, in the
 * order and with the conditions of the source, so a reader can check them line by line. */
import { QuantNativeError } from '../errors.js';
import { GgmlType, ggmlTypeInfo, ggmlTypeName } from '../ggml-types.js';
import { Ftype } from './presets.js';

const G = GgmlType;

export type Category =
  | 'OUTPUT' | 'TOKEN_EMBD' | 'ATTENTION_QKV' | 'ATTENTION_KV_B' | 'ATTENTION_V' | 'ATTENTION_K'
  | 'ATTENTION_Q' | 'ATTENTION_OUTPUT' | 'FFN_UP' | 'FFN_GATE' | 'FFN_DOWN' | 'OTHER';

export function isTokenEmbd(name: string): boolean {
  return name === 'token_embd.weight' || name === 'per_layer_token_embd.weight';
}

/** tensor_get_category: first match wins, substring tests. */
export function tensorCategory(name: string): Category {
  if (name === 'output.weight') return 'OUTPUT';
  if (isTokenEmbd(name)) return 'TOKEN_EMBD';
  if (name.includes('attn_qkv.weight')) return 'ATTENTION_QKV';
  if (name.includes('attn_kv_b.weight')) return 'ATTENTION_KV_B';
  if (name.includes('attn_v.weight')) return 'ATTENTION_V';
  if (name.includes('attn_k.weight')) return 'ATTENTION_K';
  if (name.includes('attn_q.weight')) return 'ATTENTION_Q';
  if (name.includes('attn_output.weight')) return 'ATTENTION_OUTPUT';
  if (name.includes('ffn_up')) return 'FFN_UP';
  if (name.includes('ffn_gate')) return 'FFN_GATE';
  if (name.includes('ffn_down')) return 'FFN_DOWN';
  return 'OTHER';
}

export function isAttnVLike(c: Category): boolean {
  return c === 'ATTENTION_V' || c === 'ATTENTION_QKV' || c === 'ATTENTION_KV_B';
}

const NEVER_QUANTIZED_SUBSTRINGS = [
  '_norm.weight', 'ffn_gate_inp.weight', 'ffn_gate_tid2eid.weight', 'altup', 'laurel', 'per_layer_model_proj',
  'ssm_conv1d', 'shortconv.conv.weight', 'indexer.k_proj.weight', 'indexer.q_proj.weight',
  'time_mix_first.weight', 'time_mix_w0.weight', 'time_mix_w1.weight', 'time_mix_w2.weight', 'time_mix_v0.weight',
  'time_mix_v1.weight', 'time_mix_v2.weight', 'time_mix_a0.weight', 'time_mix_a1.weight', 'time_mix_a2.weight',
  'time_mix_g1.weight', 'time_mix_g2.weight', 'time_mix_decay_w1.weight', 'time_mix_decay_w2.weight',
  'time_mix_lerp_fused.weight', 'attn_rel_b.weight', '.position_embd', 'sam.pos_embd', 'sam.neck.', 'sam.net_',
  '.rel_pos', '.patch_embd', '.patch_merger', 'a.rvq.codebook', 'mm.a.code_embd',
];

/** tensor_allows_quantization. nDims is ggml_n_dims (trailing 1s do not count). */
export function allowsQuantization(name: string, nDims: number, opts: { onlyCopy: boolean; quantizeOutputTensor: boolean }): boolean {
  if (opts.onlyCopy) return false;
  if (nDims < 2) return false;
  if (!name.endsWith('weight')) return false;
  if (!opts.quantizeOutputTensor && name === 'output.weight') return false;
  if (name === 'position_embd.weight' || name === 'token_types.weight') return false;
  return !NEVER_QUANTIZED_SUBSTRINGS.some((s) => name.includes(s));
}

/** tensor_requires_imatrix */
export function requiresImatrix(name: string, type: number, ftype: number): boolean {
  if (isTokenEmbd(name) || name === 'output.weight') return false;
  switch (type) {
    case G.IQ3_XXS: case G.IQ2_XXS: case G.IQ2_XS: case G.IQ2_S: case G.IQ1_M: case G.IQ1_S: return true;
    case G.Q2_K: return ftype === Ftype.Q2_K_S;
    default: return false;
  }
}

/** tensor_type_fallback: a type whose block does not divide the row length. */
export function fallbackType(name: string, ne0: number, target: number): { type: number; fellBack: boolean } {
  const block = ggmlTypeInfo(target)!.blockSize;
  if (ne0 % block === 0) return { type: target, fellBack: false };
  let t: number;
  switch (target) {
    case G.IQ1_S: case G.IQ1_M: case G.IQ2_XXS: case G.IQ2_XS: case G.IQ2_S: case G.IQ3_XXS: case G.IQ3_S: case G.IQ4_XS:
      t = G.IQ4_NL; break;
    case G.Q2_0: case G.Q2_K: case G.Q3_K: case G.TQ1_0: case G.TQ2_0: t = G.Q4_0; break;
    case G.Q4_K: t = G.Q5_0; break;
    case G.Q5_K: t = G.Q5_1; break;
    case G.Q6_K: t = G.Q8_0; break;
    default:
      if (block <= 32) {
        t = target;
        break;
      }
      throw new QuantNativeError('E_NO_FALLBACK', `tensor ${name}: no fallback type is defined for ${ggmlTypeName(target)} (row length ${ne0})`, {
        hint: 'choose another type for this tensor with --tensor-type',
      });
  }
  if (ne0 % ggmlTypeInfo(t)!.blockSize !== 0) t = G.F16;
  return { type: t, fellBack: true };
}

/** What the mixture rules need to know about the model. */
export interface ModelFacts {
  arch: string;
  nExpert: number;
  /** n_head / n_head_kv of layer 0 (integer division; 0 when n_head_kv is 0). */
  gqa: number;
  is70B: boolean;
  /** <arch>.block_count (all layers). */
  nLayerAll: number;
  hasTiedEmbeddings: boolean;
  nAttentionWv: number;
}

/** The counters llama.cpp advances as it walks tensors in order. */
export interface RuleCounters {
  iAttentionWv: number;
  iFfnDown: number;
  iFfnGate: number;
  iFfnUp: number;
}

export interface RuleContext {
  ftype: number;
  model: ModelFacts;
  counters: RuleCounters;
  hasImatrix: boolean;
  outputTensorType: number | undefined;
  tokenEmbeddingType: number | undefined;
}

const useMoreBits = (i: number, n: number): boolean =>
  i < Math.trunc(n / 8) || i >= Math.trunc((7 * n) / 8) || (i - Math.trunc(n / 8)) % 3 === 2;

const VERY_LOW_BIT: readonly number[] = [Ftype.IQ2_XXS, Ftype.IQ2_XS, Ftype.IQ1_S, Ftype.IQ2_S, Ftype.IQ2_M, Ftype.IQ1_M];
const OUTPUT_Q5_K: readonly number[] = [Ftype.IQ2_XXS, Ftype.IQ2_XS, Ftype.IQ3_XXS, Ftype.IQ1_S, Ftype.IQ2_S, Ftype.IQ2_M, Ftype.IQ1_M];
const EMBD_Q2_K: readonly number[] = [Ftype.IQ2_XXS, Ftype.IQ2_XS, Ftype.IQ1_S, Ftype.IQ1_M];

/** The layer index of a ffn tensor: its counter, or (for MoE models) the number in its name. */
function layerInfo(ctx: RuleContext, counter: number, n: number, name: string): [number, number] {
  if (Math.max(1, ctx.model.nExpert) > 1) {
    const m = /^blk\.([+-]?\d+)/.exec(name);
    if (!m) throw new QuantNativeError('E_BAD_OPTION', `cannot determine the layer of tensor ${name}`);
    const layer = Number(m[1]);
    if (layer < 0 || layer >= n) throw new QuantNativeError('E_BAD_OPTION', `bad layer ${layer} for tensor ${name}: must be in [0, ${n})`);
    return [layer, n];
  }
  return [counter, n];
}

/** llama_tensor_get_type_impl: the mixture rules of the quantized presets. */
export function mixtureType(ctx: RuleContext, T: number, name: string, ne0: number, ne2: number, category: Category): number {
  const { ftype, model, counters: c } = ctx;
  const falcon = model.arch === 'falcon';
  let t = T;

  if (category === 'OUTPUT' || (model.hasTiedEmbeddings && category === 'TOKEN_EMBD')) {
    if (ctx.outputTensorType !== undefined) return ctx.outputTensorType;
    if (ftype === Ftype.MXFP4_MOE) return G.Q8_0;
    if (falcon || ne0 % ggmlTypeInfo(T)!.blockSize !== 0) return G.Q8_0;
    if (OUTPUT_Q5_K.includes(ftype)) return G.Q5_K;
    return T !== G.Q8_0 ? G.Q6_K : T;
  }
  if (ftype === Ftype.MXFP4_MOE) {
    const bailingExpert = model.arch === 'bailingmoe3' && (category === 'FFN_UP' || category === 'FFN_GATE' || category === 'FFN_DOWN');
    return ne2 > 1 && (model.arch !== 'bailingmoe3' || bailingExpert) ? G.MXFP4 : G.Q8_0;
  }
  if (category === 'TOKEN_EMBD') {
    if (ctx.tokenEmbeddingType !== undefined) return ctx.tokenEmbeddingType;
    if (EMBD_Q2_K.includes(ftype)) return G.Q2_K;
    if (ftype === Ftype.IQ2_S || ftype === Ftype.IQ2_M || ftype === Ftype.IQ3_XXS) return G.IQ3_S;
    if (ftype === Ftype.TQ1_0 || ftype === Ftype.TQ2_0 || ftype === Ftype.Q2_0) return G.Q4_K;
    return t;
  }
  const iq2sm = ftype === Ftype.IQ2_S || ftype === Ftype.IQ2_M;
  if (VERY_LOW_BIT.includes(ftype)) {
    if (isAttnVLike(category)) {
      t = model.gqa >= 4 || model.nExpert >= 4 ? G.Q4_K : iq2sm ? G.IQ3_S : G.Q2_K;
      c.iAttentionWv++;
    } else if (model.nExpert === 8 && category === 'ATTENTION_K') {
      t = G.Q4_K;
    } else if (category === 'FFN_DOWN') {
      if (c.iFfnDown < Math.trunc(model.nLayerAll / 8)) t = iq2sm ? G.IQ3_S : G.Q2_K;
      c.iFfnDown++;
    } else if (category === 'ATTENTION_OUTPUT') {
      if (model.nExpert === 8) t = G.Q5_K;
      else if (ftype === Ftype.IQ1_S || ftype === Ftype.IQ1_M) t = G.IQ2_XXS;
      else if (iq2sm) t = G.IQ3_S;
    }
    return t;
  }
  if (isAttnVLike(category)) {
    if (ftype === Ftype.Q2_K) t = model.gqa >= 4 ? G.Q4_K : G.Q3_K;
    else if (ftype === Ftype.Q2_K_S && model.gqa >= 4) t = G.Q4_K;
    else if (ftype === Ftype.IQ3_XXS) t = model.gqa >= 4 ? G.Q4_K : !ctx.hasImatrix ? G.IQ3_S : G.IQ3_XXS;
    else if ((ftype === Ftype.IQ3_XS || ftype === Ftype.IQ3_S) && model.gqa >= 4) t = G.Q4_K;
    else if (ftype === Ftype.IQ3_M) t = G.Q4_K;
    else if (ftype === Ftype.Q3_K_M) t = c.iAttentionWv < 2 ? G.Q5_K : G.Q4_K;
    else if (ftype === Ftype.Q3_K_L) t = G.Q5_K;
    else if ((ftype === Ftype.IQ4_NL || ftype === Ftype.IQ4_XS) && model.gqa >= 4) t = G.Q5_K;
    else if ((ftype === Ftype.Q4_K_M || ftype === Ftype.Q5_K_M) && useMoreBits(c.iAttentionWv, model.nAttentionWv)) t = G.Q6_K;
    else if (ftype === Ftype.Q4_K_S && c.iAttentionWv < 4) t = G.Q5_K;
    if (model.is70B && (t === G.Q3_K || t === G.Q4_K)) t = G.Q5_K;
    if (model.nExpert === 8) t = G.Q8_0;
    c.iAttentionWv++;
    return t;
  }
  if (category === 'ATTENTION_K') {
    if (model.nExpert === 8) return G.Q8_0;
    if (ftype === Ftype.IQ3_XS) return G.IQ3_XXS;
    if (ftype === Ftype.IQ3_XXS) return G.IQ2_S;
    return t;
  }
  if (category === 'ATTENTION_Q') {
    if (ftype === Ftype.IQ3_XS) return G.IQ3_XXS;
    if (ftype === Ftype.IQ3_XXS) return G.IQ2_S;
    return t;
  }
  if (category === 'FFN_DOWN') {
    const [i, n] = layerInfo(ctx, c.iFfnDown, model.nLayerAll, name);
    const n8 = Math.trunc(n / 8), n16 = Math.trunc(n / 16);
    if (ftype === Ftype.Q2_K) t = G.Q3_K;
    else if (ftype === Ftype.Q2_K_S) { if (i < n8) t = G.Q4_K; }
    else if (ftype === Ftype.IQ3_XXS && !ctx.hasImatrix) t = i < n8 ? G.Q4_K : G.Q3_K;
    else if (ftype === Ftype.Q3_K_M) t = i < n16 ? G.Q5_K : !falcon || useMoreBits(i, n) ? G.Q4_K : G.Q3_K;
    else if (ftype === Ftype.IQ3_M && (i < n8 || (model.nExpert === 8 && useMoreBits(i, n)))) t = G.Q4_K;
    else if (ftype === Ftype.Q3_K_L) t = falcon ? G.Q4_K : G.Q5_K;
    else if (ftype === Ftype.Q4_K_M) {
      if (falcon) t = i < n16 ? G.Q6_K : useMoreBits(i, n) ? G.Q5_K : G.Q4_K;
      else if (useMoreBits(i, n)) t = G.Q6_K;
    } else if (i < n8 && (ftype === Ftype.IQ4_NL || ftype === Ftype.IQ4_XS) && !ctx.hasImatrix) t = G.Q5_K;
    else if (ftype === Ftype.Q5_K_M && useMoreBits(i, n)) t = G.Q6_K;
    else if (ftype === Ftype.Q4_K_S && !falcon && i < n8) t = G.Q5_K;
    else if ((ftype === Ftype.Q4_0 || ftype === Ftype.Q5_0) && ctx.hasImatrix && i < n8) t = ftype === Ftype.Q4_0 ? G.Q4_1 : G.Q5_1;
    c.iFfnDown++;
    return t;
  }
  if (category === 'ATTENTION_OUTPUT') {
    if (!falcon) {
      if (model.nExpert === 8) {
        const bump: readonly number[] = [Ftype.Q2_K, Ftype.IQ3_XS, Ftype.IQ3_XXS, Ftype.Q3_K_S, Ftype.Q3_K_M, Ftype.IQ4_NL, Ftype.Q4_K_S, Ftype.Q4_K_M, Ftype.IQ3_S, Ftype.IQ3_M, Ftype.IQ4_XS];
        if (bump.includes(ftype)) t = G.Q5_K;
      } else if (ftype === Ftype.Q2_K) t = G.Q3_K;
      else if (ftype === Ftype.IQ3_XXS) t = G.IQ3_S;
      else if (ftype === Ftype.Q3_K_M) t = G.Q4_K;
      else if (ftype === Ftype.Q3_K_L) t = G.Q5_K;
      else if (ftype === Ftype.IQ3_M) t = G.Q4_K;
    } else if (ftype === Ftype.Q3_K_L) {
      t = G.Q4_K;
    }
    return t;
  }
  // ATTENTION_QKV never gets here: the attn_v-like branch above catches it first, as in llama.cpp.
  if (category === 'FFN_GATE' || category === 'FFN_UP') {
    const counter = category === 'FFN_GATE' ? c.iFfnGate : c.iFfnUp;
    const [i, n] = layerInfo(ctx, counter, model.nLayerAll, name);
    if (ftype === Ftype.IQ3_XS && i >= Math.trunc(n / 8) && i < Math.trunc((7 * n) / 8)) t = G.IQ3_XXS;
    if (category === 'FFN_GATE') c.iFfnGate++;
    else c.iFfnUp++;
    return t;
  }
  return t;
}

