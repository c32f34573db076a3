/* Element-wise row operations of the forward pass that have SIMD versions:
 * the scalar references here, the fastest for the CPU chosen in types.c. */
#include "formats.h"
#include "expf_poly.h"

/* g = silu(g) * u: the first n & ~15 elements take expf_poly, the rest
 * libm's expf, as llama.cpp's vectorised SiLU does. */
void ember_swiglu_ref(float *g, const float *u, int n) {
    const int vec_end = n & ~15;
    for (int i = 0; i < n; i++) {
        const float e = i < vec_end ? expf_poly(-g[i]) : expf(-g[i]);
        g[i] = (g[i] / (1.0f + e)) * u[i];
    }
}

/* Softmax numerator and denominator: 16-wide chunks are exponentiated with
 * expf_poly and each chunk is summed as a pairwise tree in float before
 * joining the double total (the padded tail contributes exact zeros). */
double ember_softmax_exp_sum_ref(float *x, int n, float mx) {
    double sum = 0.0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        float v[16];
        for (int k = 0; k < 16; k++) x[i + k] = v[k] = expf_poly(x[i + k] - mx);
        for (int w = 8; w >= 1; w /= 2)
            for (int k = 0; k < w; k++) v[k] = v[k] + v[k + w];
        sum += (double)v[0];
    }
    if (i < n) {
        float v[16] = {0};
        for (int k = 0; i + k < n; k++) x[i + k] = v[k] = expf_poly(x[i + k] - mx);
        for (int w = 8; w >= 1; w /= 2)
            for (int k = 0; k < w; k++) v[k] = v[k] + v[k + w];
        sum += (double)v[0];
    }
    return sum;
}

void ember_sumsq_rows_ref(const float *x, size_t stride, int nrows, int n, double *sums) {
    for (int r = 0; r < nrows; r++) {
        const float *v = x + (size_t)r * stride;
        double sum = 0.0;
        for (int i = 0; i < n; i++) sum += (double)(v[i] * v[i]);
        sums[r] = sum;
    }
}

double ember_sumsq_unordered_ref(const float *x, int n) {
    double acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += (double)(x[i + k] * x[i + k]);
    for (; i < n; i++) acc[0] += (double)(x[i] * x[i]);
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Both sums add n nonnegative terms, each within gamma(n) = n u / (1 - n u)
 * (u = 2^-53) of the exact sum S relative to S, so the ordered sum lies
 * within e = 2 gamma(n) S of the unordered one; n 2^-50 s is over twice
 * that (and covers the roundings of s +- e). (s +- e) / n and the cast to
 * float are monotone: if both ends give the same float, so does the ordered
 * sum. NaN or infinity fails the test and takes the chain. */
float ember_sumsq_mean_from(const float *x, int n, double s) {
    if (n > 0 && n < (1 << 20)) {
        const double e = s * (double)n * 0x1p-50;
        const float lo = (float)((s - e) / n), hi = (float)((s + e) / n);
        if (lo == hi) return lo;
    }
    double sum;
    ember_sumsq_rows_ref(x, 0, 1, n, &sum);
    return (float)(sum / n);
}

float ember_sumsq_mean(const float *x, int n) { return ember_sumsq_mean_from(x, n, ember_sumsq_unordered(x, n)); }

void ember_scale_mul_ref(float *y, const float *x, float s, const float *w, int n) {
    for (int i = 0; i < n; i++) {
        const float v = x[i] * s;
        y[i] = v * w[i];
    }
}

float ember_scale_max_ref(float *x, int n, float s) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) {
        x[i] *= s;
        mx = x[i] > mx ? x[i] : mx;
    }
    return mx;
}

/* RoPE: rotates n_heads vectors of head_dim by a position's cos/sin pairs
 * (cs[2i], cs[2i+1]) over the first n_rot dimensions; pair i is (2i, 2i+1),
 * or (i, i + n_rot/2) with neox. One fused multiply-add per output, the way
 * llama.cpp's build (gcc, -march=native, contraction on) evaluates
 * x0*c - x1*s and x0*s + x1*c. */
void ember_rope_ref(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox) {
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * head_dim;
        for (int i0 = 0; i0 < n_rot; i0 += 2) {
            const int a = neox ? i0 / 2 : i0, b = neox ? i0 / 2 + n_rot / 2 : i0 + 1;
            const float x0 = v[a], x1 = v[b];
            v[a] = fmaf(x0, cs[i0], -(x1 * cs[i0 + 1]));
            v[b] = fmaf(x0, cs[i0 + 1], x1 * cs[i0]);
        }
    }
}
