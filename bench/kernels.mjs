// npm run bench:kernels: MB/s of F32 input, one thread, for our scalar path, our SIMD path and
// llama.cpp's ggml_quantize_chunk (prebuilt, same process, same data), and the ratios.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { loadNative } = await import(join(root, 'dist', 'native.js'));
const native = loadNative();
const require = createRequire(import.meta.url);

let ggml;
try {
  const koffi = require('koffi');
  const dir = join(dirname(require.resolve('@node-llama-cpp/linux-x64')), '..', 'bins', 'linux-x64');
  if (existsSync(join(dir, 'libggml-base.so'))) {
    ggml = koffi.load(join(dir, 'libggml-base.so')).func('size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row, const float *imatrix)');
  }
} catch {}
if (!ggml) console.warn('llama.cpp oracle not available: its column is empty');

const TYPES = [['q8_0', 8, 34, 32], ['q4_0', 2, 18, 32], ['q4_1', 3, 20, 32], ['q5_0', 6, 22, 32], ['q5_1', 7, 24, 32],
  ['q2_K', 10, 84, 256], ['q3_K', 11, 110, 256], ['q4_K', 12, 144, 256], ['q5_K', 13, 176, 256], ['q6_K', 14, 210, 256],
  ['iq4_nl', 20, 18, 32], ['iq4_xs', 23, 136, 256], ['tq1_0', 34, 54, 256], ['tq2_0', 35, 66, 256],
  ['iq2_xxs', 16, 66, 256], ['iq2_xs', 17, 74, 256], ['iq2_s', 22, 82, 256], ['iq3_xxs', 18, 98, 256],
  ['iq3_s', 21, 110, 256], ['iq1_s', 19, 50, 256], ['iq1_m', 29, 56, 256], ['mxfp4', 39, 17, 32], ['nvfp4', 40, 36, 64],
  ['q1_0', 41, 18, 128], ['q2_0', 42, 18, 64]];
// The lattice types run at a few MB/s: they get a sixteenth of the rows, so a run stays short.
const SLOW = new Set(['iq2_xxs', 'iq2_xs', 'iq2_s', 'iq3_xxs', 'iq3_s', 'iq1_s', 'iq1_m']);
// ggml quantizes these only with importance weights; they always get them (marked * in the table).
const NEED_IMATRIX = new Set(['iq2_xxs', 'iq2_xs', 'iq1_s']);
const imatrixArg = process.argv.includes('--imatrix');
const nPerRow = 4096;
const nrows = Number(process.env.BENCH_ROWS ?? 256);
const x = new Float32Array(nPerRow * nrows);
let seed = 1;
const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
for (let i = 0; i < x.length; i++) {
  const g = Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  x[i] = 0.02 * g * (1 + 0.25 * g * g);
}
const weights = Float32Array.from({ length: nPerRow }, () => rnd() * 4);
const imatrix = imatrixArg ? weights : null;

// Best MB/s of each function, their runs interleaved for `ms` so that both meet the same moments of a shared
// machine (measured one after the other, a noisy neighbour moves the ratio by 20-30%).
function time(fns, mb, ms) {
  for (const fn of fns) fn(); // warm up
  const best = fns.map(() => Infinity);
  const deadline = performance.now() + ms;
  do {
    fns.forEach((fn, k) => {
      const t0 = performance.now();
      fn();
      best[k] = Math.min(best[k], performance.now() - t0);
    });
  } while (performance.now() < deadline);
  return best.map((t) => mb / (t / 1000));
}

// BENCH_SIMD=avx2 (or any available path) measures that path instead of the best one.
const simdName = process.env.BENCH_SIMD ?? native.info.simdBest;
if (!native.info.simdAvailable.includes(simdName)) throw new Error(`SIMD path ${simdName} is not available here (${native.info.simdAvailable.join(', ')})`);
const simd = native.info.simdNames.indexOf(simdName);
console.log(`kernels, one thread, rows of ${nPerRow}, ${((x.length * 4) / 1e6).toFixed(1)} MB of F32 per run (a sixteenth for the IQ1/IQ2/IQ3 types)${imatrix ? ', with imatrix' : ''}; best of repeated runs, ours and llama.cpp's interleaved; * = always with imatrix\n`);
console.log(`| type | scalar MB/s | ${simdName} MB/s | llama.cpp MB/s | ${simdName} / llama.cpp |`);
console.log('|---|---:|---:|---:|---:|');
const only = process.env.BENCH_TYPES?.split(',');
for (const [name, id, bytes, block] of TYPES) {
  if (only && !only.includes(name)) continue;
  const rows = SLOW.has(name) ? Math.max(1, nrows / 16) : nrows;
  const src = x.subarray(0, rows * nPerRow);
  const mb = (src.length * 4) / 1e6;
  const w = NEED_IMATRIX.has(name) ? weights : imatrix;
  const dst = Buffer.alloc((src.length / block) * bytes);
  // The kernel alone, as ggml_quantize_chunk is: both quantizers check input and output for NaN/Inf around it.
  const job = (s) => () => native.quantizeSync({ srcType: 0, dstType: id, nrows: rows, nPerRow, src, dst, simd: s, threads: 1, imatrix: w ?? undefined, validate: false });
  const [scalar] = time([job(0)], mb, 1000);
  const [fast, ref] = ggml ? time([job(simd), () => ggml(id, src, dst, 0, rows, nPerRow, w)], mb, 3000) : [time([job(simd)], mb, 1500)[0], NaN];
  const ratio = ggml ? `${(fast / ref).toFixed(1)}x` : '-';
  const digits = fast < 100 ? 1 : 0;
  console.log(`| ${name}${NEED_IMATRIX.has(name) && !imatrix ? ' *' : ''} | ${scalar.toFixed(digits)} | ${fast.toFixed(digits)} | ${ggml ? ref.toFixed(digits) : '-'} | ${ratio} |`);
}
