/** The few Python string and number behaviours the converter's outputs depend on, done the Python way. */

const CASED = /[\p{Lu}\p{Ll}\p{Lt}]/u;

/** str.title(): a cased character after an uncased one is upper-cased, every other cased one lower-cased. */
export function pyTitle(s: string): string {
  let out = '';
  let prevCased = false;
  for (const c of s) {
    const cased = CASED.test(c);
    out += cased ? (prevCased ? c.toLowerCase() : c.toUpperCase()) : c;
    prevCased = cased;
  }
  return out;
}

/** str.islower(): at least one cased character, and none upper- or title-case. */
export function pyIsLower(s: string): boolean {
  return /\p{Ll}/u.test(s) && !/[\p{Lu}\p{Lt}]/u.test(s);
}

/** bool(v) for a value read from JSON: false for None, False, 0, '' and empty lists and dicts. */
export function pyTruthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  return typeof v !== 'object' || Object.keys(v).length > 0;
}

export const pyIsAlpha = (s: string): boolean => s.length > 0 && /^\p{L}+$/u.test(s);
export const pyIsDecimal = (s: string): boolean => s.length > 0 && /^\p{Nd}+$/u.test(s);

/** The exact decimal expansion of a finite double (every binary fraction ends in a 5). */
function exactDecimal(x: number): { int: string; frac: string } {
  const [i, f = ''] = Math.abs(x).toFixed(100).split('.') as [string, string?];
  return { int: i, frac: f.replace(/0+$/, '') };
}

/** f"{x:.{d}f}": rounded half to even on the exact binary value (JS toFixed rounds ties up). */
export function pyFormatFixed(x: number, digits: number): string {
  const fixed = x.toFixed(digits);
  const { frac } = exactDecimal(x);
  const tie = frac.length === digits + 1 && frac.endsWith('5');
  if (!tie) return fixed;
  // A tie: toFixed went away from zero; Python keeps the even neighbour.
  const down = (Math.sign(x) * (Math.floor(Math.abs(x) * 10 ** digits) / 10 ** digits)).toFixed(digits);
  const lastDigit = Number(down.replace('.', '').slice(-1));
  return lastDigit % 2 === 0 ? down : fixed;
}

/** round(x) for a float: to the nearest integer, ties to even. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
