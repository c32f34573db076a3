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

