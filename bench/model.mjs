// npm run bench: quantize a synthetic 7B-shaped F16 model with llama.cpp (llama_model_quantize from
// @node-llama-cpp/linux-x64) and with quant-native, alternating, at the same thread count; print wall
// and CPU time, peak RSS, MB/s of input, the ratio, the I/O floor, and check the outputs are identical.
// The model is generated once and cached outside the repository (BENCH_CACHE, default ~/.cache/quant-native-bench).
// Then the same for a 7B-shaped BF16 Hugging Face folder (2 shards): convert against the I/O floor, and
// quantize of the folder against quantize of its converted BF16 GGUF (BENCH_HF=0 skips it).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { writeSyntheticModel } = await import(join(root, 'dist', 'index.js'));
const { writeBenchFolder } = await import(join(root, 'bench', 'hf-folder.mjs'));
const { writeBenchImatrix } = await import(join(root, 'bench', 'imatrix.mjs'));
const cache = process.env.BENCH_CACHE ?? join(homedir(), '.cache', 'quant-native-bench');
mkdirSync(cache, { recursive: true });
const threads = Number(process.env.BENCH_THREADS ?? availableParallelism());
const presets = (process.env.BENCH_PRESETS ?? 'Q8_0,Q4_0,Q4_K_M,Q5_K_M,Q6_K,IQ4_XS,IQ3_S,IQ2_XS').split(',');
const layers = Number(process.env.BENCH_LAYERS ?? 1);
const shape = { embd: 4096, ff: 11008, heads: 32, kvHeads: 8, vocab: 32000, layers, dtype: 'f16', name: 'bench-7b-shaped' };

async function model(nLayers) {
  const path = join(cache, `7b-shaped-${nLayers}L-f16.gguf`);
  if (!existsSync(path)) {
    console.error(`generating ${path} (once) ...`);
    await writeSyntheticModel(path, { ...shape, layers: nLayers });
  }
  return path;
}

/** The modes whose <output> is a file they write (the others read it, or take the input there). */
const WRITERS = new Set(['ours', 'target', 'convert', 'llama', 'write']);

function run(mode, input, output, preset, nThreads = threads, imatrix) {
  const args = [join(root, 'bench', 'child.mjs'), mode, input, output, preset, String(nThreads), ...(imatrix ? [imatrix] : [])];
  // Every run starts with nothing dirty in the page cache: the previous run's writeback must not be
  // charged to this one (it moved single runs by 0.6-3.8 s on this VM). Nor does it pay for deleting
  // the previous run's output (60 ms for Q8_0's), which replacing or truncating it would.
  if (WRITERS.has(mode)) rmSync(output, { force: true });
  if (mode === 'io') rmSync(`${output}.io`, { force: true });
  execFileSync('sync');
  const out = execFileSync(process.execPath, args, { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').at(-1));
}

function sha(path) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('end', () => resolve(h.digest('hex'))).on('error', reject);
  });
}

const mib = (b) => `${(b / 1048576).toFixed(0)} MiB`;
const input = await model(layers);
const inBytes = statSync(input).size;
// The IQ presets run with an importance matrix (IQ2_XS cannot run without one), the same for both.
const imatrixPath = join(cache, `7b-shaped-${layers}L-imatrix.gguf`);
if (!existsSync(imatrixPath)) await writeBenchImatrix(root, input, imatrixPath);
const imatrixFor = (preset) => (preset.startsWith('IQ') ? imatrixPath : undefined);
const mb = inBytes / 1e6;
console.log(`quant-native vs llama.cpp (llama_model_quantize, @node-llama-cpp/linux-x64 3.21.1)`);
console.log(`model: 7B-shaped F16, ${layers} layer(s), ${mib(inBytes)}; ${threads} threads; ${cpus()[0]?.model ?? 'unknown CPU'}; ${new Date().toISOString().slice(0, 10)}\n`);
console.log('| preset | llama.cpp wall | ours wall | ours / llama.cpp | llama.cpp CPU | ours CPU | llama.cpp peak RSS | ours peak RSS | ours MB/s | I/O floor (durable) | ours / floor | identical |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
for (const preset of presets) {
  const theirs = join(cache, `out-llama-${preset}.gguf`);
  const ours = join(cache, `out-ours-${preset}.gguf`);
  // Warm the page cache and alternate, so neither side is favoured.
  run('io', input, input, preset);
  rmSync(`${input}.io`, { force: true });
  const im = imatrixFor(preset);
  const l = run('llama', input, theirs, preset, threads, im);
  const o = run('ours', input, ours, preset, threads, im);
  const l2 = run('llama', input, theirs, preset, threads, im);
  const o2 = run('ours', input, ours, preset, threads, im);
  const io = [run('io', input, ours, preset), run('io', input, ours, preset)].sort((a, b) => a.wall - b.wall)[0];
  rmSync(`${ours}.io`, { force: true });
  const lw = Math.min(l.wall, l2.wall), ow = Math.min(o.wall, o2.wall);
  const same = (await sha(theirs)) === (await sha(ours));
  console.log(`| ${preset}${im ? ' (imatrix)' : ''} | ${lw.toFixed(2)} s | ${ow.toFixed(2)} s | ${(ow / lw).toFixed(3)} | ${Math.min(l.cpu, l2.cpu).toFixed(1)} s | ${Math.min(o.cpu, o2.cpu).toFixed(1)} s | ${mib(Math.max(l.rss, l2.rss))} | ${mib(Math.max(o.rss, o2.rss))} | ${(mb / ow).toFixed(0)} | ${io.wall.toFixed(2)} s | ${(ow / io.wall).toFixed(2)} | ${same ? 'yes' : 'NO'} |`);
  rmSync(theirs, { force: true });
  rmSync(ours, { force: true });
}

if (process.env.BENCH_DOUBLE !== '0') {
  // Peak RSS must not grow with model size: the same run on a model over twice as large.
  const big = await model(layers + 3);
  const small = run('ours', input, join(cache, 'rss-small.gguf'), 'Q4_K_M');
  const large = run('ours', big, join(cache, 'rss-large.gguf'), 'Q4_K_M');
  console.log(`\npeak RSS, Q4_K_M: ${mib(small.rss)} on ${mib(inBytes)} of input, ${mib(large.rss)} on ${mib(statSync(big).size)} (${((large.rss / small.rss - 1) * 100).toFixed(1)}%)`);
  rmSync(join(cache, 'rss-small.gguf'), { force: true });
  rmSync(join(cache, 'rss-large.gguf'), { force: true });
}

if (process.env.BENCH_TARGET !== '0') {
  // --target-size at Q4_K_M's size: measuring every candidate type on every tensor, then writing.
  const presetOut = join(cache, 'target-preset.gguf'), targetOut = join(cache, 'target-size.gguf');
  const p1 = run('ours', input, presetOut, 'Q4_K_M');
  const size = statSync(presetOut).size;
  const t1 = run('target', input, targetOut, String(size));
  const p2 = run('ours', input, presetOut, 'Q4_K_M');
  const t2 = run('target', input, targetOut, String(size));
  const pw = Math.min(p1.wall, p2.wall), tw = Math.min(t1.wall, t2.wall);
  console.log(`
--target-size ${size} (Q4_K_M's size): ${tw.toFixed(2)} s against the preset's ${pw.toFixed(2)} s: ${(tw / pw).toFixed(2)}x (target 3x); CPU ${Math.min(t1.cpu, t2.cpu).toFixed(1)} s; peak RSS ${mib(Math.max(t1.rss, t2.rss))}; file ${statSync(targetOut).size} bytes`);
  rmSync(presetOut, { force: true });
  rmSync(targetOut, { force: true });
}

if (process.env.BENCH_STAGES !== '0') {
  // The stages that run on one thread whatever the thread count, each alone, against one thread of
  // the Q4_K kernel (F16 input): a machine with N cores is held back once one of them is below N times that.
  // Reading is one of them only for what the JS side reads (Hugging Face shards, tensors copied as they are):
  // the workers read a GGUF input's quantized tensors themselves, each its own rows.
  const kernel = run('kernel', input, input, 'q4_K');
  const perCore = kernel.bytes / 1e6 / kernel.wall;
  const read = run('read', input, input, 'Q4_K_M');
  const write = run('write', input, join(cache, 'stage-write.gguf'), 'Q4_K_M');
  rmSync(join(cache, 'stage-write.gguf'), { force: true });
  const scaled = join(cache, 'stage-threads.gguf');
  const wallAt = (n) => Math.min(run('ours', input, scaled, 'Q4_K_M', n).wall, run('ours', input, scaled, 'Q4_K_M', n).wall);
  const t1 = wallAt(1), tN = threads > 1 ? wallAt(threads) : t1;
  console.log(`\nserial stages (MB/s of F16 input; one thread of the q4_K kernel: ${perCore.toFixed(0)} MB/s)`);
  console.log('| stage | MB/s of input | x one q4_K thread |');
  console.log('|---|---:|---:|');
  console.log(`| reading on the JS side (safetensors shards, copied tensors; positional reads, 32 MiB chunks) | ${(mb / read.wall).toFixed(0)} | ${(mb / read.wall / perCore).toFixed(1)} |`);
  console.log(`| writing Q4_K_M's output (with the syncs and the rename) | ${(mb / write.wall).toFixed(0)} | ${(mb / write.wall / perCore).toFixed(1)} |`);
  console.log(`Q4_K_M whole model: 1 thread ${t1.toFixed(2)} s, ${threads} threads ${tN.toFixed(2)} s: ${(t1 / tN).toFixed(2)}x`);
  rmSync(scaled, { force: true });
}

if (process.env.BENCH_HF !== '0') {
  const folder = join(cache, `7b-shaped-${layers}L-bf16-hf`);
  if (!existsSync(join(folder, 'model.safetensors.index.json'))) {
    console.error(`generating ${folder} (once) ...`);
    writeBenchFolder(folder, { ...shape, layers });
  }
  const folderBytes = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].reduce((s, f) => s + statSync(join(folder, f)).size, 0);
  const converted = join(cache, 'hf-converted-bf16.gguf');
  const c1 = run('convert', folder, converted, 'auto');
  const io = run('io', folder, converted, 'auto');
  const c2 = run('convert', folder, converted, 'auto');
  const cw = Math.min(c1.wall, c2.wall);
  console.log(`\nHugging Face folder: 7B-shaped BF16, ${layers} layer(s), 2 shards, ${mib(folderBytes)}; ${threads} threads`);
  console.log('| job | wall | CPU | peak RSS | MB/s of input | I/O floor | / floor |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  console.log(`| convert (BF16 out) | ${cw.toFixed(2)} s | ${Math.min(c1.cpu, c2.cpu).toFixed(1)} s | ${mib(Math.max(c1.rss, c2.rss))} | ${(folderBytes / 1e6 / cw).toFixed(0)} | ${io.wall.toFixed(2)} s | ${(cw / io.wall).toFixed(2)} |`);
  rmSync(`${converted}.io`, { force: true });
  const fromGguf = join(cache, 'hf-q4-from-gguf.gguf');
  const fromFolder = join(cache, 'hf-q4-from-folder.gguf');
  const g1 = run('ours', converted, fromGguf, 'Q4_K_M');
  const f1 = run('ours', folder, fromFolder, 'Q4_K_M');
  const g2 = run('ours', converted, fromGguf, 'Q4_K_M');
  const f2 = run('ours', folder, fromFolder, 'Q4_K_M');
  const gw = Math.min(g1.wall, g2.wall), fw = Math.min(f1.wall, f2.wall);
  const same = (await sha(fromGguf)) === (await sha(fromFolder));
  console.log(`| quantize BF16 GGUF, Q4_K_M | ${gw.toFixed(2)} s | ${Math.min(g1.cpu, g2.cpu).toFixed(1)} s | ${mib(Math.max(g1.rss, g2.rss))} | ${(folderBytes / 1e6 / gw).toFixed(0)} | | |`);
  console.log(`| quantize folder, Q4_K_M (one pass) | ${fw.toFixed(2)} s | ${Math.min(f1.cpu, f2.cpu).toFixed(1)} s | ${mib(Math.max(f1.rss, f2.rss))} | ${(folderBytes / 1e6 / fw).toFixed(0)} | | ${(fw / gw).toFixed(2)} of the GGUF run; outputs ${same ? 'identical' : 'DIFFER'} |`);
  for (const f of [converted, fromGguf, fromFolder]) rmSync(f, { force: true });
}
