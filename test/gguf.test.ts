/** GGUF reading and writing: exact round trips, agreement with an independent parser, and clean
 * typed errors (never a crash, hang or huge allocation) on malformed input. */
import { readFileSync, writeFileSync, truncateSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { gguf as hfGguf } from '@huggingface/gguf';
import { afterAll, describe, expect, it } from 'vitest';
import { GgufError } from '../src/errors.js';
import { GgmlType } from '../src/ggml-types.js';
import { GgufValueType, type GgufKv } from '../src/gguf/format.js';
import { TensorDataReader, readGguf } from '../src/gguf/reader.js';
import { isWellFormedUtf8 } from '../src/gguf/utf8.js';
import { GgufFileWriter, encodeGgufMeta, type TensorDecl } from '../src/gguf/writer.js';
import { writeSyntheticModel } from '../src/synthetic.js';
import { Rng } from './helpers/data.js';
import { realModel, tempDir } from './helpers/models.js';

const tmp = tempDir('qn-gguf-');
afterAll(() => tmp.cleanup());

/** Reads a file and writes it back through our writer, copying tensor data. */
async function rewrite(src: string, dst: string): Promise<void> {
  const f = await readGguf(src);
  const decls: TensorDecl[] = f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type, nbytes: t.nbytes }));
  const w = await GgufFileWriter.create(dst, f.kvs, decls, f.alignment);
  const reader = await TensorDataReader.open([src]);
  try {
    for (const t of f.tensors) {
      const buf = Buffer.alloc(t.nbytes);
      await reader.read(t, 0, t.nbytes, buf);
      await w.write(buf);
    }
    await w.finish();
  } finally {
    await reader.close();
  }
}

describe('round trip', () => {
  for (const name of ['stories260K.gguf', 'tinystories-656k-f32.gguf', 'tiny256-f16.gguf', 'tiny256-f32.gguf', 'llama-2-tiny-random.gguf']) {
    const path = realModel(name);
    it.runIf(path)(`real model ${name} is rewritten byte for byte`, async () => {
      const out = join(tmp.dir, `rt-${name}`);
      await rewrite(path!, out);
      expect(readFileSync(out).equals(readFileSync(path!))).toBe(true);
    });
  }

  const v1 = realModel('crabml-tinyllamas-stories-260k-f32.gguf');
  it.runIf(v1)('a GGUF v1 file is refused with E_GGUF_VERSION', async () => {
    await expect(readGguf(v1!)).rejects.toMatchObject({ code: 'E_GGUF_VERSION' });
  });

  for (const variant of [
    { dtype: 'f32' as const }, { dtype: 'f16' as const }, { dtype: 'bf16' as const },
    { dtype: 'f16' as const, tiedEmbeddings: true }, { dtype: 'f16' as const, experts: 4 },
  ]) {
    it(`generated model ${JSON.stringify(variant)} is rewritten byte for byte`, async () => {
      const src = join(tmp.dir, `gen-${JSON.stringify(variant).replace(/\W/g, '')}.gguf`);
      await writeSyntheticModel(src, { layers: 2, embd: 64, ff: 96, heads: 4, kvHeads: 2, vocab: 300, ...variant });
      const out = `${src}.rt`;
      await rewrite(src, out);
      expect(readFileSync(out).equals(readFileSync(src))).toBe(true);
    });
  }
});

/** Every value type, nested and typed arrays, and tensors of several types and ranks. */
function richKvs(): GgufKv[] {
  return [
    { key: 'general.architecture', type: GgufValueType.STRING, value: 'llama' },
    { key: 't.u8', type: GgufValueType.UINT8, value: 200 },
    { key: 't.i8', type: GgufValueType.INT8, value: -100 },
    { key: 't.u16', type: GgufValueType.UINT16, value: 60000 },
    { key: 't.i16', type: GgufValueType.INT16, value: -30000 },
    { key: 't.u32', type: GgufValueType.UINT32, value: 4000000000 },
    { key: 't.i32', type: GgufValueType.INT32, value: -2000000000 },
    { key: 't.f32', type: GgufValueType.FLOAT32, value: 0.5 },
    { key: 't.bool', type: GgufValueType.BOOL, value: true },
    { key: 't.str', type: GgufValueType.STRING, value: 'héllo ✓' },
    { key: 't.u64', type: GgufValueType.UINT64, value: 18446744073709551615n },
    { key: 't.i64', type: GgufValueType.INT64, value: -9223372036854775808n },
    { key: 't.f64', type: GgufValueType.FLOAT64, value: 1e300 },
    { key: 't.arr.str', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items: ['a', '', 'ccc'] } },
    { key: 't.arr.f32', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.FLOAT32, items: Float32Array.of(1, -2, 3.5) } },
    { key: 't.arr.i32', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.INT32, items: Int32Array.of(7, -8) } },
    { key: 't.arr.bool', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.BOOL, items: Uint8Array.of(1, 0, 1) } },
    { key: 't.arr.empty', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.UINT8, items: new Uint8Array(0) } },
    {
      key: 't.arr.nested', type: GgufValueType.ARRAY,
      value: { elementType: GgufValueType.ARRAY, items: [{ elementType: GgufValueType.UINT16, items: Uint16Array.of(1, 2) }, { elementType: GgufValueType.STRING, items: ['x'] }] },
    },
  ];
}

const RICH_TENSORS: TensorDecl[] = [
  { name: 'a.weight', dims: [64, 3], type: GgmlType.F32, nbytes: 64 * 3 * 4 },
  { name: 'b.weight', dims: [32, 2, 2], type: GgmlType.Q8_0, nbytes: 4 * 34 },
  { name: 'c.bias', dims: [7], type: GgmlType.F16, nbytes: 14 },
];

async function writeRich(path: string): Promise<void> {
  const w = await GgufFileWriter.create(path, richKvs(), RICH_TENSORS);
  const rng = new Rng(5);
  for (const t of RICH_TENSORS) await w.write(Buffer.from(Array.from({ length: t.nbytes }, () => rng.int(256))));
  await w.finish();
}

describe('agreement with @huggingface/gguf', () => {
  it('every key, tensor name, shape, type and offset of files we write', async () => {
    const files = [join(tmp.dir, 'rich.gguf'), join(tmp.dir, 'hf-model.gguf')];
    await writeRich(files[0]!);
    await writeSyntheticModel(files[1]!, { layers: 2, embd: 64, ff: 128, heads: 4, kvHeads: 4, vocab: 300, experts: 2 });
    for (const file of files) {
      const ours = await readGguf(file);
      const theirs = await hfGguf(file, { allowLocalFile: true });
      const theirKeys = Object.keys(theirs.metadata).filter((k) => !['version', 'tensor_count', 'kv_count'].includes(k));
      expect(theirKeys).toEqual(ours.kvs.map((kv) => kv.key));
      for (const kv of ours.kvs) {
        const v = (theirs.metadata as Record<string, unknown>)[kv.key];
        if (kv.type !== GgufValueType.ARRAY) {
          expect(v, kv.key).toEqual(kv.type === GgufValueType.FLOAT32 ? Math.fround(v as number) : kv.value);
        } else {
          const items = (kv.value as { items: ArrayLike<unknown> }).items;
          expect((v as unknown[]).length, kv.key).toBe(items.length);
        }
      }
      expect(Number(theirs.tensorDataOffset)).toBe(ours.dataOffset);
      expect(theirs.tensorInfos.map((t) => [t.name, t.shape.map(Number), t.dtype, Number(t.offset)])).toEqual(
        ours.tensors.map((t) => [t.name, t.dims, t.type, t.offset]),
      );
    }
  });
});

/** A small valid file and the byte offsets where its structures start, for boundary truncation. */
async function smallValid(): Promise<Buffer> {
  const p = join(tmp.dir, 'small.gguf');
  await writeRich(p);
  return readFileSync(p);
}

async function expectGgufError(bytes: Buffer, code?: string): Promise<GgufError> {
  const p = join(tmp.dir, `bad-${Math.random().toString(16).slice(2)}.gguf`);
  writeFileSync(p, bytes);
  const t0 = performance.now();
  const err = await readGguf(p).then(() => undefined, (e: unknown) => e);
  expect(performance.now() - t0).toBeLessThan(1000);
  expect(err).toBeInstanceOf(GgufError);
  if (code) expect((err as GgufError).code).toBe(code);
  return err as GgufError;
}

function patch(buf: Buffer, at: number, write: (b: Buffer) => void): Buffer {
  const b = Buffer.from(buf);
  write(b.subarray(at));
  return b;
}

describe('malformed input', () => {
  it('every truncation point of a small valid file fails with E_GGUF_TRUNCATED or a limit error', async () => {
    const valid = await smallValid();
    const meta = encodeGgufMeta(richKvs(), RICH_TENSORS).length;
    // Every byte boundary inside the metadata, plus points inside and at the end of the data.
    const last = (await readGguf(join(tmp.dir, 'small.gguf'))).tensors.at(-1)!;
    const cuts = [...Array.from({ length: meta }, (_, i) => i), meta + 1, meta + 400, last.dataStart + last.nbytes - 1];
    let checked = 0;
    for (const cut of cuts) {
      const err = await expectGgufError(valid.subarray(0, cut));
      expect(['E_GGUF_TRUNCATED', 'E_GGUF_LIMIT', 'E_GGUF_MAGIC'], `cut at ${cut}: ${err.message}`).toContain(err.code);
      checked++;
    }
    expect(checked).toBeGreaterThan(400);
  });

  it('each listed defect gives its own code', async () => {
    const valid = await smallValid();
    const kvStart = 24;
    const firstKeyLen = Number(valid.readBigUInt64LE(kvStart));
    const firstValueAt = kvStart + 8 + firstKeyLen + 4;
    const info = await readGguf(join(tmp.dir, 'small.gguf'));
    const tensorInfoStart = encodeGgufMeta(richKvs(), []).length;
    const aNameLen = 8 + 'a.weight'.length;
    const aDims = tensorInfoStart + aNameLen + 4;
    const aType = aDims + 2 * 8;
    const aOffset = aType + 4;
    const bInfo = aOffset + 8;
    const bOffset = bInfo + 8 + 'b.weight'.length + 4 + 3 * 8 + 4;
    const cases: Array<[string, Buffer, string]> = [
      ['bad magic', patch(valid, 0, (b) => b.write('GGUX')), 'E_GGUF_MAGIC'],
      ['version 1', patch(valid, 4, (b) => b.writeUInt32LE(1)), 'E_GGUF_VERSION'],
      ['version 4', patch(valid, 4, (b) => b.writeUInt32LE(4)), 'E_GGUF_VERSION'],
      ['byte-swapped version', patch(valid, 4, (b) => b.writeUInt32BE(3)), 'E_GGUF_VERSION'],
      ['absurd tensor count', patch(valid, 8, (b) => b.writeBigInt64LE(1n << 40n)), 'E_GGUF_LIMIT'],
      ['negative tensor count', patch(valid, 8, (b) => b.writeBigInt64LE(-1n)), 'E_GGUF_LIMIT'],
      ['absurd metadata count', patch(valid, 16, (b) => b.writeBigInt64LE(1n << 50n)), 'E_GGUF_LIMIT'],
      ['absurd key length', patch(valid, kvStart, (b) => b.writeBigUInt64LE(1n << 60n)), 'E_GGUF_LIMIT'],
      ['empty key', (() => {
        const kv = encodeGgufMeta([{ key: 'x', type: GgufValueType.UINT8, value: 1 }], []);
        return patch(kv, 24, (b) => b.writeBigUInt64LE(0n));
      })(), 'E_GGUF_KEY'],
      ['unknown value type', patch(valid, firstValueAt - 4, (b) => b.writeInt32LE(13)), 'E_GGUF_VALUE_TYPE'],
      ['duplicate key', encodeGgufMeta([{ key: 'k', type: GgufValueType.UINT8, value: 1 }, { key: 'k', type: GgufValueType.UINT8, value: 2 }], []), 'E_GGUF_DUPLICATE'],
      ['non-UTF-8 string', (() => {
        const b = encodeGgufMeta([{ key: 'k', type: GgufValueType.STRING, value: 'ab' }], []);
        b[b.length - 1] = 0xff;
        return b;
      })(), 'E_GGUF_UTF8'],
      ['non-UTF-8 key', (() => {
        const b = encodeGgufMeta([{ key: 'kk', type: GgufValueType.UINT8, value: 1 }], []);
        b[24 + 8 + 1] = 0xc3;
        return b;
      })(), 'E_GGUF_UTF8'],
      ['absurd array length', (() => {
        const b = encodeGgufMeta([{ key: 'a', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.UINT32, items: Uint32Array.of(1) } }], []);
        return patch(b, 24 + 8 + 1 + 4 + 4, (x) => x.writeBigUInt64LE(1n << 31n));
      })(), 'E_GGUF_LIMIT'],
      ['bad alignment', encodeGgufMeta([{ key: 'general.alignment', type: GgufValueType.UINT32, value: 24 }], []), 'E_GGUF_ALIGNMENT'],
      ['alignment of the wrong type', encodeGgufMeta([{ key: 'general.alignment', type: GgufValueType.UINT64, value: 32n }], []), 'E_GGUF_ALIGNMENT'],
      ['zero dimension', patch(valid, aDims, (b) => b.writeBigInt64LE(0n)), 'E_GGUF_SHAPE'],
      ['negative dimension', patch(valid, aDims + 8, (b) => b.writeBigInt64LE(-3n)), 'E_GGUF_SHAPE'],
      ['dims whose product overflows', patch(valid, aDims, (b) => { b.writeBigInt64LE(1n << 40n); b.writeBigInt64LE(1n << 40n, 8); }), 'E_GGUF_SHAPE'],
      ['too many dimensions', patch(valid, aDims - 4, (b) => b.writeUInt32LE(5)), 'E_GGUF_SHAPE'],
      ['unknown tensor type', patch(valid, aType, (b) => b.writeInt32LE(99)), 'E_GGUF_TENSOR_TYPE'],
      ['removed tensor type', patch(valid, aType, (b) => b.writeInt32LE(4)), 'E_GGUF_TENSOR_TYPE'],
      ['row not a multiple of the block', patch(valid, aType, (b) => b.writeInt32LE(GgmlType.Q4_K)), 'E_GGUF_SHAPE'],
      ['offset past end of file', patch(valid, aOffset, (b) => b.writeBigUInt64LE(1n << 40n)), 'E_GGUF_OFFSET'],
      ['misaligned offset', patch(valid, bOffset, (b) => b.writeBigUInt64LE(BigInt(info.tensors[1]!.offset + 4))), 'E_GGUF_ALIGNMENT'],
      ['overlapping tensors', patch(valid, bOffset, (b) => b.writeBigUInt64LE(0n)), 'E_GGUF_OFFSET'],
      ['non-contiguous tensors', patch(valid, bOffset, (b) => b.writeBigUInt64LE(BigInt(info.tensors[1]!.offset + 32))), 'E_GGUF_OFFSET'],
      ['duplicate tensor name', patch(valid, bInfo + 8, (b) => b.write('a.weight')), 'E_GGUF_DUPLICATE'],
      ['tensor name too long', encodeGgufMeta([], [{ name: 'x'.repeat(64), dims: [4], type: GgmlType.F32, nbytes: 16 }]), 'E_GGUF_LIMIT'],
      ['data past end of file', valid.subarray(0, valid.length - 40), 'E_GGUF_TRUNCATED'],
      ['empty file', Buffer.alloc(0), 'E_GGUF_TRUNCATED'],
      ['not a GGUF at all', Buffer.from('{"model": "safetensors header"}'), 'E_GGUF_MAGIC'],
    ];
    for (const [name, bytes, code] of cases) {
      const err = await expectGgufError(bytes);
      expect(err.code, `${name}: ${err.message}`).toBe(code);
    }
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });

  it('random mutations never crash, hang or over-allocate', async () => {
    const valid = await smallValid();
    const cases = Number(process.env.QN_FUZZ_CASES ?? 400);
    const rng = new Rng(99);
    const p = join(tmp.dir, 'fuzz.gguf');
    for (let i = 0; i < cases; i++) {
      const b = Buffer.from(valid);
      const edits = 1 + rng.int(4);
      for (let e = 0; e < edits; e++) {
        const at = rng.int(Math.min(b.length, 900));
        const kind = rng.int(3);
        if (kind === 0) b[at] = rng.int(256);
        else if (kind === 1) b.writeUInt32LE(rng.int(2) ? 0xffffffff : rng.int(1 << 16), Math.min(at, b.length - 4));
        else b[at] ^= 1 << rng.int(8);
      }
      writeFileSync(p, b);
      const before = process.memoryUsage().arrayBuffers;
      const t0 = performance.now();
      const result = await readGguf(p).then(() => 'ok', (e: unknown) => e);
      expect(performance.now() - t0, `case ${i}`).toBeLessThan(1000);
      if (result !== 'ok') expect(result, `case ${i}`).toBeInstanceOf(GgufError);
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(b.length + (2 << 20));
    }
  });
});

describe('string arrays', () => {
  /** Strings of every UTF-8 length class, the empty string and a leading byte-order mark, some long. */
  function vocabulary(n: number): string[] {
    const rng = new Rng(17);
    const pieces = ['a', 'Z', ' ', '\u00e9', '\u2581', '\ufeff', '\u4e2d', '\u{1f600}', '\u{10ffff}', '\n'];
    return Array.from({ length: n }, (_, i) => {
      if (i % 997 === 0) return '';
      const len = i % 4999 === 1 ? 3000 : 1 + rng.int(12);
      return Array.from({ length: len }, () => pieces[rng.int(pieces.length)]).join('');
    });
  }

  async function writeVocab(path: string, tokens: string[]): Promise<void> {
    const kvs: GgufKv[] = [
      { key: 'general.architecture', type: GgufValueType.STRING, value: 'llama' },
      { key: 'tokenizer.ggml.tokens', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items: tokens } },
      { key: 'tokenizer.ggml.merges', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items: tokens.slice(0, 50) } },
    ];
    const w = await GgufFileWriter.create(path, kvs, []);
    await w.finish();
  }

  // 150k strings span several of the reader's 1 MiB windows.
  const tokens = vocabulary(150000);

  it('read back as written, across the reader\'s windows', async () => {
    const p = join(tmp.dir, 'vocab.gguf');
    await writeVocab(p, tokens);
    const f = await readGguf(p);
    expect(readFileSync(p).length).toBeGreaterThan(3 << 20);
    const read = f.kvs.find((kv) => kv.key === 'tokenizer.ggml.tokens')!.value as { items: string[] };
    expect(read.items).toEqual(tokens);
  });

  it('written again unread, byte for byte, and as changed once changed', async () => {
    const p = join(tmp.dir, 'vocab2.gguf');
    await writeVocab(p, tokens);
    const again = `${p}.again`;
    await rewrite(p, again);
    expect(readFileSync(again).equals(readFileSync(p))).toBe(true);

    const f = await readGguf(p);
    const merges = f.kvs.find((kv) => kv.key === 'tokenizer.ggml.merges')!.value as { items: string[] };
    merges.items[3] = 'changed \u00e9';
    const changed = `${p}.changed`;
    const w = await GgufFileWriter.create(changed, f.kvs, []);
    await w.finish();
    const g = await readGguf(changed);
    expect((g.kvs.find((kv) => kv.key === 'tokenizer.ggml.merges')!.value as { items: string[] }).items).toEqual(
      [...tokens.slice(0, 3), 'changed \u00e9', ...tokens.slice(4, 50)]);
    expect((g.kvs.find((kv) => kv.key === 'tokenizer.ggml.tokens')!.value as { items: string[] }).items).toEqual(tokens);
  });

  it('an element that is not UTF-8 is refused with its index', async () => {
    const b = encodeGgufMeta([{ key: 'v', type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, items: ['ok', 'b\u00e9', 'c'] } }], []);
    // The second byte of "\u00e9" (c3 a9) made a lead byte: "\u00e9" is then cut short.
    b[b.indexOf(Buffer.from([0xc3, 0xa9])) + 1] = 0xc3;
    const err = await expectGgufError(b);
    expect(err.code).toBe('E_GGUF_UTF8');
    expect(err.message).toContain('v[1]');
  });
});

describe('UTF-8 validation agrees with a fatal TextDecoder', () => {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const accepts = (b: Uint8Array): boolean => {
    try {
      decoder.decode(b);
      return true;
    } catch {
      return false;
    }
  };
  // Every byte at each boundary of the ranges the standard's table 3-7 draws.
  const EDGES = [0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff];

  it('on every lead byte followed by up to three boundary bytes', () => {
    // Only the first continuation byte has a range of its own; the others are 80-bf, so fewer edges suffice for them.
    const LATER = [-1, 0x41, 0x7f, 0x80, 0xbf, 0xc0];
    const wrong: string[] = [];
    let checked = 0;
    for (let lead = 0; lead < 256; lead++) {
      for (const b1 of [-1, ...EDGES]) {
        for (const b2 of LATER) {
          for (const b3 of LATER) {
            const bytes = Uint8Array.from([0x61, lead, b1, b2, b3].filter((x) => x >= 0));
            if (isWellFormedUtf8(bytes, 0, bytes.length) !== accepts(bytes)) wrong.push(Buffer.from(bytes).toString('hex'));
            checked++;
          }
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBe(256 * 21 * 36);
  });

  it('on random strings of valid and broken sequences, and on part of a buffer only', () => {
    const rng = new Rng(23);
    const good = [[0x41], [0xc3, 0xa9], [0xe2, 0x96, 0x81], [0xf0, 0x9f, 0x98, 0x80], [0xef, 0xbb, 0xbf]];
    let rejected = 0;
    for (let i = 0; i < 20000; i++) {
      const bytes: number[] = [];
      for (let k = 1 + rng.int(6); k > 0; k--) {
        if (rng.int(8) === 0) bytes.push(0x80 + rng.int(128));
        else bytes.push(...good[rng.int(good.length)]!);
      }
      const b = Uint8Array.from(bytes);
      const ok = accepts(b);
      rejected += ok ? 0 : 1;
      expect(isWellFormedUtf8(b, 0, b.length)).toBe(ok);
      // A range inside a larger buffer: a sequence cut at the range's end is broken.
      const from = rng.int(b.length + 1), to = from + rng.int(b.length - from + 1);
      expect(isWellFormedUtf8(b, from, to)).toBe(accepts(b.subarray(from, to)));
    }
    expect(rejected).toBeGreaterThan(1000);
  });
});

describe('memory', () => {
  it('inspecting a sparse multi-GB file costs no more than a small one', async () => {
    const p = join(tmp.dir, 'sparse.gguf');
    const big: TensorDecl[] = Array.from({ length: 6 }, (_, i) => ({ name: `blk.${i}.ffn_up.weight`, dims: [8192, 65536], type: GgmlType.F16, nbytes: 8192 * 65536 * 2 }));
    const meta = encodeGgufMeta(richKvs(), big);
    const fd = openSync(p, 'w');
    writeSync(fd, meta);
    closeSync(fd);
    truncateSync(p, meta.length + big.reduce((s, t) => s + t.nbytes, 0));
    global.gc?.();
    const rss0 = process.memoryUsage().rss;
    const f = await readGguf(p);
    expect(f.tensors.length).toBe(6);
    expect(f.fileSize).toBeGreaterThan(6e9);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(32 << 20);
  });
});
