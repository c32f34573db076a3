/* Token inflation: run every task through a model, greedily and with
 * sampling, and record how many tokens it takes to answer (stop string,
 * end of sequence, the token limit, or a detected repetition loop). */
#include "tasks.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct { int tokens, correct, limit, loop; double seconds; } run_result;

static ember_status one_run(ember_ctx *c, const ember_model *m, const ember_task *t, int max_new, ember_sampler *smp,
                            run_result *r) {
    memset(r, 0, sizeof *r);
    const size_t plen = strlen(t->prompt);
    ember_token *ptoks = malloc((plen + 16) * sizeof *ptoks), *gen = malloc(((size_t)max_new + 1) * sizeof *gen);
    int8_t *fl = malloc(plen + 16);
    const size_t cap = (size_t)max_new * 256 + 64;
    char *text = calloc(1, cap);
    ember_detok *dt = 0;
    ember_status st = EMBER_OK;
    if (!ptoks || !gen || !fl || !text || ember_detok_create(m, &dt)) { st = EMBER_ERR_NOMEM; goto out; }
    const int np = ember_tokenize(m, t->prompt, plen, 1, 0, ptoks, (int)plen + 16);
    if (np <= 0 || np + max_new > ember_ctx_n_ctx(c)) { st = EMBER_ERR_CONTEXT_FULL; goto out; }
    memset(fl, np >= 2, (size_t)np);
    ember_kv_clear(c, 0);
    ember_sampler_reset(smp);
    ember_batch b = {np, ptoks, 0, 0, fl};
    const double t0 = now_s();
    if ((st = ember_decode(c, &b))) goto out;
    size_t tl = 0;
    for (;;) {
        const ember_token tok = ember_sampler_sample(smp, ember_get_logits(c, b.n_tokens - 1));
        ember_sampler_accept(smp, tok);
        if (ember_model_is_eog(m, tok)) break;
        gen[r->tokens++] = tok;
        char piece[256];
        const int k = ember_detok_push(dt, tok, piece, sizeof piece);
        if (k > 0 && tl + (size_t)k + 1 < cap) { memcpy(text + tl, piece, (size_t)k); tl += (size_t)k; text[tl] = 0; }
        if (*t->stop && strstr(text, t->stop)) break;
        if (ember_is_looping(gen, r->tokens)) { r->loop = 1; break; }
        if (r->tokens >= max_new) { r->limit = 1; break; }
        ember_batch s = {1, &gen[r->tokens - 1], 0, 0, 0};
        b = s;
        if ((st = ember_decode(c, &b))) goto out;
    }
    r->seconds = now_s() - t0;
    /* the answer is the text before the stop string */
    char *cut = *t->stop ? strstr(text, t->stop) : 0;
    if (cut) *cut = 0;
    r->correct = ember_task_correct(t, text);
out:
    ember_detok_free(dt);
    free(ptoks); free(gen); free(fl); free(text);
    return st;
}

ember_status ember_inflation_run(ember_model *m, const ember_task *tasks, int n_tasks, int samples, int max_new,
                                 int threads, ember_inflation_progress_fn progress, void *ud, ember_inflation *out) {
    memset(out, 0, sizeof *out);
    out->n_tasks = n_tasks;
    out->samples = samples;
    out->greedy_tokens = calloc((size_t)n_tasks, sizeof(int));
    out->greedy_correct = calloc((size_t)n_tasks, sizeof(int));
    out->run_tokens = calloc((size_t)n_tasks * (size_t)(1 + samples), sizeof(int));
    if (!out->greedy_tokens || !out->greedy_correct || !out->run_tokens) return EMBER_ERR_NOMEM;
    ember_ctx_params cp = ember_ctx_default_params();
    cp.n_threads = threads;
    ember_ctx *c;
    ember_status st = ember_ctx_create(m, &cp, &c);
    if (st) return st;
    for (int i = 0; i < n_tasks && !st; i++) {
        for (int s = 0; s <= samples && !st; s++) {
            ember_sampler_params sp = ember_sampler_default_params();
            if (s == 0) sp.temp = 0;
            else { sp.temp = 0.8f; sp.seed = (uint64_t)(1000 * i + s); }
            ember_sampler *smp;
            if ((st = ember_sampler_create(&sp, ember_model_n_vocab(m), &smp))) break;
            run_result r;
            st = one_run(c, m, &tasks[i], max_new, smp, &r);
            ember_sampler_free(smp);
            if (st) break;
            if (s == 0) { out->greedy_tokens[i] = r.tokens; out->greedy_correct[i] = r.correct; }
            out->run_tokens[out->n_runs++] = r.tokens;
            out->n_correct_runs += r.correct;
            out->n_limit += r.limit;
            out->n_loop += r.loop;
            out->total_tokens += r.tokens;
            out->seconds += r.seconds;
        }
        if (progress) progress(ud, i + 1, n_tasks);
    }
    ember_ctx_free(c);
    return st;
}

void ember_inflation_free(ember_inflation *r) {
    free(r->greedy_tokens); free(r->greedy_correct); free(r->run_tokens);
    memset(r, 0, sizeof *r);
}
