/** Hugging Face folders to GGUF: byte-identical to llama.cpp's convert_hf_to_gguf.py on the shared
 * fixtures (../shared/hf, whose manifests the converter itself wrote), and clear errors, with nothing
 * written, on folders it cannot take. */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { quantize } from '../src/api.js';
import { convert } from '../src/convert.js';
import { readGguf } from '../src/gguf/reader.js';
import { readSafetensors } from '../src/hf/safetensors.js';
import { runCli } from './helpers/cli.js';
import { firstDifference, HF_DIR, hfFixture, manifest, sha256 } from './helpers/hf.js';
import { loadLlamaRuntime } from './helpers/llama-runtime.js';
import { realModel, tempDir } from './helpers/models.js';
import { f32Bytes, sentencePieceModel, writeSafetensors, type StTensor } from './helpers/safetensors.js';

const tmp = tempDir('qn-convert-');
afterAll(() => tmp.cleanup());

describe.runIf(HF_DIR)('byte-identical to convert_hf_to_gguf.py', () => {
  for (const outType of ['auto', 'f32', 'f16', 'bf16', 'q8_0'] as const) {
    it(`llama-spm (SentencePiece Llama, F32 weights) --outtype ${outType}`, async () => {
      const dir = hfFixture('llama-spm', tmp.dir);
      const out = join(tmp.dir, `llama-spm-${outType}.gguf`);
      await convert({ input: dir, output: out, outType, force: true });
      const m = manifest('llama-spm', outType);
      if (sha256(readFileSync(out)) !== m.sha256) expect.fail(await firstDifference(out, m));
    });
  }
  const autoCases: Array<[string, string]> = [
    ['mistral', 'Mistral, SentencePiece-style tokenizer.json, F16 weights in 2 shards'],
    ['mixtral', 'Mixtral, 4 experts stacked per layer, BF16'],
    ['llama-gemma-tok', 'Llama with the Gemma 3 tokenizer.json (262k tokens), BF16'],
    ['llama3', 'Llama 3 byte-level BPE, pre-tokenizer llama-bpe, rope_freqs, tied, BF16'],
    ['qwen2', 'Qwen2, q/k/v biases, BPE pre-tokenizer qwen2, vocabulary padded to vocab_size, BF16'],
    ['qwen3', 'Qwen3, q/k norms, model card (license, base model, tags, languages), BF16'],
    ['qwen3moe', 'Qwen3-MoE, 4 experts stacked per layer, router in F32, BF16'],
    ['phi3', 'Phi-3, fused qkv and gate_up, added tokens, BF16'],
    ['gemma3', 'Gemma 3 text, norms stored minus one, sampling defaults from generation_config.json, BF16'],
  ];
  for (const [name, what] of autoCases) {
    it(`${name} (${what})`, async () => {
      const dir = hfFixture(name, tmp.dir);
      const out = join(tmp.dir, `${name}-auto.gguf`);
      await convert({ input: dir, output: out, force: true });
      const m = manifest(name, 'auto');
      if (sha256(readFileSync(out)) !== m.sha256) expect.fail(await firstDifference(out, m));
    });
  }
  // Tensors in many chunks: permuted heads, conversions, the Gemma shift and stacked experts each cross chunk ends, and
  // every chunk is written while the next is converted.
  for (const [name, outType] of [['llama-spm', 'q8_0'], ['gemma3', 'auto'], ['mixtral', 'auto']] as const) {
    it(`${name} --outtype ${outType} in chunks of 4 KiB: the same file`, async () => {
      const dir = hfFixture(name, tmp.dir);
      const out = join(tmp.dir, `${name}-${outType}-chunked.gguf`);
      await convert({ input: dir, output: out, outType, force: true, chunkBytes: 4096 });
      const m = manifest(name, outType);
      if (sha256(readFileSync(out)) !== m.sha256) expect.fail(await firstDifference(out, m));
    });
  }
  it('without an output path, the file gets the converter\'s name (naming_convention) inside the folder', async () => {
    const dir = hfFixture('llama-spm', join(tmp.dir, 'default-name'));
    const s = await convert({ input: dir });
    // basename SmolLlama, size label 140K, finetune Chat, version v0.1, encoding F16.
    expect(s.output).toBe(join(dir, 'SmolLlama-140K-Chat-v0.1-F16.gguf'));
    expect(sha256(readFileSync(s.output!))).toBe(manifest('llama-spm', 'auto').sha256);
  });
  it('inspect on a folder says what it would convert to, as the converter would (manifest values)', () => {
    const dir = hfFixture('qwen3moe', tmp.dir);
    const r = runCli(['inspect', '--json', dir]);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { architecture: string; ggufArchitecture: string; outType: string; tokenizer: { kind: string; pre: string; tokens: number }; tensors: unknown[] };
    const m = manifest('qwen3moe', 'auto');
    const value = (key: string): unknown => m.kv.find((k) => k.key === key)!.value;
    expect(j).toMatchObject({ architecture: 'Qwen3MoeForCausalLM', ggufArchitecture: value('general.architecture'), outType: 'bf16' });
    expect(j.tokenizer).toEqual({ kind: 'bpe', pre: value('tokenizer.ggml.pre'), tokens: (value('tokenizer.ggml.tokens') as { length: number }).length });
    expect(j.tensors).toHaveLength(45);
  });
  it('Qwen3-MoE with its experts stored pre-merged (gate_up_proj, down_proj) converts to the same file as per-expert tensors', async () => {
    const dir = hfFixture('qwen3moe', tmp.dir);
    // The same folder name: the converter derives general.name and friends from it.
    const merged = join(tmp.dir, 'merged', 'Qwen3MoE-4E-2L');
    mkdirSync(merged, { recursive: true });
    for (const f of readdirSync(dir)) if (!f.endsWith('.safetensors') && !f.endsWith('.gguf')) writeFileSync(join(merged, f), readFileSync(join(dir, f)));
    const st = await readSafetensors(join(dir, 'model.safetensors'));
    const bytes = readFileSync(join(dir, 'model.safetensors'));
    const data = (name: string): Uint8Array => { const t = st.tensors.find((x) => x.name === name)!; return bytes.subarray(t.dataStart, t.dataStart + t.nbytes); };
    const shape = (name: string): number[] => st.tensors.find((x) => x.name === name)!.shape;
    const out: StTensor[] = [];
    const experts = 4;
    for (const t of st.tensors) {
      const m = /^(model\.layers\.\d+\.mlp\.experts)\.(\d+)\.(down|gate|up)_proj\.weight$/.exec(t.name);
      if (!m) { out.push({ name: t.name, dtype: t.dtype, shape: t.shape, data: data(t.name) }); continue; }
      if (m[2] !== '0' || m[3] !== 'down') continue;
      const e = (x: number, w: string): Uint8Array => data(`${m[1]}.${x}.${w}_proj.weight`);
      const ids = Array.from({ length: experts }, (_, x) => x);
      out.push({ name: `${m[1]}.down_proj`, dtype: 'BF16', shape: [experts, ...shape(`${m[1]}.0.down_proj.weight`)], data: Buffer.concat(ids.map((x) => e(x, 'down'))) });
      const [ff, embd] = shape(`${m[1]}.0.gate_proj.weight`) as [number, number];
      out.push({ name: `${m[1]}.gate_up_proj`, dtype: 'BF16', shape: [experts, 2 * ff, embd], data: Buffer.concat(ids.flatMap((x) => [e(x, 'gate'), e(x, 'up')])) });
    }
    writeSafetensors(join(merged, 'model.safetensors'), out);
    const a = join(tmp.dir, 'moe-per-expert.gguf'), b = join(tmp.dir, 'moe-merged.gguf');
    await convert({ input: dir, output: a, force: true });
    await convert({ input: merged, output: b, force: true });
    expect(sha256(readFileSync(b))).toBe(sha256(readFileSync(a)));
    // And read in one pass by quantize, the halves of gate_up_proj come out as the separate tensors do.
    const qa = join(tmp.dir, 'moe-per-expert-q4.gguf'), qb = join(tmp.dir, 'moe-merged-q4.gguf');
    await quantize({ input: dir, output: qa, preset: 'Q4_K_M', force: true });
    await quantize({ input: merged, output: qb, preset: 'Q4_K_M', force: true });
    expect(sha256(readFileSync(qb))).toBe(sha256(readFileSync(qa)));
  });
  it('the CLI converts, with a --json summary', () => {
    const dir = hfFixture('llama-spm', tmp.dir);
    const out = join(tmp.dir, 'cli.gguf');
    const r = runCli(['convert', '--json', dir, out, '--outtype', 'q8_0']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { output: string; outType: string; architecture: string; tensors: Array<{ name: string; type: string }> };
    expect(s).toMatchObject({ output: out, outType: 'q8_0', architecture: 'LlamaForCausalLM' });
    expect(s.tensors.find((t) => t.name === 'blk.0.attn_q.weight')?.type).toBe('q8_0');
    expect(sha256(readFileSync(out))).toBe(manifest('llama-spm', 'q8_0').sha256);
  });
});

const runtime = loadLlamaRuntime();
const realFolder = realModel('tinystories-656k-safetensors');
const realF32 = realModel('tinystories-656k-f32.gguf');

describe.runIf(runtime && realFolder && realF32)('a real checkpoint (TinyStories-656K, tied, saved as lm_head only)', () => {
  it('converts to F32, loads in llama.cpp and generates what the F32 GGUF of the same model generates', async () => {
    const out = join(tmp.dir, 'tinystories-f32.gguf');
    await convert({ input: realFolder!, output: out, outType: 'f32' });
    const prompt = 'Once upon a time';
    expect(runtime!.generate(out, prompt, 12).text).toBe(runtime!.generate(realF32!, prompt, 12).text);
  });
  it('converts with the default outtype (F16) to a model llama.cpp runs', async () => {
    const out = join(tmp.dir, 'tinystories-auto.gguf');
    const s = await convert({ input: realFolder!, output: out });
    expect(s.outType).toBe('f16');
    const r = runtime!.generate(out, 'Once upon a time', 8);
    expect(r.firstLogits.every(Number.isFinite)).toBe(true);
    expect(r.text.length).toBeGreaterThan(0);
  });
});

/** A Llama-shaped folder with tiny weights and a 4-piece tokenizer.model; `edit` changes the config. */
function folder(name: string, edit: (config: Record<string, unknown>) => void = () => undefined, weights = true): string {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const config: Record<string, unknown> = {
    architectures: ['LlamaForCausalLM'], hidden_size: 8, intermediate_size: 16, num_attention_heads: 2, num_key_value_heads: 2,
    num_hidden_layers: 1, vocab_size: 4, max_position_embeddings: 32, rms_norm_eps: 1e-5,
  };
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'tokenizer.model'), sentencePieceModel([['<unk>', 0, 2], ['<s>', 0, 3], ['</s>', 0, 3], ['\u2581a', -1, 1]]));
  if (weights) writeSafetensors(join(dir, 'model.safetensors'), [
    { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [4, 8], data: f32Bytes(32) },
    { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F32', shape: [8, 8], data: f32Bytes(64, 2) },
    { name: 'model.norm.weight', dtype: 'F32', shape: [8], data: f32Bytes(8, 3) },
  ]);
  return dir;
}

describe('folders the converter cannot take: a clear error and nothing written', () => {
  const refused = async (dir: string, code: string, message?: RegExp): Promise<void> => {
    const before = readdirSync(dir).sort();
    const err = await convert({ input: dir, output: join(dir, 'out.gguf') }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code });
    if (message) expect((err as Error).message).toMatch(message);
    expect(readdirSync(dir).sort()).toEqual(before);
  };
  it('an architecture we do not convert names the supported ones', async () => {
    const dir = folder('gpt2', (c) => { c['architectures'] = ['GPT2LMHeadModel']; });
    const err = await convert({ input: dir, output: join(dir, 'o.gguf') }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_UNSUPPORTED_ARCH', message: expect.stringContaining('GPT2LMHeadModel'), hint: expect.stringContaining('LlamaForCausalLM') });
  });
  it('no config.json', async () => {
    const dir = folder('no-config');
    writeFileSync(join(dir, 'config.json'), '');
    await refused(dir, 'E_HF_CONFIG');
  });
  it('a config without the keys the architecture needs', async () => {
    await refused(folder('no-heads', (c) => { delete c['num_attention_heads']; }), 'E_HF_CONFIG', /num_attention_heads/);
  });
  it('weights already quantized (quantization_config)', async () => {
    await refused(folder('gptq', (c) => { c['quantization_config'] = { quant_method: 'gptq', bits: 4 }; }), 'E_QUANTIZED_WEIGHTS', /gptq/);
  });
  it('weights of an integer dtype (int8 checkpoints)', async () => {
    const dir = folder('int8');
    writeSafetensors(join(dir, 'model.safetensors'), [{ name: 'model.embed_tokens.weight', dtype: 'I8', shape: [4, 8], data: new Uint8Array(32) }]);
    await refused(dir, 'E_QUANTIZED_WEIGHTS', /I8/);
  });
  it('a shard listed in the index but missing', async () => {
    const dir = folder('missing-shard');
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: {
      'model.embed_tokens.weight': 'model.safetensors', 'model.norm.weight': 'model-00002-of-00002.safetensors',
    } }));
    await refused(dir, 'E_HF_SHARD', /model-00002-of-00002\.safetensors/);
  });
  it('an index that does not match the shards', async () => {
    const dir = folder('index-mismatch');
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'model.embed_tokens.weight': 'model.safetensors' } }));
    await refused(dir, 'E_HF_SHARD', /not listed/);
  });
  it('no safetensors weights at all', async () => {
    const dir = folder('pytorch-bin', undefined, false);
    writeFileSync(join(dir, 'pytorch_model.bin'), 'x');
    await refused(dir, 'E_HF_WEIGHTS', /pytorch_model\.bin/);
  });
  it('a small synthetic folder converts (the base of the cases above)', async () => {
    const dir = folder('valid');
    const s = await convert({ input: dir, output: join(dir, 'out.gguf') });
    expect(s.tensors.map((t) => [t.name, t.type])).toEqual([['token_embd.weight', 'f16'], ['blk.0.attn_q.weight', 'f16'], ['output_norm.weight', 'f32']]);
  });
  it('the bytes do not depend on the chunk size (chunks written while the next ones are permuted and converted)', async () => {
    const dir = folder('chunked', (c) => { c['hidden_size'] = 512; c['num_attention_heads'] = 4; c['num_key_value_heads'] = 4; }, false);
    writeSafetensors(join(dir, 'model.safetensors'), [
      { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [4, 512], data: f32Bytes(4 * 512) },
      { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F32', shape: [512, 512], data: f32Bytes(512 * 512, 2) },
      { name: 'model.layers.0.self_attn.k_proj.weight', dtype: 'F32', shape: [512, 512], data: f32Bytes(512 * 512, 4) },
      { name: 'model.norm.weight', dtype: 'F32', shape: [512], data: f32Bytes(512, 3) },
    ]);
    const whole = join(dir, 'whole.gguf'), chunked = join(dir, 'chunked.gguf');
    await convert({ input: dir, output: whole, outType: 'f16' });
    await convert({ input: dir, output: chunked, outType: 'f16', chunkBytes: 64 << 10 });
    expect(readFileSync(chunked).equals(readFileSync(whole))).toBe(true);
  });
  it('buffers the converter drops (rotary inv_freq, here F64) neither stop the conversion nor reach the file', async () => {
    const dir = folder('inv-freq');
    writeSafetensors(join(dir, 'model.safetensors'), [
      { name: 'model.embed_tokens.weight', dtype: 'F32', shape: [4, 8], data: f32Bytes(32) },
      { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'F64', shape: [2], data: new Uint8Array(16) },
      { name: 'model.norm.weight', dtype: 'F32', shape: [8], data: f32Bytes(8, 3) },
    ]);
    const s = await convert({ input: dir, output: join(dir, 'out.gguf') });
    expect(s.tensors.map((t) => t.name)).toEqual(['token_embd.weight', 'output_norm.weight']);
  });
  it('linear rope scaling gives the converter\'s rope.scaling keys (TextModel.set_gguf_parameters)', async () => {
    const dir = folder('rope-linear', (c) => { c['rope_scaling'] = { type: 'linear', factor: 4.0 }; });
    const out = join(dir, 'out.gguf');
    await convert({ input: dir, output: out });
    const kvs = (await readGguf(out)).kvs;
    expect(kvs.find((k) => k.key === 'llama.rope.scaling.type')?.value).toBe('linear');
    expect(kvs.find((k) => k.key === 'llama.rope.scaling.factor')?.value).toBe(4);
  });
  it('an aborted signal writes nothing', async () => {
    const dir = folder('aborted');
    const err = await convert({ input: dir, output: join(dir, 'o.gguf'), signal: AbortSignal.abort() }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_ABORTED' });
    expect(readdirSync(dir).filter((f) => f.includes('o.gguf'))).toEqual([]);
  });
});
