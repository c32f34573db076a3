/* F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1: reference quantizers
 * (hand-computed blocks, round-trip error), reference dot products against
 * a float dot of the dequantized data, and every SIMD path this CPU has
 * against the reference (dots close, quantizers bit-identical). The SIMD
 * dots are also checked bit for bit against a scalar model of the summation
 * order they document (llama.cpp's order for that ISA). */
#include "test.h"
#include "formats/formats.h"
#include "formats/fp16.h"
#include "kernels/kernels.h"
#include "runtime/cpu.h"
#include <math.h>
#include <stdint.h>

/* ---- helpers ---- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd_u32(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng >> 16);
}
static float rnd_unit(void) { return (float)((double)rnd_u32() / 4294967296.0 * 2.0 - 1.0); } /* [-1, 1) */

/* Mostly small values with an occasional outlier, like real activations. */
static void fill(float *x, int n, float scale) {
    for (int i = 0; i < n; i++) {
        float v = rnd_unit() * scale;
        if (rnd_u32() % 53 == 0) v *= 8.0f;
        x[i] = v;
    }
}

static uint32_t bits(float f) { return ember_f32_to_bits(f); }

static const int QUANT_TYPES[] = { EMBER_TYPE_Q4_0, EMBER_TYPE_Q4_1, EMBER_TYPE_Q5_0,
                                   EMBER_TYPE_Q5_1, EMBER_TYPE_Q8_0, EMBER_TYPE_Q8_1 };
static const int DOT_TYPES[] = { EMBER_TYPE_F32, EMBER_TYPE_F16, EMBER_TYPE_BF16, EMBER_TYPE_Q4_0,
                                 EMBER_TYPE_Q4_1, EMBER_TYPE_Q5_0, EMBER_TYPE_Q5_1, EMBER_TYPE_Q8_0 };
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Activation quantizer of a vec_dot_type (what the engine feeds the dots). */
static ember_from_float_fn act_quant(int t) {
    if (t == EMBER_TYPE_Q8_0) return ember_quant_q8_0_act;
    if (t == EMBER_TYPE_Q8_1) return ember_quant_q8_1_act;
    return ember_type_get(t)->from_float_ref;
}

/* ---- hand-computed blocks ---- */

static void test_q8_0_known_block(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) * 0.25f; /* amax 4 at j=0 */
    block_q8_0 b;
    ember_quant_q8_0_ref(x, &b, 32);
    CHECK(b.d == ember_fp32_to_fp16(4.0f / 127));
    CHECK(b.qs[0] == -127);
    CHECK(b.qs[16] == 0);
    CHECK(b.qs[17] == 8);    /* 0.25 * 31.75 = 7.94 */
    CHECK(b.qs[18] == 16);   /* 15.875 */
    CHECK(b.qs[2] == -111);  /* -111.125 */
    CHECK(b.qs[31] == 119);  /* 119.06 */

    /* Ties: amax 127 gives d = 1, so x*id is x. The reference quantizer rounds
     * half away from zero; the activation quantizer half to even. */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[0] = 127.0f; x[1] = 2.5f; x[2] = -0.5f; x[3] = 1.5f; x[4] = -3.5f; x[5] = 0.49f;
    ember_quant_q8_0_ref(x, &b, 32);
    CHECK(ember_fp16_to_fp32(b.d) == 1.0f);
    CHECK(b.qs[0] == 127 && b.qs[1] == 3 && b.qs[2] == -1 && b.qs[3] == 2 && b.qs[4] == -4 && b.qs[5] == 0);
    ember_quant_q8_0_act(x, &b, 32);
    CHECK(b.qs[0] == 127 && b.qs[1] == 2 && b.qs[2] == 0 && b.qs[3] == 2 && b.qs[4] == -4 && b.qs[5] == 0);

    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    ember_quant_q8_0_ref(x, &b, 32);
    CHECK(b.d == 0);
    for (int j = 0; j < 32; j++) CHECK(b.qs[j] == 0);
}

static void test_q8_1_known_block(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = (float)(j - 16) * 0.25f;
    block_q8_1 b;
    ember_quant_q8_1_ref(x, &b, 32);
    int sum = 0;
    for (int j = 0; j < 32; j++) sum += b.qs[j];
    const float d = 4.0f / 127;
    CHECK(b.d == ember_fp32_to_fp16(d));
    CHECK(sum == -127); /* symmetric around j=16 except j=0 (-4) */
    CHECK(b.s == ember_fp32_to_fp16((float)sum * d)); /* s from the f32 d */
    CHECK(b.qs[31] == 119 && b.qs[1] == -119);
}

static void test_q4_0_known_block(void) {
    float x[32] = { 0 };
    x[5] = -3.0f;  /* signed max: d = -3 / -8 = 0.375 */
    x[0] = 1.0f;   /* 1/0.375 + 8.5 = 11.17 -> 11 */
    x[16] = 2.9f;  /* 7.73 + 8.5 -> 16, clamped to 15 */
    x[17] = -1.0f; /* -2.67 + 8.5 -> 5 */
    block_q4_0 b;
    ember_quant_q4_0_ref(x, &b, 32);
    CHECK(b.d == ember_fp32_to_fp16(0.375f));
    CHECK((b.qs[5] & 0x0F) == 0);
    CHECK((b.qs[0] & 0x0F) == 11);
    CHECK((b.qs[0] >> 4) == 15);
    CHECK((b.qs[1] >> 4) == 5);
    CHECK((b.qs[2] & 0x0F) == 8 && (b.qs[2] >> 4) == 8);
    float y[32];
    ember_dequant_q4_0(&b, y, 32);
    CHECK(y[5] == -3.0f && y[0] == 1.125f && y[16] == 2.625f && y[17] == -1.125f && y[2] == 0.0f);

    /* Positive max: d is negative. */
    for (int j = 0; j < 32; j++) x[j] = 0.0f;
    x[3] = 8.0f;
    ember_quant_q4_0_ref(x, &b, 32);
    CHECK(ember_fp16_to_fp32(b.d) == -1.0f);
    CHECK((b.qs[3] & 0x0F) == 0 && (b.qs[4] & 0x0F) == 8);
}

static int q4_1_level(int j) { return j == 0 ? 0 : j == 1 ? 15 : j % 15; }

static void test_q4_1_known_block(void) {
    float x[32];
    /* level k sits at min + k*d + d/4, so (x-min)/d + 0.5 truncates to k */
    for (int j = 0; j < 32; j++) x[j] = 1.0f + (float)q4_1_level(j) * 0.2f + 0.05f;
    x[0] = 1.0f; /* min */
    x[1] = 4.0f; /* max: d = 0.2, m = 1 */
    block_q4_1 b;
    ember_quant_q4_1_ref(x, &b, 32);
    CHECK(b.d == ember_fp32_to_fp16(3.0f / 15));
    CHECK(b.m == ember_fp32_to_fp16(1.0f));
    for (int j = 0; j < 16; j++) {
        CHECKF((b.qs[j] & 0x0F) == q4_1_level(j), "j=%d", j);
        CHECKF((b.qs[j] >> 4) == q4_1_level(j + 16), "j=%d", j + 16);
    }
}

static void test_q5_0_known_block(void) {
    float x[32] = { 0 };
    x[20] = 2.0f;  /* signed max: d = 2 / -16 = -0.125, id = -8 */
    x[4] = -1.9f;  /* 15.2 + 16.5 -> 31 */
    x[1] = 0.25f;  /* -2 + 16.5 -> 14 */
    block_q5_0 b;
    ember_quant_q5_0_ref(x, &b, 32);
    CHECK(b.d == ember_fp32_to_fp16(-0.125f));
    const uint32_t qh = (uint32_t)b.qh[0] | (uint32_t)b.qh[1] << 8 | (uint32_t)b.qh[2] << 16 | (uint32_t)b.qh[3] << 24;
    /* zeros quantize to 16: low nibble 0 and the fifth bit set */
    CHECK((b.qs[0] & 0x0F) == 0 && (qh & 1u));
    CHECK((b.qs[4] & 0x0F) == 15 && (qh >> 4 & 1u)); /* 31 */
    CHECK((b.qs[1] & 0x0F) == 14 && !(qh >> 1 & 1u));
    CHECK((b.qs[4] >> 4) == 0 && !(qh >> 20 & 1u));  /* element 20 -> 0 */
    CHECK(qh == (0xFFFFFFFFu & ~(1u << 1) & ~(1u << 20)));
    float y[32];
    ember_dequant_q5_0(&b, y, 32);
    CHECK(y[20] == 2.0f && y[4] == -1.875f && y[1] == 0.25f && y[0] == 0.0f);

    /* Equal magnitudes: the first one sets the sign of d. */
    x[4] = -2.0f;
    ember_quant_q5_0_ref(x, &b, 32);
    CHECK(b.d == ember_fp32_to_fp16(0.125f));
}

static void test_q5_1_known_block(void) {
    float x[32];
    for (int j = 0; j < 32; j++) x[j] = -1.0f + (float)j * 0.1f + 0.02f;
    x[0] = -1.0f; /* min */
    x[31] = 2.1f; /* max: d = 0.1 */
    block_q5_1 b;
    ember_quant_q5_1_ref(x, &b, 32);
    CHECK(b.d == ember_fp32_to_fp16(3.1f / 31));
    CHECK(b.m == ember_fp32_to_fp16(-1.0f));
    float y[32];
    ember_dequant_q5_1(&b, y, 32);
    for (int j = 0; j < 32; j++) {
        /* element j quantizes to level j (j + 0.2 + 0.5 truncates) */
        const float want = (float)j * ember_fp16_to_fp32(b.d) + ember_fp16_to_fp32(b.m);
        CHECKF(y[j] == want, "j=%d %g %g", j, y[j], want);
    }
}

static void test_zero_blocks(void) {
    float x[32] = { 0 }, y[32];
    for (int i = 0; i < NELEM(QUANT_TYPES); i++) {
        const ember_type_traits *t = ember_type_get(QUANT_TYPES[i]);
        uint8_t buf[64];
        memset(buf, 0xAB, sizeof buf);
        t->from_float_ref(x, buf, 32);
        t->to_float(buf, y, 32);
        for (int j = 0; j < 32; j++) CHECKF(y[j] == 0.0f, "%s", t->name);
    }
}

/* ---- round trip ---- */

static void test_roundtrip(void) {
    enum { N = 512 };
    float x[N], y[N];
    uint8_t buf[N * 4];
    fill(x, N, 1.0f);
    const int types[] = { EMBER_TYPE_F32, EMBER_TYPE_F16, EMBER_TYPE_BF16, EMBER_TYPE_Q4_0, EMBER_TYPE_Q4_1,
                          EMBER_TYPE_Q5_0, EMBER_TYPE_Q5_1, EMBER_TYPE_Q8_0, EMBER_TYPE_Q8_1 };
    for (int ti = 0; ti < NELEM(types); ti++) {
        const ember_type_traits *t = ember_type_get(types[ti]);
        CHECK(t != NULL);
        if (!t) continue;
        t->from_float_ref(x, buf, N);
        t->to_float(buf, y, N);
        double maxerr_rel = 0; /* error / allowed, over all elements */
        for (int b = 0; b < N; b += 32) {
            float amax = 0, mn = x[b], mx = x[b];
            for (int j = b; j < b + 32; j++) {
                amax = fmaxf(amax, fabsf(x[j]));
                mn = fminf(mn, x[j]);
                mx = fmaxf(mx, x[j]);
            }
            for (int j = b; j < b + 32; j++) {
                double allowed;
                switch (types[ti]) {
                case EMBER_TYPE_F32: allowed = 0; break;
                case EMBER_TYPE_F16: allowed = fabs(x[j]) * 0x1p-11; break;
                case EMBER_TYPE_BF16: allowed = fabs(x[j]) * 0x1p-8; break;
                case EMBER_TYPE_Q4_0: allowed = amax / 8 * 1.01; break;   /* clamp at +7 costs one step */
                case EMBER_TYPE_Q5_0: allowed = amax / 16 * 1.01; break;
                case EMBER_TYPE_Q4_1: allowed = (mx - mn) / 15 * 0.51 + fabsf(mn) * 1e-3 + (mx - mn) * 1e-3; break;
                case EMBER_TYPE_Q5_1: allowed = (mx - mn) / 31 * 0.51 + fabsf(mn) * 1e-3 + (mx - mn) * 1e-3; break;
                default: allowed = amax / 127 * 0.51 + amax * 1e-3; break; /* Q8_0, Q8_1 */
                }
                const double err = fabs((double)y[j] - (double)x[j]);
                if (err > allowed) {
                    fprintf(stderr, "  %s: element %d: %g -> %g (allowed %g)\n", t->name, j, x[j], y[j], allowed);
                    maxerr_rel = 2;
                    break;
                }
            }
        }
        CHECKF(maxerr_rel <= 1, "%s", t->name);
    }
}

/* ---- reference dot vs dequantized float dot ---- */

/* A random row of n elements of type t and its dequantized copy. */
static void make_row(int t, int n, void *q, float *deq, float scale, int act) {
    float *x = malloc(sizeof(float) * (size_t)n);
    fill(x, n, scale);
    if (act) act_quant(t)(x, q, n);
    else ember_type_get(t)->from_float_ref(x, q, n);
    ember_type_get(t)->to_float(q, deq, n);
    free(x);
}

static void test_ref_dot_vs_dequant(void) {
    const int lens_q[] = { 32, 64, 96, 256, 1024 };
    const int lens_f[] = { 1, 7, 32, 33, 172, 1000 };
    for (int ti = 0; ti < NELEM(DOT_TYPES); ti++) {
        const int type = DOT_TYPES[ti];
        const ember_type_traits *t = ember_type_get(type);
        const int quant = t->block_size > 1;
        const int *lens = quant ? lens_q : lens_f;
        for (int li = 0; li < 5; li++) {
            const int n = lens[li];
            void *qx = malloc(ember_row_size(type, n));
            void *qy = malloc(ember_row_size(t->vec_dot_type, n));
            float *dx = malloc(sizeof(float) * (size_t)n), *dy = malloc(sizeof(float) * (size_t)n);
            make_row(type, n, qx, dx, 0.5f, 0);
            make_row(t->vec_dot_type, n, qy, dy, 2.0f, 1);
            double want = 0, mag = 0;
            for (int i = 0; i < n; i++) {
                want += (double)dx[i] * dy[i];
                mag += fabs((double)dx[i] * dy[i]);
            }
            /* Q4_1/Q5_1 use the activations' stored s = f16(d*sum q), not the
             * dequantized sum: allow its f16 rounding per block. */
            double extra = 0;
            if (type == EMBER_TYPE_Q4_1 || type == EMBER_TYPE_Q5_1) {
                for (int b = 0; b < n / 32; b++) {
                    const block_q8_1 *yb = (const block_q8_1 *)qy + b;
                    const float m = type == EMBER_TYPE_Q4_1 ? ember_fp16_to_fp32(((const block_q4_1 *)qx)[b].m)
                                                            : ember_fp16_to_fp32(((const block_q5_1 *)qx)[b].m);
                    extra += fabs(m * ember_fp16_to_fp32(yb->s)) * 0x1p-10 + fabs(m) * ember_fp16_to_fp32(yb->d) * 0.01;
                }
            }
            float got = -1;
            t->vec_dot_ref(n, &got, qx, qy);
            const double tol = mag * 1e-5 + extra + 1e-6;
            CHECKF(fabs(got - want) <= tol, "%s n=%d got %.9g want %.9g tol %g", t->name, n, got, want, tol);
            free(qx); free(qy); free(dx); free(dy);
        }
    }
}

/* The plain-float reference dots sum in double exactly like this. */
static void test_ref_dot_float_exact(void) {
    float x[37], y[37];
    fill(x, 37, 3.0f);
    fill(y, 37, 3.0f);
    double want = 0;
    for (int i = 0; i < 37; i++) want += (double)(x[i] * y[i]);
    float got;
    ember_vec_dot_f32_ref(37, &got, x, y);
    CHECK(bits(got) == bits((float)want));
    ember_vec_dot_f32_ref(0, &got, x, y);
    CHECK(got == 0.0f);
}

/* ---- scalar models of the SIMD summation orders ---- */

/* ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)) */
static float model_hsum8_halves(const float *v) {
    const float r0 = v[0] + v[4], r1 = v[1] + v[5], r2 = v[2] + v[6], r3 = v[3] + v[7];
    return (r0 + r2) + (r1 + r3);
}
/* ((v0+v4)+(v1+v5)) + ((v2+v6)+(v3+v7)) */
static float model_hsum16(const float *v) {
    float h[8];
    for (int k = 0; k < 8; k++) h[k] = v[k + 8] + v[k];
    return model_hsum8_halves(h);
}

/* Integer levels of block b of a weight row (dequantized with d = 1,
 * m = 0) and its scale d. */
static void block_levels(int type, const void *vx, int b, int q[32], float *d) {
    const ember_type_traits *t = ember_type_get(type);
    uint8_t blk[64];
    float v[32];
    memcpy(blk, (const uint8_t *)vx + (size_t)b * t->type_size, t->type_size);
    ember_f16 h;
    memcpy(&h, blk, 2);
    *d = ember_fp16_to_fp32(h);
    h = ember_fp32_to_fp16(1.0f);
    memcpy(blk, &h, 2);
    if (type == EMBER_TYPE_Q4_1 || type == EMBER_TYPE_Q5_1) memset(blk + 2, 0, 2);
    t->to_float(blk, v, 32);
    for (int j = 0; j < 32; j++) q[j] = (int)v[j];
}

static float model_quant_dot(int type, int n, const void *vx, const void *vy) {
    const int with_m = type == EMBER_TYPE_Q4_1 || type == EMBER_TYPE_Q5_1;
    float acc[8] = { 0 };
    float summs = 0;
    for (int b = 0; b < n / 32; b++) {
        int q[32];
        float dx;
        block_levels(type, vx, b, q, &dx);
        /* Q8_0 and Q8_1 both start with d, then (Q8_1) s, then qs */
        const int8_t *yq = with_m ? ((const block_q8_1 *)vy)[b].qs : ((const block_q8_0 *)vy)[b].qs;
        const float dy = ember_fp16_to_fp32(with_m ? ((const block_q8_1 *)vy)[b].d : ((const block_q8_0 *)vy)[b].d);
        if (with_m) {
            const ember_f16 mh = type == EMBER_TYPE_Q4_1 ? ((const block_q4_1 *)vx)[b].m : ((const block_q5_1 *)vx)[b].m;
            summs = fmaf(ember_fp16_to_fp32(mh), ember_fp16_to_fp32(((const block_q8_1 *)vy)[b].s), summs);
        }
        const float d = dx * dy;
        for (int k = 0; k < 8; k++) {
            int s = 0;
            for (int j = 4 * k; j < 4 * k + 4; j++) s += q[j] * yq[j];
            acc[k] = fmaf(d, (float)s, acc[k]);
        }
    }
    float r = model_hsum8_halves(acc);
    if (with_m) r += summs;
    return r;
}

static float elem(int type, const void *p, int i) {
    if (type == EMBER_TYPE_F32) return ((const float *)p)[i];
    if (type == EMBER_TYPE_F16) return ember_fp16_to_fp32(((const ember_f16 *)p)[i]);
    return ember_bf16_to_fp32(((const ember_bf16 *)p)[i]);
}

/* F32/F16 in llama.cpp's AVX-512 order: 4 accumulators of `lanes` (16). */
static float model_float_dot(int type, int n, const void *x, const void *y, int lanes) {
    const int step = 4 * lanes;
    const int np = n / step * step;
    float a[4][16] = { { 0 } };
    for (int i = 0; i < np; i += step)
        for (int r = 0; r < 4; r++)
            for (int l = 0; l < lanes; l++)
                a[r][l] = fmaf(elem(type, x, i + r * lanes + l), elem(type, y, i + r * lanes + l), a[r][l]);
    float v[16];
    for (int l = 0; l < lanes; l++) v[l] = (a[0][l] + a[2][l]) + (a[1][l] + a[3][l]);
    const float red = model_hsum16(v);
    if (type == EMBER_TYPE_F16) {
        double sum = red;
        for (int i = np; i < n; i++) sum += (double)(elem(type, x, i) * elem(type, y, i));
        return (float)sum;
    }
    float sum = red;
    const int fused = (n - np) % 8;
    for (int i = np; i < n - fused; i++) sum += elem(type, x, i) * elem(type, y, i);
    for (int i = n - fused; i < n; i++) sum = fmaf(elem(type, x, i), elem(type, y, i), sum);
    return sum;
}

/* BF16 as AVX-512's dpbf16 sums it (every path keeps this order): per 64
 * elements two 16-lane accumulators, lane r taking the pair (2r+1, 2r) of
 * its 32-element half with one fma each; each folded as model_hsum16 into
 * a double, then the tail in double. */
static float model_bf16_dot(int n, const void *x, const void *y) {
    float c[2][16] = { { 0 } };
    int i = 0;
    for (; i + 64 <= n; i += 64)
        for (int h = 0; h < 2; h++)
            for (int r = 0; r < 16; r++) {
                const int e = i + 32 * h + 2 * r;
                c[h][r] = fmaf(elem(EMBER_TYPE_BF16, x, e + 1), elem(EMBER_TYPE_BF16, y, e + 1), c[h][r]);
                c[h][r] = fmaf(elem(EMBER_TYPE_BF16, x, e), elem(EMBER_TYPE_BF16, y, e), c[h][r]);
            }
    double sum = 0;
    sum += model_hsum16(c[0]);
    sum += model_hsum16(c[1]);
    for (; i < n; i++) sum += (double)(elem(EMBER_TYPE_BF16, x, i) * elem(EMBER_TYPE_BF16, y, i));
    return (float)sum;
}

/* ---- SIMD paths vs reference ---- */

/* "avxvnni-emu": the avx2 path with its int8 kernels on VPDPBUSD (the
 * AVX-VNNI kernels, built EVEX for AVX-512 machines) */
static const char *PATHS[] = { "scalar", "avx2", "avx512", "avxvnni-emu" };

static void check_path_dots(const char *path) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks);
    /* every path sums float formats in the order of llama.cpp's AVX-512
     * build (the golden outputs' order) */
    const int lanes = 16;
    const int scalar = !strcmp(path, "scalar");
    const int nq[] = { 32, 64, 96, 224, 256, 1056 };
    const int nf[] = { 1, 7, 8, 15, 31, 32, 33, 63, 64, 65, 96, 127, 128, 172, 257, 1000 };
    for (int ti = 0; ti < NELEM(DOT_TYPES); ti++) {
        const int type = DOT_TYPES[ti];
        const ember_type_traits *t = ember_type_get(type);
        CHECKF(scalar || ks.vec_dot[type] != NULL, "%s %s: no kernel", path, t->name);
        if (!ks.vec_dot[type]) continue;
        const int quant = t->block_size > 1;
        const int *ns = quant ? nq : nf;
        const int cnt = quant ? NELEM(nq) : NELEM(nf);
        for (int rep = 0; rep < 3; rep++) {
            for (int k = 0; k < cnt; k++) {
                const int n = ns[k];
                void *qx = malloc(ember_row_size(type, n));
                void *qy = malloc(ember_row_size(t->vec_dot_type, n));
                float *dx = malloc(sizeof(float) * (size_t)n), *dy = malloc(sizeof(float) * (size_t)n);
                make_row(type, n, qx, dx, rep == 2 ? 40.0f : 0.7f, 0);
                make_row(t->vec_dot_type, n, qy, dy, 3.0f, 1);
                if (type == EMBER_TYPE_Q8_0 && rep == 1) /* weights from a file may hold -128 */
                    for (int b = 0; b < n / 32; b++) ((block_q8_0 *)qx)[b].qs[b % 32] = -128;
                double mag = 0;
                for (int i = 0; i < n; i++) mag += fabs((double)dx[i] * dy[i]);
                float ref = 0, got = 0;
                t->vec_dot_ref(n, &ref, qx, qy);
                ks.vec_dot[type](n, &got, qx, qy);
                CHECKF(fabsf(got - ref) <= mag * 1e-5 + 1e-6, "%s %s n=%d: %.9g vs ref %.9g", path, t->name, n, got, ref);
                float model;
                int have_model = 1;
                if (quant) model = model_quant_dot(type, n, qx, qy);
                else if (type != EMBER_TYPE_BF16) model = model_float_dot(type, n, qx, qy, lanes);
                else model = model_bf16_dot(n, qx, qy);
                if (have_model)
                    CHECKF(bits(got) == bits(model), "%s %s n=%d: %.9g vs order model %.9g", path, t->name, n, got, model);
                /* the SIMD paths batch tokens for these types */
                const int want_tokens = type == EMBER_TYPE_Q8_0 || type == EMBER_TYPE_F32 || type == EMBER_TYPE_F16 ||
                                        type == EMBER_TYPE_BF16;
                CHECKF(scalar || !want_tokens || ks.vec_dot_tokens[type] != NULL, "%s %s: no tokens kernel", path, t->name);
                if (ks.vec_dot_tokens[type]) {
                    /* 1..4 activation rows, the second being qy: each result
                     * bit-identical to vec_dot on its row. Rows are rb bytes
                     * apart on even reps, with an odd gap after each on odd
                     * ones (the kernel must follow y_stride, not the row
                     * size); the third rep's rows alternate in sign so the
                     * sums cancel and any change of order shows. */
                    const size_t rb = ember_row_size(t->vec_dot_type, n);
                    const size_t ys_stride = rb + (rep & 1 ? 8 : 0) /* keeps the element alignment */;
                    char *ys = malloc(4 * ys_stride);
                    for (int k = 0; k < 4; k++) {
                        float tmp[1056];
                        if (k == 1) memcpy(ys + ys_stride, qy, rb);
                        else make_row(t->vec_dot_type, n, ys + (size_t)k * ys_stride, tmp, 1.0f + k, 1);
                        if (rep == 2 && !quant && k != 1) {
                            float *f = malloc(sizeof(float) * (size_t)n);
                            for (int i = 0; i < n; i++) f[i] = (i & 1 ? -1.0f : 1.0f) * (100.0f + (float)(i % 7)) + tmp[i];
                            ember_type_get(t->vec_dot_type)->from_float_ref(f, ys + (size_t)k * ys_stride, n);
                            free(f);
                        }
                    }
                    for (int nt = 1; nt <= 4; nt++) {
                        float s4[4];
                        ks.vec_dot_tokens[type](n, s4, qx, ys, ys_stride, nt);
                        for (int k = 0; k < nt; k++) {
                            float one;
                            ks.vec_dot[type](n, &one, qx, ys + (size_t)k * ys_stride);
                            CHECKF(bits(s4[k]) == bits(one), "%s %s tokens n=%d nt=%d row %d: %.9g vs %.9g", path, t->name, n, nt, k,
                                   s4[k], one);
                        }
                        if (nt > 1) CHECK(bits(s4[1]) == bits(got));
                    }
                    free(ys);
                }
                if (ks.vec_dot_rows4[type]) {
                    /* 4 weight rows (qx the third, the others new), a gap
                     * after each on odd reps: each result bit-identical to
                     * vec_dot on its row */
                    const size_t rb = ember_row_size(type, n), stride = rb + (rep & 1 ? 34 : 0);
                    char *xs = malloc(4 * stride);
                    float *tmp = malloc(sizeof(float) * (size_t)n);
                    for (int r = 0; r < 4; r++) {
                        if (r == 2) memcpy(xs + 2 * stride, qx, rb);
                        else make_row(type, n, xs + (size_t)r * stride, tmp, 0.5f + r, 0);
                    }
                    float s4[4];
                    ks.vec_dot_rows4[type](n, s4, xs, stride, qy);
                    for (int r = 0; r < 4; r++) {
                        float one;
                        ks.vec_dot[type](n, &one, xs + (size_t)r * stride, qy);
                        CHECKF(bits(s4[r]) == bits(one), "%s %s rows4 n=%d row %d: %.9g vs %.9g", path, t->name, n, r, s4[r], one);
                    }
                    CHECK(bits(s4[2]) == bits(got));
                    free(xs); free(tmp);
                }
                free(qx); free(qy); free(dx); free(dy);
            }
        }
    }
}

static void check_path_quantizers(const char *path) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks);
    enum { N = 32 * 40 };
    static float x[N];
    fill(x, N, 2.0f);
    /* Exact ties in some blocks: amax 127 makes x*id = x. */
    for (int b = 0; b < 8; b++) {
        float *p = x + 32 * (4 + b);
        for (int j = 0; j < 32; j++) p[j] = (float)((int)(rnd_u32() % 253) - 126) + ((j & 1) ? 0.5f : 0.0f);
        p[b] = (b & 1) ? -127.0f : 127.0f;
    }
    for (int j = 0; j < 32; j++) x[32 * 20 + j] = 0.0f;                    /* zero block */
    for (int j = 0; j < 32; j++) x[32 * 21 + j] = rnd_unit() * 1e-30f;     /* tiny block */
    for (int j = 0; j < 32; j++) x[32 * 22 + j] = rnd_unit() * 6e4f;       /* huge block */
    for (int j = 0; j < 32; j++) x[32 * 23 + j] = -0.0f;                   /* negative zero */
    const int qt[] = { EMBER_TYPE_Q8_0, EMBER_TYPE_Q8_1 };
    for (int i = 0; i < 2; i++) {
        const ember_type_traits *t = ember_type_get(qt[i]);
        CHECKF(ks.from_float[qt[i]] != NULL, "%s %s", path, t->name);
        if (!ks.from_float[qt[i]]) continue;
        static uint8_t a[N * 2], b[N * 2];
        memset(a, 0x11, sizeof a);
        memset(b, 0x22, sizeof b);
        act_quant(qt[i])(x, a, N);
        ks.from_float[qt[i]](x, b, N);
        const size_t sz = ember_row_size(qt[i], N);
        CHECKF(memcmp(a, b, sz) == 0, "%s %s differs from the activation reference", path, t->name);
        CHECK(b[sz] == 0x22); /* no write past the row */
    }
    if (ks.from_float[EMBER_TYPE_F16]) {
        static float f[301];
        fill(f, 301, 100.0f);
        const float special[] = { 0.0f, -0.0f, 65504.0f, 65519.0f, 65520.0f, 1e9f, -1e9f, 6e-8f, 3e-8f, 2.98e-8f,
                                  1e-40f, 6.1e-5f, 1.0f / 3, -2.5e-6f, INFINITY, -INFINITY };
        memcpy(f + 100, special, sizeof special);
        ember_f16 a[302], b[302];
        a[301] = b[301] = 0x5555;
        ember_f16_from_float(f, a, 301);
        ks.from_float[EMBER_TYPE_F16](f, b, 301);
        CHECKF(memcmp(a, b, sizeof a) == 0, "%s F16 conversion differs", path);
    }
}

static void test_simd_paths(void) {
    int ran = 0;
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        ran++;
        check_path_dots(PATHS[p]);
        if (strcmp(PATHS[p], "scalar")) check_path_quantizers(PATHS[p]);
    }
    CHECK(ran >= 1); /* scalar always */
}

/* A packed kernel over a 16-row group for nt = 1..8 tokens (the last nt of
 * 8 activation rows y, yb bytes apart, side data ab apart), streaming or
 * not: outputs at column 2 of rows 20 apart equal want[token][row] bit for
 * bit, and nothing is written around them. */
static void check_packed_outputs(const char *path, const char *what, ember_vec_dot_packed_tokens_fn fn, int n, int mode,
                                 const char *packed, const char *y, size_t yb, const char *aux, size_t ab,
                                 float want[8][16]) {
    for (int nt = 1; nt <= 8; nt++)
        for (int stream = 0; stream < 2; stream++) {
            float out[8][20];
            memset(out, 0x7F, sizeof out);
            fn(n, out[0] + 2, 20, packed, y + (8 - nt) * yb, yb, aux + (8 - nt) * ab, ab, nt, stream);
            for (int t = 0; t < 8; t++)
                for (int c = 0; c < 20; c++) {
                    if (t < nt && c >= 2 && c < 18)
                        CHECKF(bits(out[t][c]) == bits(want[8 - nt + t][c - 2]),
                               "%s %s packed n=%d mode %d nt=%d stream %d t=%d r=%d: %.9g vs %.9g", path, what, n, mode, nt,
                               stream, t, c - 2, out[t][c], want[8 - nt + t][c - 2]);
                    else
                        CHECKF(out[t][c] > 1e38f, "%s %s packed nt=%d wrote outside (t=%d c=%d)", path, what, nt, t, c);
                }
        }
}

/* Q8_0's packed 16-row copy: the portable definition equals the lane
 * order row by row, and each path's packed kernel (1..8 tokens per call,
 * output strides, nothing written outside) equals it bit for bit, on
 * quantized rows, extremes (-128 weights as files may hold, +-127
 * activations) and raw random blocks; the path's vec_dot and the order
 * model agree too. */
static void check_path_packed(const char *path) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks);
    if (!ks.vec_dot_packed_tokens[EMBER_TYPE_Q8_0]) return;
    const int lens[] = { 32, 96, 160, 2048, 5632 };
    for (int li = 0; li < NELEM(lens); li++) {
        const int n = lens[li], nb = n / 32;
        const size_t rb = ember_row_size(EMBER_TYPE_Q8_0, n);
        const size_t ab = ember_q8_0_act_aux_size(n);
        char *x = malloc(16 * rb), *y = malloc(8 * rb), *aux = malloc(8 * ab);
        char *packed = aligned_alloc(64, (16 * rb + 63) & ~(size_t)63); /* C11: a multiple of the alignment */
        float *tmp = malloc(sizeof(float) * (size_t)n);
        for (int mode = 0; mode < 3; mode++) {
            for (int r = 0; r < 16; r++) {
                block_q8_0 *bx = (block_q8_0 *)(x + r * rb);
                make_row(EMBER_TYPE_Q8_0, n, bx, tmp, r == 3 ? 1e4f : 0.5f + r, 0);
                for (int b = 0; b < nb; b++)
                    for (int j = 0; j < 32; j++) {
                        if (mode == 1 && r % 5 == 2) bx[b].qs[j] = (j + b) % 3 ? -128 : 127;
                        if (mode == 2) bx[b].qs[j] = (int8_t)(rand() & 0xFF);
                    }
            }
            for (int k = 0; k < 8; k++) {
                block_q8_0 *by = (block_q8_0 *)(y + k * rb);
                make_row(EMBER_TYPE_Q8_0, n, by, tmp, 1.0f + 3 * k, 1);
                for (int b = 0; b < nb; b++)
                    for (int j = 0; j < 32; j++) {
                        if (mode == 1 && k == 3) by[b].qs[j] = j % 2 ? -127 : 127;
                        if (mode == 2) by[b].qs[j] = (int8_t)(rand() % 255 - 127);
                    }
                ember_q8_0_act_aux(by, aux + k * ab, n);
            }
            ember_q8_0_pack16(n, packed, x, rb);
            float want[8][16];
            for (int k = 0; k < 8; k++) {
                ember_vec_dot_q8_0_packed16_ref(n, want[k], packed, y + k * rb);
                for (int r = 0; r < 16; r++) {
                    const float model = model_quant_dot(EMBER_TYPE_Q8_0, n, x + r * rb, y + k * rb);
                    float one;
                    ks.vec_dot[EMBER_TYPE_Q8_0](n, &one, x + r * rb, y + k * rb);
                    CHECKF(bits(want[k][r]) == bits(model) && bits(one) == bits(model),
                           "%s Q8_0 n=%d mode %d row %d token %d: packed ref %.9g dot %.9g model %.9g", path, n, mode, r, k,
                           want[k][r], one, model);
                }
            }
            check_packed_outputs(path, "Q8_0", ks.vec_dot_packed_tokens[EMBER_TYPE_Q8_0], n, mode, packed, y, rb, aux, ab, want);
        }
        free(x); free(y); free(aux); free(packed); free(tmp);
    }
}

/* qs and qh (NULL: none) of block b of a Q5_0, Q4_1 or Q5_1 row */
static uint8_t *block_qs(int type, void *row, int b, uint8_t **qh, ember_f16 **m) {
    *qh = 0, *m = 0;
    if (type == EMBER_TYPE_Q5_0) {
        block_q5_0 *x = (block_q5_0 *)row + b;
        *qh = x->qh;
        return x->qs;
    }
    if (type == EMBER_TYPE_Q4_1) {
        block_q4_1 *x = (block_q4_1 *)row + b;
        *m = &x->m;
        return x->qs;
    }
    block_q5_1 *x = (block_q5_1 *)row + b;
    *qh = x->qh, *m = &x->m;
    return x->qs;
}

/* The 16-row copies of Q5_0 (its rows widened into Q8_0's copy), Q4_1 and
 * Q5_1: each path that has the layout runs its packed kernel over it, and
 * every output (1..8 tokens, streaming or not) equals the path's vec_dot,
 * the layout's ref and the order model bit for bit, on quantized rows and
 * raw random blocks (every 4- and 5-bit value, fifth bits all set, none or
 * random, random mins, activations at +-127). */
static void check_path_packed_type(const char *path, int type) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks);
    const ember_packed_layout *lay = ks.packed_layout[type];
    const int at = ember_type_get(type)->vec_dot_type;
    if (!ks.vec_dot_packed_tokens[type]) return;
    CHECKF(lay != NULL, "%s: %s packed kernel without its layout", path, ember_type_name(type));
    if (!lay) return;
    const int lens[] = { 32, 96, 2048, 5632 };
    for (int li = 0; li < NELEM(lens); li++) {
        const int n = lens[li], nb = n / 32;
        const size_t rb = ember_row_size(type, n), yb = ember_row_size(at, n);
        const size_t ab = lay->act_aux_size(n);
        char *x = malloc(16 * rb), *y = malloc(8 * yb), *aux = malloc(8 * ab);
        char *packed = aligned_alloc(64, (16 * rb + 63) & ~(size_t)63);
        float *tmp = malloc(sizeof(float) * (size_t)n);
        for (int mode = 0; mode < 2; mode++) {
            for (int r = 0; r < 16; r++) {
                char *row = x + r * rb;
                make_row(type, n, row, tmp, r == 3 ? 1e4f : 0.5f + r, 0);
                if (mode == 1)
                    for (int b = 0; b < nb; b++) {
                        uint8_t *qh;
                        ember_f16 *m;
                        uint8_t *qs = block_qs(type, row, b, &qh, &m);
                        for (int j = 0; j < 16; j++) qs[j] = (uint8_t)rand();
                        if (qh)
                            for (int j = 0; j < 4; j++) qh[j] = (uint8_t)(r % 4 == 1 ? 0xFF : r % 4 == 2 ? 0 : rand());
                        if (m && r % 3 == 0) *m = ember_fp32_to_fp16((float)(rand() % 2001 - 1000) * 0.37f);
                    }
            }
            for (int k = 0; k < 8; k++) {
                char *by = y + k * yb;
                make_row(at, n, by, tmp, 1.0f + 3 * k, 1);
                if (mode == 1)
                    for (int b = 0; b < nb; b++) {
                        int8_t *q = at == EMBER_TYPE_Q8_1 ? ((block_q8_1 *)by)[b].qs : ((block_q8_0 *)by)[b].qs;
                        for (int j = 0; j < 32; j++) q[j] = (int8_t)(k == 3 ? (j % 2 ? -127 : 127) : rand() % 255 - 127);
                    }
                lay->act_aux(by, aux + k * ab, n);
            }
            lay->pack(n, packed, x, rb);
            float want[8][16];
            for (int k = 0; k < 8; k++) {
                float ref16[16];
                lay->ref(n, ref16, packed, y + k * yb);
                for (int r = 0; r < 16; r++) {
                    ks.vec_dot[type](n, &want[k][r], x + r * rb, y + k * yb);
                    const float model = model_quant_dot(type, n, x + r * rb, y + k * yb);
                    CHECKF(bits(want[k][r]) == bits(model) && bits(ref16[r]) == bits(model),
                           "%s %s n=%d mode %d row %d token %d: dot %.9g layout ref %.9g model %.9g", path,
                           ember_type_name(type), n, mode, r, k, want[k][r], ref16[r], model);
                }
            }
            check_packed_outputs(path, ember_type_name(type), ks.vec_dot_packed_tokens[type], n, mode, packed, y, yb, aux,
                                 ab, want);
        }
        free(x); free(y); free(aux); free(packed); free(tmp);
    }
}

/* Q8_0's 16-row x 1..8-token prompt kernel (vec_dot_rows16_tokens) equals
 * the path's vec_dot, the portable lane order and the order model bit for
 * bit for every row and token: quantized rows, raw random int8 blocks
 * (weights -128..127, activations -127..127: the activation quantizer never
 * makes -128), -128 / 127 weights against +-127 activations, extreme and
 * random fp16 scales (largest, subnormal, zero, negative), n from one block
 * past the kernels' chunk of scales (64 blocks) to 5632, padded rows and
 * activation rows, output strides, and nothing written outside. */
static void check_path_rows16(const char *path, int *ran) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks);
    if (!ks.vec_dot_rows16_tokens[EMBER_TYPE_Q8_0]) return;
    const int lens[] = { 32, 64, 96, 2048, 2080, 4128, 5632 };
    const uint16_t scales[] = { 0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x0000, 0x3C00, 0x0400, 0x5BFF };
    for (int li = 0; li < NELEM(lens); li++) {
        const int n = lens[li], nb = n / 32;
        const size_t rb = ember_row_size(EMBER_TYPE_Q8_0, n) + (size_t)(li % 2) * sizeof(block_q8_0); /* padded rows */
        const size_t ys = ember_row_size(EMBER_TYPE_Q8_0, n) + (size_t)(li % 3 == 1) * sizeof(block_q8_0);
        char *x = malloc(16 * rb), *y = malloc(8 * ys);
        float *tmp = malloc(sizeof(float) * (size_t)n);
        for (int mode = 0; mode < 4; mode++) {
            for (int r = 0; r < 16; r++) {
                block_q8_0 *bx = (block_q8_0 *)(x + r * rb);
                make_row(EMBER_TYPE_Q8_0, n, bx, tmp, r == 3 ? 1e4f : 0.5f + r, 0);
                for (int b = 0; b < nb; b++) {
                    for (int j = 0; j < 32; j++) {
                        if (mode == 1 && r % 5 == 2) bx[b].qs[j] = (j + b) % 3 ? -128 : 127;
                        if (mode >= 2) bx[b].qs[j] = (int8_t)(rnd_u32() & 0xFF);
                    }
                    if (mode == 2) bx[b].d = (uint16_t)(rnd_u32() % 0x7C00 | (rnd_u32() & 0x8000)); /* finite */
                    if (mode == 3) bx[b].d = scales[(b + r) % NELEM(scales)];
                }
            }
            for (int k = 0; k < 8; k++) {
                block_q8_0 *by = (block_q8_0 *)(y + k * ys);
                make_row(EMBER_TYPE_Q8_0, n, by, tmp, 1.0f + 3 * k, 1);
                for (int b = 0; b < nb; b++) {
                    for (int j = 0; j < 32; j++) {
                        if (mode == 1 && k == 3) by[b].qs[j] = j % 2 ? -127 : 127;
                        if (mode >= 2) by[b].qs[j] = (int8_t)((int)(rnd_u32() % 255) - 127);
                        if (mode == 3 && (k + b) % 4 == 0) by[b].qs[j] = (j + k) % 2 ? -127 : 127;
                    }
                    if (mode == 2) by[b].d = (uint16_t)(rnd_u32() % 0x7C00 | (rnd_u32() & 0x8000));
                    if (mode == 3) by[b].d = scales[(3 * b + k) % NELEM(scales)];
                }
            }
            float want[8][16];
            for (int k = 0; k < 8; k++)
                for (int r = 0; r < 16; r++) {
                    const float model = model_quant_dot(EMBER_TYPE_Q8_0, n, x + r * rb, y + k * ys);
                    float lanes;
                    ember_vec_dot_q8_0_lanes(n, &lanes, x + r * rb, y + k * ys);
                    ks.vec_dot[EMBER_TYPE_Q8_0](n, &want[k][r], x + r * rb, y + k * ys);
                    CHECKF(bits(want[k][r]) == bits(model) && bits(lanes) == bits(model),
                           "%s Q8_0 n=%d mode %d row %d token %d: dot %.9g lanes %.9g model %.9g", path, n, mode, r, k,
                           want[k][r], lanes, model);
                }
            for (int nt = 1; nt <= 8; nt++) {
                float out[8][21];
                memset(out, 0x7F, sizeof out);
                /* tokens from the end of the batch, outputs at column 3 of rows 21 apart */
                ks.vec_dot_rows16_tokens[EMBER_TYPE_Q8_0](n, out[0] + 3, 21, x, rb, y + (8 - nt) * ys, ys, nt);
                for (int t = 0; t < 8; t++)
                    for (int c = 0; c < 21; c++) {
                        if (t < nt && c >= 3 && c < 19) {
                            CHECKF(bits(out[t][c]) == bits(want[8 - nt + t][c - 3]),
                                   "%s Q8_0 rows16 n=%d mode %d nt=%d t=%d r=%d: %.9g vs dot %.9g", path, n, mode, nt, t,
                                   c - 3, out[t][c], want[8 - nt + t][c - 3]);
                            (*ran)++;
                        } else
                            CHECKF(out[t][c] > 1e38f, "%s Q8_0 rows16 nt=%d wrote outside (t=%d c=%d)", path, nt, t, c);
                    }
            }
        }
        free(x); free(y); free(tmp);
    }
}

static void test_q8_0_rows16(void) {
    int ran = 0;
    for (int p = 0; p < NELEM(PATHS); p++)
        if (ember_cpu_path_supported(PATHS[p])) check_path_rows16(PATHS[p], &ran);
    if (!ran) printf("note: no Q8_0 rows16 kernel on this CPU (needs AVX2)\n");
}

/* Prompt-order tiles of the float formats: bit-identical to the same
 * path's prompt-order dot and to the portable reference. */
static void check_path_prefill_tiles(const char *path) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks);
    const int lens[] = { 32, 64, 96, 2048 };
    for (int type = 0; type < EMBER_TYPE_COUNT; type++) {
        if (!ks.vec_dot_prefill_tile[type]) continue;
        const ember_type_traits *t = ember_type_get(type);
        CHECK(ks.vec_dot_prefill[type] != NULL && t->vec_dot_prefill_ref != NULL);
        for (int li = 0; li < NELEM(lens); li++) {
            const int n = lens[li];
            const size_t xb = ember_row_size(type, n), yb = ember_row_size(t->vec_dot_type, n);
            enum { T = EMBER_TILE_TOKENS, SS = T + 1 };
            char *x = malloc(4 * xb), *y = malloc(T * yb);
            float *tmp = malloc(sizeof(float) * (size_t)n);
            for (int r = 0; r < 4; r++) make_row(type, n, x + r * xb, tmp, r == 3 ? 300.0f : 0.5f + r, 0);
            for (int k = 0; k < T; k++) make_row(t->vec_dot_type, n, y + k * yb, tmp, 1.0f + 3 * k, 1);
            for (int nr = 1; nr <= 4; nr++)
                for (int nt = 1; nt <= T; nt++) {
                    float s[T * SS];
                    for (int i = 0; i < T * SS; i++) s[i] = -1.0f;
                    ks.vec_dot_prefill_tile[type](n, s, SS, x + (4 - nr) * xb, xb, nr, y + (T - nt) * yb, yb, nt);
                    for (int k = 0; k < nt; k++)
                        for (int r = 0; r < nr; r++) {
                            float one, ref;
                            ks.vec_dot_prefill[type](n, &one, x + (4 - nr + r) * xb, y + (T - nt + k) * yb);
                            t->vec_dot_prefill_ref(n, &ref, x + (4 - nr + r) * xb, y + (T - nt + k) * yb);
                            CHECKF(bits(s[k * SS + r]) == bits(one) && bits(one) == bits(ref),
                                   "%s %s prefill tile n=%d nr=%d nt=%d (%d,%d): %.9g vs dot %.9g ref %.9g", path, t->name,
                                   n, nr, nt, r, k, s[k * SS + r], one, ref);
                        }
                    /* nothing written beyond the tile */
                    for (int k = 0; k < T; k++)
                        for (int r = 0; r < SS; r++)
                            if (k >= nt || r >= nr) CHECK(s[k * SS + r] == -1.0f);
                }
            free(x); free(y); free(tmp);
        }
    }
}

/* Tiles over many rows (a prompt matmul passes a block of up to 64 rows in
 * one call): every output still the prompt-order dot's, nothing written
 * outside the block. Lengths past 2048 take AVX-512 BF16's chunked walk
 * (chunks of 1024 and a short last one). */
static void check_path_prefill_blocks(const char *path) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks);
    const int lens[] = { 64, 2080, 4160 };
    const int row_counts[] = { 5, 64, 70, 131 };
    enum { R = 131, T = EMBER_TILE_TOKENS, SS = R + 3 };
    for (int type = 0; type < EMBER_TYPE_COUNT; type++) {
        if (!ks.vec_dot_prefill_tile[type]) continue;
        const ember_type_traits *t = ember_type_get(type);
        for (int li = 0; li < NELEM(lens); li++) {
            const int n = lens[li];
            const size_t xb = ember_row_size(type, n), yb = ember_row_size(t->vec_dot_type, n);
            char *x = malloc(R * xb), *y = malloc(T * yb);
            float *tmp = malloc(sizeof(float) * (size_t)n), *s = malloc(sizeof(float) * T * SS), *one = malloc(sizeof(float) * T * R);
            for (int r = 0; r < R; r++) make_row(type, n, x + r * xb, tmp, r % 7 == 3 ? 300.0f : 0.5f + (float)(r % 5), 0);
            for (int k = 0; k < T; k++) make_row(t->vec_dot_type, n, y + k * yb, tmp, 1.0f + 3 * k, 1);
            for (int k = 0; k < T; k++)
                for (int r = 0; r < R; r++) ks.vec_dot_prefill[type](n, &one[k * R + r], x + r * xb, y + k * yb);
            for (int ri = 0; ri < NELEM(row_counts); ri++)
                for (int nt = 1; nt <= T; nt += nt < 2 ? 1 : 2) { /* 1, 2, 4, 6 */
                    const int nr = row_counts[ri], r0 = R - nr;
                    for (int i = 0; i < T * SS; i++) s[i] = -1.0f;
                    ks.vec_dot_prefill_tile[type](n, s + 1, SS, x + r0 * xb, xb, nr, y, yb, nt);
                    int bad = 0;
                    for (int k = 0; k < T; k++)
                        for (int i = 0; i < SS; i++) {
                            const int r = i - 1, in = k < nt && r >= 0 && r < nr;
                            const float want = in ? one[k * R + r0 + r] : -1.0f;
                            if (bits(s[k * SS + i]) != bits(want) && !bad++)
                                CHECKF(0, "%s %s prefill tile n=%d nr=%d nt=%d at (%d,%d): %.9g, want %.9g", path, t->name,
                                       n, nr, nt, r, k, s[k * SS + i], want);
                        }
                    CHECK(bad == 0);
                }
            free(x); free(y); free(tmp); free(s); free(one);
        }
    }
}

static void test_tiles(void) {
    int ran = 0;
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        check_path_packed(PATHS[p]);
        check_path_packed_type(PATHS[p], EMBER_TYPE_Q5_0);
        check_path_packed_type(PATHS[p], EMBER_TYPE_Q4_1);
        check_path_packed_type(PATHS[p], EMBER_TYPE_Q5_1);
        check_path_prefill_tiles(PATHS[p]);
        check_path_prefill_blocks(PATHS[p]);
        ember_kernel_set ks;
        ember_kernels_for_path(PATHS[p], &ks);
        ran += ks.vec_dot_packed_tokens[EMBER_TYPE_Q8_0] != NULL;
    }
    if (!ran) printf("note: no packed Q8_0 kernel on this CPU (needs AVX-512 VNNI)\n");
}

/* Row operations: every path's SwiGLU bit-identical to the reference,
 * over ordinary values and the exp polynomial's edges (overflow, underflow
 * into subnormals, the |n| > 192 cut-off, signed zeros). */
static void test_rowops(void) {
    const float edge[] = { 0.0f, -0.0f, 1e-30f, -1e-30f, 87.0f, -87.0f, 88.7f, -88.7f, 89.0f, -89.0f, 103.0f, -103.0f,
                           104.0f, -104.0f, 120.0f, -120.0f, 133.0f, -133.0f, 140.0f, -140.0f, 200.0f, -200.0f, 1e30f, -1e30f };
    const int lens[] = { 1, 15, 16, 17, 48, 5632 };
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(PATHS[p], &ks);
        if (!ks.swiglu) continue;
        for (int li = 0; li < NELEM(lens); li++) {
            const int n = lens[li];
            float *g = malloc(sizeof(float) * (size_t)n), *u = malloc(sizeof(float) * (size_t)n);
            float *a = malloc(sizeof(float) * (size_t)n);
            for (int rep = 0; rep < 3; rep++) {
                fill(g, n, rep == 0 ? 4.0f : rep == 1 ? 60.0f : 150.0f);
                fill(u, n, 3.0f);
                if (rep == 2)
                    for (int i = 0; i < n; i++) g[i] = edge[i % NELEM(edge)];
                memcpy(a, g, sizeof(float) * (size_t)n);
                ember_swiglu_ref(a, u, n);
                ks.swiglu(g, u, n);
                int bad = 0;
                for (int i = 0; i < n; i++) bad += bits(a[i]) != bits(g[i]) && !(isnan(a[i]) && isnan(g[i]));
                CHECKF(bad == 0, "%s swiglu n=%d rep=%d: %d of %d differ", PATHS[p], n, rep, bad, n);
                if (ks.softmax_exp_sum) { /* scores minus their max: all <= 0, some far below */
                    float mx = -INFINITY;
                    for (int i = 0; i < n; i++) mx = g[i] > mx ? g[i] : mx;
                    memcpy(a, g, sizeof(float) * (size_t)n);
                    const double s_ref = ember_softmax_exp_sum_ref(a, n, mx), s_got = ks.softmax_exp_sum(g, n, mx);
                    bad = 0;
                    for (int i = 0; i < n; i++) bad += bits(a[i]) != bits(g[i]) && !(isnan(a[i]) && isnan(g[i]));
                    CHECKF(bad == 0 && s_ref == s_got, "%s softmax n=%d rep=%d: %d differ, sum %.17g vs %.17g", PATHS[p], n,
                           rep, bad, s_got, s_ref);
                }
            }
            free(g); free(u); free(a);
        }
    }
}

/* Every path's RoPE bit-identical to the reference, both pair layouts,
 * rotated dimensions that leave vector tails, partial rotation. */
static void test_rope(void) {
    const int shapes[][3] = { {64, 64, 32}, {128, 128, 8}, {64, 32, 3}, {96, 96, 5}, {8, 8, 4}, {128, 72, 2} }; /* head_dim, n_rot, heads */
    int ran = 0;
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(PATHS[p], &ks);
        if (!ks.rope) continue;
        ran++;
        for (int si = 0; si < NELEM(shapes); si++)
            for (int neox = 0; neox < 2; neox++) {
                const int hd = shapes[si][0], n_rot = shapes[si][1], nh = shapes[si][2], n = hd * nh;
                float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n), cs[128];
                fill(a, n, 5.0f);
                memcpy(b, a, sizeof(float) * (size_t)n);
                for (int i = 0; i < n_rot; i += 2) { /* a position's pairs, angles up to ~1000 rad */
                    const float t = 997.0f * powf(10000.0f, -(float)i / (float)n_rot);
                    cs[i] = cosf(t);
                    cs[i + 1] = sinf(t);
                }
                ember_rope_ref(a, nh, hd, cs, n_rot, neox);
                ks.rope(b, nh, hd, cs, n_rot, neox);
                int bad = 0;
                for (int i = 0; i < n; i++) bad += bits(a[i]) != bits(b[i]);
                CHECKF(bad == 0, "%s rope hd=%d n_rot=%d neox=%d: %d of %d differ", PATHS[p], hd, n_rot, neox, bad, n);
                free(a); free(b);
            }
    }
    if (!ran) printf("note: no SIMD RoPE on this CPU\n");
}

/* Attention's scale-and-max step: the scaled scores bit for bit, the same
 * maximum (== : a zero's sign may differ, exp(x - max) does not see it),
 * NaNs passed over, every length's tail. A max taken over fewer lanes, or a
 * tail left unscaled, fails. */
static void test_scale_max(void) {
    const int lens[] = { 0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000 };
    int ran = 0;
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(PATHS[p], &ks);
        if (!ks.scale_max) continue;
        ran++;
        for (int li = 0; li < NELEM(lens); li++)
            for (int variant = 0; variant < 3; variant++) {
                const int n = lens[li];
                float *a = malloc(sizeof(float) * (size_t)(n + 1)), *b = malloc(sizeof(float) * (size_t)(n + 1));
                fill(a, n + 1, 8.0f);
                /* the largest element at the end (the tail) or a NaN in it */
                if (n && variant == 1) a[n - 1] = 100.0f;
                if (n && variant == 2) a[n - 1] = NAN;
                memcpy(b, a, sizeof(float) * (size_t)(n + 1));
                const float ma = ember_scale_max_ref(a, n, 0.125f), mb = ks.scale_max(b, n, 0.125f);
                int bad = 0;
                for (int i = 0; i < n; i++) bad += bits(a[i]) != bits(b[i]);
                CHECKF(bad == 0 && bits(a[n]) == bits(b[n]), "%s scale_max n=%d: %d of %d differ", PATHS[p], n, bad, n);
                CHECKF(ma == mb && !isnan(mb), "%s scale_max n=%d variant %d: max %.9g vs ref %.9g", PATHS[p], n, variant,
                       mb, ma);
                if (n && variant == 1) CHECK(mb == 12.5f);
                free(a); free(b);
            }
    }
    if (!ran) printf("note: no SIMD scale_max on this CPU\n");
}

/* RMS norm's sums of squares, eight rows side by side: each row's double
 * sum bit for bit the sequential one. The rows span ~40 binary orders of
 * magnitude, so a sum taken in another order (pairwise, or lanes joined at
 * the end) rounds differently and fails. */
static void test_sumsq_rows(void) {
    const int lens[] = { 1, 7, 64, 2048, 2051 };
    int ran = 0;
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(PATHS[p], &ks);
        if (!ks.sumsq_rows) continue;
        ran++;
        for (int li = 0; li < NELEM(lens); li++) {
            const int n = lens[li];
            const size_t stride = (size_t)n + 5;
            float *x = malloc(sizeof(float) * stride * 8);
            fill(x, (int)(stride * 8), 1.0f);
            for (size_t i = 0; i < stride * 8; i++) x[i] = ldexpf(x[i], (int)((i * 7919u) % 41u) - 20);
            for (int nr = 1; nr <= 8; nr++) {
                double a[8], b[8];
                ember_sumsq_rows_ref(x, stride, nr, n, a);
                for (int r = 0; r < 8; r++) b[r] = -1.0;
                ks.sumsq_rows(x, stride, nr, n, b);
                for (int r = 0; r < nr; r++)
                    CHECKF(memcmp(&a[r], &b[r], sizeof(double)) == 0, "%s sumsq_rows n=%d rows=%d row %d: %.17g vs ref %.17g",
                           PATHS[p], n, nr, r, b[r], a[r]);
                for (int r = nr; r < 8; r++) CHECK(b[r] == -1.0); /* nothing written past nrows */
            }
            free(x);
        }
    }
    if (!ran) printf("note: no SIMD sumsq_rows on this CPU\n");
}

/* RMS norm's mean square from the unordered sum: equal to the ordered
 * sum's (float)(sum / n) on every path, for rows spanning ~40 binary orders
 * of magnitude; and where an unordered sum within its error bound crosses a
 * float rounding boundary, the ordered chain decides. */
static void test_sumsq_mean(void) {
    const int lens[] = { 1, 3, 16, 64, 128, 2048, 2051, 5632 };
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        ember_formats_select_path(PATHS[p]);
        for (int li = 0; li < NELEM(lens); li++) {
            const int n = lens[li];
            float *x = malloc(sizeof(float) * (size_t)n);
            for (int trial = 0; trial < 200; trial++) {
                fill(x, n, 1.0f + (float)trial);
                if (trial % 2) for (int i = 0; i < n; i++) x[i] = ldexpf(x[i], (int)(((unsigned)i * 7919u + (unsigned)trial) % 41u) - 20);
                double ref;
                ember_sumsq_rows_ref(x, 0, 1, n, &ref);
                const float want = (float)(ref / n), got = ember_sumsq_mean(x, n);
                CHECKF(bits(want) == bits(got), "%s sumsq_mean n=%d trial %d: %.9g vs %.9g", PATHS[p], n, trial, got, want);
                const double u = ember_sumsq_unordered(x, n);
                CHECKF(fabs(u - ref) <= ref * n * 0x1p-52, "%s sumsq_unordered n=%d: %.17g vs %.17g", PATHS[p], n, u, ref);
            }
            free(x);
        }
    }
    ember_formats_select_path(NULL);
    /* ordered sum 2 + 2^-23, exact: its quarter is the midpoint between 0.5
     * and the next float and rounds to even (0.5); a sum 2^-50 above it
     * (well inside the bound) rounds up unless the check catches it */
    const float x[4] = { 1.0f, 1.0f, 0x1p-12f, 0x1p-12f };
    CHECK(ember_sumsq_mean_from(x, 4, 2.0 + 0x1p-23) == 0.5f);
    CHECK(ember_sumsq_mean_from(x, 4, 2.0 + 0x1p-23 + 0x1p-50) == 0.5f);
    CHECK(ember_sumsq_mean_from(x, 4, 2.0 + 0x1p-23 - 0x1p-50) == 0.5f);
    CHECK((float)((2.0 + 0x1p-23 + 0x1p-50) / 4) != 0.5f); /* the trap is real */
    /* NaN and infinity take the chain */
    const float y[3] = { 1.0f, NAN, 2.0f }, z[2] = { 1.0f, INFINITY };
    CHECK(isnan(ember_sumsq_mean(y, 3)) && isinf(ember_sumsq_mean(z, 2)));
    CHECK(ember_sumsq_mean(x, 0) != ember_sumsq_mean(x, 0)); /* 0 / 0 as the chain gives */
}

/* Rows x tokens (attention's F16 dots): every pair bit-identical to
 * vec_dot, for lengths with and without a tail past the 64-element steps
 * (32, 96: attention's padded lengths), row counts around the kernel's
 * groups of 8, rows and tokens with gaps between them. Values alternate in
 * sign and span orders of magnitude, so a tail added in another order (or
 * in float) rounds differently. */
static void test_rows_tokens(void) {
    const int lens[] = { 7, 32, 64, 96, 100, 128, 200 };
    const int nrs[] = { 1, 7, 8, 9, 17, 64 };
    int ran = 0;
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(PATHS[p], &ks);
        for (int type = 0; type < EMBER_TYPE_COUNT; type++) {
            if (!ks.vec_dot_rows_tokens[type]) continue;
            const ember_type_traits *t = ember_type_get(type);
            ran++;
            for (int li = 0; li < NELEM(lens); li++) {
                const int n = lens[li];
                const size_t rb = ember_row_size(type, n), yb = ember_row_size(t->vec_dot_type, n);
                const size_t x_stride = rb + 6, y_stride = yb + 10;
                char *xs = malloc(x_stride * 64), *ys = malloc(y_stride * 4);
                float *f = malloc(sizeof(float) * (size_t)n);
                /* element 0's product 2^30 and, in the tail, element
                 * np + 5's -2^30 cancel; every other product is ~2^-28,
                 * which a double holding 2^30 cannot keep: a tail summed in
                 * another order (or from another start) keeps different
                 * small terms */
                const int np = n & ~63, big = np + 5 < n ? np + 5 : -1;
                for (int r = 0; r < 64; r++) {
                    for (int i = 0; i < n; i++) f[i] = ldexpf(1.0f + 0.03125f * (float)((i + 3 * r) % 32), -14);
                    f[0] = 32768.0f;
                    if (big >= 0) f[big] = -32768.0f;
                    t->from_float_ref(f, xs + (size_t)r * x_stride, n);
                }
                for (int k = 0; k < 4; k++) {
                    for (int i = 0; i < n; i++) f[i] = ldexpf((i + k) % 5 ? 1.0f : -1.0f, -14 + (i + k) % 3);
                    f[0] = 32768.0f;
                    if (big >= 0) f[big] = 32768.0f;
                    ember_type_get(t->vec_dot_type)->from_float_ref(f, ys + (size_t)k * y_stride, n);
                }
                for (int ni = 0; ni < NELEM(nrs); ni++)
                    for (int nt = 1; nt <= 4; nt++) {
                        const int nr = nrs[ni];
                        const size_t s_stride = (size_t)nr + 3;
                        float *sv = malloc(sizeof(float) * s_stride * 4);
                        for (size_t i = 0; i < s_stride * 4; i++) sv[i] = -7.0f;
                        ks.vec_dot_rows_tokens[type](n, sv, s_stride, xs, x_stride, nr, ys, y_stride, nt);
                        int bad = 0, untouched = 1;
                        for (int k = 0; k < 4; k++)
                            for (int r = 0; r < (int)s_stride; r++) {
                                const float got = sv[(size_t)k * s_stride + r];
                                if (k < nt && r < nr) {
                                    float one;
                                    ks.vec_dot[type](n, &one, xs + (size_t)r * x_stride, ys + (size_t)k * y_stride);
                                    bad += bits(one) != bits(got);
                                } else untouched &= got == -7.0f;
                            }
                        CHECKF(bad == 0 && untouched, "%s %s rows_tokens n=%d nr=%d nt=%d: %d differ", PATHS[p], t->name, n, nr, nt, bad);
                        free(sv);
                    }
                free(xs); free(ys); free(f);
            }
        }
    }
    if (!ran) printf("note: no rows x tokens kernel on this CPU\n");
}

/* y = (x * s) * w with both roundings, on every path, also in place */
static void test_scale_mul(void) {
    const int lens[] = { 0, 1, 7, 8, 9, 64, 2051 };
    for (int p = 0; p < NELEM(PATHS); p++) {
        if (!ember_cpu_path_supported(PATHS[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(PATHS[p], &ks);
        if (!ks.scale_mul) continue;
        for (int li = 0; li < NELEM(lens); li++) {
            const int n = lens[li];
            float *x = malloc(sizeof(float) * (size_t)(n + 1)), *w = malloc(sizeof(float) * (size_t)(n + 1));
            float *a = malloc(sizeof(float) * (size_t)(n + 1)), *b = malloc(sizeof(float) * (size_t)(n + 1));
            fill(x, n + 1, 3.0f);
            fill(w, n + 1, 2.0f);
            a[n] = b[n] = 7.0f;
            ember_scale_mul_ref(a, x, 0.37f, w, n);
            ks.scale_mul(b, x, 0.37f, w, n);
            int bad = 0;
            for (int i = 0; i < n; i++) {
                const float v = x[i] * 0.37f;
                bad += bits(a[i]) != bits(b[i]) || bits(a[i]) != bits(v * w[i]);
            }
            CHECKF(bad == 0 && b[n] == 7.0f, "%s scale_mul n=%d: %d differ", PATHS[p], n, bad);
            ks.scale_mul(x, x, 0.37f, w, n); /* in place */
            bad = 0;
            for (int i = 0; i < n; i++) bad += bits(a[i]) != bits(x[i]);
            CHECKF(bad == 0, "%s scale_mul in place n=%d: %d differ", PATHS[p], n, bad);
            free(x); free(w); free(a); free(b);
        }
    }
}

/* The traits the engine uses are the selected path's (or the refs). */
static void test_traits_selected(void) {
    for (int ti = 0; ti < NELEM(DOT_TYPES); ti++) {
        const ember_type_traits *t = ember_type_get(DOT_TYPES[ti]);
        CHECK(t->vec_dot != NULL && t->from_float_ref != NULL);
    }
    CHECK(ember_type_get(EMBER_TYPE_Q8_0)->from_float != NULL);
    CHECK(ember_type_get(EMBER_TYPE_Q8_1)->from_float != NULL);
    CHECK(ember_row_size(EMBER_TYPE_Q4_0, 64) == 36);
    CHECK(ember_row_size(EMBER_TYPE_Q5_1, 32) == 24);
    CHECK(ember_row_size(EMBER_TYPE_Q8_1, 33) == 0);
    CHECK(sizeof(block_q4_0) == 18 && sizeof(block_q4_1) == 20 && sizeof(block_q5_0) == 22 &&
          sizeof(block_q5_1) == 24 && sizeof(block_q8_0) == 34 && sizeof(block_q8_1) == 36);
}

int main(void) {
    RUN(test_q8_0_known_block);
    RUN(test_q8_1_known_block);
    RUN(test_q4_0_known_block);
    RUN(test_q4_1_known_block);
    RUN(test_q5_0_known_block);
    RUN(test_q5_1_known_block);
    RUN(test_zero_blocks);
    RUN(test_roundtrip);
    RUN(test_ref_dot_vs_dequant);
    RUN(test_ref_dot_float_exact);
    RUN(test_simd_paths);
    RUN(test_tiles);
    RUN(test_q8_0_rows16);
    RUN(test_rowops);
    RUN(test_rope);
    RUN(test_scale_max);
    RUN(test_sumsq_rows);
    RUN(test_sumsq_mean);
    RUN(test_rows_tokens);
    RUN(test_scale_mul);
    RUN(test_traits_selected);
    TEST_EXIT();
}
