/** quant-native: quantize GGUF models byte-for-byte like llama.cpp. */
export {
  quantize, inspect, listPresets, quantizeRows, dequantizeRows, defaultOutputPath,
  type QuantizeOptions, type QuantizeProgress, type QuantizeSummary, type TensorSummary, type PresetInfo,
  type InspectResult, type InspectTensor, type RowsOptions,
} from './api.js';
export { QuantNativeError, GgufError, AbortError, type ErrorCode } from './errors.js';
export type { KvOverride, TensorTypeOverride } from './quant/plan.js';
export { writeSyntheticModel, type SyntheticModelOptions } from './synthetic.js';
