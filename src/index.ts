/** quant-native: quantize GGUF models byte-for-byte like llama.cpp. */
export {
  quantize, dequantize, inspect, listPresets, quantizeRows, dequantizeRows, defaultOutputPath,
  type QuantizeOptions, type DequantizeOptions, type QuantizeProgress, type QuantizeSummary, type TensorSummary, type PresetInfo,
  type InspectResult, type InspectTensor, type RowsOptions,
} from './api.js';
export { compareModels, type CompareResult, type TensorComparison } from './compare.js';
export { QuantNativeError, GgufError, AbortError, type ErrorCode } from './errors.js';
export type { KvOverride, RuleOptions, TensorTypeOverride } from './quant/plan.js';
export { writeSyntheticModel, type SyntheticModelOptions } from './synthetic.js';
