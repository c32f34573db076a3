/* Parsing and validating OpenAI-style request bodies (openai.c). */
#ifndef EMBER_SERVER_OPENAI_H
#define EMBER_SERVER_OPENAI_H

#include "server.h"
#include <cjson/cJSON.h>

/* An OpenAI-style error: {"error": {"message", "type", "param", "code"}}. */
typedef struct {
    int status;
    char message[256];
    const char *type;
    char param[32]; /* "" = null */
    const char *code;
} srv_error;

int srv_error_set(srv_error *e, int status, const char *param, const char *code, const char *msg); /* returns -1 */

/* What request parsing needs to know about the server. */
typedef struct {
    ember_model *model;
    int n_ctx;
    /* the most text bytes one token stands for (srv_max_token_bytes): a
     * prompt longer than n_ctx times this cannot fit and is refused before
     * it is tokenized (120000 empty messages, a 3.4 MB rendered prompt,
     * took 1.9 s and peaked at 325 MB to count, 1.3 s of it rendering) */
    int max_token_bytes;
    const char *chat_template; /* Jinja source */
    const char *bos_text, *eos_text;
    uint64_t (*default_seed)(void);
} srv_env;

typedef struct {
    int chat;
    int stream;
    int include_usage;
} srv_opts;

typedef struct {
    srv_request *req;
    srv_opts opt;
} srv_job;

/* Fills job->req and job->opt from a /v1/completions (chat = 0) or
 * /v1/chat/completions body. 0, or -1 with e set. */
int srv_parse_generation(cJSON *body, int chat, const srv_env *env, srv_job *job, srv_error *e);

/* The longest text of any token of m, in bytes (at least 1). */
int srv_max_token_bytes(const ember_model *m);

/* 1 if s[0..n) is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int srv_utf8_valid(const char *s, size_t n);

#endif
