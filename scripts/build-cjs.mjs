// The CommonJS entry (require('quant-native')): the ESM build bundled into one file by esbuild, for
// Node versions and Electron main processes that cannot require ES modules. Its types are copies of
// the ESM declarations in dist/cjs/, a folder marked CommonJS, so TypeScript reads them as the types
// of a CommonJS module (a .d.cts re-exporting the ESM ones is an error under node16 resolution).
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

await build({
  entryPoints: [join(root, 'dist', 'index.js')],
  outfile: join(root, 'dist', 'index.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node18',
  // Dependencies stay require()d from node_modules, as the ESM build imports them.
  packages: 'external',
  // native.ts finds the package root and its addon from its own URL; in the bundle that is this file,
  // which sits in dist/ as native.js does.
  define: { 'import.meta.url': '__qn_module_url' },
  banner: { js: "const __qn_module_url = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});
const dist = join(root, 'dist');
const cjsTypes = join(dist, 'cjs');
rmSync(cjsTypes, { recursive: true, force: true });
for (const entry of readdirSync(dist, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !entry.name.endsWith('.d.ts')) continue;
  const to = join(cjsTypes, relative(dist, join(entry.parentPath, entry.name)));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(join(entry.parentPath, entry.name), to);
}
writeFileSync(join(cjsTypes, 'package.json'), '{ "type": "commonjs" }\n');
