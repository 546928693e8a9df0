// Install step: use a prebuilt addon that matches this platform, or build from source with cmake-js.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function prebuildLoads() {
  try {
    const path = require('node-gyp-build').resolve(root);
    require(path);
    return path;
  } catch {
    return null;
  }
}

const found = process.env.QUANT_NATIVE_BUILD_FROM_SOURCE ? null : prebuildLoads();
if (found) {
  console.log(`quant-native: using ${found}`);
} else {
  console.log('quant-native: no matching prebuilt addon, building from source (needs a C/C++ compiler and CMake)');
  const cmakeJs = join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--log-level', 'warn'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`quant-native: the source build failed. ${buildFailureAdvice()}`);
    process.exit(r.status ?? 1);
  }
}

/** Says which build tool is missing, or, when none is, that the output above holds the reason. */
function buildFailureAdvice() {
  const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore', shell: process.platform === 'win32' }).status === 0;
  const missing = [];
  if (!has('cmake', ['--version'])) missing.push('CMake >= 3.15');
  if (process.platform !== 'win32' && !has(process.env.CXX ?? 'c++', ['--version']) && !has('g++', ['--version']) && !has('clang++', ['--version'])) {
    missing.push('a C/C++ compiler');
  }
  if (missing.length > 0) return `Missing here: ${missing.join(' and ')}. Install ${missing.length > 1 ? 'them' : 'it'}, then run \`npm rebuild quant-native\`.`;
  const forced = process.env.QUANT_NATIVE_BUILD_FROM_SOURCE ? ' Unset QUANT_NATIVE_BUILD_FROM_SOURCE to use the prebuilt addon where one exists.' : '';
  return `CMake and a compiler were found, so the reason is in the build output above; please report it with that output.${forced}`;
}
