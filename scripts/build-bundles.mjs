// The published entry points, each tsc's output bundled into one file by esbuild: loading the library's ~25 ES
// modules one by one took 26-37 ms, the bundle 11-14 ms, time every quantization and every CLI command starts with.
//   dist/index.js   import('quant-native'), in place of tsc's entry module
//   dist/cli.js     the CLI (bin/quant-native.js)
//   dist/index.cjs  require('quant-native'), for Node versions and Electron main processes that cannot require ES
//                   modules. Its types are copies of the ESM declarations in dist/cjs/, a folder marked CommonJS, so
//                   TypeScript reads them as the types of a CommonJS module (a .d.cts re-exporting the ESM ones is an
//                   error under node16 resolution).
// Each bundle sits in dist/, as native.js does: native.ts finds the package root and its addon from its own URL.
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const common = {
  bundle: true,
  platform: 'node',
  target: 'node18',
  // Dependencies stay imported from node_modules, as tsc's modules import them.
  packages: 'external',
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning',
};

// Built in memory first: the ESM entry's bundle replaces the file it is built from.
const [esm, cli, cjs] = await Promise.all([
  build({ ...common, entryPoints: [join(dist, 'index.js')], outfile: join(dist, 'index.js'), format: 'esm', write: false }),
  build({ ...common, entryPoints: [join(dist, 'cli', 'main.js')], outfile: join(dist, 'cli.js'), format: 'esm', write: false }),
  build({
    ...common, entryPoints: [join(dist, 'index.js')], outfile: join(dist, 'index.cjs'), format: 'cjs', write: false,
    define: { 'import.meta.url': '__qn_module_url' },
    banner: { js: "const __qn_module_url = require('node:url').pathToFileURL(__filename).href;" },
  }),
]);
for (const result of [esm, cli, cjs]) {
  for (const file of result.outputFiles) writeFileSync(file.path, file.contents);
}

const cjsTypes = join(dist, 'cjs');
rmSync(cjsTypes, { recursive: true, force: true });
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const to = join(cjsTypes, relative(dist, join(entry.parentPath, entry.name)));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(join(entry.parentPath, entry.name), to);
}
writeFileSync(join(cjsTypes, 'package.json'), '{ "type": "commonjs" }\n');
