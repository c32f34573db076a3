/* AVX-512 VNNI dots for the 32-element block quants (Q4_0, Q4_1, Q5_0,
 * Q5_1, Q8_0), one weight row against one token.
 *
 * llama.cpp keeps its 256-bit code for these on AVX-512, so the order is
 * the AVX2 one: per block 8 exact int32 lanes (lane k = elements 4k..4k+3),
 * acc[k] = fma(dx*dy, lane[k], acc[k]) in block order, lanes folded as
 * ((a0+a4)+(a2+a6)) + ((a1+a5)+(a3+a7)); Q4_1/Q5_1 then add
 * summs = fma(m, s, summs) accumulated in block order. The integer part
 * uses VNNI with an offset (u - off) so it is exact for every int8 input. */
#include "kernels.h"
#include "../formats/fp16.h"
#include <immintrin.h>
#include "reduce_x86.h"
#include "unpack_x86.h"
#include <math.h>
#include <string.h>

static inline float h2f(ember_f16 h) { return _cvtsh_ss(h); }

/* fifth_bits32 (unpack_x86.h) with a byte mask: byte j = 0x10 where bit j
 * of the little-endian qh word is set. */
static inline __m256i fifth_bits32_k(const uint8_t *qh) {
    uint32_t w;
    memcpy(&w, qh, 4);
    return _mm256_maskz_mov_epi8((__mmask32)w, _mm256_set1_epi8(0x10));
}

static inline __m256i load32(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* Lane k = sum over j in 4k..4k+3 of (u[j] - off) * y[j], u unsigned. */
static inline __m256i dot_off(__m256i u, __m256i off, __m256i y) {
    const __m256i z = _mm256_setzero_si256();
    return _mm256_sub_epi32(_mm256_dpbusd_epi32(z, u, y), _mm256_dpbusd_epi32(z, off, y));
}

static void dot_q4_0(int n, float *s, const void *vx, const void *vy) {
    const block_q4_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i eight = _mm256_set1_epi8(8);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i q = dot_off(nibbles32(x[i].qs), eight, load32(y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc);
}

static void dot_q4_1(int n, float *s, const void *vx, const void *vy) {
    const block_q4_1 *x = vx;
    const block_q8_1 *y = vy;
    const __m256i z = _mm256_setzero_si256();
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int i = 0; i < n / QK8_1; i++) {
        summs = fmaf(h2f(x[i].m), h2f(y[i].s), summs);
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i q = _mm256_dpbusd_epi32(z, nibbles32(x[i].qs), load32(y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc) + summs;
}

static void dot_q5_0(int n, float *s, const void *vx, const void *vy) {
    const block_q5_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i sixteen = _mm256_set1_epi8(16);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i u = _mm256_or_si256(nibbles32(x[i].qs), fifth_bits32_k(x[i].qh));
        const __m256i q = dot_off(u, sixteen, load32(y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc);
}

static void dot_q5_1(int n, float *s, const void *vx, const void *vy) {
    const block_q5_1 *x = vx;
    const block_q8_1 *y = vy;
    const __m256i z = _mm256_setzero_si256();
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int i = 0; i < n / QK8_1; i++) {
        summs = fmaf(h2f(x[i].m), h2f(y[i].s), summs);
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i u = _mm256_or_si256(nibbles32(x[i].qs), fifth_bits32_k(x[i].qh));
        const __m256i q = _mm256_dpbusd_epi32(z, u, load32(y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc) + summs;
}

/* x + 128 is unsigned, so (x+128)*y - 128*y is exact for all int8 pairs. */
static void dot_q8_0(int n, float *s, const void *vx, const void *vy) {
    const block_q8_0 *x = vx;
    const block_q8_0 *y = vy;
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < n / QK8_0; i++) {
        const __m256 d = _mm256_set1_ps(h2f(x[i].d) * h2f(y[i].d));
        const __m256i q = dot_off(_mm256_xor_si256(load32(x[i].qs), bias), bias, load32(y[i].qs));
        acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(q), acc);
    }
    *s = hsum8(acc);
}

/* dot_q8_0's order for 4 consecutive rows: two rows per 512-bit register
 * (lanes 0-7 one row's, 8-15 the next's), so one FMA carries two rows'
 * chains and the two registers keep four in flight; a lone row waits one
 * FMA latency per block (L2 microbenchmark in the commit message). */
static void dot_q8_0_rows4(int n, float *s, const void *vx, size_t row_bytes, const void *vy) {
    const block_q8_0 *y = vy;
    const block_q8_0 *x0 = vx, *x1 = (const block_q8_0 *)((const char *)vx + row_bytes),
                     *x2 = (const block_q8_0 *)((const char *)vx + 2 * row_bytes),
                     *x3 = (const block_q8_0 *)((const char *)vx + 3 * row_bytes);
    const __m512i bias = _mm512_set1_epi8((char)0x80), z = _mm512_setzero_si512();
    const __m512i idx01 = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i idx23 = _mm512_set_epi32(3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2);
    __m512 acc01 = _mm512_setzero_ps(), acc23 = _mm512_setzero_ps();
    /* the next four rows, one contiguous run of memory, are fetched while
     * these are summed: four rows read side by side defeat the hardware
     * prefetcher (one thread, 71 MB of rows: 34.2 TSC per 256 elements
     * without, 12.4 with, the one-row dot 18.6) */
    const char *next = (const char *)vx + 4 * row_bytes;
    const int nb = n / QK8_0;
    const size_t lines = (4 * row_bytes + 63) / 64;
    /* lines * (i + 1) / nb lines fetched after block i, counted without a
     * division per block */
    size_t pf = 0, part = 0;
    for (int i = 0; i < nb; i++) {
        for (part += lines; part >= (size_t)nb; part -= (size_t)nb) _mm_prefetch(next + 64 * pf++, EMBER_PF_STREAM);
        const __m512i yy = _mm512_broadcast_i64x4(load32(y[i].qs));
        /* each lane starts at -128 * (its four y) and adds (x + 128) * y */
        const __m512i noff = _mm512_sub_epi32(z, _mm512_dpbusd_epi32(z, bias, yy));
        const __m512i a01 = _mm512_inserti64x4(_mm512_castsi256_si512(load32(x0[i].qs)), load32(x1[i].qs), 1);
        const __m512i a23 = _mm512_inserti64x4(_mm512_castsi256_si512(load32(x2[i].qs)), load32(x3[i].qs), 1);
        const __m512i q01 = _mm512_dpbusd_epi32(noff, _mm512_xor_si512(a01, bias), yy);
        const __m512i q23 = _mm512_dpbusd_epi32(noff, _mm512_xor_si512(a23, bias), yy);
        /* the four rows' scales converted and multiplied together, each
         * product then spread over its row's eight lanes */
        const __m128i dh = _mm_insert_epi16(_mm_insert_epi16(_mm_insert_epi16(_mm_cvtsi32_si128(x0[i].d), x1[i].d, 1), x2[i].d, 2),
                                            x3[i].d, 3);
        const __m512 d4 = _mm512_castps128_ps512(_mm_mul_ps(_mm_cvtph_ps(dh), _mm_set1_ps(h2f(y[i].d))));
        const __m512 d01 = _mm512_permutexvar_ps(idx01, d4), d23 = _mm512_permutexvar_ps(idx23, d4);
        acc01 = _mm512_fmadd_ps(d01, _mm512_cvtepi32_ps(q01), acc01);
        acc23 = _mm512_fmadd_ps(d23, _mm512_cvtepi32_ps(q23), acc23);
    }
    s[0] = hsum8(_mm512_castps512_ps256(acc01));
    s[1] = hsum8(_mm512_extractf32x8_ps(acc01, 1));
    s[2] = hsum8(_mm512_castps512_ps256(acc23));
    s[3] = hsum8(_mm512_extractf32x8_ps(acc23, 1));
}

void ember_kernels_avx512vnni_simple(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_Q4_0] = dot_q4_0;
    ks->vec_dot[EMBER_TYPE_Q4_1] = dot_q4_1;
    ks->vec_dot[EMBER_TYPE_Q5_0] = dot_q5_0;
    ks->vec_dot[EMBER_TYPE_Q5_1] = dot_q5_1;
    ks->vec_dot[EMBER_TYPE_Q8_0] = dot_q8_0;
    ks->vec_dot_rows4[EMBER_TYPE_Q8_0] = dot_q8_0_rows4;
}
