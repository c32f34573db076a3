/* The AVX2-path prompt kernels of Q4_1, Q5_0 and Q5_1 (and Q8_0's, built
 * from the same body, q8_0_avx2_body.h): vec_dot_rows16_tokens (16 rows x
 * 1..8 tokens) and vec_dot_tokens (1 row x 1..8 tokens) give exactly the
 * path's vec_dot for every output, bit for bit, on every path that has
 * them (avx2, avxvnni-emu, avx512 which inherits them): quantized random
 * rows and raw random blocks (random qs/qh bytes, random finite scales and
 * mins), activations quantized from random floats or at +-127, several n
 * (one block, three, past and across the kernels' 64-block chunks), padded
 * rows and activation rows, an output stride, and nothing written outside
 * the outputs. vec_dot itself must equal the scalar lane-order dot. */
#include "test.h"
#include "formats/formats.h"
#include "formats/fp16.h"
#include "kernels/kernels.h"
#include "runtime/cpu.h"
#include <math.h>

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t next32(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 32); }
static float frand(void) { return (float)next32() / 4294967296.0f * 2.0f - 1.0f; }

static const int types[] = {EMBER_TYPE_Q4_1, EMBER_TYPE_Q5_0, EMBER_TYPE_Q5_1, EMBER_TYPE_Q8_0};

static int has_min(int t) { return t == EMBER_TYPE_Q4_1 || t == EMBER_TYPE_Q5_1; }

/* a random finite f16 of magnitude about 2^lo .. 2^hi, either sign */
static uint16_t rand_f16(int lo, int hi) {
    const float v = ldexpf(1.0f + (float)(next32() % 1024) / 1024.0f, lo + (int)(next32() % (unsigned)(hi - lo + 1)));
    return ember_fp32_to_fp16(next32() & 1 ? -v : v);
}

/* nb weight blocks: quantized from random floats (mode 0) or random bytes
 * with random finite scales d and mins m (mode 1) */
static void weight_row(int t, uint8_t *row, int nb, int mode) {
    const ember_type_traits *tr = ember_type_get(t);
    if (mode == 0) {
        float *x = malloc(sizeof(float) * 32 * (size_t)nb);
        const float scale = 0.01f + 2.0f * (frand() + 1.0f);
        for (int i = 0; i < 32 * nb; i++) x[i] = frand() * scale + (has_min(t) ? 0.3f * scale : 0.0f);
        tr->from_float_ref(x, row, 32 * (int64_t)nb);
        free(x);
        return;
    }
    for (size_t i = 0; i < tr->type_size * (size_t)nb; i++) row[i] = (uint8_t)next32();
    for (int b = 0; b < nb; b++) {
        uint8_t *blk = row + (size_t)b * tr->type_size;
        const uint16_t d = rand_f16(-14, 2), m = rand_f16(-16, 8);
        memcpy(blk, &d, 2); /* d first in every one of these blocks */
        if (has_min(t)) memcpy(blk + 2, &m, 2);
    }
}

/* nb activation blocks (Q8_1 for Q4_1/Q5_1, else Q8_0): quantized from
 * random floats (mode 0), or qs at +-127 with random signs (1), all +127
 * (2), all -127 (3), with random scales (and Q8_1 sums d * sum(qs)) */
static void act_row(int t, uint8_t *row, int nb, int mode) {
    const int q81 = has_min(t);
    if (mode == 0) {
        float *x = malloc(sizeof(float) * 32 * (size_t)nb);
        const float scale = 0.1f + 4.0f * (frand() + 1.0f);
        for (int i = 0; i < 32 * nb; i++) x[i] = frand() * scale;
        (q81 ? ember_quant_q8_1_act : ember_quant_q8_0_act)(x, row, 32 * (int64_t)nb);
        free(x);
        return;
    }
    for (int b = 0; b < nb; b++) {
        int8_t qs[32];
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            qs[j] = (int8_t)(mode == 2 ? 127 : mode == 3 ? -127 : next32() & 1 ? 127 : -127);
            sum += qs[j];
        }
        const uint16_t d = rand_f16(-12, -4);
        if (q81) {
            block_q8_1 *y = (block_q8_1 *)row + b;
            y->d = d;
            y->s = ember_fp32_to_fp16(ember_fp16_to_fp32(d) * (float)sum);
            memcpy(y->qs, qs, 32);
        } else {
            block_q8_0 *y = (block_q8_0 *)row + b;
            y->d = d;
            memcpy(y->qs, qs, 32);
        }
    }
}

static ember_vec_dot_fn lanes_dot(int t) {
    return t == EMBER_TYPE_Q4_1 ? ember_vec_dot_q4_1_lanes
           : t == EMBER_TYPE_Q5_0 ? ember_vec_dot_q5_0_lanes
           : t == EMBER_TYPE_Q5_1 ? ember_vec_dot_q5_1_lanes
                                  : ember_vec_dot_q8_0_lanes;
}

#define SENT (-1234.5f)
#define S_STRIDE 21
#define S_OFF 3

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* one path, one type, one n: weights and activations in every mode */
static void check(const char *path, const ember_kernel_set *ks, int t, int n, int *tested) {
    const ember_type_traits *tr = ember_type_get(t);
    const int nb = n / 32;
    const int q81 = has_min(t);
    const size_t ab = q81 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    for (int trial = 0; trial < 4; trial++) {
        const size_t row_bytes = tr->type_size * (size_t)(nb + (trial & 1));
        const size_t ys = ab * (size_t)(nb + (trial >> 1));
        uint8_t *w = malloc(row_bytes * 16), *a = malloc(ys * 8);
        memset(w, 0xA5, row_bytes * 16);
        memset(a, 0x5A, ys * 8);
        for (int r = 0; r < 16; r++) weight_row(t, w + (size_t)r * row_bytes, nb, (r + trial) % 2);
        for (int k = 0; k < 8; k++) act_row(t, a + (size_t)k * ys, nb, (k + trial) % 4);
        /* the path's vec_dot (checked against the lane-order scalar dot) */
        float e[8][16];
        for (int k = 0; k < 8; k++)
            for (int r = 0; r < 16; r++) {
                float ref;
                ks->vec_dot[t](n, &e[k][r], w + (size_t)r * row_bytes, a + (size_t)k * ys);
                lanes_dot(t)(n, &ref, w + (size_t)r * row_bytes, a + (size_t)k * ys);
                CHECKF(same_bits(e[k][r], ref), "%s %s n=%d vec_dot %.9g vs lanes %.9g", path, tr->name, n, e[k][r], ref);
            }
        for (int nt = 1; nt <= 8; nt++) {
            /* rows16: tokens 8-nt..7 */
            float out[8 * S_STRIDE + S_OFF + 8];
            const int out_n = (int)(sizeof out / sizeof out[0]);
            for (int i = 0; i < out_n; i++) out[i] = SENT;
            ks->vec_dot_rows16_tokens[t](n, out + S_OFF, S_STRIDE, w, row_bytes, a + (size_t)(8 - nt) * ys, ys, nt);
            for (int i = 0; i < out_n; i++) {
                const int j = i - S_OFF, k = j / S_STRIDE, r = j % S_STRIDE;
                if (j < 0 || k >= nt || r >= 16) {
                    CHECKF(out[i] == SENT, "%s %s rows16 n=%d nt=%d wrote outside at %d", path, tr->name, n, nt, i);
                    continue;
                }
                CHECKF(same_bits(out[i], e[8 - nt + k][r]), "%s %s rows16 n=%d trial=%d nt=%d k=%d r=%d: %.9g vs dot %.9g",
                       path, tr->name, n, trial, nt, k, r, out[i], e[8 - nt + k][r]);
                (*tested)++;
            }
            /* tokens: one row (trial's) against tokens 0..nt-1 */
            if (!ks->vec_dot_tokens[t]) continue;
            const int r = (trial * 5 + nt) % 16;
            float s[10];
            for (int i = 0; i < 10; i++) s[i] = SENT;
            ks->vec_dot_tokens[t](n, s + 1, w + (size_t)r * row_bytes, a, ys, nt);
            for (int i = 0; i < 10; i++) {
                if (i == 0 || i > nt) {
                    CHECKF(s[i] == SENT, "%s %s tokens n=%d nt=%d wrote outside at %d", path, tr->name, n, nt, i);
                    continue;
                }
                CHECKF(same_bits(s[i], e[i - 1][r]), "%s %s tokens n=%d trial=%d nt=%d k=%d r=%d: %.9g vs dot %.9g", path,
                       tr->name, n, trial, nt, i - 1, r, s[i], e[i - 1][r]);
                (*tested)++;
            }
        }
        free(w);
        free(a);
    }
}

static void rows16_simple_bit_identical(void) {
    const char *paths[] = {"avx2", "avxvnni-emu", "avx512"};
    const int ns[] = {32, 96, 2048, 5632};
    int tested = 0;
    for (int p = 0; p < 3; p++) {
        if (!ember_cpu_path_supported(paths[p])) continue;
        ember_kernel_set ks;
        ember_kernels_for_path(paths[p], &ks);
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const int t = types[ti];
            CHECKF(ks.vec_dot_rows16_tokens[t] && ks.vec_dot_tokens[t], "%s: no rows16/tokens kernel for %s", paths[p],
                   ember_type_name(t));
            if (!ks.vec_dot_rows16_tokens[t]) continue;
            for (int i = 0; i < 4; i++) check(paths[p], &ks, t, ns[i], &tested);
        }
    }
    if (!tested) SKIP("no AVX2 path on this CPU");
    printf("note: %d outputs compared\n", tested);
}

int main(void) {
    RUN(rows16_simple_bit_identical);
    TEST_EXIT();
}
