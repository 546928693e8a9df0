/** Stable error codes. Programs should branch on `code`, never on message text. */
export type ErrorCode =
  | 'E_GGUF_MAGIC'
  | 'E_GGUF_VERSION'
  | 'E_GGUF_TRUNCATED'
  | 'E_GGUF_LIMIT'
  | 'E_GGUF_DUPLICATE'
  | 'E_GGUF_VALUE_TYPE'
  | 'E_GGUF_TENSOR_TYPE'
  | 'E_GGUF_SHAPE'
  | 'E_GGUF_OFFSET'
  | 'E_GGUF_ALIGNMENT'
  | 'E_GGUF_UTF8'
  | 'E_GGUF_KEY'
  | 'E_GGUF_SPLIT'
  | 'E_UNSUPPORTED_TYPE'
  | 'E_UNKNOWN_TYPE'
  | 'E_NEEDS_IMATRIX'
  | 'E_IMATRIX'
  | 'E_REQUANTIZE'
  | 'E_INVALID_DATA'
  | 'E_QUANTIZED_INVALID'
  | 'E_NO_FALLBACK'
  | 'E_OUTPUT_EXISTS'
  | 'E_SAME_FILE'
  | 'E_NO_SPACE'
  | 'E_IO'
  | 'E_BAD_OPTION'
  | 'E_SIMD_UNAVAILABLE'
  | 'E_NATIVE_LOAD'
  | 'E_ABORTED'
  | 'E_NOT_FOUND'
  | 'E_INPUT_IS_FOLDER'
  | 'E_OUTPUT_IS_FOLDER'
  | 'E_NOT_WRITABLE'
  | 'E_NO_MATCH'
  /** A target size or bits per weight outside what the candidate types can give. */
  | 'E_TARGET_RANGE'
  | 'E_ST_TRUNCATED'
  | 'E_ST_HEADER'
  | 'E_ST_DTYPE'
  | 'E_ST_DUPLICATE'
  | 'E_ST_OFFSET'
  | 'E_ST_SHAPE'
  | 'E_HF_SHARD'
  | 'E_HF_CONFIG'
  | 'E_HF_TOKENIZER'
  | 'E_HF_WEIGHTS'
  | 'E_UNSUPPORTED_ARCH'
  | 'E_QUANTIZED_WEIGHTS'
  /** Only in the CLI's `--json` error object: the command line itself was wrong. */
  | 'E_USAGE'
  /** Only in the CLI's `--json` error object: an error quant-native did not expect (a bug). */
  | 'E_INTERNAL';

/** Every error quant-native throws on purpose is one of these, with a stable `code` and, where
 * there is one, a `hint` that says what to do next. */
export class QuantNativeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'QuantNativeError';
    this.code = code;
    this.hint = options.hint;
  }
}

/** A GGUF file that cannot be read: `offset` is the byte position where the problem was found. */
export class GgufError extends QuantNativeError {
  readonly file: string | undefined;
  readonly offset: number | undefined;

  constructor(code: ErrorCode, message: string, options: { file?: string; offset?: number; hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
    this.name = 'GgufError';
    this.file = options.file;
    this.offset = options.offset;
  }
}

/** Thrown (as a rejection) when an AbortSignal stops a run. */
export class AbortError extends QuantNativeError {
  constructor(message = 'the operation was aborted', options: { cause?: unknown } = {}) {
    super('E_ABORTED', message, options);
    this.name = 'AbortError';
  }
}
