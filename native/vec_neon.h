/* The vector layer of the lane kernels, NEON (AArch64): 4 float lanes, same contract as vec_avx2.h. */
#ifndef QN_VEC_NEON_H
#define QN_VEC_NEON_H

#include <arm_neon.h>

#define QN_LANES 4

typedef float32x4_t vf;
typedef int32x4_t vi;
typedef uint32x4_t vm;

static inline vf vf_load(const float *p) { return vld1q_f32(p); }
static inline void vf_store(float *p, vf a) { vst1q_f32(p, a); }
static inline vf vf_set(float a) { return vdupq_n_f32(a); }
static inline vf vf_add(vf a, vf b) { return vaddq_f32(a, b); }
static inline vf vf_sub(vf a, vf b) { return vsubq_f32(a, b); }
/* For finite operands only (NaN and signed-zero rules differ between ISAs). */
static inline vf vf_min(vf a, vf b) { return vminq_f32(a, b); }
static inline vf vf_max(vf a, vf b) { return vmaxq_f32(a, b); }
/* The larger of x and acc, acc where x is NaN (acc never is NaN). */
static inline vf vf_max_num(vf x, vf acc) { return vmaxnmq_f32(x, acc); }
static inline vf vf_min_num(vf x, vf acc) { return vminnmq_f32(x, acc); }
static inline vf vf_mul(vf a, vf b) { return vmulq_f32(a, b); }
static inline vf vf_div(vf a, vf b) { return vdivq_f32(a, b); }
static inline vf vf_sqrt(vf a) { return vsqrtq_f32(a); }
static inline vf vf_abs(vf a) { return vabsq_f32(a); }
static inline vf vf_neg(vf a) { return vnegq_f32(a); }
static inline vm vf_lt(vf a, vf b) { return vcltq_f32(a, b); }
static inline vm vf_gt(vf a, vf b) { return vcgtq_f32(a, b); }
static inline vm vf_le(vf a, vf b) { return vcleq_f32(a, b); }
static inline vm vf_ge(vf a, vf b) { return vcgeq_f32(a, b); }
static inline vm vf_eq(vf a, vf b) { return vceqq_f32(a, b); }
static inline vm vf_ne(vf a, vf b) { return vmvnq_u32(vceqq_f32(a, b)); }
static inline vf vf_select(vm m, vf a, vf b) { return vbslq_f32(m, a, b); }
static inline vm vm_and(vm a, vm b) { return vandq_u32(a, b); }
static inline vm vm_or(vm a, vm b) { return vorrq_u32(a, b); }
/* b and not a */
static inline vm vm_andnot(vm a, vm b) { return vbicq_u32(b, a); }
static inline vm vm_none(void) { return vdupq_n_u32(0); }
static inline int vm_any(vm m) { return vmaxvq_u32(m) != 0; }
/* Bit k set where lane k is true. */
static inline unsigned vm_bits(vm m) {
    const uint32_t weights[4] = {1, 2, 4, 8};
    return vaddvq_u32(vandq_u32(m, vld1q_u32(weights)));
}

static inline vi vi_set(int a) { return vdupq_n_s32(a); }
static inline vi vi_load(const int32_t *p) { return vld1q_s32(p); }
static inline void vi_store(int32_t *p, vi a) { vst1q_s32(p, a); }
static inline vi vi_add(vi a, vi b) { return vaddq_s32(a, b); }
static inline vi vi_and(vi a, vi b) { return vandq_s32(a, b); }
static inline vi vi_or(vi a, vi b) { return vorrq_s32(a, b); }
static inline vi vi_shl(vi a, int n) { return vshlq_s32(a, vdupq_n_s32(n)); }
/* Arithmetic (sign-filling) shift right. */
static inline vi vi_sar(vi a, int n) { return vshlq_s32(a, vdupq_n_s32(-n)); }
/* 4 bytes (0..255) to lanes. */
static inline vi vi_load_u8(const uint8_t *p) {
    uint32_t w;
    memcpy(&w, p, 4);
    return vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(vmovl_u8(vreinterpret_u8_u32(vdup_n_u32(w))))));
}
static inline vi vi_sub(vi a, vi b) { return vsubq_s32(a, b); }
static inline vi vi_min(vi a, vi b) { return vminq_s32(a, b); }
static inline vi vi_max(vi a, vi b) { return vmaxq_s32(a, b); }
static inline vi vi_select(vm m, vi a, vi b) { return vbslq_s32(m, a, b); }
static inline vm vi_ne(vi a, vi b) { return vmvnq_u32(vceqq_s32(a, b)); }
static inline vm vi_eq(vi a, vi b) { return vceqq_s32(a, b); }
static inline vm vi_lt(vi a, vi b) { return vcltq_s32(a, b); }
/* base[idx] per lane (NEON has no gather: four loads). */
static inline vi vi_gather(const int32_t *base, vi idx) {
    int32_t i[4];
    vst1q_s32(i, idx);
    const int32_t r[4] = {base[i[0]], base[i[1]], base[i[2]], base[i[3]]};
    return vld1q_s32(r);
}
static inline vf vf_gather(const float *base, vi idx) {
    int32_t i[4];
    vst1q_s32(i, idx);
    const float r[4] = {base[i[0]], base[i[1]], base[i[2]], base[i[3]]};
    return vld1q_f32(r);
}
static inline vf vi_to_vf(vi a) { return vcvtq_f32_s32(a); }
/* Stores the low bytes of 4 lanes holding 0..255. */
static inline void vi_store_u8(uint8_t *p, vi a) {
    const uint16x4_t h = vmovn_u32(vreinterpretq_u32_s32(a));
    const uint8x8_t b = vmovn_u16(vcombine_u16(h, h));
    vst1_lane_u32((uint32_t *)p, vreinterpret_u32_u8(b), 0);
}
/* Stores the 4 * 4 lanes of a, b, c, d (in that order) as bytes, each clamped to lo..hi (within -128..127)
 * and offset. The narrowing saturates, which keeps the order of values, so clamping after it is clamping before. */
static inline void vi_store_levels4(uint8_t *p, vi a, vi b, vi c, vi d, int lo, int hi, int offset) {
    const int8x8_t ab = vqmovn_s16(vcombine_s16(vqmovn_s32(a), vqmovn_s32(b)));
    const int8x8_t cd = vqmovn_s16(vcombine_s16(vqmovn_s32(c), vqmovn_s32(d)));
    const int8x16_t r = vminq_s8(vmaxq_s8(vcombine_s8(ab, cd), vdupq_n_s8((int8_t)lo)), vdupq_n_s8((int8_t)hi));
    vst1q_u8(p, vreinterpretq_u8_s8(vaddq_s8(r, vdupq_n_s8((int8_t)offset))));
}
static inline vi vf_to_vi(vf a) { return vcvtq_s32_f32(a); }
static inline vi vm_to_vi(vm m) { return vreinterpretq_s32_u32(vshrq_n_u32(m, 31)); }

static inline vi vf_nearest_int(vf x) {
    const vi bits = vreinterpretq_s32_f32(vaddq_f32(x, vdupq_n_f32(12582912.f)));
    return vsubq_s32(vandq_s32(bits, vdupq_n_s32(0x007fffff)), vdupq_n_s32(0x00400000));
}

/* table[idx] per lane for idx in 0..3, the table in its first four lanes. */
static inline vf vf_lut4(vf table, vi idx) {
    const uint32_t lanes4 = 0x01010101u * 4;
    const uint32x4_t bytes = vaddq_u32(vmulq_n_u32(vreinterpretq_u32_s32(idx), lanes4), vdupq_n_u32(0x03020100u));
    return vreinterpretq_f32_u8(vqtbl1q_u8(vreinterpretq_u8_f32(table), vreinterpretq_u8_u32(bytes)));
}

/* x rounded to the nearest integer, ties to even: nearest_int(x) where |x| < 2^22, not elsewhere. */
static inline vi vf_round_int(vf x) { return vcvtnq_s32_f32(x); }

static inline vf vf_lut16(const float *table, vi idx) {
    int32_t i[4];
    vst1q_s32(i, idx);
    const float v[4] = {table[i[0]], table[i[1]], table[i[2]], table[i[3]]};
    return vld1q_f32(v);
}

/* dst row c = (rows[r][col + c]) for r, c < 4. */
static inline void tile_transpose_rows(const float *const *rows, size_t col, float *dst, size_t ds) {
    const float32x4x2_t p01 = vtrnq_f32(vld1q_f32(rows[0] + col), vld1q_f32(rows[1] + col));
    const float32x4x2_t p23 = vtrnq_f32(vld1q_f32(rows[2] + col), vld1q_f32(rows[3] + col));
    vst1q_f32(dst, vcombine_f32(vget_low_f32(p01.val[0]), vget_low_f32(p23.val[0])));
    vst1q_f32(dst + ds, vcombine_f32(vget_low_f32(p01.val[1]), vget_low_f32(p23.val[1])));
    vst1q_f32(dst + 2 * ds, vcombine_f32(vget_high_f32(p01.val[0]), vget_high_f32(p23.val[0])));
    vst1q_f32(dst + 3 * ds, vcombine_f32(vget_high_f32(p01.val[1]), vget_high_f32(p23.val[1])));
}
/* dst row c = column c of the 4x4 tile whose row r starts at src + r * ss (32-bit elements). */
static inline void tile_transpose(const float *src, size_t ss, float *dst, size_t ds) {
    const float *const rows[4] = {src, src + ss, src + 2 * ss, src + 3 * ss};
    tile_transpose_rows(rows, 0, dst, ds);
}

/* qn_pack_q3's bytes, in 16-byte vectors: byte m of vector k is level 16 * k + m. */
static inline void vb_pack_q3(const uint8_t *L, uint8_t *hmask, uint8_t *qs) {
    uint8x16_t v[16];
    for (int k = 0; k < 16; ++k) v[k] = vld1q_u8(L + 16 * k);
    const uint8x16_t m4 = vdupq_n_u8(4), m3 = vdupq_n_u8(3);
    for (int half = 0; half < 2; ++half) {
        const uint8x16_t *w = v + half;
        uint8x16_t h = vorrq_u8(vshrq_n_u8(vandq_u8(w[0], m4), 2), vshrq_n_u8(vandq_u8(w[2], m4), 1));
        h = vorrq_u8(h, vandq_u8(w[4], m4));
        h = vorrq_u8(h, vshlq_n_u8(vandq_u8(w[6], m4), 1));
        h = vorrq_u8(h, vshlq_n_u8(vandq_u8(w[8], m4), 2));
        h = vorrq_u8(h, vshlq_n_u8(vandq_u8(w[10], m4), 3));
        h = vorrq_u8(h, vshlq_n_u8(vandq_u8(w[12], m4), 4));
        h = vorrq_u8(h, vshlq_n_u8(vandq_u8(w[14], m4), 5));
        vst1q_u8(hmask + 16 * half, h);
    }
    for (int k = 0; k < 4; ++k) {
        const uint8x16_t *w = v + 8 * (k / 2) + k % 2;
        uint8x16_t q = vorrq_u8(vandq_u8(w[0], m3), vshlq_n_u8(vandq_u8(w[2], m3), 2));
        q = vorrq_u8(q, vshlq_n_u8(vandq_u8(w[4], m3), 4));
        q = vorrq_u8(q, vshlq_n_u8(vandq_u8(w[6], m3), 6));
        vst1q_u8(qs + 16 * k, q);
    }
}

/* The largest lane (no lane may be NaN). */
static inline float vf_hmax(vf a) { return vmaxvq_f32(a); }

/* qn_fp32_to_fp16 and qn_fp16_to_fp32 in hardware: the same bits for every value but a NaN, whose payload
 * these keep where qn_fp32_to_fp16 makes it 0x7E00. */
static inline qn_fp16 hw_fp32_to_fp16(float f) { return vget_lane_u16(vreinterpret_u16_f16(vcvt_f16_f32(vdupq_n_f32(f))), 0); }
static inline float hw_fp16_to_fp32(qn_fp16 h) { return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0); }

#endif
