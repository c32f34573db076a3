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
