/* ember serve: the OpenAI-compatible server (src/server/). Built only when
 * libmicrohttpd and cJSON are installed. */
#ifdef EMBER_HAVE_SERVER
#include "ember.h"
#include "cli.h"
#include "chat/chat_template.h"
#include "server/server.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: ember serve -m MODEL [options]\n"
        "  --host ADDR          address to listen on (default 127.0.0.1)\n"
        "  --port N             port (default 8080; 0 = any free port, printed at start)\n"
        "  --parallel N         requests batched together (slots; default 4)\n"
        "  --ctx C              context per slot (default: model's, max 4096)\n"
        "  --batch B            tokens per forward pass, decode + prompt chunks (default 512)\n"
        "  --queue N            requests waiting beyond the slots before 503 (default 64)\n"
        "  --api-key KEY        require 'Authorization: Bearer KEY' (or env EMBER_API_KEY)\n"
        "  --metrics            expose Prometheus metrics at /metrics\n"
        "  --chat-template T    built-in name (%s) or a Jinja file\n"
        "  --alias NAME         model id reported by /v1/models\n"
        "  --max-body BYTES     request body limit (default 4194304)\n"
        "  -t THREADS           (default: all cores)   --kv-f32   --no-repack\n"
        "endpoints: POST /v1/completions /v1/chat/completions /tokenize /detokenize;\n"
        "           GET /v1/models /health /metrics\n",
        ember_chat_builtin_names());
}

static char *template_from(const char *arg) {
    const char *b = ember_chat_builtin(arg);
    if (b) return strdup(b);
    size_t len;
    return cli_read_file("serve", arg, &len);
}

int cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    const char *model = 0, *host = "127.0.0.1", *api_key = getenv("EMBER_API_KEY"), *tmpl_arg = 0, *alias = 0;
    int port = 8080, parallel = 4, n_ctx = 0, n_batch = 512, queue = 64, metrics = 0, threads = 0, kv_f32 = 0, no_repack = 0;
    int max_body = 4 << 20;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
#define VAL() do { if (!(v = cli_value(cmd, argc, argv, &i))) return 2; } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); model = v; }
        else if (!strcmp(a, "--host")) { VAL(); host = v; }
        else if (!strcmp(a, "--port")) { VAL(); if (cli_int(cmd, a, v, 0, 65535, &port)) return 2; }
        else if (!strcmp(a, "--parallel") || !strcmp(a, "-np")) { VAL(); if (cli_int(cmd, a, v, 1, 256, &parallel)) return 2; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { VAL(); if (cli_int(cmd, a, v, 2, 1 << 20, &n_ctx)) return 2; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { VAL(); if (cli_int(cmd, a, v, 1, 8192, &n_batch)) return 2; }
        else if (!strcmp(a, "--queue")) { VAL(); if (cli_int(cmd, a, v, 1, 1 << 16, &queue)) return 2; }
        else if (!strcmp(a, "--api-key")) { VAL(); api_key = v; }
        else if (!strcmp(a, "--metrics")) metrics = 1;
        else if (!strcmp(a, "--chat-template")) { VAL(); tmpl_arg = v; }
        else if (!strcmp(a, "--alias")) { VAL(); alias = v; }
        else if (!strcmp(a, "--max-body")) { VAL(); if (cli_int(cmd, a, v, 1024, 1 << 30, &max_body)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); if (cli_int(cmd, a, v, 1, 256, &threads)) return 2; }
        else if (!strcmp(a, "--kv-f32")) kv_f32 = 1;
        else if (!strcmp(a, "--no-repack")) no_repack = 1;
        else { fprintf(stderr, "ember serve: unknown option '%s' (see ember serve --help)\n", a); return 2; }
#undef VAL
    }
    if (!model) { fprintf(stderr, "ember serve: no model given (-m MODEL)\n"); return 2; }
    if (api_key && !*api_key) { fprintf(stderr, "ember serve: --api-key is empty\n"); return 2; }
    if (n_batch < parallel) { fprintf(stderr, "ember serve: --batch %d is smaller than --parallel %d\n", n_batch, parallel); return 2; }

    ember_model_params mp = ember_model_default_params();
    mp.n_threads = threads;
    mp.no_repack = no_repack;
    ember_model *m;
    ember_status st = ember_model_load(model, &mp, &m);
    if (st) { fprintf(stderr, "ember serve: %s\n", ember_last_error()); return st == EMBER_ERR_NOMEM ? 1 : 2; }

    /* the chat template: --chat-template, else the model's, else ChatML */
    char *tmpl = NULL;
    if (tmpl_arg) {
        tmpl = template_from(tmpl_arg);
        if (!tmpl) {
            fprintf(stderr, "ember serve: --chat-template %s is neither a built-in (%s) nor a readable file\n", tmpl_arg,
                    ember_chat_builtin_names());
            ember_model_free(m);
            return 2;
        }
    } else if (ember_model_meta_str(m, "tokenizer.chat_template")) {
        tmpl = strdup(ember_model_meta_str(m, "tokenizer.chat_template"));
    } else {
        fprintf(stderr, "ember serve: the model has no chat template; using chatml (--chat-template to choose)\n");
        tmpl = strdup(ember_chat_builtin("chatml"));
    }
    {   /* a template ember cannot render is reported now, not per request;
         * one that refuses a system message (Gemma's raises an error) still
         * serves conversations without one */
        const ember_chat_msg probe[2] = {{"system", "s"}, {"user", "u"}};
        char err[256];
        char *out = tmpl ? ember_chat_render(tmpl, probe, 2, 1, "", "", err, sizeof err) : NULL;
        if (tmpl && !out) out = ember_chat_render(tmpl, probe + 1, 1, 1, "", "", err, sizeof err);
        if (!out) {
            fprintf(stderr, "ember serve: %s (use --chat-template NAME|FILE)\n", tmpl ? err : "out of memory");
            free(tmpl);
            ember_model_free(m);
            return 2;
        }
        free(out);
    }

    ember_ctx_params cp = ember_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_seq = parallel;
    cp.n_threads = threads;
    cp.n_batch = n_batch;
    cp.kv_type = kv_f32 ? EMBER_KV_F32 : EMBER_KV_F16;
    ember_ctx *c;
    st = ember_ctx_create(m, &cp, &c);
    if (st) {
        fprintf(stderr, "ember serve: %s\n", ember_last_error());
        free(tmpl);
        ember_model_free(m);
        return st == EMBER_ERR_INVALID_ARG ? 2 : 1;
    }

    /* signals are taken by sigwait below, in this thread only */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    static srv_metrics met;
    srv_metrics_init(&met);
    srv_sched_params sp = {parallel, n_batch, queue};
    srv_sched *s = srv_sched_start(m, c, &sp, &met);
    if (!s) {
        fprintf(stderr, "ember serve: cannot start the scheduler\n");
        ember_ctx_free(c);
        ember_model_free(m);
        free(tmpl);
        return 1;
    }
    srv_http_params hp = {host, port, api_key, metrics, (size_t)max_body, tmpl, alias ? alias : ember_model_name(m),
                          ember_ctx_n_ctx(c)};
    char err[256];
    srv_http *h = srv_http_start(m, s, &met, &hp, err, sizeof err);
    if (!h) {
        fprintf(stderr, "ember serve: %s\n", err);
        srv_sched_free(s);
        ember_ctx_free(c);
        ember_model_free(m);
        free(tmpl);
        return 2;
    }
    fprintf(stderr, "ember serve: %s | %d slots x %d tokens of context | %s | listening on http://%s:%d\n",
            ember_model_name(m), parallel, ember_ctx_n_ctx(c), ember_cpu_path(), host, srv_http_port(h));
    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "ember serve: %s: cancelling requests in flight and stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv_http_quiesce(h);
    srv_sched_stop(s);
    srv_http_stop(h);
    srv_sched_free(s);
    ember_ctx_free(c);
    ember_model_free(m);
    free(tmpl);
    fprintf(stderr, "ember serve: stopped\n");
    return 0;
}
#endif
