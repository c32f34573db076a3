/* Q4_0 dot in the order of llama.cpp's repacked Q4_0 kernels (used on x86
 * with AVX2 for every weight matrix whose row count is a multiple of 8, in
 * prompt processing and generation alike): one float accumulator per
 * output, and per block acc = fma((float)isum, d_w * d_a, acc), where isum
 * is the exact integer dot of the block. */
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

/* Packed group of 8 rows: for each block index b, 144 bytes (the size of 8
 * blocks): the 8 fp16 scales of rows 0..7, then 64 bytes holding bytes
 * 0..7 of each row's qs (row k at 8*k), then 64 bytes holding bytes 8..15.
 * So one 64-byte load gives, per 8-byte lane k, row k's elements 0..7 (low
 * nibbles) and 16..23 (high nibbles); the second load elements 8..15 and
 * 24..31. */
void ember_q4_0_pack8(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK4_0; b++, o += 8 * sizeof(block_q4_0)) {
        for (int k = 0; k < 8; k++) {
            const block_q4_0 *x = (const block_q4_0 *)((const char *)rows + (size_t)k * row_bytes) + b;
            memcpy(o + 2 * k, &x->d, 2);
            memcpy(o + 16 + 8 * k, x->qs, 8);
            memcpy(o + 80 + 8 * k, x->qs + 8, 8);
        }
    }
}

/* The packed form the kernels read: groups of 16 rows, each two 8-row
 * groups as above back to back (rows 0..7, then 8..15), so a 16-row block
 * is one stream and the AVX-512 kernel can fold both halves' lanes into
 * one 16-lane register. */
void ember_q4_0_pack16(int n, void *dst, const void *rows, size_t row_bytes) {
    ember_q4_0_pack8(n, dst, rows, row_bytes);
    ember_q4_0_pack8(n, (char *)dst + (size_t)(n / QK4_0) * 8 * sizeof(block_q4_0), (const char *)rows + 8 * row_bytes,
                     row_bytes);
}

void ember_vec_dot_q4_0_packed8_ref(int n, float *s, const void *group, const void *vy) {
    const uint8_t *g = group;
    const block_q8_0 *y = vy;
    for (int k = 0; k < 8; k++) {
        float acc = 0.0f;
        for (int b = 0; b < n / QK4_0; b++) {
            const uint8_t *o = g + (size_t)b * 8 * sizeof(block_q4_0);
            uint16_t d;
            memcpy(&d, o + 2 * k, 2);
            int isum = 0;
            for (int j = 0; j < 16; j++) {
                const uint8_t q = o[(j < 8 ? 16 : 80) + 8 * k + (j & 7)];
                isum += ((q & 0xF) - 8) * y[b].qs[j];
                isum += ((q >> 4) - 8) * y[b].qs[j + 16];
            }
            acc = fmaf((float)isum, ember_fp16_to_fp32(d) * ember_fp16_to_fp32(y[b].d), acc);
        }
        s[k] = acc;
    }
}

/* Side data of a Q8_0 activation row for the packed Q4_0 kernels that take
 * the activation as the unsigned operand (AVX-512 VNNI), built once per
 * row instead of once per group of 8 weight rows: per block the 32 values
 * offset to unsigned (a + 128, i.e. a ^ 0x80), then per block the scale d
 * as float. */
size_t ember_q4_0_act_aux_size(int64_t n) { return (size_t)(n / QK8_0) * (QK8_0 + sizeof(float)); }

void ember_q4_0_act_aux(const void *vy, void *aux, int64_t n) {
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    uint8_t *u = aux;
    float *d = (float *)(u + QK8_0 * nb);
    for (int64_t b = 0; b < nb; b++) {
        for (int j = 0; j < QK8_0; j++) u[QK8_0 * b + j] = (uint8_t)y[b].qs[j] ^ 0x80;
        d[b] = ember_fp16_to_fp32(y[b].d);
    }
}

static void packed16_ref(int n, float *s, const void *group, const void *y) {
    ember_vec_dot_q4_0_packed8_ref(n, s, group, y);
    ember_vec_dot_q4_0_packed8_ref(n, s + 8, (const char *)group + (size_t)(n / QK4_0) * 8 * sizeof(block_q4_0), y);
}

const ember_packed_layout ember_q4_0_rows8x2_layout = {
    "q4_0-rows8x2", 16, ember_q4_0_pack16, packed16_ref, ember_q4_0_act_aux_size, ember_q4_0_act_aux,
};
