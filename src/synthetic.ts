/** Synthetic llama-architecture GGUF models with realistic weight statistics: for the demo, the
 * tests (any shape, dense or mixture-of-experts, tied or untied) and the benchmark. Written in row
 * chunks, so a model of any size costs little memory. */
import { GgmlType, rowBytes } from './ggml-types.js';
import { GgufValueType, type GgufKv } from './gguf/format.js';
import { GgufFileWriter, type TensorDecl } from './gguf/writer.js';
import { directIoAlloc, loadNative, resolveSimd } from './native.js';

export interface SyntheticModelOptions {
  layers: number;
  embd: number;
  ff: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  /** Experts per layer; 0 for a dense model. */
  experts?: number;
  expertsUsed?: number;
  /** No output.weight: the token embedding is reused for the output. */
  tiedEmbeddings?: boolean;
  /** Storage type of the 2-D matrices (norms are always F32). */
  dtype?: 'f32' | 'f16' | 'bf16';
  seed?: number;
  name?: string;
  /** Tensors stored in this order instead of the default llama convert order. */
  reverseTensorOrder?: boolean;
  /** Extra metadata appended after the standard keys. */
  extraKvs?: GgufKv[];
}

interface SynthTensor {
  decl: TensorDecl;
  /** Standard deviation of the weights, or undefined for a norm vector (values near 1). */
  std: number | undefined;
}

const FILE_TYPE: Record<'f32' | 'f16' | 'bf16', number> = { f32: 0, f16: 1, bf16: 32 };
const DTYPE: Record<'f32' | 'f16' | 'bf16', number> = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16 };

function tensorList(o: SyntheticModelOptions): SynthTensor[] {
  const dtype = DTYPE[o.dtype ?? 'f16'];
  const headDim = o.embd / o.heads;
  const embdKv = headDim * o.kvHeads;
  const mat = (name: string, dims: number[], std: number): SynthTensor => ({
    decl: { name, dims, type: dtype, nbytes: rowBytes(dtype, dims[0]!)! * dims.slice(1).reduce((a, b) => a * b, 1) },
    std,
  });
  const norm = (name: string): SynthTensor => ({ decl: { name, dims: [o.embd], type: GgmlType.F32, nbytes: 4 * o.embd }, std: undefined });
  const out: SynthTensor[] = [mat('token_embd.weight', [o.embd, o.vocab], 0.02)];
  for (let i = 0; i < o.layers; i++) {
    const p = `blk.${i}.`;
    out.push(norm(`${p}attn_norm.weight`));
    out.push(mat(`${p}attn_q.weight`, [o.embd, o.embd], 0.03));
    out.push(mat(`${p}attn_k.weight`, [o.embd, embdKv], 0.03));
    out.push(mat(`${p}attn_v.weight`, [o.embd, embdKv], 0.02));
    out.push(mat(`${p}attn_output.weight`, [o.embd, o.embd], 0.02));
    out.push(norm(`${p}ffn_norm.weight`));
    if (o.experts && o.experts > 0) {
      out.push({ decl: { name: `${p}ffn_gate_inp.weight`, dims: [o.embd, o.experts], type: GgmlType.F32, nbytes: 4 * o.embd * o.experts }, std: 0.05 });
      out.push(mat(`${p}ffn_gate_exps.weight`, [o.embd, o.ff, o.experts], 0.02));
      out.push(mat(`${p}ffn_up_exps.weight`, [o.embd, o.ff, o.experts], 0.02));
      out.push(mat(`${p}ffn_down_exps.weight`, [o.ff, o.embd, o.experts], 0.02));
    } else {
      out.push(mat(`${p}ffn_gate.weight`, [o.embd, o.ff], 0.02));
      out.push(mat(`${p}ffn_up.weight`, [o.embd, o.ff], 0.02));
      out.push(mat(`${p}ffn_down.weight`, [o.ff, o.embd], 0.02));
    }
  }
  out.push(norm('output_norm.weight'));
  if (!o.tiedEmbeddings) out.push(mat('output.weight', [o.embd, o.vocab], 0.02));
  return o.reverseTensorOrder ? out.reverse() : out;
}

/** A byte-fallback SentencePiece-style vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then
 * filler pieces, so llama.cpp can tokenize any text with it. */
function vocabKvs(vocab: number): GgufKv[] {
  const tokens: string[] = ['<unk>', '<s>', '</s>'];
  for (let b = 0; b < 256; b++) tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  for (let i = tokens.length; i < vocab; i++) tokens.push(`\u2581w${i}`);
  tokens.length = vocab;
  const types = Int32Array.from(tokens, (_, i) => (i === 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1));
  const scores = Float32Array.from(tokens, (_, i) => -i);
  return [
    { key: 'tokenizer.ggml.model', type: GgufValueType.STRING, value: 'llama' },
    { key: 'tokenizer.ggml.tokens', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items: tokens } },
    { key: 'tokenizer.ggml.scores', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.FLOAT32, items: scores } },
    { key: 'tokenizer.ggml.token_type', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.INT32, items: types } },
    { key: 'tokenizer.ggml.bos_token_id', type: GgufValueType.UINT32, value: 1 },
    { key: 'tokenizer.ggml.eos_token_id', type: GgufValueType.UINT32, value: 2 },
  ];
}

function modelKvs(o: SyntheticModelOptions): GgufKv[] {
  const u32 = (key: string, value: number): GgufKv => ({ key, type: GgufValueType.UINT32, value });
  const kvs: GgufKv[] = [
    { key: 'general.architecture', type: GgufValueType.STRING, value: 'llama' },
    { key: 'general.name', type: GgufValueType.STRING, value: o.name ?? 'synthetic' },
    u32('llama.block_count', o.layers),
    u32('llama.context_length', 256),
    u32('llama.embedding_length', o.embd),
    u32('llama.feed_forward_length', o.ff),
    u32('llama.attention.head_count', o.heads),
    u32('llama.attention.head_count_kv', o.kvHeads),
    u32('llama.rope.dimension_count', o.embd / o.heads),
    { key: 'llama.attention.layer_norm_rms_epsilon', type: GgufValueType.FLOAT32, value: 1e-5 },
    u32('general.file_type', FILE_TYPE[o.dtype ?? 'f16']),
  ];
  if (o.experts && o.experts > 0) {
    kvs.push(u32('llama.expert_count', o.experts), u32('llama.expert_used_count', o.expertsUsed ?? 2));
  }
  return [...kvs, ...vocabKvs(o.vocab), ...(o.extraKvs ?? [])];
}

/** xorshift128+ in 32-bit halves: fast, deterministic, good enough for weights. */
class FastRng {
  private a: number;
  private b: number;
  private spare: number | undefined;
  constructor(seed: number) {
    this.a = (seed ^ 0x9e3779b9) | 1;
    this.b = Math.imul(seed + 0x7f4a7c15, 0x85ebca6b) | 1;
  }
  uniform(): number {
    let s1 = this.a;
    const s0 = this.b;
    this.a = s0;
    s1 ^= s1 << 23;
    s1 ^= s1 >>> 17;
    s1 ^= s0 ^ (s0 >>> 26);
    this.b = s1;
    return ((this.b + s0) >>> 0) / 4294967296 + 1 / 8589934592;
  }
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const t = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(t);
    return r * Math.cos(t);
  }
}

/** Writes the model; returns the tensors it declared. */
export async function writeSyntheticModel(path: string, options: SyntheticModelOptions): Promise<TensorDecl[]> {
  const list = tensorList(options);
  const rng = new FastRng(options.seed ?? 1);
  const native = loadNative();
  const simd = resolveSimd(native, 'auto');
  const writer = await GgufFileWriter.create(path, modelKvs(options), list.map((t) => t.decl), undefined, { alignedAlloc: directIoAlloc(native) });
  try {
    for (const t of list) {
      const ne0 = t.decl.dims[0]!;
      const nrows = t.decl.nbytes / rowBytes(t.decl.type, ne0)!;
      const rowsPerChunk = Math.max(1, Math.floor((1 << 20) / ne0));
      const f32 = new Float32Array(rowsPerChunk * ne0);
      const out = Buffer.alloc(rowsPerChunk * rowBytes(t.decl.type, ne0)!);
      for (let r = 0; r < nrows; r += rowsPerChunk) {
        const n = Math.min(rowsPerChunk, nrows - r);
        for (let i = 0; i < n * ne0; i++) {
          if (t.std === undefined) {
            f32[i] = 1 + 0.1 * rng.normal();
          } else {
            // Heavy tails: a Student-t-like mix plus rare large outliers, as trained weights show.
            const g = rng.normal();
            const outlier = rng.uniform() < 0.001 ? 8 : 1;
            f32[i] = t.std * g * (1 + 0.25 * g * g) * outlier;
          }
        }
        const bytes = n * rowBytes(t.decl.type, ne0)!;
        native.quantizeSync({ srcType: GgmlType.F32, dstType: t.decl.type, nrows: n, nPerRow: ne0, src: f32, dst: out, simd });
        await writer.write(out.subarray(0, bytes));
      }
    }
    await writer.finish();
  } catch (e) {
    await writer.abort();
    throw e;
  }
  return list.map((t) => t.decl);
}
