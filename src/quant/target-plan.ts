/** A plan for a size budget: the preset's plan says which tensors are quantized and which types are
 * fixed by the user's options; every other quantized tensor gets the candidate type that, over the
 * whole model, gives the least predicted error within the budget. */
import { QuantNativeError } from '../errors.js';
import { GgmlType, ggmlTypeName, rowBytes } from '../ggml-types.js';
import { GGUF_DEFAULT_ALIGNMENT, padTo } from '../gguf/format.js';
import type { GgufModel } from '../gguf/model.js';
import { encodeGgufMeta } from '../gguf/writer.js';
import { isLatticeType, measureTensor, type MeasureContext } from './measure.js';
import { buildPlan, resolvePreset, type PlanOptions, type QuantPlan, type TensorPlan } from './plan.js';
import { PRESETS, type Preset } from './presets.js';
import type { Category } from './rules.js';
import { candidateFamily, chooseOptions, targetFtype, tensorCandidates, type Target, type TensorCandidate } from './target.js';

export interface TargetTensorChoice {
  name: string;
  type: number;
  /** Quantized with uniform importance (no importance data, and that search measured less error). */
  uniform: boolean;
  bytes: number;
  /** Predicted error of the chosen type: its importance-weighted squared error (extrapolated from the rows
   * measured) times the sensitivity of the tensor's role. */
  error: number;
  /** Every candidate measured, smallest first. */
  candidates: { type: number; uniform: boolean; bytes: number; error: number }[];
}

export interface TargetOutcome {
  target: Target;
  /** What the budget is counted in: file bytes for a size, tensor-data bytes for bits per weight. */
  budgetBytes: number;
  /** The same measure of the plan chosen. */
  usedBytes: number;
  /** The smallest and largest file (or tensor data, for bits per weight) the candidates allow. */
  range: { min: number; max: number };
  predictedError: number;
  choices: TargetTensorChoice[];
  /** Candidate types left out because no importance matrix was given. */
  leftOutWithoutImatrix: string[];
}

export interface TargetPlanOptions extends PlanOptions {
  /** Optional with a target: limits the candidates to its family. */
  presetGiven: boolean;
  target: Target;
  /** Called before each tensor is measured and once at the end (index = count), with the input bytes before it. */
  onMeasured?: (index: number, count: number, name: string, bytesBefore: number, bytesTotal: number) => void;
}

/** How much a unit of squared weight error in a tensor of each role moves the model's output
 * distribution, relative to attn_output. Measured on tiny256 (KL divergence from the F32 model over
 * the imatrix's calibration half of tiny256-valid.txt, each matrix quantized alone to q4_K, divided by
 * its squared error; geometric mean over layers; q2_K gave the same ratios within 10%). Tensors whose
 * error reaches the residual stream directly (attn_v through attn_output, attn_output, ffn_down,
 * token_embd) weigh more than those behind a softmax (attn_q, attn_k) or a gate (ffn_gate, ffn_up). The
 * fused and MLA tensors, not in that model, take the mean of their parts or 1. */
const SENSITIVITY: Readonly<Record<Category, number>> = {
  OUTPUT: 0.36, TOKEN_EMBD: 1.15, ATTENTION_QKV: 0.9, ATTENTION_KV_B: 1, ATTENTION_V: 1.75, ATTENTION_K: 0.65,
  ATTENTION_Q: 0.3, ATTENTION_OUTPUT: 1, FFN_UP: 0.18, FFN_GATE: 0.23, FFN_DOWN: 0.55, OTHER: 1,
};

interface FreeTensor {
  plan: TensorPlan;
  candidates: TensorCandidate[];
}

/** Bytes a tensor adds to the measure the budget counts. */
function costOf(bytes: number, target: Target): number {
  return 'bytes' in target ? padTo(bytes, GGUF_DEFAULT_ALIGNMENT) : bytes;
}

export async function buildTargetPlan(model: GgufModel, options: TargetPlanOptions, ctx: MeasureContext): Promise<{ plan: QuantPlan; outcome: TargetOutcome }> {
  const preset: Preset | undefined = options.presetGiven ? resolvePreset(options.preset) : undefined;
  const family = candidateFamily(preset);
  // The preset's plan, checked later: here it only says which tensors are free to choose for.
  const base = buildPlan(model, { ...options, preset: preset?.name ?? 'Q8_0', dryRun: true });
  const ruleFtype = preset?.ftype ?? 0;
  const leftOut = new Set<number>();
  const free: FreeTensor[] = [];
  for (const t of base.tensors) {
    if (t.reason !== 'preset default' && t.reason !== 'mixture rule') continue;
    const c = tensorCandidates(t.name, t.source.dims[0]!, t.elements, family, ruleFtype, t.imatrix !== undefined);
    c.needImatrix.forEach((x) => leftOut.add(x));
    free.push({ plan: t, candidates: c.candidates });
  }

  const freePlans = new Set(free.map((f) => f.plan));
  const fixed = base.tensors.filter((t) => !freePlans.has(t));
  const target = options.target;
  const meta = 'bytes' in target
    ? base.files.reduce((s, f) => s + encodeGgufMeta(f.kvs, f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.targetType, nbytes: t.bytesOut }))).length, 0)
    : 0;
  const fixedCost = fixed.reduce((s, t) => s + costOf(t.bytesOut, target), meta);
  const budgetBytes = 'bytes' in target ? target.bytes : Math.floor((target.bitsPerWeight * base.elements) / 8);
  const range = {
    min: free.reduce((s, f) => s + costOf(f.candidates[0]!.bytes, target), fixedCost),
    max: free.reduce((s, f) => s + costOf(f.candidates.at(-1)!.bytes, target), fixedCost),
  };
  const f16 = fixedCost + free.reduce((s, f) => s + costOf(rowBytes(GgmlType.F16, f.plan.source.dims[0]!)! * (f.plan.elements / f.plan.source.dims[0]!), target), 0);
  checkRange(target, budgetBytes, range, f16, base.elements, leftOut.size > 0);

  // Two passes: the fast types everywhere, then the lattice types (10-30x slower to measure) only where
  // they could change the choice: from the next fast type below the first pass's choice upwards.
  const errors: (number | undefined)[][] = free.map((f) => f.candidates.map(() => undefined));
  const bytesTotal = 2 * free.reduce((s, f) => s + f.plan.bytesIn, 0);
  let bytesBefore = 0, index = 0;
  const measurePass = async (wanted: readonly number[][]): Promise<void> => {
    for (let i = 0; i < free.length; i++) {
      const f = free[i]!;
      options.onMeasured?.(index++, 2 * free.length, f.plan.name, bytesBefore, bytesTotal);
      bytesBefore += f.plan.bytesIn;
      if (wanted[i]!.length === 0) continue;
      const e = await measureTensor(f.plan, wanted[i]!.map((k) => f.candidates[k]!), ctx);
      wanted[i]!.forEach((k, j) => { errors[i]![k] = e[j]! * SENSITIVITY[f.plan.category]; });
    }
  };
  const indices = (f: FreeTensor, keep: (c: TensorCandidate) => boolean): number[] => f.candidates.flatMap((c, k) => (keep(c) ? [k] : []));
  await measurePass(free.map((f) => indices(f, (c) => !isLatticeType(c.type))));
  const first = solve(free, errors, target, budgetBytes - fixedCost);
  await measurePass(free.map((f, i) => {
    const chosen = first?.[i]?.bytes;
    const below = chosen === undefined ? -Infinity
      : Math.max(-Infinity, ...f.candidates.filter((c, k) => errors[i]![k] !== undefined && c.bytes < chosen).map((c) => c.bytes));
    return indices(f, (c) => isLatticeType(c.type) && c.bytes >= below);
  }));
  options.onMeasured?.(2 * free.length, 2 * free.length, free.at(-1)?.plan.name ?? '', bytesTotal, bytesTotal);
  const picked = solve(free, errors, target, budgetBytes - fixedCost);
  if (picked === undefined) throw tooSmall(target, range, base.elements, leftOut.size > 0);
  const measured = measuredCandidates(free, errors);

  const choices: TargetTensorChoice[] = free.map((f, i) => {
    const chosen = picked[i]!;
    return { name: f.plan.name, type: chosen.type, uniform: chosen.uniform, bytes: chosen.bytes, error: chosen.error, candidates: measured[i]! };
  });
  const elementsByType = new Map<number, number>();
  for (const [i, c] of choices.entries()) elementsByType.set(c.type, (elementsByType.get(c.type) ?? 0) + free[i]!.plan.elements);
  const fileType = targetFtype(preset, elementsByType);
  const presetName = preset?.name ?? PRESETS.find((p) => p.ftype === fileType)!.name;
  const plan = buildPlan(model, {
    ...options, preset: presetName, typeChoices: new Map(choices.map((c) => [c.name, c.type])), fileType,
    uniformImportance: new Set(choices.filter((c) => c.uniform).map((c) => c.name)),
  });
  return {
    plan,
    outcome: {
      target, budgetBytes, range,
      usedBytes: fixedCost + choices.reduce((s, c) => s + costOf(c.bytes, target), 0),
      predictedError: choices.reduce((s, c) => s + c.error, 0),
      choices,
      leftOutWithoutImatrix: [...leftOut].map(ggmlTypeName),
    },
  };
}

/** Each tensor's measured candidates: a type whose scales overflow on it is none, and of a type's two
 * searches the one that lost less stays. */
function measuredCandidates(free: readonly FreeTensor[], errors: readonly (number | undefined)[][]): (TensorCandidate & { error: number })[][] {
  return free.map((f, i) => {
    const all = f.candidates.flatMap((c, k) => (errors[i]![k] === undefined ? [] : [{ ...c, error: errors[i]![k]! }]));
    const kept = all.filter((c, k) => Number.isFinite(c.error) && !all.some((o, j) => j !== k && o.type === c.type && (o.error < c.error || (o.error === c.error && j < k))));
    if (kept.length === 0) {
      throw new QuantNativeError('E_QUANTIZED_INVALID', `tensor ${f.plan.name}: every candidate type overflows its scales`, {
        hint: 'the weights are too large for the quantized types (F16 scales overflow above 65504); fix this tensor\'s type with --tensor-type',
      });
    }
    return kept;
  });
}

/** The knapsack over what has been measured: the chosen candidate of each tensor, or undefined when it does not fit. */
function solve(free: readonly FreeTensor[], errors: readonly (number | undefined)[][], target: Target, budget: number): (TensorCandidate & { error: number })[] | undefined {
  const measured = measuredCandidates(free, errors);
  const pick = chooseOptions(measured.map((m) => ({ options: m.map((c) => ({ bytes: costOf(c.bytes, target), error: c.error })) })), budget);
  return pick?.map((k, i) => measured[i]![k]!);
}

function describeTarget(target: Target, n: number, elements: number): string {
  return 'bytes' in target ? `${(n / 1e6).toFixed(2)} MB (${n} bytes)` : `${((n * 8) / elements).toFixed(3)} bits per weight`;
}

function checkRange(target: Target, budget: number, range: { min: number; max: number }, f16: number, elements: number, imatrixWouldHelp: boolean): void {
  if (budget < range.min) throw tooSmall(target, range, elements, imatrixWouldHelp);
  if (budget > f16) {
    throw new QuantNativeError('E_TARGET_RANGE', `the target ${describeTarget(target, budget, elements)} is larger than the model in F16 (${describeTarget(target, f16, elements)})`, {
      hint: `choose a target between ${describeTarget(target, range.min, elements)} and ${describeTarget(target, range.max, elements)}, or convert to F16 instead`,
    });
  }
}

function tooSmall(target: Target, range: { min: number; max: number }, elements: number, imatrixWouldHelp: boolean): QuantNativeError {
  const what = 'bytes' in target ? describeTarget(target, target.bytes, elements) : `${target.bitsPerWeight} bits per weight`;
  return new QuantNativeError('E_TARGET_RANGE', `the target ${what} is below the smallest ${'bytes' in target ? 'file' : 'size'} the candidate types allow`, {
    hint: `choose a target between ${describeTarget(target, range.min, elements)} and ${describeTarget(target, range.max, elements)}${imatrixWouldHelp ? '; an importance matrix (--imatrix) allows the smaller IQ2 types' : ''}`,
  });
}
