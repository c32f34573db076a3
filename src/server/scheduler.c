/* The scheduler: the one thread that owns the ember context.
 *
 * Each slot is one KV sequence. Every step it builds one batch from the next
 * token of every generating slot plus chunks of the prompts being prefilled
 * (so a long prompt never stalls running streams for more than one chunk),
 * runs one forward pass and samples every slot that got logits.
 *
 * Prefix reuse: a slot keeps its KV after its request ends. A new request
 * goes to the idle slot whose cached tokens share the longest prefix with its
 * prompt, or copies that prefix from any slot that has a longer one. Only
 * positions computed as prompt entries are reused: ember's logits depend on
 * the prompt/generation flag of each entry (it is what keeps them equal to
 * llama.cpp's), so reusing a generated position would change the numbers of
 * a prompt that is recomputed from scratch by `ember run`. */
#include "server.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef enum { SLOT_IDLE, SLOT_PREFILL, SLOT_GEN } slot_state;

typedef struct {
    slot_state st;
    srv_request *req;
    ember_token *cache; /* tokens whose KV is in this sequence */
    int n_cache;
    int n_reusable;     /* leading cache positions computed as prompt entries */
    int n_prompt_done;  /* prompt tokens already in the KV */
    int8_t prompt_flag; /* prompt of two or more tokens */
    ember_token last;   /* sampled, not yet evaluated */
    ember_sampler *smp;
    ember_detok *dt;
    double t_last;
    uint64_t lru;
} slot;

struct srv_sched {
    ember_model *m;
    ember_ctx *c;
    srv_metrics *metrics;
    srv_sched_params p;
    int n_ctx, n_vocab;
    pthread_t th;
    pthread_mutex_t mu; /* queue, stopping, stats */
    pthread_cond_t cv;
    srv_request **queue;
    int q_head, q_len;
    int stopping;
    int n_busy;
    double kv_used;
    slot *slots;
    uint64_t tick;
    ember_token *b_tok;
    int32_t *b_seq;
    int8_t *b_want, *b_pre;
    int *b_slot;
    double *lp_scratch;
    int rr; /* round-robin start for prompt chunks */
};

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

srv_request *srv_request_new(void) {
    srv_request *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->refs = 1;
    r->top_logprobs = 0;
    return r;
}

void srv_request_release(srv_request *r) {
    if (!r) return;
    pthread_mutex_lock(&r->mu);
    const int left = --r->refs;
    pthread_mutex_unlock(&r->mu);
    if (left) return;
    free(r->prompt);
    for (int i = 0; i < r->n_stop; i++) free(r->stop[i]);
    free(r->text);
    free(r->toks);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}

static int is_cancelled(srv_request *r) { return __atomic_load_n(&r->cancelled, __ATOMIC_ACQUIRE); }

/* ---- output: text, stop strings, logprobs ---- */

static int text_reserve(srv_request *r, size_t extra) {
    if (r->text_len + extra + 1 <= r->text_cap) return 0;
    size_t cap = r->text_cap ? r->text_cap : 256;
    while (cap < r->text_len + extra + 1) cap *= 2;
    char *t = realloc(r->text, cap);
    if (!t) return -1;
    r->text = t;
    r->text_cap = cap;
    return 0;
}

/* Appends bytes; returns 1 if a stop string completed (text cut before it). */
static int append_text(srv_request *r, const char *s, int n) {
    if (n <= 0) return 0;
    if (text_reserve(r, (size_t)n)) return 0;
    const size_t old = r->text_len;
    memcpy(r->text + old, s, (size_t)n);
    r->text_len += (size_t)n;
    r->text[r->text_len] = 0;
    /* earliest completed stop string that ends in the new bytes */
    size_t cut = (size_t)-1;
    for (int i = 0; i < r->n_stop; i++) {
        const size_t sl = strlen(r->stop[i]);
        size_t from = old >= sl ? old - sl + 1 : 0;
        if (from < r->text_safe) from = r->text_safe;
        for (size_t p = from; p + sl <= r->text_len; p++)
            if (!memcmp(r->text + p, r->stop[i], sl)) {
                if (p < cut) cut = p;
                break;
            }
    }
    if (cut != (size_t)-1) {
        r->text_len = cut;
        r->text[cut] = 0;
        r->text_safe = cut;
        return 1;
    }
    /* hold back a tail that could still become a stop string */
    size_t hold = 0;
    for (int i = 0; i < r->n_stop; i++) {
        const size_t sl = strlen(r->stop[i]);
        for (size_t k = sl - 1; k > hold; k--)
            if (k <= r->text_len && !memcmp(r->text + r->text_len - k, r->stop[i], k)) { hold = k; break; }
    }
    const size_t safe = r->text_len - hold;
    if (safe > r->text_safe) r->text_safe = safe;
    return 0;
}

/* log-softmax of the raw logits at tok, and the top alternatives */
static void record_logprobs(srv_sched *s, srv_request *r, const float *logits, ember_token tok) {
    if (r->n_toks == r->toks_cap) {
        const int cap = r->toks_cap ? 2 * r->toks_cap : 64;
        srv_tokinfo *t = realloc(r->toks, (size_t)cap * sizeof *t);
        if (!t) return;
        r->toks = t;
        r->toks_cap = cap;
    }
    float mx = -INFINITY;
    for (int i = 0; i < s->n_vocab; i++) mx = logits[i] > mx ? logits[i] : mx;
    double sum = 0;
    for (int i = 0; i < s->n_vocab; i++) sum += exp((double)logits[i] - mx);
    const double lse = mx + log(sum);
    srv_tokinfo *ti = &r->toks[r->n_toks++];
    ti->tok = tok;
    ti->logprob = (float)(logits[tok] - lse);
    ti->n_top = 0;
    for (int k = 0; k < r->top_logprobs; k++) {
        int best = -1;
        for (int i = 0; i < s->n_vocab; i++) {
            int taken = 0;
            for (int j = 0; j < ti->n_top; j++) taken |= ti->top[j] == i;
            if (!taken && (best < 0 || logits[i] > logits[best])) best = i;
        }
        if (best < 0) break;
        ti->top[ti->n_top] = best;
        ti->top_lp[ti->n_top++] = (float)(logits[best] - lse);
    }
}

/* ---- slots ---- */

static void slot_finish(srv_sched *s, slot *sl, const char *reason, const char *error) {
    srv_request *r = sl->req;
    char tail[64];
    const int k = reason && strcmp(reason, "stop_string") ? ember_detok_flush(sl->dt, tail, sizeof tail) : 0;
    pthread_mutex_lock(&r->mu);
    if (k > 0) append_text(r, tail, k);
    r->text_safe = r->text_len;
    r->finish_reason = reason && !strcmp(reason, "stop_string") ? "stop" : reason;
    if (error) snprintf(r->error, sizeof r->error, "%s", error);
    r->done = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    srv_request_release(r);
    sl->req = NULL;
    sl->st = SLOT_IDLE;
    sl->lru = ++s->tick;
    ember_sampler_free(sl->smp);
    sl->smp = NULL;
    ember_detok_free(sl->dt);
    sl->dt = NULL;
}

static int lcp(const ember_token *a, int na, const ember_token *b, int nb) {
    int n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* Puts a queued request into an idle slot, reusing the longest cached
 * prefix. Returns 0, or -1 after failing the request. */
static int admit(srv_sched *s, srv_request *r) {
    int best = -1, best_n = -1;
    for (int i = 0; i < s->p.n_parallel; i++) {
        slot *sl = &s->slots[i];
        if (sl->st != SLOT_IDLE) continue;
        const int n = lcp(sl->cache, sl->n_reusable, r->prompt, r->n_prompt);
        if (n > best_n || (n == best_n && sl->lru < s->slots[best].lru)) best = i, best_n = n;
    }
    slot *sl = &s->slots[best];
    /* a longer reusable prefix in another (possibly busy) slot is copied */
    int src = -1, src_n = best_n;
    for (int i = 0; i < s->p.n_parallel; i++) {
        if (i == best) continue;
        const int n = lcp(s->slots[i].cache, s->slots[i].n_reusable, r->prompt, r->n_prompt);
        if (n > src_n) src = i, src_n = n;
    }
    int keep = best_n;
    if (src >= 0 && src_n > 1 && ember_kv_copy_prefix(s->c, src, best, src_n) == EMBER_OK) {
        memcpy(sl->cache, s->slots[src].cache, (size_t)src_n * sizeof *sl->cache);
        sl->n_cache = sl->n_reusable = src_n;
        keep = src_n;
    }
    /* at least one prompt token must be evaluated to get its logits */
    if (keep > r->n_prompt - 1) keep = r->n_prompt - 1;
    if (keep < 0) keep = 0;
    ember_kv_truncate(s->c, best, keep);
    sl->n_cache = keep;
    if (sl->n_reusable > keep) sl->n_reusable = keep;
    sl->prompt_flag = r->n_prompt >= 2;
    sl->n_prompt_done = keep;
    sl->req = r;
    sl->st = SLOT_PREFILL;
    if (ember_sampler_create(&r->sp, s->n_vocab, &sl->smp) || ember_detok_create(s->m, &sl->dt)) {
        sl->st = SLOT_IDLE;
        ember_sampler_free(sl->smp);
        sl->smp = NULL;
        sl->req = NULL;
        pthread_mutex_lock(&r->mu);
        snprintf(r->error, sizeof r->error, "cannot set up sampling");
        r->done = 1;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        srv_request_release(r);
        return -1;
    }
    for (int i = 0; i < r->n_prompt; i++) ember_sampler_accept(sl->smp, r->prompt[i]);
    pthread_mutex_lock(&r->mu);
    r->n_reused = keep;
    pthread_mutex_unlock(&r->mu);
    pthread_mutex_lock(&s->metrics->mu);
    s->metrics->prompt_tokens += (uint64_t)r->n_prompt;
    s->metrics->prompt_tokens_reused += (uint64_t)keep;
    pthread_mutex_unlock(&s->metrics->mu);
    return 0;
}

/* A token was sampled for slot sl. */
static void on_token(srv_sched *s, slot *sl, const float *logits, ember_token tok) {
    srv_request *r = sl->req;
    const double now = srv_now();
    srv_hist_add(s->metrics, r->n_gen ? &s->metrics->itl : &s->metrics->ttft, r->n_gen ? now - sl->t_last : now - r->t_submit);
    sl->t_last = now;
    pthread_mutex_lock(&s->metrics->mu);
    s->metrics->gen_tokens++;
    pthread_mutex_unlock(&s->metrics->mu);
    ember_sampler_accept(sl->smp, tok);
    sl->last = tok;
    const int eog = ember_model_is_eog(s->m, tok);
    char piece[256];
    int k = eog ? 0 : ember_detok_push(sl->dt, tok, piece, sizeof piece);
    if (k < 0) k = 0; /* a token longer than any real one: dropped */
    pthread_mutex_lock(&r->mu);
    r->n_gen++;
    if (r->logprobs) record_logprobs(s, r, logits, tok);
    const int stopped = append_text(r, piece, k);
    const int n_gen = r->n_gen;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (eog) slot_finish(s, sl, "stop", NULL);
    else if (stopped) slot_finish(s, sl, "stop_string", NULL);
    else if (n_gen >= r->max_tokens || sl->n_cache >= s->n_ctx) slot_finish(s, sl, "length", NULL);
    else sl->st = SLOT_GEN;
}

static void step(srv_sched *s) {
    int n = 0;
    for (int i = 0; i < s->p.n_parallel; i++) {
        slot *sl = &s->slots[i];
        if (sl->st != SLOT_GEN) continue;
        s->b_tok[n] = sl->last;
        s->b_seq[n] = i;
        s->b_want[n] = 1;
        s->b_pre[n] = 0;
        s->b_slot[n++] = i;
    }
    for (int j = 0; j < s->p.n_parallel && n < s->p.n_batch; j++) {
        const int i = (s->rr + j) % s->p.n_parallel;
        slot *sl = &s->slots[i];
        if (sl->st != SLOT_PREFILL) continue;
        srv_request *r = sl->req;
        int k = r->n_prompt - sl->n_prompt_done;
        if (k > s->p.n_batch - n) k = s->p.n_batch - n;
        for (int t = 0; t < k; t++) {
            s->b_tok[n] = r->prompt[sl->n_prompt_done + t];
            s->b_seq[n] = i;
            s->b_want[n] = sl->n_prompt_done + t == r->n_prompt - 1;
            s->b_pre[n] = sl->prompt_flag;
            s->b_slot[n++] = i;
        }
    }
    s->rr = (s->rr + 1) % s->p.n_parallel;
    if (!n) return;
    ember_batch b = {n, s->b_tok, s->b_seq, s->b_want, s->b_pre};
    const ember_status st = ember_decode(s->c, &b);
    pthread_mutex_lock(&s->metrics->mu);
    s->metrics->forward_passes++;
    s->metrics->batched_tokens += (uint64_t)n;
    pthread_mutex_unlock(&s->metrics->mu);
    if (st != EMBER_OK) {
        char msg[160];
        snprintf(msg, sizeof msg, "forward pass failed: %s", ember_last_error());
        for (int i = 0; i < s->p.n_parallel; i++) {
            slot *sl = &s->slots[i];
            if (sl->st == SLOT_IDLE) continue;
            ember_kv_clear(s->c, i);
            sl->n_cache = sl->n_reusable = 0;
            slot_finish(s, sl, NULL, msg);
        }
        return;
    }
    /* the evaluated tokens are now in the KV of their sequences */
    for (int e = 0; e < n; e++) {
        slot *sl = &s->slots[s->b_slot[e]];
        if (sl->n_reusable == sl->n_cache && s->b_pre[e]) sl->n_reusable++;
        sl->cache[sl->n_cache++] = s->b_tok[e];
        if (sl->st == SLOT_PREFILL) sl->n_prompt_done++;
    }
    for (int e = 0; e < n; e++) {
        if (!s->b_want[e]) continue;
        slot *sl = &s->slots[s->b_slot[e]];
        if (!sl->req) continue;
        const float *logits = ember_get_logits(s->c, e);
        if (!logits) continue;
        on_token(s, sl, logits, ember_sampler_sample(sl->smp, logits));
    }
}

static void *sched_main(void *arg) {
    srv_sched *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        for (;;) {
            int busy = 0;
            for (int i = 0; i < s->p.n_parallel; i++) busy += s->slots[i].st != SLOT_IDLE;
            if (busy || s->q_len || s->stopping) break;
            pthread_cond_wait(&s->cv, &s->mu);
        }
        const int stopping = s->stopping;
        /* admit queued requests into idle slots, in arrival order */
        for (;;) {
            int idle = -1;
            for (int i = 0; i < s->p.n_parallel && idle < 0; i++)
                if (s->slots[i].st == SLOT_IDLE) idle = i;
            if (idle < 0 || !s->q_len) break;
            srv_request *r = s->queue[s->q_head];
            s->q_head = (s->q_head + 1) % s->p.queue_max;
            s->q_len--;
            pthread_mutex_unlock(&s->mu);
            if (stopping || is_cancelled(r)) {
                pthread_mutex_lock(&r->mu);
                snprintf(r->error, sizeof r->error, stopping ? "server is shutting down" : "cancelled");
                r->done = 1;
                pthread_cond_broadcast(&r->cv);
                pthread_mutex_unlock(&r->mu);
                srv_request_release(r);
            } else {
                admit(s, r);
            }
            pthread_mutex_lock(&s->mu);
        }
        pthread_mutex_unlock(&s->mu);
        /* cancelled requests free their slot before the next pass */
        int busy = 0;
        for (int i = 0; i < s->p.n_parallel; i++) {
            slot *sl = &s->slots[i];
            if (sl->st == SLOT_IDLE) continue;
            if (stopping || is_cancelled(sl->req)) slot_finish(s, sl, NULL, stopping ? "server is shutting down" : "cancelled");
            else busy++;
        }
        if (!busy && stopping) {
            pthread_mutex_lock(&s->mu);
            const int empty = !s->q_len;
            pthread_mutex_unlock(&s->mu);
            if (empty) break;
            continue;
        }
        if (busy) step(s);
        pthread_mutex_lock(&s->mu);
        int nb = 0;
        double used = 0;
        for (int i = 0; i < s->p.n_parallel; i++) {
            nb += s->slots[i].st != SLOT_IDLE;
            used += ember_kv_len(s->c, i);
        }
        s->n_busy = nb;
        s->kv_used = used / ((double)s->n_ctx * s->p.n_parallel);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

srv_sched *srv_sched_start(ember_model *m, ember_ctx *c, const srv_sched_params *p, srv_metrics *metrics) {
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m;
    s->c = c;
    s->p = *p;
    s->metrics = metrics;
    s->n_ctx = ember_ctx_n_ctx(c);
    s->n_vocab = ember_model_n_vocab(m);
    const size_t nb = (size_t)p->n_batch;
    s->queue = calloc((size_t)p->queue_max, sizeof *s->queue);
    s->slots = calloc((size_t)p->n_parallel, sizeof *s->slots);
    s->b_tok = malloc(nb * sizeof *s->b_tok);
    s->b_seq = malloc(nb * sizeof *s->b_seq);
    s->b_want = malloc(nb);
    s->b_pre = malloc(nb);
    s->b_slot = malloc(nb * sizeof *s->b_slot);
    int ok = s->queue && s->slots && s->b_tok && s->b_seq && s->b_want && s->b_pre && s->b_slot;
    for (int i = 0; ok && i < p->n_parallel; i++) ok = (s->slots[i].cache = malloc((size_t)s->n_ctx * sizeof(ember_token))) != NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (!ok || pthread_create(&s->th, NULL, sched_main, s)) {
        for (int i = 0; s->slots && i < p->n_parallel; i++) free(s->slots[i].cache);
        free(s->queue); free(s->slots); free(s->b_tok); free(s->b_seq); free(s->b_want); free(s->b_pre); free(s->b_slot);
        free(s);
        return NULL;
    }
    return s;
}

int srv_sched_submit(srv_sched *s, srv_request *r) {
    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->q_len >= s->p.queue_max) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    pthread_mutex_lock(&r->mu);
    r->refs++;
    pthread_mutex_unlock(&r->mu);
    s->queue[(s->q_head + s->q_len) % s->p.queue_max] = r;
    s->q_len++;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

void srv_sched_cancel(srv_sched *s, srv_request *r) {
    __atomic_store_n(&r->cancelled, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_stats(srv_sched *s, int *queue_len, int *n_busy, int *n_slots, double *kv_used) {
    pthread_mutex_lock(&s->mu);
    *queue_len = s->q_len;
    *n_busy = s->n_busy;
    *n_slots = s->p.n_parallel;
    *kv_used = s->kv_used;
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_stop(srv_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    const int joined = s->stopping == 2;
    s->stopping = 1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (joined) return;
    pthread_join(s->th, NULL);
    pthread_mutex_lock(&s->mu);
    s->stopping = 2;
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    srv_sched_stop(s);
    for (int i = 0; i < s->p.n_parallel; i++) {
        ember_sampler_free(s->slots[i].smp);
        ember_detok_free(s->slots[i].dt);
        free(s->slots[i].cache);
    }
    free(s->queue); free(s->slots); free(s->b_tok); free(s->b_seq); free(s->b_want); free(s->b_pre); free(s->b_slot);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
