/* Q4_K's and Q5_K's 16-row lane copies, for AVX-512 VNNI: dword lane r of every 64-byte
 * register is row r of the group, so one VPMADDUBSW + VPDPWSSD pair
 * advances 16 rows by four weights each, and decoding reads the copy at
 * the memory's pace instead of unpacking one row's scales at a time.
 *
 * The order is vec_dot's (kquants.c): per super-block 8 exact int32 lanes,
 * lane m = elements 4m..4m+3 of every 32-element run, each run scaled by
 * its sub-block scale; acc[m] = fma(yd * d, lane[m], acc[m]); the min term
 * acc_m[p] = fma(-yd * dmin, mins[2p] * S[2p] + mins[2p+1] * S[2p+1],
 * acc_m[p]) with S[j] the activation's sum over sub-block j; at the end
 * hsum8(acc) + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3])).
 *
 * A 16-bit pair of VPDPWSSD takes two scales, so a dword holds weights of
 * two runs: for chunk c (runs 2c and 2c+1, the 32 qs bytes whose low
 * nibbles are run 2c and high nibbles run 2c+1) and lane m, with
 * a0..a3 = run 2c's elements 4m..4m+3 and b0..b3 run 2c+1's, the dword is
 * the bytes  a0|a2<<4  a1|a3<<4  b0|b2<<4  b1|b3<<4 : its low nibbles
 * [a0 a1 b0 b1] and its high nibbles [a2 a3 b2 b3] each make two 16-bit
 * pairs, one per run, against the scale pair (sc[2c], sc[2c+1]). The
 * activation side data holds the activation bytes in the same order.
 *
 * Q5_K's vec_dot differs in the fifth bit (value = nibble + 16 * bit) and
 * its min term: the four products are summed exactly first, then
 * summs = fma(-yd * dmin, sum, summs), one float per super-block.
 *
 * Super-block b of a group (Q4_K 2304 bytes, Q5_K 2816: the size of the
 * 16 rows' blocks):
 *     32  fp16 d of rows 0..15
 *     32  fp16 dmin of rows 0..15
 *     96  scales: for pair c = 0..3, 24 bytes holding the 32 6-bit values
 *         t[i] = scale 2c + (i & 1) of row i / 2: bytes 0..15 the low
 *         4 bits (t[k] in the low nibble of byte k, t[k + 16] in the high
 *         one), bytes 16..23 the top 2 bits (t[k + 8q] at bits 2q of byte k)
 *     96  mins, the same
 *   2048  nibbles: for m = 0..7, c = 0..3 (64 bytes each, in the order
 *         the kernels read them) dword r = row r's dword above; Q5_K puts
 *         before each m's four a 64-byte plane of fifth bits: byte j of
 *         dword r has bit 2c + h set when byte j of the (m, c) register's
 *         low (h = 0) or high (h = 1) nibbles has the fifth bit */
#include "formats.h"
#include "fp16.h"
#include <math.h>
#include <string.h>

enum { K4_DMIN = 32, K4_SCALES = 64, K4_MINS = 160, K4_NIBBLES = 256 };

/* 6-bit value i (0..31) of a 24-byte pair field (shared with Q3_K's copy) */
void ember_lanes16_put6(uint8_t *f, int i, int v) {
    f[i & 15] |= (uint8_t)((v & 15) << (4 * (i >> 4)));
    f[16 + (i & 7)] |= (uint8_t)((v >> 4) << (2 * (i >> 3)));
}

int ember_lanes16_get6(const uint8_t *f, int i) {
    return ((f[i & 15] >> (4 * (i >> 4))) & 15) | (((f[16 + (i & 7)] >> (2 * (i >> 3))) & 3) << 4);
}

/* bytes per m of the nibble part: four registers, plus Q5_K's plane */
static size_t m_stride(int q5) { return q5 ? 320 : 256; }

static void pack_k45(int n, void *dst, const void *rows, size_t row_bytes, int q5) {
    const size_t bx = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const size_t bb = q5 ? EMBER_Q5_K_LANES16_BLOCK : EMBER_Q4_K_LANES16_BLOCK;
    uint8_t *o = dst;
    for (int b = 0; b < n / QK_K; b++, o += bb) {
        memset(o, 0, bb);
        for (int r = 0; r < 16; r++) {
            /* Q5_K's block is Q4_K's with qh between the scales and qs */
            const block_q4_K *x = (const block_q4_K *)((const char *)rows + (size_t)r * row_bytes + (size_t)b * bx);
            const uint8_t *qh = q5 ? ((const block_q5_K *)x)->qh : 0, *qs = q5 ? ((const block_q5_K *)x)->qs : x->qs;
            memcpy(o + 2 * r, &x->d, 2);
            memcpy(o + K4_DMIN + 2 * r, &x->dmin, 2);
            for (int j = 0; j < 8; j++) {
                uint8_t sc, mn;
                ember_k4_scale_min(j, x->scales, &sc, &mn);
                ember_lanes16_put6(o + K4_SCALES + 24 * (j / 2), 2 * r + (j & 1), sc);
                ember_lanes16_put6(o + K4_MINS + 24 * (j / 2), 2 * r + (j & 1), mn);
            }
            for (int m = 0; m < 8; m++) {
                uint8_t *om = o + K4_NIBBLES + m_stride(q5) * m + 4 * r;
                for (int c = 0; c < 4; c++) {
                    const uint8_t *q = qs + 32 * c + 4 * m;
                    uint8_t *d = om + 64 * (c + q5);
                    d[0] = (uint8_t)((q[0] & 15) | (q[2] & 15) << 4);
                    d[1] = (uint8_t)((q[1] & 15) | (q[3] & 15) << 4);
                    d[2] = (uint8_t)((q[0] >> 4) | (q[2] >> 4) << 4);
                    d[3] = (uint8_t)((q[1] >> 4) | (q[3] >> 4) << 4);
                    if (!q5) continue;
                    /* byte j of the low register: elements 4m + (j & 1) of
                     * runs 2c (j < 2) and 2c+1; of the high one: +2 */
                    for (int j = 0; j < 4; j++)
                        for (int h = 0; h < 2; h++) {
                            const int l = 4 * m + (j & 1) + 2 * h, run = 2 * c + (j >> 1);
                            om[j] |= (uint8_t)(((qh[l] >> run) & 1) << (2 * c + h));
                        }
                }
            }
        }
    }
}

static void pack_q4_K(int n, void *dst, const void *rows, size_t row_bytes) { pack_k45(n, dst, rows, row_bytes, 0); }
static void pack_q5_K(int n, void *dst, const void *rows, size_t row_bytes) { pack_k45(n, dst, rows, row_bytes, 1); }

/* The portable definition, one token (y: Q8_K). */
static void ref_k45(int n, float *s, const void *group, const void *vy, int q5) {
    const block_q8_K *y = vy;
    const size_t bb = q5 ? EMBER_Q5_K_LANES16_BLOCK : EMBER_Q4_K_LANES16_BLOCK;
    for (int r = 0; r < 16; r++) {
        float acc[8] = {0}, acc_m[4] = {0}, summs = 0.0f;
        for (int b = 0; b < n / QK_K; b++) {
            const uint8_t *o = (const uint8_t *)group + (size_t)b * bb;
            uint16_t h;
            memcpy(&h, o + 2 * r, 2);
            const float d = y[b].d * ember_fp16_to_fp32(h);
            memcpy(&h, o + K4_DMIN + 2 * r, 2);
            const float dmin = -y[b].d * ember_fp16_to_fp32(h);
            int32_t prod[4], total = 0;
            for (int p = 0; p < 4; p++) {
                prod[p] = 0;
                for (int k = 0; k < 2; k++) {
                    const int j = 2 * p + k;
                    prod[p] += ember_lanes16_get6(o + K4_MINS + 24 * p, 2 * r + k) * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
                }
                total += prod[p];
                acc_m[p] = fmaf(dmin, (float)prod[p], acc_m[p]);
            }
            summs = fmaf(dmin, (float)total, summs);
            for (int m = 0; m < 8; m++) {
                const uint8_t *om = o + K4_NIBBLES + m_stride(q5) * m + 4 * r;
                int32_t lane = 0;
                for (int c = 0; c < 4; c++) {
                    const uint8_t *w = om + 64 * (c + q5);
                    const int8_t *a = y[b].qs + 64 * c + 4 * m;
                    for (int k = 0; k < 2; k++) { /* run 2c + k: bytes 2k, 2k+1 */
                        const int sc = ember_lanes16_get6(o + K4_SCALES + 24 * c, 2 * r + k);
                        int e[4] = {w[2 * k] & 15, w[2 * k + 1] & 15, w[2 * k] >> 4, w[2 * k + 1] >> 4};
                        if (q5)
                            for (int i = 0; i < 4; i++) e[i] += ((om[2 * k + (i & 1)] >> (2 * c + (i >> 1))) & 1) << 4;
                        const int8_t *ak = a + 32 * k;
                        lane += sc * (e[0] * ak[0] + e[1] * ak[1] + e[2] * ak[2] + e[3] * ak[3]);
                    }
                }
                acc[m] = fmaf(d, (float)lane, acc[m]);
            }
        }
        const float main = ember_hsum8(acc);
        s[r] = q5 ? main + summs : main + ((acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]));
    }
}

static void ref_q4_K(int n, float *s, const void *group, const void *y) { ref_k45(n, s, group, y, 0); }
static void ref_q5_K(int n, float *s, const void *group, const void *y) { ref_k45(n, s, group, y, 1); }

/* Side data of a Q8_K activation row, per super-block: the 256 quants in
 * the copy's order (for m, c: the low-nibble dword's activations
 * y[64c+4m], y[64c+4m+1], y[64c+32+4m], y[64c+32+4m+1], then the high
 * one's, +2 and +3), after all super-blocks their 8 sub-block sums as
 * int16 (S[2p], S[2p+1] one dword), then their d. */
void ember_lanes16_act_quants(const int8_t *qs, int8_t *o) {
    for (int c = 0; c < 4; c++)
        for (int m = 0; m < 8; m++)
            for (int h = 0; h < 2; h++) {
                const int8_t *a = qs + 64 * c + 4 * m + 2 * h;
                int8_t *d = o + 8 * (4 * m + c) + 4 * h;
                d[0] = a[0], d[1] = a[1], d[2] = a[32], d[3] = a[33];
            }
}

size_t ember_q4_K_act_aux_size(int64_t n) { return (size_t)(n / QK_K) * (QK_K + 16 + 4); }

static void aux_q4_K(const void *vy, void *out, int64_t n) {
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    int8_t *q = out;
    int16_t *sums = (int16_t *)(q + nb * QK_K);
    float *d = (float *)(sums + 8 * nb);
    for (int64_t b = 0; b < nb; b++) {
        ember_lanes16_act_quants(y[b].qs, q + b * QK_K);
        for (int j = 0; j < 8; j++) sums[8 * b + j] = (int16_t)(y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        d[b] = y[b].d;
    }
}

/* Q2_K's copy (1344 bytes per super-block of 16 rows). vec_dot's order:
 * per super-block, lane m first takes the min term
 * acc[m] = fma(-yd * dmin, min[2m] * bsums[2m] + min[2m+1] * bsums[2m+1],
 * acc[m]), then the main one acc[m] = fma(yd * d, lane[m], acc[m]), with
 * lane m's elements 4m..4m+3 of run r scaled by sub-block 2r + (m >= 4).
 * The registers are Q4_K's (16 rows x [a0 a1 b0 b1] or [a2 a3 b2 b3] of
 * runs 2c, 2c+1), so the activation side data is Q4_K's order too, with
 * the 16 raw bsums in place of the 8 sub-block sums.
 *     32  fp16 d, 32 fp16 dmin of rows 0..15
 *    128  mins: for m = 0..7, 16 bytes holding t[i] = min 2m + (i & 1) of
 *         row i / 2 (low nibble of byte i for i < 16, else the high one of
 *         byte i - 16)
 *    128  scales: for h = 0..1 (lanes m < 4 or not), c = 0..3, the same
 *         with t[i] = scale 4c + h + 2 (i & 1) of row i / 2
 *   1024  quants: for m = 0..7, c' = 0..1, 64 bytes: 2-bit field s of
 *         byte j of dword r is byte j of row r's register (m, c = 2c' +
 *         s / 2, low (s even) or high) */
enum { Q2_DMIN = 32, Q2_MINS = 64, Q2_SCALES = 192, Q2_QUANTS = 320 };

static void put4(uint8_t *f, int i, int v) { f[i & 15] |= (uint8_t)((v & 15) << (4 * (i >> 4))); }
static int get4(const uint8_t *f, int i) { return (f[i & 15] >> (4 * (i >> 4))) & 15; }

/* row's 2-bit value of element l of run r */
static int q2_at(const block_q2_K *x, int r, int l) { return (x->qs[32 * (r / 4) + l] >> (2 * (r % 4))) & 3; }

static void pack_q2_K(int n, void *dst, const void *rows, size_t row_bytes) {
    uint8_t *o = dst;
    for (int b = 0; b < n / QK_K; b++, o += EMBER_Q2_K_LANES16_BLOCK) {
        memset(o, 0, EMBER_Q2_K_LANES16_BLOCK);
        for (int r = 0; r < 16; r++) {
            const block_q2_K *x = (const block_q2_K *)((const char *)rows + (size_t)r * row_bytes) + b;
            memcpy(o + 2 * r, &x->d, 2);
            memcpy(o + Q2_DMIN + 2 * r, &x->dmin, 2);
            for (int m = 0; m < 8; m++)
                for (int k = 0; k < 2; k++) put4(o + Q2_MINS + 16 * m, 2 * r + k, x->scales[2 * m + k] >> 4);
            for (int h = 0; h < 2; h++)
                for (int c = 0; c < 4; c++)
                    for (int k = 0; k < 2; k++) put4(o + Q2_SCALES + 16 * (4 * h + c), 2 * r + k, x->scales[4 * c + h + 2 * k] & 15);
            for (int m = 0; m < 8; m++)
                for (int c = 0; c < 4; c++)
                    for (int hi = 0; hi < 2; hi++)
                        for (int j = 0; j < 4; j++) {
                            const int v = q2_at(x, 2 * c + (j >> 1), 4 * m + 2 * hi + (j & 1));
                            o[Q2_QUANTS + 64 * (2 * m + c / 2) + 4 * r + j] |= (uint8_t)(v << (2 * (2 * (c & 1) + hi)));
                        }
        }
    }
}

static void ref_q2_K(int n, float *s, const void *group, const void *vy) {
    const block_q8_K *y = vy;
    for (int r = 0; r < 16; r++) {
        float acc[8] = {0};
        for (int b = 0; b < n / QK_K; b++) {
            const uint8_t *o = (const uint8_t *)group + (size_t)b * EMBER_Q2_K_LANES16_BLOCK;
            uint16_t h;
            memcpy(&h, o + 2 * r, 2);
            const float d = y[b].d * ember_fp16_to_fp32(h);
            memcpy(&h, o + Q2_DMIN + 2 * r, 2);
            const float dmin = -y[b].d * ember_fp16_to_fp32(h);
            for (int m = 0; m < 8; m++) {
                const int32_t prod = get4(o + Q2_MINS + 16 * m, 2 * r) * y[b].bsums[2 * m] +
                                     get4(o + Q2_MINS + 16 * m, 2 * r + 1) * y[b].bsums[2 * m + 1];
                acc[m] = fmaf(dmin, (float)prod, acc[m]);
                int32_t lane = 0;
                for (int c = 0; c < 4; c++)
                    for (int k = 0; k < 2; k++) { /* run 2c + k */
                        const int sc = get4(o + Q2_SCALES + 16 * (4 * (m >= 4) + c), 2 * r + k);
                        const int8_t *a = y[b].qs + 32 * (2 * c + k) + 4 * m;
                        for (int e = 0; e < 4; e++) { /* register hi = e / 2, byte 2k + e % 2 */
                            const uint8_t byte = o[Q2_QUANTS + 64 * (2 * m + c / 2) + 4 * r + 2 * k + (e & 1)];
                            lane += sc * ((byte >> (2 * (2 * (c & 1) + (e >> 1)))) & 3) * a[e];
                        }
                    }
                acc[m] = fmaf(d, (float)lane, acc[m]);
            }
        }
        s[r] = ember_hsum8(acc);
    }
}

/* Q2_K's side data: Q4_K's quant order, then the 16 bsums per super-block
 * (pairs 2m, 2m+1 one dword), then d */
size_t ember_q2_K_act_aux_size(int64_t n) { return (size_t)(n / QK_K) * (QK_K + 32 + 4); }

static void aux_q2_K(const void *vy, void *out, int64_t n) {
    const block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    int8_t *q = out;
    int16_t *bs = (int16_t *)(q + nb * QK_K);
    float *d = (float *)(bs + 16 * nb);
    for (int64_t b = 0; b < nb; b++) {
        ember_lanes16_act_quants(y[b].qs, q + b * QK_K);
        memcpy(bs + 16 * b, y[b].bsums, 32);
        d[b] = y[b].d;
    }
}

const ember_packed_layout ember_q4_K_lanes16_layout = {"q4_K-lanes16", 16, pack_q4_K, ref_q4_K, ember_q4_K_act_aux_size,
                                                       aux_q4_K};
const ember_packed_layout ember_q5_K_lanes16_layout = {"q5_K-lanes16", 16, pack_q5_K, ref_q5_K, ember_q4_K_act_aux_size,
                                                       aux_q4_K};
const ember_packed_layout ember_q2_K_lanes16_layout = {"q2_K-lanes16", 16, pack_q2_K, ref_q2_K, ember_q2_K_act_aux_size,
                                                       aux_q2_K};
