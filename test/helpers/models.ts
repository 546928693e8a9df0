/** Where the shared real models live (QN_MODELS_DIR, set by .ci/run), and temp-dir helpers. */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MODELS_DIR = process.env.QN_MODELS_DIR && existsSync(process.env.QN_MODELS_DIR) ? process.env.QN_MODELS_DIR : undefined;

if (!MODELS_DIR) {
  console.warn('\n*** QN_MODELS_DIR is not set (or missing): tests on the real models in ../shared/models are NOT run ***\n');
}

export function realModel(name: string): string | undefined {
  if (!MODELS_DIR) return undefined;
  const p = join(MODELS_DIR, name);
  return existsSync(p) ? p : undefined;
}

export function tempDir(prefix = 'qn-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
