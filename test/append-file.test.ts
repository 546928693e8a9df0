/** Output files written front to back, around the page cache where the file system allows it: the bytes are exactly
 * those appended, whichever way they go out (direct, in place from the caller's memory, or through the page cache). */
import { closeSync, constants, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppendFile, DIRECT_BLOCK, alignedMemory, type AlignedAlloc } from '../src/gguf/append-file.js';
import { GgufFileWriter } from '../src/gguf/writer.js';
import { openModel } from '../src/gguf/model.js';
import { GgmlType } from '../src/ggml-types.js';
import { directIoAlloc, loadNative } from '../src/native.js';
import { tempDir } from './helpers/models.js';

const tmp = tempDir('qn-append-');
afterAll(() => tmp.cleanup());
const native = loadNative();
const aligned: AlignedAlloc = (bytes) => native.alignedBuffer({ bytes, alignment: DIRECT_BLOCK });
/** Memory whose every view is off the block boundary by one byte: the kernel refuses it for O_DIRECT. */
const misaligned: AlignedAlloc = (bytes) => native.alignedBuffer({ bytes: bytes + 1, alignment: DIRECT_BLOCK }).subarray(1);

/** Whether this folder's file system takes O_DIRECT, asked of the kernel directly. */
function directSupported(dir: string): boolean {
  if (constants.O_DIRECT === undefined) return false;
  const probe = join(dir, 'probe');
  try {
    const fd = openSync(probe, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT);
    try {
      writeSync(fd, aligned(DIRECT_BLOCK), 0, DIRECT_BLOCK, 0);
      return true;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  } finally {
    try { unlinkSync(probe); } catch { /* never created */ }
  }
}

/** Bytes no two pieces share (xorshift32). */
function randomBytes(n: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = seed * 2654435761 >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, n);
}

/** Pieces that cross the staging buffers' ends and the block boundaries every way: empty, tiny, one byte either side
 * of a block, larger than a staging buffer; plain memory, and views of aligned memory in and out of phase with
 * their file position. */
async function appendPieces(file: AppendFile, alloc: AlignedAlloc | undefined): Promise<Buffer> {
  const sizes = [0, 1, 31, DIRECT_BLOCK - 1, DIRECT_BLOCK + 1, 3 << 20, 9 << 20, 5, (17 << 20) + 123, 2 * DIRECT_BLOCK, 77];
  const memory = alloc ? alignedMemory(alloc, (18 << 20) + DIRECT_BLOCK) : undefined;
  const written: Uint8Array[] = [];
  let position = 0;
  for (const [i, n] of sizes.entries()) {
    const data = randomBytes(n, i + 1);
    let view: Uint8Array = data;
    if (memory && i % 2 === 1) {
      // Odd pieces go in place: placed at their file position's phase (every other one a byte out of it).
      const phase = (position + (i % 4 === 3 ? 1 : 0)) % DIRECT_BLOCK;
      view = memory.subarray(phase, phase + n);
      view.set(data);
    }
    written.push(data.slice());
    await file.append(view);
    // Once append resolves the caller may reuse its memory.
    view.fill(0xee);
    position += n;
  }
  return Buffer.concat(written);
}

describe('AppendFile', () => {
  it('bypasses the page cache where the file system takes O_DIRECT, else writes through it', async () => {
    const file = await AppendFile.create(join(tmp.dir, 'mode.bin'), aligned);
    expect(file.direct).toBe(directSupported(tmp.dir));
    await file.close();
  });

  it.each([
    ['direct, with aligned memory', aligned],
    ['through the page cache (no aligned memory)', undefined],
    ['direct refused at the first write (misaligned memory): falls back to the page cache', misaligned],
  ])('writes exactly the bytes appended: %s', async (what, alloc) => {
    const path = join(tmp.dir, `${what.length}.bin`);
    const file = await AppendFile.create(path, alloc);
    const expected = await appendPieces(file, alloc);
    await file.finish();
    expect(readFileSync(path).equals(expected)).toBe(true);
    if (alloc === misaligned) expect(file.direct).toBe(false);
  });

  it('an empty file is empty', async () => {
    const path = join(tmp.dir, 'empty.bin');
    const file = await AppendFile.create(path, aligned);
    await file.finish();
    expect(readFileSync(path).length).toBe(0);
  });

  it('refuses to replace an existing file', async () => {
    const path = join(tmp.dir, 'exists.bin');
    await (await AppendFile.create(path, aligned)).finish();
    await expect(AppendFile.create(path, aligned)).rejects.toMatchObject({ code: 'EEXIST' });
  });
});

describe('the addon\'s aligned memory', () => {
  it.runIf(directSupported(tmp.dir))('is accepted by O_DIRECT writes, and one byte off it is refused', () => {
    const path = join(tmp.dir, 'direct.bin');
    const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_DIRECT);
    try {
      const m = native.alignedBuffer({ bytes: 2 * DIRECT_BLOCK, alignment: DIRECT_BLOCK });
      expect(m.length).toBe(2 * DIRECT_BLOCK);
      expect(m.every((b) => b === 0)).toBe(true);
      expect(writeSync(fd, m, 0, 2 * DIRECT_BLOCK, 0)).toBe(2 * DIRECT_BLOCK);
      expect(() => writeSync(fd, m.subarray(1), 0, DIRECT_BLOCK, 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    } finally {
      closeSync(fd);
    }
  });
  it.each([
    [{ bytes: 16, alignment: 3000 }, /alignment must be a power of two/],
    [{ bytes: -1, alignment: 4096 }, /bytes must be an integer/],
    [{ bytes: 16, alignment: 1 << 20 }, /alignment must be an integer/],
  ])('refuses %j', (job, message) => {
    expect(() => native.alignedBuffer(job)).toThrow(message);
  });
  it('QUANT_NATIVE_DIRECT_IO=0 turns direct writes off', () => {
    const before = process.env.QUANT_NATIVE_DIRECT_IO;
    process.env.QUANT_NATIVE_DIRECT_IO = '0';
    try {
      expect(directIoAlloc(native)).toBeUndefined();
    } finally {
      if (before === undefined) delete process.env.QUANT_NATIVE_DIRECT_IO;
      else process.env.QUANT_NATIVE_DIRECT_IO = before;
    }
    expect(directIoAlloc(native)).toBeTypeOf('function');
  });
});

describe('GgufFileWriter.fileOffset', () => {
  it('is where a reader finds each tensor\'s data', async () => {
    const path = join(tmp.dir, 'offsets.gguf');
    const tensors = [
      { name: 'a', dims: [3], type: GgmlType.F32, nbytes: 12 },
      { name: 'b', dims: [1], type: GgmlType.F32, nbytes: 4 },
      { name: 'c', dims: [4096, 3], type: GgmlType.F16, nbytes: 4096 * 3 * 2 },
      { name: 'd', dims: [5], type: GgmlType.F32, nbytes: 20 },
    ];
    const w = await GgufFileWriter.create(path, [{ key: 'general.name', type: 8, value: 'offsets' }], tensors, undefined, { alignedAlloc: aligned });
    for (const t of tensors) await w.write(new Uint8Array(t.nbytes));
    await w.finish();
    const model = await openModel(path);
    for (const [i, t] of model.tensors.entries()) {
      expect(w.fileOffset(i, 0), t.name).toBe(t.dataStart);
      expect(w.fileOffset(i, 10), t.name).toBe(t.dataStart + 10);
    }
  });
});
