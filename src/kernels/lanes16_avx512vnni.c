/* The 16-row lane copies of the types that keep llama.cpp's 8-lane x86
 * order (lane_order.c) with AVX-512 VNNI: Q8_0 (formats/q8_0_rows16.c),
 * Q4_1, Q5_0 and Q5_1 (formats/nibble_lanes16.c); prompt batches, batched
 * decoding and single tokens.
 *
 * Lane r of every register is row r of the group, and register k of a
 * token's eight accumulators holds lane k of the order (elements 4k..4k+3
 * of each block). So a block costs, per token, eight VPDPBUSD (the
 * activation's 4 bytes of lane k broadcast from memory), eight conversions
 * and eight fma for all 16 rows, plus one dx*dy multiply; no horizontal
 * sums, and the 8-lane fold at the end is vertical.
 *  - Q8_0: the weights are stored offset to unsigned (x + 128) and each
 *    lane starts from the activation's correction -128 * sum(y) (act_aux),
 *    so every lane's integer is exact.
 *  - Q4_1/Q5_0/Q5_1: the quants are unsigned already (nibbles, plus the
 *    fifth bit from its planes); Q5_0's lanes start from -16 * sum(y)
 *    (act_aux), the others' from zero. Q4_1/Q5_1's min term
 *    summs = fma(m, s, summs) runs over the blocks' m once per token at the
 *    end and is added after the fold, as in the order.
 * Bit-identical to the layouts' refs and to vec_dot. */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>

enum { KIND_Q8_0, KIND_Q4_1, KIND_Q5_0, KIND_Q5_1 };

static inline int has_min(const int kind) { return kind == KIND_Q4_1 || kind == KIND_Q5_1; }
static inline int has_planes(const int kind) { return kind == KIND_Q5_0 || kind == KIND_Q5_1; }
/* the lanes start from act_aux's values (else from zero) */
static inline int has_start(const int kind) { return kind == KIND_Q8_0 || kind == KIND_Q5_0; }


/* streaming, the weights are prefetched 8 KiB ahead (EMBER_PF_STREAM; Q8_0
 * decoding batches of 4 tokens: 0.71-0.83 of the per-row dot's
 * single-token throughput with it, 0.58-0.64 without, in a DRAM
 * microbenchmark) */
#define PF_AHEAD 8192

static inline __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* bytes of a block of 16 rows in the copy (Q8_0: its quants; the scales
 * follow all blocks) */
static inline size_t block_bytes(const int kind) {
    return kind == KIND_Q8_0   ? 512
           : kind == KIND_Q4_1 ? EMBER_Q4_1_LANES16_BLOCK
           : kind == KIND_Q5_0 ? EMBER_Q5_0_LANES16_BLOCK
                               : EMBER_Q5_1_LANES16_BLOCK;
}

/* the activation's quants of block b */
static inline const int8_t *act_qs(const int kind, const char *y, int b) {
    return has_min(kind) ? ((const block_q8_1 *)y)[b].qs : ((const block_q8_0 *)y)[b].qs;
}

/* Lane k of the 16 rows of block o as VPDPBUSD's unsigned operand. */
static inline __m512i weights_lane(const int kind, const uint8_t *o, const int k) {
    if (kind == KIND_Q8_0) return _mm512_loadu_si512(o + 64 * k);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const uint8_t *planes = o + (has_min(kind) ? 64 : 32), *nibbles = planes + (has_planes(kind) ? 64 : 0);
    const __m512i v = _mm512_loadu_si512(nibbles + 64 * (k & 3));
    const __m512i nib = _mm512_and_si512(k < 4 ? v : _mm512_srli_epi16(v, 4), m4);
    if (!has_planes(kind)) return nib;
    /* bit k of each plane byte to bit 4 (16-bit shifts: the mask drops
     * what crosses between bytes) */
    const __m512i h = _mm512_loadu_si512(planes);
    const __m512i sh = k <= 4 ? _mm512_slli_epi16(h, 4 - k) : _mm512_srli_epi16(h, k - 4);
    return _mm512_ternarylogic_epi32(nib, sh, _mm512_set1_epi8(0x10), 0xF8); /* nib | (sh & 0x10) */
}

/* Blocks b0..b1 for nt (1..3) tokens: 8 accumulators each, with one
 * weight register, fill the 32 registers at three. The accumulators start
 * from zero (acc_in NULL) or acc_in, and end folded in s (acc_out NULL) or
 * unfolded in acc_out; both [token][lane][row], 8 lanes apart per token. */
static inline __attribute__((always_inline)) void pass_nt(int nb, int b0, int b1, float *s, size_t s_stride,
                                                          const uint8_t *g, const char *y, size_t y_stride,
                                                          const char *aux, size_t aux_stride, const float *acc_in,
                                                          float *acc_out, const int nt, const int pf, const int kind) {
    const size_t bb = block_bytes(kind);
    const char *yt[3];
    const int32_t *start[3]; /* has_start */
    const float *dy[3];
    __m512 acc[3][8];
#pragma GCC unroll 3
    for (int t = 0; t < nt; t++) {
        yt[t] = y + (size_t)t * y_stride;
        const char *a = aux + (size_t)t * aux_stride;
        start[t] = (const int32_t *)a;
        dy[t] = has_start(kind) ? (const float *)(start[t] + 8 * nb) : (const float *)a;
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) acc[t][k] = acc_in ? _mm512_loadu_ps(acc_in + (t * 8 + k) * 16) : _mm512_setzero_ps();
    }
    for (int b = b0; b < b1; b++) {
        const uint8_t *o = g + (size_t)b * bb;
        const uint8_t *sc = kind == KIND_Q8_0 ? g + (size_t)nb * 512 + 32 * (size_t)b : o;
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)sc));
        __m512 d[3];
#pragma GCC unroll 3
        for (int t = 0; t < nt; t++) d[t] = _mm512_mul_ps(dw, _mm512_set1_ps(dy[t][b]));
#pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            if (pf && 64 * (size_t)k < bb) _mm_prefetch((const char *)o + PF_AHEAD + 64 * k, EMBER_PF_STREAM);
            const __m512i w = weights_lane(kind, o, k);
#pragma GCC unroll 3
            for (int t = 0; t < nt; t++) {
                const __m512i p0 = has_start(kind) ? _mm512_set1_epi32(start[t][8 * b + k]) : _mm512_setzero_si512();
                const __m512i p = _mm512_dpbusd_epi32(p0, w, bcast4(act_qs(kind, yt[t], b) + 4 * k));
                acc[t][k] = _mm512_fmadd_ps(d[t], _mm512_cvtepi32_ps(p), acc[t][k]);
            }
        }
    }
#pragma GCC unroll 3
    for (int t = 0; t < nt; t++) {
        if (acc_out) {
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) _mm512_storeu_ps(acc_out + (t * 8 + k) * 16, acc[t][k]);
            continue;
        }
        const __m512 a04 = _mm512_add_ps(acc[t][0], acc[t][4]), a26 = _mm512_add_ps(acc[t][2], acc[t][6]);
        const __m512 a15 = _mm512_add_ps(acc[t][1], acc[t][5]), a37 = _mm512_add_ps(acc[t][3], acc[t][7]);
        __m512 sum = _mm512_add_ps(_mm512_add_ps(a04, a26), _mm512_add_ps(a15, a37));
        if (has_min(kind)) { /* the min term over all blocks, in block order */
            const float *sy = dy[t] + nb;
            __m512 summs = _mm512_setzero_ps();
            for (int b = 0; b < nb; b++)
                summs = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(g + (size_t)b * bb + 32))),
                                        _mm512_set1_ps(sy[b]), summs);
            sum = _mm512_add_ps(sum, summs);
        }
        _mm512_storeu_ps(s + (size_t)t * s_stride, sum);
    }
}

#define PASS(NT, PF) pass_nt(nb, b0, b1, s, s_stride, g, y, y_stride, aux, aux_stride, acc_in, acc_out, NT, PF, kind)
static inline __attribute__((always_inline)) void pass(int nb, int b0, int b1, float *s, size_t s_stride,
                                                       const uint8_t *g, const char *y, size_t y_stride, const char *aux,
                                                       size_t aux_stride, const float *acc_in, float *acc_out, int nt,
                                                       int stream, const int kind) {
    if (stream) {
        if (nt == 3) PASS(3, 1);
        else if (nt == 2) PASS(2, 1);
        else PASS(1, 1);
    } else {
        if (nt == 3) PASS(3, 0);
        else if (nt == 2) PASS(2, 0);
        else PASS(1, 0);
    }
}
#undef PASS

/* More than three tokens take several passes. Streaming (a decoding
 * batch), each pass walks a chunk of CHUNK blocks (5-8 KiB of the group,
 * which stays in L1 for the next pass) and parks its accumulators in
 * between, so the group comes from memory once for all tokens. In a prompt
 * the group is in cache anyway, and whole-row passes skip the parking
 * (tl-q8_0 pp512 122.8 vs 104.2 t/s, median of 5 alternating runs). The
 * nibble types unpack each lane once per pass: unpacking a chunk once into
 * an L1 scratch for all passes measured no faster (Q5_0, 8 tokens, L1:
 * 0.90 TSC per row, token and block either way; Q4_1 0.98 vs 0.88). */
#define CHUNK 16

static inline __attribute__((always_inline)) void packed_tokens(int n, float *s, size_t s_stride, const void *group,
                                                                const void *y, size_t y_stride, const void *aux,
                                                                size_t aux_stride, int nt, int stream, const int kind) {
    const int nb = n / QK8_0;
    const int chunk = stream && nt > 3 ? CHUNK : nb;
    _Alignas(64) float park[8 * 8 * 16]; /* [token][lane][row] */
    for (int b0 = 0; b0 < nb; b0 += chunk) {
        const int b1 = nb - b0 < chunk ? nb : b0 + chunk;
        /* passes of up to three tokens, never a lone one after a pass of three */
        for (int t0 = 0; t0 < nt;) {
            const int left = nt - t0, c = left == 4 || left == 7 ? 2 : left < 3 ? left : 3;
            float *pk = park + t0 * 8 * 16;
            pass(nb, b0, b1, s + (size_t)t0 * s_stride, s_stride, group, (const char *)y + (size_t)t0 * y_stride, y_stride,
                 (const char *)aux + (size_t)t0 * aux_stride, aux_stride, b0 ? pk : 0, b1 < nb ? pk : 0, c, stream, kind);
            t0 += c;
        }
    }
}

#define LANES16_TOKENS(NAME, KIND)                                                                                   \
    static void NAME(int n, float *s, size_t s_stride, const void *group, const void *y, size_t y_stride,              \
                     const void *aux, size_t aux_stride, int nt, int stream) {                                         \
        packed_tokens(n, s, s_stride, group, y, y_stride, aux, aux_stride, nt, stream, KIND);                          \
    }
LANES16_TOKENS(dot_q8_0_lanes16_tokens, KIND_Q8_0)
LANES16_TOKENS(dot_q4_1_lanes16_tokens, KIND_Q4_1)
LANES16_TOKENS(dot_q5_0_lanes16_tokens, KIND_Q5_0)
LANES16_TOKENS(dot_q5_1_lanes16_tokens, KIND_Q5_1)
#undef LANES16_TOKENS

void ember_kernels_avx512vnni_lanes16(ember_kernel_set *ks) {
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q8_0] = dot_q8_0_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q8_0] = &ember_q8_0_lanes16_layout;
    /* the nibble types' copies are the rows' size, so decoding reads them too */
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q5_0] = dot_q5_0_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q5_0] = &ember_q5_0_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q5_0] = 1;
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q4_1] = dot_q4_1_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q4_1] = &ember_q4_1_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q4_1] = 1;
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q5_1] = dot_q5_1_lanes16_tokens;
    ks->packed_layout[EMBER_TYPE_Q5_1] = &ember_q5_1_lanes16_layout;
    ks->packed_decode[EMBER_TYPE_Q5_1] = 1;
}
