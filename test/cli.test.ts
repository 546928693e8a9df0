/** The command line as a user meets it: help, versions, exit codes, JSON shapes, llama-quantize syntax. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticModel } from '../src/synthetic.js';
import { makeImatrixEntries, writeGgufImatrix } from './helpers/fixtures.js';
import { CLI, runCli } from './helpers/cli.js';
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

describe('output to a reader that stops early', () => {
  it('`--help | true` and `presets | true` end quietly, without an EPIPE stack trace', () => {
    for (const args of ['--help', 'presets']) {
      // `true` exits without reading, so the pipe is closed before the CLI writes.
      const r = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" ${args} | true`], { encoding: 'utf8' });
      expect(r.status, args).toBe(0);
      expect(r.stderr, args).not.toMatch(/EPIPE|Unhandled/);
    }
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

describe('typos get the nearest name', () => {
  it('a mistyped type in the bare form (in.gguf Q4KM) suggests Q4_K_M, not a missing type', () => {
    const r = runCli([model, 'Q4KM']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown type "Q4KM": did you mean Q4_K_M\?/);
  });
  it('a mistyped command (quantise) suggests quantize', () => {
    const r = runCli(['quantise', model, join(tmp.dir, 'never.gguf'), 'Q4_K_M']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command "quantise": did you mean quantize\?/);
    expect(existsSync(join(tmp.dir, 'never.gguf'))).toBe(false);
  });
  it('a type one letter off (Q4_K_MM) suggests Q4_K_M', () => {
    const r = runCli(['quantize', model, join(tmp.dir, 'never.gguf'), 'Q4_K_MM']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown type "Q4_K_MM": did you mean Q4_K_M\?/);
  });
  it('an output path with the type left out says so', () => {
    const r = runCli(['quantize', model, join(tmp.dir, 'out.gguf')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing the type after the output path .*out\.gguf, e\.g\./);
  });
});

describe('--json prints one error object on stdout for every failure', () => {
  const jsonError = (stdout: string): { code: string; message: string } => {
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    return (JSON.parse(lines[0]!) as { error: { code: string; message: string } }).error;
  };
  it('an unknown option (a commander usage error)', () => {
    const r = runCli(['quantize', '--json', '--dry-rn', model, 'Q4_K_M']);
    expect(r.code).toBe(2);
    expect(jsonError(r.stdout)).toMatchObject({ code: 'E_USAGE', message: expect.stringContaining('--dry-rn') });
  });
  it('a usage error of ours (an unknown type)', () => {
    const r = runCli(['quantize', '--json', model, join(tmp.dir, 'never.gguf'), 'Q9_Z']);
    expect(r.code).toBe(2);
    expect(jsonError(r.stdout)).toMatchObject({ code: 'E_USAGE', message: expect.stringContaining('Q9_Z') });
  });
  it('a missing input', () => {
    const r = runCli(['quantize', '--json', join(tmp.dir, 'nope.gguf'), join(tmp.dir, 'never.gguf'), 'Q8_0']);
    expect(r.code).toBe(1);
    expect(jsonError(r.stdout)).toMatchObject({ code: 'E_NOT_FOUND' });
  });
});

describe('inputs a user can get wrong, each with a hint', () => {
  it('a missing input names it and says to check the path', () => {
    const r = runCli(['quantize', join(tmp.dir, 'nope.gguf'), join(tmp.dir, 'never.gguf'), 'Q8_0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: the input .*nope\.gguf does not exist\n {2}hint: check the path/);
  });
  it('a Hugging Face folder is read as a model: a broken one gets the file and the reason, no stack trace', () => {
    const hf = join(tmp.dir, 'hf-model');
    mkdirSync(hf);
    writeFileSync(join(hf, 'config.json'), JSON.stringify({ architectures: ['LlamaForCausalLM'] }));
    writeFileSync(join(hf, 'model.safetensors'), '');
    const r = runCli(['quantize', hf, join(tmp.dir, 'never.gguf'), 'Q8_0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: .*hf-model\/model\.safetensors: 0 bytes, too short for a safetensors header/);
    expect(r.stderr).not.toMatch(/unexpected error|EISDIR|\n\s+at /);
  });
  it('a folder that is no model says what it is', () => {
    const folder = join(tmp.dir, 'just-a-folder');
    mkdirSync(folder);
    const r = runCli(['quantize', folder, join(tmp.dir, 'never.gguf'), 'Q8_0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: the input .*just-a-folder is a folder, not a GGUF file\n {2}hint: pass a \.gguf file/);
  });
  it('a folder of GGUF files as input names the files in it', () => {
    const folder = join(tmp.dir, 'ggufs');
    mkdirSync(folder);
    writeFileSync(join(folder, 'a.gguf'), '');
    const r = runCli(['inspect', folder]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hint: pass one of the GGUF files in it .*a\.gguf/);
  });
  it('a truncated input asks whether the download was complete', () => {
    const cut = join(tmp.dir, 'cut.gguf');
    writeFileSync(cut, readFileSync(model).subarray(0, 20_000));
    const r = runCli(['quantize', cut, join(tmp.dir, 'never.gguf'), 'Q8_0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/hint: .*incomplete download/);
  });
  it('a missing imatrix file names it', () => {
    const r = runCli(['quantize', '--imatrix', join(tmp.dir, 'nope.dat'), model, join(tmp.dir, 'never.gguf'), 'Q4_K_M']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: the importance matrix .*nope\.dat does not exist\n {2}hint: check the path/);
  });
});

describe('outputs a user can get wrong are refused before any work', () => {
  it('a folder as output, even with --force: name a file inside it', () => {
    const folder = join(tmp.dir, 'out-folder');
    mkdirSync(folder);
    const r = runCli(['quantize', '--force', model, folder, 'Q4_K_M']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: the output .*out-folder is a folder\n {2}hint: name a file inside it, e\.g\. .*ggml-model-Q4_K_M\.gguf/);
    expect(r.stderr).not.toMatch(/progress/);
    expect(readdirSync(folder)).toEqual([]);
  });
  it('a missing output folder is named (not the hidden temporary file)', () => {
    const r = runCli(['quantize', model, join(tmp.dir, 'no-such-folder', 'o.gguf'), 'Q8_0']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: the output folder .*no-such-folder does not exist\n {2}hint: create it first/);
    expect(r.stderr).not.toMatch(/partial|progress/);
  });
});

describe('llama-quantize compatibility', () => {
  it('--max-buffer-size is accepted and said to have no effect', () => {
    const r = runCli(['quantize', '--max-buffer-size', '512', '--json', '--force', model, join(tmp.dir, 'mbs.gguf'), 'Q8_0']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { warnings: string[] }).warnings).toContainEqual(expect.stringMatching(/--max-buffer-size has no effect/));
  });
  it('--max-buffer-size with a value llama-quantize refuses is a usage error', () => {
    expect(runCli(['quantize', '--max-buffer-size', '0', model, join(tmp.dir, 'never.gguf'), 'Q8_0']).code).toBe(2);
  });
  it('quantize --help lists the types as llama-quantize\'s usage does', () => {
    const r = runCli(['quantize', '--help']);
    expect(r.stdout).toMatch(/^ {2}15 {2}or {2}Q4_K_M {4}: 4\.58G, \+0\.1754 ppl @ Llama-3-8B$/m);
    expect(r.stdout).toMatch(/^ {10}COPY {6}: only copy tensors, no quantizing$/m);
  });
});

describe('importance matrices in the listings and the summary', () => {
  it('presets says which presets need --imatrix', () => {
    const r = runCli(['presets']);
    expect(r.stdout).toMatch(/IQ2_XXS .*needs --imatrix/);
    expect(r.stdout).not.toMatch(/Q4_K_M .*needs --imatrix/);
  });
  it('the summary and --json say the imatrix was applied, and to how many tensors', async () => {
    const im = join(tmp.dir, 'imatrix.gguf');
    // Importance data for every tensor but one quantized tensor.
    const entries = (await makeImatrixEntries(model, 3)).filter((e) => e.name !== 'blk.0.ffn_up.weight');
    await writeGgufImatrix(im, entries, 4, ['calibration.txt']);
    const out = join(tmp.dir, 'im.gguf');
    const r = runCli(['quantize', '--json', '--force', '--imatrix', im, model, out, 'Q4_K_M']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { imatrix: { file: string; entries: number; appliedTensors: number; quantizedTensors: number }; tensors: Array<{ action: string }> };
    const quantized = s.tensors.filter((t) => t.action === 'quantize').length;
    expect(s.imatrix).toEqual({ file: im, entries: entries.length, appliedTensors: quantized - 1, quantizedTensors: quantized });
    const text = runCli(['quantize', '--force', '--no-progress', '--imatrix', im, model, out, 'Q4_K_M']);
    expect(text.stdout).toContain(`imatrix: ${im} (${entries.length} entries) applied to ${quantized - 1} of ${quantized} quantized tensors`);
  });
});
