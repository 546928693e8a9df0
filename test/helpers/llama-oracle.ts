/** llama.cpp's whole-file quantizer (llama_model_quantize in the prebuilt libllama) as the oracle
 * for quantize(). Undefined where @node-llama-cpp/linux-x64 is not available. */
import { join } from 'node:path';
import koffi from 'koffi';
import { oracleBinDir } from './oracle.js';

export interface LlamaQuantizeParams {
  ftype: number;
  nthread?: number;
  outputTensorType?: number;
  tokenEmbeddingType?: number;
  allowRequantize?: boolean;
  leaveOutputTensor?: boolean;
  onlyCopy?: boolean;
  pure?: boolean;
  keepSplit?: boolean;
  imatrix?: Map<string, Float32Array>;
  kvOverrides?: Array<{ key: string; type: 'int' | 'float' | 'bool' | 'str'; value: number | boolean | string }>;
  tensorTypes?: Array<{ pattern: string; type: number }>;
  pruneLayers?: number[];
}

export interface LlamaOracle {
  /** Returns llama_model_quantize's status (0 = success). */
  quantize(input: string, output: string, params: LlamaQuantizeParams): number;
}

const GGML_TYPE_COUNT = 43;
let cached: LlamaOracle | undefined;

export function loadLlamaOracle(): LlamaOracle | undefined {
  if (cached) return cached;
  const dir = oracleBinDir();
  if (!dir) return undefined;
  const lib = koffi.load(join(dir, 'libllama.v0.4.0.so'));
  const ImatrixData = koffi.struct('qn_llama_model_imatrix_data', { name: 'const char *', data: 'const float *', size: 'size_t' });
  const TensorOverride = koffi.struct('qn_llama_model_tensor_override', { pattern: 'const char *', type: 'int' });
  // The kv override is written as raw bytes: tag (4), key[128], then an 8-aligned union of 128 bytes.
  const Params = koffi.struct('qn_llama_model_quantize_params', {
    nthread: 'int32_t', ftype: 'int', output_tensor_type: 'int', token_embedding_type: 'int',
    allow_requantize: 'bool', quantize_output_tensor: 'bool', only_copy: 'bool', pure: 'bool', keep_split: 'bool', dry_run: 'bool',
    imatrix: koffi.pointer(ImatrixData), kv_overrides: 'const void *', tt_overrides: koffi.pointer(TensorOverride),
    prune_layers: 'const int32_t *', max_buf_size: 'size_t',
  });
  const LogCallback = koffi.proto('void qn_llama_log_cb(int level, const char *text, void *user)');
  const logSet = lib.func('void llama_log_set(qn_llama_log_cb *cb, void *user)');
  const silent = koffi.register((): void => undefined, koffi.pointer(LogCallback));
  if (!process.env.QN_ORACLE_LOG) logSet(silent, null);
  const defaults = lib.func('qn_llama_model_quantize_params llama_model_quantize_default_params()');
  const quantize = lib.func('uint32_t llama_model_quantize(const char *inp, const char *out, const qn_llama_model_quantize_params *params)');

  cached = {
    quantize(input, output, p) {
      const params = defaults() as Record<string, unknown>;
      params.ftype = p.ftype;
      params.nthread = p.nthread ?? 2;
      params.output_tensor_type = p.outputTensorType ?? GGML_TYPE_COUNT;
      params.token_embedding_type = p.tokenEmbeddingType ?? GGML_TYPE_COUNT;
      params.allow_requantize = p.allowRequantize ?? false;
      params.quantize_output_tensor = !(p.leaveOutputTensor ?? false);
      params.only_copy = p.onlyCopy ?? false;
      params.pure = p.pure ?? false;
      params.keep_split = p.keepSplit ?? false;
      if (p.imatrix && p.imatrix.size > 0) {
        params.imatrix = [...[...p.imatrix].map(([name, data]) => ({ name, data, size: data.length })), { name: null, data: null, size: 0 }];
      }
      if (p.kvOverrides && p.kvOverrides.length > 0) {
        const SIZE = 264;
        const buf = Buffer.alloc(SIZE * (p.kvOverrides.length + 1));
        p.kvOverrides.forEach((o, i) => {
          const at = i * SIZE;
          buf.writeInt32LE({ int: 0, float: 1, bool: 2, str: 3 }[o.type], at);
          buf.write(o.key, at + 4, 127, 'utf8');
          if (o.type === 'int') buf.writeBigInt64LE(BigInt(o.value as number), at + 136);
          else if (o.type === 'float') buf.writeDoubleLE(o.value as number, at + 136);
          else if (o.type === 'bool') buf.writeUInt8(o.value ? 1 : 0, at + 136);
          else buf.write(String(o.value), at + 136, 127, 'utf8');
        });
        params.kv_overrides = buf;
      }
      if (p.tensorTypes && p.tensorTypes.length > 0) {
        params.tt_overrides = [...p.tensorTypes.map((t) => ({ pattern: t.pattern, type: t.type })), { pattern: null, type: GGML_TYPE_COUNT }];
      }
      if (p.pruneLayers && p.pruneLayers.length > 0) params.prune_layers = Int32Array.from([...p.pruneLayers, -1]);
      return Number(quantize(input, output, params));
    },
  };
  return cached;
}
