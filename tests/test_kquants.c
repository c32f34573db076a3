/* K-quants: dequantization against hand-built blocks, the reference dots
 * against dequantize-then-dot, and every SIMD path bit-identical to the
 * reference (the summation order is part of the contract). */
#include "test.h"
#include "formats/formats.h"
#include "formats/fp16.h"
#include "kernels/kernels.h"
#include "runtime/cpu.h"
#include "gguf/gguf.h"
#include <math.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next32(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 32); }
static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float frand(void) { return (float)next32() / 4294967296.0f * 2.0f - 1.0f; }

static const int k_types[] = {EMBER_TYPE_Q2_K, EMBER_TYPE_Q3_K, EMBER_TYPE_Q4_K, EMBER_TYPE_Q5_K, EMBER_TYPE_Q6_K};

/* Random blocks: random bytes, with the f16 scale fields set to sane values. */
static void random_blocks(int type, void *dst, int nblocks) {
    const ember_type_traits *tr = ember_type_get(type);
    uint8_t *p = dst;
    for (size_t i = 0; i < tr->type_size * (size_t)nblocks; i++) p[i] = (uint8_t)next32();
    for (int b = 0; b < nblocks; b++) {
        uint8_t *blk = p + (size_t)b * tr->type_size;
        uint16_t d = ember_fp32_to_fp16(0.001f + 0.01f * (frand() + 1)), dm = ember_fp32_to_fp16(0.002f * (frand() + 1));
        switch (type) {
        case EMBER_TYPE_Q2_K: memcpy(blk + 80, &d, 2); memcpy(blk + 82, &dm, 2); break;
        case EMBER_TYPE_Q3_K: memcpy(blk + 108, &d, 2); break;
        case EMBER_TYPE_Q4_K: case EMBER_TYPE_Q5_K: memcpy(blk, &d, 2); memcpy(blk + 2, &dm, 2); break;
        case EMBER_TYPE_Q6_K: memcpy(blk + 208, &d, 2); break;
        }
    }
}

static void block_sizes(void) {
    CHECK(sizeof(block_q2_K) == 84);
    CHECK(sizeof(block_q3_K) == 110);
    CHECK(sizeof(block_q4_K) == 144);
    CHECK(sizeof(block_q5_K) == 176);
    CHECK(sizeof(block_q6_K) == 210);
    CHECK(sizeof(block_q8_K) == 292);
}

static void q4_K_dequant_hand_block(void) {
    block_q4_K b;
    memset(&b, 0, sizeof b);
    b.d = ember_fp32_to_fp16(0.5f);
    b.dmin = ember_fp32_to_fp16(0.25f);
    b.scales[0] = 3;       /* sub-block 0: scale 3 */
    b.scales[4] = 2;       /* sub-block 0: min 2 */
    b.qs[0] = 0x57;        /* element 0: 7, element 32: 5 */
    float y[QK_K];
    ember_dequant_q4_K(&b, y, QK_K);
    CHECK(y[0] == 0.5f * 3 * 7 - 0.25f * 2);
    CHECK(y[1] == -0.5f);
    CHECK(y[32] == 0.0f); /* sub-block 1 has scale 0 and min 0 */
}

static void q8_K_quantizer(void) {
    float x[QK_K];
    for (int i = 0; i < QK_K; i++) x[i] = (float)(i - 100) / 10.0f;
    block_q8_K q;
    ember_quant_q8_K_ref(x, &q, QK_K);
    /* the largest magnitude is +15.5 at i=255, stored as -127 * (1/iscale) */
    CHECK(q.qs[255] == 127 || q.qs[255] == -127);
    float back[QK_K];
    ember_dequant_q8_K(&q, back, QK_K);
    for (int i = 0; i < QK_K; i++) CHECK(fabsf(back[i] - x[i]) <= 15.5f / 127 * 0.5f + 1e-5f);
    int16_t s = 0;
    for (int i = 0; i < 16; i++) s += q.qs[i];
    CHECK(q.bsums[0] == s);
}

static void ref_dot_matches_dequantized(void) {
    for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
        const int t = k_types[ti];
        const ember_type_traits *tr = ember_type_get(t);
        const int n = 4 * QK_K;
        uint8_t w[4 * 210];
        block_q8_K a[4];
        float x[4 * QK_K], wf[4 * QK_K], af[4 * QK_K];
        random_blocks(t, w, 4);
        for (int i = 0; i < n; i++) x[i] = frand();
        ember_quant_q8_K_ref(x, a, n);
        tr->to_float(w, wf, n);
        ember_dequant_q8_K(a, af, n);
        double ref = 0;
        for (int i = 0; i < n; i++) ref += (double)wf[i] * af[i];
        float got;
        tr->vec_dot_ref(n, &got, w, a);
        CHECKF(fabs(got - ref) <= 1e-4 * (1 + fabs(ref)), "%s: %g vs %g", tr->name, got, ref);
    }
}

/* Extreme blocks: every weight byte set (largest scales, mins and values,
 * all high bits) or cleared, and activations at +-127 with consistent bsums. */
static void extreme_blocks(int type, void *w, int nblocks, int variant) {
    const ember_type_traits *tr = ember_type_get(type);
    memset(w, (variant & 1) ? 0xFF : 0x00, tr->type_size * (size_t)nblocks);
    for (int b = 0; b < nblocks; b++) {
        uint8_t *blk = (uint8_t *)w + (size_t)b * tr->type_size;
        const uint16_t d = ember_fp32_to_fp16(0.03f), dm = ember_fp32_to_fp16(0.02f);
        switch (type) {
        case EMBER_TYPE_Q2_K: memcpy(blk + 80, &d, 2); memcpy(blk + 82, &dm, 2); break;
        case EMBER_TYPE_Q3_K: memcpy(blk + 108, &d, 2); break;
        case EMBER_TYPE_Q4_K: case EMBER_TYPE_Q5_K: memcpy(blk, &d, 2); memcpy(blk + 2, &dm, 2); break;
        case EMBER_TYPE_Q6_K: memcpy(blk + 208, &d, 2); break;
        }
    }
}

static void extreme_acts(block_q8_K *a, int nblocks, int variant) {
    for (int b = 0; b < nblocks; b++) {
        a[b].d = 0.5f + (float)b;
        for (int e = 0; e < QK_K; e++) {
            const int v = variant == 0 ? 127 : variant == 1 ? -127 : (e & 1 ? 127 : -127);
            /* variant 4: -128, which the quantizer never makes but the
             * kernels' ranges allow, next to 127 */
            a[b].qs[e] = (int8_t)(variant == 4 ? ((e & 1) || next32() % 2 ? -128 : 127) : (variant == 3 && next32() % 2) ? -v : v);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++) sum += a[b].qs[16 * j + k];
            a[b].bsums[j] = (int16_t)sum;
        }
    }
}

static void simd_bit_identical(void) {
    const char *paths[] = {"avx2", "avx512"};
    int tested = 0;
    for (int p = 0; p < 2; p++) {
        if (!ember_cpu_path_supported(paths[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(paths[p], &ks);
        for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
            const int t = k_types[ti];
            if (!ks.vec_dot[t]) continue;
            const ember_type_traits *tr = ember_type_get(t);
            for (int trial = 0; trial < 50; trial++) {
                const int nb = 1 + trial % 8, n = nb * QK_K;
                uint8_t w[8 * 210];
                block_q8_K a[8];
                float x[8 * QK_K];
                if (trial < 8) {
                    extreme_blocks(t, w, nb, trial);
                    extreme_acts(a, nb, trial / 2);
                } else {
                    random_blocks(t, w, nb);
                    for (int i = 0; i < n; i++) x[i] = frand() * (1 + trial);
                    ember_quant_q8_K_ref(x, a, n);
                }
                float r, s;
                tr->vec_dot_ref(n, &r, w, a);
                ks.vec_dot[t](n, &s, w, a);
                CHECKF(r == s, "%s %s n=%d: %.9g vs %.9g", paths[p], tr->name, n, r, s);
                tested++;
            }
        }
    }
    if (!tested) SKIP("no SIMD K-quant kernels for this CPU");
}

/* vec_dot_tokens (one weight row, nt = 1..4 activation rows) gives exactly
 * vec_dot's result for each row, on every path, random and extreme data. */
static void tokens_bit_identical(void) {
    const char *paths[] = {"scalar", "avx2", "avx512"};
    int tested = 0;
    for (int p = 0; p < 3; p++) {
        if (strcmp(paths[p], "scalar") && !ember_cpu_path_supported(paths[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(paths[p], &ks);
        for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
            const int t = k_types[ti];
            if (!ks.vec_dot_tokens[t]) continue;
            const ember_type_traits *tr = ember_type_get(t);
            for (int trial = 0; trial < 40; trial++) {
                const int nb = 1 + trial % 6, n = nb * QK_K;
                uint8_t w[6 * 210];
                block_q8_K a[4 * 7]; /* 4 rows of nb blocks, plus a block of padding when trial is odd */
                const size_t stride = sizeof(block_q8_K) * (size_t)(nb + (trial & 1));
                float x[6 * QK_K];
                if (trial < 8) extreme_blocks(t, w, nb, trial);
                else random_blocks(t, w, nb);
                for (int k = 0; k < 4; k++) {
                    block_q8_K *row = (block_q8_K *)((char *)a + (size_t)k * stride);
                    if (trial < 8) {
                        extreme_acts(row, nb, (trial / 2 + k) % 4);
                    } else {
                        for (int i = 0; i < n; i++) x[i] = frand() * (1 + trial);
                        ember_quant_q8_K_ref(x, row, n);
                    }
                }
                for (int nt = 1; nt <= 4; nt++) {
                    float s4[4];
                    ks.vec_dot_tokens[t](n, s4, w, a, stride, nt);
                    for (int k = 0; k < nt; k++) {
                        float e, r;
                        const block_q8_K *row = (const block_q8_K *)((const char *)a + (size_t)k * stride);
                        (ks.vec_dot[t] ? ks.vec_dot[t] : tr->vec_dot_ref)(n, &e, w, row);
                        tr->vec_dot_ref(n, &r, w, row);
                        CHECKF(s4[k] == e && e == r, "%s %s tokens n=%d nt=%d k=%d trial=%d: %.9g vs dot %.9g ref %.9g",
                               paths[p], tr->name, n, nt, k, trial, s4[k], e, r);
                        tested++;
                    }
                }
            }
        }
    }
    if (!tested) SKIP("no K-quant vec_dot_tokens for this CPU");
}

/* vec_dot_rows16_tokens (16 weight rows x nt = 1..8 activation rows) gives
 * exactly vec_dot's result for every row and token, on every path that has
 * it (Q4_K, Q5_K, Q6_K on AVX2 and AVX-512; both must have all three): n from one super-block to past the kernels'
 * table limit, rows and activations padded, rows mixing extreme and random
 * blocks (Q6_K also with its scales at -128 / 127), activations at +-127
 * and -128, and nothing written outside the 16 x nt outputs. */
static void rows16_tokens_bit_identical(void) {
    const char *paths[] = {"scalar", "avx2", "avx512"};
    const int nbs[] = {1, 2, 8, 22, 64, 65};
    int tested = 0;
    for (int p = 0; p < 3; p++) {
        if (strcmp(paths[p], "scalar") && !ember_cpu_path_supported(paths[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(paths[p], &ks);
        if (strcmp(paths[p], "scalar"))
            CHECKF(ks.vec_dot_rows16_tokens[EMBER_TYPE_Q4_K] && ks.vec_dot_rows16_tokens[EMBER_TYPE_Q5_K] &&
                       ks.vec_dot_rows16_tokens[EMBER_TYPE_Q6_K],
                   "%s: no rows16 kernel for Q4_K/Q5_K/Q6_K", paths[p]);
        for (size_t ti = 0; ti < sizeof k_types / sizeof k_types[0]; ti++) {
            const int t = k_types[ti];
            if (!ks.vec_dot_rows16_tokens[t]) continue;
            const ember_type_traits *tr = ember_type_get(t);
            for (int trial = 0; trial < 12; trial++) {
                const int nb = nbs[trial % 6], n = nb * QK_K;
                const size_t row_bytes = tr->type_size * (size_t)(nb + (trial & 1));
                const size_t stride = sizeof(block_q8_K) * (size_t)(nb + (trial >> 1 & 1));
                uint8_t *w = malloc(row_bytes * 16);
                block_q8_K *a = malloc(stride * 8);
                float *x = malloc(sizeof(float) * (size_t)n);
                for (int r = 0; r < 16; r++) {
                    uint8_t *row = w + (size_t)r * row_bytes;
                    if ((r + trial) % 3 == 0) extreme_blocks(t, row, nb, r / 3 + trial);
                    else random_blocks(t, row, nb);
                    if (t == EMBER_TYPE_Q6_K && r % 4 == 1) /* scales at -128 / 127 (the all-set and cleared blocks have -1 / 0) */
                        for (int b = 0; b < nb; b++)
                            for (int j = 0; j < 16; j++) row[(size_t)b * tr->type_size + 192 + j] = (j + r + b) & 1 ? 0x80 : 0x7F;
                }
                for (int k = 0; k < 8; k++) {
                    block_q8_K *row = (block_q8_K *)((char *)a + (size_t)k * stride);
                    if ((k + trial) % 2 == 0) {
                        extreme_acts(row, nb, (trial + k) % 5);
                    } else {
                        for (int i = 0; i < n; i++) x[i] = frand() * (1 + trial);
                        ember_quant_q8_K_ref(x, row, n);
                    }
                }
                for (int nt = 1; nt <= 8; nt++) {
                    const size_t s_stride = 19;
                    float s[8 * 19];
                    for (int i = 0; i < 8 * 19; i++) s[i] = -1234.5f;
                    ks.vec_dot_rows16_tokens[t](n, s, s_stride, w, row_bytes, a, stride, nt);
                    for (int k = 0; k < 8; k++)
                        for (int r = 0; r < 19; r++) {
                            const float v = s[(size_t)k * s_stride + r];
                            if (k >= nt || r >= 16) {
                                CHECKF(v == -1234.5f, "%s %s rows16 n=%d nt=%d: wrote outside at k=%d r=%d", paths[p], tr->name,
                                       n, nt, k, r);
                                continue;
                            }
                            float e, ref;
                            const uint8_t *row = w + (size_t)r * row_bytes;
                            const block_q8_K *act = (const block_q8_K *)((const char *)a + (size_t)k * stride);
                            (ks.vec_dot[t] ? ks.vec_dot[t] : tr->vec_dot_ref)(n, &e, row, act);
                            tr->vec_dot_ref(n, &ref, row, act);
                            CHECKF(v == e && e == ref, "%s %s rows16 n=%d nt=%d k=%d r=%d trial=%d: %.9g vs dot %.9g ref %.9g",
                                   paths[p], tr->name, n, nt, k, r, trial, v, e, ref);
                            tested++;
                        }
                }
                free(w);
                free(a);
                free(x);
            }
        }
    }
    if (!tested) SKIP("no K-quant vec_dot_rows16_tokens for this CPU");
}

/* The 16-row lane copies (Q2_K..Q6_K): the layout's portable ref and every
 * path's packed kernel equal the reference dot bit for bit for 1..8
 * tokens, streamed (chunks of super-blocks, parked accumulators) or not:
 * random and extreme blocks (all scales, mins and nibbles at their largest
 * or zero), activations at +-127 and -128 and quantized ones, output
 * strides, nothing written outside the outputs. */
static void lanes16_bit_identical(void) {
    const char *paths[] = {"avx2", "avx512", "amx-emu"};
    const int nbs[] = {1, 2, 8, 9, 17, 22};
    const int types[] = {EMBER_TYPE_Q2_K, EMBER_TYPE_Q3_K, EMBER_TYPE_Q4_K, EMBER_TYPE_Q5_K, EMBER_TYPE_Q6_K};
    int tested = 0;
    for (int p = 0; p < 3; p++) {
        if (!ember_cpu_path_supported(paths[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(paths[p], &ks);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const int t = types[ti];
            const ember_packed_layout *lay = ks.packed_layout[t];
            if (!ks.vec_dot_packed_tokens[t]) continue;
            CHECKF(lay != NULL, "%s %s: packed kernel without its layout", paths[p], ember_type_name(t));
            if (!lay) continue;
            const ember_type_traits *tr = ember_type_get(t);
            for (int trial = 0; trial < 12; trial++) {
                const int nb = nbs[trial % 6], n = nb * QK_K;
                const size_t row_bytes = tr->type_size * (size_t)nb, ab = lay->act_aux_size(n);
                const size_t stride = sizeof(block_q8_K) * (size_t)nb;
                uint8_t *w = malloc(row_bytes * 16), *g = aligned_alloc(64, (row_bytes * 16 + 63) & ~(size_t)63);
                block_q8_K *a = malloc(stride * 8);
                char *aux = malloc(ab * 8);
                float *x = malloc(sizeof(float) * (size_t)n);
                for (int r = 0; r < 16; r++) {
                    uint8_t *row = w + (size_t)r * row_bytes;
                    if ((r + trial) % 3 == 0) extreme_blocks(t, row, nb, r / 3 + trial);
                    else random_blocks(t, row, nb);
                }
                for (int k = 0; k < 8; k++) {
                    block_q8_K *row = (block_q8_K *)((char *)a + (size_t)k * stride);
                    if ((k + trial) % 2 == 0) extreme_acts(row, nb, (trial + k) % 5);
                    else {
                        for (int i = 0; i < n; i++) x[i] = frand() * (1 + trial);
                        ember_quant_q8_K_ref(x, row, n);
                    }
                    lay->act_aux(row, aux + (size_t)k * ab, n);
                }
                lay->pack(n, g, w, row_bytes);
                float want[8][16];
                for (int k = 0; k < 8; k++) {
                    float r16[16];
                    const block_q8_K *act = (const block_q8_K *)((const char *)a + (size_t)k * stride);
                    lay->ref(n, r16, g, act);
                    for (int r = 0; r < 16; r++) {
                        tr->vec_dot_ref(n, &want[k][r], w + (size_t)r * row_bytes, act);
                        CHECKF(bits(r16[r]) == bits(want[k][r]), "%s %s layout ref n=%d row %d token %d: %.9g vs %.9g",
                               paths[p], tr->name, n, r, k, r16[r], want[k][r]);
                    }
                }
                for (int stream = 0; stream < 2; stream++)
                    for (int nt = 1; nt <= 8; nt++) {
                        const size_t s_stride = 19;
                        float s[8 * 19];
                        for (int i = 0; i < 8 * 19; i++) s[i] = -1234.5f;
                        ks.vec_dot_packed_tokens[t](n, s, s_stride, g, a, stride, aux, ab, nt, stream);
                        for (int k = 0; k < 8; k++)
                            for (int r = 0; r < 19; r++) {
                                const float v = s[(size_t)k * s_stride + r];
                                if (k >= nt || r >= 16) {
                                    CHECKF(v == -1234.5f, "%s %s packed n=%d nt=%d: wrote outside at k=%d r=%d", paths[p],
                                           tr->name, n, nt, k, r);
                                    continue;
                                }
                                CHECKF(bits(v) == bits(want[k][r]), "%s %s packed n=%d nt=%d stream %d k=%d r=%d trial=%d: %.9g vs %.9g",
                                       paths[p], tr->name, n, nt, stream, k, r, trial, v, want[k][r]);
                                tested++;
                            }
                    }
                free(w); free(g); free(a); free(aux); free(x);
            }
        }
    }
    if (!tested) SKIP("no K-quant lane copy kernel for this CPU (needs AVX-512 VNNI)");
}

/* Every path's Q8_K activation quantizer is the reference byte for byte:
 * random blocks of several magnitudes, ties, a repeated largest magnitude
 * of both signs, zero, negative zero, tiny and huge blocks, NaNs. */
static void q8_K_from_float_matches_ref(void) {
    const char *paths[] = {"scalar", "avx2", "avx512"};
    enum { NB = 12, N = NB * QK_K };
    static float x[N];
    for (int i = 0; i < N; i++) x[i] = frand() * (float)(1 + i / QK_K * 7);
    for (int j = 0; j < QK_K; j++) x[QK_K + j] = (float)((int)(next32() % 255) - 127) + ((j & 1) ? 0.5f : 0.0f);
    for (int j = 0; j < 2 * QK_K; j++) x[2 * QK_K + j] = frand(); /* first largest wins: */
    x[2 * QK_K + 40] = 3.0f, x[2 * QK_K + 41] = -3.0f, x[2 * QK_K + 200] = 3.0f;
    x[3 * QK_K + 7] = -5.0f, x[3 * QK_K + 99] = 5.0f;
    for (int j = 0; j < QK_K; j++) x[4 * QK_K + j] = 0.0f;
    for (int j = 0; j < QK_K; j++) x[5 * QK_K + j] = -0.0f;
    for (int j = 0; j < QK_K; j++) x[6 * QK_K + j] = frand() * 1e-30f;
    for (int j = 0; j < QK_K; j++) x[7 * QK_K + j] = frand() * 3e38f;
    x[8 * QK_K + 17] = NAN;
    x[9 * QK_K + 0] = -1e9f;
    int tested = 0;
    for (int p = 0; p < 3; p++) {
        if (strcmp(paths[p], "scalar") && !ember_cpu_path_supported(paths[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(paths[p], &ks);
        if (!ks.from_float[EMBER_TYPE_Q8_K]) continue;
        static block_q8_K a[NB + 1], b[NB + 1];
        memset(a, 0x11, sizeof a);
        memset(b, 0x22, sizeof b);
        ember_quant_q8_K_ref(x, a, N);
        ks.from_float[EMBER_TYPE_Q8_K](x, b, N);
        for (int i = 0; i < NB; i++) CHECKF(memcmp(&a[i], &b[i], sizeof a[i]) == 0, "%s Q8_K block %d differs", paths[p], i);
        CHECK(((uint8_t *)&b[NB])[0] == 0x22);
        tested++;
    }
    if (!tested) SKIP("no SIMD Q8_K quantizer for this CPU");
}

/* Our quantizers reproduce llama-quantize byte for byte: quantize each
 * tensor of synth-v512-f32 and compare with the same tensor in the files
 * llama.cpp quantized from it. */
static void quantizers_match_llama_quantize(void) {
    const char *src = test_shared_path("models/synth-v512-f32.gguf");
    if (!src) SKIP("synth-v512 models not found");
    const char *files[] = {"models/synth-v512-Q2_K.gguf", "models/synth-v512-Q3_K_M.gguf", "models/synth-v512-Q4_K_M.gguf",
                           "models/synth-v512-Q5_K_M.gguf", "models/synth-v512-Q6_K.gguf"};
    gguf_file *f32;
    char err[256];
    CHECK(gguf_open(src, &f32, err, sizeof err) == 0);
    int checked[EMBER_TYPE_COUNT] = {0};
    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        const char *p = test_shared_path(files[fi]);
        gguf_file *q;
        if (!p || gguf_open(p, &q, err, sizeof err)) { CHECKF(0, "%s", files[fi]); continue; }
        for (int64_t i = 0; i < gguf_n_tensors(q); i++) {
            const gguf_tensor_info *t = gguf_tensor(q, i);
            if (t->type < EMBER_TYPE_Q2_K || t->type > EMBER_TYPE_Q6_K) continue;
            const gguf_tensor_info *s = gguf_find_tensor(f32, t->name);
            CHECK(s && s->type == EMBER_TYPE_F32);
            if (!s) continue;
            const int64_t n = s->ne[0] * s->ne[1];
            void *out = malloc(t->nbytes);
            ember_type_get(t->type)->from_float_ref(s->data, out, n);
            CHECKF(!memcmp(out, t->data, t->nbytes), "%s %s (%s) differs from llama-quantize", files[fi], t->name,
                   ember_type_name(t->type));
            free(out);
            checked[t->type]++;
        }
        gguf_close(q);
    }
    gguf_close(f32);
    for (int t = EMBER_TYPE_Q2_K; t <= EMBER_TYPE_Q6_K; t++) CHECKF(checked[t] > 0, "no %s tensor compared", ember_type_name(t));
}

int main(void) {
    RUN(quantizers_match_llama_quantize);
    RUN(block_sizes);
    RUN(q4_K_dequant_hand_block);
    RUN(q8_K_quantizer);
    RUN(ref_dot_matches_dequantized);
    RUN(simd_bit_identical);
    RUN(tokens_bit_identical);
    RUN(rows16_tokens_bit_identical);
    RUN(lanes16_bit_identical);
    RUN(q8_K_from_float_matches_ref);
    TEST_EXIT();
}
