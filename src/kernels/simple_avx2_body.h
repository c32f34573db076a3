/* The int8 block-quant dots of the AVX2 path (Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0 and Q8_0's tokens kernel), shared by simple_avx2.c (VPMADDUBSW +
 * VPMADDWD), simple_avxvnni.c (VEX VPDPBUSD) and
 * simple_avxvnni_emulated_avx512vnni.c (EVEX VPDPBUSD on ymm, the
 * "avxvnni-emu" path); the includer defines EMBER_I8_DOT (i8_dot_x86.h).
 * Order: see simple_avx2.c; the integer part is exact in every build. */
#include "kernels.h"
#include "i8_dot_x86.h"
#include <immintrin.h>
#include "reduce_x86.h"
#include <math.h>
#include <string.h>

static inline float h2f(ember_f16 h) { return _cvtsh_ss(h); }

/* Byte j = element j of a 4-bit block (low nibbles are elements 0..15). */
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0F));
}

/* Byte j = 0x10 if bit j of the little-endian qh word is set, else 0. */
static inline __m256i fifth_bits32(const uint8_t *qh) {
    uint32_t w;
    memcpy(&w, qh, 4);
    const __m256i spread = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                            2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i v = _mm256_and_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)w), spread), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(v, bit), _mm256_set1_epi8(0x10));
}

/* Lane k = sum over j in 4k..4k+3 of u[j]*y[j] (u unsigned <= 31, y signed):
 * pair sums fit int16 without saturation. */
static inline __m256i dot_u8s8(__m256i u, __m256i y) { return i8_dot(u, y); }

/* Same with u offset by -off (0 <= u < 2*off <= 32): (u-off)*y summed, exact. */
static inline __m256i dot_u8s8_off(__m256i u, __m256i off, __m256i y) {
    return i8_pwiden(i8_psub(i8_pdot(u, y), i8_pdot(off, y)));
}

static void dot_q4_0(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i q = dot_u8s8_off(nibbles32(x[i].qs), eight, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc);
}

static void dot_q4_1(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int i = 0; i < n / QK8_1; i++) {
        summs = fmaf(h2f(x[i].m), h2f(y[i].s), summs);
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i q = dot_u8s8(nibbles32(x[i].qs), _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc) + summs;
}

static void dot_q5_0(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i u = _mm256_or_si256(nibbles32(x[i].qs), fifth_bits32(x[i].qh));
        const __m256i q = dot_u8s8_off(u, sixteen, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc);
}

static void dot_q5_1(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int i = 0; i < n / QK8_1; i++) {
        summs = fmaf(h2f(x[i].m), h2f(y[i].s), summs);
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i u = _mm256_or_si256(nibbles32(x[i].qs), fifth_bits32(x[i].qh));
        const __m256i q = dot_u8s8(u, _mm256_loadu_si256((const __m256i *)y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc) + summs;
}

/* |x| times y with x's sign: int16 pair sums cannot saturate unless y holds
 * -128, which the activation quantizer never produces (it clamps to 127). */
static void dot_q8_0(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        const __m256i q = i8_dot(_mm256_sign_epi8(qx, qx), _mm256_sign_epi8(qy, qx));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc);
}

/* dot_q8_0 for 2..4 activation rows at once, bit-identical to it: the
 * weight block and its |x| are loaded once per block, and the independent
 * accumulator chains hide the fma latency. nt is a constant at each call
 * site below, so the loops over it unroll. */
static inline void q8_0_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, const int nt) {
    const block_q8_0 *x = vx;
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int i = 0; i < n / QK8_0; i++) {
        const float dx = h2f(x[i].d);
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i ax = _mm256_sign_epi8(qx, qx);
        for (int k = 0; k < nt; k++) {
            const block_q8_0 *y = (const block_q8_0 *)((const char *)vy + (size_t)k * y_stride) + i;
            const __m256 d = _mm256_set1_ps(dx * h2f(y->d));
            const __m256i q = i8_dot(ax, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y->qs), qx));
            acc[k] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = hsum8(acc[k]);
}

static void dot_q8_0_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, int nt) {
    if (nt == 4) q8_0_tokens(n, s, vx, vy, y_stride, 4);
    else if (nt == 3) q8_0_tokens(n, s, vx, vy, y_stride, 3);
    else if (nt == 2) q8_0_tokens(n, s, vx, vy, y_stride, 2);
    else q8_0_tokens(n, s, vx, vy, y_stride, 1);
}

static void simple_i8_kernels(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_Q4_0] = dot_q4_0;
    ks->vec_dot[EMBER_TYPE_Q4_1] = dot_q4_1;
    ks->vec_dot[EMBER_TYPE_Q5_0] = dot_q5_0;
    ks->vec_dot[EMBER_TYPE_Q5_1] = dot_q5_1;
    ks->vec_dot[EMBER_TYPE_Q8_0] = dot_q8_0;
    ks->vec_dot_tokens[EMBER_TYPE_Q8_0] = dot_q8_0_tokens;
}
