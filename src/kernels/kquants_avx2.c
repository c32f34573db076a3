/* AVX2 K-quant dots (Q2_K..Q6_K). They keep the order documented in
 * formats/kquants.c: exact integer lanes (lane m = elements 4m..4m+3 of each
 * 32-element run), one fused multiply-add per lane and super-block, then a
 * tree sum; so they are bit-identical to the scalar references
 * (tests/test_kquants.c). The same kernels as kquants_avx512.c with the
 * AVX-512 instructions spelled in AVX2 (multiply-add then add for vpdpwssd,
 * and/or for ternary logic, compare for the byte-mask test): the integers
 * are the same. Each is written for nt activation rows against one weight
 * row; vec_dot is the nt == 1 instance. For prompts, Q4_K, Q5_K and Q6_K
 * also have 16-row x 1..8-token kernels (rows16_tokens) giving the same
 * bits, laid out for 16 ymm registers. */
#include "kernels.h"
#include <immintrin.h>
#include <string.h>
#include "reduce_x86.h"
#include "kquants_x86.h"

/* s + int16 pair products of a and b (what vpdpwssd does) */
static inline __m256i dpwssd(__m256i s, __m256i a, __m256i b) { return _mm256_add_epi32(s, _mm256_madd_epi16(a, b)); }
/* a | (b & c) */
static inline __m256i or_and(__m256i a, __m256i b, __m256i c) { return _mm256_or_si256(a, _mm256_and_si256(b, c)); }
/* w + add where the bits sel of hb are set (w has that bit clear) */
static inline __m256i add_bit(__m256i w, __m256i hb, __m256i sel, __m256i add) {
    return _mm256_or_si256(w, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hb, sel), sel), add));
}

/* Q4_K or Q5_K (q5 != 0), nt tokens: the super-block loop is the same but
 * for the fifth bit and how the min term accumulates. */
static inline __attribute__((always_inline)) void q45_tokens(int n, float *s, const void *vx, const void *vy, size_t ys,
                                                             const int nt, const int q5) {
    const size_t bx = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const __m256i m4 = _mm256_set1_epi8(0xF), sixteen = _mm256_set1_epi8(16);
    __m256 acc[4] = ZERO8;
    __m128 acc_m[4] = {_mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps(), _mm_setzero_ps()};
    float summs[4] = {0, 0, 0, 0};
    for (int i = 0; i < n / QK_K; i++) {
        const block_q4_K *b4 = (const block_q4_K *)((const char *)vx + (size_t)i * bx);
        const block_q5_K *b5 = (const block_q5_K *)b4;
        const float xd = h2f(b4->d), xdm = h2f(b4->dmin);
        const __m128i scmn = k4_scales(b4->scales);
        const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scmn));
        const __m128i mins16 = _mm_cvtepu8_epi16(_mm_unpackhi_epi64(scmn, scmn));
        const uint8_t *qs = q5 ? b5->qs : b4->qs;
        __m256i hb = _mm256_setzero_si256();
        if (q5) hb = _mm256_loadu_si256((const __m256i *)b5->qh);
        /* w[r]: unsigned values of 32-element run r, scv[r] its scale */
        __m256i w[8], scv[8];
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
            w[2 * j] = _mm256_and_si256(bits, m4);
            w[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if (q5) {
                w[2 * j] = add_bit(w[2 * j], hb, _mm256_set1_epi8((char)(1 << (2 * j))), sixteen);
                w[2 * j + 1] = add_bit(w[2 * j + 1], hb, _mm256_set1_epi8((char)(1 << (2 * j + 1))), sixteen);
            }
            scv[2 * j] = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)word_bytes(2 * j)));
            scv[2 * j + 1] = _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)word_bytes(2 * j + 1)));
        }
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd, dmin = -y->d * xdm;
            k45_min_term(q5, mins16, y->bsums, dmin, &summs[k], &acc_m[k]);
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                s0 = dpwssd(s0, _mm256_maddubs_epi16(w[2 * j], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j))), scv[2 * j]);
                s1 = dpwssd(s1, _mm256_maddubs_epi16(w[2 * j + 1], _mm256_loadu_si256((const __m256i *)(y->qs + 64 * j + 32))),
                                         scv[2 * j + 1]);
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = k45_finish(q5, acc[k], summs[k], acc_m[k]);
}

/* nt is a constant in each instance, so the loops over tokens unroll */
static void dot_q4_K(int n, float *s, const void *vx, const void *vy) { q45_tokens(n, s, vx, vy, 0, 1, 0); }
static void dot_q5_K(int n, float *s, const void *vx, const void *vy) { q45_tokens(n, s, vx, vy, 0, 1, 1); }

static void dot_q4_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q45_tokens(n, s, vx, vy, ys, 4, 0);
    else if (nt == 3) q45_tokens(n, s, vx, vy, ys, 3, 0);
    else if (nt == 2) q45_tokens(n, s, vx, vy, ys, 2, 0);
    else q45_tokens(n, s, vx, vy, ys, 1, 0);
}

static void dot_q5_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q45_tokens(n, s, vx, vy, ys, 4, 1);
    else if (nt == 3) q45_tokens(n, s, vx, vy, ys, 3, 1);
    else if (nt == 2) q45_tokens(n, s, vx, vy, ys, 2, 1);
    else q45_tokens(n, s, vx, vy, ys, 1, 1);
}

/* Keeps v in a register as it is at this point: stops the compiler
 * reassociating a chain of integer sums into a tree of many live
 * products (gcc did, spilling them); no instruction */
#define KEEP_REG(v) __asm__("" : "+x"(v))

/* The rows16 kernels' inner step: run ru of super-block i (its unsigned
 * values w and scale words scv) into every token's integer lanes */
static inline __attribute__((always_inline)) void run_into_tokens(__m256i *isum, __m256i w, __m256i scv,
                                                                  const block_q8_K *const *yk, int i, int ru, const int nt) {
#pragma GCC unroll 8
    for (int k = 0; k < nt; k++) {
        const __m256i a = _mm256_loadu_si256((const __m256i *)(yk[k][i].qs + 32 * ru));
        isum[k] = dpwssd(isum[k], _mm256_maddubs_epi16(w, a), scv);
        KEEP_REG(isum[k]);
    }
}

/* ... and then vec_dot's fma of the super-block per token lane:
 * acc[k] += (d_k * xd) * isum[k], the accumulators in memory */
static inline __attribute__((always_inline)) void sb_into_acc(float (*acc)[8], const __m256i *isum, const block_q8_K *const *yk,
                                                              int i, float xd, const int nt) {
#pragma GCC unroll 8
    for (int k = 0; k < nt; k++)
        _mm256_store_ps(acc[k], _mm256_fmadd_ps(_mm256_set1_ps(yk[k][i].d * xd), _mm256_cvtepi32_ps(isum[k]),
                                                _mm256_load_ps(acc[k])));
}

/* Q4_K and Q5_K, 16 rows x nt (1..8) tokens: vec_dot's results. Per row
 * and super-block the 4-bit values are unpacked once, two 32-element runs
 * at a time, and each pair serves every token while it sits in registers
 * (one int32 accumulator per token: the integer lanes are exact, so adding
 * the runs in another grouping gives vec_dot's lanes), then vec_dot's fma
 * per lane with d. The min term has the tokens in the lanes: a per-call
 * table holds, per super-block and sub-block pair l, every token's int16
 * pair of q8 sums, so one multiply-add against row's min pair l gives
 * lane l of k4_min_prod for eight tokens. Q4_K then does vec_dot's fma per
 * lane l with dmin and the fold (l0+l2)+(l1+l3); Q5_K sums the four
 * products exactly and does its one fma. Float additions are commutative,
 * so main + min is vec_dot's hsum8(acc) + min. */
static inline __attribute__((always_inline)) void q45_rows16_nt(int n, float *s, size_t s_stride, const void *vx,
                                                                size_t row_bytes, const void *vy, size_t ys, const int nt,
                                                                const int q5) {
    const int nb = n / QK_K;
    const size_t bx = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const __m256i m4 = _mm256_set1_epi8(0xF), m16 = _mm256_set1_epi8(16);
    _Alignas(32) int32_t q8s[ROWS16_MAX_SB][4][8]; /* [sb][pair l][token]: int16 pair of q8 sums */
    _Alignas(32) float nyd[ROWS16_MAX_SB][8];      /* [sb][token]: -d */
    const block_q8_K *yk[8];
    for (int k = 0; k < nt; k++) yk[k] = (const block_q8_K *)((const char *)vy + (size_t)k * ys);
    for (int i = 0; i < nb; i++) {
        for (int k = 0; k < 8; k++) {
            _Alignas(16) int32_t p[4] = {0, 0, 0, 0};
            nyd[i][k] = 0;
            if (k < nt) {
                _mm_store_si128((__m128i *)p, k4_q8_sums(yk[k][i].bsums));
                nyd[i][k] = -yk[k][i].d;
            }
            for (int l = 0; l < 4; l++) q8s[i][l][k] = p[l];
        }
    }
    for (int r = 0; r < 16; r++) {
        const char *xr = (const char *)vx + (size_t)r * row_bytes;
        /* float accumulators live in memory: one load and store per
         * super-block, the registers go to the integer sums */
        _Alignas(32) float acc[8][8], accm[4][8]; /* [token][lane]; min: [pair l][token] (Q5_K: [0]) */
        for (int k = 0; k < nt; k++) _mm256_store_ps(acc[k], _mm256_setzero_ps());
        for (int l = 0; l < 4; l++) _mm256_store_ps(accm[l], _mm256_setzero_ps());
        for (int i = 0; i < nb; i++) {
            const block_q4_K *b4 = (const block_q4_K *)(xr + (size_t)i * bx);
            const block_q5_K *b5 = (const block_q5_K *)b4;
            const float xd = h2f(b4->d);
            const __m128i scmn = k4_scales(b4->scales);
            _Alignas(16) int16_t sc[8];
            _mm_store_si128((__m128i *)sc, _mm_cvtepu8_epi16(scmn));
            const uint8_t *qs = q5 ? b5->qs : b4->qs;
            __m256i isum[8];
            for (int k = 0; k < nt; k++) isum[k] = _mm256_setzero_si256();
            /* run ru: low (even) or high (odd) nibbles of chunk ru/2, fifth bit = bit ru of qh moved to bit 4 */
#pragma GCC unroll 8
            for (int ru = 0; ru < 8; ru++) {
                const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * (ru / 2)));
                __m256i w = _mm256_and_si256(ru & 1 ? _mm256_srli_epi16(bits, 4) : bits, m4);
                if (q5) {
                    const __m256i hb = _mm256_loadu_si256((const __m256i *)b5->qh);
                    w = or_and(w, ru < 4 ? _mm256_slli_epi16(hb, 4 - ru) : ru > 4 ? _mm256_srli_epi16(hb, ru - 4) : hb, m16);
                }
                const __m256i scv = _mm256_set1_epi16(sc[ru]);
                run_into_tokens(isum, w, scv, yk, i, ru, nt);
            }
            sb_into_acc(acc, isum, yk, i, xd, nt);
            const __m256i mins = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_unpackhi_epi64(scmn, scmn)));
            const __m256 dm = _mm256_mul_ps(_mm256_load_ps(nyd[i]), _mm256_set1_ps(h2f(b4->dmin)));
            const __m256i p0 = _mm256_madd_epi16(_mm256_shuffle_epi32(mins, 0x00), _mm256_load_si256((const __m256i *)q8s[i][0]));
            const __m256i p1 = _mm256_madd_epi16(_mm256_shuffle_epi32(mins, 0x55), _mm256_load_si256((const __m256i *)q8s[i][1]));
            const __m256i p2 = _mm256_madd_epi16(_mm256_shuffle_epi32(mins, 0xAA), _mm256_load_si256((const __m256i *)q8s[i][2]));
            const __m256i p3 = _mm256_madd_epi16(_mm256_shuffle_epi32(mins, 0xFF), _mm256_load_si256((const __m256i *)q8s[i][3]));
            if (q5) {
                const __m256i p = _mm256_add_epi32(_mm256_add_epi32(p0, p2), _mm256_add_epi32(p1, p3));
                _mm256_store_ps(accm[0], _mm256_fmadd_ps(dm, _mm256_cvtepi32_ps(p), _mm256_load_ps(accm[0])));
            } else {
                _mm256_store_ps(accm[0], _mm256_fmadd_ps(dm, _mm256_cvtepi32_ps(p0), _mm256_load_ps(accm[0])));
                _mm256_store_ps(accm[1], _mm256_fmadd_ps(dm, _mm256_cvtepi32_ps(p1), _mm256_load_ps(accm[1])));
                _mm256_store_ps(accm[2], _mm256_fmadd_ps(dm, _mm256_cvtepi32_ps(p2), _mm256_load_ps(accm[2])));
                _mm256_store_ps(accm[3], _mm256_fmadd_ps(dm, _mm256_cvtepi32_ps(p3), _mm256_load_ps(accm[3])));
            }
        }
        /* Q4_K: vec_dot's fold (l0+l2)+(l1+l3), per token lane */
        _Alignas(32) float m[8];
        if (q5) _mm256_store_ps(m, _mm256_load_ps(accm[0]));
        else
            _mm256_store_ps(m, _mm256_add_ps(_mm256_add_ps(_mm256_load_ps(accm[0]), _mm256_load_ps(accm[2])),
                                             _mm256_add_ps(_mm256_load_ps(accm[1]), _mm256_load_ps(accm[3]))));
        for (int k = 0; k < nt; k++) s[(size_t)k * s_stride + r] = hsum8(_mm256_load_ps(acc[k])) + m[k];
    }
}

static void dot_q4_K_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    if (n / QK_K > ROWS16_MAX_SB) rows16_by_tokens(dot_q4_K_tokens, n, s, s_stride, x, row_bytes, y, y_stride, nt);
    else EMBER_WITH_NT8(nt, q45_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT, 0));
}

static void dot_q5_K_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    if (n / QK_K > ROWS16_MAX_SB) rows16_by_tokens(dot_q5_K_tokens, n, s, s_stride, x, row_bytes, y, y_stride, nt);
    else EMBER_WITH_NT8(nt, q45_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT, 1));
}

/* Q6_K, nt tokens */
static inline __attribute__((always_inline)) void q6_tokens(int n, float *s, const void *vx, const void *vy, size_t ys,
                                                            const int nt) {
    const block_q6_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30), m32 = _mm256_set1_epi8(32);
    __m256 acc[4] = ZERO8;
    for (int i = 0; i < n / QK_K; i++) {
        const float xd = h2f(x[i].d);
        const __m128i s8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        /* int16 scales 0..7 in both lanes of sc_lo, 8..15 in sc_hi */
        const __m256i sc_lo = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(s8));
        const __m256i sc_hi = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_unpackhi_epi64(s8, s8)));
        /* w[r]: 6-bit values of 32-element run r; scv[r]: its two scales */
        __m256i w[8], scv[8];
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i b2 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i bh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            w[4 * h + 0] = or_and(_mm256_and_si256(b1, m4), _mm256_slli_epi16(bh, 4), m30);
            w[4 * h + 1] = or_and(_mm256_and_si256(b2, m4), _mm256_slli_epi16(bh, 2), m30);
            w[4 * h + 2] = or_and(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), bh, m30);
            w[4 * h + 3] = or_and(_mm256_and_si256(_mm256_srli_epi16(b2, 4), m4), _mm256_srli_epi16(bh, 2), m30);
        }
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++)
            scv[r] = _mm256_shuffle_epi8(r < 4 ? sc_lo : sc_hi,
                                         _mm256_set_m128i(_mm_set1_epi16((short)word_bytes((2 * r + 1) % 8)),
                                                          _mm_set1_epi16((short)word_bytes((2 * r) % 8))));
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int r = 0; r < 8; r += 2) {
                const __m256i a0 = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r));
                const __m256i a1 = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r + 32));
                /* (q - 32) * a = q*a - 32*a in 16-bit pairs */
                s0 = dpwssd(s0, _mm256_sub_epi16(_mm256_maddubs_epi16(w[r], a0), _mm256_maddubs_epi16(m32, a0)), scv[r]);
                s1 = dpwssd(s1, _mm256_sub_epi16(_mm256_maddubs_epi16(w[r + 1], a1), _mm256_maddubs_epi16(m32, a1)),
                                         scv[r + 1]);
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = hsum8(acc[k]);
}

static void dot_q6_K(int n, float *s, const void *vx, const void *vy) { q6_tokens(n, s, vx, vy, 0, 1); }
static void dot_q6_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q6_tokens(n, s, vx, vy, ys, 4);
    else if (nt == 3) q6_tokens(n, s, vx, vy, ys, 3);
    else if (nt == 2) q6_tokens(n, s, vx, vy, ys, 2);
    else q6_tokens(n, s, vx, vy, ys, 1);
}

/* Q6_K, 16 rows x nt (1..8) tokens: vec_dot's results with the "- 32"
 * moved from the tokens to the rows, as kquants_avx512vnni.c does: the
 * weights made signed once per row (w - 32), the activations unsigned
 * (a + 128, a flip of the top bit), one 16-bit multiply-add per run and
 * token; the extra 128 * (w - 32) terms depend on the row only and are
 * subtracted once per super-block and token. The int32 lanes are vec_dot's
 * exactly (no 16-bit pair overflows: |(a + 128) * (w - 32)| * 2 <= 16320),
 * then vec_dot's fma per lane and tree sum. Runs are unpacked one at a
 * time and serve every token from registers. No tables: any n. */
static inline __attribute__((always_inline)) void q6_rows16_nt(int n, float *s, size_t s_stride, const void *vx,
                                                               size_t row_bytes, const void *vy, size_t ys, const int nt) {
    const int nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30), m32 = _mm256_set1_epi8(32);
    const __m256i m80 = _mm256_set1_epi8((char)0x80);
    const block_q8_K *yk[8];
    for (int k = 0; k < nt; k++) yk[k] = (const block_q8_K *)((const char *)vy + (size_t)k * ys);
    for (int r = 0; r < 16; r++) {
        const block_q6_K *x = (const block_q6_K *)((const char *)vx + (size_t)r * row_bytes);
        _Alignas(32) float acc[8][8]; /* [token][lane], in memory as for Q4_K */
        for (int k = 0; k < nt; k++) _mm256_store_ps(acc[k], _mm256_setzero_ps());
        for (int i = 0; i < nb; i++) {
            const float xd = h2f(x[i].d);
            _Alignas(32) int16_t sc[16];
            const __m128i s8 = _mm_loadu_si128((const __m128i *)x[i].scales);
            _mm256_store_si256((__m256i *)sc, _mm256_cvtepi8_epi16(s8));
            /* unpack: the signed runs and their scales staged in memory
             * (read back as operands of the token loop, which keeps its
             * registers for the eight sums), the row's 128 * (w - 32) terms */
            _Alignas(32) __m256i wv[8], scv[8];
            __m256i c = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int ru = 0; ru < 8; ru++) {
                const int h = ru / 4, v = ru % 4;
                const __m256i b = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32 * (v & 1)));
                const __m256i bh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
                const __m256i lo = v < 2 ? _mm256_and_si256(b, m4) : _mm256_and_si256(_mm256_srli_epi16(b, 4), m4);
                const __m256i hi = v == 0 ? _mm256_slli_epi16(bh, 4) : v == 1 ? _mm256_slli_epi16(bh, 2)
                                 : v == 2 ? bh : _mm256_srli_epi16(bh, 2);
                wv[ru] = _mm256_sub_epi8(or_and(lo, hi, m30), m32);
                /* scales of sub-blocks 2ru (low 128-bit lane) and 2ru+1 */
                scv[ru] = _mm256_set_m128i(_mm_set1_epi16(sc[2 * ru + 1]), _mm_set1_epi16(sc[2 * ru]));
                c = dpwssd(c, _mm256_maddubs_epi16(m80, wv[ru]), scv[ru]);
            }
            __asm__ volatile("" ::: "memory"); /* wv, scv stay in memory */
            __m256i isum[8];
            for (int k = 0; k < nt; k++) isum[k] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int ru = 0; ru < 8; ru++) {
                const __m256i w = _mm256_load_si256(&wv[ru]);
#pragma GCC unroll 8
                for (int k = 0; k < nt; k++) {
                    const __m256i a = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(yk[k][i].qs + 32 * ru)), m80);
                    isum[k] = dpwssd(isum[k], _mm256_maddubs_epi16(a, w), _mm256_load_si256(&scv[ru]));
                    KEEP_REG(isum[k]);
                }
            }
#pragma GCC unroll 8
            for (int k = 0; k < nt; k++)
                _mm256_store_ps(acc[k], _mm256_fmadd_ps(_mm256_set1_ps(yk[k][i].d * xd), _mm256_cvtepi32_ps(_mm256_sub_epi32(isum[k], c)),
                                                        _mm256_load_ps(acc[k])));
        }
        for (int k = 0; k < nt; k++) s[(size_t)k * s_stride + r] = hsum8(_mm256_load_ps(acc[k]));
    }
}

static void dot_q6_K_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    EMBER_WITH_NT8(nt, q6_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT));
}


/* Q2_K, nt tokens */
static inline __attribute__((always_inline)) void q2_tokens(int n, float *s, const void *vx, const void *vy, size_t ys,
                                                            const int nt) {
    const block_q2_K *x = vx;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc[4] = ZERO8;
    for (int i = 0; i < n / QK_K; i++) {
        const float xd = h2f(x[i].d), xdm = h2f(x[i].dmin);
        __m256i mins, sc_lo, sc_hi;
        q2_scales(&x[i], &mins, &sc_lo, &sc_hi);
        /* w[r]: 2-bit values of 32-element run r = 4j + k */
        __m256i w[8], scv[8];
#pragma GCC unroll 2
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
            w[4 * j + 0] = _mm256_and_si256(bits, m3);
            w[4 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3);
            w[4 * j + 2] = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m3);
            w[4 * j + 3] = _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3);
        }
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) scv[r] = run_scales(sc_lo, sc_hi, r);
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd, dmin = -y->d * xdm;
            const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)y->bsums));
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc[k]);
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int r = 0; r < 8; r += 2) {
                s0 = dpwssd(s0, _mm256_maddubs_epi16(w[r], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r))), scv[r]);
                s1 = dpwssd(s1, _mm256_maddubs_epi16(w[r + 1], _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r + 32))),
                                         scv[r + 1]);
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = hsum8(acc[k]);
}

/* Q3_K, nt tokens: value = (2 low bits | high bit << 2) - 4, the -4 as
 * 4 * a subtracted in the 16-bit pairs */
static inline __attribute__((always_inline)) void q3_tokens(int n, float *s, const void *vx, const void *vy, size_t ys,
                                                            const int nt) {
    const block_q3_K *x = vx;
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4); /* bit 2's mask, and the offset */
    __m256 acc[4] = ZERO8;
    for (int i = 0; i < n / QK_K; i++) {
        const float xd = h2f(x[i].d);
        __m256i sc_lo, sc_hi;
        q3_scales(&x[i], &sc_lo, &sc_hi);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        /* w[r]: run r = 4j + k, its high bit is bit r of hmask, moved to bit 2 */
        __m256i w[8], scv[8];
#pragma GCC unroll 2
        for (int j = 0; j < 2; j++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * j));
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const int r = 4 * j + k;
                const __m256i hb = r >= 2 ? _mm256_srli_epi16(hm, r - 2) : _mm256_slli_epi16(hm, 2 - r);
                w[r] = or_and(_mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3), hb, four);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < 8; r++) scv[r] = run_scales(sc_lo, sc_hi, r);
#pragma GCC unroll 4
        for (int k = 0; k < nt; k++) {
            const block_q8_K *y = (const block_q8_K *)((const char *)vy + (size_t)k * ys) + i;
            const float d = y->d * xd;
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
#pragma GCC unroll 4
            for (int r = 0; r < 8; r += 2) {
                const __m256i a0 = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r));
                const __m256i a1 = _mm256_loadu_si256((const __m256i *)(y->qs + 32 * r + 32));
                s0 = dpwssd(s0, _mm256_sub_epi16(_mm256_maddubs_epi16(w[r], a0), _mm256_maddubs_epi16(four, a0)), scv[r]);
                s1 = dpwssd(s1, _mm256_sub_epi16(_mm256_maddubs_epi16(w[r + 1], a1), _mm256_maddubs_epi16(four, a1)),
                                         scv[r + 1]);
            }
            acc[k] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc[k]);
        }
    }
    for (int k = 0; k < nt; k++) s[k] = hsum8(acc[k]);
}

/* Q2_K, 16 rows x nt (1..8) tokens: vec_dot's results. Per row and
 * super-block each 2-bit run is unpacked once and serves every token while
 * it sits in a register (one int32 accumulator per token: integer lanes are
 * exact in any grouping); then, as vec_dot, the min term's fma and the main
 * fma into the token's lanes (kept in memory between the two). */
static inline __attribute__((always_inline)) void q2_rows16_nt(int n, float *s, size_t s_stride, const void *vx,
                                                               size_t row_bytes, const void *vy, size_t ys, const int nt) {
    const int nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    const block_q8_K *yk[8];
    for (int k = 0; k < nt; k++) yk[k] = (const block_q8_K *)((const char *)vy + (size_t)k * ys);
    for (int r = 0; r < 16; r++) {
        const block_q2_K *x = (const block_q2_K *)((const char *)vx + (size_t)r * row_bytes);
        _Alignas(32) float acc[8][8]; /* [token][lane] */
        for (int k = 0; k < nt; k++) _mm256_store_ps(acc[k], _mm256_setzero_ps());
        for (int i = 0; i < nb; i++) {
            const float xd = h2f(x[i].d), xdm = h2f(x[i].dmin);
            __m256i mins, sc_lo, sc_hi;
            q2_scales(&x[i], &mins, &sc_lo, &sc_hi);
#pragma GCC unroll 8
            for (int k = 0; k < nt; k++) {
                const __m256i prod = _mm256_madd_epi16(mins, _mm256_loadu_si256((const __m256i *)yk[k][i].bsums));
                _mm256_store_ps(acc[k], _mm256_fmadd_ps(_mm256_set1_ps(-yk[k][i].d * xdm), _mm256_cvtepi32_ps(prod),
                                                        _mm256_load_ps(acc[k])));
            }
            __m256i isum[8];
            for (int k = 0; k < nt; k++) isum[k] = _mm256_setzero_si256();
            /* run ru = 4j + q: bits 2q..2q+1 of chunk j */
#pragma GCC unroll 8
            for (int ru = 0; ru < 8; ru++) {
                const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * (ru / 4)));
                const __m256i w = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * (ru % 4)), m3);
                const __m256i scv = run_scales(sc_lo, sc_hi, ru);
                run_into_tokens(isum, w, scv, yk, i, ru, nt);
            }
            sb_into_acc(acc, isum, yk, i, xd, nt);
        }
        for (int k = 0; k < nt; k++) s[(size_t)k * s_stride + r] = hsum8(_mm256_load_ps(acc[k]));
    }
}

/* Q3_K, 16 rows x nt (1..8) tokens: vec_dot's results. As Q2_K's, with
 * the -4 of every value taken out of the integer sums at the end instead of
 * per run: lane m of run ru holds sc * sum(w - 4) * a over 4 elements, so
 * the per-call table c4 keeps, per token and super-block, 4 * the 4-element
 * activation sums of runs 2p and 2p+1 as int16 pairs, and one multiply-add
 * against the row's scale pairs per run pair gives the whole correction
 * (exact: the same integers as vec_dot's maddubs(4, a) per run). */
static inline __attribute__((always_inline)) void q3_rows16_nt(int n, float *s, size_t s_stride, const void *vx,
                                                               size_t row_bytes, const void *vy, size_t ys, const int nt) {
    const int nb = n / QK_K;
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4); /* bit 2's mask, and the offset */
    const __m256i ones = _mm256_set1_epi16(1), low16 = _mm256_set1_epi32(0xFFFF);
    _Alignas(32) int16_t c4[ROWS16_MAX_SB][8][4][16]; /* [sb][token][run pair][word] */
    const block_q8_K *yk[8];
    for (int k = 0; k < nt; k++) yk[k] = (const block_q8_K *)((const char *)vy + (size_t)k * ys);
    for (int i = 0; i < nb; i++)
        for (int k = 0; k < nt; k++)
            for (int p = 0; p < 4; p++) {
                const __m256i t0 = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(four, _mm256_loadu_si256((const __m256i *)(yk[k][i].qs + 64 * p))), ones);
                const __m256i t1 = _mm256_madd_epi16(
                    _mm256_maddubs_epi16(four, _mm256_loadu_si256((const __m256i *)(yk[k][i].qs + 64 * p + 32))), ones);
                _mm256_store_si256((__m256i *)c4[i][k][p],
                                   _mm256_or_si256(_mm256_and_si256(t0, low16), _mm256_slli_epi32(t1, 16)));
            }
    for (int r = 0; r < 16; r++) {
        const block_q3_K *x = (const block_q3_K *)((const char *)vx + (size_t)r * row_bytes);
        _Alignas(32) float acc[8][8]; /* [token][lane] */
        for (int k = 0; k < nt; k++) _mm256_store_ps(acc[k], _mm256_setzero_ps());
        for (int i = 0; i < nb; i++) {
            const float xd = h2f(x[i].d);
            __m256i sc_lo, sc_hi;
            q3_scales(&x[i], &sc_lo, &sc_hi);
            const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
            __m256i isum[8];
            for (int k = 0; k < nt; k++) isum[k] = _mm256_setzero_si256();
            /* run ru = 4j + q: bits 2q..2q+1 of chunk j, high bit = bit ru of hmask moved to bit 2 */
#pragma GCC unroll 8
            for (int ru = 0; ru < 8; ru++) {
                const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * (ru / 4)));
                const __m256i hb = ru >= 2 ? _mm256_srli_epi16(hm, ru - 2) : _mm256_slli_epi16(hm, 2 - ru);
                const __m256i w = or_and(_mm256_and_si256(_mm256_srli_epi16(bits, 2 * (ru % 4)), m3), hb, four);
                const __m256i scv = run_scales(sc_lo, sc_hi, ru);
                run_into_tokens(isum, w, scv, yk, i, ru, nt);
            }
            /* scale pairs of runs 2p, 2p+1: words (sc[4p], sc[4p+2]) in the low
             * 128-bit lane (elements 0..15 of a run), (sc[4p+1], sc[4p+3]) in the high */
#pragma GCC unroll 4
            for (int p = 0; p < 4; p++) {
                const int b = (4 * p) % 8;
                const __m256i ctl = _mm256_set_m128i(_mm_set1_epi32(word_bytes(b + 1) | word_bytes(b + 3) << 16),
                                                     _mm_set1_epi32(word_bytes(b) | word_bytes(b + 2) << 16));
                const __m256i scp = _mm256_shuffle_epi8(p < 2 ? sc_lo : sc_hi, ctl);
#pragma GCC unroll 8
                for (int k = 0; k < nt; k++)
                    isum[k] = _mm256_sub_epi32(isum[k], _mm256_madd_epi16(_mm256_load_si256((const __m256i *)c4[i][k][p]), scp));
            }
            sb_into_acc(acc, isum, yk, i, xd, nt);
        }
        for (int k = 0; k < nt; k++) s[(size_t)k * s_stride + r] = hsum8(_mm256_load_ps(acc[k]));
    }
}

static void dot_q2_K(int n, float *s, const void *vx, const void *vy) { q2_tokens(n, s, vx, vy, 0, 1); }
static void dot_q3_K(int n, float *s, const void *vx, const void *vy) { q3_tokens(n, s, vx, vy, 0, 1); }

static void dot_q2_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q2_tokens(n, s, vx, vy, ys, 4);
    else if (nt == 3) q2_tokens(n, s, vx, vy, ys, 3);
    else if (nt == 2) q2_tokens(n, s, vx, vy, ys, 2);
    else q2_tokens(n, s, vx, vy, ys, 1);
}

static void dot_q3_K_tokens(int n, float *s, const void *vx, const void *vy, size_t ys, int nt) {
    if (nt == 4) q3_tokens(n, s, vx, vy, ys, 4);
    else if (nt == 3) q3_tokens(n, s, vx, vy, ys, 3);
    else if (nt == 2) q3_tokens(n, s, vx, vy, ys, 2);
    else q3_tokens(n, s, vx, vy, ys, 1);
}

static void dot_q2_K_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    EMBER_WITH_NT8(nt, q2_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT));
}

static void dot_q3_K_rows16_tokens(int n, float *s, size_t s_stride, const void *x, size_t row_bytes, const void *y,
                                   size_t y_stride, int nt) {
    if (n / QK_K > ROWS16_MAX_SB) rows16_by_tokens(dot_q3_K_tokens, n, s, s_stride, x, row_bytes, y, y_stride, nt);
    else EMBER_WITH_NT8(nt, q3_rows16_nt(n, s, s_stride, x, row_bytes, y, y_stride, NT));
}

void ember_kernels_avx2_kquants(ember_kernel_set *ks) {
    ks->vec_dot[EMBER_TYPE_Q2_K] = dot_q2_K;
    ks->vec_dot[EMBER_TYPE_Q3_K] = dot_q3_K;
    ks->vec_dot[EMBER_TYPE_Q4_K] = dot_q4_K;
    ks->vec_dot[EMBER_TYPE_Q5_K] = dot_q5_K;
    ks->vec_dot[EMBER_TYPE_Q6_K] = dot_q6_K;
    ks->vec_dot_tokens[EMBER_TYPE_Q2_K] = dot_q2_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q3_K] = dot_q3_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q4_K] = dot_q4_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q5_K] = dot_q5_K_tokens;
    ks->vec_dot_tokens[EMBER_TYPE_Q6_K] = dot_q6_K_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q2_K] = dot_q2_K_rows16_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q3_K] = dot_q3_K_rows16_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q4_K] = dot_q4_K_rows16_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q5_K] = dot_q5_K_rows16_tokens;
    ks->vec_dot_rows16_tokens[EMBER_TYPE_Q6_K] = dot_q6_K_rows16_tokens;
}
