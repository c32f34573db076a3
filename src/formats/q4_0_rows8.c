/* Q4_0 dot in the order of llama.cpp's repacked Q4_0 kernels (used on x86
 * with AVX2 for every weight matrix whose row count is a multiple of 8, in
 * prompt processing and generation alike): one float accumulator per
 * output, and per block acc = fma((float)isum, d_w * d_a, acc), where isum
 * is the exact integer dot of the block. The packed 16-row copy the
 * packed kernels read in this order is q4_0_lanes16.c. */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

void ember_vec_dot_q4_0_rows8_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float acc = 0.0f;
    for (int b = 0; b < n / QK4_0; b++) {
        int isum = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            isum += ((x[b].qs[j] & 0xF) - 8) * y[b].qs[j];
            isum += ((x[b].qs[j] >> 4) - 8) * y[b].qs[j + QK4_0 / 2];
        }
        acc = fmaf((float)isum, ember_fp16_to_fp32(x[b].d) * ember_fp16_to_fp32(y[b].d), acc);
    }
    *s = acc;
}
