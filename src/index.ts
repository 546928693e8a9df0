/** quant-native: quantize GGUF models byte-for-byte like llama.cpp. */
export {
  quantize, dequantize, inspect, listPresets, quantizeRows, dequantizeRows, defaultOutputPath,
  type QuantizeOptions, type DequantizeOptions, type QuantizeProgress, type QuantizeSummary, type TensorSummary, type PresetInfo,
  type InspectResult, type InspectTensor, type RowsOptions, type QuantizeRowsOptions, type ImatrixSummary, type TargetSummary,
} from './api.js';
export { parseSize, type Target } from './quant/target.js';
export { compareModels, type CompareResult, type TensorComparison } from './compare.js';
export {
  convert, inspectFolder, type ConvertOptions, type ConvertSummary, type ConvertedTensor, type OutType, type InspectFolderResult, type InspectFolderTensor,
} from './convert.js';
export { QuantNativeError, GgufError, AbortError, type ErrorCode } from './errors.js';
export type { KvOverride, RuleOptions, TensorTypeOverride } from './quant/plan.js';
export type { PresetArg, PresetName } from './quant/presets.js';
export type { SimdName } from './native.js';
export { writeSyntheticModel, type SyntheticModelOptions } from './synthetic.js';
