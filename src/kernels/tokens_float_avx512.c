/* AVX-512 multi-token dots for F32/F16/BF16 weights: one weight row against
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

static inline float h2f(ember_f16 h) { return _cvtsh_ss(h); }

static inline const void *row(const void *vy, size_t y_stride, int k) {
    return (const char *)vy + (size_t)k * y_stride;
}

static inline __m512 load_f16x16(const ember_f16 *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

/* Reduces v[0..nt) (16 lanes each) as vec_dot reduces one accumulator:
 * t8 = hi256 + lo256, t4 = hi128 + lo128 of t8, then (t0+t2) + (t1+t3).
 * Returns the sums in r[0..nt). Vector j of the packed steps holds token j
 * in its 128-bit lane j. */
static inline void reduce16(const __m512 *v, int nt, float *r) {
    const __m512 z = _mm512_setzero_ps();
    const __m512 v0 = v[0], v1 = nt > 1 ? v[1] : z, v2 = nt > 2 ? v[2] : z, v3 = nt > 3 ? v[3] : z;
    /* t8: 256-bit lo of u01 = v0.lo256, hi = v1.lo256; w01 the hi256s */
    const __m512 u01 = _mm512_shuffle_f32x4(v0, v1, 0x44), w01 = _mm512_shuffle_f32x4(v0, v1, 0xEE);
    const __m512 u23 = _mm512_shuffle_f32x4(v2, v3, 0x44), w23 = _mm512_shuffle_f32x4(v2, v3, 0xEE);
    const __m512 t01 = _mm512_add_ps(w01, u01); /* [v0 t8 (2 x 128) | v1 t8] */
    const __m512 t23 = _mm512_add_ps(w23, u23);
    /* t4: 128-bit lanes 0,2 of t01 and t23 against lanes 1,3 */
    const __m512 lo = _mm512_shuffle_f32x4(t01, t23, 0x88), hi = _mm512_shuffle_f32x4(t01, t23, 0xDD);
    const __m512 t4 = _mm512_add_ps(hi, lo); /* lane j = t4 of token j */
    /* per lane: (t0+t2), (t1+t3), then their sum */
    const __m512 h = _mm512_add_ps(t4, _mm512_permute_ps(t4, 0x4E)); /* [t0+t2, t1+t3, ...] */
    const __m512 s = _mm512_add_ps(h, _mm512_permute_ps(h, 0xB1));   /* lane 0: (t0+t2)+(t1+t3) */
    float out[16];
    _mm512_storeu_ps(out, s);
    for (int k = 0; k < nt; k++) r[k] = out[4 * k];
}

/* F32 and F16: t selects the load. */
static inline void f32f16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, const int nt,
                                 const int f16) {
    const int np = n & ~63;
    __m512 a[4][4];
    for (int k = 0; k < 4; k++)
        for (int p = 0; p < 4; p++) a[k][p] = _mm512_setzero_ps();
    for (int i = 0; i < np; i += 64)
        for (int p = 0; p < 4; p++) {
            const int e = i + 16 * p;
            const __m512 w = f16 ? load_f16x16((const ember_f16 *)vx + e) : _mm512_loadu_ps((const float *)vx + e);
            for (int k = 0; k < nt; k++) {
                const void *y = row(vy, y_stride, k);
                const __m512 yv = f16 ? load_f16x16((const ember_f16 *)y + e) : _mm512_loadu_ps((const float *)y + e);
                a[k][p] = _mm512_fmadd_ps(w, yv, a[k][p]);
            }
        }
    __m512 v[4];
    for (int k = 0; k < nt; k++) v[k] = _mm512_add_ps(_mm512_add_ps(a[k][0], a[k][2]), _mm512_add_ps(a[k][1], a[k][3]));
    float red[4];
    reduce16(v, nt, red);
    for (int k = 0; k < nt; k++) {
        if (f16) {
            const ember_f16 *x = vx, *y = row(vy, y_stride, k);
            double sum = (double)red[k];
            for (int i = np; i < n; i++) sum += (double)(h2f(x[i]) * h2f(y[i]));
            s[k] = (float)sum;
        } else {
            const float *x = vx, *y = row(vy, y_stride, k);
            float sum = red[k];
            const int nf = n - (n - np) % 8;
            for (int i = np; i < nf; i++) sum += x[i] * y[i];
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

static inline void bf16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, const int nt) {
    const ember_bf16 *x = vx;
    __m512 c1[4], c2[4];
    for (int k = 0; k < 4; k++) c1[k] = c2[k] = _mm512_setzero_ps();
    int i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512bh w1 = (__m512bh)_mm512_loadu_si512(x + i), w2 = (__m512bh)_mm512_loadu_si512(x + i + 32);
        for (int k = 0; k < nt; k++) {
            const ember_bf16 *y = row(vy, y_stride, k);
            c1[k] = _mm512_dpbf16_ps(c1[k], w1, (__m512bh)_mm512_loadu_si512(y + i));
            c2[k] = _mm512_dpbf16_ps(c2[k], w2, (__m512bh)_mm512_loadu_si512(y + i + 32));
        }
    }
    float r1[4], r2[4];
    reduce16(c1, nt, r1);
    reduce16(c2, nt, r2);
    for (int k = 0; k < nt; k++) {
        const ember_bf16 *y = row(vy, y_stride, k);
        double sum = 0.0;
        sum += (double)r1[k];
        sum += (double)r2[k];
        for (int j = i; j < n; j++) sum += (double)(ember_bf16_to_fp32(x[j]) * ember_bf16_to_fp32(y[j]));
        s[k] = (float)sum;
    }
}

static void dot_bf16_tokens(int n, float *s, const void *vx, const void *vy, size_t y_stride, int nt) {
    if (nt == 4) bf16_tokens(n, s, vx, vy, y_stride, 4);
    else if (nt == 3) bf16_tokens(n, s, vx, vy, y_stride, 3);
    else if (nt == 2) bf16_tokens(n, s, vx, vy, y_stride, 2);
    else bf16_tokens(n, s, vx, vy, y_stride, 1);
}

void ember_kernels_avx512_tokens_float(ember_kernel_set *ks) {
    ks->vec_dot_tokens[EMBER_TYPE_F32] = dot_f32_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_F16] = dot_f16_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_BF16] = dot_bf16_tokens;
}
