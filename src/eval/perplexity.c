/* Chunked perplexity and KL divergence (see eval.h). The text is tokenized
 * once (with BOS per the vocabulary); each window of n_ctx tokens is
 * evaluated from an empty cache with its first token replaced by BOS, and the
 * tokens of its second half are scored — the protocol of llama.cpp's
 * perplexity tool, so numbers are comparable. */
#include "eval.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* log-softmax of one row at tok: log(sum exp(l - max)) + max - l[tok] */
double ember_eval_token_nll(const float *l, int nv, int tok) {
    float mx = l[0];
    for (int i = 1; i < nv; i++) mx = l[i] > mx ? l[i] : mx;
    double sum = 0;
    for (int i = 0; i < nv; i++) sum += exp((double)l[i] - mx);
    return log(sum) + mx - l[tok];
}

typedef struct {
    ember_token *toks;
    int n_tok, n_chunks;
} tokenized;

static ember_status tokenize_text(ember_model *m, const char *text, size_t len, const ember_eval_params *p,
                                  tokenized *t) {
    const int cap = (int)(len + 16 < (size_t)1 << 30 ? len + 16 : 1 << 30);
    t->toks = malloc((size_t)cap * sizeof *t->toks);
    if (!t->toks) return EMBER_ERR_NOMEM;
    t->n_tok = ember_tokenize(m, text, len, 1, 0, t->toks, cap);
    if (t->n_tok < 0) return EMBER_ERR_INTERNAL;
    if (p->n_ctx < 4) return EMBER_ERR_INVALID_ARG;
    t->n_chunks = t->n_tok / p->n_ctx;
    if (p->n_chunks > 0 && p->n_chunks < t->n_chunks) t->n_chunks = p->n_chunks;
    return t->n_chunks > 0 ? EMBER_OK : EMBER_ERR_INVALID_ARG;
}

/* Evaluates chunk c; logits of positions first..n_ctx-1 stay readable from
 * ctx as batch entries first..n_ctx-1. */
static ember_status eval_chunk(ember_ctx *ctx, ember_model *m, const tokenized *t, int c, int n_ctx, int8_t *want,
                               int8_t *flags, ember_token *buf) {
    memcpy(buf, t->toks + (size_t)c * n_ctx, (size_t)n_ctx * sizeof *buf);
    if (ember_model_bos(m) >= 0) buf[0] = ember_model_bos(m);
    ember_kv_clear(ctx, 0);
    ember_batch b = {n_ctx, buf, 0, want, flags};
    return ember_decode(ctx, &b);
}

static void finish(ember_ppl_result *r) {
    const double mean = r->nll / r->count;
    r->ppl = exp(mean);
    double var = r->nll2 / r->count - mean * mean;
    r->ppl_err = var > 0 && r->count > 1 ? sqrt(var / (r->count - 1)) * r->ppl : 0;
}

static ember_status make_ctx(ember_model *m, const ember_eval_params *p, ember_ctx **c) {
    ember_ctx_params cp = ember_ctx_default_params();
    cp.n_ctx = p->n_ctx;
    cp.n_batch = p->n_ctx;
    cp.n_threads = p->n_threads;
    return ember_ctx_create(m, &cp, c);
}

ember_status ember_eval_perplexity(ember_model *m, const char *text, size_t len, const ember_eval_params *p,
                                   ember_eval_progress_fn progress, void *ud, ember_ppl_result *out) {
    memset(out, 0, sizeof *out);
    tokenized t = {0, 0, 0};
    ember_ctx *ctx = 0;
    ember_status st = tokenize_text(m, text, len, p, &t);
    const int n_ctx = p->n_ctx, first = n_ctx / 2, nv = ember_model_n_vocab(m);
    int8_t *want = calloc((size_t)n_ctx, 1), *flags = malloc((size_t)n_ctx);
    ember_token *buf = malloc((size_t)n_ctx * sizeof *buf);
    if (!st && (!want || !flags || !buf)) st = EMBER_ERR_NOMEM;
    if (!st) st = make_ctx(m, p, &ctx);
    if (!st) {
        memset(want + first, 1, (size_t)(n_ctx - first));
        memset(flags, 1, (size_t)n_ctx);
        out->n_tokens = t.n_tok;
        out->n_chunks = t.n_chunks;
        for (int c = 0; c < t.n_chunks && !st; c++) {
            if ((st = eval_chunk(ctx, m, &t, c, n_ctx, want, flags, buf))) break;
            for (int j = first; j < n_ctx - 1; j++) {
                const double v = ember_eval_token_nll(ember_get_logits(ctx, j), nv, t.toks[(size_t)c * n_ctx + j + 1]);
                out->nll += v;
                out->nll2 += v * v;
                out->count++;
            }
            if (progress) progress(ud, c + 1, t.n_chunks, exp(out->nll / out->count));
        }
        if (!st) finish(out);
    }
    ember_ctx_free(ctx);
    free(t.toks); free(want); free(flags); free(buf);
    return st;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

ember_status ember_eval_kld(ember_model *base, ember_model *m, const char *text, size_t len,
                            const ember_eval_params *p, ember_eval_progress_fn progress, void *ud, ember_kld_result *out) {
    memset(out, 0, sizeof *out);
    const int nv = ember_model_n_vocab(m);
    if (ember_model_n_vocab(base) != nv) return EMBER_ERR_INVALID_ARG;
    tokenized t = {0, 0, 0};
    ember_ctx *cb = 0, *cm = 0;
    ember_status st = tokenize_text(m, text, len, p, &t);
    const int n_ctx = p->n_ctx, first = n_ctx / 2;
    int8_t *want = calloc((size_t)n_ctx, 1), *flags = malloc((size_t)n_ctx);
    ember_token *buf = malloc((size_t)n_ctx * sizeof *buf);
    double *klds = 0;
    float *lb = malloc((size_t)(n_ctx - first) * nv * sizeof(float));
    if (!st && (!want || !flags || !buf || !lb)) st = EMBER_ERR_NOMEM;
    if (!st) st = make_ctx(base, p, &cb);
    if (!st) st = make_ctx(m, p, &cm);
    if (!st) {
        klds = malloc((size_t)t.n_chunks * (n_ctx - first) * sizeof *klds);
        if (!klds) st = EMBER_ERR_NOMEM;
    }
    if (!st) {
        memset(want + first, 1, (size_t)(n_ctx - first));
        memset(flags, 1, (size_t)n_ctx);
        out->base.n_tokens = out->model.n_tokens = t.n_tok;
        out->base.n_chunks = out->model.n_chunks = t.n_chunks;
        long same = 0;
        for (int c = 0; c < t.n_chunks && !st; c++) {
            if ((st = eval_chunk(cb, base, &t, c, n_ctx, want, flags, buf))) break;
            for (int j = first; j < n_ctx - 1; j++) memcpy(lb + (size_t)(j - first) * nv, ember_get_logits(cb, j), (size_t)nv * sizeof(float));
            if ((st = eval_chunk(cm, m, &t, c, n_ctx, want, flags, buf))) break;
            for (int j = first; j < n_ctx - 1; j++) {
                const float *a = lb + (size_t)(j - first) * nv, *q = ember_get_logits(cm, j);
                const int tok = t.toks[(size_t)c * n_ctx + j + 1];
                const double va = ember_eval_token_nll(a, nv, tok), vq = ember_eval_token_nll(q, nv, tok);
                out->base.nll += va; out->base.nll2 += va * va; out->base.count++;
                out->model.nll += vq; out->model.nll2 += vq * vq; out->model.count++;
                /* KL(P_base || P_model) over the full vocabulary */
                float ma = a[0], mq = q[0];
                int ia = 0, iq = 0;
                for (int i = 1; i < nv; i++) {
                    if (a[i] > ma) { ma = a[i]; ia = i; }
                    if (q[i] > mq) { mq = q[i]; iq = i; }
                }
                double za = 0, zq = 0;
                for (int i = 0; i < nv; i++) { za += exp((double)a[i] - ma); zq += exp((double)q[i] - mq); }
                const double lza = log(za), lzq = log(zq);
                double kl = 0;
                for (int i = 0; i < nv; i++) {
                    const double lpa = a[i] - ma - lza, lpq = q[i] - mq - lzq;
                    kl += exp(lpa) * (lpa - lpq);
                }
                klds[out->count++] = kl > 0 ? kl : 0;
                same += ia == iq;
            }
            if (progress) progress(ud, c + 1, t.n_chunks, exp(out->model.nll / out->model.count));
        }
        if (!st && out->count > 0) {
            finish(&out->base);
            finish(&out->model);
            double sum = 0, sum2 = 0;
            for (long i = 0; i < out->count; i++) { sum += klds[i]; sum2 += klds[i] * klds[i]; }
            qsort(klds, (size_t)out->count, sizeof *klds, cmp_double);
            out->kld_mean = sum / out->count;
            out->kld_sd = sqrt(fmax(0, sum2 / out->count - out->kld_mean * out->kld_mean));
            out->kld_median = klds[out->count / 2];
            out->kld_p99 = klds[(long)((out->count - 1) * 0.99)];
            out->kld_max = klds[out->count - 1];
            out->top1_agreement = (double)same / out->count;
        }
    }
    ember_ctx_free(cb); ember_ctx_free(cm);
    free(t.toks); free(want); free(flags); free(buf); free(lb); free(klds);
    return st;
}
