/* exp(x) as llama.cpp's vectorised softmax and SiLU compute it, shared by
 * the forward pass and the row kernels. */
#ifndef EMBER_EXPF_POLY_H
#define EMBER_EXPF_POLY_H

#include <math.h>

/* exp(x) as llama.cpp's vectorised softmax and SiLU compute it (a
 * range-reduced polynomial, max error ~1.5 ulp). Using the same formula,
 * lane by lane, keeps attention weights and activations bit-identical to
 * llama.cpp's, which matters when they are then rounded to F16. */
static inline float expf_poly(float x) {
    const float r = 0x1.8p23f;
    const float z = fmaf(x, 0x1.715476p+0f, r);
    const float n = z - r;
    const float b = fmaf(-n, 0x1.7f7d1cp-20f, fmaf(-n, 0x1.62e4p-1f, x));
    if (fabsf(n) > 192.0f) return n <= 0.0f ? 0.0f : INFINITY;
    const float u = b * b;
    const float j = fmaf(fmaf(fmaf(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u, fmaf(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
                         u, fmaf(0x1.ffffecp-1f, b, 1.0f));
    return ldexpf(j, (int)n);
}

#endif
