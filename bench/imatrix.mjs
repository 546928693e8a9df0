// A GGUF importance matrix for the benchmark model, in llama-imatrix's layout (<name>.in_sum2 and
// <name>.counts for every 2-D weight but the norms), with plausible positive values: the IQ presets
// need one, and both quantizers get the same file.
import { join } from 'node:path';

export async function writeBenchImatrix(root, modelPath, path) {
  const { readGguf } = await import(join(root, 'dist', 'gguf', 'reader.js'));
  const { GgufFileWriter } = await import(join(root, 'dist', 'gguf', 'writer.js'));
  const { GgufValueType } = await import(join(root, 'dist', 'gguf', 'format.js'));
  const weights = (await readGguf(modelPath)).tensors.filter((t) => t.dims.length === 2 && !t.name.includes('norm'));
  const kvs = [
    { key: 'general.type', type: GgufValueType.STRING, value: 'imatrix' },
    { key: 'imatrix.datasets', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items: ['bench'] } },
    { key: 'imatrix.chunk_count', type: GgufValueType.UINT32, value: 100 },
    { key: 'imatrix.chunk_size', type: GgufValueType.UINT32, value: 512 },
  ];
  const decls = weights.flatMap((t) => [
    { name: `${t.name}.in_sum2`, dims: [t.dims[0], 1], type: 0, nbytes: t.dims[0] * 4 },
    { name: `${t.name}.counts`, dims: [1, 1], type: 0, nbytes: 4 },
  ]);
  const w = await GgufFileWriter.create(path, kvs, decls);
  let seed = 7;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296;
  for (const t of weights) {
    const sums = Float32Array.from({ length: t.dims[0] }, () => 51200 * rnd() * rnd() * 4 + 1);
    await w.write(new Uint8Array(sums.buffer));
    await w.write(new Uint8Array(Float32Array.of(51200).buffer));
  }
  await w.finish();
}
