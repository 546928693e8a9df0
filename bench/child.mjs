// One measured run in its own process, so peak RSS and CPU time are its own:
//   node bench/child.mjs ours|convert|llama|io <input> <output> <preset> <threads>
// (input may be a Hugging Face folder for ours, convert and io)
// Prints one JSON line: wall seconds, CPU seconds, peak RSS bytes.
import { closeSync, openSync, readdirSync, readSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [mode, input, output, preset, threadsArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const t0 = performance.now();

if (mode === 'ours') {
  const { quantize } = await import(join(root, 'dist', 'index.js'));
  await quantize({ input, output, preset, threads, force: true });
} else if (mode === 'convert') {
  const { convert } = await import(join(root, 'dist', 'index.js'));
  await convert({ input, output, threads, force: true });
} else if (mode === 'llama') {
  const koffi = require('koffi');
  const { findPreset } = await import(join(root, 'dist', 'quant', 'presets.js'));
  const dir = join(dirname(require.resolve('@node-llama-cpp/linux-x64')), '..', 'bins', 'linux-x64');
  const lib = koffi.load(join(dir, 'libllama.v0.4.0.so'));
  const Params = koffi.struct('bench_qparams', {
    nthread: 'int32_t', ftype: 'int', output_tensor_type: 'int', token_embedding_type: 'int',
    allow_requantize: 'bool', quantize_output_tensor: 'bool', only_copy: 'bool', pure: 'bool', keep_split: 'bool', dry_run: 'bool',
    imatrix: 'void *', kv_overrides: 'void *', tt_overrides: 'void *', prune_layers: 'void *', max_buf_size: 'size_t',
  });
  const Log = koffi.proto('void bench_log(int level, const char *text, void *user)');
  lib.func('void llama_log_set(bench_log *cb, void *user)')(koffi.register(() => undefined, koffi.pointer(Log)), null);
  const params = lib.func('bench_qparams llama_model_quantize_default_params()')();
  params.ftype = findPreset(preset).ftype;
  params.nthread = threads;
  const rc = lib.func('uint32_t llama_model_quantize(const char *inp, const char *out, const bench_qparams *p)')(input, output, params);
  if (rc !== 0) throw new Error(`llama_model_quantize failed (${rc})`);
} else if (mode === 'io') {
  // The I/O floor: read the whole input and write as many bytes as the output has.
  const outBytes = statSync(output).size;
  const buf = Buffer.allocUnsafe(8 << 20);
  const inputs = statSync(input).isDirectory() ? readdirSync(input).filter((f) => f.endsWith('.safetensors')).map((f) => join(input, f)) : [input];
  for (const file of inputs) {
    const fin = openSync(file, 'r');
    for (let pos = 0, n; (n = readSync(fin, buf, 0, buf.length, pos)) > 0; pos += n);
    closeSync(fin);
  }
  const fout = openSync(`${output}.io`, 'w');
  for (let done = 0; done < outBytes; done += buf.length) writeSync(fout, buf, 0, Math.min(buf.length, outBytes - done));
  closeSync(fout);
}
const u = process.resourceUsage();
console.log(JSON.stringify({ wall: (performance.now() - t0) / 1000, cpu: (u.userCPUTime + u.systemCPUTime) / 1e6, rss: u.maxRSS * 1024 }));
