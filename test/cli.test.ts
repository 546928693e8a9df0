/** The command line as a user meets it: help, versions, exit codes, JSON shapes, llama-quantize syntax. */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticModel } from '../src/synthetic.js';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-cli-');
const model = join(tmp.dir, 'model-f16.gguf');
beforeAll(async () => {
  await writeSyntheticModel(model, { layers: 2, embd: 256, ff: 512, heads: 8, kvHeads: 2, vocab: 300 });
});
afterAll(() => tmp.cleanup());

describe('help and version', () => {
  it('--help lists the commands with examples', () => {
    const r = runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['quantize', 'inspect', 'presets', 'dequantize', 'compare', 'demo']) expect(r.stdout).toContain(c);
    expect(r.stdout).toContain('Examples:');
  });
  it('each command has help with examples', () => {
    for (const c of ['quantize', 'inspect', 'dequantize', 'presets', 'compare', 'demo']) {
      const r = runCli([c, '--help']);
      expect(r.code, c).toBe(0);
      expect(r.stdout, c).toContain('Example');
    }
  });
  it('--version prints the package version, the Node-API version and the SIMD path', () => {
    const r = runCli(['--version']);
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`quant-native ${pkg.version}`);
    expect(r.stdout).toMatch(/Node-API 8/);
    expect(r.stdout).toMatch(/simd: \w+/);
  });
});

describe('usage errors exit 2', () => {
  it('an unknown option suggests the nearest one', () => {
    const r = runCli(['quantize', '--dry-rn', model, 'Q4_K_M']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--dry-run');
  });
  it('a missing type', () => {
    const r = runCli(['quantize', model]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs an input file and a type/);
  });
  it('an unknown type', () => {
    const r = runCli(['quantize', model, join(tmp.dir, 'o.gguf'), 'Q9_Z']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown type "Q9_Z"/);
  });
  it('malformed --override-kv and --tensor-type', () => {
    expect(runCli(['quantize', '--override-kv', 'a=blob:1', model, 'Q8_0']).code).toBe(2);
    expect(runCli(['quantize', '--tensor-type', 'attn_v', model, 'Q8_0']).code).toBe(2);
    expect(runCli(['quantize', '--include-weights', 'a', '--exclude-weights', 'b', model, 'Q8_0']).code).toBe(2);
  });
});

describe('quantize', () => {
  it('--dry-run prints the plan and writes nothing', () => {
    const before = readdirSync(tmp.dir).length;
    const r = runCli(['quantize', '--dry-run', model, join(tmp.dir, 'never.gguf'), 'Q4_K_M']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/blk\.1\.attn_v\.weight\s+256x64\s+f16\s+q6_K\s+mixture rule/);
    expect(r.stdout).toMatch(/quant size: .* bpw/);
    expect(r.stdout).toContain('dry run: nothing was written');
    expect(readdirSync(tmp.dir).length).toBe(before);
  });
  it('the bare llama-quantize form writes the default output name', () => {
    const r = runCli([model, 'q8_0', '1', '--no-progress']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(tmp.dir, 'ggml-model-Q8_0.gguf'))).toBe(true);
  });
  it('--json prints one summary object; an existing output is refused without --force', () => {
    const out = join(tmp.dir, 'q4.gguf');
    const r = runCli(['quantize', '--json', model, out, 'Q4_K_M']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { preset: string; outputs: string[]; tensors: unknown[]; bitsPerWeightOut: number };
    expect(s.preset).toBe('Q4_K_M');
    expect(s.outputs).toEqual([out]);
    expect(s.bitsPerWeightOut).toBeGreaterThan(4);
    const again = runCli(['quantize', '--json', model, out, 'Q4_K_M']);
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ error: { code: 'E_OUTPUT_EXISTS' } });
    expect(again.stderr).toMatch(/hint: pass --force/);
    expect(runCli(['quantize', '--force', '--no-progress', model, out, 'Q4_K_M']).code).toBe(0);
  });
  it('--json --progress prints JSON lines of progress ending at fraction 1', () => {
    const r = runCli(['quantize', '--json', '--progress', '--force', model, join(tmp.dir, 'p.gguf'), 'Q5_K_M']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event?: string; fraction?: number });
    const progress = lines.filter((l) => l.event === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.fraction).toBe(1);
    expect(lines.at(-1)!.event).toBeUndefined();
  });
  it('plain progress lines when stderr is not a terminal', () => {
    const r = runCli(['quantize', '--force', model, join(tmp.dir, 'p2.gguf'), 'Q6_K']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^progress 100(\.0)?% tensor \d+\/\d+/m);
  });
  it('refuses to overwrite the input', () => {
    const r = runCli(['quantize', '--force', model, model, 'Q8_0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is the input file/);
  });
  it('a broken input is one line and a hint, exit 1', () => {
    const bad = join(tmp.dir, 'bad.gguf');
    writeFileSync(bad, 'GGUF\x03\x00\x00\x00');
    const r = runCli(['quantize', bad, join(tmp.dir, 'x.gguf'), 'Q8_0']);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toMatch(/^quant-native: error: .*file ends inside the tensor count/);
  });
});

describe('inspect and presets', () => {
  it('inspect --json has the documented shape', () => {
    const r = runCli(['inspect', '--json', model]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(j).sort()).toEqual(['architecture', 'bitsPerWeight', 'fileBytes', 'fileType', 'fileTypeName', 'files', 'metadata', 'name', 'parameters', 'path', 'tensorBytes', 'tensors', 'version'].sort());
    const tokens = (j.metadata as Array<{ key: string; value: { length: number } }>).find((m) => m.key === 'tokenizer.ggml.tokens')!;
    expect(tokens.value.length).toBe(300);
    expect((j.tensors as Array<Record<string, unknown>>)[0]).toEqual({ name: 'token_embd.weight', type: 'f16', shape: [256, 300], bytes: 256 * 300 * 2, offset: 0, file: 0 });
  });
  it('inspect exits 1 with one line on a malformed file', () => {
    const bad = join(tmp.dir, 'bad2.gguf');
    writeFileSync(bad, 'not a gguf file at all');
    const r = runCli(['inspect', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^quant-native: error: .*not a GGUF file/);
  });
  it('presets --json lists every llama-quantize preset with its type and bpw', () => {
    const r = runCli(['presets', '--json']);
    const list = JSON.parse(r.stdout) as Array<{ name: string; defaultType: string; bitsPerWeight: number; supported: boolean }>;
    expect(list.length).toBe(39);
    expect(list.find((p) => p.name === 'Q4_K_M')).toMatchObject({ defaultType: 'q4_K', bitsPerWeight: 4.5, supported: true });
  });
});

describe('dequantize', () => {
  it('writes a quantized model back as F16, readable and of the right types', () => {
    const q8 = join(tmp.dir, 'dq-q8.gguf');
    expect(runCli(['quantize', '--no-progress', model, q8, 'Q8_0']).code).toBe(0);
    const out = join(tmp.dir, 'dq-f16.gguf');
    const r = runCli(['dequantize', '--json', q8, out, '--type', 'f16']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { tensors: Array<{ name: string; type: string; sourceType: string }> };
    expect(s.tensors.find((t) => t.name === 'blk.0.ffn_up.weight')).toMatchObject({ sourceType: 'q8_0', type: 'f16' });
  });
});
