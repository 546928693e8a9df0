/** The ggml tensor type table (ids as stored in GGUF). Block sizes and byte sizes come from
 * ggml's type_traits; ids 4, 5, 31-33 and 36-38 are removed types and have no entry. */
export interface GgmlTypeInfo {
  readonly id: number;
  /** ggml's type_name, as `--tensor-type` and friends accept it (case-insensitively). */
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
}

const TABLE: ReadonlyArray<readonly [number, string, number, number]> = [
  [0, 'f32', 1, 4], [1, 'f16', 1, 2], [2, 'q4_0', 32, 18], [3, 'q4_1', 32, 20],
  [6, 'q5_0', 32, 22], [7, 'q5_1', 32, 24], [8, 'q8_0', 32, 34], [9, 'q8_1', 32, 36],
  [10, 'q2_K', 256, 84], [11, 'q3_K', 256, 110], [12, 'q4_K', 256, 144], [13, 'q5_K', 256, 176],
  [14, 'q6_K', 256, 210], [15, 'q8_K', 256, 292], [16, 'iq2_xxs', 256, 66], [17, 'iq2_xs', 256, 74],
  [18, 'iq3_xxs', 256, 98], [19, 'iq1_s', 256, 50], [20, 'iq4_nl', 32, 18], [21, 'iq3_s', 256, 110],
  [22, 'iq2_s', 256, 82], [23, 'iq4_xs', 256, 136], [24, 'i8', 1, 1], [25, 'i16', 1, 2],
  [26, 'i32', 1, 4], [27, 'i64', 1, 8], [28, 'f64', 1, 8], [29, 'iq1_m', 256, 56],
  [30, 'bf16', 1, 2], [34, 'tq1_0', 256, 54], [35, 'tq2_0', 256, 66], [39, 'mxfp4', 32, 17],
  [40, 'nvfp4', 64, 36], [41, 'q1_0', 128, 18], [42, 'q2_0', 64, 18],
];

export const GGML_TYPE_COUNT = 43;

const BY_ID = new Map<number, GgmlTypeInfo>(TABLE.map(([id, name, blockSize, typeSize]) => [id, { id, name, blockSize, typeSize }]));
const BY_NAME = new Map<string, GgmlTypeInfo>([...BY_ID.values()].map((t) => [t.name.toLowerCase(), t]));

export const GgmlType = {
  F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q8_1: 9, Q2_K: 10, Q3_K: 11, Q4_K: 12,
  Q5_K: 13, Q6_K: 14, Q8_K: 15, IQ2_XXS: 16, IQ2_XS: 17, IQ3_XXS: 18, IQ1_S: 19, IQ4_NL: 20, IQ3_S: 21,
  IQ2_S: 22, IQ4_XS: 23, I8: 24, I16: 25, I32: 26, I64: 27, F64: 28, IQ1_M: 29, BF16: 30, TQ1_0: 34,
  TQ2_0: 35, MXFP4: 39, NVFP4: 40, Q1_0: 41, Q2_0: 42,
} as const;

/** The types the native kernels can produce (quantize to) and read (dequantize from). */
export const PRODUCIBLE_TYPES: ReadonlySet<number> = new Set([
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
  GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL,
  GgmlType.IQ4_XS, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ2_S,
  GgmlType.IQ3_XXS, GgmlType.IQ3_S, GgmlType.IQ1_S, GgmlType.IQ1_M, GgmlType.MXFP4, GgmlType.NVFP4, GgmlType.Q1_0,
  GgmlType.Q2_0,
]);

/** Types llama.cpp quantizes only with importance weights (ggml_quantize_requires_imatrix). */
export const IMATRIX_REQUIRED_TYPES: ReadonlySet<number> = new Set([GgmlType.IQ2_XXS, GgmlType.IQ2_XS, GgmlType.IQ1_S]);

export function ggmlTypeInfo(id: number): GgmlTypeInfo | undefined {
  return BY_ID.get(id);
}

export function ggmlTypeName(id: number): string {
  return BY_ID.get(id)?.name ?? `type ${id}`;
}

export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return BY_NAME.get(name.toLowerCase());
}

export function allGgmlTypes(): GgmlTypeInfo[] {
  return [...BY_ID.values()];
}

/** Bytes of one row of `n` elements; undefined when `n` is not a whole number of blocks. */
export function rowBytes(id: number, n: number): number | undefined {
  const t = BY_ID.get(id);
  if (!t || n % t.blockSize !== 0) return undefined;
  return (n / t.blockSize) * t.typeSize;
}

export function isQuantizedType(id: number): boolean {
  return id !== GgmlType.F32 && id !== GgmlType.F16 && id !== GgmlType.BF16 && id !== GgmlType.F64 &&
    id !== GgmlType.I8 && id !== GgmlType.I16 && id !== GgmlType.I32 && id !== GgmlType.I64;
}
