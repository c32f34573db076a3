/* Public API glue: argument checks, error reporting, model/context life
 * cycle, batch decoding and KV management. */
#include "ember.h"
#include "../models/context.h"
#include "../formats/formats.h"
#include "../runtime/cpu.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char g_err[512];

static ember_status set_err(ember_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
    return st;
}

const char *ember_last_error(void) { return g_err; }

const char *ember_strerror(ember_status s) {
    switch (s) {
    case EMBER_OK: return "ok";
    case EMBER_ERR_IO: return "i/o error";
    case EMBER_ERR_FORMAT: return "malformed file";
    case EMBER_ERR_UNSUPPORTED: return "unsupported";
    case EMBER_ERR_INVALID_ARG: return "invalid argument";
    case EMBER_ERR_NOMEM: return "out of memory";
    case EMBER_ERR_CONTEXT_FULL: return "context full";
    case EMBER_ERR_INTERNAL: return "internal error";
    }
    return "unknown error";
}

const char *ember_version(void) { return "0.1.0"; }
const char *ember_cpu_path(void) { return ember_cpu_path_name(); }

/* ---- model ---- */

ember_model_params ember_model_default_params(void) {
    ember_model_params p = {0, 0, 0};
    return p;
}

ember_status ember_model_load(const char *path, const ember_model_params *params, ember_model **out) {
    if (!out) return set_err(EMBER_ERR_INVALID_ARG, "ember_model_load: out is NULL");
    *out = 0;
    if (!path || !*path) return set_err(EMBER_ERR_INVALID_ARG, "no model path given");
    if (params && params->n_threads < 0) return set_err(EMBER_ERR_INVALID_ARG, "n_threads must be >= 0 (0: all cores)");
    ember_formats_init();
    char err[400] = "";
    ember_status st = ember_model_load_impl(path, params, out, err, sizeof err);
    if (st) return set_err(st, "%s: %s", path, err);
    return EMBER_OK;
}

void ember_model_free(ember_model *m) {
    if (!m) return;
    free(m->weights_arena); /* every packed copy and row copy */
    free(m->layers);
    if (m->vocab) ember_vocab_free(m->vocab);
    if (m->gguf) gguf_close(m->gguf);
    free(m);
}

const char *ember_model_arch(const ember_model *m) { return m->arch_name; }
const char *ember_model_name(const ember_model *m) { return m->name; }
int ember_model_n_vocab(const ember_model *m) { return ember_vocab_n_tokens(m->vocab); }
int ember_model_n_ctx_train(const ember_model *m) { return m->hp.n_ctx_train; }
int ember_model_n_embd(const ember_model *m) { return m->hp.n_embd; }
int ember_model_n_layer(const ember_model *m) { return m->hp.n_layer; }
uint64_t ember_model_n_params(const ember_model *m) { return m->n_params; }
uint64_t ember_model_size_bytes(const ember_model *m) { return m->n_bytes; }
uint64_t ember_model_repacked_bytes(const ember_model *m) { return m->repacked_bytes; }
const char *ember_model_type_name(const ember_model *m) { return m->type_name; }
ember_token ember_model_bos(const ember_model *m) { return ember_vocab_bos(m->vocab); }
ember_token ember_model_eos(const ember_model *m) { return ember_vocab_eos(m->vocab); }
int ember_model_is_eog(const ember_model *m, ember_token t) { return ember_vocab_is_eog(m->vocab, t); }

const char *ember_model_meta_str(const ember_model *m, const char *key) {
    const char *s = 0;
    return gguf_get_str(m->gguf, key, &s) == 1 ? s : 0;
}

/* ---- tokenizer ---- */

int ember_tokenize(const ember_model *m, const char *text, size_t len, int add_special, int parse_special,
                   ember_token *tokens, int max_tokens) {
    return ember_vocab_tokenize(m->vocab, text, len, add_special, parse_special, tokens, max_tokens);
}

int ember_token_to_piece(const ember_model *m, ember_token tok, char *buf, int cap, int render_special) {
    return ember_vocab_piece(m->vocab, tok, buf, cap, render_special);
}

struct ember_detok { ember_vocab_detok *d; };

ember_status ember_detok_create(const ember_model *m, ember_detok **out) {
    *out = calloc(1, sizeof **out);
    if (!*out) return set_err(EMBER_ERR_NOMEM, "out of memory");
    (*out)->d = ember_vocab_detok_create(m->vocab);
    if (!(*out)->d) { free(*out); *out = 0; return set_err(EMBER_ERR_NOMEM, "out of memory"); }
    return EMBER_OK;
}

void ember_detok_free(ember_detok *d) {
    if (!d) return;
    ember_vocab_detok_free(d->d);
    free(d);
}

int ember_detok_push(ember_detok *d, ember_token tok, char *buf, int cap) { return ember_vocab_detok_push(d->d, tok, buf, cap); }
int ember_detok_flush(ember_detok *d, char *buf, int cap) { return ember_vocab_detok_flush(d->d, buf, cap); }

/* ---- context ---- */

ember_ctx_params ember_ctx_default_params(void) {
    ember_ctx_params p = {0, 1, 0, 0, EMBER_KV_F16};
    return p;
}

static void *xcalloc(size_t n, size_t sz, int *fail) {
    void *p = calloc(n ? n : 1, sz);
    if (!p) *fail = 1;
    return p;
}

ember_status ember_ctx_create(ember_model *model, const ember_ctx_params *params, ember_ctx **out) {
    if (!out || !model) return set_err(EMBER_ERR_INVALID_ARG, "ember_ctx_create: NULL argument");
    *out = 0;
    if (!model->layers) return set_err(EMBER_ERR_INVALID_ARG, "model was loaded vocab-only");
    ember_ctx_params p = params ? *params : ember_ctx_default_params();
    const ember_hparams *hp = &model->hp;
    if (p.n_ctx < 0 || p.n_seq < 0 || p.n_threads < 0 || p.n_batch < 0)
        return set_err(EMBER_ERR_INVALID_ARG, "context sizes must not be negative");
    if (p.n_ctx == 0) p.n_ctx = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
    if (p.n_ctx > (1 << 20)) return set_err(EMBER_ERR_INVALID_ARG, "n_ctx %d is too large", p.n_ctx);
    if (p.n_seq == 0) p.n_seq = 1;
    if (p.n_seq > 256) return set_err(EMBER_ERR_INVALID_ARG, "n_seq %d is too large (max 256)", p.n_seq);
    if (p.n_batch == 0) p.n_batch = 512;
    if (p.n_batch > 8192) p.n_batch = 8192;
    if (p.kv_type != EMBER_KV_F16 && p.kv_type != EMBER_KV_F32) return set_err(EMBER_ERR_INVALID_ARG, "bad kv_type");

    ember_ctx *c = calloc(1, sizeof *c);
    if (!c) return set_err(EMBER_ERR_NOMEM, "out of memory");
    c->model = model;
    c->p = p;
    c->pool = ember_pool_create(p.n_threads);
    if (!c->pool) { free(c); return set_err(EMBER_ERR_NOMEM, "cannot create thread pool"); }
    c->p.n_threads = ember_pool_size(c->pool);
    const int KVD = hp->n_head_kv * hp->head_dim, QD = hp->n_head * hp->head_dim;
    if (ember_kv_init(&c->kv, p.n_seq, p.n_ctx, hp->n_layer, KVD, p.kv_type)) {
        ember_ctx_free(c);
        return set_err(EMBER_ERR_NOMEM, "cannot allocate KV cache (%d seq x %d positions)", p.n_seq, p.n_ctx);
    }
    const size_t B = (size_t)p.n_batch;
    int fail = 0;
    c->x = xcalloc(B * hp->n_embd, sizeof(float), &fail);
    c->xn = xcalloc(B * hp->n_embd, sizeof(float), &fail);
    c->q = xcalloc(B * QD, sizeof(float), &fail);
    c->k = xcalloc(B * KVD, sizeof(float), &fail);
    c->v = xcalloc(B * KVD, sizeof(float), &fail);
    c->att = xcalloc(B * QD, sizeof(float), &fail);
    c->gate = xcalloc(B * hp->n_ff, sizeof(float), &fail);
    c->up = xcalloc(B * hp->n_ff, sizeof(float), &fail);
    size_t widest = (size_t)hp->n_embd;
    if ((size_t)hp->n_ff > widest) widest = hp->n_ff;
    if ((size_t)QD > widest) widest = QD;
    c->act_bytes = 3 * B * (widest * 2 + 64);
    c->act = xcalloc(c->act_bytes, 1, &fail);
    /* the largest side data of any packed layout on this path, per row of
     * up to widest elements (rounded up to whole super-blocks) */
    size_t aux_row = 0;
    for (int t = 0; t < EMBER_TYPE_COUNT; t++) {
        const ember_type_traits *tr = ember_type_get(t);
        if (!tr || !tr->layout || !tr->layout->act_aux_size) continue;
        const size_t a = tr->layout->act_aux_size((int64_t)((widest + QK_K - 1) / QK_K * QK_K));
        if (a > aux_row) aux_row = a;
    }
    c->act_aux_bytes = 3 * B * (aux_row ? aux_row : 1);
    c->act_aux = xcalloc(c->act_aux_bytes, 1, &fail);
    c->pos = xcalloc(B, sizeof(int), &fail);
    c->rope_cs = xcalloc(B * (size_t)hp->n_rot, sizeof(float), &fail);
    c->prefill_tmp = xcalloc(B, 1, &fail);
    c->ts = xcalloc((size_t)c->p.n_threads, sizeof *c->ts, &fail);
    c->mm_claims = aligned_alloc(64, (size_t)c->p.n_threads * sizeof *c->mm_claims);
    if (!c->mm_claims) fail = 1;
    else memset(c->mm_claims, 0, (size_t)c->p.n_threads * sizeof *c->mm_claims);
    for (int i = 0; !fail && i < c->p.n_threads; i++) {
        /* attention takes a head for up to EMBER_TILE_TOKENS tokens at once */
        c->ts[i].scores = xcalloc((size_t)p.n_ctx * EMBER_TILE_TOKENS, sizeof(float), &fail);
        c->ts[i].p16 = xcalloc((size_t)p.n_ctx * EMBER_TILE_TOKENS, sizeof(uint16_t), &fail);
        c->ts[i].q16 = xcalloc((size_t)hp->head_dim * EMBER_TILE_TOKENS, sizeof(uint16_t), &fail);
    }
    if (fail) { ember_ctx_free(c); return set_err(EMBER_ERR_NOMEM, "out of memory for context buffers"); }
    *out = c;
    return EMBER_OK;
}

void ember_ctx_free(ember_ctx *c) {
    if (!c) return;
    ember_pool_free(c->pool);
    ember_kv_free(&c->kv);
    free(c->x); free(c->xn); free(c->q); free(c->k); free(c->v); free(c->att);
    free(c->gate); free(c->up); free(c->act); free(c->act_aux); free(c->pos); free(c->rope_cs); free(c->prefill_tmp);
    free(c->logits); free(c->out_row);
    if (c->ts)
        for (int i = 0; i < c->p.n_threads; i++) { free(c->ts[i].scores); free(c->ts[i].p16); free(c->ts[i].q16); }
    free(c->ts);
    free(c->mm_claims);
    free(c);
}

int ember_ctx_n_ctx(const ember_ctx *c) { return c->p.n_ctx; }
int ember_ctx_n_seq(const ember_ctx *c) { return c->p.n_seq; }
const ember_model *ember_ctx_model(const ember_ctx *c) { return c->model; }

ember_status ember_decode(ember_ctx *c, const ember_batch *b) {
    if (!c || !b) return set_err(EMBER_ERR_INVALID_ARG, "ember_decode: NULL argument");
    if (b->n_tokens <= 0 || !b->tokens) return set_err(EMBER_ERR_INVALID_ARG, "empty batch");
    const int n = b->n_tokens, n_vocab = c->model->hp.n_vocab;
    /* Validate everything before touching the cache. */
    int *add = calloc((size_t)c->p.n_seq, sizeof(int));
    if (!add) return set_err(EMBER_ERR_NOMEM, "out of memory");
    int n_out = 0;
    for (int i = 0; i < n; i++) {
        const int s = b->seq ? b->seq[i] : 0;
        if (s < 0 || s >= c->p.n_seq) { free(add); return set_err(EMBER_ERR_INVALID_ARG, "batch entry %d: sequence %d out of range [0, %d)", i, s, c->p.n_seq); }
        if (b->tokens[i] < 0 || b->tokens[i] >= n_vocab) { free(add); return set_err(EMBER_ERR_INVALID_ARG, "batch entry %d: token %d out of range [0, %d)", i, b->tokens[i], n_vocab); }
        add[s]++;
        if (b->want_logits ? b->want_logits[i] != 0 : i == n - 1) n_out++;
    }
    for (int s = 0; s < c->p.n_seq; s++) {
        if (c->kv.len[s] + add[s] > c->p.n_ctx) {
            const int have = c->kv.len[s], more = add[s];
            free(add);
            return set_err(EMBER_ERR_CONTEXT_FULL, "sequence %d: %d + %d tokens exceed the context of %d", s, have, more,
                           c->p.n_ctx);
        }
    }
    free(add);
    if (n_out > c->logits_cap) {
        float *nl = realloc(c->logits, (size_t)n_out * n_vocab * sizeof(float));
        if (!nl) return set_err(EMBER_ERR_NOMEM, "out of memory for logits");
        c->logits = nl;
        c->logits_cap = n_out;
    }
    if (n > c->out_row_cap) {
        int *no = realloc(c->out_row, (size_t)n * sizeof(int));
        if (!no) return set_err(EMBER_ERR_NOMEM, "out of memory");
        c->out_row = no;
        c->out_row_cap = n;
    }
    int row = 0;
    for (int i = 0; i < n; i++)
        c->out_row[i] = (b->want_logits ? b->want_logits[i] != 0 : i == n - 1) ? row++ : -1;
    /* Chunks of n_batch; positions continue each sequence. */
    for (int i0 = 0; i0 < n; i0 += c->p.n_batch) {
        const int m = n - i0 < c->p.n_batch ? n - i0 : c->p.n_batch;
        for (int i = 0; i < m; i++) {
            const int s = b->seq ? b->seq[i0 + i] : 0;
            c->pos[i] = c->kv.len[s]++;
        }
        c->n_rows_chunk = m; /* a chunk without outputs only fills the cache */
        ember_forward(c, m, b->tokens + i0, b->seq ? b->seq + i0 : 0, c->pos, c->out_row + i0,
                      b->prefill ? b->prefill + i0 : 0, c->logits);
    }
    c->n_rows_last = n;
    return EMBER_OK;
}

const float *ember_get_logits(ember_ctx *c, int i) {
    if (!c || i < 0 || i >= c->n_rows_last || c->out_row[i] < 0) return 0;
    return c->logits + (size_t)c->out_row[i] * c->model->hp.n_vocab;
}

int ember_kv_len(const ember_ctx *c, int seq) {
    if (!c || seq < 0 || seq >= c->p.n_seq) return -1;
    return c->kv.len[seq];
}

ember_status ember_kv_truncate(ember_ctx *c, int seq, int n_keep) {
    if (!c || seq < 0 || seq >= c->p.n_seq) return set_err(EMBER_ERR_INVALID_ARG, "kv_truncate: bad sequence %d", seq);
    if (n_keep < 0 || n_keep > c->kv.len[seq])
        return set_err(EMBER_ERR_INVALID_ARG, "kv_truncate: keep %d of %d positions", n_keep, c->kv.len[seq]);
    c->kv.len[seq] = n_keep;
    return EMBER_OK;
}

ember_status ember_kv_copy_prefix(ember_ctx *c, int src, int dst, int n) {
    if (!c || src < 0 || src >= c->p.n_seq || dst < 0 || dst >= c->p.n_seq)
        return set_err(EMBER_ERR_INVALID_ARG, "kv_copy_prefix: bad sequence");
    if (n < 0 || n > c->kv.len[src]) return set_err(EMBER_ERR_INVALID_ARG, "kv_copy_prefix: %d of %d positions", n, c->kv.len[src]);
    ember_kv_copy(&c->kv, src, dst, n);
    return EMBER_OK;
}

void ember_kv_clear(ember_ctx *c, int seq) {
    if (c && seq >= 0 && seq < c->p.n_seq) c->kv.len[seq] = 0;
}
