/* Shared definitions for the quantization kernels: ggml type ids, block layouts, fp16/bf16
 * conversion and the rounding helpers whose exact behaviour decides output bytes. */
#ifndef QN_COMMON_H
#define QN_COMMON_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ggml type ids as stored in GGUF tensor infos. */
enum qn_type {
    QN_F32 = 0, QN_F16 = 1, QN_Q4_0 = 2, QN_Q4_1 = 3, QN_Q5_0 = 6, QN_Q5_1 = 7, QN_Q8_0 = 8,
    QN_Q2_K = 10, QN_Q3_K = 11, QN_Q4_K = 12, QN_Q5_K = 13, QN_Q6_K = 14,
    QN_IQ2_XXS = 16, QN_IQ2_XS = 17, QN_IQ3_XXS = 18, QN_IQ1_S = 19, QN_IQ4_NL = 20, QN_IQ3_S = 21,
    QN_IQ2_S = 22, QN_IQ4_XS = 23, QN_IQ1_M = 29, QN_BF16 = 30, QN_TQ1_0 = 34, QN_TQ2_0 = 35,
    QN_MXFP4 = 39, QN_NVFP4 = 40, QN_Q1_0 = 41, QN_Q2_0 = 42,
    QN_TYPE_COUNT = 43
};

#define QK_K 256
#define QK32 32

#define QN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define QN_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Below this magnitude a group counts as all zero (ggml's GROUP_MAX_EPS). */
#define QN_GROUP_MAX_EPS 1e-15f

typedef uint16_t qn_fp16;

/* For a function whose bool parameters select code paths: inlined at constant call sites, each path is
 * compiled apart instead of tested per element. */
#if defined(_MSC_VER) && !defined(__clang__)
#define QN_ALWAYS_INLINE static __forceinline
#include <intrin.h>
/* Index of the lowest set bit of a non-zero v. */
static inline int qn_ctz(unsigned v) {
    unsigned long i;
    _BitScanForward(&i, v);
    return (int)i;
}
static inline int qn_ctz64(uint64_t v) {
    unsigned long i;
    _BitScanForward64(&i, v);
    return (int)i;
}
#else
#define QN_ALWAYS_INLINE static inline __attribute__((always_inline))
static inline int qn_ctz(unsigned v) { return __builtin_ctz(v); }
static inline int qn_ctz64(uint64_t v) { return __builtin_ctzll(v); }
#endif

#ifdef __cplusplus
#define QN_STATIC_ASSERT static_assert
#else
#define QN_STATIC_ASSERT _Static_assert
#endif

typedef struct { qn_fp16 d; uint8_t qs[16]; } block_q4_0;
typedef struct { qn_fp16 d; qn_fp16 m; uint8_t qs[16]; } block_q4_1;
typedef struct { qn_fp16 d; uint8_t qh[4]; uint8_t qs[16]; } block_q5_0;
typedef struct { qn_fp16 d; qn_fp16 m; uint8_t qh[4]; uint8_t qs[16]; } block_q5_1;
typedef struct { qn_fp16 d; int8_t qs[32]; } block_q8_0;
typedef struct { uint8_t scales[16]; uint8_t qs[64]; qn_fp16 d; qn_fp16 dmin; } block_q2_K;
typedef struct { uint8_t hmask[32]; uint8_t qs[64]; uint8_t scales[12]; qn_fp16 d; } block_q3_K;
typedef struct { qn_fp16 d; qn_fp16 dmin; uint8_t scales[12]; uint8_t qs[128]; } block_q4_K;
typedef struct { qn_fp16 d; qn_fp16 dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } block_q5_K;
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; qn_fp16 d; } block_q6_K;
typedef struct { qn_fp16 d; uint8_t qs[16]; } block_iq4_nl;
typedef struct { qn_fp16 d; uint16_t scales_h; uint8_t scales_l[4]; uint8_t qs[128]; } block_iq4_xs;
typedef struct { uint8_t qs[48]; uint8_t qh[4]; qn_fp16 d; } block_tq1_0;
typedef struct { uint8_t qs[64]; qn_fp16 d; } block_tq2_0;
typedef struct { qn_fp16 d; uint16_t qs[32]; } block_iq2_xxs;
typedef struct { qn_fp16 d; uint16_t qs[32]; uint8_t scales[8]; } block_iq2_xs;
typedef struct { qn_fp16 d; uint8_t qs[64]; uint8_t qh[8]; uint8_t scales[8]; } block_iq2_s;
typedef struct { qn_fp16 d; uint8_t qs[96]; } block_iq3_xxs;
typedef struct { qn_fp16 d; uint8_t qs[64]; uint8_t qh[8]; uint8_t signs[32]; uint8_t scales[4]; } block_iq3_s;
typedef struct { qn_fp16 d; uint8_t qs[32]; uint16_t qh[8]; } block_iq1_s;
typedef struct { uint8_t qs[32]; uint8_t qh[16]; uint8_t scales[8]; } block_iq1_m;
typedef struct { uint8_t e; uint8_t qs[16]; } block_mxfp4;
typedef struct { uint8_t d[4]; uint8_t qs[32]; } block_nvfp4;
typedef struct { qn_fp16 d; uint8_t qs[16]; } block_q1_0;
typedef struct { qn_fp16 d; uint8_t qs[16]; } block_q2_0;

QN_STATIC_ASSERT(sizeof(block_q4_0) == 18, "q4_0 block");
QN_STATIC_ASSERT(sizeof(block_q4_1) == 20, "q4_1 block");
QN_STATIC_ASSERT(sizeof(block_q5_0) == 22, "q5_0 block");
QN_STATIC_ASSERT(sizeof(block_q5_1) == 24, "q5_1 block");
QN_STATIC_ASSERT(sizeof(block_q8_0) == 34, "q8_0 block");
QN_STATIC_ASSERT(sizeof(block_q2_K) == 84, "q2_K block");
QN_STATIC_ASSERT(sizeof(block_q3_K) == 110, "q3_K block");
QN_STATIC_ASSERT(sizeof(block_q4_K) == 144, "q4_K block");
QN_STATIC_ASSERT(sizeof(block_q5_K) == 176, "q5_K block");
QN_STATIC_ASSERT(sizeof(block_q6_K) == 210, "q6_K block");
QN_STATIC_ASSERT(sizeof(block_iq4_nl) == 18, "iq4_nl block");
QN_STATIC_ASSERT(sizeof(block_iq4_xs) == 136, "iq4_xs block");
QN_STATIC_ASSERT(sizeof(block_tq1_0) == 54, "tq1_0 block");
QN_STATIC_ASSERT(sizeof(block_tq2_0) == 66, "tq2_0 block");
QN_STATIC_ASSERT(sizeof(block_iq2_xxs) == 66, "iq2_xxs block");
QN_STATIC_ASSERT(sizeof(block_iq2_xs) == 74, "iq2_xs block");
QN_STATIC_ASSERT(sizeof(block_iq2_s) == 82, "iq2_s block");
QN_STATIC_ASSERT(sizeof(block_iq3_xxs) == 98, "iq3_xxs block");
QN_STATIC_ASSERT(sizeof(block_iq3_s) == 110, "iq3_s block");
QN_STATIC_ASSERT(sizeof(block_iq1_s) == 50, "iq1_s block");
QN_STATIC_ASSERT(sizeof(block_iq1_m) == 56, "iq1_m block");
QN_STATIC_ASSERT(sizeof(block_mxfp4) == 17, "mxfp4 block");
QN_STATIC_ASSERT(sizeof(block_nvfp4) == 36, "nvfp4 block");
QN_STATIC_ASSERT(sizeof(block_q1_0) == 18, "q1_0 block");
QN_STATIC_ASSERT(sizeof(block_q2_0) == 18, "q2_0 block");

static inline float qn_f32_from_bits(uint32_t w) { float f; memcpy(&f, &w, 4); return f; }
static inline uint32_t qn_f32_to_bits(float f) { uint32_t w; memcpy(&w, &f, 4); return w; }

/* fp16 -> fp32, exact (subnormals included); the same bit construction as ggml. */
static inline float qn_fp16_to_fp32(qn_fp16 h) {
    const uint32_t w = (uint32_t)h << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t two_w = w + w;
    const float normalized = qn_f32_from_bits((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
    const float denormalized = qn_f32_from_bits((two_w >> 17) | (126u << 23)) - 0.5f;
    const uint32_t result = sign |
        (two_w < (1u << 27) ? qn_f32_to_bits(denormalized) : qn_f32_to_bits(normalized));
    return qn_f32_from_bits(result);
}

/* fp32 -> fp16 with round-to-nearest-even; >= 65520 becomes Inf, NaN becomes sign|0x7E00.
 * Built from float multiplies so that it rounds exactly as ggml's portable version does. */
static inline qn_fp16 qn_fp32_to_fp16(float f) {
    float base = (fabsf(f) * 0x1.0p+112f) * 0x1.0p-110f;
    const uint32_t w = qn_f32_to_bits(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    base = qn_f32_from_bits((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = qn_f32_to_bits(base);
    const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissa_bits = bits & 0x00000FFFu;
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (qn_fp16)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float qn_bf16_to_fp32(uint16_t h) { return qn_f32_from_bits((uint32_t)h << 16); }

static inline uint16_t qn_fp32_to_bf16(float f) {
    const uint32_t bits = qn_f32_to_bits(f);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 64);
    return (uint16_t)((bits + (0x7fffu + ((bits >> 16) & 1))) >> 16);
}

/* C leaves the conversion of a NaN or out-of-range float to an integer undefined. llama.cpp's
 * reference bytes come from x86-64, where it yields the "integer indefinite" INT32_MIN (reached when
 * 1/d overflows for a block of subnormals); these helpers give that result on every architecture. */
static inline int32_t qn_trunc_to_i32(float x) {
    if (!(fabsf(x) < 2147483648.0f)) return INT32_MIN;
    return (int32_t)x;
}

/* glibc's lroundf as built for x86-64: out of range (and NaN) gives LONG_MIN. */
static inline int64_t qn_lroundf(float x) {
    if (!(fabsf(x) < 9223372036854775808.0f)) return INT64_MIN;
    return (int64_t)lroundf(x);
}

/* Round half to even via the 1.5*2^23 trick; valid for |x| <= 4194303 (ggml's nearest_int). */
static inline int qn_nearest_int(float x) {
    const float v = x + 12582912.f;
    int32_t i;
    memcpy(&i, &v, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Index into an ascending int8 table of the value nearest to x; ties go to the upper index. */
static inline int qn_best_index_int8(int n, const int8_t *val, float x) {
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        const int mav = (ml + mu) / 2;
        if (x < val[mav]) mu = mav; else ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

#ifdef __cplusplus
}
#endif

#endif
