/** LlamaModel (Llama, Mistral, Mixtral): hparams, vocabulary, tensor names, the rope permutation of
 * q/k, Mixtral's stacked experts and Llama 3's rope_freqs. */
import { QuantNativeError } from '../../errors.js';
import { isObject, type JsonObject } from '../folder.js';
import type { KvBuilder } from '../kv-builder.js';
import { mapTensorName, textModelTensors } from './common.js';
import { requireHparam, textModelFilter } from '../text-model.js';
import { addBpeVocab } from '../vocab-bpe.js';
import { readLlamaHfVocab } from '../vocab-llama-hf.js';
import { addSentencePieceVocab, createSentencePieceVocab } from '../vocab-spm.js';
import type { Architecture, ConvertContext, SourceTensor, TensorRecipe } from '../convert-plan.js';

function heads(hp: JsonObject): { nHead: number; nKvHead: number } {
  const nHead = requireHparam(hp, ['n_heads', 'num_attention_heads']) as number;
  const nKvHead = requireHparam(hp, ['n_kv_heads', 'num_key_value_heads']) as number;
  return { nHead, nKvHead };
}

/** TextModel.filter_tensors, then LlamaModel's (text_model. stripped). */
function filterName(name: string): string | undefined {
  return textModelFilter(name)?.replace('text_model.', '');
}

export const llama: Architecture = {
  hfArchitectures: ['LlamaForCausalLM', 'LLaMAForCausalLM', 'MistralForCausalLM', 'MixtralForCausalLM'],
  ggufArch: 'llama',

  configDefaults(hp: JsonObject): void {
    // LlamaConfig and MistralConfig (transformers >= 4.46); MixtralConfig only gained head_dim later.
    const model = hp['model_type'];
    if (model !== 'llama' && model !== 'mistral') return;
    const heads = hp['num_attention_heads'];
    if ((hp['head_dim'] === undefined || hp['head_dim'] === null) && typeof hp['hidden_size'] === 'number' && typeof heads === 'number') {
      hp['head_dim'] = Math.floor(hp['hidden_size'] / heads);
    }
    if ((hp['num_key_value_heads'] === undefined || hp['num_key_value_heads'] === null) && typeof heads === 'number') hp['num_key_value_heads'] = heads;
    const defaults: JsonObject = model === 'llama'
      ? { max_position_embeddings: 2048, rms_norm_eps: 1e-6, rope_theta: 10000.0 }
      : { max_position_embeddings: 4096 * 32, rms_norm_eps: 1e-6, rope_theta: 10000.0 };
    for (const [k, v] of Object.entries(defaults)) if (!(k in hp)) hp[k] = v;
  },

  addParameters(kv: KvBuilder, ctx: ConvertContext): void {
    kv.u32('llama.vocab_size', requireHparam(ctx.hp, ['vocab_size']) as number);
    const headDim = ctx.hp['head_dim'];
    const ropeDim = typeof headDim === 'number' ? headDim
      : Math.floor((requireHparam(ctx.hp, ['hidden_size']) as number) / (requireHparam(ctx.hp, ['num_attention_heads']) as number));
    kv.u32('llama.rope.dimension_count', ropeDim);
  },

  async addVocab(kv: KvBuilder, ctx: ConvertContext): Promise<void> {
    const config = ctx.tokenizerConfig;
    if (config && typeof config['add_prefix_space'] === 'boolean') kv.bool('tokenizer.ggml.add_space_prefix', config['add_prefix_space']);
    const spm = await createSentencePieceVocab(ctx.folder.dir, ctx.hp);
    if (spm) return addSentencePieceVocab(kv, ctx.folder.dir, spm);
    const hf = await readLlamaHfVocab(ctx.folder.dir);
    if (typeof hf === 'object') return addSentencePieceVocab(kv, ctx.folder.dir, hf);
    // Llama 3 and other byte-level BPE tokenizers.
    return addBpeVocab(kv, ctx.folder.dir, ctx.hp);
  },

  recipes(ctx: ConvertContext): TensorRecipe[] {
    const { nHead, nKvHead } = heads(ctx.hp);
    const out: TensorRecipe[] = [];
    const experts = new Map<number, Map<string, SourceTensor>>();
    const nExperts = ctx.hp['num_local_experts'];
    for (const { name, tensor: t } of textModelTensors(ctx, filterName)) {
      let permuteHeads: number | undefined;
      if (/q_proj\.(weight|bias)$/.test(name)) permuteHeads = nHead;
      else if (/k_proj\.(weight|bias)$/.test(name)) permuteHeads = nHead !== nKvHead ? nKvHead : nHead;
      const source: SourceTensor = { tensor: t, ...(permuteHeads !== undefined ? { permuteHeads } : {}) };
      const expert = /^model\.layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.(w[123])\.weight$/.exec(name);
      if (expert) {
        // Mixtral: a layer's experts, once all have come, stacked into one 3-D tensor per projection.
        if (typeof nExperts !== 'number') throw new QuantNativeError('E_HF_CONFIG', 'config.json lacks num_local_experts, which a Mixtral model needs');
        const bid = Number(expert[1]);
        const layer = experts.get(bid) ?? new Map<string, SourceTensor>();
        experts.set(bid, layer);
        layer.set(`${expert[3]}.${expert[2]}`, source);
        if (layer.size >= nExperts * 3) {
          for (const wid of ['w1', 'w2', 'w3']) {
            const parts = Array.from({ length: nExperts }, (_, x) => layer.get(`${wid}.${x}`)!);
            out.push({ name: mapName(`layers.${bid}.feed_forward.experts.${wid}.weight`), shape: [nExperts, ...parts[0]!.tensor.shape], sources: parts });
          }
          experts.delete(bid);
        }
        continue;
      }
      out.push({ name: mapName(name), shape: [...t.shape], sources: [source] });
    }
    return out;
  },

  extraTensors(ctx: ConvertContext): TensorRecipe[] {
    const full = ctx.rope['full_attention'];
    const rp = isObject(full) ? full : ctx.rope;
    if (Object.keys(rp).length === 0 || String(rp['rope_type'] ?? '').toLowerCase() !== 'llama3') return [];
    const dim = typeof ctx.hp['head_dim'] === 'number' ? ctx.hp['head_dim']
      : Math.floor((requireHparam(ctx.hp, ['hidden_size']) as number) / (requireHparam(ctx.hp, ['num_attention_heads']) as number));
    const n = (k: string, d: number): number => (typeof rp[k] === 'number' ? rp[k] : d);
    const factors = llama3RopeFactors(dim, n('rope_theta', 10000.0), n('factor', 8.0), n('low_freq_factor', 1.0), n('high_freq_factor', 4.0), n('original_max_position_embeddings', 8192));
    return [{ name: 'rope_freqs.weight', shape: [factors.length], sources: [], data: factors }];
  },
};

/** LlamaModel.generate_extra_tensors for rope_type llama3, in float32 as torch computes it. */
export function llama3RopeFactors(dim: number, base: number, factor: number, lowFreqFactor: number, highFreqFactor: number, oldContext: number): Float32Array {
  const f = Math.fround;
  const lowWavelen = oldContext / lowFreqFactor;
  const highWavelen = oldContext / highFreqFactor;
  const out: number[] = [];
  for (let i = 0; i < dim; i += 2) {
    const freq = f(1 / f(f(base) ** f(f(i) / f(dim))));
    const wavelen = f(f(2 * Math.PI) / freq);
    if (wavelen < f(highWavelen)) out.push(1);
    else if (wavelen > f(lowWavelen)) out.push(factor);
    else {
      const smooth = f(f(f(f(oldContext) / wavelen) - f(lowFreqFactor)) / f(highFreqFactor - lowFreqFactor));
      out.push(f(1 / f(f(f(1 - smooth) / f(factor)) + smooth)));
    }
  }
  return Float32Array.from(out);
}

function mapName(name: string): string {
  return mapTensorName(name, [], 'Llama');
}
