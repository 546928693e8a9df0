/** Deterministic test rows: realistic and adversarial value distributions. */

export class Rng {
  private state: bigint;
  constructor(seed: number) {
    this.state = BigInt(seed) * 0x9e3779b97f4a7c15n + 1n;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(this.state >> 11n) / 2 ** 53;
  }
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

export type RowFill = (rng: Rng, n: number) => Float32Array;

const fill = (n: number, f: (i: number) => number): Float32Array => Float32Array.from({ length: n }, (_, i) => f(i));

/** Named data sets of the kernel tests (the list). */
export const DATASETS: Record<string, RowFill> = {
  normal: (rng, n) => fill(n, () => 0.02 * rng.normal()),
  'heavy-tailed with outliers': (rng, n) =>
    fill(n, () => {
      const g = rng.normal();
      return 0.01 * g * g * g + (rng.int(97) === 0 ? 2 * rng.normal() : 0);
    }),
  'all zero': (_rng, n) => new Float32Array(n),
  constant: (_rng, n) => fill(n, () => 0.37109375),
  'one non-zero': (rng, n) => {
    const x = new Float32Array(n);
    x[rng.int(n)] = -1.25;
    return x;
  },
  'ties at rounding boundaries': (rng, n) => fill(n, () => (rng.int(65) - 32) / 8),
  'subnormal range': (rng, n) => fill(n, () => rng.normal() * 1e-39),
  'tiny (1e-20)': (rng, n) => fill(n, () => rng.normal() * 1e-20),
  'near the F16 maximum': (rng, n) => fill(n, () => (rng.next() < 0.5 ? -1 : 1) * (60000 + 5500 * rng.next())),
  'mixed magnitudes': (rng, n) => fill(n, (i) => rng.normal() * 10 ** ((i % 64) / 8 - 4)),
};

/** Importance weights with zeros in them, as real imatrix files have for dead columns. */
export function importanceWithZeros(rng: Rng, n: number): Float32Array {
  return fill(n, (i) => (i % 7 === 3 ? 0 : rng.next() * 5 + (i % 13 === 0 ? 40 : 0)));
}

/** Realistic weights with a dead run of 48 columns (whole IQ sub-blocks without any weight). */
export function importanceWithDeadRun(rng: Rng, n: number): Float32Array {
  const w = importanceWithZeros(rng, n);
  w.fill(0, 16, 64);
  return w;
}

export function rows(fillRow: RowFill, rng: Rng, nrows: number, nPerRow: number): Float32Array {
  const out = new Float32Array(nrows * nPerRow);
  for (let r = 0; r < nrows; r++) out.set(fillRow(rng, nPerRow), r * nPerRow);
  return out;
}
