/* AVX2 row operations, lane for lane the scalar references in
 * formats/rowops.c (same fma chain). AVX2 has no scalef: ldexp(j, n) is two
 * exact-or-once-rounded multiplies by powers of two, 2^(n>>1) then
 * 2^(n - (n>>1)), both normal for |n| <= 192; the first product stays
 * normal, so only the second rounds, as ldexpf does once. */
#include "kernels.h"
#include <immintrin.h>
#include <math.h>
#include "reduce_x86.h"

static inline __m256 pow2i(__m256i k) { /* 2^k, |k| <= 126 */
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(k, _mm256_set1_epi32(127)), 23));
}

/* expf_poly on 8 lanes */
static inline __m256 expf_poly8(__m256 x) {
    const __m256 r = _mm256_set1_ps(0x1.8p23f);
    const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f), r);
    const __m256 n = _mm256_sub_ps(z, r);
    const __m256 b = _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                                      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
    const __m256 u = _mm256_mul_ps(b, b);
    const __m256 j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b, _mm256_set1_ps(0x1.573e2ep-5f)), u,
                        _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b, _mm256_set1_ps(0x1.fffdb6p-2f))),
        u, _mm256_fmadd_ps(_mm256_set1_ps(0x1.ffffecp-1f), b, _mm256_set1_ps(1.0f)));
    const __m256 absn = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
    const __m256 big = _mm256_cmp_ps(absn, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
    /* n is an integer in float; clamp so the powers stay in range where the
     * result is replaced below anyway */
    const __m256i ni = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(n, _mm256_set1_ps(-192.0f)), _mm256_set1_ps(192.0f)));
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    __m256 e = _mm256_mul_ps(_mm256_mul_ps(j, pow2i(n1)), pow2i(n2));
    if (_mm256_movemask_ps(big)) { /* |n| > 192: 0 below, infinity above */
        const __m256 neg = _mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ);
        e = _mm256_blendv_ps(e, _mm256_blendv_ps(_mm256_set1_ps(INFINITY), _mm256_setzero_ps(), neg), big);
    }
    return e;
}

static void swiglu(float *g, const float *u, int n) {
    const int vec_end = n & ~15;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (int i = 0; i < vec_end; i += 8) {
        const __m256 x = _mm256_loadu_ps(g + i);
        const __m256 e = expf_poly8(_mm256_xor_ps(x, _mm256_set1_ps(-0.0f)));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    for (int i = vec_end; i < n; i++) g[i] = (g[i] / (1.0f + expf(-g[i]))) * u[i];
}

/* each 16-wide chunk summed as the reference's pairwise tree: (k, k+8),
 * then hsum8's order */
static double softmax_exp_sum(float *x, int n, float mx) {
    const __m256 m = _mm256_set1_ps(mx);
    double sum = 0.0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 lo = expf_poly8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        const __m256 hi = expf_poly8(_mm256_sub_ps(_mm256_loadu_ps(x + i + 8), m));
        _mm256_storeu_ps(x + i, lo);
        _mm256_storeu_ps(x + i + 8, hi);
        sum += (double)hsum8(_mm256_add_ps(lo, hi));
    }
    if (i < n) { /* the padded tail contributes exact zeros */
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i klo = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i), lane);
        const __m256i khi = _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i - 8), lane);
        const __m256 lo = _mm256_and_ps(_mm256_castsi256_ps(klo),
                                        expf_poly8(_mm256_sub_ps(_mm256_maskload_ps(x + i, klo), m)));
        const __m256 hi = _mm256_and_ps(_mm256_castsi256_ps(khi),
                                        expf_poly8(_mm256_sub_ps(_mm256_maskload_ps(x + i + 8, khi), m)));
        _mm256_maskstore_ps(x + i, klo, lo);
        _mm256_maskstore_ps(x + i + 8, khi, hi);
        sum += (double)hsum8(_mm256_add_ps(lo, hi));
    }
    return sum;
}

/* RoPE as ember_rope_ref: four adjacent pairs per vector in the normal
 * mode (x0 broadcast to both lanes of its pair times (c, s), plus x1 times
 * (-s, c): -(x1*s) is x1*(-s) exactly), eight pairs per step with neox */
static void rope(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox) {
    const __m256 neg_even = _mm256_setr_ps(-0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f, -0.0f, 0.0f);
    const __m256i even_idx = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        int i0 = 0;
        if (!neox) {
            for (; i0 + 8 <= n_rot; i0 += 8) {
                const __m256 xv = _mm256_loadu_ps(v + i0), c = _mm256_loadu_ps(cs + i0);
                const __m256 sc = _mm256_xor_ps(_mm256_permute_ps(c, 0xB1), neg_even); /* (-s, c) per pair */
                _mm256_storeu_ps(v + i0, _mm256_fmadd_ps(_mm256_moveldup_ps(xv), c, _mm256_mul_ps(_mm256_movehdup_ps(xv), sc)));
            }
            for (; i0 < n_rot; i0 += 2) {
                const float x0 = v[i0], x1 = v[i0 + 1];
                v[i0] = fmaf(x0, cs[i0], -(x1 * cs[i0 + 1]));
                v[i0 + 1] = fmaf(x0, cs[i0 + 1], x1 * cs[i0]);
            }
        } else {
            const int half = n_rot / 2;
            for (; i0 + 16 <= n_rot; i0 += 16) {
                /* pairs i0/2 .. i0/2+7: cos in the even elements of cs[i0..i0+15], sin in the odd */
                const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(cs + i0), even_idx);
                const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(cs + i0 + 8), even_idx);
                const __m256 c = _mm256_permute2f128_ps(lo, hi, 0x20), s = _mm256_permute2f128_ps(lo, hi, 0x31);
                const __m256 x0 = _mm256_loadu_ps(v + i0 / 2), x1 = _mm256_loadu_ps(v + i0 / 2 + half);
                const __m256 ns = _mm256_xor_ps(s, _mm256_set1_ps(-0.0f));
                _mm256_storeu_ps(v + i0 / 2, _mm256_fmadd_ps(x0, c, _mm256_mul_ps(x1, ns)));
                _mm256_storeu_ps(v + i0 / 2 + half, _mm256_fmadd_ps(x0, s, _mm256_mul_ps(x1, c)));
            }
            for (; i0 < n_rot; i0 += 2) {
                const int ic = i0 / 2;
                const float x0 = v[ic], x1 = v[ic + half];
                v[ic] = fmaf(x0, cs[i0], -(x1 * cs[i0 + 1]));
                v[ic + half] = fmaf(x0, cs[i0 + 1], x1 * cs[i0]);
            }
        }
    }
}

/* MAXPS(v, m) is v > m ? v : m lane by lane, the reference's step */
static float scale_max(float *x, int n, float s) {
    const __m256 sv = _mm256_set1_ps(s);
    __m256 m8 = _mm256_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), sv);
        _mm256_storeu_ps(x + i, v);
        m8 = _mm256_max_ps(v, m8);
    }
    float lanes[8], mx = -INFINITY;
    _mm256_storeu_ps(lanes, m8);
    for (int k = 0; k < 8; k++) mx = lanes[k] > mx ? lanes[k] : mx;
    for (; i < n; i++) {
        x[i] *= s;
        mx = x[i] > mx ? x[i] : mx;
    }
    return mx;
}

/* Eight rows at once, one double lane each: eight elements of each row
 * are loaded and transposed (8 x 8, in registers), then element k of the
 * eight rows is squared (in float, as the reference) and widened to two
 * vectors of four doubles, each lane adding in its row's order. The
 * sequential sum is a chain of dependent adds; eight chains run in the time
 * of one. Rows past nrows repeat row 0 and are dropped. (Gathering element
 * i of the rows instead was slower than the scalar chain on Zen 5.) */
static void sumsq_rows(const float *x, size_t stride, int nrows, int n, double *sums) {
    if (nrows < 2) {
        ember_sumsq_rows_ref(x, stride, nrows, n, sums);
        return;
    }
    const float *p[8];
    for (int r = 0; r < 8; r++) p[r] = x + (r < nrows ? (size_t)r * stride : 0);
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 c[8];
        for (int r = 0; r < 8; r++) c[r] = _mm256_loadu_ps(p[r] + i);
        transpose8x8_ps(c); /* c[k]: element i + k of the eight rows */
        for (int k = 0; k < 8; k++) {
            const __m256 sq = _mm256_mul_ps(c[k], c[k]);
            lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(sq)));
            hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(sq, 1)));
        }
    }
    double all[8];
    _mm256_storeu_pd(all, lo);
    _mm256_storeu_pd(all + 4, hi);
    for (int r = 0; r < nrows; r++) {
        double sum = all[r];
        for (int j = i; j < n; j++) sum += (double)(p[r][j] * p[r][j]);
        sums[r] = sum;
    }
}

/* sixteen double lanes; the order only moves the result within the bound
 * ember_sumsq_mean allows for */
static double sumsq_unordered(const float *x, int n) {
    __m256d a0 = _mm256_setzero_pd(), a1 = _mm256_setzero_pd(), a2 = _mm256_setzero_pd(), a3 = _mm256_setzero_pd();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        const __m256 s0 = _mm256_mul_ps(v0, v0), s1 = _mm256_mul_ps(v1, v1);
        a0 = _mm256_add_pd(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(s0)));
        a1 = _mm256_add_pd(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(s0, 1)));
        a2 = _mm256_add_pd(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(s1)));
        a3 = _mm256_add_pd(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(s1, 1)));
    }
    double lanes[4];
    _mm256_storeu_pd(lanes, _mm256_add_pd(_mm256_add_pd(a0, a1), _mm256_add_pd(a2, a3)));
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < n; i++) sum += (double)(x[i] * x[i]);
    return sum;
}

static void scale_mul(float *y, const float *x, float s, const float *w, int n) {
    const __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
    for (; i < n; i++) {
        const float v = x[i] * s;
        y[i] = v * w[i];
    }
}

void ember_kernels_avx2_rowops(ember_kernel_set *ks) {
    ks->sumsq_unordered = sumsq_unordered;
    ks->scale_mul = scale_mul;
    ks->swiglu = swiglu;
    ks->softmax_exp_sum = softmax_exp_sum;
    ks->rope = rope;
    ks->scale_max = scale_max;
    ks->sumsq_rows = sumsq_rows;
}
