/** Loads GGUF files in llama.cpp's own runtime (the prebuilt libllama of @node-llama-cpp/linux-x64)
 * and runs greedy decoding: proof that a file we write is a model llama.cpp can use. Structs are
 * passed as raw bytes at the offsets of include/llama.h (x86-64 SysV layout). */
import { join } from 'node:path';
import koffi from 'koffi';
import { oracleBinDir } from './oracle.js';

export interface LlamaRuntime {
  /** Greedy continuation of `prompt` by `nTokens` tokens; also returns the logits of the last prompt token. */
  generate(model: string, prompt: string, nTokens: number): { text: string; firstLogits: Float32Array };
}

let cached: LlamaRuntime | undefined;

export function loadLlamaRuntime(): LlamaRuntime | undefined {
  if (cached) return cached;
  const dir = oracleBinDir();
  if (!dir) return undefined;
  const ggml = koffi.load(join(dir, 'libggml.v0.4.0.so'));
  const lib = koffi.load(join(dir, 'libllama.v0.4.0.so'));
  ggml.func('void ggml_backend_load_all_from_path(const char *dir)')(dir);
  const LogCallback = koffi.proto('void qn_rt_log_cb(int level, const char *text, void *user)');
  lib.func('void llama_log_set(qn_rt_log_cb *cb, void *user)')(koffi.register((): void => undefined, koffi.pointer(LogCallback)), null);
  lib.func('void llama_backend_init()')();

  const ModelParams = koffi.struct('qn_llama_model_params', { raw: koffi.array('uint8_t', 80) });
  const ContextParams = koffi.struct('qn_llama_context_params', { raw: koffi.array('uint8_t', 160) });
  const Batch = koffi.struct('qn_llama_batch', {
    n_tokens: 'int32_t', token: 'void *', embd: 'void *', pos: 'void *', n_seq_id: 'void *', seq_id: 'void *', logits: 'void *',
  });
  const modelDefaults = lib.func('qn_llama_model_params llama_model_default_params()');
  const contextDefaults = lib.func('qn_llama_context_params llama_context_default_params()');
  const loadModel = lib.func('void *llama_model_load_from_file(const char *path, qn_llama_model_params params)');
  const freeModel = lib.func('void llama_model_free(void *model)');
  const initContext = lib.func('void *llama_init_from_model(void *model, qn_llama_context_params params)');
  const freeContext = lib.func('void llama_free(void *ctx)');
  const getVocab = lib.func('void *llama_model_get_vocab(void *model)');
  const nVocab = lib.func('int32_t llama_vocab_n_tokens(void *vocab)');
  const tokenize = lib.func('int32_t llama_tokenize(void *vocab, const char *text, int32_t len, _Out_ int32_t *tokens, int32_t max, bool add_special, bool parse_special)');
  const tokenToPiece = lib.func('int32_t llama_token_to_piece(void *vocab, int32_t token, _Out_ uint8_t *buf, int32_t length, int32_t lstrip, bool special)');
  const batchGetOne = lib.func('qn_llama_batch llama_batch_get_one(int32_t *tokens, int32_t n)');
  const decode = lib.func('int32_t llama_decode(void *ctx, qn_llama_batch batch)');
  const logitsIth = lib.func('float *llama_get_logits_ith(void *ctx, int32_t i)');

  cached = {
    generate(modelPath, prompt, nTokens) {
      const mp = modelDefaults() as { raw: number[] };
      const model = loadModel(modelPath, mp);
      if (!model) throw new Error(`llama.cpp could not load ${modelPath}`);
      const cpRaw = Buffer.from((contextDefaults() as { raw: number[] }).raw);
      cpRaw.writeUInt32LE(256, 0); // n_ctx
      cpRaw.writeUInt32LE(256, 4); // n_batch
      cpRaw.writeUInt32LE(256, 8); // n_ubatch
      cpRaw.writeInt32LE(2, 28); // n_threads
      cpRaw.writeInt32LE(2, 32); // n_threads_batch
      const ctx = initContext(model, { raw: [...cpRaw] });
      if (!ctx) {
        freeModel(model);
        throw new Error(`llama.cpp could not create a context for ${modelPath}`);
      }
      try {
        const vocab = getVocab(model);
        const n = nVocab(vocab) as number;
        const tokens = new Int32Array(512);
        const count = tokenize(vocab, prompt, Buffer.byteLength(prompt), tokens, tokens.length, true, false) as number;
        if (count <= 0) throw new Error(`tokenize failed (${count})`);
        const readLogits = (): Float32Array => Float32Array.from(koffi.decode(logitsIth(ctx, -1), koffi.array('float', n)) as number[]);
        let batchTokens = Int32Array.from(tokens.subarray(0, count));
        if ((decode(ctx, batchGetOne(batchTokens, count)) as number) !== 0) throw new Error('llama_decode failed');
        const firstLogits = readLogits();
        let logits = firstLogits;
        const piece = Buffer.alloc(64);
        let text = '';
        for (let i = 0; i < nTokens; i++) {
          let best = 0;
          for (let t = 1; t < n; t++) if (logits[t]! > logits[best]!) best = t;
          const len = tokenToPiece(vocab, best, piece, piece.length, 0, false) as number;
          text += piece.subarray(0, Math.max(0, len)).toString('utf8');
          batchTokens = Int32Array.of(best);
          if ((decode(ctx, batchGetOne(batchTokens, 1)) as number) !== 0) throw new Error('llama_decode failed');
          logits = readLogits();
        }
        return { text, firstLogits };
      } finally {
        freeContext(ctx);
        freeModel(model);
      }
    },
  };
  return cached;
}
