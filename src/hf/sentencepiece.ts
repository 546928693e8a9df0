/** The vocabulary of a SentencePiece `tokenizer.model` (a protobuf ModelProto): each piece's text,
 * score and type, which is all llama.cpp's converter takes from it. */
import { QuantNativeError } from '../errors.js';

/** sentencepiece_model.proto's SentencePiece.Type. */
export enum PieceType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

export interface Piece {
  piece: string;
  score: number;
  type: PieceType;
}

class ProtoReader {
  pos = 0;
  constructor(private readonly buf: Uint8Array, private readonly file: string, readonly end = buf.length) {}

  fail(what: string): never {
    throw new QuantNativeError('E_HF_TOKENIZER', `${this.file}: not a valid SentencePiece model (${what} at byte ${this.pos})`, {
      hint: 'the tokenizer.model file is damaged or of another kind; fetch it again',
    });
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) this.fail('truncated varint');
      const b = this.buf[this.pos++]!;
      if (shift < 49) result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) this.fail('varint too long');
    }
  }

  /** The bytes of a length-delimited field. */
  bytes(): [number, number] {
    const n = this.varint();
    if (n > this.end - this.pos) this.fail('a field longer than its message');
    const start = this.pos;
    this.pos += n;
    return [start, this.pos];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return;
      case 1: this.pos += 8; break;
      case 2: this.bytes(); return;
      case 5: this.pos += 4; break;
      default: this.fail(`wire type ${wireType}`);
    }
    if (this.pos > this.end) this.fail('a field past the end of its message');
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The pieces of a tokenizer.model, in id order. */
export function readSentencePieces(buf: Uint8Array, file: string): Piece[] {
  const top = new ProtoReader(buf, file);
  const pieces: Piece[] = [];
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  while (top.pos < top.end) {
    const key = top.varint();
    const field = Math.floor(key / 8), wire = key & 7;
    if (field !== 1 || wire !== 2) {
      top.skip(wire);
      continue;
    }
    const [start, end] = top.bytes();
    const r = new ProtoReader(buf, file, end);
    r.pos = start;
    const p: Piece = { piece: '', score: 0, type: PieceType.NORMAL };
    while (r.pos < r.end) {
      const k = r.varint();
      const f = Math.floor(k / 8), w = k & 7;
      if (f === 1 && w === 2) {
        const [a, b] = r.bytes();
        try {
          p.piece = utf8.decode(buf.subarray(a, b));
        } catch {
          r.fail('a piece that is not UTF-8');
        }
      } else if (f === 2 && w === 5) {
        if (r.pos + 4 > r.end) r.fail('truncated score');
        p.score = view.getFloat32(r.pos, true);
        r.pos += 4;
      } else if (f === 3 && w === 0) {
        p.type = r.varint() as PieceType;
      } else {
        r.skip(w);
      }
    }
    pieces.push(p);
  }
  if (pieces.length === 0) top.fail('no pieces');
  return pieces;
}
