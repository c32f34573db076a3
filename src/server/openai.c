/* OpenAI request bodies -> srv_request, with every field validated.
 * Unknown fields are ignored (newer clients keep working); known fields of
 * the wrong type or out of range are a 400 naming the field. */
#include "openai.h"
#include "../chat/chat_template.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(srv_error *e, int status, const char *param, const char *code, const char *fmt, const char *arg) {
    e->status = status;
    e->type = status == 401 ? "authentication_error" : status >= 500 ? "server_error" : "invalid_request_error";
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    e->code = code;
    snprintf(e->message, sizeof e->message, fmt, arg ? arg : "");
    return -1;
}

int srv_error_set(srv_error *e, int status, const char *param, const char *code, const char *msg) {
    return fail(e, status, param, code, "%s", msg);
}

int srv_utf8_valid(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        const unsigned char c = (unsigned char)s[i];
        if (c < 0x80) { i++; continue; }
        int len;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else return 0;
        if (i + (size_t)len > n) return 0;
        for (int k = 1; k < len; k++) {
            const unsigned char d = (unsigned char)s[i + (size_t)k];
            if ((d & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (d & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += (size_t)len;
    }
    return 1;
}

/* ---- typed field readers: absent -> keep default; wrong type/range -> 400 ---- */

static int get_num(cJSON *o, const char *k, double lo, double hi, double *out, srv_error *e) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return fail(e, 400, k, "invalid_type", "'%s' must be a number", k);
    if (v->valuedouble < lo || v->valuedouble > hi) {
        char msg[160];
        snprintf(msg, sizeof msg, "'%s' must be between %g and %g", k, lo, hi);
        return fail(e, 400, k, "invalid_value", "%s", msg);
    }
    *out = v->valuedouble;
    return 1;
}

static int get_int(cJSON *o, const char *k, double lo, double hi, long long *out, srv_error *e) {
    double d;
    const int r = get_num(o, k, lo, hi, &d, e);
    if (r <= 0) return r;
    if (d != floor(d)) return fail(e, 400, k, "invalid_type", "'%s' must be an integer", k);
    *out = (long long)d;
    return 1;
}

static int get_bool(cJSON *o, const char *k, int *out, srv_error *e) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return fail(e, 400, k, "invalid_type", "'%s' must be a boolean", k);
    *out = cJSON_IsTrue(v);
    return 1;
}

static int parse_stop(cJSON *o, srv_request *r, srv_error *e) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) {
        if (!*v->valuestring) return fail(e, 400, "stop", "invalid_value", "'stop' strings must not be empty%s", "");
        return (r->stop[r->n_stop++] = strdup(v->valuestring)) ? 0 : fail(e, 500, NULL, NULL, "out of memory%s", "");
    }
    if (!cJSON_IsArray(v)) return fail(e, 400, "stop", "invalid_type", "'stop' must be a string or an array of strings%s", "");
    if (cJSON_GetArraySize(v) > SRV_MAX_STOP) return fail(e, 400, "stop", "invalid_value", "'stop' takes at most 4 strings%s", "");
    cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) return fail(e, 400, "stop", "invalid_type", "'stop' must be a string or an array of strings%s", "");
        if (!*it->valuestring) return fail(e, 400, "stop", "invalid_value", "'stop' strings must not be empty%s", "");
        if (!(r->stop[r->n_stop++] = strdup(it->valuestring))) return fail(e, 500, NULL, NULL, "out of memory%s", "");
    }
    return 0;
}

int srv_max_token_bytes(const ember_model *m) {
    int most = 1;
    char buf[512];
    for (int t = 0, nv = ember_model_n_vocab(m); t < nv; t++) {
        const int n = ember_token_to_piece(m, t, buf, sizeof buf, 1);
        const int len = n < 0 ? -n : n; /* -(needed) when longer than buf */
        if (len > most) most = len;
    }
    return most;
}

static int tokenize_text(const srv_env *env, const char *text, int add_special, srv_request *r, srv_error *e,
                         const char *param) {
    const size_t len = strlen(text);
    /* every token stands for at most max_token_bytes bytes of the text */
    if (env->max_token_bytes > 0 && len / (size_t)env->max_token_bytes >= (size_t)env->n_ctx) {
        char msg[200];
        snprintf(msg, sizeof msg, "the prompt is %zu bytes, more than this server's context of %d tokens can hold", len, env->n_ctx);
        return fail(e, 400, param, "context_length_exceeded", "%s", msg);
    }
    /* more tokens than bytes + BOS/EOS is impossible; over the context is an error anyway */
    const int cap = env->n_ctx + 1;
    r->prompt = malloc((size_t)cap * sizeof *r->prompt);
    if (!r->prompt) return fail(e, 500, NULL, NULL, "out of memory%s", "");
    const int n = ember_tokenize(env->model, text, len, add_special, 1, r->prompt, cap);
    if (n < 0 || n > env->n_ctx - 1) {
        char msg[200];
        snprintf(msg, sizeof msg, "the prompt has %d tokens; this server's context is %d tokens (at least one is needed to generate)",
                 n < 0 ? -n : n, env->n_ctx);
        return fail(e, 400, param, "context_length_exceeded", "%s", msg);
    }
    if (n == 0) return fail(e, 400, param, "invalid_value", "the prompt is empty%s", "");
    r->n_prompt = n;
    return 0;
}

static int parse_prompt(cJSON *o, const srv_env *env, srv_request *r, srv_error *e) {
    cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    if (!p) return fail(e, 400, "prompt", "missing_field", "'prompt' is required%s", "");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    if (cJSON_IsString(p)) return tokenize_text(env, p->valuestring, 1, r, e, "prompt");
    if (!cJSON_IsArray(p)) return fail(e, 400, "prompt", "invalid_type", "'prompt' must be a string or an array of token ids%s", "");
    const int n = cJSON_GetArraySize(p);
    if (n == 0) return fail(e, 400, "prompt", "invalid_value", "the prompt is empty%s", "");
    if (n > env->n_ctx - 1) return fail(e, 400, "prompt", "context_length_exceeded", "the prompt is longer than the context%s", "");
    r->prompt = malloc((size_t)n * sizeof *r->prompt);
    if (!r->prompt) return fail(e, 500, NULL, NULL, "out of memory%s", "");
    cJSON *it;
    cJSON_ArrayForEach(it, p) {
        if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 0 ||
            it->valuedouble >= ember_model_n_vocab(env->model))
            return fail(e, 400, "prompt", "invalid_value", "'prompt' must be one string or token ids within the vocabulary (batches of prompts are not supported)%s", "");
        r->prompt[r->n_prompt++] = (ember_token)it->valuedouble;
    }
    return 0;
}

/* messages -> ember_chat_msg list (content as a string or text parts) */
static int parse_messages(cJSON *o, const srv_env *env, srv_request *r, srv_error *e) {
    cJSON *msgs = cJSON_GetObjectItemCaseSensitive(o, "messages");
    if (!msgs) return fail(e, 400, "messages", "missing_field", "'messages' is required%s", "");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return fail(e, 400, "messages", "invalid_type", "'messages' must be a non-empty array%s", "");
    const int n = cJSON_GetArraySize(msgs);
    /* every chat template marks each message with at least one token: more
     * messages than the context cannot fit (and 120000 took 1.3 s to render) */
    if (n > env->n_ctx) {
        char msg[160];
        snprintf(msg, sizeof msg, "%d messages cannot fit in this server's context of %d tokens", n, env->n_ctx);
        return fail(e, 400, "messages", "context_length_exceeded", "%s", msg);
    }
    ember_chat_msg *cm = calloc((size_t)n, sizeof *cm);
    char **owned = calloc((size_t)n, sizeof *owned);
    int rc = 0, i = 0;
    if (!cm || !owned) { rc = fail(e, 500, NULL, NULL, "out of memory%s", ""); goto out; }
    cJSON *m;
    cJSON_ArrayForEach(m, msgs) {
        cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role"), *content = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (!cJSON_IsObject(m) || !cJSON_IsString(role)) { rc = fail(e, 400, "messages", "invalid_value", "each message needs a string 'role'%s", ""); goto out; }
        const char *rl = role->valuestring;
        if (strcmp(rl, "system") && strcmp(rl, "user") && strcmp(rl, "assistant") && strcmp(rl, "developer") && strcmp(rl, "tool")) {
            rc = fail(e, 400, "messages", "invalid_value", "unknown message role '%s'", rl);
            goto out;
        }
        cm[i].role = !strcmp(rl, "developer") ? "system" : rl;
        if (cJSON_IsString(content)) {
            cm[i].content = content->valuestring;
        } else if (!content || cJSON_IsNull(content)) {
            cm[i].content = "";
        } else if (cJSON_IsArray(content)) {
            /* text parts joined; other part types are not supported by a text model */
            size_t len = 0;
            cJSON *part;
            cJSON_ArrayForEach(part, content) {
                cJSON *type = cJSON_GetObjectItemCaseSensitive(part, "type"), *text = cJSON_GetObjectItemCaseSensitive(part, "text");
                if (!cJSON_IsString(type) || strcmp(type->valuestring, "text") || !cJSON_IsString(text)) {
                    rc = fail(e, 400, "messages", "invalid_value", "only text content parts are supported%s", "");
                    goto out;
                }
                len += strlen(text->valuestring);
            }
            char *joined = malloc(len + 1);
            if (!joined) { rc = fail(e, 500, NULL, NULL, "out of memory%s", ""); goto out; }
            /* appended at a running offset: strcat would rescan the text for every part, quadratic in a body of many tiny parts */
            size_t at = 0;
            cJSON_ArrayForEach(part, content) {
                const char *t = cJSON_GetObjectItemCaseSensitive(part, "text")->valuestring;
                const size_t tl = strlen(t);
                memcpy(joined + at, t, tl);
                at += tl;
            }
            joined[at] = 0;
            owned[i] = joined;
            cm[i].content = joined;
        } else {
            rc = fail(e, 400, "messages", "invalid_type", "message 'content' must be a string or an array of text parts%s", "");
            goto out;
        }
        i++;
    }
    char err[256];
    char *prompt = ember_chat_render(env->chat_template, cm, n, 1, env->bos_text, env->eos_text, err, sizeof err);
    if (!prompt) { rc = fail(e, 400, "messages", "chat_template_error", "%s", err); goto out; }
    /* the template writes BOS itself where the model wants it */
    rc = tokenize_text(env, prompt, 0, r, e, "messages");
    free(prompt);
out:
    for (int k = 0; owned && k < n; k++) free(owned[k]);
    free(owned);
    free(cm);
    return rc;
}

int srv_parse_generation(cJSON *o, int chat, const srv_env *env, srv_job *job, srv_error *e) {
    srv_request *r = job->req;
    memset(&job->opt, 0, sizeof job->opt);
    if (!cJSON_IsObject(o)) return fail(e, 400, NULL, "invalid_type", "the request body must be a JSON object%s", "");
    cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (model && !cJSON_IsString(model) && !cJSON_IsNull(model)) return fail(e, 400, "model", "invalid_type", "'model' must be a string%s", "");
    long long ll;
    double d;
    int b;
    r->sp = ember_sampler_default_params();
    r->sp.temp = 1.0f; /* OpenAI's default */
    r->sp.seed = env->default_seed();
    d = 1;
    if (get_num(o, "temperature", 0, 2, &d, e) < 0) return -1;
    r->sp.temp = (float)d;
    d = 1;
    if (get_num(o, "top_p", 0, 1, &d, e) < 0) return -1;
    if (d <= 0) return fail(e, 400, "top_p", "invalid_value", "'top_p' must be greater than 0%s", "");
    r->sp.top_p = (float)d;
    ll = 0;
    if (get_int(o, "top_k", 0, 1e9, &ll, e) < 0) return -1;
    r->sp.top_k = (int)ll;
    d = 0;
    if (get_num(o, "min_p", 0, 1, &d, e) < 0) return -1;
    r->sp.min_p = (float)d;
    d = 0;
    if (get_num(o, "presence_penalty", -2, 2, &d, e) < 0) return -1;
    r->sp.presence_penalty = (float)d;
    d = 0;
    if (get_num(o, "frequency_penalty", -2, 2, &d, e) < 0) return -1;
    r->sp.frequency_penalty = (float)d;
    d = 1;
    if (get_num(o, "repeat_penalty", 0.01, 10, &d, e) < 0) return -1;
    r->sp.repeat_penalty = (float)d;
    ll = (long long)r->sp.seed;
    if (get_int(o, "seed", -9.2e18, 9.2e18, &ll, e) < 0) return -1;
    r->sp.seed = (uint64_t)ll;
    ll = 1;
    if (get_int(o, "n", 1, 1, &ll, e) < 0) return -1;
    b = 0;
    if (get_bool(o, "stream", &b, e) < 0) return -1;
    job->opt.stream = b;
    cJSON *so = cJSON_GetObjectItemCaseSensitive(o, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so)) return fail(e, 400, "stream_options", "invalid_type", "'stream_options' must be an object%s", "");
        if (get_bool(so, "include_usage", &job->opt.include_usage, e) < 0) return -1;
    }
    if (parse_stop(o, r, e)) return -1;
    if (chat) {
        b = 0;
        if (get_bool(o, "logprobs", &b, e) < 0) return -1;
        ll = 0;
        if (get_int(o, "top_logprobs", 0, SRV_MAX_TOP_LOGPROBS, &ll, e) < 0) return -1;
        if (ll && !b) return fail(e, 400, "top_logprobs", "invalid_value", "'top_logprobs' needs 'logprobs': true%s", "");
        r->logprobs = b;
        r->top_logprobs = (int)ll;
    } else {
        ll = -1;
        if (get_int(o, "logprobs", 0, 5, &ll, e) < 0) return -1;
        r->logprobs = ll >= 0;
        r->top_logprobs = ll > 0 ? (int)ll : 0;
        b = 0;
        if (get_bool(o, "echo", &b, e) < 0) return -1;
        if (b) return fail(e, 400, "echo", "unsupported_value", "'echo' is not supported%s", "");
        cJSON *suffix = cJSON_GetObjectItemCaseSensitive(o, "suffix");
        if (suffix && !cJSON_IsNull(suffix)) return fail(e, 400, "suffix", "unsupported_value", "'suffix' is not supported%s", "");
        ll = 1;
        if (get_int(o, "best_of", 1, 1, &ll, e) < 0) return -1;
    }
    job->opt.chat = chat;
    if (chat ? parse_messages(o, env, r, e) : parse_prompt(o, env, r, e)) return -1;
    /* max_tokens: completions default to OpenAI's 16; chat to the rest of the context */
    ll = chat ? env->n_ctx - r->n_prompt : 16;
    const char *mt = chat && cJSON_GetObjectItemCaseSensitive(o, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    if (get_int(o, mt, 1, env->n_ctx, &ll, e) < 0) return -1;
    r->max_tokens = (int)ll;
    return 0;
}
