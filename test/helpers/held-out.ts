/** Quality on text the importance matrix never saw: the second half of tiny256-valid.txt (from byte
 * 82,528, where tiny256-imatrix.gguf's calibration text ends, at a story boundary), in chunks of 256
 * tokens that each start with BOS, scored against the F32 model's next-token distributions. */
import { readFileSync } from 'node:fs';
import type { LlamaRuntime } from './llama-runtime.js';

export const HELD_OUT_START = 82_528;
export const CHUNK_TOKENS = 256;

export function logSoftmax(l: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of l) max = Math.max(max, v);
  let sum = 0;
  for (const v of l) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(l, (v) => v - lse);
}

/** `count` chunks of CHUNK_TOKENS tokens of the held-out text, each BOS + the next 255 tokens. */
export function heldOutChunks(rt: LlamaRuntime, model: string, textFile: string, count: number): Int32Array[] {
  const tokens = rt.tokenize(model, readFileSync(textFile, 'utf8').slice(HELD_OUT_START));
  const bos = tokens[0]!;
  const body = tokens.subarray(1);
  const per = CHUNK_TOKENS - 1;
  if (body.length < count * per) throw new Error(`the held-out text has ${body.length} tokens, fewer than ${count} chunks need`);
  return Array.from({ length: count }, (_, i) => Int32Array.of(bos, ...body.subarray(i * per, (i + 1) * per)));
}

export interface QualityStats {
  /** Mean KL divergence of the model's next-token distribution from the reference's. */
  kl: number;
  /** Share of positions (%) where both put the same token first. */
  top1: number;
  perplexity: number;
  tokens: number;
}

/** The reference's log-probabilities at every scored position. */
export function referenceLogProbs(rt: LlamaRuntime, model: string, chunks: readonly Int32Array[]): Float64Array[][] {
  return chunks.map((c) => rt.evaluateTokens(model, c).slice(0, -1).map(logSoftmax));
}

/** Sums over the positions of one sequence: KL(reference || model), same top-1, negative log-likelihood of the next token. */
export interface PositionSums { kl: number; agree: number; nll: number; n: number }

/** Adds positions 0 .. tokens.length - 2 of one evaluated sequence to `sums`. */
export function scorePositions(sums: PositionSums, ref: readonly Float64Array[], logits: readonly Float32Array[], tokens: Int32Array): void {
  for (let i = 0; i + 1 < tokens.length; i++) {
    const p = ref[i]!, lq = logSoftmax(logits[i]!);
    let k = 0, ap = 0, aq = 0;
    for (let t = 0; t < p.length; t++) {
      k += Math.exp(p[t]!) * (p[t]! - lq[t]!);
      if (p[t]! > p[ap]!) ap = t;
      if (lq[t]! > lq[aq]!) aq = t;
    }
    sums.kl += k;
    sums.agree += ap === aq ? 1 : 0;
    sums.nll -= lq[tokens[i + 1]!]!;
    sums.n++;
  }
}

export function statsOf(s: PositionSums): QualityStats {
  return { kl: s.kl / s.n, top1: (100 * s.agree) / s.n, perplexity: Math.exp(s.nll / s.n), tokens: s.n };
}

/** KL, top-1 agreement and perplexity of `model` against the reference, over every position but each chunk's last. */
export function qualityAgainst(rt: LlamaRuntime, model: string, chunks: readonly Int32Array[], ref: readonly Float64Array[][]): QualityStats {
  const sums = { kl: 0, agree: 0, nll: 0, n: 0 };
  chunks.forEach((chunk, c) => scorePositions(sums, ref[c]!, rt.evaluateTokens(model, chunk), chunk));
  return statsOf(sums);
}
