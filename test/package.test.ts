/** The published shape: `npm run prebuild` then `npm pack`; the tarball installed with scripts
 * disabled and no build/ directory must load the prebuilt addon. */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/native.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-pack-');
afterAll(() => tmp.cleanup());

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

describe('packaging', () => {
  it('an installed tarball runs from its prebuild', () => {
    execFileSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'prebuild.mjs')], { cwd: PACKAGE_ROOT, stdio: 'pipe' });
    const prebuilds = join(PACKAGE_ROOT, 'prebuilds', `${process.platform}-${process.arch}`);
    expect(readdirSync(prebuilds).some((f) => f.endsWith('.node') && f.includes('.napi'))).toBe(true);

    const packed = execFileSync(npm, ['pack', '--json', '--pack-destination', tmp.dir], { cwd: PACKAGE_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const info = JSON.parse(packed) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const files = info[0]!.files.map((f) => f.path);
    expect(files.some((f) => f.startsWith('prebuilds/'))).toBe(true);
    expect(files).toContain('dist/index.js');
    expect(files).toContain('dist/index.d.ts');
    expect(files.some((f) => f.startsWith('build/'))).toBe(false);
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('native/test/'))).toBe(false);

    const app = join(tmp.dir, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    execFileSync(npm, ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(tmp.dir, info[0]!.filename)], { cwd: app, stdio: 'pipe' });
    expect(existsSync(join(app, 'node_modules', 'quant-native', 'build'))).toBe(false);

    const version = execFileSync(join(app, 'node_modules', '.bin', 'quant-native'), ['--version'], { cwd: app, encoding: 'utf8' });
    expect(version).toMatch(/quant-native \d+\.\d+\.\d+/);
    expect(version).toContain(join('node_modules', 'quant-native', 'prebuilds', `${process.platform}-${process.arch}`));

    // The library entry point works from the installed package too (ESM, typed exports).
    writeFileSync(join(app, 'check.mjs'), "import { listPresets } from 'quant-native';\nconsole.log(listPresets().length);\n");
    expect(execFileSync(process.execPath, ['check.mjs'], { cwd: app, encoding: 'utf8' }).trim()).toBe('39');
  }, 300_000);
});
