/* ember serve: an OpenAI-compatible HTTP server.
 *
 * Threads: libmicrohttpd runs one thread per connection (http.c); they parse
 * and validate requests (openai.c), then hand them to the scheduler
 * (scheduler.c), the only thread that touches the ember context. It batches
 * the next token of every running request and chunks of queued prompts into
 * each forward pass (continuous batching) and reuses KV of shared prompt
 * prefixes. Results flow back through the request object, under its mutex. */
#ifndef EMBER_SERVER_H
#define EMBER_SERVER_H

#include "ember.h"
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_MAX_STOP 4
#define SRV_MAX_TOP_LOGPROBS 20

/* ---- metrics (metrics.c) ---- */

#define SRV_HIST_BUCKETS 12
typedef struct {
    double bounds[SRV_HIST_BUCKETS]; /* upper bounds, seconds; +Inf implied */
    uint64_t counts[SRV_HIST_BUCKETS + 1];
    double sum;
    uint64_t n;
} srv_hist;

typedef struct {
    pthread_mutex_t mu;
    uint64_t requests_ok, requests_4xx, requests_5xx;
    uint64_t prompt_tokens, prompt_tokens_reused, gen_tokens;
    uint64_t forward_passes, batched_tokens;
    srv_hist ttft, itl; /* time to first token, inter-token latency */
} srv_metrics;

void srv_metrics_init(srv_metrics *m);
void srv_metrics_status(srv_metrics *m, int http_status);
void srv_hist_add(srv_metrics *m, srv_hist *h, double seconds);
/* Prometheus text exposition; malloc'd. */
char *srv_metrics_render(srv_metrics *m, int queue_len, int n_busy, int n_slots, double kv_used);

/* ---- one request ---- */

typedef struct {
    ember_token tok;
    float logprob;
    int n_top;
    ember_token top[SRV_MAX_TOP_LOGPROBS];
    float top_lp[SRV_MAX_TOP_LOGPROBS];
} srv_tokinfo;

typedef struct srv_request {
    /* set by the HTTP thread before submission, then read-only */
    ember_token *prompt;
    int n_prompt;
    int max_tokens;
    ember_sampler_params sp;
    char *stop[SRV_MAX_STOP];
    int n_stop;
    int logprobs;     /* 1: record per-token logprobs */
    int top_logprobs; /* alternatives per token (0..20) */
    double t_submit;

    /* progress, under mu; the scheduler writes, the HTTP thread reads */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;          /* generated text so far (stop strings cut off) */
    size_t text_len, text_cap;
    size_t text_safe;    /* prefix of text that no stop string can change */
    srv_tokinfo *toks;   /* per generated token, when logprobs */
    int n_toks, toks_cap;
    int n_gen;           /* generated tokens (incl. an end-of-generation one) */
    int n_reused;        /* prompt tokens whose KV was reused */
    int done;            /* finished: finish_reason set */
    const char *finish_reason; /* "stop", "length", or NULL with error */
    char error[160];     /* set when the scheduler failed the request */
    int cancelled;       /* set by the HTTP side (client gone, shutdown) */
    int refs;            /* HTTP side + scheduler; freed at 0 */
} srv_request;

srv_request *srv_request_new(void);
/* Drops one reference; frees at zero. */
void srv_request_release(srv_request *r);

/* ---- scheduler (scheduler.c) ---- */

typedef struct srv_sched srv_sched;

typedef struct {
    int n_parallel;  /* slots = sequences batched together */
    int n_batch;     /* tokens per forward pass (decode + prompt chunks) */
    int queue_max;   /* waiting requests beyond the slots; more -> 503 */
} srv_sched_params;

srv_sched *srv_sched_start(ember_model *m, ember_ctx *c, const srv_sched_params *p, srv_metrics *metrics);
/* Queues r (takes a reference). Returns 0, or -1 when the queue is full. */
int srv_sched_submit(srv_sched *s, srv_request *r);
/* Marks r cancelled and wakes the scheduler, which frees its slot. */
void srv_sched_cancel(srv_sched *s, srv_request *r);
/* Cancels everything in flight and joins the thread; submissions then get
 * -1, and cancel stays safe until srv_sched_free. */
void srv_sched_stop(srv_sched *s);
void srv_sched_free(srv_sched *s);
void srv_sched_stats(srv_sched *s, int *queue_len, int *n_busy, int *n_slots, double *kv_used);

/* ---- HTTP server (http.c) ---- */

typedef struct {
    const char *host;
    int port;
    const char *api_key;   /* NULL: no auth */
    int metrics;           /* expose /metrics */
    size_t max_body;       /* bytes */
    const char *chat_template; /* Jinja source, or NULL if the model has none */
    const char *model_id;  /* name reported by /v1/models */
    int n_ctx;             /* context per request */
} srv_http_params;

typedef struct srv_http srv_http;

srv_http *srv_http_start(ember_model *m, srv_sched *s, srv_metrics *metrics, const srv_http_params *p,
                         char *err, size_t err_size);
/* Stops accepting new connections (shutdown, step 1). */
void srv_http_quiesce(srv_http *h);
/* Finishes the open connections and frees. */
void srv_http_stop(srv_http *h);
int srv_http_port(const srv_http *h);

double srv_now(void); /* monotonic seconds */

#endif
