/* Q3_K's 16-row lane copy, for AVX-512 VNNI: dword lane r of every 64-byte
 * register is row r of the group (the design of kquants_lanes16.c), so
 * decoding reads the copy at the memory's pace instead of unpacking one
 * row's scales and high bits at a time.
 *
 * The order is vec_dot's (kquants.c): per super-block 8 exact int32 lanes,
 * lane m = elements 4m..4m+3 of every 32-element run r, element value
 * (2 low bits | high bit << 2) - 4 times the signed 6-bit scale of its
 * 16-element sub-block 2r + (m >= 4); acc[m] = fma(yd * d, lane[m],
 * acc[m]); at the end hsum8(acc). No min term.
 *
 * A dword holds weights of two runs, as Q4_K's: for chunk c (runs 2c and
 * 2c+1), lane m and half e, the bytes [a0 a1 b0 b1] with a0, a1 = run 2c's
 * elements 4m+2e, 4m+2e+1 and b0, b1 run 2c+1's, each the unsigned
 * w = low | high << 2 (0..7). Both halves of (m, c) take the scale pair
 * (sc[4c+h], sc[4c+2+h]), h = m >= 4. The -4 is the activation side's:
 * (w - 4) * a summed over the lane's 4 elements of a run is the sum of
 * w * a plus -4 * A, A the sum of those 4 activations; the side data holds
 * the int16 pair (-4 A(2c, m), -4 A(2c+1, m)) per (m, c). Every partial
 * sum stays within int16 (|sum (w - 4) a| <= 2048), so the lane is exact.
 *
 * Super-block b of a group (1760 bytes: the size of the 16 rows' blocks):
 *     32  fp16 d of rows 0..15
 *    192  scales, 6-bit two's complement: for field f = 2c + h (c = 0..3,
 *         h = 0..1), 24 bytes holding t[i] = scale 4c + h + 2 (i & 1)
 *         of row i / 2, packed as Q4_K's pair fields (bytes 0..15 the low
 *         4 bits, t[k] in the low nibble of byte k, t[k + 16] in the high
 *         one; bytes 16..23 the top 2 bits, t[k + 8q] at bits 2q of byte k)
 *   1536  weights: for m = 0..7, 192 bytes, three 64-byte planes P0..P2
 *         holding the 8 registers k = 2c + e (dword r = row r's dword
 *         above) as 3-bit values: k < 6 at bits 3 (k & 1) of P(k >> 1)'s
 *         bytes (one mask, or a shift and a mask, unpacks them); k = 6 and 7
 *         split: their 2 low bits at bits 6-7 of P0 (k = 6) or P1 (k = 7),
 *         their high bit at bit 6 (k = 6) or 7 (k = 7) of P2 */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

enum { Q3L_SCALES = 32, Q3L_BITS = 224, Q3L_M = 192 };

/* the 16 scales of a Q3_K block, + 32 (0..63) */
static void scales_u6(const uint8_t *p, int *out) {
    for (int j = 0; j < 16; j++) {
        const int lo = j < 8 ? (p[j] & 0xF) : (p[j - 8] >> 4), hi = (p[8 + (j % 4)] >> (2 * (j / 4))) & 3;
        out[j] = lo | (hi << 4);
    }
}

static void pack(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK_K; b++, o += EMBER_Q3_K_LANES16_BLOCK) {
        memset(o, 0, EMBER_Q3_K_LANES16_BLOCK);
        for (int r = 0; r < 16; r++) {
            const block_q3_K *x = (const block_q3_K *)((const char *)rows + (size_t)r * row_bytes) + b;
            memcpy(o + 2 * r, &x->d, 2);
            int sc[16];
            scales_u6(x->scales, sc);
            for (int f = 0; f < 8; f++)
                for (int k = 0; k < 2; k++) ember_lanes16_put6(o + Q3L_SCALES + 24 * f, 2 * r + k, sc[4 * (f >> 1) + (f & 1) + 2 * k] ^ 32);
            for (int m = 0; m < 8; m++) {
                uint8_t *om = o + Q3L_BITS + Q3L_M * m + 4 * r;
                for (int k = 0; k < 8; k++) {
                    const int c = k >> 1, e = k & 1;
                    for (int j = 0; j < 4; j++) {
                        const int run = 2 * c + (j >> 1), l = 4 * m + 2 * e + (j & 1);
                        const int lo = (x->qs[32 * (run >> 2) + l] >> (2 * (run & 3))) & 3, hi = (x->hmask[l] >> run) & 1;
                        const int v = lo | hi << 2;
                        if (k < 6) om[64 * (k >> 1) + j] |= (uint8_t)(v << (3 * (k & 1)));
                        else om[64 * (k - 6) + j] |= (uint8_t)(lo << 6), om[128 + j] |= (uint8_t)(hi << k);
                    }
                }
            }
        }
    }
}

/* The portable definition, one token (y: Q8_K). */
static void ref(int n, float *s, const void *group, const void *vy) {
    const block_q8_K *y = vy;
    for (int r = 0; r < 16; r++) {
        float acc[8] = {0};
        for (int b = 0; b < n / QK_K; b++) {
            const uint8_t *o = (const uint8_t *)group + (size_t)b * EMBER_Q3_K_LANES16_BLOCK;
            uint16_t h;
            memcpy(&h, o + 2 * r, 2);
            const float d = y[b].d * ember_fp16_to_fp32(h);
            for (int m = 0; m < 8; m++) {
                const uint8_t *om = o + Q3L_BITS + Q3L_M * m + 4 * r;
                int32_t lane = 0;
                for (int k = 0; k < 8; k++) {
                    const int c = k >> 1, e = k & 1;
                    for (int j = 0; j < 4; j++) {
                        const int run = 2 * c + (j >> 1), l = 4 * m + 2 * e + (j & 1);
                        const int w = k < 6 ? (om[64 * (k >> 1) + j] >> (3 * (k & 1))) & 7
                                            : (om[64 * (k - 6) + j] >> 6) | ((om[128 + j] >> k) & 1) << 2;
                        const int g6 = ember_lanes16_get6(o + Q3L_SCALES + 24 * (2 * c + (m >= 4)), 2 * r + (j >> 1));
                        const int sc = (g6 ^ 32) - 32;
                        lane += sc * (w - 4) * y[b].qs[32 * run + l];
                    }
                }
                acc[m] = fmaf(d, (float)lane, acc[m]);
            }
        }
        s[r] = ember_hsum8(acc);
    }
}

/* Side data of a Q8_K activation row, per super-block 384 bytes: the 256
 * quants in the copy's order (for m, c: half 0's dword y[64c+4m],
 * y[64c+4m+1], y[64c+32+4m], y[64c+32+4m+1], then half 1's, +2 and +3),
 * then for m, c the int16 pair (-4 A(2c, m), -4 A(2c+1, m)) as one dword;
 * after all super-blocks their d. */
size_t ember_q3_K_act_aux_size(int64_t n) { return (size_t)(n / QK_K) * (QK_K + 128 + 4); }

static void aux(const void *vy, void *out, int64_t n) {
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    int8_t *q = out;
    float *d = (float *)(q + nb * (QK_K + 128));
    for (int64_t b = 0; b < nb; b++) {
        int8_t *qb = q + b * (QK_K + 128);
        int16_t *corr = (int16_t *)(qb + QK_K);
        ember_lanes16_act_quants(y[b].qs, qb);
        for (int c = 0; c < 4; c++)
            for (int m = 0; m < 8; m++) {
                for (int k = 0; k < 2; k++) {
                    const int8_t *a = y[b].qs + 32 * (2 * c + k) + 4 * m;
                    corr[2 * (4 * m + c) + k] = (int16_t)(-4 * (a[0] + a[1] + a[2] + a[3]));
                }
            }
        d[b] = y[b].d;
    }
}

const ember_packed_layout ember_q3_K_lanes16_layout = {"q3_K-lanes16", 16, pack, ref, ember_q3_K_act_aux_size, aux};
