/* Q4_1 and Q5_1's 16-row packed copies for dot-product instructions that
 * give one int32 lane per row (AVX-512 VNNI): dword lane r of a 64-byte
 * chunk holds four consecutive elements of row r, so one VPDPBUSD against
 * four broadcast activation bytes advances 16 rows at once.
 *
 * The order is the lane order of lane_order.c (llama.cpp's x86 order for
 * these types, which it does not repack): per block 8 exact int32 lanes,
 * lane k = elements 4k..4k+3, acc[k] = fma(dx*dy, lane[k], acc[k]); the
 * lanes folded at the end, plus summs = fma(m, s, summs) in block order.
 * The quants (0..15 or 0..31) are unsigned, so they are VPDPBUSD's
 * unsigned operand as they are and each lane starts from zero.
 *
 * Block b of a group (the size of the 16 blocks, so the copy costs
 * nothing over the file's rows):
 *   32 bytes  fp16 d of rows 0..15
 *   32 bytes  fp16 m of rows 0..15
 *   64 bytes  Q5_1 only: the fifth bits; byte j of dword r has bit k set
 *             when element 4k+j of row r has it, so lane k's bits are one
 *             shift and one mask away
 *  256 bytes  four chunks of nibbles as in Q4_0's copy: chunk c, dword r =
 *             row r's qs bytes 4c..4c+3 (low nibbles: lane c, high: c+4) */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

static void pack_block(uint8_t *o, int r, const ember_f16 *d, const ember_f16 *m, const uint8_t *qh, const uint8_t *qs) {
    memcpy(o + 2 * r, d, 2);
    memcpy(o + 32 + 2 * r, m, 2);
    uint8_t *nib = o + 64;
    if (qh) {
        uint32_t h;
        memcpy(&h, qh, 4);
        for (int j = 0; j < 4; j++) {
            uint8_t plane = 0;
            for (int k = 0; k < 8; k++) plane |= (uint8_t)(((h >> (4 * k + j)) & 1) << k);
            o[64 + 4 * r + j] = plane;
        }
        nib += 64;
    }
    for (int c = 0; c < 4; c++) memcpy(nib + 64 * c + 4 * r, qs + 4 * c, 4);
}

static void pack_q4_1(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK4_1; b++, o += EMBER_Q4_1_LANES16_BLOCK)
        for (int r = 0; r < 16; r++) {
            const block_q4_1 *x = (const block_q4_1 *)((const char *)rows + (size_t)r * row_bytes) + b;
            pack_block(o, r, &x->d, &x->m, 0, x->qs);
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

/* element 4k+j (k < 8) of row r in block o */
static int quant_at(const uint8_t *o, int fifth, int r, int k, int j) {
    const uint8_t *nib = o + (fifth ? 128 : 64);
    const uint8_t q = nib[64 * (k & 3) + 4 * r + j];
    const int v = k < 4 ? q & 0xF : q >> 4;
    return fifth ? v | (((o[64 + 4 * r + j] >> k) & 1) << 4) : v;
}

static void ref_common(int n, float *s, const uint8_t *group, const block_q8_1 *y, int fifth) {
    const size_t block = fifth ? EMBER_Q5_1_LANES16_BLOCK : EMBER_Q4_1_LANES16_BLOCK;
    for (int r = 0; r < 16; r++) {
        float acc[8] = {0}, summs = 0.0f;
        for (int b = 0; b < n / QK8_1; b++) {
            const uint8_t *o = group + (size_t)b * block;
            uint16_t d, m;
            memcpy(&d, o + 2 * r, 2);
            memcpy(&m, o + 32 + 2 * r, 2);
            const float dxy = ember_fp16_to_fp32(d) * ember_fp16_to_fp32(y[b].d);
            for (int k = 0; k < 8; k++) {
                int lane = 0;
                for (int j = 0; j < 4; j++) lane += quant_at(o, fifth, r, k, j) * y[b].qs[4 * k + j];
                acc[k] = fmaf(dxy, (float)lane, acc[k]);
            }
            summs = fmaf(ember_fp16_to_fp32(m), ember_fp16_to_fp32(y[b].s), summs);
        }
        s[r] = (((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))) + summs;
    }
}

static void ref_q4_1(int n, float *s, const void *group, const void *y) { ref_common(n, s, group, y, 0); }
static void ref_q5_1(int n, float *s, const void *group, const void *y) { ref_common(n, s, group, y, 1); }

/* Side data of a Q8_1 activation row: per block d as float, then per
 * block s as float (converted once per matmul, not per group of rows). */
static size_t aux_size(int64_t n) { return (size_t)(n / QK8_1) * 2 * sizeof(float); }

static void aux(const void *vy, void *out, int64_t n) {
    const block_q8_1 *y = vy;
    const int64_t nb = n / QK8_1;
    float *d = out, *s = d + nb;
    for (int64_t b = 0; b < nb; b++) {
        d[b] = ember_fp16_to_fp32(y[b].d);
        s[b] = ember_fp16_to_fp32(y[b].s);
    }
}

const ember_packed_layout ember_q4_1_lanes16_layout = {"q4_1-lanes16", 16, pack_q4_1, 0, ref_q4_1, aux_size, aux};
const ember_packed_layout ember_q5_1_lanes16_layout = {"q5_1-lanes16", 16, pack_q5_1, 0, ref_q5_1, aux_size, aux};
