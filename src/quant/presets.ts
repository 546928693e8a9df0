/** llama-quantize's presets (QUANT_OPTIONS, in its order: numeric input and COPY resolve to the
 * first match), with their llama_ftype ids and default ggml types. */
import { GgmlType } from '../ggml-types.js';

export interface Preset {
  /** The name llama-quantize prints and accepts. */
  readonly name: string;
  /** llama_ftype, written as general.file_type. */
  readonly ftype: number;
  /** The type every quantizable tensor starts from (llama_ftype_get_default_type); undefined for COPY. */
  readonly defaultType: number | undefined;
  readonly description: string;
}

const G = GgmlType;

export const PRESETS = [
  { name: 'Q1_0', ftype: 40, defaultType: G.Q1_0, description: '1.125 bpw quantization' },
  { name: 'Q2_0', ftype: 41, defaultType: G.Q2_0, description: '2.25 bpw quantization (group 64)' },
  { name: 'Q4_0', ftype: 2, defaultType: G.Q4_0, description: '4.34G, +0.4685 ppl @ Llama-3-8B' },
  { name: 'Q4_1', ftype: 3, defaultType: G.Q4_1, description: '4.78G, +0.4511 ppl @ Llama-3-8B' },
  { name: 'MXFP4_MOE', ftype: 38, defaultType: G.MXFP4, description: 'MXFP4 MoE' },
  { name: 'Q5_0', ftype: 8, defaultType: G.Q5_0, description: '5.21G, +0.1316 ppl @ Llama-3-8B' },
  { name: 'Q5_1', ftype: 9, defaultType: G.Q5_1, description: '5.65G, +0.1062 ppl @ Llama-3-8B' },
  { name: 'IQ2_XXS', ftype: 19, defaultType: G.IQ2_XXS, description: '2.06 bpw quantization' },
  { name: 'IQ2_XS', ftype: 20, defaultType: G.IQ2_XS, description: '2.31 bpw quantization' },
  { name: 'IQ2_S', ftype: 28, defaultType: G.IQ2_XS, description: '2.5  bpw quantization' },
  { name: 'IQ2_M', ftype: 29, defaultType: G.IQ2_S, description: '2.7  bpw quantization' },
  { name: 'IQ1_S', ftype: 24, defaultType: G.IQ1_S, description: '1.56 bpw quantization' },
  { name: 'IQ1_M', ftype: 31, defaultType: G.IQ1_M, description: '1.75 bpw quantization' },
  { name: 'TQ1_0', ftype: 36, defaultType: G.TQ1_0, description: '1.69 bpw ternarization' },
  { name: 'TQ2_0', ftype: 37, defaultType: G.TQ2_0, description: '2.06 bpw ternarization' },
  { name: 'Q2_K', ftype: 10, defaultType: G.Q2_K, description: '2.96G, +3.5199 ppl @ Llama-3-8B' },
  { name: 'Q2_K_S', ftype: 21, defaultType: G.Q2_K, description: '2.96G, +3.1836 ppl @ Llama-3-8B' },
  { name: 'IQ3_XXS', ftype: 23, defaultType: G.IQ3_XXS, description: '3.06 bpw quantization' },
  { name: 'IQ3_S', ftype: 26, defaultType: G.IQ3_S, description: '3.44 bpw quantization' },
  { name: 'IQ3_M', ftype: 27, defaultType: G.IQ3_S, description: '3.66 bpw quantization mix' },
  { name: 'Q3_K', ftype: 12, defaultType: G.Q3_K, description: 'alias for Q3_K_M' },
  { name: 'IQ3_XS', ftype: 22, defaultType: G.IQ3_S, description: '3.3 bpw quantization' },
  { name: 'Q3_K_S', ftype: 11, defaultType: G.Q3_K, description: '3.41G, +1.6321 ppl @ Llama-3-8B' },
  { name: 'Q3_K_M', ftype: 12, defaultType: G.Q3_K, description: '3.74G, +0.6569 ppl @ Llama-3-8B' },
  { name: 'Q3_K_L', ftype: 13, defaultType: G.Q3_K, description: '4.03G, +0.5562 ppl @ Llama-3-8B' },
  { name: 'IQ4_NL', ftype: 25, defaultType: G.IQ4_NL, description: '4.50 bpw non-linear quantization' },
  { name: 'IQ4_XS', ftype: 30, defaultType: G.IQ4_XS, description: '4.25 bpw non-linear quantization' },
  { name: 'Q4_K', ftype: 15, defaultType: G.Q4_K, description: 'alias for Q4_K_M' },
  { name: 'Q4_K_S', ftype: 14, defaultType: G.Q4_K, description: '4.37G, +0.2689 ppl @ Llama-3-8B' },
  { name: 'Q4_K_M', ftype: 15, defaultType: G.Q4_K, description: '4.58G, +0.1754 ppl @ Llama-3-8B' },
  { name: 'Q5_K', ftype: 17, defaultType: G.Q5_K, description: 'alias for Q5_K_M' },
  { name: 'Q5_K_S', ftype: 16, defaultType: G.Q5_K, description: '5.21G, +0.1049 ppl @ Llama-3-8B' },
  { name: 'Q5_K_M', ftype: 17, defaultType: G.Q5_K, description: '5.33G, +0.0569 ppl @ Llama-3-8B' },
  { name: 'Q6_K', ftype: 18, defaultType: G.Q6_K, description: '6.14G, +0.0217 ppl @ Llama-3-8B' },
  { name: 'Q8_0', ftype: 7, defaultType: G.Q8_0, description: '7.96G, +0.0026 ppl @ Llama-3-8B' },
  { name: 'F16', ftype: 1, defaultType: G.F16, description: '14.00G, +0.0020 ppl @ Mistral-7B' },
  { name: 'BF16', ftype: 32, defaultType: G.BF16, description: '14.00G, -0.0050 ppl @ Mistral-7B' },
  { name: 'F32', ftype: 0, defaultType: G.F32, description: '26.00G              @ 7B' },
  { name: 'COPY', ftype: 0, defaultType: undefined, description: 'only copy tensors, no quantizing' },
] as const satisfies readonly Preset[];

/** A preset's name as llama-quantize prints it. */
export type PresetName = (typeof PRESETS)[number]['name'];

/** How a preset can be named: any case of its name, or its llama_ftype number. */
export type PresetArg = PresetName | Lowercase<PresetName> | `${number}`;

/** Presets llama-quantize refuses without an importance matrix: those whose rules give most tensors a
 * type that needs one (IQ1/IQ2, IQ3_XXS, and IQ3_XS's IQ3_XXS layers), and Q2_K_S (llama_tensor_quantize_impl). */
const IMATRIX_TYPES: readonly number[] = [G.IQ1_S, G.IQ1_M, G.IQ2_XXS, G.IQ2_XS, G.IQ2_S, G.IQ3_XXS];
export function presetNeedsImatrix(p: Preset): boolean {
  return (p.defaultType !== undefined && IMATRIX_TYPES.includes(p.defaultType)) || p.name === 'Q2_K_S' || p.name === 'IQ3_XS';
}

/** llama_ftype ids, for the rules that name a preset. */
export const Ftype = {
  ALL_F32: 0, MOSTLY_F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7, Q5_0: 8, Q5_1: 9, Q2_K: 10, Q3_K_S: 11, Q3_K_M: 12,
  Q3_K_L: 13, Q4_K_S: 14, Q4_K_M: 15, Q5_K_S: 16, Q5_K_M: 17, Q6_K: 18, IQ2_XXS: 19, IQ2_XS: 20, Q2_K_S: 21,
  IQ3_XS: 22, IQ3_XXS: 23, IQ1_S: 24, IQ4_NL: 25, IQ3_S: 26, IQ3_M: 27, IQ2_S: 28, IQ2_M: 29, IQ4_XS: 30,
  IQ1_M: 31, BF16: 32, TQ1_0: 36, TQ2_0: 37, MXFP4_MOE: 38, NVFP4: 39, Q1_0: 40, Q2_0: 41,
} as const;

/** A preset by name (case-insensitive) or ftype number, as llama-quantize's try_parse_ftype does. */
export function findPreset(arg: string): Preset | undefined {
  const upper = arg.trim().toUpperCase();
  const byName = PRESETS.find((p) => p.name === upper);
  if (byName) return byName;
  if (!/^[+-]?\d+$/.test(upper)) return undefined;
  const id = Number(upper);
  return PRESETS.find((p) => p.ftype === id && p.defaultType !== undefined);
}
