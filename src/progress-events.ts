/** Progress events of the long jobs (quantize, convert): monotonic, throttled, with an ETA. */

export interface QuantizeProgress {
  /** 'measuring': a target run measures what each candidate type loses, before anything is written
   * (bytes then count the measured tensors' input); absent while the output is written. */
  phase?: 'measuring';
  tensorIndex: number;
  tensorCount: number;
  tensorName: string;
  bytesDone: number;
  bytesTotal: number;
  /** 0 … 1, monotonic; the last event has exactly 1. */
  fraction: number;
  /** Estimated seconds left, undefined until there is a rate to go by. */
  etaSeconds: number | undefined;
}

/** Makes a progress callback monotonic and throttled to about ten calls a second. */
export function progressReporter(tensorCount: number, bytesTotal: number, onProgress: ((p: QuantizeProgress) => void) | undefined, phase?: 'measuring') {
  const start = performance.now();
  let last = -Infinity;
  let lastFraction = -1;
  return {
    report(tensorIndex: number, tensorName: string, bytesDone: number, final = false): void {
      if (!onProgress) return;
      const now = performance.now();
      const fraction = final ? 1 : bytesTotal > 0 ? Math.min(1 - Number.EPSILON, bytesDone / bytesTotal) : 0;
      if (!final && (now - last < 100 || fraction < lastFraction)) return;
      last = now;
      lastFraction = fraction;
      const elapsed = (now - start) / 1000;
      const etaSeconds = final ? 0 : fraction > 0 && elapsed > 0.2 ? (elapsed * (1 - fraction)) / fraction : undefined;
      onProgress({ ...(phase ? { phase } : {}), tensorIndex, tensorCount, tensorName, bytesDone: final ? bytesTotal : bytesDone, bytesTotal, fraction, etaSeconds });
    },
  };
}
