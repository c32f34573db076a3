/* The 16-row packed copies of the nibble types that keep the 8-lane order
 * (Q4_1, Q5_0, Q5_1), for dot-product instructions that give one int32
 * lane per row (AVX-512 VNNI): dword lane r of a 64-byte chunk holds four
 * consecutive elements of row r, so one VPDPBUSD against four broadcast
 * activation bytes advances 16 rows at once.
 *
 * The order is the lane order of lane_order.c (llama.cpp's x86 order for
 * these types, which it does not repack): per block 8 exact int32 lanes,
 * lane k = elements 4k..4k+3, acc[k] = fma(dx*dy, lane[k], acc[k]); the
 * lanes folded at the end, plus (Q4_1/Q5_1) summs = fma(m, s, summs) in
 * block order. The quants (0..15 or 0..31) are VPDPBUSD's unsigned operand
 * as they are; Q5_0's lanes start from -16 * (the lane's activation sum),
 * so they hold dot(q - 16, a) exactly, the others from zero.
 *
 * Block b of a group (the size of the 16 blocks, so the copy costs
 * nothing over the file's rows):
 *   32 bytes  fp16 d of rows 0..15
 *   32 bytes  Q4_1/Q5_1: fp16 m of rows 0..15
 *   64 bytes  Q5_0/Q5_1: the fifth bits; byte j of dword r has bit k set
 *             when element 4k+j of row r has it, so lane k's bits are one
 *             shift and one mask away
 *  256 bytes  four chunks of nibbles as in Q4_0's copy: chunk c, dword r =
 *             row r's qs bytes 4c..4c+3 (low nibbles: lane c, high: c+4) */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

/* row r's block into group block o; m and qh NULL where the type has none */
static void pack_block(uint8_t *o, int r, const ember_f16 *d, const ember_f16 *m, const uint8_t *qh, const uint8_t *qs) {
    memcpy(o + 2 * r, d, 2);
    uint8_t *p = o + 32;
    if (m) memcpy(p + 2 * r, m, 2), p += 32;
    if (qh) {
        uint32_t h;
        memcpy(&h, qh, 4);
        for (int j = 0; j < 4; j++) {
            uint8_t plane = 0;
            for (int k = 0; k < 8; k++) plane |= (uint8_t)(((h >> (4 * k + j)) & 1) << k);
            p[4 * r + j] = plane;
        }
        p += 64;
    }
    for (int c = 0; c < 4; c++) memcpy(p + 64 * c + 4 * r, qs + 4 * c, 4);
}

static void pack_q4_1(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK4_1; b++, o += EMBER_Q4_1_LANES16_BLOCK)
        for (int r = 0; r < 16; r++) {
            const block_q4_1 *x = (const block_q4_1 *)((const char *)rows + (size_t)r * row_bytes) + b;
            pack_block(o, r, &x->d, &x->m, 0, x->qs);
        }
}

static void pack_q5_0(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK5_0; b++, o += EMBER_Q5_0_LANES16_BLOCK)
        for (int r = 0; r < 16; r++) {
            const block_q5_0 *x = (const block_q5_0 *)((const char *)rows + (size_t)r * row_bytes) + b;
            pack_block(o, r, &x->d, 0, x->qh, x->qs);
        }
}

static void pack_q5_1(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK5_1; b++, o += EMBER_Q5_1_LANES16_BLOCK)
        for (int r = 0; r < 16; r++) {
            const block_q5_1 *x = (const block_q5_1 *)((const char *)rows + (size_t)r * row_bytes) + b;
            pack_block(o, r, &x->d, &x->m, x->qh, x->qs);
        }
}

/* The portable definition, one token: y is Q8_1 (with_m) or Q8_0. */
static void ref_common(int n, float *s, const uint8_t *group, const void *vy, int with_m, int fifth) {
    const size_t block = 16 * (2 + (with_m ? 2 : 0) + (fifth ? 4 : 0) + QK8_0 / 2);
    for (int r = 0; r < 16; r++) {
        float acc[8] = {0}, summs = 0.0f;
        for (int b = 0; b < n / QK8_0; b++) {
            const uint8_t *o = group + (size_t)b * block;
            const uint8_t *planes = o + (with_m ? 64 : 32), *nib = planes + (fifth ? 64 : 0);
            const int8_t *yq = with_m ? ((const block_q8_1 *)vy)[b].qs : ((const block_q8_0 *)vy)[b].qs;
            const ember_f16 yd = with_m ? ((const block_q8_1 *)vy)[b].d : ((const block_q8_0 *)vy)[b].d;
            uint16_t d;
            memcpy(&d, o + 2 * r, 2);
            const float dxy = ember_fp16_to_fp32(d) * ember_fp16_to_fp32(yd);
            for (int k = 0; k < 8; k++) {
                int lane = 0;
                for (int j = 0; j < 4; j++) {
                    const uint8_t q = nib[64 * (k & 3) + 4 * r + j];
                    int v = k < 4 ? q & 0xF : q >> 4;
                    if (fifth) v |= ((planes[4 * r + j] >> k) & 1) << 4;
                    lane += (with_m ? v : v - 16) * yq[4 * k + j];
                }
                acc[k] = fmaf(dxy, (float)lane, acc[k]);
            }
            if (with_m) {
                uint16_t m;
                memcpy(&m, o + 32 + 2 * r, 2);
                summs = fmaf(ember_fp16_to_fp32(m), ember_fp16_to_fp32(((const block_q8_1 *)vy)[b].s), summs);
            }
        }
        const float folded = ember_hsum8(acc);
        s[r] = with_m ? folded + summs : folded;
    }
}

static void ref_q4_1(int n, float *s, const void *group, const void *y) { ref_common(n, s, group, y, 1, 0); }
static void ref_q5_0(int n, float *s, const void *group, const void *y) { ref_common(n, s, group, y, 0, 1); }
static void ref_q5_1(int n, float *s, const void *group, const void *y) { ref_common(n, s, group, y, 1, 1); }

/* Side data of a Q8_1 activation row: per block d as float, then per
 * block s as float (converted once per matmul, not per group of rows). */
static size_t aux_size_q8_1(int64_t n) { return (size_t)(n / QK8_1) * 2 * sizeof(float); }

static void aux_q8_1(const void *vy, void *out, int64_t n) {
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK8_1;
    float *d = out, *s = d + nb;
    for (int64_t b = 0; b < nb; b++) {
        d[b] = ember_fp16_to_fp32(y[b].d);
        s[b] = ember_fp16_to_fp32(y[b].s);
    }
}

/* Side data of a Q8_0 activation row for Q5_0: Q8_0's form with the
 * lanes starting from -16 * (y[4k]+..+y[4k+3]). */
static void aux_q5_0(const void *vy, void *out, int64_t n) { ember_q8_0_act_lane_starts(vy, out, n, -16); }

const ember_packed_layout ember_q4_1_lanes16_layout = {"q4_1-lanes16", 16, pack_q4_1, ref_q4_1, aux_size_q8_1, aux_q8_1};
const ember_packed_layout ember_q5_0_lanes16_layout = {"q5_0-lanes16", 16, pack_q5_0, ref_q5_0, ember_q8_0_act_aux_size, aux_q5_0};
const ember_packed_layout ember_q5_1_lanes16_layout = {"q5_1-lanes16", 16, pack_q5_1, ref_q5_1, aux_size_q8_1, aux_q8_1};
