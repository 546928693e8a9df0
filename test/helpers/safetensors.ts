/** Writes small safetensors files (valid or broken on purpose) and SentencePiece models for the tests. */
import { writeFileSync } from 'node:fs';

export interface StTensor { name: string; dtype: string; shape: number[]; data: Uint8Array }

/** The file's bytes: header (padded with spaces to 8 bytes, as the library writes it), then the data. */
export function safetensorsBytes(tensors: readonly StTensor[], header?: (h: Record<string, unknown>) => unknown): Buffer {
  const h: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let offset = 0;
  for (const t of tensors) {
    h[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let text = JSON.stringify(header ? header(h) : h);
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(text)));
  return Buffer.concat([len, Buffer.from(text), ...tensors.map((t) => Buffer.from(t.data))]);
}

export function writeSafetensors(path: string, tensors: readonly StTensor[]): void {
  writeFileSync(path, safetensorsBytes(tensors));
}

/** n float32 values as bytes. */
export function f32Bytes(n: number, seed = 1): Uint8Array {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = (s / 2 ** 32 - 0.5) / 8;
  }
  return new Uint8Array(a.buffer);
}

function varint(n: number): number[] {
  const out: number[] = [];
  do {
    out.push((n & 0x7f) | (n >= 0x80 ? 0x80 : 0));
    n = Math.floor(n / 128);
  } while (n > 0);
  return out;
}

/** A tokenizer.model (SentencePiece ModelProto) holding just these pieces: text, score, type. */
export function sentencePieceModel(pieces: ReadonlyArray<[string, number, number]>): Buffer {
  const parts: Buffer[] = [];
  for (const [text, score, type] of pieces) {
    const t = Buffer.from(text);
    const f = Buffer.alloc(4);
    f.writeFloatLE(score);
    const body = Buffer.concat([Buffer.from([0x0a, ...varint(t.length)]), t, Buffer.from([0x15]), f, Buffer.from([0x18, ...varint(type)])]);
    parts.push(Buffer.from([0x0a, ...varint(body.length)]), body);
  }
  return Buffer.concat(parts);
}
