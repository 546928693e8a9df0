/* The kernel entry points. Every quantizer takes whole rows of F32 and writes whole rows of blocks;
 * `imatrix` (NULL or n_per_row floats) applies to every row of the call, as in ggml_quantize_chunk. */
#ifndef QN_KERNELS_H
#define QN_KERNELS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*qn_quantize_fn)(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
typedef void (*qn_dequantize_fn)(const void *src, float *dst, int64_t n);

typedef struct {
    const char *name;
    int block_size;  /* elements per block; 0 = not a type we handle */
    int type_size;   /* bytes per block */
} qn_type_traits;

const qn_type_traits *qn_type_info(int type);
/* Bytes of one row of n elements, or 0 if n is not a multiple of the block size. */
size_t qn_row_size(int type, int64_t n);

/* Scalar references: the specification of every type's bytes. */
void qn_quantize_q4_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q4_1(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q5_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q5_1(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q8_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q2_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q3_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q4_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q5_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q6_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq4_nl(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq4_xs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_tq1_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_tq2_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq2_xxs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq2_xs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq2_s(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq3_xxs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq3_s(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq1_s(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_iq1_m(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_mxfp4(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_nvfp4(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q1_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_q2_0(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_f16(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_bf16(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
void qn_quantize_f32(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);

void qn_dequantize_f32(const void *src, float *dst, int64_t n);
void qn_dequantize_f16(const void *src, float *dst, int64_t n);
void qn_dequantize_bf16(const void *src, float *dst, int64_t n);
void qn_dequantize_q4_0(const void *src, float *dst, int64_t n);
void qn_dequantize_q4_1(const void *src, float *dst, int64_t n);
void qn_dequantize_q5_0(const void *src, float *dst, int64_t n);
void qn_dequantize_q5_1(const void *src, float *dst, int64_t n);
void qn_dequantize_q8_0(const void *src, float *dst, int64_t n);
void qn_dequantize_q2_K(const void *src, float *dst, int64_t n);
void qn_dequantize_q3_K(const void *src, float *dst, int64_t n);
void qn_dequantize_q4_K(const void *src, float *dst, int64_t n);
void qn_dequantize_q5_K(const void *src, float *dst, int64_t n);
void qn_dequantize_q6_K(const void *src, float *dst, int64_t n);
void qn_dequantize_iq4_nl(const void *src, float *dst, int64_t n);
void qn_dequantize_iq4_xs(const void *src, float *dst, int64_t n);
void qn_dequantize_tq1_0(const void *src, float *dst, int64_t n);
void qn_dequantize_tq2_0(const void *src, float *dst, int64_t n);
void qn_dequantize_iq2_xxs(const void *src, float *dst, int64_t n);
void qn_dequantize_iq2_xs(const void *src, float *dst, int64_t n);
void qn_dequantize_iq2_s(const void *src, float *dst, int64_t n);
void qn_dequantize_iq3_xxs(const void *src, float *dst, int64_t n);
void qn_dequantize_iq3_s(const void *src, float *dst, int64_t n);
void qn_dequantize_iq1_s(const void *src, float *dst, int64_t n);
void qn_dequantize_iq1_m(const void *src, float *dst, int64_t n);
void qn_dequantize_mxfp4(const void *src, float *dst, int64_t n);
void qn_dequantize_nvfp4(const void *src, float *dst, int64_t n);
void qn_dequantize_q1_0(const void *src, float *dst, int64_t n);
void qn_dequantize_q2_0(const void *src, float *dst, int64_t n);

/* The FP4 types' scale helpers, shared with their SIMD twins. */
extern const int8_t qn_kvalues_fp4[16];
uint8_t qn_mxfp4_exponent(float amax);
float qn_e8m0_to_fp32_half(uint8_t e);
uint8_t qn_fp32_to_ue4m3(float x);
float qn_ue4m3_to_fp32(uint8_t x);

/* Types ggml only quantizes with importance weights (IQ2_XXS, IQ2_XS, IQ1_S); their quantizers
 * must not be called without them. */
bool qn_quantize_requires_imatrix(int type);
/* Builds what a type's quantizer needs (the lattice grids, once per process) so that running out of
 * memory can be reported: false then, and the quantizer would write nothing. */
bool qn_quantize_prepare(int type);

/* The legacy types' imatrix path, shared with the SIMD twins: the row's sigma2, and storing a block
 * from its searched scale, min (as returned by the search) and levels. */
float qn_legacy_row_sigma2(const float *x, int64_t n);
void qn_legacy_store_block(int type, void *block, float d, float the_min, const uint8_t *L);

/* Block i of a TQ1_0 or TQ2_0 row from its d and trits t (each trit + 1, one per byte), shared with the SIMD twins. */
void qn_tq_store(int type, float d, const uint8_t *t, void *dst, int64_t i);

/* Index of the first row whose stored scales or values are NaN/Inf (what ggml_validate_row_data
 * rejects), or -1 when every row is valid. */
int64_t qn_find_invalid_row(int type, const void *data, int64_t nrow, int64_t n_per_row);
typedef int64_t (*qn_find_invalid_fn)(const void *data, int64_t nrow, int64_t n_per_row);

/* Sum over the row of w[i] * (x[i] - y[i])^2 in double, in element order (w NULL: every weight 1). */
double qn_row_sq_error(const float *x, const float *y, const float *w, int64_t n);

/* Run-time dispatch. Paths are listed from the most portable; a path is usable only where the CPU
 * (and OS) support it. */
enum qn_simd { QN_SIMD_SCALAR = 0, QN_SIMD_AVX2 = 1, QN_SIMD_NEON = 2, QN_SIMD_AVX512 = 3, QN_SIMD_COUNT = 4 };

const char *qn_simd_name(int simd);
int qn_simd_parse(const char *name); /* -1 when unknown; "auto" gives the best available */
bool qn_simd_available(int simd);
int qn_simd_best(void);

/* The quantizer for (path, type); falls back to the scalar one where a path has no twin. NULL for a
 * type we cannot produce. */
qn_quantize_fn qn_get_quantize(int simd, int type);
qn_dequantize_fn qn_get_dequantize(int simd, int type);
/* Row check of a path for float types; NULL means use qn_find_invalid_row. */
qn_find_invalid_fn qn_get_find_invalid(int simd, int type);

#ifdef __cplusplus
}
#endif

#endif
