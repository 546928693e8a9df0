/** Loads GGUF files in llama.cpp's own runtime (the prebuilt libllama of @node-llama-cpp/linux-x64)
 * and runs greedy decoding: proof that a file we write is a model llama.cpp can use. Structs are
 * passed as raw bytes at the offsets of include/llama.h (x86-64 SysV layout). */
import { join } from 'node:path';
import koffi from 'koffi';
import { oracleBinDir } from './oracle.js';

export interface LlamaRuntime {
  /** Greedy continuation of `prompt` by `nTokens` tokens; also returns the logits of the last prompt token. */
  generate(model: string, prompt: string, nTokens: number): { text: string; firstLogits: Float32Array };
  /** Tokens of `text` (with BOS) and the logits after each of the first `maxTokens` of them, one decode at a time. */
  evaluate(model: string, text: string, maxTokens: number): { tokens: Int32Array; logits: Float32Array[] };
  /** The model's tokens of `text`, with BOS. */
  tokenize(model: string, text: string): Int32Array;
  /** The logits after each of `tokens`, one decode at a time in a fresh context (at most 256 tokens). */
  evaluateTokens(model: string, tokens: Int32Array): Float32Array[];
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

  /** Runs `body` with a loaded model and a 256-token context, freeing both afterwards. */
  function withContext<T>(modelPath: string, body: (ctx: unknown, vocab: unknown, nVocab: number) => T): T {
    const model = loadModel(modelPath, modelDefaults() as { raw: number[] });
    if (!model) throw new Error(`llama.cpp could not load ${modelPath}`);
    const cpRaw = Buffer.from((contextDefaults() as { raw: number[] }).raw);
    cpRaw.writeUInt32LE(256, 0); // n_ctx
    cpRaw.writeUInt32LE(256, 4); // n_batch
    cpRaw.writeUInt32LE(256, 8); // n_ubatch
    // One thread: ggml's worker threads spin while they wait for each other, so on a busy machine (two
    // test runs, or this suite's other worker) every decode step of these tiny models stalls for a
    // scheduler quantum; a single thread never waits.
    cpRaw.writeInt32LE(1, 28); // n_threads
    cpRaw.writeInt32LE(1, 32); // n_threads_batch
    const ctx = initContext(model, { raw: [...cpRaw] });
    if (!ctx) {
      freeModel(model);
      throw new Error(`llama.cpp could not create a context for ${modelPath}`);
    }
    try {
      const vocab = getVocab(model);
      return body(ctx, vocab, nVocab(vocab) as number);
    } finally {
      freeContext(ctx);
      freeModel(model);
    }
  }

  function tokenizeText(vocab: unknown, text: string): Int32Array {
    const tokens = new Int32Array(Buffer.byteLength(text) + 16);
    const count = tokenize(vocab, text, Buffer.byteLength(text), tokens, tokens.length, true, false) as number;
    if (count <= 0) throw new Error(`tokenize failed (${count})`);
    return tokens.slice(0, count);
  }

  function step(ctx: unknown, tokens: Int32Array, n: number): Float32Array {
    if ((decode(ctx, batchGetOne(tokens, tokens.length)) as number) !== 0) throw new Error('llama_decode failed');
    return Float32Array.from(koffi.decode(logitsIth(ctx, -1), koffi.array('float', n)) as number[]);
  }

  cached = {
    generate(modelPath, prompt, nTokens) {
      return withContext(modelPath, (ctx, vocab, n) => {
        let logits = step(ctx, tokenizeText(vocab, prompt), n);
        const firstLogits = logits;
        const piece = Buffer.alloc(64);
        let text = '';
        for (let i = 0; i < nTokens; i++) {
          let best = 0;
          for (let t = 1; t < n; t++) if (logits[t]! > logits[best]!) best = t;
          const len = tokenToPiece(vocab, best, piece, piece.length, 0, false) as number;
          text += piece.subarray(0, Math.max(0, len)).toString('utf8');
          logits = step(ctx, Int32Array.of(best), n);
        }
        return { text, firstLogits };
      });
    },
    evaluate(modelPath, text, maxTokens) {
      return withContext(modelPath, (ctx, vocab, n) => {
        const tokens = tokenizeText(vocab, text).slice(0, maxTokens);
        const logits = Array.from(tokens, (t) => step(ctx, Int32Array.of(t), n));
        return { tokens, logits };
      });
    },
    tokenize(modelPath, text) {
      return withContext(modelPath, (_ctx, vocab) => tokenizeText(vocab, text));
    },
    evaluateTokens(modelPath, tokens) {
      return withContext(modelPath, (ctx, _vocab, n) => Array.from(tokens, (t) => step(ctx, Int32Array.of(t), n)));
    },
  };
  return cached;
}
