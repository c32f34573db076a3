/* Q6_K's 16-row lane copy, for AVX-512 VNNI: dword lane r of every 64-byte
 * register is row r of the group, as in Q4_K's copy (kquants_lanes16.c),
 * whose nibble arrangement this one reuses.
 *
 * The order is vec_dot's (kquants.c): per super-block 8 exact int32 lanes,
 * lane m = elements 4m..4m+3 of every 32-element run r, each element
 * (q - 32) times the int8 scale of its 16-element sub-block (run r, lane
 * m: sub-block 2r + (m >= 4)); acc[m] = fma(yd * d, lane[m], acc[m]); at
 * the end hsum8(acc). No min term.
 *
 * q stays unsigned (0..63, VPMADDUBSW's unsigned operand) and the - 32
 * moves to the activation side: for chunk c (runs 2c, 2c+1) and lane m
 * the two 16-bit pair sums of the low and high nibble registers (run 2c's
 * four products, run 2c+1's) add up to q . a over the lane's four
 * elements of each run, from which the side data's 32 * A (A the sum of
 * those four activations) is subtracted; then one VPDPWSSD against the
 * scale pair (sc of run 2c, sc of run 2c+1). The int16 arithmetic wraps,
 * and the final (q - 32) . a fits (|.| <= 4 * 32 * 128), so each step is
 * exact; VPMADDUBSW itself stays below saturation (2 * 63 * 128).
 *
 * Super-block b of a group (3360 bytes, the size of the 16 rows' blocks):
 *     32  fp16 d of rows 0..15
 *    256  scales: for c = 0..3, h = 0..1 (32 bytes each) row r's bytes
 *         2r, 2r + 1 = sc[4c + h], sc[4c + 2 + h] (runs 2c and 2c+1 in
 *         lanes m with (m >= 4) == h): one VPMOVSXBW gives the pairs
 *   3072  weights: for m = 0..7, c2 = 0..1 (in the order the kernels
 *         read them) 192 bytes: 64 of top bits, then the nibbles of
 *         chunks c = 2 c2 and 2 c2 + 1 (64 each). A chunk's nibbles:
 *         row r's dword  a0|a2<<4  a1|a3<<4  b0|b2<<4  b1|b3<<4  with
 *         a0..a3 the low 4 bits of run 2c's elements 4m..4m+3 and b0..b3
 *         run 2c+1's (Q4_K's arrangement). The top bits: byte k (of row
 *         k / 4) holds at bits 4 (c & 1) + 2t the top 2 bits of byte k
 *         of chunk c's low (t = 0) or high (t = 1) nibble register.
 *         (One stream: with the nibbles and the top bits in two separate
 *         areas, the copy read from memory at half the speed.) */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

enum { K6_SCALES = 32, K6_BITS = 288 };
/* (m, c2)'s 192 bytes: the top bits, then chunk 2 c2's nibbles, then 2 c2 + 1's */
#define K6_HIGH(m, c2) (K6_BITS + 192 * (2 * (m) + (c2)))
#define K6_NIB(m, c) (K6_HIGH(m, (c) / 2) + 64 + 64 * ((c) & 1))

/* element e's 6-bit value (0..63) of a Q6_K block */
static int q6_at(const block_q6_K *x, int e) {
    const int j = e / 128, k = (e % 128) / 32, l = e % 32;
    const uint8_t *ql = x->ql + 64 * j, *qh = x->qh + 32 * j;
    const int lo = k == 0 ? ql[l] & 0xF : k == 1 ? ql[l + 32] & 0xF : k == 2 ? ql[l] >> 4 : ql[l + 32] >> 4;
    return lo | ((qh[l] >> (2 * k)) & 3) << 4;
}

/* element of (m, c)'s register t (0: low nibbles, 1: high), byte j (0..3) */
static int reg_elem(int m, int c, int t, int j) { return 64 * c + 32 * (j >> 1) + 4 * m + 2 * t + (j & 1); }

static void pack_q6_K(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK_K; b++, o += EMBER_Q6_K_LANES16_BLOCK) {
        memset(o, 0, EMBER_Q6_K_LANES16_BLOCK);
        for (int r = 0; r < 16; r++) {
            const block_q6_K *x = (const block_q6_K *)((const char *)rows + (size_t)r * row_bytes) + b;
            memcpy(o + 2 * r, &x->d, 2);
            for (int c = 0; c < 4; c++)
                for (int h = 0; h < 2; h++) {
                    o[K6_SCALES + 32 * (2 * c + h) + 2 * r] = (uint8_t)x->scales[4 * c + h];
                    o[K6_SCALES + 32 * (2 * c + h) + 2 * r + 1] = (uint8_t)x->scales[4 * c + 2 + h];
                }
            for (int m = 0; m < 8; m++)
                for (int c = 0; c < 4; c++)
                    for (int j = 0; j < 4; j++) {
                        const int lo = q6_at(x, reg_elem(m, c, 0, j)), hi = q6_at(x, reg_elem(m, c, 1, j));
                        o[K6_NIB(m, c) + 4 * r + j] = (uint8_t)((lo & 15) | (hi & 15) << 4);
                        o[K6_HIGH(m, c / 2) + 4 * r + j] |=
                            (uint8_t)(((lo >> 4) | (hi >> 4) << 2) << (4 * (c & 1)));
                    }
        }
    }
}

/* The portable definition, one token (y: Q8_K). */
static void ref_q6_K(int n, float *s, const void *group, const void *vy) {
    const block_q8_K *y = vy;
    for (int r = 0; r < 16; r++) {
        float acc[8] = {0};
        for (int b = 0; b < n / QK_K; b++) {
            const uint8_t *o = (const uint8_t *)group + (size_t)b * EMBER_Q6_K_LANES16_BLOCK;
            uint16_t h;
            memcpy(&h, o + 2 * r, 2);
            const float d = y[b].d * ember_fp16_to_fp32(h);
            for (int m = 0; m < 8; m++) {
                int32_t lane = 0;
                for (int c = 0; c < 4; c++) {
                    const uint8_t *w = o + K6_NIB(m, c) + 4 * r;
                    const uint8_t *hb = o + K6_HIGH(m, c / 2) + 4 * r;
                    for (int k = 0; k < 2; k++) { /* run 2c + k */
                        const int sc = (int8_t)o[K6_SCALES + 32 * (2 * c + (m >= 4)) + 2 * r + k];
                        int32_t dot = 0;
                        for (int t = 0; t < 2; t++)
                            for (int i = 0; i < 2; i++) {
                                const int j = 2 * k + i;
                                const int hbits = (hb[j] >> (4 * (c & 1) + 2 * t)) & 3;
                                const int q = ((t ? w[j] >> 4 : w[j] & 15) | hbits << 4) - 32;
                                dot += q * y[b].qs[reg_elem(m, c, t, j)];
                            }
                        lane += sc * dot;
                    }
                }
                acc[m] = fmaf(d, (float)lane, acc[m]);
            }
        }
        s[r] = ember_hsum8(acc);
    }
}

/* Side data of a Q8_K activation row, per super-block: the 256 quants in
 * the copy's order (for m, c: the low-nibble register's activations
 * y[64c+4m], y[64c+4m+1], y[64c+32+4m], y[64c+32+4m+1], then the high
 * one's, +2 and +3), after all super-blocks per (m, c) the int16 pair
 * 32 * A(2c, m), 32 * A(2c+1, m) (A(r, m) = y[32r+4m] + .. + y[32r+4m+3],
 * so |32 A| <= 16384), then their d. */
size_t ember_q6_K_act_aux_size(int64_t n) { return (size_t)(n / QK_K) * (QK_K + 128 + 4); }

static void aux_q6_K(const void *vy, void *out, int64_t n) {
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    int8_t *q = out;
    int16_t *offs = (int16_t *)(q + nb * QK_K);
    float *d = (float *)(offs + 64 * nb);
    for (int64_t b = 0; b < nb; b++) {
        ember_lanes16_act_quants(y[b].qs, q + b * QK_K); /* byte j of register t: element reg_elem(m, c, t, j) */
        for (int m = 0; m < 8; m++)
            for (int c = 0; c < 4; c++) {
                for (int k = 0; k < 2; k++) {
                    const int8_t *a = y[b].qs + 32 * (2 * c + k) + 4 * m;
                    offs[64 * b + 2 * (4 * m + c) + k] = (int16_t)(32 * (a[0] + a[1] + a[2] + a[3]));
                }
            }
        d[b] = y[b].d;
    }
}

const ember_packed_layout ember_q6_K_lanes16_layout = {"q6_K-lanes16", 16, pack_q6_K, ref_q6_K, ember_q6_K_act_aux_size,
                                                       aux_q6_K};
