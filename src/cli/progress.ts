/** Progress on stderr: a redrawn bar on a terminal, plain periodic lines otherwise, JSON lines on
 * stdout with --json --progress, or nothing. */
import type { QuantizeProgress } from '../api.js';
import { duration, humanBytes } from './format.js';

export type ProgressMode = 'bar' | 'lines' | 'json' | 'none';

/** `progress` is the --progress / --no-progress flag: undefined when neither was given. With
 * --json, progress is opt-in (JSON lines); otherwise it is on unless --no-progress. */
export function pickProgressMode(opts: { progress: boolean | undefined; json: boolean }, isTTY: boolean): ProgressMode {
  if (opts.json) return opts.progress === true ? 'json' : 'none';
  if (opts.progress === false) return 'none';
  return isTTY ? 'bar' : 'lines';
}

export class ProgressRenderer {
  private readonly start = performance.now();
  private lastLine = -Infinity;
  private drawn = false;

  constructor(private readonly mode: ProgressMode, private readonly err: NodeJS.WriteStream = process.stderr, private readonly out: NodeJS.WriteStream = process.stdout) {}

  update(p: QuantizeProgress): void {
    const elapsed = (performance.now() - this.start) / 1000;
    const rate = elapsed > 0 ? p.bytesDone / elapsed : 0;
    const pct = `${(p.fraction * 100).toFixed(1).padStart(5)}%`;
    const eta = p.etaSeconds === undefined ? '--' : duration(p.etaSeconds);
    const phase = p.phase === 'measuring' ? 'measuring ' : '';
    switch (this.mode) {
      case 'json':
        this.out.write(`${JSON.stringify({ event: 'progress', ...p, bytesPerSecond: Math.round(rate) })}\n`);
        return;
      case 'bar': {
        const width = Math.max(10, Math.min(30, (this.err.columns ?? 80) - 60));
        const filled = Math.round(p.fraction * width);
        const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
        const name = p.tensorName.length > 28 ? `…${p.tensorName.slice(-27)}` : p.tensorName;
        const line = `${phase}${bar} ${pct} [${p.tensorIndex + 1}/${p.tensorCount}] ${name.padEnd(28)} ${humanBytes(rate)}/s ETA ${eta}`;
        this.err.write(`\r${line.slice(0, (this.err.columns ?? 120) - 1)}\x1b[K`);
        this.drawn = true;
        return;
      }
      case 'lines': {
        const now = performance.now();
        if (p.fraction < 1 && now - this.lastLine < 2000) return;
        this.lastLine = now;
        this.err.write(`progress ${phase}${pct.trim()} tensor ${p.tensorIndex + 1}/${p.tensorCount} ${p.tensorName} ${humanBytes(rate)}/s eta ${eta}\n`);
        return;
      }
      case 'none':
        return;
    }
  }

  /** Ends the bar's line so later output starts on a fresh one. */
  finish(): void {
    if (this.drawn) this.err.write('\n');
    this.drawn = false;
  }
}
