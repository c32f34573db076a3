/* AVX2 versions of the prompt-order dots (formats/prefill_order.c): the 16
 * lanes live in two 8-wide accumulators, so results are bit-identical to the
 * scalar definition and to the AVX-512 kernels. BF16 has no AVX2 kernel (the
 * pairwise FMA order is not cheaper than the scalar definition here). */
#include "kernels.h"
#include <immintrin.h>

static inline float tree16(__m256 lo, __m256 hi) {
    __m256 a = _mm256_add_ps(lo, hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    __m128 c = _mm_add_ps(b, _mm_movehl_ps(b, b));
    __m128 d = _mm_add_ss(c, _mm_movehdup_ps(c));
    return _mm_cvtss_f32(d);
}

static void dot_f32(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int l = 0; l < n; l += 16) {
        lo = _mm256_fmadd_ps(_mm256_loadu_ps(x + l), _mm256_loadu_ps(y + l), lo);
        hi = _mm256_fmadd_ps(_mm256_loadu_ps(x + l + 8), _mm256_loadu_ps(y + l + 8), hi);
    }
    *s = tree16(lo, hi);
}

static inline __m256 ld16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void dot_f16(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int l = 0; l < n; l += 16) {
        lo = _mm256_fmadd_ps(ld16(x + l), ld16(y + l), lo);
        hi = _mm256_fmadd_ps(ld16(x + l + 8), ld16(y + l + 8), hi);
    }
    *s = tree16(lo, hi);
}


/* Q4_0 in the repacked-kernel order (formats/q4_0_rows8.c): the block's
 * integer dot is exact, so only the per-block fma chain must be kept. */
static void dot_q4_0_rows8(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i m4 = _mm256_set1_epi8(0x0F), off = _mm256_set1_epi8(8), ones = _mm256_set1_epi16(1);
    float acc = 0.0f;
    for (int b = 0; b < n / QK4_0; b++) {
        const __m128i raw = _mm_loadu_si128((const __m128i *)x[b].qs);
        const __m256i q = _mm256_sub_epi8(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(raw, 4), raw), m4), off);
        const __m256i a = _mm256_loadu_si256((const __m256i *)y[b].qs);
        const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(a, q));
        __m256i p32 = _mm256_madd_epi16(p16, ones);
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(p32), _mm256_extracti128_si256(p32, 1));
        r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0x4E));
        r = _mm_add_epi32(r, _mm_shuffle_epi32(r, 0xB1));
        const float d = _cvtsh_ss(x[b].d) * _cvtsh_ss(y[b].d);
        acc = __builtin_fmaf((float)_mm_cvtsi128_si32(r), d, acc);
    }
    *s = acc;
}

void ember_kernels_avx2_prefill(ember_kernel_set *ks) {
    ks->vec_dot_prefill[EMBER_TYPE_F32] = dot_f32;
    ks->vec_dot_prefill[EMBER_TYPE_F16] = dot_f16;
    ks->vec_dot_rows8[EMBER_TYPE_Q4_0] = dot_q4_0_rows8;
}
