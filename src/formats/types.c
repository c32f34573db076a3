/* The traits table: one row per tensor type. */
#include "formats.h"
#include "../kernels/kernels.h"
#include <pthread.h>

static ember_type_traits g_traits[EMBER_TYPE_COUNT] = {
    [EMBER_TYPE_F32] = { "F32", 1, 4, 0, EMBER_TYPE_F32, ember_f32_to_float, ember_f32_from_float,
                         ember_vec_dot_f32_ref, 0, 0, ember_vec_dot_f32_prefill_ref, 0, 16 },
    [EMBER_TYPE_F16] = { "F16", 1, 2, 0, EMBER_TYPE_F16, ember_f16_to_float, ember_f16_from_float,
                         ember_vec_dot_f16_ref, 0, 0, ember_vec_dot_f16_prefill_ref, 0, 16 },
    [EMBER_TYPE_BF16] = { "BF16", 1, 2, 0, EMBER_TYPE_BF16, ember_bf16_to_float, ember_bf16_from_float,
                          ember_vec_dot_bf16_ref, 0, 0, ember_vec_dot_bf16_prefill_ref, 0, 32 },
    [EMBER_TYPE_Q4_0] = { "Q4_0", QK4_0, sizeof(block_q4_0), 1, EMBER_TYPE_Q8_0, ember_dequant_q4_0,
                          ember_quant_q4_0_ref, ember_vec_dot_q4_0_ref, 0, 0, 0, 0, 0,
                          ember_vec_dot_q4_0_rows8_ref, 0 },
    [EMBER_TYPE_Q4_1] = { "Q4_1", QK4_1, sizeof(block_q4_1), 1, EMBER_TYPE_Q8_1, ember_dequant_q4_1,
                          ember_quant_q4_1_ref, ember_vec_dot_q4_1_ref, 0, 0 },
    [EMBER_TYPE_Q5_0] = { "Q5_0", QK5_0, sizeof(block_q5_0), 1, EMBER_TYPE_Q8_0, ember_dequant_q5_0,
                          ember_quant_q5_0_ref, ember_vec_dot_q5_0_ref, 0, 0 },
    [EMBER_TYPE_Q5_1] = { "Q5_1", QK5_1, sizeof(block_q5_1), 1, EMBER_TYPE_Q8_1, ember_dequant_q5_1,
                          ember_quant_q5_1_ref, ember_vec_dot_q5_1_ref, 0, 0 },
    [EMBER_TYPE_Q8_0] = { "Q8_0", QK8_0, sizeof(block_q8_0), 1, EMBER_TYPE_Q8_0, ember_dequant_q8_0,
                          ember_quant_q8_0_ref, ember_vec_dot_q8_0_ref, 0, 0 },
    [EMBER_TYPE_Q8_1] = { "Q8_1", QK8_1, sizeof(block_q8_1), 1, EMBER_TYPE_Q8_1, ember_dequant_q8_1,
                          ember_quant_q8_1_ref, 0, 0, 0 },
    [EMBER_TYPE_Q2_K] = { "Q2_K", QK_K, sizeof(block_q2_K), 1, EMBER_TYPE_Q8_K, ember_dequant_q2_K,
                          ember_quant_q2_K_ref, ember_vec_dot_q2_K_ref, 0, 0 },
    [EMBER_TYPE_Q3_K] = { "Q3_K", QK_K, sizeof(block_q3_K), 1, EMBER_TYPE_Q8_K, ember_dequant_q3_K,
                          ember_quant_q3_K_ref, ember_vec_dot_q3_K_ref, 0, 0 },
    [EMBER_TYPE_Q4_K] = { "Q4_K", QK_K, sizeof(block_q4_K), 1, EMBER_TYPE_Q8_K, ember_dequant_q4_K,
                          ember_quant_q4_K_ref, ember_vec_dot_q4_K_ref, 0, 0 },
    [EMBER_TYPE_Q5_K] = { "Q5_K", QK_K, sizeof(block_q5_K), 1, EMBER_TYPE_Q8_K, ember_dequant_q5_K,
                          ember_quant_q5_K_ref, ember_vec_dot_q5_K_ref, 0, 0 },
    [EMBER_TYPE_Q6_K] = { "Q6_K", QK_K, sizeof(block_q6_K), 1, EMBER_TYPE_Q8_K, ember_dequant_q6_K,
                          ember_quant_q6_K_ref, ember_vec_dot_q6_K_ref, 0, 0 },
    [EMBER_TYPE_Q8_K] = { "Q8_K", QK_K, sizeof(block_q8_K), 1, EMBER_TYPE_Q8_K, ember_dequant_q8_K,
                          ember_quant_q8_K_ref, 0, 0, 0 },
};

static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static void (*g_swiglu)(float *g, const float *u, int n) = ember_swiglu_ref;

void ember_swiglu(float *g, const float *u, int n) { g_swiglu(g, u, n); }

static double (*g_softmax_exp_sum)(float *x, int n, float mx) = ember_softmax_exp_sum_ref;

double ember_softmax_exp_sum(float *x, int n, float mx) { return g_softmax_exp_sum(x, n, mx); }

static void (*g_rope)(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox) = ember_rope_ref;

void ember_rope(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox) {
    g_rope(x, n_heads, head_dim, cs, n_rot, neox);
}

static float (*g_scale_max)(float *x, int n, float s) = ember_scale_max_ref;

float ember_scale_max(float *x, int n, float s) { return g_scale_max(x, n, s); }

static void (*g_sumsq_rows)(const float *x, size_t stride, int nrows, int n, double *sums) = ember_sumsq_rows_ref;

void ember_sumsq_rows(const float *x, size_t stride, int nrows, int n, double *sums) {
    g_sumsq_rows(x, stride, nrows, n, sums);
}

static double (*g_sumsq_unordered)(const float *x, int n) = ember_sumsq_unordered_ref;

double ember_sumsq_unordered(const float *x, int n) { return g_sumsq_unordered(x, n); }

static void (*g_scale_mul)(float *y, const float *x, float s, const float *w, int n) = ember_scale_mul_ref;

void ember_scale_mul(float *y, const float *x, float s, const float *w, int n) { g_scale_mul(y, x, s, w, n); }

static void select_path(const char *path) {
    ember_kernel_set ks;
    ember_kernels_for_path(path, &ks); /* NULL: the path chosen for this CPU */
    g_swiglu = ks.swiglu ? ks.swiglu : ember_swiglu_ref;
    g_softmax_exp_sum = ks.softmax_exp_sum ? ks.softmax_exp_sum : ember_softmax_exp_sum_ref;
    g_rope = ks.rope ? ks.rope : ember_rope_ref;
    g_scale_max = ks.scale_max ? ks.scale_max : ember_scale_max_ref;
    g_sumsq_rows = ks.sumsq_rows ? ks.sumsq_rows : ember_sumsq_rows_ref;
    g_sumsq_unordered = ks.sumsq_unordered ? ks.sumsq_unordered : ember_sumsq_unordered_ref;
    g_scale_mul = ks.scale_mul ? ks.scale_mul : ember_scale_mul_ref;
    for (int t = 0; t < EMBER_TYPE_COUNT; t++) {
        ember_type_traits *tr = &g_traits[t];
        if (!tr->name) continue;
        tr->vec_dot = ks.vec_dot[t] ? ks.vec_dot[t] : tr->vec_dot_ref;
        tr->from_float = ks.from_float[t] ? ks.from_float[t] : tr->from_float_ref;
        tr->vec_dot_prefill = ks.vec_dot_prefill[t] ? ks.vec_dot_prefill[t] : tr->vec_dot_prefill_ref;
        tr->vec_dot_rows8 = ks.vec_dot_rows8[t] ? ks.vec_dot_rows8[t] : tr->vec_dot_rows8_ref;
        tr->vec_dot_rows8_x8 = ks.vec_dot_rows8_x8[t];
        tr->vec_dot_tokens = ks.vec_dot_tokens[t];
        tr->vec_dot_rows_tokens = ks.vec_dot_rows_tokens[t];
        tr->vec_dot_rows4 = ks.vec_dot_rows4[t];
        tr->vec_dot_rows16_tokens = ks.vec_dot_rows16_tokens[t];
        /* a prompt-order tile is only valid next to the matching dot */
        tr->vec_dot_prefill_tile = ks.vec_dot_prefill[t] ? ks.vec_dot_prefill_tile[t] : 0;
        tr->vec_dot_packed_tokens = ks.vec_dot_packed_tokens[t];
        /* the packed kernels come with the layout they read */
        tr->layout = tr->vec_dot_packed_tokens ? ks.packed_layout[t] : 0;
        if (!tr->layout) tr->vec_dot_packed_tokens = 0;
        tr->packed_decode = tr->layout && ks.packed_decode[t];
        tr->gemm_packed = tr->layout ? ks.gemm_packed[t] : 0;
    }
}

static void init_once(void) { select_path(NULL); }

void ember_formats_init(void) { pthread_once(&g_once, init_once); }

void ember_formats_select_path(const char *path) {
    ember_formats_init();
    select_path(path);
}

const ember_type_traits *ember_type_get(int type) {
    if (type < 0 || type >= EMBER_TYPE_COUNT || !g_traits[type].name) return 0;
    ember_formats_init();
    return &g_traits[type];
}

void ember_weight_copies(const ember_type_traits *tr, int64_t rows, int huge_pages, int *repack,
                         int *row_copy) {
    *repack = tr && tr->layout && rows % tr->layout->rows == 0;
    *row_copy = tr && huge_pages && !(*repack && tr->packed_decode);
}

int ember_type_supported(int type) { return ember_type_get(type) != 0; }

const char *ember_type_name(int type) {
    const ember_type_traits *t = ember_type_get(type);
    return t ? t->name : "?";
}

size_t ember_row_size(int type, int64_t n) {
    const ember_type_traits *t = ember_type_get(type);
    if (!t || n < 0 || n % t->block_size) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}
