/** Checks of the paths a user gives, made before any work, with errors that say what to do next. */
import { constants } from 'node:fs';
import { access, readdir, stat, statfs } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { QuantNativeError } from './errors.js';

const errno = (cause: unknown): string | undefined => (cause as NodeJS.ErrnoException | undefined)?.code;

/** An error reading a file the user named (`what`: "input", "importance matrix", ...). */
export function inputError(cause: unknown, path: string, what: string): QuantNativeError {
  switch (errno(cause)) {
    case 'ENOENT':
      return new QuantNativeError('E_NOT_FOUND', `the ${what} ${path} does not exist`, {
        hint: 'check the path (it is relative to the current folder, or give an absolute one)', cause,
      });
    case 'ENOTDIR':
      return new QuantNativeError('E_NOT_FOUND', `the ${what} ${path} does not exist: a part of its path is a file, not a folder`, { hint: 'check the path', cause });
    case 'EACCES':
    case 'EPERM':
      return new QuantNativeError('E_IO', `no permission to read the ${what} ${path}`, {
        hint: 'check the file\'s permissions (ls -l), or run as a user who can read it', cause,
      });
    case 'EISDIR':
      return new QuantNativeError('E_INPUT_IS_FOLDER', `the ${what} ${path} is a folder, not a file`, { hint: 'pass the file inside it', cause });
    default:
      return new QuantNativeError('E_IO', `cannot read the ${what} ${path}: ${(cause as Error).message}`, { cause });
  }
}

/** What a folder given as a file probably is, and what to pass instead. */
async function folderHint(path: string): Promise<string> {
  const names = await readdir(path).catch(() => [] as string[]);
  if (names.includes('config.json')) {
    return `it is a Hugging Face model folder: \`quant-native convert ${path}\` writes its GGUF, and quantize takes the folder itself`;
  }
  if (names.some((n) => n.endsWith('.safetensors'))) {
    return 'it holds safetensors weights but no config.json: download the whole model repository (config.json, tokenizer files and weights)';
  }
  const gguf = names.filter((n) => n.endsWith('.gguf')).sort();
  if (gguf.length > 0) {
    const shown = gguf.slice(0, 3).map((n) => join(path, n)).join(', ');
    return `pass one of the GGUF files in it (a split model: its -00001-of-N file): ${shown}${gguf.length > 3 ? ', ...' : ''}`;
  }
  return 'pass a .gguf file';
}

/** The error for a folder given where a file (`expected`: "a GGUF file", ...) was: what it seems to be. */
export async function folderError(path: string, what: string, expected = 'a GGUF file'): Promise<QuantNativeError> {
  return new QuantNativeError('E_INPUT_IS_FOLDER', `the ${what} ${path} is a folder, not ${expected}`, { hint: await folderHint(path) });
}

/** The input exists and is a file; a folder gets an error that says what it seems to be. */
export async function checkInputFile(path: string, what: string): Promise<void> {
  let isFolder: boolean;
  try {
    isFolder = (await stat(path)).isDirectory();
  } catch (cause) {
    throw inputError(cause, path, what);
  }
  if (isFolder) throw await folderError(path, what);
}

/** The output can be written: not a folder, in a folder that exists and is writable, and (without
 * `force`) not there yet. `suggestedName` is offered when the path is a folder. */
export async function checkOutputPath(path: string, options: { force: boolean; suggestedName: string }): Promise<void> {
  const abs = resolve(path);
  const existing = await stat(abs).catch(() => undefined);
  if (existing?.isDirectory()) {
    throw new QuantNativeError('E_OUTPUT_IS_FOLDER', `the output ${path} is a folder`, {
      hint: `name a file inside it, e.g. ${join(path, options.suggestedName)}`,
    });
  }
  const folder = dirname(abs);
  const parent = await stat(folder).catch(() => undefined);
  if (!parent) {
    throw new QuantNativeError('E_NOT_FOUND', `the output folder ${folder} does not exist`, {
      hint: `create it first (mkdir -p ${folder}) or choose another output path`,
    });
  }
  if (!parent.isDirectory()) throw new QuantNativeError('E_NOT_FOUND', `the output's folder ${folder} is a file, not a folder`, { hint: 'choose another output path' });
  await access(folder, constants.W_OK).catch((cause: unknown) => {
    throw outputError(cause, folder);
  });
  if (existing && !options.force) {
    throw new QuantNativeError('E_OUTPUT_EXISTS', `${path} already exists`, { hint: 'pass --force (force: true) to overwrite it, or choose another output path' });
  }
}

/** An error writing into `folder`, with what to do about it. */
export function outputError(cause: unknown, folder: string): QuantNativeError {
  switch (errno(cause)) {
    case 'EROFS':
      return new QuantNativeError('E_NOT_WRITABLE', `cannot write to ${folder}: the file system is read-only`, {
        hint: 'write the output to another disk or folder', cause,
      });
    case 'EACCES':
    case 'EPERM':
      return new QuantNativeError('E_NOT_WRITABLE', `no permission to write in ${folder}`, {
        hint: 'choose a folder you can write to, or change its permissions', cause,
      });
    case 'ENOENT':
      return new QuantNativeError('E_NOT_FOUND', `the output folder ${folder} does not exist (any more)`, { hint: 'create it, or choose another output path', cause });
    default:
      return new QuantNativeError('E_IO', `cannot write in ${folder}: ${(cause as Error).message}`, { cause });
  }
}

/** The folder has room for `needed` bytes (when the file system says how much it has). */
export async function checkFreeSpace(folder: string, needed: number): Promise<void> {
  const fs = await statfs(folder).catch(() => undefined);
  if (fs && fs.bavail * fs.bsize < needed) {
    throw new QuantNativeError('E_NO_SPACE', `not enough free space in ${folder}: ${needed} bytes needed, ${fs.bavail * fs.bsize} available`, {
      hint: 'free some disk space or write the output to another disk',
    });
  }
}

/** Whether a path is a Hugging Face model folder (a folder with a config.json) rather than a GGUF file. */
export async function isModelFolder(path: string): Promise<boolean> {
  const s = await stat(path).catch(() => undefined);
  return s?.isDirectory() === true && (await stat(join(path, 'config.json')).then((c) => c.isFile(), () => false));
}
