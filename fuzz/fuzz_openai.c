/* libFuzzer target: the server's request parsing (src/server/openai.c) on
 * arbitrary request bodies. The first byte picks the endpoint (bit 0: chat
 * completions, else completions) and the built-in chat template (bits
 * 1-3); the rest is the body, parsed by cJSON as the HTTP layer does. A body
 * is either rejected with a 4xx and a message naming the problem, or
 * accepted as a request whose every field is in range: a prompt of 1 ..
 * n_ctx - 1 ids within the vocabulary, max_tokens within the context, at
 * most 4 non-empty stop strings, sampling values within their bounds.
 * Model: EMBER_FUZZ_MODEL, else ../shared/models/kjv-5m-q8_0.gguf (the real
 * 32000-token Llama vocabulary); without it the target does nothing. */
#include "ember.h"
#include "chat/chat_template.h"
#include "server/openai.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FUZZ_N_CTX = 256 };

static ember_model *g_model;
static int g_init, g_max_token_bytes;

static uint64_t fixed_seed(void) { return 42; }

static void init(void) {
    g_init = 1;
    const char *path = getenv("EMBER_FUZZ_MODEL");
    if (!path || !*path) path = "../shared/models/kjv-5m-q8_0.gguf";
    ember_model_params mp = ember_model_default_params();
    if (ember_model_load(path, &mp, &g_model)) {
        fprintf(stderr, "fuzz_openai: %s: %s (the target does nothing)\n", path, ember_last_error());
        g_model = NULL;
        return;
    }
    g_max_token_bytes = srv_max_token_bytes(g_model);
}

static void check_error(const srv_error *e) {
    if (e->status < 400 || e->status > 599 || !e->message[0] || !e->type) abort();
    /* a malformed body is the client's fault: only allocation failures are 5xx */
    if (e->status >= 500 && strstr(e->message, "out of memory") == NULL) abort();
}

static void check_request(const srv_request *r, const srv_opts *o) {
    const int nv = ember_model_n_vocab(g_model);
    if (r->n_prompt < 1 || r->n_prompt > FUZZ_N_CTX - 1 || !r->prompt) abort();
    for (int i = 0; i < r->n_prompt; i++)
        if (r->prompt[i] < 0 || r->prompt[i] >= nv) abort();
    if (r->max_tokens < 1 || r->max_tokens > FUZZ_N_CTX) abort();
    if (r->n_stop < 0 || r->n_stop > SRV_MAX_STOP) abort();
    for (int i = 0; i < r->n_stop; i++)
        if (!r->stop[i] || !r->stop[i][0]) abort();
    if (r->top_logprobs < 0 || r->top_logprobs > SRV_MAX_TOP_LOGPROBS) abort();
    const ember_sampler_params *sp = &r->sp;
    if (!(sp->temp >= 0 && sp->temp <= 2) || !(sp->top_p > 0 && sp->top_p <= 1) || sp->top_k < 0 ||
        !(sp->min_p >= 0 && sp->min_p <= 1) || !(fabsf(sp->presence_penalty) <= 2) ||
        !(fabsf(sp->frequency_penalty) <= 2) || !(sp->repeat_penalty >= 0.01f && sp->repeat_penalty <= 10))
        abort();
    if ((o->stream | o->include_usage | o->chat) & ~1) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_init) init();
    if (!g_model || size < 1) return 0;
    static const char *const templates[] = {"chatml", "llama2", "llama3", "mistral", "zephyr"};
    const int chat = data[0] & 1;
    const char *tmpl = ember_chat_builtin(templates[((data[0] >> 1) & 7) % 5]);
    cJSON *body = cJSON_ParseWithLength((const char *)data + 1, size - 1);
    if (!body) return 0; /* the HTTP layer answers 400 itself; nothing to parse */
    const srv_env env = {g_model, FUZZ_N_CTX, g_max_token_bytes, tmpl, "<s>", "</s>", fixed_seed};
    srv_request *r = srv_request_new();
    if (!r) abort();
    srv_job job = {r, {0, 0, 0}};
    srv_error e;
    memset(&e, 0, sizeof e);
    if (srv_parse_generation(body, chat, &env, &job, &e)) check_error(&e);
    else check_request(r, &job.opt);
    srv_request_release(r);
    cJSON_Delete(body);
    return 0;
}
