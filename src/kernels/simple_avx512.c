/* AVX-512 (F/BW/VL/DQ) kernels for the float formats and the activation
 * quantizers; the block-quant dots need VNNI (simple_avx512vnni.c), BF16's
 * dot the BF16 extension (bf16_avx512bf16.c).
 *
 * Summation orders copy llama.cpp built for this ISA by GCC 12 at -O3 (which
 * contracts a*b+c into fma where it can), so this path gives the same float
 * results as that build:
 *  - F32/F16: 4 accumulators of 16 lanes over steps of 64 elements (fma),
 *    folded (0+2),(1+3), then both; the 16 lanes as hi256+lo256, then
 *    hi128+lo128, then ((r0+r2) + (r1+r3)). The tail (n mod 64) is added
 *    element by element: F16 in double, F32 in float with the products
 *    rounded except for the last (tail mod 8), which GCC's vectorised tail
 *    fuses.
 * Activation quantizers are bit-identical to ember_quant_q8_*_act. */
#include "kernels.h"
#include "../formats/fp16.h"
#include <immintrin.h>
#include "reduce_x86.h"
#include <math.h>

#define RNE (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static inline float h2f(ember_f16 h) { return _cvtsh_ss(h); }

static void dot_f32(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    const int np = n & ~63;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < np; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), a3);
    }
    a0 = _mm512_add_ps(a0, a2);
    a1 = _mm512_add_ps(a1, a3);
    float sum = hsum16(_mm512_add_ps(a0, a1));
    const int nf = n - (n - np) % 8;
    for (int i = np; i < nf; i++) sum += x[i] * y[i];
    for (int i = nf; i < n; i++) sum = fmaf(x[i], y[i], sum);
    *s = sum;
}

static inline __m512 load_f16x16(const ember_f16 *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* F16 dot's elements from i on (past the 64-element steps), added to sum
 * in element order in double. Products of two halves are exact in float;
 * they are formed 16 at a time. */
static inline double f16_tail_sum(const ember_f16 *x, const ember_f16 *y, int i, int n, double sum) {
    for (; i + 16 <= n; i += 16) {
        float p[16];
        _mm512_storeu_ps(p, _mm512_mul_ps(load_f16x16(x + i), load_f16x16(y + i)));
        for (int j = 0; j < 16; j++) sum += (double)p[j];
    }
    for (; i < n; i++) sum += (double)(h2f(x[i]) * h2f(y[i]));
    return sum;
}

/* Decoding streams each F16 row once: prefetching the weights 4 KiB ahead
 * (EMBER_PF_STREAM) keeps more of the read bandwidth busy (tl-f16 tg64:
 * 14.0 vs 11.8 t/s, median of 8 alternating runs; results unchanged).
 * Rows go one at a time: a four-row kernel (the activation converted once
 * per four rows, Q8_0's shape) read four streams side by side, which with
 * the non-temporal prefetch decoded slower (tl-f16 tg128 28.0 vs 35.9 t/s,
 * 8/8 alternations; 32.9 vs 35.5 with it kept for rows not 4 KiB long,
 * whose lines do not share L1 sets) and was removed. */
static void dot_f16(int n, float *s, const void *vx, const void *vy) {
    const ember_f16 *x = vx, *y = vy;
    const int np = n & ~63;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int i = 0; i < np; i += 64) {
        _mm_prefetch((const char *)(x + i) + 4096, EMBER_PF_STREAM);
        _mm_prefetch((const char *)(x + i) + 4096 + 64, EMBER_PF_STREAM);
        a0 = _mm512_fmadd_ps(load_f16x16(x + i), load_f16x16(y + i), a0);
        a1 = _mm512_fmadd_ps(load_f16x16(x + i + 16), load_f16x16(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(load_f16x16(x + i + 32), load_f16x16(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(load_f16x16(x + i + 48), load_f16x16(y + i + 48), a3);
    }
    a0 = _mm512_add_ps(a0, a2);
    a1 = _mm512_add_ps(a1, a3);
    *s = (float)f16_tail_sum(x, y, np, n, (double)hsum16(_mm512_add_ps(a0, a1)));
}

/* ---- activation quantizers (bit-identical to ember_quant_q8_*_act:
 * id = 127/amax, products rounded half to even) ---- */

typedef struct {
    float d;
    int sum;
} q8_scale;

static inline q8_scale quant_block_q8(const float *x, int8_t *qs) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
    const __m512i i0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, id), RNE);
    const __m512i i1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, id), RNE);
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtsepi32_epi8(i0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtsepi32_epi8(i1));
    q8_scale r = { amax / 127.f, _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1)) };
    return r;
}

static void quant_q8_0(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const q8_scale b = quant_block_q8(x, y[i].qs);
        y[i].d = ember_fp32_to_fp16(b.d);
    }
}

static void quant_q8_1(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const q8_scale b = quant_block_q8(x, y[i].qs);
        y[i].d = ember_fp32_to_fp16(b.d);
        y[i].s = ember_fp32_to_fp16(b.d * (float)b.sum);
    }
}

static void f16_from_float(const float *x, void *vy, int64_t n) {
    ember_f16 *y = vy;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = ember_fp32_to_fp16(x[i]);
}

void ember_kernels_avx512_simple(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_F32] = dot_f32;
    ks->vec_dot[EMBER_TYPE_F16] = dot_f16;
    ks->from_float[EMBER_TYPE_Q8_0] = quant_q8_0;
    ks->from_float[EMBER_TYPE_Q8_1] = quant_q8_1;
    ks->from_float[EMBER_TYPE_F16] = f16_from_float;
}
