/* AVX-512 multi-token dots for F32/F16 weights (BF16's are in
 * bf16_avx512bf16.c): one weight row against
 * nt (1..4) activation rows, each result bit-identical to this path's
 * vec_dot (simple_avx512.c) on that row, i.e. to the order of
 * formats/lane_order.c. Batched decoding (speculative verification, server
 * slots) then loads and converts every weight vector once per group of
 * tokens instead of once per token, and the tokens' accumulator chains run
 * side by side.
 *
 * Per token the accumulators are the single-token kernel's: F32/F16 four
 * 16-lane sums over 64-element steps, folded (a0+a2)+(a1+a3) and reduced
 * hi256+lo256, hi128+lo128, (r0+r2)+(r1+r3); BF16 two dpbf16 sums, each
 * reduced that way into a double. The reductions of several tokens are done
 * in the same vectors (token j in 128-bit lane j): every addition still
 * pairs the same two values, so the sums are unchanged. Tails (n mod 64)
 * are added element by element as vec_dot does. */
#include "kernels.h"
#include "../formats/fp16.h"
#include <immintrin.h>
#include <math.h>
#include "reduce_x86.h"

static inline float h2f(ember_f16 h) { return _cvtsh_ss(h); }

static inline __m512 load_f16x16(const ember_f16 *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* 16 elements from e on, as floats (F16 converted) */
#define LD(p, e) (f16 ? load_f16x16((const ember_f16 *)(p) + (e)) : _mm512_loadu_ps((const float *)(p) + (e)))

/* F32 and F16 (f16 selects the loads). nt and f16 are constants at each
 * call site, so the token branches fold away and every accumulator stays
 * in a register (4 tokens x 4 parts = 16). */
static inline __attribute__((always_inline)) void f32f16_tokens(int n, float *s, const void *vx, const void *vy,
                                                                size_t y_stride, const int nt, const int f16) {
    const int np = n & ~63;
    const void *y0 = vy, *y1 = ember_batch_row(vy, y_stride, 1), *y2 = ember_batch_row(vy, y_stride, 2), *y3 = ember_batch_row(vy, y_stride, 3);
    const __m512 z = _mm512_setzero_ps();
    __m512 a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
    __m512 a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
#define PART(P)                                                                 \
    {                                                                           \
        const __m512 w = LD(vx, i + 16 * P);                                    \
        a0##P = _mm512_fmadd_ps(w, LD(y0, i + 16 * P), a0##P);                 \
        if (nt > 1) a1##P = _mm512_fmadd_ps(w, LD(y1, i + 16 * P), a1##P);     \
        if (nt > 2) a2##P = _mm512_fmadd_ps(w, LD(y2, i + 16 * P), a2##P);     \
        if (nt > 3) a3##P = _mm512_fmadd_ps(w, LD(y3, i + 16 * P), a3##P);     \
    }
    for (int i = 0; i < np; i += 64) {
        PART(0) PART(1) PART(2) PART(3)
    }
#undef PART
    /* vec_dot's fold (a0+a2) + (a1+a3) */
#define FOLD(K) _mm512_add_ps(_mm512_add_ps(a##K##0, a##K##2), _mm512_add_ps(a##K##1, a##K##3))
    float red[4];
    hsum16_tokens(FOLD(0), FOLD(1), FOLD(2), FOLD(3), nt, red);
#undef FOLD
    for (int k = 0; k < nt; k++) {
        if (f16) {
            const ember_f16 *x = vx, *y = ember_batch_row(vy, y_stride, k);
            double sum = (double)red[k];
            for (int i = np; i < n; i++) sum += (double)(h2f(x[i]) * h2f(y[i]));
            s[k] = (float)sum;
        } else {
            const float *x = vx, *y = ember_batch_row(vy, y_stride, k);
            float sum = red[k];
            const int nf = n - (n - np) % 8;
            for (int i = np; i < nf; i++) sum += x[i] * y[i];
            for (int i = nf; i < n; i++) sum = fmaf(x[i], y[i], sum);
            s[k] = sum;
        }
    }
}
#undef LD

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

void ember_kernels_avx512_tokens_float(ember_kernel_set *ks) {
    ks->vec_dot_tokens[EMBER_TYPE_F32] = dot_f32_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_F16] = dot_f16_tokens;
}
