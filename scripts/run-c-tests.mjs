// Runs the C kernel tests: natively (every SIMD path against the scalar reference), and, when the
// cross toolchain is installed, as an aarch64 build under qemu-user (the NEON path, and a check that
// the scalar reference gives the same bytes on arm64 as on x86-64).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const exe = ['build/qn_kernel_tests', 'build/Release/qn_kernel_tests', 'build/Release/qn_kernel_tests.exe'].map((p) => join(root, p)).find(existsSync);
if (!exe) {
  console.error('C kernel tests: build/qn_kernel_tests is missing; run `npm run build:native` first');
  process.exit(1);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  const digest = /scalar digest: ([0-9a-f]+)/.exec(r.stdout)?.[1];
  return { ok: r.status === 0, digest };
}

console.log(`== C kernel tests (${process.arch}) ==`);
const native = run(exe, []);
let ok = native.ok;

const cross = 'aarch64-linux-gnu-gcc';
const have = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
if (process.arch === 'x64' && process.platform === 'linux') {
  if (have(cross) && have('qemu-aarch64')) {
    const out = join(root, 'build', 'aarch64');
    mkdirSync(out, { recursive: true });
    const sources = readdirSync(join(root, 'native')).filter((f) => f.endsWith('.c')).map((f) => join(root, 'native', f));
    const bin = join(out, 'qn_kernel_tests');
    execFileSync(cross, ['-O3', '-ffp-contract=off', '-fno-math-errno', '-std=gnu11', '-o', bin, ...sources, join(root, 'native/test/test_kernels.c'), '-lm'], { stdio: 'inherit' });
    console.log('== C kernel tests (arm64 under qemu-user) ==');
    const arm = run('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', bin]);
    ok &&= arm.ok;
    if (arm.digest !== native.digest) {
      console.error(`FAIL: the scalar reference differs between x86-64 (${native.digest}) and arm64 (${arm.digest})`);
      ok = false;
    } else {
      console.log(`scalar output identical on x86-64 and arm64 (digest ${arm.digest})`);
    }
  } else {
    console.warn('*** NEON / arm64 kernel tests NOT run: install gcc-aarch64-linux-gnu and qemu-user (.ci/run does) ***');
  }
}
process.exit(ok ? 0 : 1);
