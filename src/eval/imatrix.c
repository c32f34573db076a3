/* Importance matrix collection (see eval.h). The text is cut into windows
 * of n_ctx tokens as the perplexity tool does; the context's matmul hook
 * sees every weight's float input before it is converted for the dot
 * products, so collecting changes no numerics. Sums are kept in float in
 * row order, which is how llama-imatrix accumulates them. */
#include "eval.h"
#include "../models/context.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const ember_weight *w;
    float *sum;      /* [cols]: sum of x_j^2 */
    int64_t rows;    /* activation rows seen */
    int32_t ncall;
} acc;

typedef struct {
    acc *a;
    int n, cap;
    int process_output;
    int32_t last_call;
    int failed;      /* 5: out of memory, 2: non-finite sum */
} collector;

static int wanted(const collector *c, const ember_weight *w) {
    if (!w->name) return 0;
    return !strncmp(w->name, "blk.", 4) || (c->process_output && !strcmp(w->name, "output.weight"));
}

static void hook(void *ud, const ember_weight *w, const float *x, int x_stride, int n_tok) {
    collector *c = ud;
    /* llama-imatrix ignores batches of fewer than 16 tokens */
    if (c->failed || n_tok < 16 || !wanted(c, w)) return;
    acc *a = 0;
    for (int i = 0; i < c->n && !a; i++)
        if (c->a[i].w == w) a = &c->a[i];
    if (!a) {
        if (c->n == c->cap) {
            const int cap = c->cap ? 2 * c->cap : 64;
            acc *na = realloc(c->a, (size_t)cap * sizeof *na);
            if (!na) { c->failed = 5; return; }
            c->a = na;
            c->cap = cap;
        }
        a = &c->a[c->n];
        memset(a, 0, sizeof *a);
        a->w = w;
        if (!(a->sum = calloc((size_t)w->cols, sizeof(float)))) { c->failed = 5; return; }
        c->n++;
    }
    const int64_t cols = w->cols;
    for (int t = 0; t < n_tok; t++) {
        const float *r = x + (size_t)t * x_stride;
        for (int64_t j = 0; j < cols; j++) a->sum[j] += r[j] * r[j];
    }
    for (int64_t j = 0; j < cols; j++) {
        if (!isfinite(a->sum[j])) { c->failed = 2; return; }
    }
    a->rows += n_tok;
    a->ncall++;
    if (a->ncall > c->last_call) c->last_call = a->ncall;
}

static void collector_free(collector *c) {
    for (int i = 0; i < c->n; i++) free(c->a[i].sum);
    free(c->a);
}

/* The file stores mean(x_j^2) * ncall per column. */
static ember_status to_imatrix(const collector *c, const char *dataset, ember_imatrix *out) {
    memset(out, 0, sizeof *out);
    if (!c->n) return EMBER_ERR_INVALID_ARG;
    out->e = calloc((size_t)c->n, sizeof *out->e);
    out->dataset = strdup(dataset ? dataset : "");
    if (!out->e || !out->dataset) { ember_imatrix_free(out); return EMBER_ERR_NOMEM; }
    out->has_trailer = 1;
    out->last_call = c->last_call;
    for (int i = 0; i < c->n; i++) {
        const acc *a = &c->a[i];
        ember_imatrix_entry *e = &out->e[i];
        out->n = i + 1;
        e->name = strdup(a->w->name);
        e->values = malloc((size_t)a->w->cols * sizeof(float));
        if (!e->name || !e->values) { ember_imatrix_free(out); return EMBER_ERR_NOMEM; }
        e->ncall = a->ncall;
        e->nval = (int32_t)a->w->cols;
        for (int64_t j = 0; j < a->w->cols; j++) e->values[j] = (a->sum[j] / (float)a->rows) * (float)a->ncall;
    }
    return EMBER_OK;
}

ember_status ember_imatrix_compute(ember_model *m, const char *text, size_t len, const ember_imatrix_params *p,
                                   ember_eval_progress_fn progress, void *ud, ember_imatrix *out,
                                   ember_ppl_result *ppl) {
    memset(out, 0, sizeof *out);
    memset(ppl, 0, sizeof *ppl);
    const int n_ctx = p->n_ctx;
    if (n_ctx < 16 || n_ctx > (1 << 20)) return EMBER_ERR_INVALID_ARG;
    const int cap = (int)(len + 16 < (size_t)1 << 30 ? len + 16 : 1 << 30);
    ember_token *toks = malloc((size_t)cap * sizeof *toks);
    if (!toks) return EMBER_ERR_NOMEM;
    const int n_tok = ember_tokenize(m, text, len, 1, 0, toks, cap);
    ppl->n_tokens = n_tok;
    if (n_tok < 0) { free(toks); return EMBER_ERR_INTERNAL; }
    if (n_tok < 2 * n_ctx) { free(toks); return EMBER_ERR_INVALID_ARG; }
    int n_chunks = n_tok / n_ctx;
    if (p->n_chunks > 0 && p->n_chunks < n_chunks) n_chunks = p->n_chunks;
    ppl->n_chunks = n_chunks;

    ember_ctx_params cp = ember_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = n_ctx < 512 ? n_ctx : 512; /* llama.cpp's micro-batch: one matmul call per 512 tokens */
    cp.n_threads = p->n_threads;
    ember_ctx *ctx = 0;
    collector col;
    memset(&col, 0, sizeof col);
    col.process_output = p->process_output;
    int8_t *want = malloc((size_t)n_ctx);
    ember_token *buf = malloc((size_t)n_ctx * sizeof *buf);
    ember_status st = want && buf ? ember_ctx_create(m, &cp, &ctx) : EMBER_ERR_NOMEM;
    if (!st) {
        memset(want, 1, (size_t)n_ctx); /* every position: logits and prompt order, as llama-imatrix asks */
        ctx->mm_hook = hook;
        ctx->mm_hook_ud = &col;
        const int first = n_ctx / 2, nv = ember_model_n_vocab(m);
        for (int c = 0; c < n_chunks && !st; c++) {
            memcpy(buf, toks + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *buf);
            if (ember_model_bos(m) >= 0) buf[0] = ember_model_bos(m);
            ember_kv_clear(ctx, 0);
            ember_batch b = {n_ctx, buf, 0, want, want};
            if ((st = ember_decode(ctx, &b))) break;
            if (col.failed) { st = col.failed == 5 ? EMBER_ERR_NOMEM : EMBER_ERR_FORMAT; break; }
            for (int j = first; j < n_ctx - 1; j++) {
                const double v = ember_eval_token_nll(ember_get_logits(ctx, j), nv, toks[(size_t)c * n_ctx + j + 1]);
                ppl->nll += v;
                ppl->nll2 += v * v;
                ppl->count++;
            }
            if (progress) progress(ud, c + 1, n_chunks, exp(ppl->nll / ppl->count));
        }
        ctx->mm_hook = 0;
    }
    if (!st) {
        const double mean = ppl->nll / ppl->count, var = ppl->nll2 / ppl->count - mean * mean;
        ppl->ppl = exp(mean);
        ppl->ppl_err = var > 0 && ppl->count > 1 ? sqrt(var / (ppl->count - 1)) * ppl->ppl : 0;
        st = to_imatrix(&col, p->dataset, out);
    }
    ember_ctx_free(ctx);
    collector_free(&col);
    free(toks); free(want); free(buf);
    return st;
}
