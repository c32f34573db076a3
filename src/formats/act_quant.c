/* Activation quantizers (Q8_0, Q8_1). These run once per matmul input row.
 * They mirror llama.cpp's x86 activation path rather than its reference
 * weight quantizer: inverse scale 127/amax (not 1/d) and rounding half to
 * even. The two differ only in rare ties, but a greedy token can hinge on
 * one, so ember matches the engine whose outputs it must reproduce. */
#include "formats.h"
#include "fp16.h"
#include <math.h>

static float block_amax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    return amax;
}

void ember_quant_q8_0_act(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float amax = block_amax(x, QK8_0);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        y[i].d = ember_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
    }
}

void ember_quant_q8_1_act(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float amax = block_amax(x, QK8_1);
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int sum = 0;
        y[i].d = ember_fp32_to_fp16(d);
        for (int j = 0; j < QK8_1; j++) {
            const int q = (int)nearbyintf(x[j] * id);
            y[i].qs[j] = (int8_t)q;
            sum += q;
        }
        y[i].s = ember_fp32_to_fp16(d * (float)sum);
    }
}
