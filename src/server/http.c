/* HTTP side of ember serve: libmicrohttpd with one thread per connection
 * (a handler may block until its request is done, and a stream's reader
 * blocks until the next token), routing, auth, JSON responses and
 * Server-Sent Events. */
#include "openai.h"
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct srv_http {
    struct MHD_Daemon *d;
    ember_model *m;
    srv_sched *s;
    srv_metrics *metrics;
    srv_http_params p;
    srv_env env;
    int port;
    long created;
    char bos[64], eos[64];
    int open_requests; /* atomic: requests not yet completed (for draining) */
    /* /tokenize runs in the connection's thread on whatever fits in the body
     * (no context bounds it: a 4 MB body took 3.4 s and ~90 MB here); one at
     * a time, so concurrent large bodies queue instead of multiplying that
     * memory */
    pthread_mutex_t tokenize_lock;
};

typedef struct {
    char *body;
    size_t len, cap;
    int too_large;
} conn_state;

/* ---- small helpers ---- */

static uint64_t next_seed(void) {
    static uint64_t ctr;
    const uint64_t c = __atomic_add_fetch(&ctr, 1, __ATOMIC_RELAXED);
    uint64_t x = (uint64_t)time(NULL) ^ (c * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(srv_now() * 1e9);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    return x ^ (x >> 29);
}

static void make_id(char *out, size_t n, const char *prefix) {
    snprintf(out, n, "%s%016llx", prefix, (unsigned long long)next_seed());
}

static enum MHD_Result send_text(srv_http *h, struct MHD_Connection *c, int status, const char *ctype, char *text) {
    srv_metrics_status(h->metrics, status);
    if (!text) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) { free(text); return MHD_NO; }
    MHD_add_response_header(resp, "Content-Type", ctype);
    const enum MHD_Result r = MHD_queue_response(c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result send_json(srv_http *h, struct MHD_Connection *c, int status, cJSON *j) {
    char *text = j ? cJSON_PrintUnformatted(j) : NULL;
    cJSON_Delete(j);
    if (!text) return send_text(h, c, 500, "application/json", strdup("{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"param\":null,\"code\":null}}"));
    return send_text(h, c, status, "application/json", text);
}

static cJSON *error_json(const srv_error *e) {
    cJSON *root = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(root, "error");
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : "invalid_request_error");
    if (e->param[0]) cJSON_AddStringToObject(err, "param", e->param);
    else cJSON_AddNullToObject(err, "param");
    if (e->code) cJSON_AddStringToObject(err, "code", e->code);
    else cJSON_AddNullToObject(err, "code");
    return root;
}

static enum MHD_Result send_error(srv_http *h, struct MHD_Connection *c, const srv_error *e) {
    return send_json(h, c, e->status, error_json(e));
}

static enum MHD_Result send_err(srv_http *h, struct MHD_Connection *c, int status, const char *param, const char *code,
                                const char *msg) {
    srv_error e;
    srv_error_set(&e, status, param, code, msg);
    return send_error(h, c, &e);
}

/* The client closed its end (it gave up on the request). */
static int client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd pfd = {ci->connect_fd, POLLRDHUP, 0};
    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Token text for logprobs: invalid UTF-8 (byte tokens) becomes U+FFFD. */
static void token_text(srv_http *h, ember_token t, char *out, size_t cap, unsigned char *raw, int *n_raw) {
    char piece[256];
    int n = ember_token_to_piece(h->m, t, piece, sizeof piece, 1);
    if (n < 0) n = 0;
    memcpy(raw, piece, (size_t)n);
    *n_raw = n;
    size_t o = 0;
    for (int i = 0; i < n && o + 4 < cap;) {
        int len = 1;
        const unsigned char b = (unsigned char)piece[i];
        if (b >= 0xF0) len = 4; else if (b >= 0xE0) len = 3; else if (b >= 0xC0) len = 2;
        if (i + len <= n && srv_utf8_valid(piece + i, (size_t)len)) {
            memcpy(out + o, piece + i, (size_t)len);
            o += (size_t)len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
}

static cJSON *bytes_json(const unsigned char *raw, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(raw[i]));
    return a;
}

/* logprobs of tokens [from, to) in the chat or the legacy completions shape */
static cJSON *logprobs_json(srv_http *h, const srv_request *r, int from, int to, int chat, size_t *text_offset) {
    char text[1024];
    unsigned char raw[256];
    int n_raw;
    if (chat) {
        cJSON *root = cJSON_CreateObject(), *content = cJSON_AddArrayToObject(root, "content");
        for (int i = from; i < to; i++) {
            const srv_tokinfo *ti = &r->toks[i];
            cJSON *t = cJSON_CreateObject();
            token_text(h, ti->tok, text, sizeof text, raw, &n_raw);
            cJSON_AddStringToObject(t, "token", text);
            cJSON_AddNumberToObject(t, "logprob", ti->logprob);
            cJSON_AddItemToObject(t, "bytes", bytes_json(raw, n_raw));
            cJSON *tops = cJSON_AddArrayToObject(t, "top_logprobs");
            for (int k = 0; k < ti->n_top; k++) {
                cJSON *a = cJSON_CreateObject();
                token_text(h, ti->top[k], text, sizeof text, raw, &n_raw);
                cJSON_AddStringToObject(a, "token", text);
                cJSON_AddNumberToObject(a, "logprob", ti->top_lp[k]);
                cJSON_AddItemToObject(a, "bytes", bytes_json(raw, n_raw));
                cJSON_AddItemToArray(tops, a);
            }
            cJSON_AddItemToArray(content, t);
        }
        return root;
    }
    cJSON *root = cJSON_CreateObject();
    cJSON *toks = cJSON_AddArrayToObject(root, "tokens"), *lps = cJSON_AddArrayToObject(root, "token_logprobs");
    cJSON *tops = r->top_logprobs ? cJSON_AddArrayToObject(root, "top_logprobs") : NULL;
    if (!tops) cJSON_AddNullToObject(root, "top_logprobs");
    cJSON *offs = cJSON_AddArrayToObject(root, "text_offset");
    for (int i = from; i < to; i++) {
        const srv_tokinfo *ti = &r->toks[i];
        token_text(h, ti->tok, text, sizeof text, raw, &n_raw);
        cJSON_AddItemToArray(toks, cJSON_CreateString(text));
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(ti->logprob));
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)*text_offset));
        *text_offset += (size_t)n_raw;
        if (tops) {
            cJSON *o = cJSON_CreateObject();
            for (int k = 0; k < ti->n_top; k++) {
                token_text(h, ti->top[k], text, sizeof text, raw, &n_raw);
                if (!cJSON_GetObjectItemCaseSensitive(o, text)) cJSON_AddNumberToObject(o, text, ti->top_lp[k]);
            }
            cJSON_AddItemToArray(tops, o);
        }
    }
    return root;
}

static cJSON *usage_json(const srv_request *r) {
    cJSON *u = cJSON_CreateObject();
    const int gen = r->n_gen;
    cJSON_AddNumberToObject(u, "prompt_tokens", r->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", gen);
    cJSON_AddNumberToObject(u, "total_tokens", r->n_prompt + gen);
    cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(d, "cached_tokens", r->n_reused);
    return u;
}

static cJSON *response_head(srv_http *h, const char *id, const char *object) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "id", id);
    cJSON_AddStringToObject(root, "object", object);
    cJSON_AddNumberToObject(root, "created", (double)time(NULL));
    cJSON_AddStringToObject(root, "model", h->p.model_id);
    cJSON_AddStringToObject(root, "system_fingerprint", "ember");
    return root;
}

/* ---- streaming (Server-Sent Events) ---- */

typedef struct {
    srv_http *h;
    struct MHD_Connection *conn;
    srv_request *r;
    srv_opts opt;
    char id[48];
    int sent_role, finished;
    size_t text_sent, text_offset;
    int toks_sent;
    char *pend;
    size_t pend_len, pend_off;
} stream_state;

static void pend_add(stream_state *st, const char *s, size_t n) {
    char *p = realloc(st->pend, st->pend_len + n);
    if (!p) return;
    st->pend = p;
    memcpy(st->pend + st->pend_len, s, n);
    st->pend_len += n;
}

static void pend_event(stream_state *st, cJSON *j) {
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!s) return;
    pend_add(st, "data: ", 6);
    pend_add(st, s, strlen(s));
    pend_add(st, "\n\n", 2);
    free(s);
}

/* One chunk with the text delta [text_sent, text_safe) and new logprobs;
 * called with r->mu held. */
static void chunk(stream_state *st, const char *finish) {
    srv_request *r = st->r;
    const int chat = st->opt.chat;
    cJSON *root = response_head(st->h, st->id, chat ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    cJSON *delta_text = cJSON_CreateString("");
    if (r->text_safe > st->text_sent) {
        char *t = strndup(r->text + st->text_sent, r->text_safe - st->text_sent);
        if (t) {
            cJSON_Delete(delta_text);
            delta_text = cJSON_CreateString(t);
            free(t);
        }
        st->text_sent = r->text_safe;
    }
    if (chat) {
        cJSON *delta = cJSON_AddObjectToObject(ch, "delta");
        if (!st->sent_role) {
            cJSON_AddStringToObject(delta, "role", "assistant");
            st->sent_role = 1;
        }
        if (finish && !cJSON_GetStringValue(delta_text)[0]) cJSON_Delete(delta_text);
        else cJSON_AddItemToObject(delta, "content", delta_text);
    } else {
        cJSON_AddItemToObject(ch, "text", delta_text);
    }
    if (r->logprobs && r->n_toks > st->toks_sent) {
        cJSON_AddItemToObject(ch, "logprobs", logprobs_json(st->h, r, st->toks_sent, r->n_toks, chat, &st->text_offset));
        st->toks_sent = r->n_toks;
    } else {
        cJSON_AddNullToObject(ch, "logprobs");
    }
    if (finish) cJSON_AddStringToObject(ch, "finish_reason", finish);
    else cJSON_AddNullToObject(ch, "finish_reason");
    pend_event(st, root);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *st = cls;
    srv_request *r = st->r;
    for (;;) {
        if (st->pend_off < st->pend_len) {
            size_t n = st->pend_len - st->pend_off;
            if (n > max) n = max;
            memcpy(buf, st->pend + st->pend_off, n);
            st->pend_off += n;
            if (st->pend_off == st->pend_len) st->pend_off = st->pend_len = 0;
            return (ssize_t)n;
        }
        if (st->finished) return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&r->mu);
        while (!r->done && r->text_safe == st->text_sent && (!r->logprobs || r->n_toks == st->toks_sent) &&
               st->sent_role) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 100 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
            if (!r->done && client_gone(st->conn)) {
                pthread_mutex_unlock(&r->mu);
                srv_sched_cancel(st->h->s, r);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
        if (r->done && !r->finish_reason) {
            srv_error e;
            srv_error_set(&e, 500, NULL, NULL, r->error);
            pend_event(st, error_json(&e));
            st->finished = 1;
        } else if (r->done) {
            chunk(st, r->finish_reason);
            if (st->opt.include_usage) {
                cJSON *u = response_head(st->h, st->id, st->opt.chat ? "chat.completion.chunk" : "text_completion");
                cJSON_AddArrayToObject(u, "choices");
                cJSON_AddItemToObject(u, "usage", usage_json(r));
                pend_event(st, u);
            }
            st->finished = 1;
        } else {
            chunk(st, NULL);
        }
        pthread_mutex_unlock(&r->mu);
        if (st->finished) pend_add(st, "data: [DONE]\n\n", 14);
    }
}

static void stream_free(void *cls) {
    stream_state *st = cls;
    pthread_mutex_lock(&st->r->mu);
    const int done = st->r->done;
    pthread_mutex_unlock(&st->r->mu);
    if (!done) srv_sched_cancel(st->h->s, st->r);
    srv_request_release(st->r);
    free(st->pend);
    free(st);
}

/* ---- endpoints ---- */

static enum MHD_Result generation(srv_http *h, struct MHD_Connection *c, cJSON *body, int chat) {
    srv_request *r = srv_request_new();
    if (!r) return send_err(h, c, 500, NULL, NULL, "out of memory");
    srv_job job = {r, {0}};
    srv_error e;
    if (srv_parse_generation(body, chat, &h->env, &job, &e)) {
        srv_request_release(r);
        return send_error(h, c, &e);
    }
    r->t_submit = srv_now();
    if (srv_sched_submit(h->s, r)) {
        srv_request_release(r);
        return send_err(h, c, 503, NULL, "server_busy", "the server is busy: every slot and the queue are full; retry later");
    }
    char id[48];
    make_id(id, sizeof id, chat ? "chatcmpl-" : "cmpl-");
    if (job.opt.stream) {
        stream_state *st = calloc(1, sizeof *st);
        struct MHD_Response *resp = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free) : NULL;
        if (!resp) {
            srv_sched_cancel(h->s, r);
            srv_request_release(r);
            free(st);
            return send_err(h, c, 500, NULL, NULL, "out of memory");
        }
        st->h = h;
        st->conn = c;
        st->r = r;
        st->opt = job.opt;
        snprintf(st->id, sizeof st->id, "%s", id);
        st->sent_role = !chat;
        MHD_add_response_header(resp, "Content-Type", "text/event-stream");
        MHD_add_response_header(resp, "Cache-Control", "no-cache");
        srv_metrics_status(h->metrics, 200);
        const enum MHD_Result ret = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    /* non-streaming: wait here (this connection's own thread) */
    pthread_mutex_lock(&r->mu);
    while (!r->done) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (!r->done && client_gone(c)) {
            pthread_mutex_unlock(&r->mu);
            srv_sched_cancel(h->s, r);
            srv_request_release(r);
            return MHD_NO; /* nobody to answer */
        }
    }
    pthread_mutex_unlock(&r->mu);
    if (!r->finish_reason) {
        const int shutting = !strcmp(r->error, "server is shutting down");
        enum MHD_Result ret = send_err(h, c, shutting ? 503 : 500, NULL, shutting ? "shutting_down" : NULL, r->error);
        srv_request_release(r);
        return ret;
    }
    cJSON *root = response_head(h, id, chat ? "chat.completion" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(root, "choices"), *ch = cJSON_CreateObject();
    cJSON_AddItemToArray(choices, ch);
    cJSON_AddNumberToObject(ch, "index", 0);
    if (chat) {
        cJSON *msg = cJSON_AddObjectToObject(ch, "message");
        cJSON_AddStringToObject(msg, "role", "assistant");
        cJSON_AddStringToObject(msg, "content", r->text ? r->text : "");
    } else {
        cJSON_AddStringToObject(ch, "text", r->text ? r->text : "");
    }
    size_t off = 0;
    if (r->logprobs) cJSON_AddItemToObject(ch, "logprobs", logprobs_json(h, r, 0, r->n_toks, chat, &off));
    else cJSON_AddNullToObject(ch, "logprobs");
    cJSON_AddStringToObject(ch, "finish_reason", r->finish_reason);
    cJSON_AddItemToObject(root, "usage", usage_json(r));
    srv_request_release(r);
    return send_json(h, c, 200, root);
}

static enum MHD_Result tokenize(srv_http *h, struct MHD_Connection *c, cJSON *body) {
    cJSON *content = cJSON_GetObjectItemCaseSensitive(body, "content");
    if (!cJSON_IsString(content)) return send_err(h, c, 400, "content", "invalid_type", "'content' must be a string");
    cJSON *as = cJSON_GetObjectItemCaseSensitive(body, "add_special");
    if (as && !cJSON_IsBool(as)) return send_err(h, c, 400, "add_special", "invalid_type", "'add_special' must be a boolean");
    const int add = as && cJSON_IsTrue(as);
    const size_t len = strlen(content->valuestring);
    if (len > (size_t)INT_MAX - 16) return send_err(h, c, 400, "content", "invalid_value", "'content' is too long");
    /* one pass: a token takes at least one byte of text, besides the
     * BOS/EOS and SentencePiece's leading space (a second pass only if a
     * vocabulary ever needs more) */
    int cap = (int)len + 16;
    ember_token *t = malloc((size_t)cap * sizeof *t);
    if (!t) return send_err(h, c, 500, NULL, NULL, "out of memory");
    pthread_mutex_lock(&h->tokenize_lock);
    int n = ember_tokenize(h->m, content->valuestring, len, add, 1, t, cap);
    if (n < 0 && -n > cap) {
        ember_token *more = realloc(t, (size_t)-n * sizeof *t);
        if (more) { t = more; cap = -n; n = ember_tokenize(h->m, content->valuestring, len, add, 1, t, cap); }
    }
    pthread_mutex_unlock(&h->tokenize_lock);
    if (n < 0) { free(t); return send_err(h, c, 500, NULL, NULL, "tokenization failed (out of memory?)"); }
    cJSON *root = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(root, "tokens");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(t[i]));
    free(t);
    return send_json(h, c, 200, root);
}

/* Appends one token's text (flush: the held-back bytes) at text + len,
 * growing the buffer while the detokenizer says it is short. Returns the
 * bytes added, or -1 out of memory. A token's text (at most 1 MiB, each
 * invalid byte at most 3 bytes of U+FFFD) fits well within 8 MiB of room. */
static int detok_append(ember_detok *d, int flush, ember_token tok, char **text, size_t *cap, size_t len) {
    for (;;) {
        const size_t room = *cap - len - 1;
        const int r = room > INT_MAX ? INT_MAX : (int)room;
        const int k = flush ? ember_detok_flush(d, *text + len, r) : ember_detok_push(d, tok, *text + len, r);
        if (k >= 0) return k;
        if (room > ((size_t)8 << 20)) return -1; /* room enough: the detokenizer itself ran out of memory */
        char *t = realloc(*text, *cap * 2);
        if (!t) return -1;
        *text = t;
        *cap *= 2;
    }
}

static enum MHD_Result detokenize(srv_http *h, struct MHD_Connection *c, cJSON *body) {
    cJSON *toks = cJSON_GetObjectItemCaseSensitive(body, "tokens");
    if (!cJSON_IsArray(toks)) return send_err(h, c, 400, "tokens", "invalid_type", "'tokens' must be an array of token ids");
    cJSON *it;
    /* range first: converting a double outside int's range is undefined */
    cJSON_ArrayForEach(it, toks) if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) || it->valuedouble >= ember_model_n_vocab(h->m) ||
                                     it->valuedouble != (double)(int)it->valuedouble)
        return send_err(h, c, 400, "tokens", "invalid_value", "'tokens' must hold token ids within the vocabulary");
    ember_detok *d;
    if (ember_detok_create(h->m, &d)) return send_err(h, c, 500, NULL, NULL, "out of memory");
    size_t cap = 256, len = 0;
    char *text = malloc(cap);
    int k = text ? 0 : -1;
    cJSON_ArrayForEach(it, toks) {
        if (k < 0) break;
        k = detok_append(d, 0, (ember_token)it->valuedouble, &text, &cap, len);
        if (k > 0) len += (size_t)k;
    }
    if (k >= 0) k = detok_append(d, 1, 0, &text, &cap, len);
    ember_detok_free(d);
    if (k < 0) { free(text); return send_err(h, c, 500, NULL, NULL, "out of memory"); }
    len += (size_t)k;
    text[len] = 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "content", text);
    free(text);
    return send_json(h, c, 200, root);
}

static enum MHD_Result models(srv_http *h, struct MHD_Connection *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "object", "list");
    cJSON *data = cJSON_AddArrayToObject(root, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", h->p.model_id);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)h->created);
    cJSON_AddStringToObject(m, "owned_by", "ember");
    cJSON *meta = cJSON_AddObjectToObject(m, "meta");
    cJSON_AddNumberToObject(meta, "n_vocab", ember_model_n_vocab(h->m));
    cJSON_AddNumberToObject(meta, "n_ctx", h->env.n_ctx);
    cJSON_AddNumberToObject(meta, "n_params", (double)ember_model_n_params(h->m));
    cJSON_AddNumberToObject(meta, "size", (double)ember_model_size_bytes(h->m));
    cJSON_AddItemToArray(data, m);
    return send_json(h, c, 200, root);
}

static int authorized(srv_http *h, struct MHD_Connection *c) {
    if (!h->p.api_key) return 1;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!auth || strncmp(auth, "Bearer ", 7)) return 0;
    const char *k = auth + 7, *want = h->p.api_key;
    const size_t n = strlen(want);
    if (strlen(k) != n) return 0;
    unsigned diff = 0; /* constant time */
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(k[i] ^ want[i]);
    return diff == 0;
}

static int path_is(const char *url, const char *a) {
    return !strcmp(url, a) || (!strncmp(url, "/v1", 3) && !strcmp(url + 3, a));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_http *h = cls;
    conn_state *cs = *con_cls;
    if (!cs) {
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        *con_cls = cs;
        __atomic_add_fetch(&h->open_requests, 1, __ATOMIC_ACQ_REL);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cs->too_large) {
            if (cs->len + *upload_size > h->p.max_body) {
                cs->too_large = 1;
            } else {
                if (cs->len + *upload_size + 1 > cs->cap) {
                    size_t cap = cs->cap ? cs->cap : 4096;
                    while (cap < cs->len + *upload_size + 1) cap *= 2;
                    char *b = realloc(cs->body, cap);
                    if (!b) return MHD_NO;
                    cs->body = b;
                    cs->cap = cap;
                }
                memcpy(cs->body + cs->len, upload, *upload_size);
                cs->len += *upload_size;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    const int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/health")) {
        if (!get) return send_err(h, c, 405, NULL, "method_not_allowed", "use GET for /health");
        return send_text(h, c, 200, "application/json", strdup("{\"status\":\"ok\"}"));
    }
    if (!authorized(h, c)) return send_err(h, c, 401, NULL, "invalid_api_key", "missing or invalid API key (Authorization: Bearer ...)");
    if (!strcmp(url, "/metrics")) {
        if (!h->p.metrics) return send_err(h, c, 404, NULL, "not_found", "metrics are off (start the server with --metrics)");
        int q, busy, slots;
        double kv;
        srv_sched_stats(h->s, &q, &busy, &slots, &kv);
        return send_text(h, c, 200, "text/plain; version=0.0.4", srv_metrics_render(h->metrics, q, busy, slots, kv));
    }
    if (path_is(url, "/models")) {
        if (!get) return send_err(h, c, 405, NULL, "method_not_allowed", "use GET for /v1/models");
        return models(h, c);
    }
    const int completions = path_is(url, "/completions"), chat = path_is(url, "/chat/completions");
    const int tok = !strcmp(url, "/tokenize"), detok = !strcmp(url, "/detokenize");
    if (!completions && !chat && !tok && !detok) {
        char msg[160];
        snprintf(msg, sizeof msg, "unknown endpoint %.100s", url);
        return send_err(h, c, 404, NULL, "not_found", msg);
    }
    if (!post) return send_err(h, c, 405, NULL, "method_not_allowed", "use POST for this endpoint");
    if (cs->too_large) {
        char msg[96];
        snprintf(msg, sizeof msg, "the request body is larger than the limit of %zu bytes", h->p.max_body);
        return send_err(h, c, 400, NULL, "body_too_large", msg);
    }
    if (!cs->len) return send_err(h, c, 400, NULL, "invalid_json", "the request body is empty; expected a JSON object");
    if (!srv_utf8_valid(cs->body, cs->len)) return send_err(h, c, 400, NULL, "invalid_utf8", "the request body is not valid UTF-8");
    cs->body[cs->len] = 0;
    if (memchr(cs->body, 0, cs->len)) return send_err(h, c, 400, NULL, "invalid_json", "the request body holds a NUL byte");
    cJSON *body = cJSON_ParseWithLength(cs->body, cs->len);
    if (!body) return send_err(h, c, 400, NULL, "invalid_json", "the request body is not valid JSON");
    if (!cJSON_IsObject(body)) {
        cJSON_Delete(body);
        return send_err(h, c, 400, NULL, "invalid_json", "the request body must be a JSON object");
    }
    enum MHD_Result ret = tok ? tokenize(h, c, body) : detok ? detokenize(h, c, body) : generation(h, c, body, chat);
    cJSON_Delete(body);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode code) {
    (void)c; (void)code;
    srv_http *h = cls;
    conn_state *cs = *con_cls;
    if (cs) {
        free(cs->body);
        free(cs);
        *con_cls = NULL;
        __atomic_sub_fetch(&h->open_requests, 1, __ATOMIC_ACQ_REL);
    }
}

srv_http *srv_http_start(ember_model *m, srv_sched *s, srv_metrics *metrics, const srv_http_params *p, char *err,
                         size_t err_size) {
    srv_http *h = calloc(1, sizeof *h);
    if (!h) { snprintf(err, err_size, "out of memory"); return NULL; }
    pthread_mutex_init(&h->tokenize_lock, NULL);
    h->m = m;
    h->s = s;
    h->metrics = metrics;
    h->p = *p;
    h->created = (long)time(NULL);
    const ember_token bos = ember_model_bos(m), eos = ember_model_eos(m);
    if (bos >= 0 && ember_token_to_piece(m, bos, h->bos, sizeof h->bos - 1, 1) < 0) h->bos[0] = 0;
    if (eos >= 0 && ember_token_to_piece(m, eos, h->eos, sizeof h->eos - 1, 1) < 0) h->eos[0] = 0;
    h->env = (srv_env){m, p->n_ctx, srv_max_token_bytes(m), p->chat_template, h->bos, h->eos, next_seed};
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *sa;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC;
    memset(&a4, 0, sizeof a4);
    memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, p->host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET;
        a4.sin_port = htons((uint16_t)p->port);
        sa = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, p->host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons((uint16_t)p->port);
        sa = (struct sockaddr *)&a6;
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, err_size, "--host %s is not an IPv4 or IPv6 address", p->host);
        pthread_mutex_destroy(&h->tokenize_lock);
        free(h);
        return NULL;
    }
    h->d = MHD_start_daemon(flags, (uint16_t)p->port, NULL, NULL, handle, h, MHD_OPTION_SOCK_ADDR, sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, h, MHD_OPTION_END);
    if (!h->d) {
        snprintf(err, err_size, "cannot listen on %s:%d (in use, or not allowed)", p->host, p->port);
        pthread_mutex_destroy(&h->tokenize_lock);
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : p->port;
    return h;
}

int srv_http_port(const srv_http *h) { return h->port; }

void srv_http_quiesce(srv_http *h) {
    if (!h || !h->d) return;
    const MHD_socket fd = MHD_quiesce_daemon(h->d);
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void srv_http_stop(srv_http *h) {
    if (!h) return;
    /* let the connections answer what the scheduler has finished (cancelled
     * requests get their 503) before the daemon closes them; bounded */
    for (int i = 0; i < 300 && __atomic_load_n(&h->open_requests, __ATOMIC_ACQUIRE) > 0; i++) {
        const struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(h->d);
    pthread_mutex_destroy(&h->tokenize_lock);
    free(h);
}
