/** Output safety: abort, signals and a full disk leave nothing behind and never touch an existing
 * output; concurrent runs and runs inside worker threads produce the right bytes. */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statfsSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantize } from '../src/api.js';
import { PACKAGE_ROOT } from '../src/native.js';
import { removeStalePartials, STALE_AFTER_MS } from '../src/gguf/partial.js';
import { writeSyntheticModel } from '../src/synthetic.js';
import { CLI, runCliAsync, stderrUntil } from './helpers/cli.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-safety-');
const model = join(tmp.dir, 'model-f16.gguf');
const out = join(tmp.dir, 'out');
mkdirSync(out);
beforeAll(async () => {
  // ~40 MB of F16: long enough to interrupt, quick enough for CI.
  await writeSyntheticModel(model, { layers: 3, embd: 1024, ff: 2816, heads: 16, kvHeads: 4, vocab: 2048, seed: 5 });
});
afterAll(() => tmp.cleanup());

/** Files in a folder, temporary ones included (they start with a dot). */
const leftovers = (dir: string): string[] => readdirSync(dir);

describe('abort', () => {
  it('rejects with AbortError within 500 ms of the signal, leaves no file, and the next run works', async () => {
    const controller = new AbortController();
    let abortedAt = 0;
    const target = join(out, 'aborted.gguf');
    const run = quantize({
      input: model, output: target, preset: 'Q4_K_M', threads: 1, signal: controller.signal,
      onProgress: () => {
        if (!abortedAt) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError', code: 'E_ABORTED' });
    expect(performance.now() - abortedAt).toBeLessThan(500);
    expect(leftovers(out)).toEqual([]);
    const s = await quantize({ input: model, output: target, preset: 'Q8_0' });
    expect(s.outputs).toEqual([target]);
  });
  it('an already aborted signal writes nothing', async () => {
    await expect(quantize({ input: model, output: join(out, 'never.gguf'), preset: 'Q8_0', signal: AbortSignal.abort() }))
      .rejects.toMatchObject({ code: 'E_ABORTED' });
    expect(existsSync(join(out, 'never.gguf'))).toBe(false);
    expect(leftovers(out).filter((f) => f.startsWith('.'))).toEqual([]);
  });
});

describe('signals', () => {
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} mid-run exits ${code} and leaves no output or temporary file`, async () => {
      const dir = join(tmp.dir, signal);
      mkdirSync(dir);
      const child = runCliAsync(['quantize', '--threads', '1', model, join(dir, 'o.gguf'), 'Q4_K_M']);
      const stderr = await stderrUntil(child, 'progress ');
      child.kill(signal);
      const exit = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect(exit, stderr).toBe(code);
      expect(readdirSync(dir)).toEqual([]);
    });
  }
  it('with --json, an interrupt ends stdout with one JSON error object', async () => {
    const dir = join(tmp.dir, 'json-interrupt');
    mkdirSync(dir);
    const child = runCliAsync(['quantize', '--json', '--progress', '--threads', '1', model, join(dir, 'o.gguf'), 'Q4_K_M']);
    let stdout = '';
    await new Promise<void>((resolve) => {
      child.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.includes('"event":"progress"')) resolve();
      });
    });
    child.kill('SIGINT');
    const exit = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(exit).toBe(130);
    const last = JSON.parse(stdout.trim().split('\n').at(-1)!) as { error: { code: string; message: string } };
    expect(last.error).toMatchObject({ code: 'E_ABORTED', message: expect.stringContaining('SIGINT') });
  });
});

/** Mounts a small tmpfs (root only); undefined where that is not possible. */
function mountTmpfs(dir: string, bytes: number, readOnly = false): (() => void) | undefined {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `${readOnly ? 'ro,' : ''}size=${bytes}`, 'tmpfs', dir]);
  if (r.status !== 0) return undefined;
  return () => { spawnSync('umount', [dir]); };
}

const canMount = (() => {
  const probe = join(tmp.dir, 'probe');
  const unmount = mountTmpfs(probe, 1 << 20);
  unmount?.();
  if (!unmount) console.warn('\n*** cannot mount a tmpfs here (not root?): the full-disk tests are NOT run ***\n');
  return unmount !== undefined;
})();

describe.runIf(canMount)('a full disk', () => {
  it('is refused before starting when the output cannot fit', async () => {
    const disk = join(tmp.dir, 'small');
    const unmount = mountTmpfs(disk, 2 << 20)!;
    try {
      await expect(quantize({ input: model, output: join(disk, 'o.gguf'), preset: 'Q8_0' }))
        .rejects.toMatchObject({ code: 'E_NO_SPACE', message: expect.stringContaining('not enough free space') });
      expect(readdirSync(disk)).toEqual([]);
    } finally {
      unmount();
    }
  });
  it('ENOSPC mid-run becomes E_NO_SPACE, removes the temporary file and keeps the existing output', async () => {
    const disk = join(tmp.dir, 'filling');
    const unmount = mountTmpfs(disk, 24 << 20)!;
    try {
      const target = join(disk, 'o.gguf');
      writeFileSync(target, 'previous output');
      let filled = false;
      const run = quantize({
        input: model, output: target, preset: 'Q4_K_M', force: true, threads: 1, chunkBytes: 1 << 20,
        onProgress: () => {
          if (filled) return;
          filled = true;
          // Another writer takes what is left of the disk while we run.
          const fs = statfsSync(disk);
          writeFileSync(join(disk, 'filler'), Buffer.alloc(Math.max(0, fs.bavail * fs.bsize - 4096)));
        },
      });
      await expect(run).rejects.toMatchObject({ code: 'E_NO_SPACE' });
      expect(readdirSync(disk).sort()).toEqual(['filler', 'o.gguf']);
      expect(readFileSync(target, 'utf8')).toBe('previous output');
    } finally {
      unmount();
    }
  });
});

describe.runIf(canMount)('a read-only file system', () => {
  it('is named as such before any work, not as a lack of space', async () => {
    const disk = join(tmp.dir, 'read-only');
    const unmount = mountTmpfs(disk, 1 << 20, true)!;
    try {
      let progressed = false;
      await expect(quantize({ input: model, output: join(disk, 'o.gguf'), preset: 'Q8_0', onProgress: () => { progressed = true; } }))
        .rejects.toMatchObject({ code: 'E_NOT_WRITABLE', message: expect.stringContaining('read-only') });
      expect(progressed).toBe(false);
    } finally {
      unmount();
    }
  });
});

/** A pid that was running a moment ago and is not any more. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

describe('leftovers of runs killed outright', () => {
  it('SIGKILL leaves a temporary file; the next run in that folder removes it and says so', async () => {
    const dir = join(tmp.dir, 'killed');
    mkdirSync(dir);
    const child = runCliAsync(['quantize', '--threads', '1', model, join(dir, 'o.gguf'), 'Q4_K_M']);
    await stderrUntil(child, 'progress ');
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const left = readdirSync(dir).filter((f) => f.endsWith('.partial'));
    expect(left).toHaveLength(1);
    // As if the kill was a while ago (a file written within the last minute may be another machine's run).
    const past = new Date(Date.now() - 2 * STALE_AFTER_MS);
    utimesSync(join(dir, left[0]!), past, past);
    const s = await quantize({ input: model, output: join(dir, 'o.gguf'), preset: 'Q8_0' });
    expect(readdirSync(dir)).toEqual(['o.gguf']);
    expect(s.warnings).toContainEqual(expect.stringContaining(`removed 1 temporary file(s) left by an interrupted run: ${join(dir, left[0]!)}`));
  });
  it('temporary files of a live run, or of a dead one written within the last minute, are kept', async () => {
    const dir = join(tmp.dir, 'partials');
    mkdirSync(dir);
    const live = join(dir, `.a.gguf.${process.pid}-0123abcd.partial`);
    const recent = join(dir, `.b.gguf.${deadPid()}-0123abcd.partial`);
    const stale = join(dir, `.c.gguf.${deadPid()}-0123abcd.partial`);
    const other = join(dir, '.d.gguf.partial');
    for (const f of [live, recent, stale, other]) writeFileSync(f, 'x');
    const past = new Date(Date.now() - 2 * STALE_AFTER_MS);
    for (const f of [live, stale, other]) utimesSync(f, past, past);
    expect(await removeStalePartials(dir)).toEqual({ removed: [stale], recent: [recent] });
    expect(readdirSync(dir).sort()).toEqual([live, recent, other].map((f) => basename(f)).sort());
  });
  it('demo interrupted while writing its model removes its folder; a killed demo\'s folder goes on the next run', async () => {
    const temp = join(tmp.dir, 'demo-tmp');
    mkdirSync(temp);
    const stale = join(temp, `quant-native-demo-${deadPid()}-abcdef`);
    mkdirSync(stale);
    writeFileSync(join(stale, 'demo-f16.gguf'), 'left by a killed demo');
    const child = runCliAsync(['demo'], { TMPDIR: temp });
    const stderr = await stderrUntil(child, 'writing a synthetic');
    child.kill('SIGINT');
    const exit = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(exit, stderr).toBe(130);
    expect(readdirSync(temp)).toEqual([]);
  });
});

describe('concurrency', () => {
  it('two runs at once in one process and one in a worker thread give the right bytes', async () => {
    const small = join(tmp.dir, 'small-f16.gguf');
    await writeSyntheticModel(small, { layers: 2, embd: 256, ff: 768, heads: 8, kvHeads: 2, vocab: 512, seed: 8 });
    const ref = { q4: join(out, 'ref-q4.gguf'), q6: join(out, 'ref-q6.gguf') };
    await quantize({ input: small, output: ref.q4, preset: 'Q4_K_M', threads: 1 });
    await quantize({ input: small, output: ref.q6, preset: 'Q6_K', threads: 1 });
    const a = join(out, 'a.gguf'), b = join(out, 'b.gguf'), w = join(out, 'w.gguf');
    const worker = new Promise<void>((resolve, reject) => {
      const code = `
        const { workerData, parentPort } = require('node:worker_threads');
        import(workerData.api).then(({ quantize }) => quantize({ input: workerData.input, output: workerData.output, preset: 'Q4_K_M' }))
          .then(() => parentPort.postMessage('done'), (e) => parentPort.postMessage(String(e)));
      `;
      const wk = new Worker(code, { eval: true, workerData: { api: join(PACKAGE_ROOT, 'dist', 'index.js'), input: small, output: w } });
      wk.once('message', (m: string) => (m === 'done' ? resolve() : reject(new Error(m))));
      wk.once('error', reject);
    });
    await Promise.all([
      quantize({ input: small, output: a, preset: 'Q4_K_M', threads: 2 }),
      quantize({ input: small, output: b, preset: 'Q6_K', threads: 2 }),
      worker,
    ]);
    expect(readFileSync(a).equals(readFileSync(ref.q4))).toBe(true);
    expect(readFileSync(b).equals(readFileSync(ref.q6))).toBe(true);
    expect(readFileSync(w).equals(readFileSync(ref.q4))).toBe(true);
  });
});

describe('progress on a terminal', () => {
  it('draws a redrawn bar with the tensor, percentage, rate and ETA (under a pseudo-terminal)', () => {
    const cmd = [process.execPath, CLI, 'quantize', '--force', model, join(out, 'tty.gguf'), 'Q8_0'].map((a) => `'${a}'`).join(' ');
    const r = execFileSync('script', ['-qfec', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, COLUMNS: '120' } });
    expect(r).toMatch(/\r█+░*\s+\d+\.\d%/);
    expect(r).toMatch(/\[\d+\/\d+\] \S+/);
    expect(r).toMatch(/\/s ETA /);
    expect(r).toContain('100.0%');
  });
});
