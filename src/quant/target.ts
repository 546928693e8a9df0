/** Target size: what a user's budget means in bytes, which types a tensor may get under it, and the
 * choice of one type per tensor that minimises the total predicted error within the budget (a
 * multiple-choice knapsack, solved by Lagrangian relaxation and a greedy fill). */
import { QuantNativeError } from '../errors.js';
import { GgmlType, IMATRIX_REQUIRED_TYPES, rowBytes } from '../ggml-types.js';
import { Ftype, type Preset } from './presets.js';
import { fallbackType, requiresImatrix } from './rules.js';

/** A budget: the output file's size in bytes, or bits per weight of its tensor data. */
export type Target = { bytes: number } | { bitsPerWeight: number };

const G = GgmlType;

const UNITS: Readonly<Record<string, number>> = {
  '': 1, b: 1,
  k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
};

/** "4.2GB" (10^9), "3.9GiB" or "3.9G" (2^30), "700MB", "123456": bytes, rounded down. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new QuantNativeError('E_BAD_OPTION', `--target-size: "${text}" is not a size`, {
      hint: 'write a number of bytes with an optional unit: 4.2GB (10^9 bytes), 3.9GiB or 3.9G (2^30), 700MB, 512MiB',
    });
  }
  const bytes = Math.floor(Number(m[1]) * unit);
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) throw new QuantNativeError('E_BAD_OPTION', `--target-size: "${text}" is not a positive size`);
  return bytes;
}

/** Candidate families: a preset given with a target limits the choice to its kind of type. */
const K_FAMILY = [G.Q2_K, G.Q3_K, G.Q4_K, G.Q5_K, G.Q6_K, G.Q8_0];
const IQ_FAMILY = [G.IQ1_S, G.IQ1_M, G.IQ2_XXS, G.IQ2_XS, G.IQ2_S, G.IQ3_XXS, G.IQ3_S, G.IQ4_XS, G.Q5_K, G.Q6_K, G.Q8_0];
const LEGACY_FAMILY = [G.Q4_0, G.Q4_1, G.Q5_0, G.Q5_1, G.Q8_0];
const ALL_TYPES = [G.IQ2_XXS, G.IQ2_XS, G.IQ2_S, G.IQ3_XXS, G.Q2_K, G.IQ3_S, G.Q3_K, G.IQ4_XS, G.Q4_K, G.Q5_K, G.Q6_K, G.Q8_0];

/** The types a target run may choose from, in no particular order. */
export function candidateFamily(preset: Preset | undefined): readonly number[] {
  if (preset === undefined) return ALL_TYPES;
  const t = preset.defaultType;
  if (t === G.Q2_K || t === G.Q3_K || t === G.Q4_K || t === G.Q5_K || t === G.Q6_K) return K_FAMILY;
  if (t === G.Q8_0) return K_FAMILY;
  if (t === G.Q4_0 || t === G.Q4_1 || t === G.Q5_0 || t === G.Q5_1) return LEGACY_FAMILY;
  if (t === G.IQ1_S || t === G.IQ1_M || t === G.IQ2_XXS || t === G.IQ2_XS || t === G.IQ2_S || t === G.IQ3_XXS || t === G.IQ3_S || t === G.IQ4_XS || t === G.IQ4_NL) {
    return IQ_FAMILY;
  }
  throw new QuantNativeError('E_BAD_OPTION', `a target size cannot be combined with the ${preset.name} preset`, {
    hint: 'give a K-quant (Q4_K_M), legacy (Q4_0) or IQ (IQ3_S) preset to limit the types, or no preset to choose from all of them',
  });
}

/** The general.file_type written for a target run: the preset's when given, else that of the type
 * holding most weights. */
export function targetFtype(preset: Preset | undefined, elementsByType: ReadonlyMap<number, number>): number {
  if (preset !== undefined) return preset.ftype;
  let best: number = G.Q8_0, most = -1;
  for (const [type, n] of elementsByType) if (n > most) { most = n; best = type; }
  const ftypes: Record<number, number> = {
    [G.Q2_K]: Ftype.Q2_K, [G.Q3_K]: Ftype.Q3_K_M, [G.Q4_K]: Ftype.Q4_K_M, [G.Q5_K]: Ftype.Q5_K_M, [G.Q6_K]: Ftype.Q6_K,
    [G.Q8_0]: Ftype.Q8_0, [G.IQ4_XS]: Ftype.IQ4_XS, [G.IQ3_S]: Ftype.IQ3_S, [G.IQ3_XXS]: Ftype.IQ3_XXS, [G.IQ2_S]: Ftype.IQ2_M,
    [G.IQ2_XS]: Ftype.IQ2_XS, [G.IQ2_XXS]: Ftype.IQ2_XXS, [G.IQ1_S]: Ftype.IQ1_S, [G.IQ1_M]: Ftype.IQ1_M,
  };
  return ftypes[best] ?? Ftype.Q8_0;
}

export interface TensorCandidate {
  /** The type written: the candidate, or llama.cpp's fallback when the row length does not fit it. */
  type: number;
  /** Bytes of the tensor's data in this type. */
  bytes: number;
  /** Quantized with uniform importance (the tensor has no importance data). */
  uniform: boolean;
}

/** Types whose quantizer takes a different, importance-weighted search when given importance data, and
 * where that search with uniform importance loses less than the default one on most tensors (tiny256,
 * squared error summed over its matrices: q2_K 0.82x, q3_K 0.91x, q4_K 0.98x, q5_K 0.96x, q6_K 0.95x,
 * iq4_xs 0.97x). Fast types only: the lattice types' searches would double the measuring time. */
const UNIFORM_IMPORTANCE_TYPES: ReadonlySet<number> = new Set([G.Q2_K, G.Q3_K, G.Q4_K, G.Q5_K, G.Q6_K, G.IQ4_XS, G.Q4_0, G.Q4_1, G.Q5_0, G.Q5_1]);

export interface CandidateChoice {
  candidates: TensorCandidate[];
  /** Types of the family left out of this tensor because they need an importance matrix. */
  needImatrix: number[];
}

/** A tensor's distinct candidate types (fallbacks applied), smallest first; without importance data,
 * each type whose search can use it also as a uniform-importance variant, right after it. */
export function tensorCandidates(name: string, ne0: number, elements: number, family: readonly number[], ftype: number, hasImatrix: boolean): CandidateChoice {
  const byType = new Map<number, TensorCandidate>();
  const needImatrix: number[] = [];
  for (const wanted of family) {
    const type = fallbackType(name, ne0, wanted).type;
    if (!hasImatrix && (requiresImatrix(name, type, ftype) || IMATRIX_REQUIRED_TYPES.has(type))) {
      needImatrix.push(wanted);
      continue;
    }
    const row = rowBytes(type, ne0);
    if (row !== undefined && !byType.has(type)) byType.set(type, { type, bytes: row * (elements / ne0), uniform: false });
  }
  const sorted = [...byType.values()].sort((a, b) => a.bytes - b.bytes || a.type - b.type);
  const candidates = hasImatrix ? sorted : sorted.flatMap((c) => (UNIFORM_IMPORTANCE_TYPES.has(c.type) ? [c, { ...c, uniform: true }] : [c]));
  return { candidates, needImatrix };
}

/** One tensor's options with their measured (predicted) error. */
export interface KnapsackItem {
  options: readonly { bytes: number; error: number }[];
}

/** Picks one option per item to minimise the summed error with summed bytes <= budget, or returns
 * undefined when even the smallest options exceed it. Deterministic: ties go to the smaller option
 * and the earlier item. */
export function chooseOptions(items: readonly KnapsackItem[], budget: number): number[] | undefined {
  const smallest = items.map((it) => argMin(it.options, (o) => o.bytes));
  const bytesOf = (pick: readonly number[]): number => pick.reduce((s, k, i) => s + items[i]!.options[k]!.bytes, 0);
  if (bytesOf(smallest) > budget) return undefined;

  const pickAt = (lambda: number): number[] => items.map((it) => argMin(it.options, (o) => o.error + lambda * o.bytes));
  // Larger lambda buys fewer bytes: the smallest lambda whose choice fits, by bisection.
  let pick = pickAt(0);
  if (bytesOf(pick) > budget) {
    let lo = 0, hi = 1;
    while (bytesOf(pickAt(hi)) > budget && hi < 1e300) hi *= 16;
    for (let i = 0; i < 200 && hi - lo > hi * 1e-12; i++) {
      const mid = (lo + hi) / 2;
      if (bytesOf(pickAt(mid)) <= budget) hi = mid;
      else lo = mid;
    }
    pick = pickAt(hi);
    // Options of equal price can keep a larger one chosen at any lambda: start from the smallest then.
    if (bytesOf(pick) > budget) pick = smallest;
  }

  // Greedy fill: spend what the relaxation left on the upgrades that save the most error per byte.
  let spent = bytesOf(pick);
  for (;;) {
    let best: { item: number; option: number; rate: number } | undefined;
    for (let i = 0; i < items.length; i++) {
      const cur = items[i]!.options[pick[i]!]!;
      items[i]!.options.forEach((o, k) => {
        const extra = o.bytes - cur.bytes;
        const gain = cur.error - o.error;
        if (extra <= 0 || gain <= 0 || spent + extra > budget) return;
        const rate = gain / extra;
        if (best === undefined || rate > best.rate) best = { item: i, option: k, rate };
      });
    }
    if (best === undefined) break;
    spent += items[best.item]!.options[best.option]!.bytes - items[best.item]!.options[pick[best.item]!]!.bytes;
    pick[best.item] = best.option;
  }
  return pick;
}

function argMin<T>(xs: readonly T[], f: (x: T) => number): number {
  let best = 0;
  for (let k = 1; k < xs.length; k++) if (f(xs[k]!) < f(xs[best]!)) best = k;
  return best;
}
