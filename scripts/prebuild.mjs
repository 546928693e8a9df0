// Builds the addon with cmake-js and places it where node-gyp-build looks for prebuilds:
// prebuilds/<platform>-<arch>/quant-native.node.napi[.glibc|.musl].node (runtime-agnostic Node-API).
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
const args = [cmakeJs, 'compile', '--log-level', 'warn'];
if (process.env.PREBUILD_ARCH) args.push('--arch', process.env.PREBUILD_ARCH);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);

const built = join(root, 'build', 'Release', 'quant_native.node');
if (!existsSync(built)) {
  console.error(`prebuild: ${built} was not produced`);
  process.exit(1);
}
function libcTag() {
  if (process.platform !== 'linux') return '';
  if (process.env.LIBC) return `.${process.env.LIBC}`;
  const musl = existsSync('/etc/alpine-release') || (existsSync('/usr/bin/ldd') && readFileSync('/usr/bin/ldd', 'utf8').includes('musl'));
  return musl ? '.musl' : '.glibc';
}
const arch = process.env.PREBUILD_ARCH ?? process.arch;
const dir = join(root, 'prebuilds', `${process.platform}-${arch}`);
mkdirSync(dir, { recursive: true });
const target = join(dir, `quant-native.node.napi${libcTag()}.node`);
copyFileSync(built, target);
console.log(`prebuild: ${target}`);
