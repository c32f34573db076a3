/* Reference (scalar) code for the non-K formats: F32, F16, BF16 and the
 * 32-element block quants Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1.
 *
 * Quantizers reproduce llama.cpp's reference quantizers bit for bit (same
 * scale choice, same float expressions, same truncating conversions), so a
 * file quantized by ember equals one quantized by llama.cpp. The dot products
 * follow llama.cpp's portable C path: integer dot per block (exact), blocks
 * folded into a float in block order, and the F32/F16/BF16 dots summed in
 * double. SIMD kernels (kernels/simple_*.c) may only reorder float sums. */
#include "formats.h"
#include "fp16.h"
#include <float.h>
#include <math.h>
#include <string.h>

/* ---- plain floats ---- */

void ember_f32_to_float(const void *x, float *y, int64_t n) {
    if (n > 0) memcpy(y, x, (size_t)n * sizeof(float));
}

void ember_f32_from_float(const float *x, void *y, int64_t n) {
    if (n > 0) memcpy(y, x, (size_t)n * sizeof(float));
}

void ember_f16_to_float(const void *vx, float *y, int64_t n) {
    const ember_f16 *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = ember_fp16_to_fp32(x[i]);
}

void ember_f16_from_float(const float *x, void *vy, int64_t n) {
    ember_f16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = ember_fp32_to_fp16(x[i]);
}

void ember_bf16_to_float(const void *vx, float *y, int64_t n) {
    const ember_bf16 *x = vx;
    for (int64_t i = 0; i < n; i++) y[i] = ember_bf16_to_fp32(x[i]);
}

void ember_bf16_from_float(const float *x, void *vy, int64_t n) {
    ember_bf16 *y = vy;
    for (int64_t i = 0; i < n; i++) y[i] = ember_fp32_to_bf16(x[i]);
}

/* ---- dequantization: q*d (+ m), element j of a block from nibble/bit j ---- */

void ember_dequant_q4_0(const void *vx, float *y, int64_t n) {
    const block_q4_0 *x = vx;
    for (int64_t i = 0; i < n / QK4_0; i++, y += QK4_0) {
        const float d = ember_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            y[j] = (float)((x[i].qs[j] & 0x0F) - 8) * d;
            y[j + QK4_0 / 2] = (float)((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void ember_dequant_q4_1(const void *vx, float *y, int64_t n) {
    const block_q4_1 *x = vx;
    for (int64_t i = 0; i < n / QK4_1; i++, y += QK4_1) {
        const float d = ember_fp16_to_fp32(x[i].d);
        const float m = ember_fp16_to_fp32(x[i].m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            y[j] = (float)(x[i].qs[j] & 0x0F) * d + m;
            y[j + QK4_1 / 2] = (float)(x[i].qs[j] >> 4) * d + m;
        }
    }
}

/* The fifth bit of element j is bit j of the little-endian qh word. */
static uint32_t load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

void ember_dequant_q5_0(const void *vx, float *y, int64_t n) {
    const block_q5_0 *x = vx;
    for (int64_t i = 0; i < n / QK5_0; i++, y += QK5_0) {
        const float d = ember_fp16_to_fp32(x[i].d);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int lo = (x[i].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            const int hi = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(lo - 16) * d;
            y[j + QK5_0 / 2] = (float)(hi - 16) * d;
        }
    }
}

void ember_dequant_q5_1(const void *vx, float *y, int64_t n) {
    const block_q5_1 *x = vx;
    for (int64_t i = 0; i < n / QK5_1; i++, y += QK5_1) {
        const float d = ember_fp16_to_fp32(x[i].d);
        const float m = ember_fp16_to_fp32(x[i].m);
        const uint32_t qh = load_qh(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            const int lo = (x[i].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            const int hi = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)lo * d + m;
            y[j + QK5_1 / 2] = (float)hi * d + m;
        }
    }
}

void ember_dequant_q8_0(const void *vx, float *y, int64_t n) {
    const block_q8_0 *x = vx;
    for (int64_t i = 0; i < n / QK8_0; i++, y += QK8_0) {
        const float d = ember_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

void ember_dequant_q8_1(const void *vx, float *y, int64_t n) {
    const block_q8_1 *x = vx;
    for (int64_t i = 0; i < n / QK8_1; i++, y += QK8_1) {
        const float d = ember_fp16_to_fp32(x[i].d);
        for (int j = 0; j < QK8_1; j++) y[j] = (float)x[i].qs[j] * d;
    }
}

/* ---- reference quantizers ---- */

/* The value of largest magnitude, keeping its sign (first one on ties). */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static void min_max(const float *x, int n, float *mn, float *mx) {
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* llama.cpp adds 0.5 (8.5, 16.5 with the offset) and truncates toward zero
 * rather than rounding; keep that. Clamping below at 0 changes nothing for
 * finite input (the sum never goes under -1) but keeps a NaN from making the
 * int conversion undefined. */
static int trunc_clamp(float v, int top) {
    if (!(v > 0.0f)) return 0;
    if (v >= (float)top) return top;
    return (int)v;
}

void ember_quant_q4_0_ref(const float *x, void *vy, int64_t n) {
    block_q4_0 *y = vy;
    for (int64_t i = 0; i < n / QK4_0; i++, x += QK4_0) {
        const float d = signed_absmax(x, QK4_0) / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ember_fp32_to_fp16(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            const int lo = trunc_clamp(x[j] * id + 8.5f, 15);
            const int hi = trunc_clamp(x[j + QK4_0 / 2] * id + 8.5f, 15);
            y[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

void ember_quant_q4_1_ref(const float *x, void *vy, int64_t n) {
    block_q4_1 *y = vy;
    for (int64_t i = 0; i < n / QK4_1; i++, x += QK4_1) {
        float mn, mx;
        min_max(x, QK4_1, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ember_fp32_to_fp16(d);
        y[i].m = ember_fp32_to_fp16(mn);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const int lo = trunc_clamp((x[j] - mn) * id + 0.5f, 15);
            const int hi = trunc_clamp((x[j + QK4_1 / 2] - mn) * id + 0.5f, 15);
            y[i].qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

static void store_qh(uint8_t out[4], uint32_t qh) {
    for (int k = 0; k < 4; k++) out[k] = (uint8_t)(qh >> (8 * k));
}

void ember_quant_q5_0_ref(const float *x, void *vy, int64_t n) {
    block_q5_0 *y = vy;
    for (int64_t i = 0; i < n / QK5_0; i++, x += QK5_0) {
        const float d = signed_absmax(x, QK5_0) / -16;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        y[i].d = ember_fp32_to_fp16(d);
        for (int j = 0; j < QK5_0 / 2; j++) {
            const int lo = trunc_clamp(x[j] * id + 16.5f, 31);
            const int hi = trunc_clamp(x[j + QK5_0 / 2] * id + 16.5f, 31);
            y[i].qs[j] = (uint8_t)((lo & 0x0F) | (hi & 0x0F) << 4);
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + QK5_0 / 2);
        }
        store_qh(y[i].qh, qh);
    }
}

void ember_quant_q5_1_ref(const float *x, void *vy, int64_t n) {
    block_q5_1 *y = vy;
    for (int64_t i = 0; i < n / QK5_1; i++, x += QK5_1) {
        float mn, mx;
        min_max(x, QK5_1, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        y[i].d = ember_fp32_to_fp16(d);
        y[i].m = ember_fp32_to_fp16(mn);
        for (int j = 0; j < QK5_1 / 2; j++) {
            /* llama.cpp does not clamp Q5_1 (its cast wraps at 256, never
             * reached for finite input); 31 is the same for every value the
             * scale can produce. */
            const int lo = trunc_clamp((x[j] - mn) * id + 0.5f, 31);
            const int hi = trunc_clamp((x[j + QK5_1 / 2] - mn) * id + 0.5f, 31);
            y[i].qs[j] = (uint8_t)((lo & 0x0F) | (hi & 0x0F) << 4);
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + QK5_1 / 2);
        }
        store_qh(y[i].qh, qh);
    }
}

static float absmax(const float *x, int n) {
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        const float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    return amax;
}

/* roundf (half away from zero), then clamp so a NaN or an overflowing
 * product cannot make the int8 conversion undefined. */
static int round_i8(float v) {
    const float r = roundf(v);
    if (!(r > -128.0f)) return r != r ? 0 : -128;
    return r > 127.0f ? 127 : (int)r;
}

void ember_quant_q8_0_ref(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        const float d = absmax(x, QK8_0) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = ember_fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)round_i8(x[j] * id);
    }
}

void ember_quant_q8_1_ref(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float d = absmax(x, QK8_1) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        y[i].d = ember_fp32_to_fp16(d);
        for (int j = 0; j < QK8_1; j++) {
            const int q = round_i8(x[j] * id);
            y[i].qs[j] = (int8_t)q;
            sum += q;
        }
        /* s uses the unrounded f32 d, as llama.cpp does. */
        y[i].s = ember_fp32_to_fp16((float)sum * d);
    }
}

/* ---- dot products ---- */

void ember_vec_dot_f32_ref(int n, float *s, const void *vx, const void *vy) {
    const float *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

void ember_vec_dot_f16_ref(int n, float *s, const void *vx, const void *vy) {
    const ember_f16 *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(ember_fp16_to_fp32(x[i]) * ember_fp16_to_fp32(y[i]));
    *s = (float)sum;
}

void ember_vec_dot_bf16_ref(int n, float *s, const void *vx, const void *vy) {
    const ember_bf16 *x = vx, *y = vy;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (double)(ember_bf16_to_fp32(x[i]) * ember_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

/* Each block: exact integer dot, then one float update in block order with
 * the same association as llama.cpp's portable C (they differ per type). */

void ember_vec_dot_q4_0_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK8_0 / 2; j++) {
            isum += ((x[i].qs[j] & 0x0F) - 8) * y[i].qs[j];
            isum += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + QK8_0 / 2];
        }
        sum += (float)isum * ember_fp16_to_fp32(x[i].d) * ember_fp16_to_fp32(y[i].d);
    }
    *s = sum;
}

void ember_vec_dot_q4_1_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / QK8_1; i++) {
        int isum = 0;
        for (int j = 0; j < QK8_1 / 2; j++) {
            isum += (x[i].qs[j] & 0x0F) * y[i].qs[j];
            isum += (x[i].qs[j] >> 4) * y[i].qs[j + QK8_1 / 2];
        }
        sum += ember_fp16_to_fp32(x[i].d) * ember_fp16_to_fp32(y[i].d) * (float)isum +
               ember_fp16_to_fp32(x[i].m) * ember_fp16_to_fp32(y[i].s);
    }
    *s = sum;
}

void ember_vec_dot_q5_0_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / QK8_0; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int isum = 0;
        for (int j = 0; j < QK8_0 / 2; j++) {
            const int lo = ((x[i].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4) - 16;
            const int hi = ((x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            isum += lo * y[i].qs[j] + hi * y[i].qs[j + QK8_0 / 2];
        }
        sum += ember_fp16_to_fp32(x[i].d) * ember_fp16_to_fp32(y[i].d) * (float)isum;
    }
    *s = sum;
}

void ember_vec_dot_q5_1_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / QK8_1; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int isum = 0;
        for (int j = 0; j < QK8_1 / 2; j++) {
            const int lo = (x[i].qs[j] & 0x0F) | (int)((qh >> j) & 1) << 4;
            const int hi = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            isum += lo * y[i].qs[j] + hi * y[i].qs[j + QK8_1 / 2];
        }
        sum += ember_fp16_to_fp32(x[i].d) * ember_fp16_to_fp32(y[i].d) * (float)isum +
               ember_fp16_to_fp32(x[i].m) * ember_fp16_to_fp32(y[i].s);
    }
    *s = sum;
}

void ember_vec_dot_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    float sum = 0.0f;
    for (int i = 0; i < n / QK8_0; i++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++) isum += x[i].qs[j] * y[i].qs[j];
        sum += (float)isum * (ember_fp16_to_fp32(x[i].d) * ember_fp16_to_fp32(y[i].d));
    }
    *s = sum;
}
