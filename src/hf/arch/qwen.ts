/** Qwen2Model, Qwen3Model and Qwen3MoeModel: TextModel's hparams, the tokenizer.model or byte-level
 * BPE vocabulary, biases and q/k norms by the common names, and Qwen3-MoE's experts stacked per layer
 * (down, gate, up) once all of a layer's have come. */
import { QuantNativeError } from '../../errors.js';
import type { Architecture, ConvertContext, SourceTensor, TensorRecipe } from '../convert-plan.js';
import type { SafetensorsTensor } from '../safetensors.js';
import type { KvBuilder } from '../kv-builder.js';
import { findHparam } from '../text-model.js';
import { addBpeVocab } from '../vocab-bpe.js';
import { addSentencePieceVocab, createSentencePieceVocab } from '../vocab-spm.js';
import { mapTensorName, textModelTensors } from './common.js';

const EXPERT_NAMES: ReadonlyArray<[RegExp, string]> = [
  [/^model\.layers\.(\d+)\.mlp\.experts\.down_proj$/, 'blk.{bid}.ffn_down_exps'],
  [/^model\.layers\.(\d+)\.mlp\.experts\.gate_proj$/, 'blk.{bid}.ffn_gate_exps'],
  [/^model\.layers\.(\d+)\.mlp\.experts\.up_proj$/, 'blk.{bid}.ffn_up_exps'],
];

const mapName = (name: string): string => mapTensorName(name, EXPERT_NAMES, 'Qwen');

/** Qwen2Model.set_vocab: tokenizer.model when there is one, else the byte-level BPE of tokenizer.json. */
async function addQwenVocab(kv: KvBuilder, ctx: ConvertContext): Promise<void> {
  const spm = await createSentencePieceVocab(ctx.folder.dir, ctx.hp);
  return spm ? addSentencePieceVocab(kv, ctx.folder.dir, spm) : addBpeVocab(kv, ctx.folder.dir, ctx.hp);
}

function checkNotReranker(ctx: ConvertContext): void {
  const hints = [ctx.folder.name, ctx.hp['_name_or_path'], ctx.hp['model_type'], ctx.folder.architecture].map((h) => String(h ?? '').toLowerCase());
  if (hints.some((h) => h.includes('qwen3-reranker') || h.includes('sequenceclassification'))) {
    throw new QuantNativeError('E_UNSUPPORTED_ARCH', 'Qwen3 reranker models are not converted yet', { hint: 'convert this folder with llama.cpp\'s convert_hf_to_gguf.py' });
  }
}

function denseRecipes(ctx: ConvertContext): TensorRecipe[] {
  return textModelTensors(ctx).map(({ name, tensor }) => ({ name: mapName(name), shape: [...tensor.shape], sources: [{ tensor }] }));
}

const noDefaults = (): void => undefined;
const noExtra = (): TensorRecipe[] => [];

export const qwen2: Architecture = {
  hfArchitectures: ['Qwen2ForCausalLM'],
  ggufArch: 'qwen2',
  configDefaults: noDefaults,
  addParameters: () => undefined,
  addVocab: addQwenVocab,
  recipes: denseRecipes,
  extraTensors: noExtra,
};

export const qwen3: Architecture = {
  ...qwen2,
  hfArchitectures: ['Qwen3ForCausalLM'],
  ggufArch: 'qwen3',
  recipes(ctx) {
    checkNotReranker(ctx);
    return denseRecipes(ctx);
  },
};

/** Qwen2MoeModel's experts stored pre-merged: down_proj [experts, embd, ff] as it is; gate_up_proj
 * [experts, 2 * ff, embd] split into its gate and up halves along the middle dimension. */
function mergedExperts(prefix: string, kind: string, t: SafetensorsTensor): TensorRecipe[] {
  if (kind === 'down_proj') return [{ name: mapName(`${prefix}.down_proj.weight`), shape: [...t.shape], sources: [{ tensor: t }] }];
  const [experts, twoFf, embd] = t.shape as [number, number, number];
  if (t.shape.length < 3 || twoFf % 2 !== 0) throw new QuantNativeError('E_HF_WEIGHTS', `unexpected gate_up_proj shape [${t.shape.join(', ')}] for ${t.name}`);
  const ff = twoFf / 2;
  const half = (offset: number): SourceTensor[] =>
    Array.from({ length: experts }, (_, e) => ({ tensor: t, viewRows: experts * twoFf, rowOffset: e * twoFf + offset, rows: ff }));
  return [
    { name: mapName(`${prefix}.gate_proj.weight`), shape: [experts, ff, embd], sources: half(0) },
    { name: mapName(`${prefix}.up_proj.weight`), shape: [experts, ff, embd], sources: half(ff) },
  ];
}

export const qwen3moe: Architecture = {
  hfArchitectures: ['Qwen3MoeForCausalLM'],
  ggufArch: 'qwen3moe',
  configDefaults: noDefaults,
  addParameters(kv, ctx) {
    const moe = ctx.hp['moe_intermediate_size'];
    if (typeof moe === 'number') kv.u32('qwen3moe.expert_feed_forward_length', moe);
    const shared = ctx.hp['shared_expert_intermediate_size'];
    if (typeof shared === 'number') kv.u32('qwen3moe.expert_shared_feed_forward_length', shared);
  },
  addVocab: addQwenVocab,
  recipes(ctx) {
    const nExperts = findHparam(ctx.hp, ['num_local_experts', 'num_experts']);
    const pending = new Map<number, Map<string, SourceTensor>>();
    const out: TensorRecipe[] = [];
    for (const { name, tensor: t } of textModelTensors(ctx)) {
      const merged = /^(model\.layers\.(\d+)\.mlp\.experts)\.(down_proj|gate_up_proj)(\.weight)?$/.exec(name);
      if (merged) {
        out.push(...mergedExperts(merged[1]!, merged[3]!, t));
        continue;
      }
      const expert = /^model\.layers\.(\d+)\.mlp\.experts\.(\d+)\.(down_proj|gate_proj|up_proj)\.weight$/.exec(name);
      if (!expert) {
        if (name.includes('experts')) throw new QuantNativeError('E_UNSUPPORTED_ARCH', `expert tensor ${name} is in a layout the converter does not stack`);
        out.push({ name: mapName(name), shape: [...t.shape], sources: [{ tensor: t }] });
        continue;
      }
      if (typeof nExperts !== 'number') throw new QuantNativeError('E_HF_CONFIG', 'config.json lacks num_experts, which a Qwen3-MoE model needs');
      const bid = Number(expert[1]);
      const layer = pending.get(bid) ?? new Map<string, SourceTensor>();
      pending.set(bid, layer);
      layer.set(`${expert[3]}.${expert[2]}`, { tensor: t });
      if (layer.size >= nExperts * 3) {
        for (const w of ['down_proj', 'gate_proj', 'up_proj']) {
          const parts = Array.from({ length: nExperts }, (_, x) => layer.get(`${w}.${x}`)!);
          out.push({ name: mapName(`model.layers.${bid}.mlp.experts.${w}.weight`), shape: [nExperts, ...parts[0]!.tensor.shape], sources: parts });
        }
        pending.delete(bid);
      }
    }
    const left = [...pending.values()].flatMap((m) => [...m.values()].map((s) => s.tensor.name));
    if (left.length > 0) throw new QuantNativeError('E_HF_WEIGHTS', `experts missing from the checkpoint: ${left.length} tensor(s) of incomplete layers, e.g. ${left[0]}`);
    return out;
  },
  extraTensors: noExtra,
};
