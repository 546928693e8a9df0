/** The hidden temporary files outputs are written to before the rename, and the removal of those
 * that runs killed outright (SIGKILL, the OOM killer, a power cut) left behind. */
import { randomBytes } from 'node:crypto';
import { readdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const PARTIAL = /^\..+\.(\d+)-[0-9a-f]{8}\.partial$/;

/** A file that a live run of another machine or container (whose pids we cannot see) is still writing
 * was modified within this time: it is left alone even when its pid is not running here. */
export const STALE_AFTER_MS = 60_000;

/** `.<name>.<pid>-<random>.partial` beside the final file: same file system, so the rename is atomic. */
export function partialPath(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.${process.pid}-${randomBytes(4).toString('hex')}.partial`);
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists, owned by someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface StalePartials {
  /** Removed: their run is gone. */
  removed: string[];
  /** Left of a run that is not running here but wrote to it recently. */
  recent: string[];
}

/** Removes our temporary files in `folder` whose writing process is gone. */
export async function removeStalePartials(folder: string, now = Date.now()): Promise<StalePartials> {
  const result: StalePartials = { removed: [], recent: [] };
  const names = await readdir(folder).catch(() => [] as string[]);
  for (const name of names) {
    const m = PARTIAL.exec(name);
    if (!m || running(Number(m[1]))) continue;
    const path = join(folder, name);
    const s = await stat(path).catch(() => undefined);
    if (!s?.isFile()) continue;
    if (now - s.mtimeMs < STALE_AFTER_MS) {
      result.recent.push(path);
    } else if (await unlink(path).then(() => true, () => false)) {
      result.removed.push(path);
    }
  }
  return result;
}

/** The summary's words for what was found. */
export function stalePartialWarnings(s: StalePartials): string[] {
  const out: string[] = [];
  if (s.removed.length > 0) out.push(`removed ${s.removed.length} temporary file(s) left by an interrupted run: ${s.removed.join(', ')}`);
  if (s.recent.length > 0) {
    out.push(`${s.recent.join(', ')} look(s) left by an interrupted run but changed in the last minute (another machine's run?); delete it yourself if no run is writing there`);
  }
  return out;
}
