/** Hugging Face tensor names to GGUF ones (gguf-py's TensorNameMap) for the architectures converted
 * here. A suffix (.weight, .bias) is kept. */

const LAYER = String.raw`(?:model\.)?layers\.(\d+)\.`;

/** [pattern, GGUF name with {bid}] in the order TensorNameMap tries them. */
const COMMON: ReadonlyArray<[RegExp, string]> = [
  [/^model\.embed_tokens$/, 'token_embd'],
  [/^lm_head$/, 'output'],
  [/^model\.norm$/, 'output_norm'],
  [new RegExp(`^${LAYER}input_layernorm$`), 'blk.{bid}.attn_norm'],
  [new RegExp(`^${LAYER}self_attn\\.q_proj$`), 'blk.{bid}.attn_q'],
  [new RegExp(`^${LAYER}self_attn\\.k_proj$`), 'blk.{bid}.attn_k'],
  [new RegExp(`^${LAYER}self_attn\\.v_proj$`), 'blk.{bid}.attn_v'],
  [new RegExp(`^${LAYER}self_attn\\.o_proj$`), 'blk.{bid}.attn_output'],
  [new RegExp(`^${LAYER}self_attn\\.q_norm$`), 'blk.{bid}.attn_q_norm'],
  [new RegExp(`^${LAYER}self_attn\\.k_norm$`), 'blk.{bid}.attn_k_norm'],
  [new RegExp(`^${LAYER}post_attention_layernorm$`), 'blk.{bid}.ffn_norm'],
  [new RegExp(`^${LAYER}mlp\\.gate_proj$`), 'blk.{bid}.ffn_gate'],
  [new RegExp(`^${LAYER}mlp\\.up_proj$`), 'blk.{bid}.ffn_up'],
  [new RegExp(`^${LAYER}mlp\\.down_proj$`), 'blk.{bid}.ffn_down'],
  [new RegExp(`^${LAYER}block_sparse_moe\\.gate$`), 'blk.{bid}.ffn_gate_inp'],
  [new RegExp(`^${LAYER}mlp\\.gate$`), 'blk.{bid}.ffn_gate_inp'],
];

/** Names the converter builds itself (stacked experts) and maps like any other. */
const MERGED: ReadonlyArray<[RegExp, string]> = [
  [/^layers\.(\d+)\.feed_forward\.experts\.w1$/, 'blk.{bid}.ffn_gate_exps'],
  [/^layers\.(\d+)\.feed_forward\.experts\.w2$/, 'blk.{bid}.ffn_down_exps'],
  [/^layers\.(\d+)\.feed_forward\.experts\.w3$/, 'blk.{bid}.ffn_up_exps'],
];

/** map_tensor_name with try_suffixes (.weight, .bias); undefined when nothing matches. */
export function ggufTensorName(hfName: string, extra: ReadonlyArray<[RegExp, string]> = []): string | undefined {
  const table = [...extra, ...COMMON, ...MERGED];
  const candidates: Array<[string, string]> = [[hfName, '']];
  for (const suffix of ['.weight', '.bias']) if (hfName.endsWith(suffix)) candidates.push([hfName.slice(0, -suffix.length), suffix]);
  for (const [base, suffix] of candidates) {
    for (const [re, target] of table) {
      const m = re.exec(base);
      if (m) return target.replace('{bid}', m[1] ?? '') + suffix;
    }
  }
  return undefined;
}
