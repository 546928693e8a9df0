/* Type table, CPU detection and the per-path kernel tables. The scalar path is always present;
 * a SIMD path is offered only when CPUID (and the OS) say its instructions can run. */
#include "kernels.h"
#include "simd_kernels.h"
#include "iq_grid.h"

#include <strings.h>

static const qn_type_traits TYPE_TRAITS[QN_TYPE_COUNT] = {
    [QN_F32] = {"f32", 1, 4},       [QN_F16] = {"f16", 1, 2},        [QN_Q4_0] = {"q4_0", 32, 18},
    [QN_Q4_1] = {"q4_1", 32, 20},   [QN_Q5_0] = {"q5_0", 32, 22},    [QN_Q5_1] = {"q5_1", 32, 24},
    [QN_Q8_0] = {"q8_0", 32, 34},   [QN_Q2_K] = {"q2_K", 256, 84},   [QN_Q3_K] = {"q3_K", 256, 110},
    [QN_Q4_K] = {"q4_K", 256, 144}, [QN_Q5_K] = {"q5_K", 256, 176},  [QN_Q6_K] = {"q6_K", 256, 210},
    [QN_IQ4_NL] = {"iq4_nl", 32, 18}, [QN_IQ4_XS] = {"iq4_xs", 256, 136}, [QN_BF16] = {"bf16", 1, 2},
    [QN_TQ1_0] = {"tq1_0", 256, 54}, [QN_TQ2_0] = {"tq2_0", 256, 66},
    [QN_IQ2_XXS] = {"iq2_xxs", 256, 66}, [QN_IQ2_XS] = {"iq2_xs", 256, 74}, [QN_IQ2_S] = {"iq2_s", 256, 82},
    [QN_IQ3_XXS] = {"iq3_xxs", 256, 98}, [QN_IQ3_S] = {"iq3_s", 256, 110}, [QN_IQ1_S] = {"iq1_s", 256, 50},
    [QN_IQ1_M] = {"iq1_m", 256, 56}, [QN_MXFP4] = {"mxfp4", 32, 17}, [QN_NVFP4] = {"nvfp4", 64, 36},
    [QN_Q1_0] = {"q1_0", 128, 18}, [QN_Q2_0] = {"q2_0", 64, 18},
};

const qn_type_traits *qn_type_info(int type) {
    if (type < 0 || type >= QN_TYPE_COUNT || TYPE_TRAITS[type].block_size == 0) return NULL;
    return &TYPE_TRAITS[type];
}

size_t qn_row_size(int type, int64_t n) {
    const qn_type_traits *t = qn_type_info(type);
    if (!t || n <= 0 || n % t->block_size != 0) return 0;
    return (size_t)(n / t->block_size) * (size_t)t->type_size;
}

static const qn_quantize_fn SCALAR_QUANTIZE[QN_TYPE_COUNT] = {
    [QN_F32] = qn_quantize_f32,       [QN_F16] = qn_quantize_f16,       [QN_BF16] = qn_quantize_bf16,
    [QN_Q4_0] = qn_quantize_q4_0,     [QN_Q4_1] = qn_quantize_q4_1,     [QN_Q5_0] = qn_quantize_q5_0,
    [QN_Q5_1] = qn_quantize_q5_1,     [QN_Q8_0] = qn_quantize_q8_0,     [QN_Q2_K] = qn_quantize_q2_K,
    [QN_Q3_K] = qn_quantize_q3_K,     [QN_Q4_K] = qn_quantize_q4_K,     [QN_Q5_K] = qn_quantize_q5_K,
    [QN_Q6_K] = qn_quantize_q6_K,     [QN_IQ4_NL] = qn_quantize_iq4_nl, [QN_IQ4_XS] = qn_quantize_iq4_xs,
    [QN_TQ1_0] = qn_quantize_tq1_0,   [QN_TQ2_0] = qn_quantize_tq2_0,   [QN_IQ2_XXS] = qn_quantize_iq2_xxs,
    [QN_IQ2_XS] = qn_quantize_iq2_xs, [QN_IQ2_S] = qn_quantize_iq2_s,   [QN_IQ3_XXS] = qn_quantize_iq3_xxs,
    [QN_IQ3_S] = qn_quantize_iq3_s,   [QN_IQ1_S] = qn_quantize_iq1_s,   [QN_IQ1_M] = qn_quantize_iq1_m,
    [QN_MXFP4] = qn_quantize_mxfp4,   [QN_NVFP4] = qn_quantize_nvfp4,   [QN_Q1_0] = qn_quantize_q1_0,
    [QN_Q2_0] = qn_quantize_q2_0,
};

static const qn_dequantize_fn DEQUANTIZE[QN_TYPE_COUNT] = {
    [QN_F32] = qn_dequantize_f32,       [QN_F16] = qn_dequantize_f16,       [QN_BF16] = qn_dequantize_bf16,
    [QN_Q4_0] = qn_dequantize_q4_0,     [QN_Q4_1] = qn_dequantize_q4_1,     [QN_Q5_0] = qn_dequantize_q5_0,
    [QN_Q5_1] = qn_dequantize_q5_1,     [QN_Q8_0] = qn_dequantize_q8_0,     [QN_Q2_K] = qn_dequantize_q2_K,
    [QN_Q3_K] = qn_dequantize_q3_K,     [QN_Q4_K] = qn_dequantize_q4_K,     [QN_Q5_K] = qn_dequantize_q5_K,
    [QN_Q6_K] = qn_dequantize_q6_K,     [QN_IQ4_NL] = qn_dequantize_iq4_nl, [QN_IQ4_XS] = qn_dequantize_iq4_xs,
    [QN_TQ1_0] = qn_dequantize_tq1_0,   [QN_TQ2_0] = qn_dequantize_tq2_0,   [QN_IQ2_XXS] = qn_dequantize_iq2_xxs,
    [QN_IQ2_XS] = qn_dequantize_iq2_xs, [QN_IQ2_S] = qn_dequantize_iq2_s,   [QN_IQ3_XXS] = qn_dequantize_iq3_xxs,
    [QN_IQ3_S] = qn_dequantize_iq3_s,   [QN_IQ1_S] = qn_dequantize_iq1_s,   [QN_IQ1_M] = qn_dequantize_iq1_m,
    [QN_MXFP4] = qn_dequantize_mxfp4,   [QN_NVFP4] = qn_dequantize_nvfp4,   [QN_Q1_0] = qn_dequantize_q1_0,
    [QN_Q2_0] = qn_dequantize_q2_0,
};

bool qn_quantize_requires_imatrix(int type) { return type == QN_IQ2_XXS || type == QN_IQ2_XS || type == QN_IQ1_S; }

bool qn_quantize_prepare(int type) {
    int grid;
    switch (type) {
    case QN_IQ2_XXS: grid = QN_GRID_IQ2_XXS; break;
    case QN_IQ2_XS: grid = QN_GRID_IQ2_XS; break;
    case QN_IQ2_S: grid = QN_GRID_IQ2_S; break;
    case QN_IQ1_S: case QN_IQ1_M: grid = QN_GRID_IQ1; break;
    case QN_IQ3_XXS: grid = QN_GRID_IQ3_XXS; break;
    case QN_IQ3_S: grid = QN_GRID_IQ3_S; break;
    default: return true;
    }
    return qn_iq_grid_get(grid) != NULL;
}

static const char *const SIMD_NAMES[QN_SIMD_COUNT] = {"scalar", "avx2", "neon", "avx512"};

const char *qn_simd_name(int simd) { return simd >= 0 && simd < QN_SIMD_COUNT ? SIMD_NAMES[simd] : "unknown"; }

int qn_simd_parse(const char *name) {
    if (!name || !*name || strcasecmp(name, "auto") == 0) return qn_simd_best();
    for (int i = 0; i < QN_SIMD_COUNT; ++i) {
        if (strcasecmp(name, SIMD_NAMES[i]) == 0) return i;
    }
    return -1;
}

static bool cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(_M_X64)
#if defined(__GNUC__)
    __builtin_cpu_init();
    /* __builtin_cpu_supports also requires the OS to save the YMM state (XGETBV). */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
#else
    return false;
#endif
#else
    return false;
#endif
}

static bool cpu_has_avx512(void) {
#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__)
    /* __builtin_cpu_supports also requires the OS to save the ZMM and mask state (XGETBV). */
    return cpu_has_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    return false;
#endif
}

bool qn_simd_available(int simd) {
    switch (simd) {
    case QN_SIMD_SCALAR: return true;
    case QN_SIMD_AVX2: return QN_HAVE_AVX2_BUILD && cpu_has_avx2();
    case QN_SIMD_NEON: return QN_HAVE_NEON_BUILD;
    case QN_SIMD_AVX512: return QN_HAVE_AVX2_BUILD && cpu_has_avx512();
    default: return false;
    }
}

int qn_simd_best(void) {
    for (int s = QN_SIMD_COUNT - 1; s > 0; --s) {
        if (qn_simd_available(s)) return s;
    }
    return QN_SIMD_SCALAR;
}

qn_quantize_fn qn_get_quantize(int simd, int type) {
    if (type < 0 || type >= QN_TYPE_COUNT) return NULL;
    qn_quantize_fn fn = NULL;
    if (simd == QN_SIMD_AVX2 && qn_simd_available(QN_SIMD_AVX2)) fn = qn_avx2_quantize(type);
    if (simd == QN_SIMD_NEON && qn_simd_available(QN_SIMD_NEON)) fn = qn_neon_quantize(type);
    if (simd == QN_SIMD_AVX512 && qn_simd_available(QN_SIMD_AVX512)) fn = qn_avx512_quantize(type);
    return fn ? fn : SCALAR_QUANTIZE[type];
}

qn_dequantize_fn qn_get_dequantize(int simd, int type) {
    if (type < 0 || type >= QN_TYPE_COUNT) return NULL;
    qn_dequantize_fn fn = NULL;
    if ((simd == QN_SIMD_AVX2 || simd == QN_SIMD_AVX512) && qn_simd_available(simd)) fn = qn_avx2_dequantize(type);
    if (simd == QN_SIMD_NEON && qn_simd_available(QN_SIMD_NEON)) fn = qn_neon_dequantize(type);
    return fn ? fn : DEQUANTIZE[type];
}

qn_find_invalid_fn qn_get_find_invalid(int simd, int type) {
    if ((simd == QN_SIMD_AVX2 || simd == QN_SIMD_AVX512) && qn_simd_available(simd)) return qn_avx2_find_invalid(type);
    if (simd == QN_SIMD_NEON && qn_simd_available(QN_SIMD_NEON)) return qn_neon_find_invalid(type);
    return NULL;
}
