/* AVX2 + FMA + F16C kernels for the non-K formats.
 *
 * Summation orders copy llama.cpp built by GCC 12 at -O3 (which contracts
 * a*b+c into fma where it can), so this path gives the same float results
 * as that build, not just close ones:
 *  - block quants: per block the exact integer dot is kept as 8 int32 lanes,
 *    lane k holding elements 4k..4k+3; acc[k] = fma(dx*dy, lane[k], acc[k])
 *    in block order; the 8 lanes are then folded as
 *    ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)). Q4_1/Q5_1 add the float sum
 *    summs = fma(m, s, summs) (block order) at the very end.
 *  - F32/F16/BF16: the order of llama.cpp's AVX-512 build (its 16-lane
 *    accumulators as pairs of 8-lane registers), because that build made
 *    the golden outputs; see formats/lane_order.c.
 * Activation quantizers are bit-identical to ember_quant_q8_*_act. */
#define EMBER_I8_DOT EMBER_I8_AVX2
#include "simple_avx2_body.h"
#include "../formats/fp16.h"
#include <immintrin.h>
#include <math.h>
#include <string.h>

/* F32/F16/BF16 in the order of llama.cpp's AVX-512 build
 * (formats/lane_order.c): each 16-lane accumulator lives in two 8-lane
 * registers (lo = lanes 0..7, hi = 8..15). */

#define STEP64(LOAD, X, Y)                                                                   \
    for (int i = 0; i < np; i += 64) {                                                       \
        a0l = _mm256_fmadd_ps(LOAD(X + i), LOAD(Y + i), a0l);                                \
        a0h = _mm256_fmadd_ps(LOAD(X + i + 8), LOAD(Y + i + 8), a0h);                        \
        a1l = _mm256_fmadd_ps(LOAD(X + i + 16), LOAD(Y + i + 16), a1l);                      \
        a1h = _mm256_fmadd_ps(LOAD(X + i + 24), LOAD(Y + i + 24), a1h);                      \
        a2l = _mm256_fmadd_ps(LOAD(X + i + 32), LOAD(Y + i + 32), a2l);                      \
        a2h = _mm256_fmadd_ps(LOAD(X + i + 40), LOAD(Y + i + 40), a2h);                      \
        a3l = _mm256_fmadd_ps(LOAD(X + i + 48), LOAD(Y + i + 48), a3l);                      \
        a3h = _mm256_fmadd_ps(LOAD(X + i + 56), LOAD(Y + i + 56), a3h);                      \
    }

static inline float fold4(__m256 a0l, __m256 a0h, __m256 a1l, __m256 a1h, __m256 a2l, __m256 a2h, __m256 a3l,
                          __m256 a3h) {
    const __m256 lo = _mm256_add_ps(_mm256_add_ps(a0l, a2l), _mm256_add_ps(a1l, a3l));
    const __m256 hi = _mm256_add_ps(_mm256_add_ps(a0h, a2h), _mm256_add_ps(a1h, a3h));
    return hsum16_halves(lo, hi);
}

static void dot_f32(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    const int np = n & ~63;
    __m256 a0l = _mm256_setzero_ps(), a0h = a0l, a1l = a0l, a1h = a0l, a2l = a0l, a2h = a0l, a3l = a0l, a3h = a0l;
    STEP64(_mm256_loadu_ps, x, y)
    float sum = fold4(a0l, a0h, a1l, a1h, a2l, a2h, a3l, a3h);
    const int nf = n - (n - np) % 8;
    for (int i = np; i < nf; i++) {
        const float p = x[i] * y[i];
        sum += p;
    }
    for (int i = nf; i < n; i++) sum = fmaf(x[i], y[i], sum);
    *s = sum;
}

static inline __m256 load_f16x8(const ember_f16 *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void dot_f16(int n, float *s, const void *vx, const void *vy) {
    const ember_f16 *x = vx, *y = vy;
    const int np = n & ~63;
    __m256 a0l = _mm256_setzero_ps(), a0h = a0l, a1l = a0l, a1h = a0l, a2l = a0l, a2h = a0l, a3l = a0l, a3h = a0l;
    STEP64(load_f16x8, x, y)
    double sum = (double)fold4(a0l, a0h, a1l, a1h, a2l, a2h, a3l, a3h);
    for (int i = np; i < n; i++) sum += (double)(h2f(x[i]) * h2f(y[i]));
    *s = (float)sum;
}

/* 16 bf16 as 8 pairs: odd elements (high halves, already floats) and even
 * ones (low halves shifted up) */
static inline void bf16_pairs(const ember_bf16 *p, __m256 *odd, __m256 *even) {
    const __m256i w = _mm256_loadu_si256((const __m256i *)p);
    *odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int)0xFFFF0000u)));
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* lanes of one 32-element half: pair fma, odd element first */
static inline __m256 bf16_step(const ember_bf16 *x, const ember_bf16 *y, __m256 acc) {
    __m256 xo, xe, yo, ye;
    bf16_pairs(x, &xo, &xe);
    bf16_pairs(y, &yo, &ye);
    return _mm256_fmadd_ps(xe, ye, _mm256_fmadd_ps(xo, yo, acc));
}

static void dot_bf16(int n, float *s, const void *vx, const void *vy) {
    const ember_bf16 *x = vx, *y = vy;
    __m256 c1l = _mm256_setzero_ps(), c1h = c1l, c2l = c1l, c2h = c1l;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        c1l = bf16_step(x + i, y + i, c1l);
        c1h = bf16_step(x + i + 16, y + i + 16, c1h);
        c2l = bf16_step(x + i + 32, y + i + 32, c2l);
        c2h = bf16_step(x + i + 48, y + i + 48, c2h);
    }
    double sum = 0.0;
    sum += (double)hsum16_halves(c1l, c1h);
    sum += (double)hsum16_halves(c2l, c2h);
    for (; i < n; i++) sum += (double)(ember_bf16_to_fp32(x[i]) * ember_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

/* ---- activation quantizers (must equal ember_quant_q8_*_act bit for bit:
 * id = 127/amax, products rounded half to even) ---- */

#define RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

typedef struct {
    float d;
    __m256i q; /* 32 int8 in element order */
    int sum;
} q8_block;

static inline q8_block quant_block_q8(const float *x) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    q8_block b;
    b.d = amax / 127.f;
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
    __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), RNE));
    __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), RNE));
    __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), RNE));
    __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), RNE));
    __m256i t = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
    __m128i t4 = _mm_add_epi32(_mm256_extracti128_si256(t, 1), _mm256_castsi256_si128(t));
    t4 = _mm_add_epi32(t4, _mm_unpackhi_epi64(t4, t4));
    t4 = _mm_add_epi32(t4, _mm_shuffle_epi32(t4, 1));
    b.sum = _mm_cvtsi128_si32(t4);
    /* packs work per 128-bit half; the permute restores element order. */
    const __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(i0, i1), _mm256_packs_epi32(i2, i3));
    b.q = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    return b;
}

static void quant_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const q8_block b = quant_block_q8(x);
        y[i].d = ember_fp32_to_fp16(b.d);
        _mm256_storeu_si256((__m256i *)y[i].qs, b.q);
    }
}

static void quant_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const q8_block b = quant_block_q8(x);
        y[i].d = ember_fp32_to_fp16(b.d);
        y[i].s = ember_fp32_to_fp16(b.d * (float)b.sum);
        _mm256_storeu_si256((__m256i *)y[i].qs, b.q);
    }
}

/* F16C rounds to nearest even like ember_fp32_to_fp16 (NaN payloads aside). */
static void f16_from_float(const float *x, void *vy, int64_t n) {
    ember_f16 *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = ember_fp32_to_fp16(x[i]);
}

void ember_kernels_avx2_simple(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_F32] = dot_f32;
    ks->vec_dot[EMBER_TYPE_F16] = dot_f16;
    ks->vec_dot[EMBER_TYPE_BF16] = dot_bf16;
    simple_i8_kernels(ks); /* simple_avx2_body.h */
    ks->from_float[EMBER_TYPE_Q8_0] = quant_q8_0;
    ks->from_float[EMBER_TYPE_Q8_1] = quant_q8_1;
    ks->from_float[EMBER_TYPE_F16] = f16_from_float;
}
