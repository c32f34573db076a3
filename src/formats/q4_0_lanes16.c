/* Q4_0's 16-row packed copy for dot-product instructions that give one
 * int32 lane per row (AVX-512 VNNI, and AMX's B tiles, whose VNNI layout
 * it is): dword lane r of a 64-byte chunk holds four consecutive bytes of
 * row r, so one VPDPBUSD against four broadcast activation bytes advances
 * 16 rows at once, with no horizontal sums and no shuffles.
 *
 * The order is llama.cpp's repacked one (q4_0_rows8.c): per block the exact
 * integer dot and acc = fma((float)isum, d_w * d_a, acc). The kernels take
 * the nibbles q (0..15) as the unsigned operand and the activation as the
 * signed one, and start each block from -8 * sum(a), so
 * isum = dot(q, a) - 8 * sum(a) = dot(q - 8, a) exactly. */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

/* Block b of a group: 32 bytes of fp16 scales (rows 0..15), then four
 * 64-byte chunks; chunk c holds bytes 4c..4c+3 of each row's qs (row r at
 * 4r): low nibbles are elements 4c..4c+3, high nibbles 16+4c..16+4c+3.
 * 288 bytes per block, the size of the 16 blocks. */
#define LANES16_BLOCK (16 * sizeof(block_q4_0))

static void pack(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK4_0; b++, o += LANES16_BLOCK)
        for (int r = 0; r < 16; r++) {
            const block_q4_0 *x = (const block_q4_0 *)((const char *)rows + (size_t)r * row_bytes) + b;
            memcpy(o + 2 * r, &x->d, 2);
            for (int c = 0; c < 4; c++) memcpy(o + 32 + 64 * c + 4 * r, x->qs + 4 * c, 4);
        }
}

static void ref(int n, float *s, const void *group, const void *vy) {
    const block_q8_0 *y = vy;
    for (int r = 0; r < 16; r++) {
        float acc = 0.0f;
        for (int b = 0; b < n / QK4_0; b++) {
            const uint8_t *o = (const uint8_t *)group + (size_t)b * LANES16_BLOCK;
            uint16_t d;
            memcpy(&d, o + 2 * r, 2);
            int isum = 0;
            for (int c = 0; c < 4; c++)
                for (int i = 0; i < 4; i++) {
                    const uint8_t q = o[32 + 64 * c + 4 * r + i];
                    isum += ((q & 0xF) - 8) * y[b].qs[4 * c + i] + ((q >> 4) - 8) * y[b].qs[16 + 4 * c + i];
                }
            acc = fmaf((float)isum, ember_fp16_to_fp32(d) * ember_fp16_to_fp32(y[b].d), acc);
        }
        s[r] = acc;
    }
}

/* Side data of an activation row: per block the scale d as float, then per
 * block -8 * sum(a) as int32 (each kernel's starting value). */
static size_t aux_size(int64_t n) { return (size_t)(n / QK8_0) * (sizeof(float) + sizeof(int32_t)); }

static void aux(const void *vy, void *out, int64_t n) {
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    float *d = out;
    int32_t *neg8 = (int32_t *)(d + nb);
    for (int64_t b = 0; b < nb; b++) {
        int32_t sum = 0;
        for (int j = 0; j < QK8_0; j++) sum += y[b].qs[j];
        d[b] = ember_fp16_to_fp32(y[b].d);
        neg8[b] = -8 * sum;
    }
}

const ember_packed_layout ember_q4_0_lanes16_layout = {"q4_0-lanes16", 16, pack, ref, aux_size, aux};
