/* The forward pass of the llama family (llama, qwen2, qwen3), readable top to
 * bottom in ember_forward(); kernels sit behind calls.
 *
 * Numerics follow llama.cpp's CPU graph so greedy tokens match it: matmul
 * inputs are converted to the weight's vec_dot_type (Q8_0/Q8_1/Q8_K/F16/BF16),
 * RMSNorm sums squares in double, RoPE angles come from repeated float
 * multiplication, K/V/Q/attention weights are rounded to F16 with an F16
 * cache, and the softmax sums in double.
 *
 * Invariance: every output element is one vec_dot call over a fixed order, and
 * every (token, head) attention row is computed independently, so results do
 * not depend on the thread count or on what else is in the batch. */
#include "context.h"
#include "../formats/formats.h"
#include "../formats/fp16.h"
#include <math.h>
#include <stdatomic.h>
#include <string.h>

/* ---- small per-row ops ------------------------------------------------ */

/* mean: the row's mean square, (float)(ordered double sum / n) */
static void rms_norm_mean(float *y, const float *x, const float *w, int n, float eps, float mean) {
    const float scale = 1.0f / sqrtf(mean + eps);
    ember_scale_mul(y, x, scale, w, n); /* x * scale, then * w: two ops in the graph */
}

static void rms_norm(float *y, const float *x, const float *w, int n, float eps) {
    rms_norm_mean(y, x, w, n, eps, ember_sumsq_mean(x, n));
}

/* RoPE's cos/sin pairs for position pos (n_rot floats), the same for every
 * layer: a pass computes them once per entry. The angles come from repeated
 * float multiplication, as in llama.cpp. */
static void rope_cache(float *cache, int pos, const ember_hparams *hp, const float *freq_factors) {
    const int n_rot = hp->n_rot;
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)n_rot);
    float theta = (float)pos;
    for (int i0 = 0; i0 < n_rot; i0 += 2) {
        const float ff = freq_factors ? freq_factors[i0 / 2] : 1.0f;
        const float t = hp->rope_freq_scale * (theta / ff);
        cache[i0] = cosf(t);
        cache[i0 + 1] = sinf(t);
        theta *= theta_scale;
    }
}

/* ---- matmul: y[t][r] = dot(W[r], x[t]) for several weights at once ------ */

#define MM_MAX 3
#define MM_TOK_ROWS 32 /* rows per block when token runs walk outermost */
#define MM_CLAIM_BLOCKS 8 /* 16-row blocks per claim */

typedef struct {
    ember_ctx *ctx;
    int n_mats;
    const ember_weight *w[MM_MAX];
    float *y[MM_MAX];
    int y_stride[MM_MAX];
    const float *x;
    int x_stride;
    int n_tok;
    const int8_t *prefill;   /* per token: use the prompt summation order */
    const void *act[MM_MAX];
    size_t act_stride[MM_MAX];
    void *aux[MM_MAX];       /* packed kernels' side data per activation row, or NULL */
    size_t aux_stride[MM_MAX];
    void (*aux_fn[MM_MAX])(const void *y, void *aux, int64_t n); /* set where m builds aux[m] */
    int act_ready;           /* matrix 0's activation rows were converted by their producer */
    int64_t total_rows;
} mm_task;

/* Converts the input rows to each weight's vec_dot_type (once per type),
 * then builds the packed kernels' side data from them (aux_fn[m] set: m
 * builds aux[m]); each thread does both for the same tokens. */
static void mm_convert(void *arg, int ith, int nth) {
    mm_task *t = arg;
    for (int m = 0; m < t->n_mats; m++) {
        const ember_type_traits *tr = ember_type_get(ember_type_get(t->w[m]->type)->vec_dot_type);
        if (tr == ember_type_get(EMBER_TYPE_F32)) continue;
        int first = !(m == 0 && t->act_ready);
        for (int p = 0; p < m; p++) if (t->act[p] == t->act[m]) first = 0;
        if (!first) continue;
        for (int i = ith; i < t->n_tok; i += nth)
            tr->from_float(t->x + (size_t)i * t->x_stride, (char *)t->act[m] + (size_t)i * t->act_stride[m], t->w[m]->cols);
    }
    for (int m = 0; m < t->n_mats; m++)
        if (t->aux_fn[m])
            for (int i = ith; i < t->n_tok; i += nth)
                t->aux_fn[m]((const char *)t->act[m] + (size_t)i * t->act_stride[m],
                             (char *)t->aux[m] + (size_t)i * t->aux_stride[m], t->w[m]->cols);
}

/* The packed copy serves this matrix for n_tok tokens if this path's
 * kernels read the layout it was made in. A lone token takes the file's
 * rows unless the path decodes from the packed copy: Q8_0's per-row dot
 * streams a single token faster (tl-q8_0 tg64 26.2 vs 24.4 t/s), and gives
 * the same results. */
static int use_packed(const ember_weight *w, int n_tok) {
    const ember_type_traits *tr = ember_type_get(w->type);
    return w->packed && tr->layout && w->packed_layout == tr->layout && tr->vec_dot_packed_tokens &&
           w->rows % tr->layout->rows == 0 && (n_tok > 1 || tr->packed_decode);
}

/* The packed kernels read activation side data (if the layout has any). */
static int packed_needs_aux(const ember_type_traits *tr) { return tr->layout->act_aux != 0; }

/* Rows [r0, r1) of all matrices (counted across them); blocks of rows reuse
 * each input row from cache while walking the weights once. */
static void mm_range(mm_task *t, int64_t r0, int64_t r1) {
    int64_t base = 0;
    for (int m = 0; m < t->n_mats && r0 < r1; m++) {
        const ember_weight *w = t->w[m];
        const int64_t lo = r0 > base ? r0 - base : 0;
        const int64_t hi = (r1 - base) < w->rows ? (r1 - base) : w->rows;
        if (lo < hi) {
            const ember_type_traits *tr = ember_type_get(w->type);
            const int n = (int)w->cols;
            ember_vec_dot_fn dot_gen = tr->vec_dot, dot_prompt = tr->vec_dot;
            /* llama.cpp's prompt GEMM takes matrices with rows % 4 == 0 and a
             * row length that fills its vectors; others use the dot. */
            if (tr->vec_dot_prefill && w->rows % 4 == 0 && n % tr->prefill_multiple == 0) dot_prompt = tr->vec_dot_prefill;
            /* Q4_0 matrices with rows % 8 == 0 are repacked by llama.cpp on
             * x86; its kernels then sum in another order, for all tokens */
            if (tr->vec_dot_rows8 && w->rows % 8 == 0) dot_gen = dot_prompt = tr->vec_dot_rows8;
            const int pr = tr->layout ? tr->layout->rows : 0;
            if (use_packed(w, t->n_tok) && lo % pr == 0 && hi % pr == 0 && tr->gemm_packed && t->n_tok > 8 && t->aux[m]) {
                /* a matrix engine takes the whole prompt per group of rows */
                for (int64_t r = lo; r < hi; r += pr)
                    tr->gemm_packed(n, &t->y[m][r], t->y_stride[m], (const char *)w->packed + (size_t)r * w->row_bytes,
                                    t->act[m], t->act_stride[m], t->aux[m], t->aux_stride[m], t->n_tok);
                base += w->rows;
                continue;
            }
            if (use_packed(w, t->n_tok) && lo % pr == 0 && hi % pr == 0 && (t->aux[m] || !packed_needs_aux(tr))) {
                /* repacked copy: a group of rows per call from one stream, up
                 * to eight tokens per weight load (same results per token) */
                for (int64_t rb = lo; rb < hi; rb += 16) {
                    const int64_t re = rb + 16 < hi ? rb + 16 : hi;
                    for (int tk = 0; tk < t->n_tok; tk += 8) {
                        const int nt = t->n_tok - tk < 8 ? t->n_tok - tk : 8;
                        const char *a = (const char *)t->act[m] + (size_t)tk * t->act_stride[m];
                        const char *aux = t->aux[m] ? (const char *)t->aux[m] + (size_t)tk * t->aux_stride[m] : 0;
                        float *y = t->y[m] + (size_t)tk * t->y_stride[m];
                        for (int64_t r = rb; r < re; r += pr) {
                            const char *g = (const char *)w->packed + (size_t)r * w->row_bytes;
                            tr->vec_dot_packed_tokens(n, &y[r], t->y_stride[m], g, a, t->act_stride[m], aux,
                                                      t->aux_stride[m], nt, t->n_tok <= 8);
                        }
                    }
                }
                base += w->rows;
                continue;
            }
            /* eight rows per call pays off when each weight block meets several
             * tokens; for one token the per-row kernel streams faster */
            if (t->n_tok > 1 && tr->vec_dot_rows8_x8 && w->rows % 8 == 0 && lo % 8 == 0 && (hi % 8 == 0 || hi == w->rows)) {
                /* eight rows per call, same per-output order */
                for (int64_t rb = lo; rb < hi; rb += 16) {
                    const int64_t re = rb + 16 < hi ? rb + 16 : hi;
                    for (int tk = 0; tk < t->n_tok; tk++) {
                        const char *a = (const char *)t->act[m] + (size_t)tk * t->act_stride[m];
                        float *y = t->y[m] + (size_t)tk * t->y_stride[m];
                        for (int64_t r = rb; r < re; r += 8)
                            tr->vec_dot_rows8_x8(n, &y[r], (const char *)w->data + (size_t)r * w->row_bytes, w->row_bytes, a);
                    }
                }
                base += w->rows;
                continue;
            }
            /* Every token takes vec_dot: runs of tokens outermost within
             * blocks of MM_TOK_ROWS rows, so a run's activations stay in L1
             * while the block's rows come from L2, instead of every row
             * streaming all the prompt's activations from L2/L3 (Q4_K kernel
             * ~1.4x faster). Runs of 8 through the 16-row kernel where the
             * type has one (Q4_K..Q6_K; Q8_0, Q4_1, Q5_0, Q5_1 on the avx2
             * path, where they have no packed copy), else runs of 4 through the multi-token
             * dot; both give vec_dot's results. */
            if (t->n_tok > 1 && dot_prompt == dot_gen && dot_gen == tr->vec_dot && tr->vec_dot_tokens) {
                const int run = tr->vec_dot_rows16_tokens ? 8 : 4; /* tokens per run */
                for (int64_t rb = lo; rb < hi; rb += MM_TOK_ROWS) {
                    const int64_t re = rb + MM_TOK_ROWS < hi ? rb + MM_TOK_ROWS : hi;
                    for (int tk = 0; tk < t->n_tok; tk += run) {
                        const int nt = t->n_tok - tk < run ? t->n_tok - tk : run;
                        const char *a = (const char *)t->act[m] + (size_t)tk * t->act_stride[m];
                        float *y = t->y[m] + (size_t)tk * t->y_stride[m];
                        int64_t r = rb;
                        if (tr->vec_dot_rows16_tokens) /* 16 rows per call where they fit */
                            for (; r + 16 <= re; r += 16)
                                tr->vec_dot_rows16_tokens(n, &y[r], t->y_stride[m], (const char *)w->data + (size_t)r * w->row_bytes,
                                                          w->row_bytes, a, t->act_stride[m], nt);
                        for (; r < re; r++)
                            for (int k0 = 0; k0 < nt; k0 += 4) {
                                const int nk = nt - k0 < 4 ? nt - k0 : 4;
                                float s4[4];
                                tr->vec_dot_tokens(n, s4, (const char *)w->data + (size_t)r * w->row_bytes,
                                                   a + (size_t)k0 * t->act_stride[m], t->act_stride[m], nk);
                                for (int k = 0; k < nk; k++) y[(size_t)(k0 + k) * t->y_stride[m] + r] = s4[k];
                            }
                    }
                }
                base += w->rows;
                continue;
            }
            /* Runs of tokens share calls: up to EMBER_TILE_TOKENS prompt entries
             * through the prompt-order tile, up to 4 tokens taking vec_dot through the
             * multi-token dot (each keeps its single dot's order exactly).
             * Multi-token runs walk rows outermost, so a row streamed from
             * memory serves every run while it is in L1. */
            /* pass 0 serves multi-token runs only: skip its walk when no
             * token takes vec_dot (a prompt through the tiles; the empty walk
             * cost ~3 % of an F16 prompt) */
            int any_vec_dot = 0;
            for (int tk = 0; tk < t->n_tok && !any_vec_dot; tk++)
                any_vec_dot = (t->prefill && t->prefill[tk] ? dot_prompt : dot_gen) == tr->vec_dot;
            const int first_pass = any_vec_dot && tr->vec_dot_tokens ? 0 : 1;
            /* Without multi-token runs, blocks of up to 64 rows (about
             * 768 KiB of weights, a share of L2) meet each token run: the
             * prompt's activations stream from L3 once per block, 4x less
             * often than with 16 (tl-f16 pp512: +4-8 % in two runs of 6
             * alternations, 5/6 each; +0-5 %, 9/14, against the build
             * before). Each output is still one dot or tile. */
            int64_t block = 16;
            if (first_pass == 1)
                while (block < 64 && (size_t)block * 2 * w->row_bytes <= (768u << 10)) block *= 2;
            for (int64_t rb = lo; rb < hi; rb += block) {
                const int64_t re = rb + block < hi ? rb + block : hi;
                for (int pass = first_pass; pass < 2; pass++)
                    for (int64_t r = rb; r < (pass ? rb + 1 : re); r++)
                        for (int tk = 0; tk < t->n_tok;) {
                            const ember_vec_dot_fn dot = t->prefill && t->prefill[tk] ? dot_prompt : dot_gen;
                            /* the run of tokens taking the same dot from tk: up to
                             * 4 (the multi-token dot) or the prompt tile's width */
                            const int max_run = dot == tr->vec_dot_prefill && tr->vec_dot_prefill_tile ? EMBER_TILE_TOKENS : 4;
                            int nt = 1;
                            while (nt < max_run && tk + nt < t->n_tok &&
                                   (t->prefill && t->prefill[tk + nt] ? dot_prompt : dot_gen) == dot)
                                nt++;
                            const char *a = (const char *)t->act[m] + (size_t)tk * t->act_stride[m];
                            float *y = t->y[m] + (size_t)tk * t->y_stride[m];
                            const int multi = nt > 1 && dot == tr->vec_dot && tr->vec_dot_tokens;
                            if (pass == 0 && multi) { /* row r for this run */
                                float s4[4];
                                tr->vec_dot_tokens(n, s4, (const char *)w->data + (size_t)r * w->row_bytes, a,
                                                   t->act_stride[m], nt);
                                for (int k = 0; k < nt; k++) y[(size_t)k * t->y_stride[m] + r] = s4[k];
                            } else if (pass == 1 && !multi) { /* all rows of the block for this run */
                                if (nt > 1 && dot == tr->vec_dot_prefill && tr->vec_dot_prefill_tile) {
                                    /* the whole block in one call: the kernel orders its tiles */
                                    tr->vec_dot_prefill_tile(n, y + rb, (size_t)t->y_stride[m],
                                                             (const char *)w->data + (size_t)rb * w->row_bytes, w->row_bytes,
                                                             (int)(re - rb), a, t->act_stride[m], nt);
                                } else {
                                    nt = 1;
                                    int64_t q = rb;
                                    if (dot == tr->vec_dot && tr->vec_dot_rows4) /* four rows' chains at once */
                                        for (; q + 4 <= re; q += 4)
                                            tr->vec_dot_rows4(n, &y[q], (const char *)w->data + (size_t)q * w->row_bytes,
                                                              w->row_bytes, a);
                                    for (; q < re; q++)
                                        dot(n, &y[q], (const char *)w->data + (size_t)q * w->row_bytes, a);
                                }
                            }
                            tk += nt;
                        }
            }
        }
        base += w->rows;
    }
}

/* Claims n blocks of a share: from the front (own) or the back (stolen).
 * Returns the first block claimed and sets *got, or -1 if none is left. */
static int64_t mm_claim(ember_mm_claim *c, int from_back, int64_t n, int64_t *got) {
    uint64_t v = atomic_load_explicit(&c->blocks, memory_order_relaxed);
    for (;;) {
        const int64_t lo = (int64_t)(v & 0xffffffffu), hi = (int64_t)(v >> 32);
        if (lo >= hi) return -1;
        /* a quarter of what is left, at most n: the last claims of a
         * matmul are single blocks, so the threads finish together */
        const int64_t q = (hi - lo + 3) / 4, k = q < n ? q : n;
        const uint64_t nv = from_back ? (uint64_t)lo | (uint64_t)(hi - k) << 32 : (uint64_t)(lo + k) | (uint64_t)hi << 32;
        if (atomic_compare_exchange_weak_explicit(&c->blocks, &v, nv, memory_order_relaxed, memory_order_relaxed)) {
            *got = k;
            return from_back ? hi - k : lo;
        }
    }
}

/* Each thread walks its contiguous share of all rows (one long stream per
 * core) in claims of up to MM_CLAIM_BLOCKS blocks; a thread done early takes claims from
 * the back of the others' shares. On a shared machine one core often runs
 * slower for a while: with fixed halves the other waited ~15 % of every
 * decode matmul (TSC-instrumented tl-q4_0 tg128, mean |end lag| 35k of 230k
 * cycles). Chunks dealt out in turn instead lost more than they saved
 * (they broke the streams). Each row's result is the same whichever thread
 * computes it. */
static void mm_rows(void *arg, int ith, int nth) {
    mm_task *t = arg;
    if (nth == 1) {
        mm_range(t, 0, t->total_rows);
        return;
    }
    ember_mm_claim *claims = t->ctx->mm_claims;
    for (int v = 0; v < nth; v++) {
        const int victim = (ith + v) % nth;
        int64_t b0, k;
        while ((b0 = mm_claim(&claims[victim], v != 0, MM_CLAIM_BLOCKS, &k)) >= 0) {
            const int64_t r0 = b0 * 16, r1 = (b0 + k) * 16;
            mm_range(t, r0, r1 < t->total_rows ? r1 : t->total_rows);
        }
    }
}

/* Bytes of one activation row the matrix's dot reads, or 0 when it reads
 * the floats themselves. A producer that writes such rows at ctx->act (this
 * stride apart) while its rows are in cache lets the matmul of one matrix
 * skip the conversion pass (act_ready). */
static size_t act_row_bytes(const ember_weight *w) {
    const int vdt = ember_type_get(w->type)->vec_dot_type;
    return vdt == EMBER_TYPE_F32 ? 0 : ember_row_size(vdt, w->cols);
}

static void matmul_n(ember_ctx *ctx, int n_mats, const ember_weight **w, float **y, const float *x, int x_stride,
                     int n_tok, const int8_t *prefill, int act_ready) {
    if (ctx->mm_hook)
        for (int m = 0; m < n_mats; m++) ctx->mm_hook(ctx->mm_hook_ud, w[m], x, x_stride, n_tok);
    mm_task t;
    memset(&t, 0, sizeof t);
    t.ctx = ctx;
    t.prefill = prefill;
    t.n_mats = n_mats;
    t.x = x;
    t.x_stride = x_stride;
    t.n_tok = n_tok;
    t.act_ready = act_ready && n_mats == 1 && act_row_bytes(w[0]);
    size_t off = 0, aux_off = 0;
    int need_convert = 0;
    for (int m = 0; m < n_mats; m++) {
        t.w[m] = w[m];
        t.y[m] = y[m];
        t.y_stride[m] = (int)w[m]->rows;
        t.total_rows += w[m]->rows;
        int vdt = ember_type_get(w[m]->type)->vec_dot_type;
        if (vdt == EMBER_TYPE_F32) {
            t.act[m] = x;
            t.act_stride[m] = (size_t)x_stride * sizeof(float);
            continue;
        }
        int shared = -1;
        for (int p = 0; p < m; p++)
            if ((int)ember_type_get(w[p]->type)->vec_dot_type == vdt && w[p]->cols == w[m]->cols) shared = p;
        if (shared >= 0) {
            t.act[m] = t.act[shared];
            t.act_stride[m] = t.act_stride[shared];
            continue;
        }
        t.act_stride[m] = ember_row_size(vdt, w[m]->cols);
        t.act[m] = (char *)ctx->act + off;
        off += t.act_stride[m] * (size_t)n_tok;
        need_convert |= !(m == 0 && t.act_ready);
    }
    /* the packed kernels' side data: once per set of activation rows and
     * kind of side data that a matrix reads through its packed copy */
    for (int m = 0; m < n_mats; m++) {
        const ember_type_traits *wt = ember_type_get(w[m]->type);
        if (!use_packed(w[m], n_tok) || !packed_needs_aux(wt)) continue;
        int builder = -1;
        for (int p = 0; p < m && builder < 0; p++)
            if (t.act[p] == t.act[m] && t.aux_fn[p] == wt->layout->act_aux) builder = p;
        if (builder < 0) {
            const size_t stride = wt->layout->act_aux_size(w[m]->cols);
            if (aux_off + stride * (size_t)n_tok > ctx->act_aux_bytes) continue; /* per-row kernels then */
            t.aux[m] = (char *)ctx->act_aux + aux_off;
            t.aux_stride[m] = stride;
            t.aux_fn[m] = wt->layout->act_aux;
            aux_off += stride * (size_t)n_tok;
            need_convert = 1; /* the side data is built there */
        } else {
            t.aux[m] = t.aux[builder];
            t.aux_stride[m] = t.aux_stride[builder];
        }
    }
    if (need_convert) {
        if (n_tok > 1) ember_pool_run(ctx->pool, mm_convert, &t);
        else mm_convert(&t, 0, 1);
    }
    /* shares of whole claims, as even as they come */
    const int nth = ember_pool_size(ctx->pool);
    const int64_t nblk = (t.total_rows + 15) / 16,
                  per = (nblk + (int64_t)nth * MM_CLAIM_BLOCKS - 1) / ((int64_t)nth * MM_CLAIM_BLOCKS) * MM_CLAIM_BLOCKS;
    for (int i = 0; i < nth && nth > 1; i++) {
        const int64_t lo = per * i < nblk ? per * i : nblk, hi = per * (i + 1) < nblk ? per * (i + 1) : nblk;
        atomic_store_explicit(&ctx->mm_claims[i].blocks, (uint64_t)lo | (uint64_t)hi << 32, memory_order_relaxed);
    }
    ember_pool_run(ctx->pool, mm_rows, &t);
}

static void matmul(ember_ctx *ctx, const ember_weight *w, float *y, const float *x, int x_stride, int n_tok,
                   const int8_t *prefill, int act_ready) {
    matmul_n(ctx, 1, &w, &y, x, x_stride, n_tok, prefill, act_ready);
}

static void add_bias(float *y, const ember_weight *b, int n_tok, int dim) {
    if (!b->data) return;
    const float *bb = b->data;
    for (int t = 0; t < n_tok; t++)
        for (int i = 0; i < dim; i++) y[(size_t)t * dim + i] += bb[i];
}

/* ---- attention ---------------------------------------------------------- */

typedef struct {
    ember_ctx *ctx;
    int layer, n_tok;
    const int32_t *seq;
    const int *pos;
    const int8_t *prefill;
} attn_task;

/* Does token t attend through the prompt-order tiles (on this path)? */
static int attn_tiled(const attn_task *a, const ember_type_traits *tr, int hd, int t) {
    return a->prefill && a->prefill[t] && tr->vec_dot_prefill_tile && hd % tr->prefill_multiple == 0;
}

/* Token k's n_kv scores (at ts->scores + k * n_ctx) become attention
 * weights: scaled, softmaxed (sum in double), padded with zeros to the
 * length llama.cpp's dots take, and with an F16 cache rounded into
 * ts->p16 + k * n_ctx. Returns that length. */
static int attn_weights(const attn_task *a, ember_thread_scratch *ts, int k, int n_kv) {
    const ember_ctx *ctx = a->ctx;
    const int n_ctx = ctx->p.n_ctx;
    float *sc = ts->scores + (size_t)k * n_ctx;
    const float mx = ember_scale_max(sc, n_kv, ctx->model->hp.attn_scale);
    const double sum = ember_softmax_exp_sum(sc, n_kv, mx);
    (void)ember_scale_max(sc, n_kv, (float)(1.0 / sum));
    /* llama.cpp attends over the cache padded to 32 cells (the padding
     * has zero weight); the padded length decides which elements its
     * dot products vectorise, so ember pads the same way */
    int n_dot = (n_kv + 31) & ~31;
    if (n_dot > n_ctx) n_dot = n_kv;
    for (int j = n_kv; j < n_dot; j++) sc[j] = 0.0f;
    if (ctx->kv.type == EMBER_KV_F16) ember_type_get(EMBER_TYPE_F16)->from_float(sc, ts->p16 + (size_t)k * n_ctx, n_dot);
    return n_dot;
}

/* One head for a run of nt consecutive tokens (nt > 1 only for prompt
 * tokens of one sequence whose dots take the tiles): Q·K for up to
 * EMBER_TILE_TOKENS tokens per tile call and weights·V for the tokens that
 * pad to the same length. Every output is the dot a token alone would get:
 * the tiles give each (row, token) pair the single dot's order, and scores
 * past a token's own cache length are computed but never read. */
static void attn_head(const attn_task *a, ember_thread_scratch *ts, int t0, int nt, int h) {
    ember_ctx *ctx = a->ctx;
    const ember_hparams *hp = &ctx->model->hp;
    const int hd = hp->head_dim, n_head = hp->n_head, group = hp->n_head / hp->n_head_kv, kvh = h / group;
    const int QD = n_head * hd, n_ctx = ctx->p.n_ctx;
    const int f16 = ctx->kv.type == EMBER_KV_F16;
    const ember_type_traits *tr = ember_type_get(f16 ? EMBER_TYPE_F16 : EMBER_TYPE_F32);
    const ember_type_traits *h16 = ember_type_get(EMBER_TYPE_F16); /* from_float rounds like fp32_to_fp16 */
    const size_t elt = ctx->kv.elt;
    const int s = a->seq ? a->seq[t0] : 0;
    /* Prompt entries: Q·K in the prompt order when head_dim fills its
     * vectors; weights·V always (llama.cpp pads the cache to 32). */
    const int prompt = a->prefill && a->prefill[t0];
    ember_vec_dot_fn dot_qk = prompt && hd % tr->prefill_multiple == 0 ? tr->vec_dot_prefill : tr->vec_dot;
    const int tile_qk = dot_qk == tr->vec_dot_prefill && tr->vec_dot_prefill_tile;
    /* the queries, rounded to the cache's type: token k's at qv + k * q_stride */
    const char *qv = (const char *)(ctx->q + (size_t)t0 * QD + (size_t)h * hd);
    size_t q_stride = (size_t)QD * sizeof(float);
    if (f16) {
        for (int k = 0; k < nt; k++) h16->from_float(ctx->q + (size_t)(t0 + k) * QD + (size_t)h * hd, ts->q16 + (size_t)k * hd, hd);
        qv = (const char *)ts->q16;
        q_stride = (size_t)hd * sizeof(uint16_t);
    }
    int n_kv_max = 0;
    for (int k = 0; k < nt; k++) n_kv_max = a->pos[t0 + k] + 1 > n_kv_max ? a->pos[t0 + k] + 1 : n_kv_max;
    /* scores: token k's at ts->scores + k * n_ctx */
    const size_t k_stride = (size_t)ctx->kv.kv_dim * elt, v_stride = (size_t)n_ctx * elt;
    for (int j = 0; j < n_kv_max; j += tile_qk ? 4 : 1) {
        const char *krow = (const char *)ember_kv_k(&ctx->kv, s, a->layer, j) + (size_t)kvh * hd * elt;
        if (tile_qk)
            tr->vec_dot_prefill_tile(hd, &ts->scores[j], (size_t)n_ctx, krow, k_stride, n_kv_max - j < 4 ? n_kv_max - j : 4,
                                     qv, q_stride, nt);
        else dot_qk(hd, &ts->scores[j], krow, qv); /* nt == 1 */
    }
    int n_dot[EMBER_TILE_TOKENS];
    for (int k = 0; k < nt; k++) n_dot[k] = attn_weights(a, ts, k, a->pos[t0 + k] + 1);
    /* weights: token k's at pv + k * p_stride */
    const char *pv = f16 ? (const char *)ts->p16 : (const char *)ts->scores;
    const size_t p_stride = (size_t)n_ctx * elt;
    for (int k0 = 0; k0 < nt;) {
        int k1 = k0 + 1;
        while (k1 < nt && n_dot[k1] == n_dot[k0]) k1++;
        const int nd = n_dot[k0];
        ember_vec_dot_fn dot_pv = prompt && nd % tr->prefill_multiple == 0 ? tr->vec_dot_prefill : tr->vec_dot;
        float *out = ctx->att + (size_t)(t0 + k0) * QD + (size_t)h * hd;
        const char *p = pv + (size_t)k0 * p_stride;
        if (dot_pv == tr->vec_dot_prefill && tr->vec_dot_prefill_tile)
            for (int d = 0; d < hd; d += 4)
                tr->vec_dot_prefill_tile(nd, &out[d], (size_t)QD, ember_kv_v(&ctx->kv, s, a->layer, kvh * hd + d), v_stride,
                                         hd - d < 4 ? hd - d : 4, p, p_stride, k1 - k0);
        else
            for (int k = k0; k < k1; k++, out += QD, p += p_stride)
                for (int d = 0; d < hd; d++) dot_pv(nd, &out[d], ember_kv_v(&ctx->kv, s, a->layer, kvh * hd + d), p);
        k0 = k1;
    }
}

/* Heads h0..h0+nh-1 (nh <= 4, one K/V head) for token t, which is not a
 * prompt entry: each K row and V column is read once for all of them
 * through the multi-token dot, which gives each head vec_dot's result. */
static void attn_heads_token(const attn_task *a, ember_thread_scratch *ts, int t, int h0, int nh) {
    ember_ctx *ctx = a->ctx;
    const ember_hparams *hp = &ctx->model->hp;
    const int hd = hp->head_dim, kvh = h0 / (hp->n_head / hp->n_head_kv), QD = hp->n_head * hd, n_ctx = ctx->p.n_ctx;
    const int f16 = ctx->kv.type == EMBER_KV_F16;
    const ember_type_traits *tr = ember_type_get(f16 ? EMBER_TYPE_F16 : EMBER_TYPE_F32);
    if (!tr->vec_dot_tokens) {
        for (int k = 0; k < nh; k++) attn_head(a, ts, t, 1, h0 + k);
        return;
    }
    const size_t elt = ctx->kv.elt;
    const int s = a->seq ? a->seq[t] : 0, n_kv = a->pos[t] + 1;
    /* the queries, rounded to the cache's type: head k's at qv + k * q_stride */
    const float *q = ctx->q + (size_t)t * QD + (size_t)h0 * hd;
    const char *qv = (const char *)q;
    if (f16) {
        for (int k = 0; k < nh; k++) ember_type_get(EMBER_TYPE_F16)->from_float(q + (size_t)k * hd, ts->q16 + (size_t)k * hd, hd);
        qv = (const char *)ts->q16;
    }
    const size_t q_stride = (size_t)hd * elt;
    float s4[4];
    const char *k0 = (const char *)ember_kv_k(&ctx->kv, s, a->layer, 0) + (size_t)kvh * hd * elt;
    if (tr->vec_dot_rows_tokens) /* all positions in one call (rows kv_dim apart) */
        tr->vec_dot_rows_tokens(hd, ts->scores, (size_t)n_ctx, k0, (size_t)ctx->kv.kv_dim * elt, n_kv, qv, q_stride, nh);
    else
        for (int j = 0; j < n_kv; j++) {
            tr->vec_dot_tokens(hd, s4, k0 + (size_t)j * ctx->kv.kv_dim * elt, qv, q_stride, nh);
            for (int k = 0; k < nh; k++) ts->scores[(size_t)k * n_ctx + j] = s4[k];
        }
    int nd = 0;
    for (int k = 0; k < nh; k++) nd = attn_weights(a, ts, k, n_kv); /* the same length for every head */
    const char *pv = f16 ? (const char *)ts->p16 : (const char *)ts->scores;
    float *out = ctx->att + (size_t)t * QD + (size_t)h0 * hd;
    if (tr->vec_dot_rows_tokens) /* the head's V rows (n_ctx cells apart) in one call */
        tr->vec_dot_rows_tokens(nd, out, (size_t)hd, ember_kv_v(&ctx->kv, s, a->layer, kvh * hd), (size_t)n_ctx * elt, hd, pv,
                                (size_t)n_ctx * elt, nh);
    else
        for (int d = 0; d < hd; d++) {
            tr->vec_dot_tokens(nd, s4, ember_kv_v(&ctx->kv, s, a->layer, kvh * hd + d), pv, (size_t)n_ctx * elt, nh);
            for (int k = 0; k < nh; k++) out[(size_t)k * hd + d] = s4[k];
        }
}

/* A lone token's job reads K/V lines that the weights streamed since the
 * last token have pushed out of the caches, each load waiting on memory.
 * The V rows of the job's K/V head are asked for as its first job starts
 * (they are read after the scores), the next K/V head's K rows as its last
 * job starts. TSC per tl-q4_0 tg128 layer: attention 34.6k -> 31.1k. */
static void attn_prefetch_next(const attn_task *a, int kvh, int v_rows, int next_k) {
    const ember_ctx *ctx = a->ctx;
    const int s = a->seq ? a->seq[0] : 0, n_kv = a->pos[0] + 1, hd = ctx->model->hp.head_dim;
    const size_t elt = ctx->kv.elt;
    if ((size_t)hd * n_kv * elt > (256u << 10)) return; /* longer contexts would only evict what they fetch */
    if (v_rows) {
        const size_t bytes = (size_t)((n_kv + 31) & ~31) * elt;
        for (int d = kvh * hd; d < (kvh + 1) * hd; d++) {
            const char *v = ember_kv_v(&ctx->kv, s, a->layer, d);
            for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(v + b, 0, 3);
        }
    }
    if (next_k)
        for (int j = 0; j < n_kv; j++) {
            const char *k = (const char *)ember_kv_k(&ctx->kv, s, a->layer, j) + (size_t)(kvh + 1) * hd * elt;
            for (size_t b = 0; b < (size_t)hd * elt; b += 64) __builtin_prefetch(k + b, 0, 3);
        }
}

/* Jobs: up to 4 heads of one K/V head for a group of up to
 * EMBER_TILE_TOKENS consecutive tokens. Prompt entries go head by head, in
 * runs that share tiles (same sequence, all through the tiles); other
 * tokens take the heads together. With one group the threads take
 * contiguous ranges of jobs, so each K/V head is read by one thread (dealt
 * in turn, both threads read every K/V head: one-token attention took
 * ~17 % longer). */
static void attn_rows(void *arg, int ith, int nth) {
    attn_task *a = arg;
    ember_ctx *ctx = a->ctx;
    const ember_hparams *hp = &ctx->model->hp;
    const int f16 = ctx->kv.type == EMBER_KV_F16;
    const ember_type_traits *tr = ember_type_get(f16 ? EMBER_TYPE_F16 : EMBER_TYPE_F32);
    const int n_groups = (a->n_tok + EMBER_TILE_TOKENS - 1) / EMBER_TILE_TOKENS;
    const int group = hp->n_head / hp->n_head_kv, quads = (group + 3) / 4, n_jobs = n_groups * hp->n_head_kv * quads;
    int j0 = ith, j1 = n_jobs, step = nth;
    if (n_groups == 1) {
        const int per = (n_jobs + nth - 1) / nth;
        j0 = ith * per < n_jobs ? ith * per : n_jobs;
        j1 = j0 + per < n_jobs ? j0 + per : n_jobs;
        step = 1;
    }
    for (int job = j0; job < j1; job += step) {
        const int g = job / (hp->n_head_kv * quads), qd = job % (hp->n_head_kv * quads);
        /* the qd-th set of 4 query heads: K/V head kvh's heads are [kvh * group, (kvh + 1) * group) */
        const int kvh = qd / quads, h0 = kvh * group + qd % quads * 4, h1 = h0 + 4 < (kvh + 1) * group ? h0 + 4 : (kvh + 1) * group;
        if (a->n_tok == 1)
            attn_prefetch_next(a, kvh, qd % quads == 0, qd % quads == quads - 1 && job + 1 < j1);
        const int end = (g + 1) * EMBER_TILE_TOKENS < a->n_tok ? (g + 1) * EMBER_TILE_TOKENS : a->n_tok;
        for (int t0 = g * EMBER_TILE_TOKENS; t0 < end;) {
            int t1 = t0 + 1;
            if (!a->prefill || !a->prefill[t0]) {
                attn_heads_token(a, &ctx->ts[ith], t0, h0, h1 - h0);
            } else {
                if (attn_tiled(a, tr, hp->head_dim, t0))
                    while (t1 < end && attn_tiled(a, tr, hp->head_dim, t1) && (!a->seq || a->seq[t1] == a->seq[t0])) t1++;
                for (int h = h0; h < h1; h++) attn_head(a, &ctx->ts[ith], t0, t1 - t0, h);
            }
            t0 = t1;
        }
    }
}

/* ---- feed-forward activation ------------------------------------------- */

/* gate = silu(gate) * up, row by row. The first multiple-of-16 elements of
 * a row use expf_poly and the tail libm's expf, as llama.cpp does. */
typedef struct {
    float *gate;
    const float *up;
    int n_tok, n_ff;
    const ember_type_traits *act_type; /* the down matrix's activation rows, if not floats */
    char *act;
    size_t act_stride;
} swiglu_task;

/* Each row also goes out in the down matrix's activation type while it is
 * in L1: a separate pass re-read the prompt's floats from L3/memory (tl-f16
 * pp512: ~1 % of a layer, 11.5 MB per layer) */
static void swiglu_rows(void *arg, int ith, int nth) {
    swiglu_task *s = arg;
    for (int t = ith; t < s->n_tok; t += nth) {
        float *g = s->gate + (size_t)t * s->n_ff;
        ember_swiglu(g, s->up + (size_t)t * s->n_ff, s->n_ff);
        if (s->act) s->act_type->from_float(g, s->act + (size_t)t * s->act_stride, s->n_ff);
    }
}

/* x += y, row by row */
typedef struct { float *x; const float *y; int n_tok, n; } add_task;

static void add_rows(void *arg, int ith, int nth) {
    add_task *a = arg;
    for (int t = ith; t < a->n_tok; t += nth) {
        float *x = a->x + (size_t)t * a->n;
        const float *y = a->y + (size_t)t * a->n;
        for (int i = 0; i < a->n; i++) x[i] += y[i];
    }
}

/* ---- per-token steps ---------------------------------------------------- */

/* A prompt's per-token steps run on the pool (serial they held the other
 * core idle ~8 % of a tl-q4_0 prompt); a lone token runs them in place. */
typedef struct {
    ember_ctx *ctx;
    const ember_layer *L;
    int layer, n;
    const int32_t *seq;
    const int *pos;
    const float *norm; /* norm_rows: the weights */
} tok_task;

/* fn over n tokens' rows: on the pool for several, in place for one
 * (waking the pool costs more than one row's work); SwiGLU uses it too */
static void per_token(ember_ctx *ctx, void (*fn)(void *, int, int), void *task, int n) {
    if (n > 1) ember_pool_run(ctx->pool, fn, task);
    else fn(task, 0, 1);
}

/* xn = rms_norm(x) * w, row by row */
static void norm_rows(void *arg, int ith, int nth) {
    const tok_task *a = arg;
    const int E = a->ctx->model->hp.n_embd;
    /* groups of 8 rows: their sums of squares run side by side */
    for (int g = ith * 8; g < a->n; g += nth * 8) {
        const int nr = a->n - g < 8 ? a->n - g : 8;
        if (nr == 1) { /* a lone row: the unordered sum, checked */
            rms_norm(a->ctx->xn + (size_t)g * E, a->ctx->x + (size_t)g * E, a->norm, E, a->ctx->model->hp.rms_eps);
            continue;
        }
        double sums[8];
        ember_sumsq_rows(a->ctx->x + (size_t)g * E, (size_t)E, nr, E, sums);
        for (int r = 0; r < nr; r++)
            rms_norm_mean(a->ctx->xn + (size_t)(g + r) * E, a->ctx->x + (size_t)(g + r) * E, a->norm, E,
                          a->ctx->model->hp.rms_eps, (float)(sums[r] / E));
    }
}

/* each token's q and k: head norms (if any), RoPE, then k and v into the cache */
static void rope_rows(void *arg, int ith, int nth) {
    const tok_task *a = arg;
    ember_ctx *ctx = a->ctx;
    const ember_model *m = ctx->model;
    const ember_hparams *hp = &m->hp;
    const int hd = hp->head_dim, QD = hp->n_head * hd, KVD = hp->n_head_kv * hd;
    for (int t = ith; t < a->n; t += nth) {
        float *q = ctx->q + (size_t)t * QD, *k = ctx->k + (size_t)t * KVD;
        if (a->L->q_norm.data) {
            for (int h = 0; h < hp->n_head; h++) rms_norm(q + h * hd, q + h * hd, a->L->q_norm.data, hd, hp->rms_eps);
            for (int h = 0; h < hp->n_head_kv; h++) rms_norm(k + h * hd, k + h * hd, a->L->k_norm.data, hd, hp->rms_eps);
        }
        const float *cs = ctx->rope_cs + (size_t)t * hp->n_rot;
        ember_rope(q, hp->n_head, hd, cs, hp->n_rot, hp->rope_type == EMBER_ROPE_NEOX);
        ember_rope(k, hp->n_head_kv, hd, cs, hp->n_rot, hp->rope_type == EMBER_ROPE_NEOX);
        /* positions within a sequence are distinct (the API numbers them),
         * so threads write distinct cells */
        ember_kv_store(&ctx->kv, a->seq ? a->seq[t] : 0, a->layer, a->pos[t], k, ctx->v + (size_t)t * KVD);
    }
}

/* ---- the pass ---------------------------------------------------------- */

void ember_forward(ember_ctx *ctx, int n, const ember_token *tokens, const int32_t *seq, const int *pos,
                   const int *out, const int8_t *prefill, float *logits) {
    const ember_model *m = ctx->model;
    const ember_hparams *hp = &m->hp;
    const int E = hp->n_embd, hd = hp->head_dim;
    const int QD = hp->n_head * hd, KVD = hp->n_head_kv * hd, F = hp->n_ff;
    float *x = ctx->x, *xn = ctx->xn;

    /* token embeddings */
    const ember_type_traits *et = ember_type_get(m->tok_embd.type);
    for (int t = 0; t < n; t++)
        et->to_float((const char *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes, x + (size_t)t * E, E);

    for (int t = 0; t < n; t++) rope_cache(ctx->rope_cs + (size_t)t * hp->n_rot, pos[t], hp, m->rope_freqs.data);

    for (int l = 0; l < hp->n_layer; l++) {
        const ember_layer *L = &m->layers[l];

        /* attention block */
        tok_task tt = {ctx, L, l, n, seq, pos, L->attn_norm.data};
        per_token(ctx, norm_rows, &tt, n);
        const ember_weight *wqkv[3] = {&L->wq, &L->wk, &L->wv};
        float *yqkv[3] = {ctx->q, ctx->k, ctx->v};
        matmul_n(ctx, 3, wqkv, yqkv, xn, E, n, prefill, 0);
        add_bias(ctx->q, &L->bq, n, QD);
        add_bias(ctx->k, &L->bk, n, KVD);
        add_bias(ctx->v, &L->bv, n, KVD);
        per_token(ctx, rope_rows, &tt, n);
        attn_task at = {ctx, l, n, seq, pos, prefill};
        ember_pool_run(ctx->pool, attn_rows, &at);
        matmul(ctx, &L->wo, xn, ctx->att, QD, n, prefill, 0);
        add_bias(xn, &L->bo, n, E);
        add_task res1 = {x, xn, n, E};
        per_token(ctx, add_rows, &res1, n);

        if (l == hp->n_layer - 1) {
            /* Only rows that want logits go on (as llama.cpp does): the last
             * feed-forward and the head run on the compacted rows; prompt rows
             * keep the prompt order only when two or more of them remain (a
             * lone prompt row is a matrix-vector product in llama.cpp). */
            int k = 0;
            for (int t = 0; t < n; t++) {
                if (out[t] < 0) continue;
                if (k != t) memmove(x + (size_t)k * E, x + (size_t)t * E, (size_t)E * sizeof(float));
                ctx->prefill_tmp[k] = prefill && prefill[t];
                k++;
            }
            int flagged = 0;
            for (int i = 0; i < k; i++) flagged += ctx->prefill_tmp[i];
            for (int i = 0; i < k; i++) ctx->prefill_tmp[i] = ctx->prefill_tmp[i] && flagged >= 2;
            n = k;
            prefill = ctx->prefill_tmp;
            if (!n) return;
        }

        /* feed-forward block (SwiGLU) */
        tok_task tf = {ctx, L, l, n, seq, pos, L->ffn_norm.data};
        per_token(ctx, norm_rows, &tf, n);
        const ember_weight *wgu[2] = {&L->w_gate, &L->w_up};
        float *ygu[2] = {ctx->gate, ctx->up};
        matmul_n(ctx, 2, wgu, ygu, xn, E, n, prefill, 0);
        const size_t down_row = act_row_bytes(&L->w_down);
        swiglu_task sw = {ctx->gate, ctx->up, n, F, 0, 0, down_row};
        if (down_row) sw.act_type = ember_type_get(ember_type_get(L->w_down.type)->vec_dot_type), sw.act = ctx->act;
        per_token(ctx, swiglu_rows, &sw, n);
        matmul(ctx, &L->w_down, xn, ctx->gate, F, n, prefill, 1);
        add_task res2 = {x, xn, n, E};
        per_token(ctx, add_rows, &res2, n);
    }

    /* output head on the compacted rows; the caller numbers them
     * consecutively, so they land at the first row's place in logits */
    for (int t = 0; t < n; t++) rms_norm(xn + (size_t)t * E, x + (size_t)t * E, m->output_norm.data, E, hp->rms_eps);
    int first = -1;
    for (int t = 0; out && first < 0 && t < ctx->n_rows_chunk; t++) if (out[t] >= 0) first = out[t];
    matmul(ctx, &m->output, logits + (size_t)first * hp->n_vocab, xn, E, n, prefill, 0);
}
