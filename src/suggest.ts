/** "Did you mean …?": the nearest of some names to what a user typed. */

const normalize = (s: string): string => s.toLowerCase().replace(/[-_ ]/g, '');

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

/** The candidate closest to `typed`, ignoring case, `_` and `-`, when it is close enough to be a typo
 * (a third of its length at most, and at least one edit allowed); undefined otherwise. */
export function nearest(typed: string, candidates: readonly string[]): string | undefined {
  const t = normalize(typed);
  if (t.length === 0) return undefined;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(t, normalize(c));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(t.length / 3)) ? best : undefined;
}

/** ` (did you mean "X"?)`, or nothing. */
export function didYouMean(typed: string, candidates: readonly string[]): string {
  const n = nearest(typed, candidates);
  return n === undefined ? '' : ` (did you mean "${n}"?)`;
}
