/* The int8 block-quant dots of the AVX2 path (Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0; the multi-token kernels of the last four are q8_0_avx2_body.h's),
 * shared by simple_avx2.c (VPMADDUBSW + VPMADDWD), simple_avxvnni.c (VEX
 * VPDPBUSD) and
 * simple_avxvnni_emulated_avx512vnni.c (EVEX VPDPBUSD on ymm, the
 * "avxvnni-emu" path); the includer defines EMBER_I8_DOT (i8_dot_x86.h).
 * Order: see simple_avx2.c; the integer part is exact in every build. */
#include "kernels.h"
#include "i8_dot_x86.h"
#include <immintrin.h>
#include "reduce_x86.h"
#include "unpack_x86.h"
#include <math.h>
#include <string.h>

static inline float h2f(ember_f16 h) { return _cvtsh_ss(h); }

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

static void simple_i8_kernels(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_Q4_0] = dot_q4_0;
    ks->vec_dot[EMBER_TYPE_Q4_1] = dot_q4_1;
    ks->vec_dot[EMBER_TYPE_Q5_0] = dot_q5_0;
    ks->vec_dot[EMBER_TYPE_Q5_1] = dot_q5_1;
    ks->vec_dot[EMBER_TYPE_Q8_0] = dot_q8_0;
}
