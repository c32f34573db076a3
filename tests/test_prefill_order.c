/* Prompt-order dots: every SIMD path is bit-identical to the scalar
 * definition, and the definition is the documented lane/tree order. */
#include "test.h"
#include "formats/formats.h"
#include "formats/fp16.h"
#include "kernels/kernels.h"
#include "runtime/cpu.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void definition_matches_lane_order(void) {
    /* 32 elements: lane r holds fma(x[r+16], y[r+16], x[r]*y[r]) */
    float x[32], y[32], lanes[16];
    for (int i = 0; i < 32; i++) { x[i] = frand(); y[i] = frand(); }
    for (int r = 0; r < 16; r++) lanes[r] = fmaf(x[r + 16], y[r + 16], x[r] * y[r]);
    for (int w = 8; w >= 1; w /= 2)
        for (int k = 0; k < w; k++) lanes[k] += lanes[k + w];
    float s;
    ember_vec_dot_f32_prefill_ref(32, &s, x, y);
    CHECK(s == lanes[0]);
}

static void simd_paths_bit_identical(void) {
    const char *paths[] = {"avx2", "avx512", "avxvnni-emu"};
    int tested = 0;
    for (int p = 0; p < 3; p++) {
        if (!ember_cpu_path_supported(paths[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(paths[p], &ks);
        const int types[3] = {EMBER_TYPE_F32, EMBER_TYPE_F16, EMBER_TYPE_BF16};
        for (int ti = 0; ti < 3; ti++) {
            const int t = types[ti];
            if (!ks.vec_dot_prefill[t]) continue;
            const ember_type_traits *tr = ember_type_get(t);
            for (int n = tr->prefill_multiple; n <= 1024; n += tr->prefill_multiple * 7) {
                float fx[1024], fy[1024];
                uint16_t hx[1024], hy[1024];
                for (int i = 0; i < n; i++) { fx[i] = frand(); fy[i] = frand() * 3; }
                const void *x = fx, *y = fy;
                if (t != EMBER_TYPE_F32) {
                    tr->from_float_ref(fx, hx, n);
                    tr->from_float_ref(fy, hy, n);
                    x = hx; y = hy;
                }
                float a, b;
                tr->vec_dot_prefill_ref(n, &a, x, y);
                ks.vec_dot_prefill[t](n, &b, x, y);
                CHECKF(a == b, "%s %s n=%d: %.9g vs %.9g", paths[p], tr->name, n, a, b);
                float c;
                tr->vec_dot_ref(n, &c, x, y); /* same value up to rounding order */
                CHECKF(fabsf(a - c) <= 1e-4f * (1 + fabsf(c)), "%s n=%d: %g vs %g", tr->name, n, a, c);
                tested++;
            }
        }
    }
    if (!tested) SKIP("no SIMD prompt-order kernels on this CPU");
}

/* Q4_0 in the repacked-kernel order: SIMD equals the scalar definition
 * (the AVX2 kernels, and their VPDPBUSD build on "avxvnni-emu"). */
static void q4_0_rows8_path(const char *path) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks);
    const ember_type_traits *tr = ember_type_get(EMBER_TYPE_Q4_0);
    CHECK(ks.vec_dot_rows8[EMBER_TYPE_Q4_0] != 0);
    for (int n = 32; n <= 2048; n += 96) {
        float x[2048], y[2048];
        block_q4_0 qx[64];
        block_q8_0 qy[64];
        for (int i = 0; i < n; i++) { x[i] = frand(); y[i] = frand() * 5; }
        tr->from_float_ref(x, qx, n);
        ember_quant_q8_0_act(y, qy, n);
        float a, b, c;
        tr->vec_dot_rows8_ref(n, &a, qx, qy);
        ks.vec_dot_rows8[EMBER_TYPE_Q4_0](n, &b, qx, qy);
        tr->vec_dot_ref(n, &c, qx, qy);
        CHECKF(a == b, "%s n=%d: %.9g vs %.9g", path, n, a, b);
        if (ks.vec_dot_rows8_x8[EMBER_TYPE_Q4_0]) {
            static block_q4_0 rows[8][64];
            float out8[8];
            for (int r = 0; r < 8; r++) {
                for (int i = 0; i < n; i++) x[i] = frand();
                tr->from_float_ref(x, rows[r], n);
            }
            ks.vec_dot_rows8_x8[EMBER_TYPE_Q4_0](n, out8, rows, sizeof rows[0], qy);
            for (int r = 0; r < 8; r++) {
                float one;
                tr->vec_dot_rows8_ref(n, &one, rows[r], qy);
                CHECKF(one == out8[r], "%s 8-row kernel, row %d n=%d: %.9g vs %.9g", path, r, n, out8[r], one);
            }
        }
        CHECKF(fabsf(a - c) <= 1e-4f * (1 + fabsf(c)), "n=%d: %g vs %g", n, a, c);
    }
}

static void q4_0_rows8_bit_identical(void) {
    if (!ember_cpu_path_supported("avx2")) SKIP("no AVX2");
    q4_0_rows8_path("avx2");
    if (ember_cpu_path_supported("avxvnni-emu")) q4_0_rows8_path("avxvnni-emu");
}

/* The packed copy (16 rows in dword lanes, read by every path: AVX2 and
 * its AVX-VNNI forms, AVX-512 VNNI, AMX): the layout's portable definition
 * equals rows8 per row, and every SIMD kernel (one token, and 1..8 tokens
 * per call, 16 rows each) reading its path's layout equals it bit for bit, on
 * quantized data and on raw random blocks (every nibble, -128..127
 * activations, extreme scales), and on blocks at the integer bounds
 * (every nibble 0 or 15 against every activation 127 or -128: the
 * largest partial sums the 16-bit stages of the AVX2 kernels hold). The
 * kernels that read the side data (act_aux) get it; lengths span several
 * of the AVX2 scratch kernel's chunks of 16 blocks, whole and partial. */
static void q4_0_packed_bit_identical(void) {
    const ember_type_traits *tr = ember_type_get(EMBER_TYPE_Q4_0);
    static block_q4_0 rows[16][176], packed[16 * 176];
    const ember_packed_layout *layouts[] = {&ember_q4_0_lanes16_layout};
    static block_q8_0 qy[8][176];
    static char aux[8 * 176 * 36]; /* each token's act_aux, ab bytes apart */
    /* long rows too: whole and partial runs of the AVX2 kernels' chunks,
     * and groups longer than the one-token prefetch distance */
    static const int long_n[] = {4064, 4096, 4128, 4192, 4224, 5600, 5632};
    const char *paths[] = {"avx2", "avx512", "avxvnni-emu"};
    int tested = 0;
    for (int mode = 0; mode < 4; mode++) {
        const int n_short = 2048 / (32 * (mode ? 5 : 3)) + 1, n_cases = n_short + (int)(sizeof long_n / sizeof long_n[0]);
        for (int ci = 0; ci < n_cases; ci++) {
            const int n = ci < n_short ? 32 + ci * 32 * (mode ? 5 : 3) : long_n[ci - n_short];
            const int nb = n / 32;
            static float x[5632];
            for (int r = 0; r < 16; r++) {
                if (mode == 0) {
                    for (int i = 0; i < n; i++) x[i] = frand();
                    tr->from_float_ref(x, rows[r], n);
                } else {
                    for (int b = 0; b < nb; b++) {
                        for (int j = 0; j < 16; j++) {
                            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                            rows[r][b].qs[j] = mode == 3   ? (uint8_t)(r % 4 == 0 ? 0x00 : r % 4 == 1 ? 0xFF : r % 4 == 2 ? 0x0F : 0xF0)
                                               : mode == 2 ? (uint8_t)((rng & 1) ? 0xFF : 0x00)
                                                           : (uint8_t)rng;
                        }
                        rows[r][b].d = ember_fp32_to_fp16(mode == 2 ? 60000.0f * (frand() > 0 ? 1 : -1) : frand() * 4);
                    }
                }
            }
            for (int t = 0; t < 8; t++) {
                if (mode == 0) {
                    for (int i = 0; i < n; i++) x[i] = frand() * 5;
                    ember_quant_q8_0_act(x, qy[t], n);
                } else {
                    for (int b = 0; b < nb; b++) {
                        for (int j = 0; j < 32; j++) {
                            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                            qy[t][b].qs[j] = mode == 3   ? (int8_t)(t % 2 ? 127 : -128)
                                             : mode == 2 ? (int8_t)((rng & 1) ? 127 : -128)
                                                         : (int8_t)rng;
                        }
                        qy[t][b].d = ember_fp32_to_fp16(mode == 2 ? 0.5f : frand());
                    }
                }
            }
            float want[8][16], got[16];
            for (int t = 0; t < 8; t++)
                for (int r = 0; r < 16; r++) tr->vec_dot_rows8_ref(n, &want[t][r], rows[r], qy[t]);
            for (int li = 0; li < (int)(sizeof layouts / sizeof layouts[0]); li++) {
                layouts[li]->pack(n, packed, rows, sizeof rows[0]);
                for (int t = 0; t < 8; t++) {
                    layouts[li]->ref(n, got, packed, qy[t]);
                    for (int r = 0; r < 16; r++)
                        CHECKF(memcmp(&got[r], &want[t][r], 4) == 0, "%s ref, mode %d row %d n=%d: %.9g vs %.9g",
                               layouts[li]->name, mode, r, n, got[r], want[t][r]);
                }
            }
            for (int p = 0; p < 3; p++) {
                if (!ember_cpu_path_supported(paths[p])) continue;
                ember_kernel_set ks;
                ember_kernels_for_path(paths[p], &ks);
                const ember_packed_layout *lay = ks.packed_layout[EMBER_TYPE_Q4_0];
                CHECKF(lay && ks.vec_dot_packed_tokens[EMBER_TYPE_Q4_0] && ks.packed_decode[EMBER_TYPE_Q4_0],
                       "%s: no packed Q4_0 kernels", paths[p]);
                if (!lay || !ks.vec_dot_packed_tokens[EMBER_TYPE_Q4_0]) continue;
                /* one packed Q4_0 layout serves every path */
                CHECKF(lay == &ember_q4_0_lanes16_layout, "%s reads %s", paths[p], lay->name);
                lay->pack(n, packed, rows, sizeof rows[0]);
                const size_t ab = lay->act_aux_size(n);
                CHECK(ab * 8 <= sizeof aux);
                for (int t = 0; t < 8; t++) lay->act_aux(qy[t], aux + (size_t)t * ab, n);
                for (int call = 0; call < 16; call++) { /* nt 1..8, in a prompt and streamed (decoding) */
                    const int nt = call % 8 + 1, stream = call / 8;
                    float out[8][24];
                    memset(out, 0x7F, sizeof out);
                    ks.vec_dot_packed_tokens[EMBER_TYPE_Q4_0](n, out[0] + 3, 24, packed, qy[0], sizeof qy[0], aux, ab, nt, stream);
                    for (int t = 0; t < 8; t++)
                        for (int r = 0; r < 24; r++) {
                            const int inside = t < nt && r >= 3 && r < 19;
                            if (inside)
                                CHECKF(!memcmp(&out[t][r], &want[t][r - 3], 4), "%s tokens nt=%d mode %d n=%d t=%d r=%d", paths[p],
                                       nt, mode, n, t, r - 3);
                            else
                                CHECKF(out[t][r] != out[t][r] || out[t][r] > 1e38f, "%s tokens nt=%d wrote outside", paths[p], nt);
                        }
                }
                tested++;
            }
        }
    }
    if (!tested) SKIP("no SIMD packed Q4_0 kernels on this CPU");
}

/* The matrix-engine Q4_0 GEMM (AMX; "amx-emu" runs the same kernel source
 * with its tile instructions modelled in C): for any number of tokens
 * (whole and partial tiles of 16), across its chunks of 64 blocks and odd
 * block counts, equal bit for bit to the rows8 reference and to the same
 * path's vec_dot_packed_tokens, on quantized data, raw random blocks and
 * extremes; outputs written exactly where asked. */
static void q4_0_gemm_bit_identical(void) {
    enum { NT = 40, W = 20 };
    static const int lens[] = {32, 96, 2048, 2080, 4128};
    static const int nts[] = {1, 9, 15, 16, 17, 33, 40};
    const char *paths[] = {"amx", "amx-emu"};
    const ember_type_traits *tr = ember_type_get(EMBER_TYPE_Q4_0);
    int tested = 0;
    for (int p = 0; p < 2; p++) {
        if (!ember_cpu_path_supported(paths[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(paths[p], &ks);
        CHECKF(ks.gemm_packed[EMBER_TYPE_Q4_0] != 0, "%s: no Q4_0 GEMM", paths[p]);
        if (!ks.gemm_packed[EMBER_TYPE_Q4_0]) continue;
        for (int mode = 0; mode < 3; mode++)
            for (int li = 0; li < (int)(sizeof lens / sizeof lens[0]); li++) {
                const int n = lens[li], nb = n / 32;
                const size_t rb = (size_t)nb * sizeof(block_q4_0), yb = (size_t)nb * sizeof(block_q8_0);
                const ember_packed_layout *lay = ks.packed_layout[EMBER_TYPE_Q4_0];
                CHECKF(lay == &ember_q4_0_lanes16_layout, "%s: GEMM over another layout", paths[p]);
                const size_t ab = lay->act_aux_size(n);
                block_q4_0 *rows = malloc(16 * rb), *packed = malloc(16 * rb);
                block_q8_0 *qy = malloc(NT * yb);
                char *aux = malloc(NT * ab);
                float *x = malloc(sizeof(float) * (size_t)n), *want = malloc(sizeof(float) * NT * 16);
                float *out = malloc(sizeof(float) * NT * W);
                for (int r = 0; r < 16; r++) {
                    block_q4_0 *row = (block_q4_0 *)((char *)rows + r * rb);
                    if (mode == 0) {
                        for (int i = 0; i < n; i++) x[i] = frand();
                        tr->from_float_ref(x, row, n);
                    } else
                        for (int b = 0; b < nb; b++) {
                            for (int j = 0; j < 16; j++) {
                                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                                row[b].qs[j] = mode == 2 ? (uint8_t)((rng & 1) ? 0xFF : 0x00) : (uint8_t)rng;
                            }
                            row[b].d = ember_fp32_to_fp16(mode == 2 ? 60000.0f * (frand() > 0 ? 1 : -1) : frand() * 4);
                        }
                }
                for (int t = 0; t < NT; t++) {
                    block_q8_0 *y = (block_q8_0 *)((char *)qy + t * yb);
                    if (mode == 0) {
                        for (int i = 0; i < n; i++) x[i] = frand() * 5;
                        ember_quant_q8_0_act(x, y, n);
                    } else
                        for (int b = 0; b < nb; b++) {
                            for (int j = 0; j < 32; j++) {
                                rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
                                y[b].qs[j] = mode == 2 ? (int8_t)((rng & 1) ? 127 : -128) : (int8_t)rng;
                            }
                            y[b].d = ember_fp32_to_fp16(mode == 2 ? 0.5f : frand());
                        }
                    lay->act_aux(y, aux + t * ab, n);
                    for (int r = 0; r < 16; r++) tr->vec_dot_rows8_ref(n, &want[t * 16 + r], (char *)rows + r * rb, y);
                }
                lay->pack(n, packed, rows, rb);
                /* the path's 1..8-token kernel agrees with the reference */
                for (int t = 0; t < NT; t += 8) {
                    float s8[8][16];
                    ks.vec_dot_packed_tokens[EMBER_TYPE_Q4_0](n, s8[0], 16, packed, (char *)qy + t * yb, yb, aux + t * ab, ab,
                                                              8, 0);
                    CHECKF(!memcmp(s8, &want[t * 16], sizeof s8), "%s tokens kernel differs from rows8 (n=%d mode %d)",
                           paths[p], n, mode);
                }
                for (int ni = 0; ni < (int)(sizeof nts / sizeof nts[0]); ni++) {
                    const int nt = nts[ni], t0 = NT - nt; /* the batch's last nt tokens */
                    for (int i = 0; i < NT * W; i++) out[i] = -1234.5f;
                    ks.gemm_packed[EMBER_TYPE_Q4_0](n, out + 2, W, packed, (char *)qy + t0 * yb, yb, aux + t0 * ab, ab, nt);
                    int bad = 0, outside = 0;
                    for (int t = 0; t < NT; t++)
                        for (int c = 0; c < W; c++) {
                            const float v = out[t * W + c];
                            if (t < nt && c >= 2 && c < 18) bad += memcmp(&v, &want[(t0 + t) * 16 + c - 2], 4) != 0;
                            else outside += v != -1234.5f;
                        }
                    CHECKF(bad == 0 && outside == 0, "%s gemm n=%d mode %d nt=%d: %d outputs differ, %d written outside",
                           paths[p], n, mode, nt, bad, outside);
                }
                free(rows), free(packed), free(qy), free(aux), free(x), free(want), free(out);
            }
        tested++;
    }
    if (!tested) SKIP("no AMX and no AVX-512 for the modelled AMX kernel on this CPU");
}

int main(void) {
    RUN(q4_0_rows8_bit_identical);
    RUN(q4_0_packed_bit_identical);
    RUN(q4_0_gemm_bit_identical);
    RUN(definition_matches_lane_order);
    RUN(simd_paths_bit_identical);
    TEST_EXIT();
}
