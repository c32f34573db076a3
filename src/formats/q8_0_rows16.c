/* Q8_0 weights: the 16-row packed copy and the activation side data its
 * kernels read.
 *
 * Q8_0 sums in llama.cpp's x86 order on every path (lane_order.c): per
 * block 8 exact int32 lanes, lane k = elements 4k..4k+3, and per lane
 * acc[k] = fma(dx*dy, lane[k], acc[k]); the 8 accumulators are folded at
 * the end. (One accumulator per block would be cheaper, but it changes
 * llama.cpp's greedy tokens on 8 of the 48 golden Q8_0 cases.)
 *
 * The packed copy puts 16 rows side by side so that lane r of a 512-bit
 * register is row r: a lane k of 16 rows is then one VNNI instruction and
 * one fma, with no horizontal sums, and the dx*dy product serves 8 lanes
 * of 16 rows at once. */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

/* Packed group of 16 rows, nb = n/32 blocks: first nb * 512 bytes of
 * quants, then nb * 16 fp16 scales. Block b's quants are 8 chunks of 64
 * bytes; chunk k holds bytes 4k..4k+3 (lane k) of rows 0..15 (row r at
 * 4r), each offset to unsigned (q + 128, i.e. q ^ 0x80). Block b's scales
 * are rows 0..15's d. Same size as the 16 rows. */
/* row r's block b (quants qs, scale d) into the group */
static inline void put_block(uint8_t *group, int nb, int b, int r, const int8_t *qs, const void *d) {
    uint8_t *q = group + (size_t)b * 512;
    for (int k = 0; k < 8; k++) { /* four bytes at a time: loading is bound by this copy */
        uint32_t v;
        memcpy(&v, qs + 4 * k, 4);
        v ^= 0x80808080u;
        memcpy(q + 64 * k + 4 * r, &v, 4);
    }
    memcpy(group + (size_t)nb * 512 + (size_t)b * 32 + 2 * r, d, 2);
}

void ember_q8_0_pack16(int n, void *dst, const void *rows, size_t row_bytes) {
    const int nb = n / QK8_0;
    for (int b = 0; b < nb; b++)
        for (int r = 0; r < 16; r++) {
            const block_q8_0 *x = (const block_q8_0 *)((const char *)rows + (size_t)r * row_bytes) + b;
            put_block(dst, nb, b, r, x->qs, &x->d);
        }
}

void ember_vec_dot_q8_0_packed16_ref(int n, float *s, const void *group, const void *vy) {
    const int nb = n / QK8_0;
    const uint8_t *q = group;
    const uint8_t *sc = q + (size_t)nb * 512;
    const block_q8_0 *y = vy;
    for (int r = 0; r < 16; r++) {
        float acc[8] = {0};
        for (int b = 0; b < nb; b++) {
            uint16_t d;
            memcpy(&d, sc + (size_t)b * 32 + 2 * r, 2);
            const float dxy = ember_fp16_to_fp32(d) * ember_fp16_to_fp32(y[b].d);
            for (int k = 0; k < 8; k++) {
                int lane = 0;
                for (int j = 0; j < 4; j++) lane += ((int)q[(size_t)b * 512 + 64 * k + 4 * r + j] - 128) * y[b].qs[4 * k + j];
                acc[k] = fmaf(dxy, (float)lane, acc[k]);
            }
        }
        s[r] = ember_hsum8(acc);
    }
}

/* Side data of a Q8_0 activation row for the packed kernels, built once
 * per row so they do not redo it for every group of weight rows: per block
 * the 8 lane corrections -128 * (y[4k]+..+y[4k+3]) as int32 (the kernels
 * compute (x + 128) * y, exact for every int8 pair, and start each lane
 * from its correction), then per block the scale d as float. */
size_t ember_q8_0_act_aux_size(int64_t n) { return (size_t)(n / QK8_0) * (8 * sizeof(int32_t) + sizeof(float)); }

void ember_q8_0_act_lane_starts(const void *vy, void *aux, int64_t n, int32_t offset) {
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    int32_t *start = aux;
    float *d = (float *)(start + 8 * nb);
    for (int64_t b = 0; b < nb; b++) {
        for (int k = 0; k < 8; k++) {
            const int8_t *q = y[b].qs + 4 * k;
            start[8 * b + k] = offset * ((int32_t)q[0] + q[1] + q[2] + q[3]);
        }
        d[b] = ember_fp16_to_fp32(y[b].d);
    }
}

void ember_q8_0_act_aux(const void *vy, void *aux, int64_t n) { ember_q8_0_act_lane_starts(vy, aux, n, -128); }

const ember_packed_layout ember_q8_0_lanes16_layout = {
    "q8_0-lanes16", 16, ember_q8_0_pack16, ember_vec_dot_q8_0_packed16_ref, ember_q8_0_act_aux_size, ember_q8_0_act_aux,
};
