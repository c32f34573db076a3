/* Server metrics in Prometheus' text exposition format. */
#include "server.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double TTFT_BOUNDS[SRV_HIST_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
static const double ITL_BOUNDS[SRV_HIST_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5};

void srv_metrics_init(srv_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    memcpy(m->ttft.bounds, TTFT_BOUNDS, sizeof TTFT_BOUNDS);
    memcpy(m->itl.bounds, ITL_BOUNDS, sizeof ITL_BOUNDS);
}

void srv_metrics_status(srv_metrics *m, int status) {
    pthread_mutex_lock(&m->mu);
    if (status >= 500) m->requests_5xx++;
    else if (status >= 400) m->requests_4xx++;
    else m->requests_ok++;
    pthread_mutex_unlock(&m->mu);
}

void srv_hist_add(srv_metrics *m, srv_hist *h, double v) {
    pthread_mutex_lock(&m->mu);
    int b = 0;
    while (b < SRV_HIST_BUCKETS && v > h->bounds[b]) b++;
    h->counts[b]++;
    h->sum += v;
    h->n++;
    pthread_mutex_unlock(&m->mu);
}

typedef struct { char *s; size_t len, cap; int oom; } buf;

static void put(buf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        const int n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if ((size_t)n < b->cap - b->len) { b->len += (size_t)n; return; }
        char *t = realloc(b->s, b->cap * 2 + (size_t)n);
        if (!t) { b->oom = 1; return; }
        b->s = t;
        b->cap = b->cap * 2 + (size_t)n;
    }
}

static void hist(buf *b, const char *name, const char *help, const srv_hist *h) {
    put(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < SRV_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        put(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[SRV_HIST_BUCKETS];
    put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, (unsigned long long)cum, name, h->sum, name,
        (unsigned long long)h->n);
}

static void counter(buf *b, const char *name, const char *help, uint64_t v) {
    put(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, (unsigned long long)v);
}

static void gauge(buf *b, const char *name, const char *help, double v) {
    put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %g\n", name, help, name, name, v);
}

char *srv_metrics_render(srv_metrics *m, int queue_len, int n_busy, int n_slots, double kv_used) {
    buf b = {malloc(4096), 0, 4096, 0};
    if (!b.s) return NULL;
    pthread_mutex_lock(&m->mu);
    put(&b, "# HELP ember_requests_total HTTP requests by status class.\n# TYPE ember_requests_total counter\n");
    put(&b, "ember_requests_total{status=\"2xx\"} %llu\n", (unsigned long long)m->requests_ok);
    put(&b, "ember_requests_total{status=\"4xx\"} %llu\n", (unsigned long long)m->requests_4xx);
    put(&b, "ember_requests_total{status=\"5xx\"} %llu\n", (unsigned long long)m->requests_5xx);
    counter(&b, "ember_prompt_tokens_total", "Prompt tokens received.", m->prompt_tokens);
    counter(&b, "ember_prompt_tokens_reused_total", "Prompt tokens whose KV was reused from a cached prefix.",
            m->prompt_tokens_reused);
    gauge(&b, "ember_prefix_cache_hit_ratio", "Share of prompt tokens served from the prefix cache.",
          m->prompt_tokens ? (double)m->prompt_tokens_reused / (double)m->prompt_tokens : 0.0);
    counter(&b, "ember_generated_tokens_total", "Tokens generated.", m->gen_tokens);
    counter(&b, "ember_forward_passes_total", "Batched forward passes.", m->forward_passes);
    counter(&b, "ember_batched_tokens_total", "Tokens evaluated in forward passes.", m->batched_tokens);
    hist(&b, "ember_time_to_first_token_seconds", "Time from request arrival to its first token.", &m->ttft);
    hist(&b, "ember_inter_token_latency_seconds", "Time between consecutive tokens of a request.", &m->itl);
    pthread_mutex_unlock(&m->mu);
    gauge(&b, "ember_queue_length", "Requests waiting for a slot.", queue_len);
    gauge(&b, "ember_slots_busy", "Slots running a request.", n_busy);
    gauge(&b, "ember_slots_total", "Slots (parallel sequences).", n_slots);
    gauge(&b, "ember_kv_cache_usage_ratio", "Share of KV cache cells in use.", kv_used);
    if (b.oom) { free(b.s); return NULL; }
    return b.s;
}
