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

/* 16 elements from e on, as floats (F16 converted); the activation rows
 * are floats when f16 == 2 (F16 rows converted once by the caller) */
#define LD(p, e) (f16 ? load_f16x16((const ember_f16 *)(p) + (e)) : _mm512_loadu_ps((const float *)(p) + (e)))
#define LDY(p, e) (f16 == 1 ? load_f16x16((const ember_f16 *)(p) + (e)) : _mm512_loadu_ps((const float *)(p) + (e)))

/* F32 and F16 (f16 selects the loads; pf prefetches the weight row, for
 * decoding). nt, f16 and pf are constants at each call site, so the
 * branches fold away and every accumulator stays in a register (4 tokens
 * x 4 parts = 16). */
static inline __attribute__((always_inline)) void f32f16_tokens(int n, float *s, const void *vx, const void *vy,
                                                                size_t y_stride, const int nt, const int f16, const int pf) {
    const int np = n & ~63;
    const void *y0 = vy, *y1 = ember_batch_row(vy, y_stride, 1), *y2 = ember_batch_row(vy, y_stride, 2), *y3 = ember_batch_row(vy, y_stride, 3);
    const __m512 z = _mm512_setzero_ps();
    __m512 a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
    __m512 a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
#define PART(P)                                                                 \
    {                                                                           \
        const __m512 w = LD(vx, i + 16 * P);                                    \
        a0##P = _mm512_fmadd_ps(w, LDY(y0, i + 16 * P), a0##P);                \
        if (nt > 1) a1##P = _mm512_fmadd_ps(w, LDY(y1, i + 16 * P), a1##P);    \
        if (nt > 2) a2##P = _mm512_fmadd_ps(w, LDY(y2, i + 16 * P), a2##P);    \
        if (nt > 3) a3##P = _mm512_fmadd_ps(w, LDY(y3, i + 16 * P), a3##P);    \
    }
    for (int i = 0; i < np; i += 64) {
        if (pf) { /* a decoding batch streams the row once, as vec_dot does
                    * (tl-f16, 2 and 4 streams: 46 -> 53 and 54 -> 73 t/s) */
            _mm_prefetch((const char *)vx + (size_t)i * (f16 ? 2 : 4) + 4096, EMBER_PF_STREAM);
            _mm_prefetch((const char *)vx + (size_t)i * (f16 ? 2 : 4) + 4096 + 64, EMBER_PF_STREAM);
        }
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
            const ember_f16 *x = vx;
            const void *y = ember_batch_row(vy, y_stride, k);
            double sum = (double)red[k];
            for (int i = np; i < n; i++)
                sum += (double)(h2f(x[i]) * (f16 == 2 ? ((const float *)y)[i] : h2f(((const ember_f16 *)y)[i])));
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
#undef LDY

static void dot_f32_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, int nt) {
    if (nt == 4) f32f16_tokens(n, s, vx, vy, y_stride, 4, 0, 0);
    else if (nt == 3) f32f16_tokens(n, s, vx, vy, y_stride, 3, 0, 0);
    else if (nt == 2) f32f16_tokens(n, s, vx, vy, y_stride, 2, 0, 0);
    else f32f16_tokens(n, s, vx, vy, y_stride, 1, 0, 0);
}

static void dot_f16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, int nt) {
    if (nt == 4) f32f16_tokens(n, s, vx, vy, y_stride, 4, 1, 1);
    else if (nt == 3) f32f16_tokens(n, s, vx, vy, y_stride, 3, 1, 1);
    else if (nt == 2) f32f16_tokens(n, s, vx, vy, y_stride, 2, 1, 1);
    else f32f16_tokens(n, s, vx, vy, y_stride, 1, 1, 1);
}

/* rows x tokens, F16, vec_dot's order for each pair: up to 8 rows' 64-element
 * steps through f32f16_tokens (tokens side by side), then the tail (n mod
 * 64, which vec_dot adds element by element into a double) for 8 rows at
 * once: their elements transposed into lanes, one double lane per row, one
 * register per token, each lane adding in its pair's order. Attention's
 * V dots have a 32-element tail at every other padded length, and a tail
 * pair by pair waited on a chain of 32 dependent adds. */
static inline __attribute__((always_inline)) void f16_rows_tokens(int n, float *s, size_t s_stride, const char *x,
                                                                  size_t x_stride, int nr, const char *y, size_t y_stride,
                                                                  const int nt) {
    const int np = n & ~63, nq = n - np;
    float yt[4][64]; /* the tokens' tail elements as floats */
    for (int k = 0; k < nt; k++)
        for (int i = 0; i < nq; i++) yt[k][i] = h2f(((const ember_f16 *)(y + (size_t)k * y_stride))[np + i]);
    /* the tokens' steps as floats too, converted once instead of once per
     * row, while they fit a small buffer (K's head_dim; V's length up to 512) */
    _Alignas(64) float yf[4][512];
    const int hoist = np <= 512 && nr > 1;
    if (hoist)
        for (int k = 0; k < nt; k++)
            for (int i = 0; i < np; i += 16)
                _mm512_store_ps(&yf[k][i], load_f16x16((const ember_f16 *)(y + (size_t)k * y_stride) + i));
    for (int r0 = 0; r0 < nr; r0 += 8) {
        const int nb = nr - r0 < 8 ? nr - r0 : 8;
        float red[4][8] = {{0}};
        for (int r = 0; r < nb; r++) {
            float t[4];
            if (np && hoist) f32f16_tokens(np, t, x + (size_t)(r0 + r) * x_stride, yf, sizeof yf[0], nt, 2, 0);
            else if (np) f32f16_tokens(np, t, x + (size_t)(r0 + r) * x_stride, y, y_stride, nt, 1, 0);
            for (int k = 0; k < nt; k++) red[k][r] = np ? t[k] : 0.0f;
        }
        if (nb < 8 || nq == 0) {
            for (int r = 0; r < nb; r++) {
                const ember_f16 *xr = (const ember_f16 *)(x + (size_t)(r0 + r) * x_stride) + np;
                for (int k = 0; k < nt; k++) {
                    double sum = (double)red[k][r];
                    for (int i = 0; i < nq; i++) sum += (double)(h2f(xr[i]) * yt[k][i]);
                    s[(size_t)k * s_stride + r0 + r] = (float)sum;
                }
            }
            continue;
        }
        /* one register per token (named, so they stay in registers) */
        __m512d acc0 = _mm512_cvtps_pd(_mm256_loadu_ps(red[0])), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        if (nt > 1) acc1 = _mm512_cvtps_pd(_mm256_loadu_ps(red[1]));
        if (nt > 2) acc2 = _mm512_cvtps_pd(_mm256_loadu_ps(red[2]));
        if (nt > 3) acc3 = _mm512_cvtps_pd(_mm256_loadu_ps(red[3]));
        int i = 0;
        for (; i + 8 <= nq; i += 8) {
            __m256 c[8];
            for (int r = 0; r < 8; r++)
                c[r] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const ember_f16 *)(x + (size_t)(r0 + r) * x_stride) + np + i)));
            transpose8x8_ps(c); /* c[e]: element np + i + e of the eight rows */
#define TAIL_ADD(K) acc##K = _mm512_add_pd(acc##K, _mm512_cvtps_pd(_mm256_mul_ps(c[e], _mm256_broadcast_ss(&yt[K][i + e]))))
            for (int e = 0; e < 8; e++) {
                TAIL_ADD(0);
                if (nt > 1) TAIL_ADD(1);
                if (nt > 2) TAIL_ADD(2);
                if (nt > 3) TAIL_ADD(3);
            }
#undef TAIL_ADD
        }
        for (int k = 0; k < nt; k++) {
            double lane[8];
            _mm512_storeu_pd(lane, k == 0 ? acc0 : k == 1 ? acc1 : k == 2 ? acc2 : acc3);
            for (int r = 0; r < 8; r++) {
                const ember_f16 *xr = (const ember_f16 *)(x + (size_t)(r0 + r) * x_stride) + np;
                for (int j = i; j < nq; j++) lane[r] += (double)(h2f(xr[j]) * yt[k][j]);
                s[(size_t)k * s_stride + r0 + r] = (float)lane[r];
            }
        }
    }
}

static void dot_f16_rows_tokens(int n, float *s, size_t s_stride, const void *x, size_t x_stride, int nr, const void *y,
                                size_t y_stride, int nt) {
    if (nt == 4) f16_rows_tokens(n, s, s_stride, x, x_stride, nr, y, y_stride, 4);
    else if (nt == 3) f16_rows_tokens(n, s, s_stride, x, x_stride, nr, y, y_stride, 3);
    else if (nt == 2) f16_rows_tokens(n, s, s_stride, x, x_stride, nr, y, y_stride, 2);
    else f16_rows_tokens(n, s, s_stride, x, x_stride, nr, y, y_stride, 1);
}

void ember_kernels_avx512_tokens_float(ember_kernel_set *ks) {
    ks->vec_dot_rows_tokens[EMBER_TYPE_F16] = dot_f16_rows_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_F32] = dot_f32_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_F16] = dot_f16_tokens;
}
