/* AVX2 multi-token dots for F32/F16/BF16 weights: one weight row against
 * nt (1..4) activation rows, each result bit-identical to this path's
 * vec_dot (simple_avx2.c), i.e. to the AVX-512 order of
 * formats/lane_order.c emulated with 8-lane register pairs.
 *
 * One token of F32/F16 needs eight 8-lane accumulators (four 16-lane sums
 * as lo/hi halves); four tokens would need all 32, but AVX2 has 16
 * registers. The accumulators are independent, so the row is walked in
 * passes, two accumulator columns per pass: (0lo, 2lo), (1lo, 3lo),
 * (0hi, 2hi), (1hi, 3hi), each pass folding into the running
 * lo = (a0+a2)+(a1+a3) and hi = ...; then hsum8(hi + lo) as vec_dot does.
 * Every weight vector is still loaded once per call. BF16 walks its two
 * 32-element accumulators (lo/hi pairs) in two passes. */
#include "kernels.h"
#include "../formats/fp16.h"
#include <immintrin.h>
#include "reduce_x86.h"
#include <math.h>

static inline float h2f(ember_f16 h) { return _cvtsh_ss(h); }

static inline __m256 load8(const void *base, int e, const int f16) {
    if (f16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const ember_f16 *)base + e)));
    return _mm256_loadu_ps((const float *)base + e);
}

/* One pass: columns at offsets o1, o2 of every 64-element step; r[k] = A + B.
 * nt and f16 are constants at each call site, so the token branches fold
 * away and the 2 x 4 accumulators stay in registers. */
static inline __attribute__((always_inline)) void pass2(int np, const void *vx, const void *vy, size_t y_stride,
                                                        const int nt, const int f16, int o1, int o2, __m256 *r) {
    const void *y0 = vy, *y1 = ember_batch_row(vy, y_stride, 1), *y2 = ember_batch_row(vy, y_stride, 2), *y3 = ember_batch_row(vy, y_stride, 3);
    const __m256 z = _mm256_setzero_ps();
    __m256 A0 = z, A1 = z, A2 = z, A3 = z, B0 = z, B1 = z, B2 = z, B3 = z;
#define TOK(K)                                                              \
    {                                                                       \
        A##K = _mm256_fmadd_ps(w1, load8(y##K, i + o1, f16), A##K);         \
        B##K = _mm256_fmadd_ps(w2, load8(y##K, i + o2, f16), B##K);         \
    }
    for (int i = 0; i < np; i += 64) {
        const __m256 w1 = load8(vx, i + o1, f16), w2 = load8(vx, i + o2, f16);
        TOK(0)
        if (nt > 1) TOK(1)
        if (nt > 2) TOK(2)
        if (nt > 3) TOK(3)
    }
#undef TOK
    r[0] = _mm256_add_ps(A0, B0);
    if (nt > 1) r[1] = _mm256_add_ps(A1, B1);
    if (nt > 2) r[2] = _mm256_add_ps(A2, B2);
    if (nt > 3) r[3] = _mm256_add_ps(A3, B3);
}

static inline __attribute__((always_inline)) void f32f16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, const int nt,
                                 const int f16) {
    const int np = n & ~63;
    __m256 lo[4], hi[4], t[4];
    /* lo = (a0l + a2l) + (a1l + a3l); part p, half h at offset 16p + 8h */
    pass2(np, vx, vy, y_stride, nt, f16, 0, 32, lo);
    pass2(np, vx, vy, y_stride, nt, f16, 16, 48, t);
    for (int k = 0; k < nt; k++) lo[k] = _mm256_add_ps(lo[k], t[k]);
    pass2(np, vx, vy, y_stride, nt, f16, 8, 40, hi);
    pass2(np, vx, vy, y_stride, nt, f16, 24, 56, t);
    for (int k = 0; k < nt; k++) {
        const float red = hsum8(_mm256_add_ps(_mm256_add_ps(hi[k], t[k]), lo[k]));
        if (f16) {
            const ember_f16 *x = vx, *y = ember_batch_row(vy, y_stride, k);
            double sum = (double)red;
            for (int i = np; i < n; i++) sum += (double)(h2f(x[i]) * h2f(y[i]));
            s[k] = (float)sum;
        } else {
            const float *x = vx, *y = ember_batch_row(vy, y_stride, k);
            float sum = red;
            const int nf = n - (n - np) % 8;
            for (int i = np; i < nf; i++) {
                const float p = x[i] * y[i];
                sum += p;
            }
            for (int i = nf; i < n; i++) sum = fmaf(x[i], y[i], sum);
            s[k] = sum;
        }
    }
}

static void dot_f32_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, int nt) {
    if (nt == 4) f32f16_tokens(n, s, vx, vy, y_stride, 4, 0);
    else if (nt == 3) f32f16_tokens(n, s, vx, vy, y_stride, 3, 0);
    else if (nt == 2) f32f16_tokens(n, s, vx, vy, y_stride, 2, 0);
    else f32f16_tokens(n, s, vx, vy, y_stride, 1, 0);
}

static void dot_f16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, int nt) {
    if (nt == 4) f32f16_tokens(n, s, vx, vy, y_stride, 4, 1);
    else if (nt == 3) f32f16_tokens(n, s, vx, vy, y_stride, 3, 1);
    else if (nt == 2) f32f16_tokens(n, s, vx, vy, y_stride, 2, 1);
    else f32f16_tokens(n, s, vx, vy, y_stride, 1, 1);
}

/* 16 bf16 as 8 pairs: odd elements (high halves) and even ones (low
 * halves shifted up) */
static inline void bf16_pairs(const ember_bf16 *p, __m256 *odd, __m256 *even) {
    const __m256i w = _mm256_loadu_si256((const __m256i *)p);
    *odd = _mm256_castsi256_ps(_mm256_and_si256(w, _mm256_set1_epi32((int)0xFFFF0000u)));
    *even = _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}

/* One 32-element accumulator (lanes lo: elements o..o+15, hi: o+16..o+31 of
 * every 64-step), pair fma odd element first; returns its tree sums. */
static inline __attribute__((always_inline)) void bf16_pass(int np, const ember_bf16 *x, const void *vy,
                                                            size_t y_stride, const int nt, int o, float *r) {
    const ember_bf16 *y0 = vy, *y1 = ember_batch_row(vy, y_stride, 1), *y2 = ember_batch_row(vy, y_stride, 2), *y3 = ember_batch_row(vy, y_stride, 3);
    const __m256 z = _mm256_setzero_ps();
    __m256 L0 = z, L1 = z, L2 = z, L3 = z, H0 = z, H1 = z, H2 = z, H3 = z;
#define TOK(K)                                                                  \
    {                                                                           \
        __m256 yo, ye;                                                          \
        bf16_pairs(y##K + i + o, &yo, &ye);                                     \
        L##K = _mm256_fmadd_ps(xle, ye, _mm256_fmadd_ps(xlo, yo, L##K));        \
        bf16_pairs(y##K + i + o + 16, &yo, &ye);                                \
        H##K = _mm256_fmadd_ps(xhe, ye, _mm256_fmadd_ps(xho, yo, H##K));        \
    }
    for (int i = 0; i < np; i += 64) {
        __m256 xlo, xle, xho, xhe;
        bf16_pairs(x + i + o, &xlo, &xle);
        bf16_pairs(x + i + o + 16, &xho, &xhe);
        TOK(0)
        if (nt > 1) TOK(1)
        if (nt > 2) TOK(2)
        if (nt > 3) TOK(3)
    }
#undef TOK
    r[0] = hsum8(_mm256_add_ps(H0, L0));
    if (nt > 1) r[1] = hsum8(_mm256_add_ps(H1, L1));
    if (nt > 2) r[2] = hsum8(_mm256_add_ps(H2, L2));
    if (nt > 3) r[3] = hsum8(_mm256_add_ps(H3, L3));
}

static inline __attribute__((always_inline)) void bf16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, const int nt) {
    const ember_bf16 *x = vx;
    const int np = n & ~63;
    float r1[4], r2[4];
    bf16_pass(np, x, vy, y_stride, nt, 0, r1);
    bf16_pass(np, x, vy, y_stride, nt, 32, r2);
    bf16_tokens_finish(n, np, x, vy, y_stride, nt, r1, r2, s);
}

static void dot_bf16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, int nt) {
    if (nt == 4) bf16_tokens(n, s, vx, vy, y_stride, 4);
    else if (nt == 3) bf16_tokens(n, s, vx, vy, y_stride, 3);
    else if (nt == 2) bf16_tokens(n, s, vx, vy, y_stride, 2);
    else bf16_tokens(n, s, vx, vy, y_stride, 1);
}

void ember_kernels_avx2_tokens_float(ember_kernel_set *ks) {
    ks->vec_dot_tokens[EMBER_TYPE_F32] = dot_f32_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_F16] = dot_f16_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_BF16] = dot_bf16_tokens;
}
