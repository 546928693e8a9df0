/** The published shape, installed as users install it: `npm run prebuild` then `npm pack`. The tarball
 * installed with scripts disabled must load its prebuild, from ESM and from CommonJS, with types for
 * both; the same tarball without prebuilds must build the addon from source on install. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/native.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-pack-');
afterAll(() => tmp.cleanup());

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tsc = join(PACKAGE_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface Packed { tarball: string; files: string[] }
let packed: Packed;

beforeAll(() => {
  execFileSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'prebuild.mjs')], { cwd: PACKAGE_ROOT, stdio: 'pipe' });
  const out = execFileSync(npm, ['pack', '--json', '--pack-destination', tmp.dir], { cwd: PACKAGE_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const info = JSON.parse(out) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packed = { tarball: join(tmp.dir, info[0]!.filename), files: info[0]!.files.map((f) => f.path) };
}, 300_000);

/** An empty project with the tarball installed; `scripts: false` installs as --ignore-scripts. */
function appWith(tarball: string, name: string, scripts: boolean): string {
  const app = join(tmp.dir, name);
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  const flags = ['install', '--no-audit', '--no-fund', '--prefer-offline', ...(scripts ? ['--foreground-scripts'] : ['--ignore-scripts'])];
  execFileSync(npm, [...flags, tarball], { cwd: app, stdio: 'pipe', env: { ...process.env, QUANT_NATIVE_BUILD_FROM_SOURCE: '' } });
  return app;
}

const run = (app: string, file: string): string => execFileSync(process.execPath, [file], { cwd: app, encoding: 'utf8' }).trim();

describe('packaging', () => {
  it('the tarball holds the build outputs and the prebuild, not the tests', () => {
    expect(packed.files.some((f) => f.startsWith('prebuilds/'))).toBe(true);
    for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/index.cjs', 'dist/cjs/index.d.ts', 'dist/cjs/package.json', 'CMakeLists.txt']) expect(packed.files).toContain(f);
    // The entry points are bundles; tsc's modules stay out of the tarball.
    expect(packed.files.filter((f) => /^dist\/.*\.c?js$/.test(f)).sort()).toEqual(['dist/cli.js', 'dist/index.cjs', 'dist/index.js']);
    expect(packed.files.some((f) => f.startsWith('build/'))).toBe(false);
    expect(packed.files.some((f) => f.startsWith('test/') || f.startsWith('native/test/'))).toBe(false);
  });

  it('an installed tarball runs from its prebuild, from ESM and CommonJS, typed for both', () => {
    const app = appWith(packed.tarball, 'app', false);
    expect(existsSync(join(app, 'node_modules', 'quant-native', 'build'))).toBe(false);

    const version = execFileSync(join(app, 'node_modules', '.bin', 'quant-native'), ['--version'], { cwd: app, encoding: 'utf8' });
    expect(version).toMatch(/quant-native \d+\.\d+\.\d+/);
    expect(version).toContain(join('node_modules', 'quant-native', 'prebuilds', `${process.platform}-${process.arch}`));

    writeFileSync(join(app, 'check.mjs'), "import { listPresets } from 'quant-native';\nconsole.log(listPresets().length);\n");
    expect(run(app, 'check.mjs')).toBe('39');
    // CommonJS, as an Electron main process or an older tool loads it; the addon works from there too.
    writeFileSync(join(app, 'check.cjs'), [
      "const { listPresets, quantizeRows, QuantNativeError } = require('quant-native');",
      'quantizeRows("q8_0", new Float32Array(64).fill(1), 32).then((b) => console.log(listPresets().length, b.length, typeof QuantNativeError));',
    ].join('\n'));
    expect(run(app, 'check.cjs')).toBe('39 68 function');

    // Types resolve for both kinds of consumer (node16 resolution picks the import or require types).
    writeFileSync(join(app, 'esm.mts'), "import { quantize, type QuantizeOptions } from 'quant-native';\nconst o: QuantizeOptions = { input: 'a.gguf', preset: 'Q4_K_M' };\nvoid quantize(o);\n");
    writeFileSync(join(app, 'cjs.cts'), "import qn = require('quant-native');\nconst o: qn.QuantizeOptions = { input: 'a.gguf', preset: 'Q8_0' };\nvoid qn.quantize(o);\n");
    execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node',
      '--typeRoots', join(PACKAGE_ROOT, 'node_modules', '@types'), 'esm.mts', 'cjs.cts'], { cwd: app, stdio: 'pipe' });
  }, 300_000);

  it('without a matching prebuild, install builds the addon from source and the CLI and library work', () => {
    // The tarball as npm would fetch it for a platform we publish no binary for.
    const unpacked = join(tmp.dir, 'unpacked');
    mkdirSync(unpacked);
    execFileSync('tar', ['xzf', packed.tarball, '-C', unpacked]);
    execFileSync('rm', ['-rf', join(unpacked, 'package', 'prebuilds')]);
    const bare = join(tmp.dir, 'no-prebuilds.tgz');
    execFileSync('tar', ['czf', bare, '-C', unpacked, 'package']);

    const app = appWith(bare, 'app-source', true);
    const pkg = join(app, 'node_modules', 'quant-native');
    expect(existsSync(join(pkg, 'prebuilds'))).toBe(false);
    expect(readdirSync(join(pkg, 'build', 'Release')).some((f) => f.endsWith('.node'))).toBe(true);

    const version = execFileSync(join(app, 'node_modules', '.bin', 'quant-native'), ['--version'], { cwd: app, encoding: 'utf8' });
    expect(version).toContain(join('node_modules', 'quant-native', 'build', 'Release'));
    writeFileSync(join(app, 'check.cjs'), "require('quant-native').quantizeRows('q4_K', new Float32Array(256).fill(0.5), 256).then((b) => console.log(b.length));\n");
    expect(run(app, 'check.cjs')).toBe('144');
  }, 600_000);
});
