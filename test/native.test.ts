/** The addon: SIMD path forcing, its checks, reading rows from a file, context awareness (workers), never blocking the
 * event loop. */
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quantizeRows } from '../src/api.js';
import { GgmlType, ggmlTypeByName, rowBytes } from '../src/ggml-types.js';
import { loadNative, resolveSimd, type NativeQuantizeJob } from '../src/native.js';
import { DATASETS, Rng, rows } from './helpers/data.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/models.js';

const native = loadNative();

describe('SIMD paths', () => {
  for (const path of native.info.simdAvailable) {
    it(`QUANT_NATIVE_SIMD=${path} is reported by --version and used`, () => {
      const r = runCli(['--version'], { QUANT_NATIVE_SIMD: path });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`simd: ${path} `));
    });
  }
  it('auto picks the best available path', () => {
    expect(runCli(['--version'], { QUANT_NATIVE_SIMD: 'auto' }).stdout).toContain(`simd: ${native.info.simdBest} `);
  });
  it('an unavailable path is a clear error, not a crash', () => {
    const missing = native.info.simdNames.find((n) => !native.info.simdAvailable.includes(n));
    expect(missing).toBeDefined();
    const bad = runCli(['--version'], { QUANT_NATIVE_SIMD: missing! });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(new RegExp(`the ${missing} path is not available on this CPU`));
    expect(() => resolveSimd(native, missing)).toThrow(expect.objectContaining({ code: 'E_SIMD_UNAVAILABLE' }));
  });
  it('an unknown path name is refused', () => {
    expect(() => resolveSimd(native, 'sse9')).toThrow(expect.objectContaining({ code: 'E_BAD_OPTION' }));
  });
  it('every path gives the same bytes through the binding', async () => {
    const x = rows(DATASETS['heavy-tailed with outliers']!, new Rng(3), 16, 4096);
    for (const type of ['q8_0', 'q4_0', 'q4_K', 'q6_K', 'iq4_xs']) {
      const outs = await Promise.all(native.info.simdAvailable.map((simd) => quantizeRows(type, x, 4096, { simd, threads: 2 })));
      for (const o of outs) expect(o.equals(outs[0]!)).toBe(true);
    }
  });
  it('the types ggml quantizes only with importance weights are refused without them, and run with them', async () => {
    const x = rows(DATASETS.normal!, new Rng(4), 2, 256);
    for (const type of ['iq2_xxs', 'iq2_xs', 'iq1_s']) {
      await expect(quantizeRows(type, x, 256)).rejects.toMatchObject({ code: 'E_NEEDS_IMATRIX' });
      const out = await quantizeRows(type, x, 256, { imatrix: new Float32Array(256).fill(1) });
      expect(out.length).toBe(2 * rowBytes(ggmlTypeByName(type)!.id, 256)!);
    }
  });
});

describe('the binding checks what it is given', () => {
  const x = new Float32Array(256);
  const job = { srcType: GgmlType.F32, dstType: GgmlType.Q4_K, nrows: 1, nPerRow: 256, src: x, dst: Buffer.alloc(144), simd: 0 };
  it.each([
    ['a destination too small', { dst: Buffer.alloc(143) }, /dst holds 143 bytes, 144 needed/],
    ['a source too small', { nrows: 2 }, /src holds 1024 bytes, 2048 needed/],
    ['a row length that is not whole blocks', { nPerRow: 128, nrows: 2 }, /not a multiple of q4_K's block size 256/],
    ['an unknown type', { dstType: 4 }, /cannot produce type 4/],
    ['a negative row count', { nrows: -1 }, /nrows must be an integer/],
    ['a fractional row length', { nPerRow: 2.5 }, /nPerRow must be an integer/],
    ['a non-buffer source', { src: 'abc' }, /src must be a Buffer/],
    ['an imatrix of the wrong length', { imatrix: new Float32Array(100) }, /imatrix length 100/],
    ['an imatrix that is not Float32Array', { imatrix: new Float64Array(256) }, /imatrix must be a Float32Array/],
    ['a validate that is not a boolean', { validate: 1 }, /validate must be a boolean/],
  ])('refuses %s', (_what, patch, message) => {
    expect(() => native.quantizeSync({ ...job, ...(patch as object) } as typeof job)).toThrow(message);
  });
  it('checks input and output for NaN/Inf unless told not to (the kernel benchmark)', () => {
    const src = new Float32Array(512).fill(0.5);
    src[300] = Number.NaN;
    const two = { ...job, nrows: 2, src, dst: Buffer.alloc(288) };
    expect(native.quantizeSync(two).invalidInputRow).toBe(1);
    expect(native.quantizeSync({ ...two, validate: true }).invalidInputRow).toBe(1);
    expect(native.quantizeSync({ ...two, validate: false }).invalidInputRow).toBe(-1);
    // A finite input whose fp16 scale overflows: only the output check sees it.
    const huge = { ...two, src: new Float32Array(512).fill(0.5).fill(3e38, 256) };
    expect(native.quantizeSync(huge)).toMatchObject({ invalidInputRow: -1, invalidOutputRow: 1 });
    expect(native.quantizeSync({ ...huge, validate: false })).toMatchObject({ invalidInputRow: -1, invalidOutputRow: -1 });
  });
  it.each([[[1500, 700], 700], [[1500], 1500], [[0, 2047], 0]])(
    'threads taking blocks of rows as they come still report the first invalid row (NaN in rows %j)',
    async (bad, first) => {
      // 2048 rows of 256: several blocks per thread, claimed in whatever order the threads run.
      const src = new Float32Array(2048 * 256).fill(0.5);
      for (const r of bad) src[r * 256 + 7] = Number.NaN;
      const r = await native.quantizeAsync({ ...job, nrows: 2048, src, dst: Buffer.alloc(2048 * 144), threads: 4 });
      expect(r.invalidInputRow).toBe(first);
    },
  );
});

// Windows builds cannot read Node's descriptors (another C runtime): there the option is refused, and the engine
// reads every chunk on the JS side.
it.runIf(!native.info.fileSource)('srcFd is refused where the addon cannot read files', () => {
  const job = { srcType: GgmlType.F32, dstType: GgmlType.Q4_K, nrows: 1, nPerRow: 256, dst: Buffer.alloc(144), simd: 0 };
  expect(() => native.quantizeSync({ ...job, srcFd: 0, srcOffset: 0 })).toThrow(/srcFd is not supported on this platform/);
});

describe.runIf(native.info.fileSource)('rows read from a file by the job (srcFd)', () => {
  const tmp = tempDir('qn-native-fd-');
  // 600 rows of 512 F16 values after 1000 bytes of something else: several blocks of rows per thread.
  const nrows = 600, nPerRow = 512, skip = 1000;
  const f16 = Buffer.alloc(nrows * nPerRow * 2);
  const file = join(tmp.dir, 'rows.bin');
  beforeAll(() => {
    const values = rows(DATASETS['heavy-tailed with outliers']!, new Rng(11), nrows, nPerRow);
    native.quantizeSync({ srcType: GgmlType.F32, dstType: GgmlType.F16, nrows, nPerRow, src: values, dst: f16, simd: 0 });
    writeFileSync(file, Buffer.concat([Buffer.alloc(skip, 7), f16]));
  });
  afterAll(() => tmp.cleanup());
  const job = (dst: Buffer) => ({ srcType: GgmlType.F16, dstType: GgmlType.Q4_K, nrows, nPerRow, dst, simd: resolveSimd(native), threads: 3 });
  const outBytes = nrows * rowBytes(GgmlType.Q4_K, nPerRow)!;
  it('gives the bytes the same rows give from memory', async () => {
    const fromMemory = Buffer.alloc(outBytes), fromFile = Buffer.alloc(outBytes);
    await native.quantizeAsync({ ...job(fromMemory), src: f16 });
    const fh = await open(file, 'r');
    try {
      const r = await native.quantizeAsync({ ...job(fromFile), srcFd: fh.fd, srcOffset: skip, prefetchOffset: 0, prefetchLength: skip });
      expect(r).toMatchObject({ readError: null, invalidInputRow: -1, invalidOutputRow: -1 });
    } finally {
      await fh.close();
    }
    expect(fromFile.equals(fromMemory)).toBe(true);
  });
  it('reports a file that ends before the rows do', async () => {
    const fh = await open(file, 'r');
    try {
      const r = await native.quantizeAsync({ ...job(Buffer.alloc(outBytes)), srcFd: fh.fd, srcOffset: skip + 2 * nPerRow });
      expect(r.readError).toBe('EOF');
    } finally {
      await fh.close();
    }
  });
  it('reports a descriptor it cannot read', async () => {
    const fh = await open(join(tmp.dir, 'write-only.bin'), 'w');
    try {
      const r = await native.quantizeAsync({ ...job(Buffer.alloc(outBytes)), srcFd: fh.fd, srcOffset: 0 });
      expect(r.readError).toMatch(/bad file descriptor/i);
    } finally {
      await fh.close();
    }
  });
  it.each([
    ['both src and srcFd', { src: f16, srcFd: 0, srcOffset: 0 }, /give src or srcFd, not both/],
    ['a negative descriptor', { srcFd: -1, srcOffset: 0 }, /srcFd must be an integer/],
    ['no offset', { srcFd: 0 }, /srcOffset must be a number/],
  ])('refuses %s', (_what, patch, message) => {
    expect(() => native.quantizeSync({ ...job(Buffer.alloc(outBytes)), ...(patch as object) } as NativeQuantizeJob)).toThrow(message);
  });
});

describe('context awareness', () => {
  it('loads and works in several worker threads at once, with the same bytes', async () => {
    const x = rows(DATASETS.normal!, new Rng(9), 8, 1024);
    const expected = await quantizeRows('q5_K', x, 1024);
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData.path);
      const dst = Buffer.alloc(workerData.bytes);
      addon.quantizeAsync({ srcType: 0, dstType: 13, nrows: 8, nPerRow: 1024, src: workerData.x, dst, simd: 0, threads: 2 })
        .then(() => parentPort.postMessage(dst));
    `;
    const { nativeBindingPath } = await import('../src/native.js');
    const results = await Promise.all([0, 1, 2].map(() => new Promise<Uint8Array>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { path: nativeBindingPath(), x, bytes: expected.length } });
      w.once('message', (m: Uint8Array) => { resolve(m); void w.terminate(); });
      w.once('error', reject);
    })));
    for (const r of results) expect(Buffer.from(r).equals(expected)).toBe(true);
  });
});

describe('event loop', () => {
  it('a long native job leaves the JS thread free', async () => {
    const x = rows(DATASETS.normal!, new Rng(4), 256, 4096);
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }, 5);
    const t0 = performance.now();
    await quantizeRows('q4_K', x, 4096, { threads: 1, simd: 'scalar' });
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(50);
    expect(maxGap).toBeLessThan(50);
  });
});
