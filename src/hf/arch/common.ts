/** What the architecture classes share: the tensors TextModel hands to modify_tensors, and name mapping. */
import { QuantNativeError } from '../../errors.js';
import type { ConvertContext } from '../convert-plan.js';
import type { SafetensorsTensor } from '../safetensors.js';
import { ggufTensorName } from '../tensor-names.js';
import { isSkippedTensor, textModelFilter } from '../text-model.js';

/** The checkpoint's tensors in the converter's order, by their filtered names; the ones it drops left out. */
export function textModelTensors(ctx: ConvertContext, filter: (name: string) => string | undefined = textModelFilter): Array<{ name: string; tensor: SafetensorsTensor }> {
  const names = new Set(ctx.folder.tensors.map((t) => t.name));
  // A tied checkpoint saved with only lm_head.weight: the converter would write output.weight and no
  // token_embd.weight, which llama.cpp cannot load. The two are one tensor, so it is read as the embedding.
  const tiedAsLmHead = ctx.hp['tie_word_embeddings'] === true && names.has('lm_head.weight') && !names.has('model.embed_tokens.weight');
  const out: Array<{ name: string; tensor: SafetensorsTensor }> = [];
  for (const tensor of ctx.folder.tensors) {
    const name = tiedAsLmHead && tensor.name === 'lm_head.weight' ? 'model.embed_tokens.weight' : filter(tensor.name);
    if (name !== undefined && !isSkippedTensor(name)) out.push({ name, tensor });
  }
  return out;
}

/** map_tensor_name, or an error that names the tensor and the architecture. */
export function mapTensorName(name: string, extra: ReadonlyArray<[RegExp, string]>, architecture: string): string {
  const mapped = ggufTensorName(name, extra);
  if (mapped === undefined) {
    throw new QuantNativeError('E_UNSUPPORTED_ARCH', `cannot map tensor ${name} to a GGUF name`, { hint: `this checkpoint has tensors the converter does not know for ${architecture}` });
  }
  return mapped;
}
