/* Q8_0 weights over the packed 16-row copy (formats/q8_0_rows16.c) with
 * AVX-512 VNNI: prompt batches, batched decoding and single tokens.
 *
 * Lane r of every register is row r of the group, and register k of a
 * token's eight accumulators holds lane k of llama.cpp's order (elements
 * 4k..4k+3 of each block). So a block costs, per token, eight VPDPBUSD
 * (the activation's 4 bytes of lane k broadcast from memory), eight
 * conversions and eight fma for all 16 rows, plus one dx*dy multiply; no
 * horizontal sums, and the 8-lane fold at the end is vertical. The weights
 * are stored offset to unsigned (x + 128) and each lane starts from the
 * activation's correction -128 * sum(y) (act_aux), so every lane's integer
 * is exact. Bit-identical to the reference and to vec_dot. */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>

/* streaming, the weights are prefetched 8 KiB ahead into L2 (decoding
 * batches of 4 tokens: 0.71-0.83 of the per-row dot's single-token
 * throughput with it, 0.58-0.64 without, in a DRAM microbenchmark) */
#define PF_AHEAD 8192

static inline __m512i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Blocks b0..b1 for nt (1..3) tokens: 8 accumulators each, with one
 * weight register, fill the 32 registers at three. The accumulators start
 * from zero (acc_in NULL) or acc_in, and end folded in s (acc_out NULL) or
 * unfolded in acc_out; both [token][lane][row], 8 lanes apart per token. */
static inline __attribute__((always_inline)) void packed16_nt(int nb, int b0, int b1, float *s, size_t s_stride,
                                                              const uint8_t *g, const char *y, size_t y_stride,
                                                              const char *aux, size_t aux_stride, const float *acc_in,
                                                              float *acc_out, const int nt, const int pf) {
    const uint8_t *sc = g + (size_t)nb * 512;
    const block_q8_0 *yb[3];
    const int32_t *corr[3];
    const float *dy[3];
    __m512 acc[3][8];
    #pragma GCC unroll 3
    for (int t = 0; t < nt; t++) {
        yb[t] = (const block_q8_0 *)(y + (size_t)t * y_stride);
        corr[t] = (const int32_t *)(aux + (size_t)t * aux_stride);
        dy[t] = (const float *)(corr[t] + 8 * nb);
        #pragma GCC unroll 8
        for (int k = 0; k < 8; k++) acc[t][k] = acc_in ? _mm512_loadu_ps(acc_in + (t * 8 + k) * 16) : _mm512_setzero_ps();
    }
    for (int b = b0; b < b1; b++) {
        const uint8_t *q = g + (size_t)b * 512;
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(sc + 32 * (size_t)b)));
        __m512 d[3];
        #pragma GCC unroll 3
        for (int t = 0; t < nt; t++) d[t] = _mm512_mul_ps(dw, _mm512_set1_ps(dy[t][b]));
        #pragma GCC unroll 8
        for (int k = 0; k < 8; k++) {
            if (pf) _mm_prefetch((const char *)q + PF_AHEAD + 64 * k, _MM_HINT_T1);
            const __m512i w = _mm512_loadu_si512(q + 64 * k);
            #pragma GCC unroll 3
            for (int t = 0; t < nt; t++) {
                const __m512i p = _mm512_dpbusd_epi32(_mm512_set1_epi32(corr[t][8 * b + k]), w, bcast4(yb[t][b].qs + 4 * k));
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
        _mm512_storeu_ps(s + (size_t)t * s_stride, _mm512_add_ps(_mm512_add_ps(a04, a26), _mm512_add_ps(a15, a37)));
    }
}

#define PASS(NT, PF) packed16_nt(nb, b0, b1, s, s_stride, g, y, y_stride, aux, aux_stride, acc_in, acc_out, NT, PF)
static void packed16_pass(int nb, int b0, int b1, float *s, size_t s_stride, const uint8_t *g, const char *y,
                          size_t y_stride, const char *aux, size_t aux_stride, const float *acc_in, float *acc_out,
                          int nt, int stream) {
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
 * batch), each pass walks a chunk of CHUNK blocks (8 KiB of the group,
 * which stays in L1 for the next pass) and parks its accumulators in
 * between, so the group comes from memory once for all tokens. In a prompt
 * the group is in cache anyway, and whole-row passes skip the parking
 * (tl-q8_0 pp512 122.8 vs 104.2 t/s, median of 5 alternating runs). */
#define CHUNK 16

static void dot_q8_0_packed16_tokens(int n, float *s, size_t s_stride, const void *group, const void *y,
                                     size_t y_stride, const void *aux, size_t aux_stride, int nt, int stream) {
    const int nb = n / QK8_0;
    const int chunk = stream && nt > 3 ? CHUNK : nb;
    _Alignas(64) float park[8 * 8 * 16]; /* [token][lane][row] */
    for (int b0 = 0; b0 < nb; b0 += chunk) {
        const int b1 = nb - b0 < chunk ? nb : b0 + chunk;
        /* passes of up to three tokens, never a lone one after a pass of three */
        for (int t0 = 0; t0 < nt;) {
            const int left = nt - t0, c = left == 4 || left == 7 ? 2 : left < 3 ? left : 3;
            float *pk = park + t0 * 8 * 16;
            packed16_pass(nb, b0, b1, s + (size_t)t0 * s_stride, s_stride, group, (const char *)y + (size_t)t0 * y_stride,
                          y_stride, (const char *)aux + (size_t)t0 * aux_stride, aux_stride, b0 ? pk : 0,
                          b1 < nb ? pk : 0, c, stream);
            t0 += c;
        }
    }
}

void ember_kernels_avx512vnni_q8_0(ember_kernel_set *ks) {
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q8_0] = dot_q8_0_packed16_tokens;
    ks->packed_layout[EMBER_TYPE_Q8_0] = &ember_q8_0_lanes16_layout;
    /* Q5_0 rows widened into the same copy: prompts and decoding batches
     * run these kernels; a lone token still reads the file's smaller rows */
    ks->vec_dot_packed_tokens[EMBER_TYPE_Q5_0] = dot_q8_0_packed16_tokens;
    ks->packed_layout[EMBER_TYPE_Q5_0] = &ember_q5_0_as_q8_0_lanes16_layout;
}
