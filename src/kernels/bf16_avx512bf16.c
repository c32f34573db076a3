/* Every BF16 kernel of the AVX-512 path; they need the BF16 extension
 * (VDPBF16PS), so a CPU without it takes the AVX2 ones, which give the same
 * results. Orders as documented beside each kind of kernel: the dot
 * (simple_avx512.c: two dpbf16 accumulators over steps of 64, each folded
 * like the F32 lanes, added into a double, c1 then c2, then the tail in
 * double), the multi-token dot (tokens_float_avx512.c), the prompt-order
 * dot and tile (prefill_order.c, gemm_float_avx512.c). */
#include "kernels.h"
#include "../formats/fp16.h"
#include "float_tile_avx512.h"

/* vec_dot */
static void dot_bf16(int n, float *s, const void *vx, const void *vy) {
    const ember_bf16 *x = vx, *y = vy;
    __m512 c1 = _mm512_setzero_ps(), c2 = c1;
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        c1 = _mm512_dpbf16_ps(c1, (__m512bh)_mm512_loadu_si512(x + i), (__m512bh)_mm512_loadu_si512(y + i));
        c2 = _mm512_dpbf16_ps(c2, (__m512bh)_mm512_loadu_si512(x + i + 32), (__m512bh)_mm512_loadu_si512(y + i + 32));
    }
    double sum = 0.0;
    sum += (double)hsum16(c1);
    sum += (double)hsum16(c2);
    for (; i < n; i++) sum += (double)(ember_bf16_to_fp32(x[i]) * ember_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

/* vec_dot_tokens */
static inline __attribute__((always_inline)) void bf16_tokens(int n, float *s, const void *vx, const void *vy,
                                                              size_t y_stride, const int nt) {
    const ember_bf16 *x = vx;
    const ember_bf16 *y0 = vy, *y1 = ember_batch_row(vy, y_stride, 1), *y2 = ember_batch_row(vy, y_stride, 2), *y3 = ember_batch_row(vy, y_stride, 3);
    const __m512 z = _mm512_setzero_ps();
    __m512 c10 = z, c11 = z, c12 = z, c13 = z, c20 = z, c21 = z, c22 = z, c23 = z;
#define TOK(K)                                                                                        \
    {                                                                                                 \
        c1##K = _mm512_dpbf16_ps(c1##K, w1, (__m512bh)_mm512_loadu_si512(y##K + i));                 \
        c2##K = _mm512_dpbf16_ps(c2##K, w2, (__m512bh)_mm512_loadu_si512(y##K + i + 32));            \
    }
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512bh w1 = (__m512bh)_mm512_loadu_si512(x + i), w2 = (__m512bh)_mm512_loadu_si512(x + i + 32);
        TOK(0)
        if (nt > 1) TOK(1)
        if (nt > 2) TOK(2)
        if (nt > 3) TOK(3)
    }
#undef TOK
    float r1[4], r2[4];
    hsum16_tokens(c10, c11, c12, c13, nt, r1);
    hsum16_tokens(c20, c21, c22, c23, nt, r2);
    bf16_tokens_finish(n, i, x, vy, y_stride, nt, r1, r2, s);
}

static void dot_bf16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, int nt) {
    if (nt == 4) bf16_tokens(n, s, vx, vy, y_stride, 4);
    else if (nt == 3) bf16_tokens(n, s, vx, vy, y_stride, 3);
    else if (nt == 2) bf16_tokens(n, s, vx, vy, y_stride, 2);
    else bf16_tokens(n, s, vx, vy, y_stride, 1);
}

/* vec_dot_prefill */
static void dot_bf16_prefill(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = vx, *y = vy;
    __m512 acc = _mm512_setzero_ps();
    for (int l = 0; l < n; l += 32)
        acc = _mm512_dpbf16_ps(acc, (__m512bh)_mm512_loadu_si512(x + l), (__m512bh)_mm512_loadu_si512(y + l));
    *s = hsum16(acc);
}

/* vec_dot_prefill_tile */
TILE_KIND(BF16, tile_bf16, 1024)

/* The BF16 dot-product peak for `ember bench`: independent chains of
 * VDPBF16PS (32 multiply-adds each), as peak_avx512.c's float chains. */
#define PEAK_CHAINS 12

static double peak_bf16(long iters, float *sink) {
    __m512 a[PEAK_CHAINS];
    const __m512bh x = (__m512bh)_mm512_set1_epi16(0x3F80), y = (__m512bh)_mm512_set1_epi16(0x3A83); /* 1.0, ~1e-3 */
    for (int c = 0; c < PEAK_CHAINS; c++) a[c] = _mm512_set1_ps((float)c);
    for (long i = 0; i < iters; i++)
#pragma GCC unroll 12
        for (int c = 0; c < PEAK_CHAINS; c++) a[c] = _mm512_dpbf16_ps(a[c], x, y);
    __m512 s = a[0];
    for (int c = 1; c < PEAK_CHAINS; c++) s = _mm512_add_ps(s, a[c]);
    *sink = _mm512_reduce_add_ps(s);
    return (double)iters * PEAK_CHAINS * 32 * 2;
}

void ember_kernels_avx512bf16_bf16(ember_kernel_set *ks) {
    ks->peak_bf16 = peak_bf16;
    ks->vec_dot[EMBER_TYPE_BF16] = dot_bf16;
    ks->vec_dot_tokens[EMBER_TYPE_BF16] = dot_bf16_tokens;
    ks->vec_dot_prefill[EMBER_TYPE_BF16] = dot_bf16_prefill;
    ks->vec_dot_prefill_tile[EMBER_TYPE_BF16] = tile_bf16;
}
