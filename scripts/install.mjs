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
    console.error('quant-native: the source build failed. Install a C/C++ compiler and CMake >= 3.15, then run `npm rebuild quant-native`.');
    process.exit(r.status ?? 1);
  }
}
