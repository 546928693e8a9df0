/* AVX2 twins of the legacy reference quantizers Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (quant_legacy.c).
 *
 * Each reduces a block to its largest magnitude, or to its min and max, which are order-independent
 * for finite values, so a block is vectorised across its 32 elements and eight blocks share the
 * divisions and fp16 conversions of their scales. A block holding NaN or Inf (where ggml's sequential
 * compare order would decide the result) is handed to the scalar reference. */
#include "simd_kernels.h"

#if QN_HAVE_AVX2_BUILD
#include "avx2_util.h"

static inline bool block_is_finite(const __m256 v[4]) {
    const __m256i exp_mask = _mm256_set1_epi32(0x7f800000);
    __m256i any = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
        const __m256i e = _mm256_and_si256(_mm256_castps_si256(v[k]), exp_mask);
        any = _mm256_or_si256(any, _mm256_cmpeq_epi32(e, exp_mask));
    }
    return _mm256_testz_si256(any, any);
}

/* Keeps the low byte of each of 32 int32 lanes (4 vectors, elements in order), as C's int -> int8_t
 * conversion does; that matters when 1/d overflows and the conversion yields INT32_MIN. */
static inline __m256i pack_low_bytes(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i lo8 = _mm256_set1_epi32(0xFF);
    const __m256i ab = _mm256_packus_epi32(_mm256_and_si256(a, lo8), _mm256_and_si256(b, lo8));
    const __m256i cd = _mm256_packus_epi32(_mm256_and_si256(c, lo8), _mm256_and_si256(d, lo8));
    const __m256i abcd = _mm256_packus_epi16(ab, cd);
    /* Undo the in-lane interleaving of the two pack steps. */
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* Eight horizontal maxima at once: r[b] = max over the lanes of m[b]. */
static inline __m256 hmax8x8(const __m256 m[8]) {
    __m256 a[4], b[2];
    for (int k = 0; k < 4; ++k) {
        const __m256 lo = _mm256_unpacklo_ps(m[2 * k], m[2 * k + 1]), hi = _mm256_unpackhi_ps(m[2 * k], m[2 * k + 1]);
        a[k] = _mm256_max_ps(lo, hi); /* lanes: b2k, b2k+1 interleaved */
    }
    for (int k = 0; k < 2; ++k) {
        const __m256 lo = _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(a[2 * k]), _mm256_castps_pd(a[2 * k + 1])));
        const __m256 hi = _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(a[2 * k]), _mm256_castps_pd(a[2 * k + 1])));
        b[k] = _mm256_max_ps(lo, hi); /* per 128-bit half: blocks 4k..4k+3 */
    }
    const __m256 lo = _mm256_permute2f128_ps(b[0], b[1], 0x20), hi = _mm256_permute2f128_ps(b[0], b[1], 0x31);
    return _mm256_max_ps(lo, hi); /* lane j: block j */
}

static inline void load_block(const float *x, __m256 v[4]) {
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
}

static inline __m256 block_absmax(const __m256 v[4]) {
    return _mm256_max_ps(_mm256_max_ps(vabs(v[0]), vabs(v[1])), _mm256_max_ps(vabs(v[2]), vabs(v[3])));
}

/* The largest magnitude of each of eight consecutive blocks; false when any holds NaN or Inf. */
static inline bool group_absmax(const float *x, __m256 *amax) {
    __m256 m[8];
    bool finite = true;
    for (int b = 0; b < 8; ++b) {
        __m256 v[4];
        load_block(x + 32 * b, v);
        finite = finite && block_is_finite(v);
        m[b] = block_absmax(v);
    }
    *amax = hmax8x8(m);
    return finite;
}

/* Eight finite scales d to fp16 (F16C rounds finite values exactly as ggml's conversion does) and
 * their inverses (0 where d is 0), as the reference computes them. */
static inline void group_scales(__m256 d, uint16_t dh[8], float ids[8]) {
    const __m256 id = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), d), _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ));
    _mm_storeu_si128((__m128i *)dh, _mm256_cvtps_ph(d, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    _mm256_storeu_ps(ids, id);
}

static inline void q8_0_block_avx2(const __m256 v[4], float id, block_q8_0 *y) {
    const __m256 vid = _mm256_set1_ps(id);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) q[k] = _mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v[k], vid)));
    _mm256_storeu_si256((__m256i *)y->qs, pack_low_bytes(q[0], q[1], q[2], q[3]));
}

/* Eight blocks at a time: the divisions and the fp16 conversion of d are done for all eight in one vector. */
static void q8_0_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    const int64_t nb = nrow * (n_per_row / QK32);
    block_q8_0 *y = (block_q8_0 *)dst;
    int64_t ib = 0;
    for (; ib + 8 <= nb; ib += 8) {
        const float *x = src + QK32 * ib;
        __m256 amax;
        if (!group_absmax(x, &amax)) {
            qn_quantize_q8_0(x, y + ib, 1, 8 * QK32, NULL);
            continue;
        }
        uint16_t dh[8];
        float ids[8];
        group_scales(_mm256_div_ps(amax, _mm256_set1_ps(127.0f)), dh, ids);
        for (int b = 0; b < 8; ++b) {
            __m256 v[4];
            load_block(x + 32 * b, v);
            y[ib + b].d = dh[b];
            q8_0_block_avx2(v, ids[b], y + ib + b);
        }
    }
    for (; ib < nb; ++ib) {
        const float *x = src + QK32 * ib;
        __m256 v[4];
        load_block(x, v);
        if (!block_is_finite(v)) {
            qn_quantize_q8_0(x, y + ib, 1, QK32, NULL);
            continue;
        }
        const float d = hmax8(block_absmax(v)) / 127;
        y[ib].d = qn_fp32_to_fp16(d);
        q8_0_block_avx2(v, d ? 1.0f / d : 0.0f, y + ib);
    }
}

/* The reference keeps the sign of the first element reaching the largest magnitude amax. */
static inline float first_at_magnitude(const float *x, const __m256 v[4], float amax) {
    if (!(amax > 0.0f)) return 0.0f;
    const __m256 va = _mm256_set1_ps(amax);
    uint32_t mask = 0;
    for (int k = 0; k < 4; ++k) mask |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(vabs(v[k]), va, _CMP_EQ_OQ)) << (8 * k);
    return x[__builtin_ctz(mask)];
}

/* Levels of one Q4_1/Q5_1 block as the reference computes them: t = trunc((v - min) * id + 0.5), with C's
 * float -> int8 conversion (low byte, sign-extended) and its clamp to 15 for Q4_1; Q5_1 keeps the low byte. */
static inline void min_levels(const __m256 v[4], float id, float min, int clamp_max, __m256i q[4]) {
    const __m256 vid = _mm256_set1_ps(id), vb = _mm256_set1_ps(0.5f), vmin = _mm256_set1_ps(min);
    for (int k = 0; k < 4; ++k) {
        q[k] = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(_mm256_sub_ps(v[k], vmin), vid), vb));
        if (clamp_max > 0) q[k] = _mm256_min_epi32(_mm256_srai_epi32(_mm256_slli_epi32(q[k], 24), 24), _mm256_set1_epi32(clamp_max));
    }
}

/* 4-bit packing: byte j = low 8 bits of (q[j] | q[j + 16] << 4), as the reference's uint8 arithmetic. */
static inline void pack_nibbles_avx2(const __m256i q[4], uint8_t *qs) {
    const __m256i lo8 = _mm256_set1_epi32(0xFF);
    const __m256i r0 = _mm256_and_si256(_mm256_or_si256(q[0], _mm256_slli_epi32(q[2], 4)), lo8);
    const __m256i r1 = _mm256_and_si256(_mm256_or_si256(q[1], _mm256_slli_epi32(q[3], 4)), lo8);
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(r0, r1), 0xD8);
    _mm_storeu_si128((__m128i *)qs, _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
}

/* 5-bit packing: low nibbles as Q4 (masked), bit 4 of element j in bit j of qh. */
static inline void pack_5bit_avx2(const __m256i q[4], uint8_t *qs, uint8_t *qh) {
    const __m256i nib = _mm256_set1_epi32(0x0F);
    __m256i low[4];
    uint32_t h = 0;
    for (int k = 0; k < 4; ++k) {
        low[k] = _mm256_and_si256(q[k], nib);
        h |= (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_slli_epi32(q[k], 27))) << (8 * k);
    }
    pack_nibbles_avx2(low, qs);
    memcpy(qh, &h, 4);
}

/* Minimum and maximum of each of eight consecutive blocks, lane b holding block b. */
static inline void group_min_max(const float *x, __m256 *vmin, __m256 *vmax) {
    __m256 lo[8], hi[8];
    for (int b = 0; b < 8; ++b) {
        __m256 v[4];
        load_block(x + 32 * b, v);
        lo[b] = _mm256_min_ps(_mm256_min_ps(v[0], v[1]), _mm256_min_ps(v[2], v[3]));
        hi[b] = _mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3]));
    }
    *vmax = hmax8x8(hi);
    for (int b = 0; b < 8; ++b) lo[b] = _mm256_sub_ps(_mm256_setzero_ps(), lo[b]);
    *vmin = _mm256_sub_ps(_mm256_setzero_ps(), hmax8x8(lo));
}

/* Q4_0 or Q5_0 on eight blocks in one pass. The reference's max is the first element of largest
 * magnitude; from each block's min and max that is max when max > -min and min when -min > max; only a
 * block holding both +a and -a needs its elements scanned. While every level t = trunc(x * id + bias)
 * lies in 0..127 the reference's int8 conversion is the identity and its clamp is min(t, 15 or 31). For
 * finite blocks with a normal d, t lies in 0..16 (0..32); any t outside 0..127 (from a NaN or Inf
 * element, or a subnormal d) sends the group back to the reference: returns false then. */
QN_ALWAYS_INLINE bool signed_group8(const float *x, uint8_t *y, bool five) {
    __m256 vmin, vmax;
    group_min_max(x, &vmin, &vmax);
    const __m256 neg_min = _mm256_sub_ps(_mm256_setzero_ps(), vmin);
    const __m256 amax = _mm256_max_ps(vmax, neg_min);
    __m256 max = _mm256_blendv_ps(vmin, vmax, _mm256_cmp_ps(vmax, neg_min, _CMP_GT_OQ));
    const __m256 tie = _mm256_cmp_ps(vmax, neg_min, _CMP_EQ_OQ);
    max = _mm256_andnot_ps(tie, max);
    int ties = _mm256_movemask_ps(_mm256_and_ps(tie, _mm256_cmp_ps(amax, _mm256_setzero_ps(), _CMP_GT_OQ)));
    if (ties) {
        float m[8], a[8];
        _mm256_storeu_ps(m, max);
        _mm256_storeu_ps(a, amax);
        for (; ties; ties &= ties - 1) {
            const int b = __builtin_ctz((unsigned)ties);
            __m256 v[4];
            load_block(x + 32 * b, v);
            m[b] = first_at_magnitude(x + 32 * b, v, a[b]);
        }
        max = _mm256_loadu_ps(m);
    }
    uint16_t dh[8];
    float ids[8];
    group_scales(_mm256_div_ps(max, _mm256_set1_ps(five ? -16.0f : -8.0f)), dh, ids);
    const size_t bytes = five ? sizeof(block_q5_0) : sizeof(block_q4_0);
    const __m256 bias = _mm256_set1_ps(five ? 16.5f : 8.5f);
    const __m256i top = _mm256_set1_epi8(five ? 31 : 15);
    const __m256i order = _mm256_setr_epi32(0, 4, 2, 6, 1, 5, 3, 7);
    __m256i bad = _mm256_setzero_si256();
    for (int b = 0; b < 8; ++b) {
        __m256 v[4];
        __m256i t[4];
        load_block(x + 32 * b, v);
        const __m256 id = _mm256_broadcast_ss(ids + b);
        for (int k = 0; k < 4; ++k) t[k] = _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[k], id), bias));
        /* Bytes of lane 0 are elements 0-3 16-19 8-11 24-27, lane 1 the next fours; `order` restores
         * element order by dwords. */
        const __m256i ac = _mm256_packs_epi32(t[0], t[2]), bd = _mm256_packs_epi32(t[1], t[3]);
        bad = _mm256_or_si256(bad, _mm256_or_si256(ac, bd));
        const __m256i q = _mm256_min_epu8(_mm256_packus_epi16(ac, bd), top);
        uint8_t *blk = y + (size_t)b * bytes;
        memcpy(blk, dh + b, sizeof(qn_fp16)); /* d leads both block types */
        if (five) {
            /* Element j's fifth bit is bit j of qh; the low nibbles of j and j + 16 share qs[j]. */
            const __m256i inorder = _mm256_permutevar8x32_epi32(q, order);
            const uint32_t qh = (uint32_t)_mm256_movemask_epi8(_mm256_slli_epi16(inorder, 3));
            const __m256i low = _mm256_and_si256(inorder, _mm256_set1_epi8(0x0F));
            const __m128i qs = _mm_or_si128(_mm256_castsi256_si128(low), _mm_slli_epi16(_mm256_extracti128_si256(low, 1), 4));
            memcpy(((block_q5_0 *)blk)->qh, &qh, 4);
            _mm_storeu_si128((__m128i *)((block_q5_0 *)blk)->qs, qs);
        } else {
            /* Element j pairs with j + 16 four bytes further on: one shift joins them, `order` packs them. */
            const __m256i pairs = _mm256_or_si256(q, _mm256_srli_epi64(q, 28));
            _mm_storeu_si128((__m128i *)((block_q4_0 *)blk)->qs, _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(pairs, order)));
        }
    }
    return _mm256_testz_si256(bad, _mm256_set1_epi16((short)0xFF80));
}

/* Q4_0 and Q5_0: d = max / -divisor from the first element of largest magnitude. Eight blocks at a time;
 * the few blocks left at the end of a call go to the reference. */
static void signed_max_avx2(int type, const float *src, void *dst, int64_t nrow, int64_t n_per_row) {
    const bool five = type == QN_Q5_0;
    const size_t bytes = five ? sizeof(block_q5_0) : sizeof(block_q4_0);
    const qn_quantize_fn reference = five ? qn_quantize_q5_0 : qn_quantize_q4_0;
    const int64_t nb = nrow * (n_per_row / QK32);
    uint8_t *y = (uint8_t *)dst;
    int64_t ib = 0;
    for (; ib + 8 <= nb; ib += 8) {
        const float *x = src + QK32 * ib;
        const bool ok = five ? signed_group8(x, y + ib * bytes, true) : signed_group8(x, y + ib * bytes, false);
        if (!ok) reference(x, y + ib * bytes, 1, 8 * QK32, NULL);
    }
    if (ib < nb) reference(src + QK32 * ib, y + ib * bytes, 1, (nb - ib) * QK32, NULL);
}

static inline float hmin8(__m256 m) {
    __m128 r = _mm_min_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    r = _mm_min_ps(r, _mm_movehl_ps(r, r));
    r = _mm_min_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

/* Q4_1 and Q5_1: min and max of each block (order-independent for finite values), d = (max - min) / 15 or 31. */
static void min_max_avx2(int type, const float *src, void *dst, int64_t nrow, int64_t n_per_row) {
    const bool five = type == QN_Q5_1;
    const float levels = five ? 31.0f : 15.0f;
    const size_t bytes = five ? sizeof(block_q5_1) : sizeof(block_q4_1);
    const qn_quantize_fn reference = five ? qn_quantize_q5_1 : qn_quantize_q4_1;
    const int64_t nb = nrow * (n_per_row / QK32);
    uint8_t *y = (uint8_t *)dst;
    for (int64_t ib = 0; ib < nb;) {
        const float *x = src + QK32 * ib;
        const int group = nb - ib >= 8 ? 8 : 1;
        float mins[8] = {0}, maxs[8] = {0}, ids[8];
        uint16_t dh[8], mh[8];
        bool finite = true;
        for (int b = 0; b < group; ++b) {
            __m256 v[4];
            load_block(x + 32 * b, v);
            finite = finite && block_is_finite(v);
            mins[b] = hmin8(_mm256_min_ps(_mm256_min_ps(v[0], v[1]), _mm256_min_ps(v[2], v[3])));
            maxs[b] = hmax8(_mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3])));
        }
        if (!finite) {
            reference(x, y + ib * bytes, 1, group * QK32, NULL);
            ib += group;
            continue;
        }
        const __m256 vmin = _mm256_loadu_ps(mins);
        group_scales(_mm256_div_ps(_mm256_sub_ps(_mm256_loadu_ps(maxs), vmin), _mm256_set1_ps(levels)), dh, ids);
        _mm_storeu_si128((__m128i *)mh, _mm256_cvtps_ph(vmin, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
        for (int b = 0; b < group; ++b) {
            __m256 v[4];
            __m256i q[4];
            load_block(x + 32 * b, v);
            min_levels(v, ids[b], mins[b], five ? 0 : 15, q);
            uint8_t *blk = y + (ib + b) * bytes;
            if (five) {
                ((block_q5_1 *)blk)->d = dh[b];
                ((block_q5_1 *)blk)->m = mh[b];
                pack_5bit_avx2(q, ((block_q5_1 *)blk)->qs, ((block_q5_1 *)blk)->qh);
            } else {
                ((block_q4_1 *)blk)->d = dh[b];
                ((block_q4_1 *)blk)->m = mh[b];
                pack_nibbles_avx2(q, ((block_q4_1 *)blk)->qs);
            }
        }
        ib += group;
    }
}

/* TQ1_0/TQ2_0: d is the block's largest magnitude; trit = lroundf(x * id) + 1, keeping the low byte
 * (x86-64's lroundf gives LONG_MIN out of range, whose low bits plus one are 1, as INT32_MIN + 1's). */
static void ternary_avx2(int type, const float *src, void *dst, int64_t nrow, int64_t n_per_row) {
    const int64_t nb = nrow * (n_per_row / QK_K);
    uint8_t t[QK_K];
    for (int64_t i = 0; i < nb; ++i) {
        const float *x = src + QK_K * i;
        __m256 v[32];
        __m256i any = _mm256_setzero_si256();
        __m256 m = _mm256_setzero_ps();
        const __m256i e = _mm256_set1_epi32(0x7f800000);
        for (int k = 0; k < 32; ++k) {
            v[k] = _mm256_loadu_ps(x + 8 * k);
            any = _mm256_or_si256(any, _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_castps_si256(v[k]), e), e));
            m = _mm256_max_ps(m, vabs(v[k]));
        }
        if (!_mm256_testz_si256(any, any)) {
            const size_t bytes = type == QN_TQ1_0 ? sizeof(block_tq1_0) : sizeof(block_tq2_0);
            (type == QN_TQ1_0 ? qn_quantize_tq1_0 : qn_quantize_tq2_0)(x, (uint8_t *)dst + (size_t)i * bytes, 1, QK_K, NULL);
            continue;
        }
        const float d = hmax8(m);
        const float id = d ? 1.0f / d : 0.0f;
        const __m256 vid = _mm256_set1_ps(id);
        const __m256i one = _mm256_set1_epi32(1);
        for (int k = 0; k < 32; k += 4) {
            __m256i q[4];
            for (int j = 0; j < 4; ++j) q[j] = _mm256_add_epi32(_mm256_cvttps_epi32(round_half_away(_mm256_mul_ps(v[k + j], vid))), one);
            _mm256_storeu_si256((__m256i *)(t + 8 * k), pack_low_bytes(q[0], q[1], q[2], q[3]));
        }
        qn_tq_store(type, d, t, dst, i);
    }
}

static void tq1_0_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    ternary_avx2(QN_TQ1_0, src, dst, nrow, n_per_row);
}

static void tq2_0_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) {
    (void)imatrix;
    ternary_avx2(QN_TQ2_0, src, dst, nrow, n_per_row);
}

/* Without an imatrix these run here; the weighted searches run in the lane kernels (quant_k_avx2.c). */
#define LEGACY_AVX2(name, TYPE, body)                                                                         \
    static void name##_avx2(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix) { \
        if (imatrix) qn_avx2_k_quantize(TYPE)(src, dst, nrow, n_per_row, imatrix);                            \
        else body(TYPE, src, dst, nrow, n_per_row);                                                           \
    }

LEGACY_AVX2(q4_0, QN_Q4_0, signed_max_avx2)
LEGACY_AVX2(q5_0, QN_Q5_0, signed_max_avx2)
LEGACY_AVX2(q4_1, QN_Q4_1, min_max_avx2)
LEGACY_AVX2(q5_1, QN_Q5_1, min_max_avx2)

qn_quantize_fn qn_avx2_quantize(int type) {
    switch (type) {
    case QN_Q8_0: return q8_0_avx2;
    case QN_Q4_0: return q4_0_avx2;
    case QN_Q5_0: return q5_0_avx2;
    case QN_Q4_1: return q4_1_avx2;
    case QN_Q5_1: return q5_1_avx2;
    case QN_TQ1_0: return tq1_0_avx2;
    case QN_TQ2_0: return tq2_0_avx2;
    case QN_F16: return qn_avx2_convert_quantize(type);
    case QN_MXFP4: case QN_NVFP4: return qn_avx2_fp4_quantize(type);
    case QN_Q1_0: case QN_Q2_0: return qn_avx2_low_bit_quantize(type);
    default: return qn_avx2_k_quantize(type);
    }
}

#else

qn_quantize_fn qn_avx2_quantize(int type) { (void)type; return NULL; }

#endif
