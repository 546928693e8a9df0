// One measured run in its own process, so peak RSS and CPU time are its own:
//   node bench/child.mjs ours|target|convert|llama|io|read|write|kernel <input> <output> <preset> <threads> [imatrix]
// (target: <preset> is the target file size in bytes; ours and llama take an optional GGUF imatrix)
// (input may be a Hugging Face folder for ours, convert and io). read, write and kernel time the
// pipeline's serial stages alone: its JS-side positional reads of the input in 32 MiB chunks, its writer
// writing <preset>'s output size (with the writer's syncs and rename), and one thread of <preset>'s
// main kernel on the input's largest F16 tensor.
// Prints one JSON line: wall seconds, CPU seconds, peak RSS bytes.
import { closeSync, constants, fdatasyncSync, ftruncateSync, openSync, readdirSync, readSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [mode, input, output, preset, threadsArg, imatrix] = process.argv.slice(2);
const threads = Number(threadsArg);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const t0 = performance.now();

if (mode === 'ours') {
  const { quantize } = await import(join(root, 'dist', 'index.js'));
  await quantize({ input, output, preset, threads, force: true, imatrix });
} else if (mode === 'target') {
  const { quantize } = await import(join(root, 'dist', 'index.js'));
  await quantize({ input, output, target: { bytes: Number(preset) }, threads, force: true });
} else if (mode === 'convert') {
  const { convert } = await import(join(root, 'dist', 'index.js'));
  await convert({ input, output, threads, force: true });
} else if (mode === 'llama') {
  const koffi = require('koffi');
  const { findPreset } = await import(join(root, 'dist', 'quant', 'presets.js'));
  const dir = join(dirname(require.resolve('@node-llama-cpp/linux-x64')), '..', 'bins', 'linux-x64');
  const lib = koffi.load(join(dir, 'libllama.v0.4.0.so'));
  const Entry = koffi.struct('bench_imatrix_entry', { name: 'const char *', data: 'const float *', size: 'size_t' });
  const Params = koffi.struct('bench_qparams', {
    nthread: 'int32_t', ftype: 'int', output_tensor_type: 'int', token_embedding_type: 'int',
    allow_requantize: 'bool', quantize_output_tensor: 'bool', only_copy: 'bool', pure: 'bool', keep_split: 'bool', dry_run: 'bool',
    imatrix: koffi.pointer(Entry), kv_overrides: 'const void *', tt_overrides: 'void *', prune_layers: 'void *', max_buf_size: 'size_t',
  });
  const Log = koffi.proto('void bench_log(int level, const char *text, void *user)');
  lib.func('void llama_log_set(bench_log *cb, void *user)')(koffi.register(() => undefined, koffi.pointer(Log)), null);
  const params = lib.func('bench_qparams llama_model_quantize_default_params()')();
  params.ftype = findPreset(preset).ftype;
  params.nthread = threads;
  if (imatrix) {
    // The values llama-quantize derives from the file, and the metadata it records about it (which
    // it takes from kv_overrides), so that both outputs can be compared byte for byte.
    const { loadImatrix } = await import(join(root, 'dist', 'quant', 'imatrix.js'));
    const im = await loadImatrix(imatrix);
    const entries = [...[...im.entries].map(([name, data]) => ({ name, data, size: data.length })), { name: null, data: null, size: 0 }];
    const kv = [['quantize.imatrix.file', 3, imatrix], ['quantize.imatrix.dataset', 3, im.datasets[0]],
      ['quantize.imatrix.entries_count', 0, im.entries.size], ['quantize.imatrix.chunks_count', 0, im.chunkCount]];
    const SIZE = 264; // sizeof(llama_model_kv_override)
    const overrides = Buffer.alloc(SIZE * (kv.length + 1));
    kv.forEach(([key, type, value], i) => {
      overrides.writeInt32LE(type, i * SIZE);
      overrides.write(key, i * SIZE + 4, 127, 'utf8');
      if (type === 0) overrides.writeBigInt64LE(BigInt(value), i * SIZE + 136);
      else overrides.write(String(value), i * SIZE + 136, 127, 'utf8');
    });
    params.imatrix = entries;
    params.kv_overrides = overrides;
  }
  const rc = lib.func('uint32_t llama_model_quantize(const char *inp, const char *out, const bench_qparams *p)')(input, output, params);
  if (rc !== 0) throw new Error(`llama_model_quantize failed (${rc})`);
} else if (mode === 'read') {
  const { openModel } = await import(join(root, 'dist', 'gguf', 'model.js'));
  const { TensorDataReader } = await import(join(root, 'dist', 'gguf', 'reader.js'));
  const model = await openModel(input);
  const reader = await TensorDataReader.open(model.files.map((f) => f.path));
  const buf = Buffer.allocUnsafe(32 << 20);
  for (const t of model.tensors) for (let at = 0; at < t.nbytes; at += buf.length) await reader.read(t, at, Math.min(buf.length, t.nbytes - at), buf);
  await reader.close();
} else if (mode === 'write') {
  const { quantize } = await import(join(root, 'dist', 'index.js'));
  const { GgufFileWriter } = await import(join(root, 'dist', 'gguf', 'writer.js'));
  const { chunkAt, chunkMemory } = await import(join(root, 'dist', 'gguf', 'append-file.js'));
  const { directIoAlloc, loadNative } = await import(join(root, 'dist', 'native.js'));
  const plan = await quantize({ input, preset, dryRun: true });
  const alignedAlloc = directIoAlloc(loadNative());
  const t1 = performance.now();
  const w = await GgufFileWriter.create(output, [], [{ name: 'all', dims: [plan.bytesOut], type: 24, nbytes: plan.bytesOut }], undefined, { alignedAlloc });
  // As the pipeline hands chunks over: each placed at its file offset's phase in aligned memory.
  const chunk = Math.min(32 << 20, plan.bytesOut);
  const buf = chunkMemory(alignedAlloc, chunk);
  for (let done = 0; done < plan.bytesOut; done += chunk) await w.write(chunkAt(buf, w.fileOffset(0, done), Math.min(chunk, plan.bytesOut - done)));
  await w.finish();
  console.log(JSON.stringify({ wall: (performance.now() - t1) / 1000, cpu: 0, rss: 0, bytes: plan.bytesOut }));
  process.exit(0);
} else if (mode === 'kernel') {
  const { openModel } = await import(join(root, 'dist', 'gguf', 'model.js'));
  const { TensorDataReader } = await import(join(root, 'dist', 'gguf', 'reader.js'));
  const { loadNative, resolveSimd } = await import(join(root, 'dist', 'native.js'));
  const { ggmlTypeByName, rowBytes } = await import(join(root, 'dist', 'ggml-types.js'));
  const model = await openModel(input);
  const t = model.tensors.filter((x) => x.type === 1 && x.dims.length === 2).sort((a, b) => b.nbytes - a.nbytes)[0];
  const reader = await TensorDataReader.open(model.files.map((f) => f.path));
  const src = Buffer.allocUnsafe(t.nbytes);
  await reader.read(t, 0, t.nbytes, src);
  await reader.close();
  const type = ggmlTypeByName(preset).id;
  const ne0 = t.dims[0], nrows = t.nbytes / 2 / ne0;
  const dst = Buffer.allocUnsafe(rowBytes(type, ne0) * nrows);
  const native = loadNative();
  const t1 = performance.now();
  await native.quantizeAsync({ srcType: 1, dstType: type, nrows, nPerRow: ne0, src, dst, simd: resolveSimd(native), threads: 1 });
  console.log(JSON.stringify({ wall: (performance.now() - t1) / 1000, cpu: 0, rss: 0, bytes: t.nbytes }));
  process.exit(0);
} else if (mode === 'io') {
  // The I/O floor: read the whole input and write as many bytes as the output has, durably and around
  // the page cache where the file system allows it, as our writer does before its rename.
  const { loadNative } = await import(join(root, 'dist', 'native.js'));
  const outBytes = statSync(output).size;
  const block = 8 << 20;
  const mem = loadNative().alignedBuffer({ bytes: block, alignment: 4096 });
  const aligned = Buffer.from(mem.buffer, mem.byteOffset, mem.length);
  const inputs = statSync(input).isDirectory() ? readdirSync(input).filter((f) => f.endsWith('.safetensors')).map((f) => join(input, f)) : [input];
  for (const file of inputs) {
    const fin = openSync(file, 'r');
    for (let pos = 0, n; (n = readSync(fin, aligned, 0, block, pos)) > 0; pos += n);
    closeSync(fin);
  }
  let fout;
  try {
    fout = openSync(`${output}.io`, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | (constants.O_DIRECT ?? 0));
  } catch {
    fout = openSync(`${output}.io`, 'w');
  }
  const whole = Math.ceil(outBytes / 4096) * 4096;
  for (let done = 0; done < whole; done += block) writeSync(fout, aligned, 0, Math.min(block, whole - done), done);
  ftruncateSync(fout, outBytes);
  fdatasyncSync(fout);
  closeSync(fout);
}
const u = process.resourceUsage();
console.log(JSON.stringify({ wall: (performance.now() - t0) / 1000, cpu: (u.userCPUTime + u.systemCPUTime) / 1e6, rss: u.maxRSS * 1024 }));
