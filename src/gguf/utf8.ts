/** UTF-8 for GGUF strings: validation without making a string or a view (a vocabulary's 30-250k strings are checked
 * in place), and the decoder that makes them. */

// ignoreBOM keeps a leading U+FEFF: real vocabularies contain it as a token.
export const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Whether bytes [from, to) of b are well-formed UTF-8 (the Unicode standard's table 3-7; exactly what a fatal
 * TextDecoder accepts: no overlong forms, no surrogates, nothing above U+10FFFF). */
export function isWellFormedUtf8(b: Uint8Array, from: number, to: number): boolean {
  let i = from;
  while (i < to) {
    const lead = b[i]!;
    if (lead < 0x80) {
      i++;
      continue;
    }
    // Continuation bytes after the lead, and the range allowed for the first of them.
    let n: number, lo = 0x80, hi = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) {
      n = 1;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      n = 2;
      if (lead === 0xe0) lo = 0xa0;
      else if (lead === 0xed) hi = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      n = 3;
      if (lead === 0xf0) lo = 0x90;
      else if (lead === 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (i + n >= to) return false;
    const first = b[i + 1]!;
    if (first < lo || first > hi) return false;
    for (let k = 2; k <= n; k++) {
      const c = b[i + k]!;
      if (c < 0x80 || c > 0xbf) return false;
    }
    i += n + 1;
  }
  return true;
}
