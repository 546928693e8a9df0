/** Metadata collected as gguf-py's GGUFWriter collects it: a dict in insertion order, where setting a
 * key again replaces its value in place, and empty strings and arrays are not written at all. */
import { GgufValueType, type GgufArray, type GgufKv, type GgufValue } from '../gguf/format.js';

export class KvBuilder {
  private readonly entries = new Map<string, GgufKv>();

  set(key: string, type: GgufValueType, value: GgufValue): void {
    this.entries.set(key, { key, type, value });
  }
  has(key: string): boolean { return this.entries.has(key); }
  delete(key: string): void { this.entries.delete(key); }

  u32(key: string, v: number): void { this.set(key, GgufValueType.UINT32, v); }
  i32(key: string, v: number): void { this.set(key, GgufValueType.INT32, v); }
  f32(key: string, v: number): void { this.set(key, GgufValueType.FLOAT32, v); }
  bool(key: string, v: boolean): void { this.set(key, GgufValueType.BOOL, v); }
  /** add_string: an empty string is skipped. */
  string(key: string, v: string): void { if (v) this.set(key, GgufValueType.STRING, v); }
  /** add_array: an empty array is skipped. */
  array(key: string, a: GgufArray): void { if (a.items.length > 0) this.set(key, GgufValueType.ARRAY, a); }

  list(): GgufKv[] {
    return [...this.entries.values()];
  }
}
