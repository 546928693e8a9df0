/* C-level kernel tests: every available SIMD path must produce the scalar reference's bytes, on
 * random and adversarial rows, with and without importance weights. Run with no arguments (or with
 * a path name to test only that path). Exit status 1 on any mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <float.h>

#include "../kernels.h"

static int passed = 0, failed = 0;

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t next_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static float uniform01(void) { return (float)((next_u64() >> 40) + 1) / (float)(1u << 24); }
static float normal(void) {
    const float u = uniform01(), v = uniform01();
    return sqrtf(-2.0f * logf(u)) * cosf(6.28318530718f * v);
}

enum { N_PER_ROW = 1024, NROWS = 6 };

typedef void (*fill_fn)(float *x, int64_t n);

static void fill_normal(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = 0.02f * normal(); }
static void fill_heavy(float *x, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = normal();
        x[i] = 0.02f * g * g * g + ((next_u64() % 97) == 0 ? 3.0f * normal() : 0.0f);
    }
}
static void fill_zero(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = 0.0f; }
static void fill_constant(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = -0.375f; }
static void fill_one_hot(float *x, int64_t n) { fill_zero(x, n); for (int64_t i = 0; i < n; i += 37) x[i] = (i & 1) ? -1.5f : 2.25f; }
static void fill_ties(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = (float)((int)(next_u64() % 33) - 16) / 8.0f; }
static void fill_sign_ties(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = (next_u64() & 1) ? 1.0f : -1.0f; }
static void fill_subnormal(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = normal() * 1e-39f; }
static void fill_tiny(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = normal() * 1e-20f; }
static void fill_f16_max(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = (next_u64() & 1 ? 1 : -1) * (60000.0f + 5600.0f * uniform01()); }
static void fill_huge(float *x, int64_t n) { for (int64_t i = 0; i < n; ++i) x[i] = normal() * 1e30f; }
static void fill_nonfinite(float *x, int64_t n) {
    fill_normal(x, n);
    for (int64_t i = 0; i < n; i += 53) {
        const uint64_t r = next_u64() % 3;
        x[i] = r == 0 ? INFINITY : r == 1 ? -INFINITY : NAN;
    }
}

static const struct { const char *name; fill_fn fill; } DATA[] = {
    {"normal", fill_normal}, {"heavy-tailed", fill_heavy}, {"zeros", fill_zero}, {"constant", fill_constant},
    {"one-hot", fill_one_hot}, {"ties", fill_ties}, {"sign ties", fill_sign_ties}, {"subnormal", fill_subnormal},
    {"tiny", fill_tiny}, {"near f16 max", fill_f16_max}, {"huge", fill_huge}, {"nan/inf", fill_nonfinite},
};

static const int TYPES[] = {QN_F32, QN_F16, QN_BF16, QN_Q4_0, QN_Q4_1, QN_Q5_0, QN_Q5_1, QN_Q8_0, QN_Q2_K,
                            QN_Q3_K, QN_Q4_K, QN_Q5_K, QN_Q6_K, QN_IQ4_NL, QN_IQ4_XS, QN_TQ1_0, QN_TQ2_0,
                            QN_IQ2_XXS, QN_IQ2_XS, QN_IQ2_S, QN_IQ3_XXS, QN_IQ3_S, QN_IQ1_S, QN_IQ1_M,
                            QN_MXFP4, QN_NVFP4, QN_Q1_0, QN_Q2_0};

static const char *const IMATRIX_NAMES[] = {"", ", imatrix", ", signed imatrix"};

static void check(bool ok, const char *what, const char *simd, const char *type, const char *data, int imx) {
    if (ok) {
        ++passed;
        return;
    }
    ++failed;
    printf("FAIL %s: %s vs scalar, %s, %s data%s\n", what, simd, type, data, IMATRIX_NAMES[imx]);
}

/* Importance weights: llama-imatrix's kind (non-negative, some zero), and an adversarial kind no file should hold
 * (small integers of both signs, whole sub-blocks of zeros) whose sums cancel exactly, reaching the searches'
 * zero and negative denominators. */
static void fill_imatrices(float imatrix[3][N_PER_ROW]) {
    for (int j = 0; j < N_PER_ROW; ++j) {
        imatrix[1][j] = (j % 11 == 0) ? 0.0f : uniform01() * 4.0f;
        imatrix[2][j] = (j / 32) % 5 == 3 ? 0.0f : (float)((int)(next_u64() % 5) - 2);
    }
}

static void test_simd_paths(int only) {
    const int64_t n = (int64_t)NROWS * N_PER_ROW;
    float *x = malloc(sizeof(float) * n);
    float imatrix[3][N_PER_ROW];
    uint8_t *ref = malloc(8 * n), *out = malloc(8 * n);
    for (int s = 1; s < QN_SIMD_COUNT; ++s) {
        if (!qn_simd_available(s) || (only >= 0 && s != only)) continue;
        for (size_t d = 0; d < sizeof(DATA) / sizeof(DATA[0]); ++d) {
            DATA[d].fill(x, n);
            fill_imatrices(imatrix);
            for (size_t t = 0; t < sizeof(TYPES) / sizeof(TYPES[0]); ++t) {
                const int type = TYPES[t];
                const size_t bytes = qn_row_size(type, N_PER_ROW) * NROWS;
                for (int imx = qn_quantize_requires_imatrix(type); imx < 3; ++imx) {
                    memset(ref, 0xAB, bytes);
                    memset(out, 0xCD, bytes);
                    qn_get_quantize(QN_SIMD_SCALAR, type)(x, ref, NROWS, N_PER_ROW, imx ? imatrix[imx] : NULL);
                    qn_get_quantize(s, type)(x, out, NROWS, N_PER_ROW, imx ? imatrix[imx] : NULL);
                    check(memcmp(ref, out, bytes) == 0, "quantize", qn_simd_name(s), qn_type_info(type)->name, DATA[d].name, imx);
                }
            }
        }
    }
    free(x);
    free(ref);
    free(out);
}

/* Dequantizers and row checks of each path against the scalar ones. */
static void test_conversions(int only) {
    static uint16_t halves[65536];
    static float a[65536], b[65536];
    for (uint32_t h = 0; h < 65536; ++h) halves[h] = (uint16_t)h;
    const int float_types[3] = {QN_F32, QN_F16, QN_BF16};
    for (int s = 1; s < QN_SIMD_COUNT; ++s) {
        if (!qn_simd_available(s) || (only >= 0 && s != only)) continue;
        for (int t = 1; t < 3; ++t) {
            qn_get_dequantize(QN_SIMD_SCALAR, float_types[t])(halves, a, 65536);
            qn_get_dequantize(s, float_types[t])(halves, b, 65536);
            check(memcmp(a, b, sizeof(a)) == 0, "dequantize every bit pattern", qn_simd_name(s), qn_type_info(float_types[t])->name, "all patterns", 0);
        }
        enum { ROWS = 7, COLS = 1003 }; /* odd row length: the vector loops' tails are checked too */
        static uint8_t data[ROWS * COLS * 4];
        for (int t = 0; t < 3; ++t) {
            const int type = float_types[t];
            const int bytes = t == 0 ? 4 : 2;
            qn_find_invalid_fn fn = qn_get_find_invalid(s, type);
            if (!fn) continue;
            bool ok = true;
            for (int trial = 0; trial < 200; ++trial) {
                for (int i = 0; i < ROWS * COLS; ++i) {
                    const float v = 0.5f * normal();
                    if (bytes == 4) memcpy(data + 4 * i, &v, 4);
                    else {
                        const uint16_t h = t == 1 ? qn_fp32_to_fp16(v) : qn_fp32_to_bf16(v);
                        memcpy(data + 2 * i, &h, 2);
                    }
                }
                if (trial % 5 != 0) {
                    const int at = (int)(next_u64() % (ROWS * COLS));
                    const float bad = (trial & 1) ? NAN : -INFINITY;
                    if (bytes == 4) memcpy(data + 4 * at, &bad, 4);
                    else {
                        const uint16_t h = t == 1 ? qn_fp32_to_fp16(bad) : qn_fp32_to_bf16(bad);
                        memcpy(data + 2 * at, &h, 2);
                    }
                }
                ok = ok && fn(data, ROWS, COLS) == qn_find_invalid_row(type, data, ROWS, COLS);
            }
            check(ok, "first invalid row", qn_simd_name(s), qn_type_info(type)->name, "NaN/Inf at random places", 0);
        }
    }
}

/* FNV-1a over every valid scalar output row: equal digests on two architectures mean equal bytes. */
static uint64_t scalar_digest(void) {
    const int64_t n = (int64_t)NROWS * N_PER_ROW;
    float *x = malloc(sizeof(float) * n);
    float imatrix[N_PER_ROW];
    uint8_t *out = malloc(8 * n);
    uint64_t h = 0xcbf29ce484222325ull;
    rng_state = 0x1234567ull;
    for (size_t d = 0; d < sizeof(DATA) / sizeof(DATA[0]); ++d) {
        DATA[d].fill(x, n);
        for (int j = 0; j < N_PER_ROW; ++j) imatrix[j] = (j % 11 == 0) ? 0.0f : uniform01() * 4.0f;
        for (size_t t = 0; t < sizeof(TYPES) / sizeof(TYPES[0]); ++t) {
            for (int imx = qn_quantize_requires_imatrix(TYPES[t]); imx < 2; ++imx) {
                qn_get_quantize(QN_SIMD_SCALAR, TYPES[t])(x, out, NROWS, N_PER_ROW, imx ? imatrix : NULL);
                /* Rows llama.cpp rejects (NaN/Inf scales: the NaN's sign is CPU-specific) never reach a file. */
                const size_t row = qn_row_size(TYPES[t], N_PER_ROW);
                for (int r = 0; r < NROWS; ++r) {
                    if (qn_find_invalid_row(TYPES[t], out + r * row, 1, N_PER_ROW) >= 0) continue;
                    for (size_t i = r * row; i < (r + 1) * row; ++i) h = (h ^ out[i]) * 0x100000001b3ull;
                }
            }
        }
    }
    free(x);
    free(out);
    return h;
}

/* Properties of the fp16 conversions that ggml's bytes rely on. */
static void test_fp16(void) {
    bool roundtrip = true, nan_ok = true;
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = qn_fp16_to_fp32((qn_fp16)h);
        const bool is_nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
        const qn_fp16 back = qn_fp32_to_fp16(f);
        if (is_nan) nan_ok = nan_ok && back == ((h & 0x8000) | 0x7E00);
        else roundtrip = roundtrip && back == h;
    }
    check(roundtrip, "fp16 round trip of every finite and infinite half", "scalar", "f16", "all halves", 0);
    check(nan_ok, "fp16 NaN canonicalisation", "scalar", "f16", "NaN halves", 0);
    /* Ties round to even: 1 + 2^-11 lies halfway between 1 and the next half. */
    check(qn_fp32_to_fp16(1.0f + 0x1p-11f) == 0x3C00 && qn_fp32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3C02,
          "fp16 ties to even", "scalar", "f16", "ties", 0);
    check(qn_fp32_to_fp16(65520.0f) == 0x7C00 && qn_fp32_to_fp16(65519.0f) == 0x7BFF, "fp16 overflow threshold",
          "scalar", "f16", "edge", 0);
}

int main(int argc, char **argv) {
    int only = -1;
    if (argc > 1) {
        only = qn_simd_parse(argv[1]);
        if (only < 0 || !qn_simd_available(only)) {
            printf("SIMD path '%s' is not available here\n", argv[1]);
            return 2;
        }
    }
    printf("available paths:");
    for (int s = 0; s < QN_SIMD_COUNT; ++s) if (qn_simd_available(s)) printf(" %s", qn_simd_name(s));
    printf("\n");
    test_fp16();
    test_simd_paths(only);
    test_conversions(only);
    printf("scalar digest: %016llx\n", (unsigned long long)scalar_digest());
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
