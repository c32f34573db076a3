/* Plain generation for `ember run`. */
#include "cli.h"
#include "spec_cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ember_run_opts_default(ember_run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_predict = 128;
    o->draft_max = 8;
    o->sp = ember_sampler_default_params();
}

int ember_run_load(const char *cmd, const char *path, const ember_run_opts *o, int n_seq, ember_model **m,
                   ember_ctx **c) {
    ember_model_params mp = ember_model_default_params();
    mp.n_threads = o->n_threads;
    mp.no_repack = o->no_repack;
    ember_status st = ember_model_load(path, &mp, m);
    if (st) {
        fprintf(stderr, "ember %s: %s\n", cmd, ember_last_error());
        return st == EMBER_ERR_NOMEM ? 1 : 2;
    }
    ember_ctx_params cp = ember_ctx_default_params();
    cp.n_ctx = o->n_ctx;
    cp.n_threads = o->n_threads;
    cp.n_batch = o->n_batch;
    cp.n_seq = n_seq;
    cp.kv_type = o->kv_f32 ? EMBER_KV_F32 : EMBER_KV_F16;
    st = ember_ctx_create(*m, &cp, c);
    if (st) {
        fprintf(stderr, "ember %s: %s\n", cmd, ember_last_error());
        ember_model_free(*m);
        *m = 0;
        return st == EMBER_ERR_INVALID_ARG ? 2 : 1;
    }
    return 0;
}

static void json_ids(FILE *f, const ember_token *t, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", t[i]);
    fputc(']', f);
}

int ember_run_generate(const ember_run_opts *o) {
    if (o->draft || o->lookup) {
        if (!ember_run_speculative) { fprintf(stderr, "ember run: speculative decoding is not part of this build\n"); return 2; }
        return ember_run_speculative(o);
    }
    const char *cmd = "run";
    double t0 = cli_now_ms();
    ember_model *m;
    ember_ctx *c;
    int rc = ember_run_load(cmd, o->model, o, 1, &m, &c);
    if (rc) return rc;
    double t_load = cli_now_ms() - t0;
    const int n_ctx = ember_ctx_n_ctx(c), n_vocab = ember_model_n_vocab(m);

    int cap = (int)(o->prompt_len + 16 < (size_t)1 << 30 ? o->prompt_len + 16 : 1 << 30);
    ember_token *prompt = malloc((size_t)cap * sizeof *prompt);
    int n_prompt = prompt ? ember_tokenize(m, o->prompt, o->prompt_len, !o->no_special, 1, prompt, cap) : -1;
    if (n_prompt < 0) { fprintf(stderr, "ember run: cannot tokenize the prompt\n"); rc = 1; goto out; }
    if (n_prompt == 0) { fprintf(stderr, "ember run: the prompt is empty and the model adds no BOS token\n"); rc = 2; goto out; }
    if (n_prompt > n_ctx) {
        fprintf(stderr, "ember run: the prompt has %d tokens, more than the context of %d (use --ctx)\n", n_prompt, n_ctx);
        rc = 2;
        goto out;
    }
    ember_sampler *smp;
    if (ember_sampler_create(&o->sp, n_vocab, &smp)) { fprintf(stderr, "ember run: invalid sampling parameters\n"); rc = 2; goto out; }
    ember_detok *dt;
    if (ember_detok_create(m, &dt)) { ember_sampler_free(smp); rc = 1; goto out; }
    for (int i = 0; i < n_prompt; i++) ember_sampler_accept(smp, prompt[i]);

    ember_token *gen = malloc(((size_t)o->n_predict + 1) * sizeof *gen);
    size_t text_cap = 4096, text_len = 0;
    char *text = malloc(text_cap);
    int n_gen = 0, stop_eog = 0, stop_ctx = 0;
    double t1 = cli_now_ms(), t_prompt = 0;
    int8_t *is_prompt = calloc((size_t)n_prompt, 1);
    if (is_prompt) memset(is_prompt, n_prompt >= 2, (size_t)n_prompt);
    ember_batch b = {n_prompt, prompt, 0, 0, is_prompt};
    ember_status st = is_prompt ? ember_decode(c, &b) : EMBER_ERR_NOMEM;
    b.prefill = 0;
    t_prompt = cli_now_ms() - t1;
    double t2 = cli_now_ms();
    char piece[512];
    while (!st && gen && text && n_gen < o->n_predict) {
        const float *logits = ember_get_logits(c, b.n_tokens - 1);
        ember_token tok = ember_sampler_sample(smp, logits);
        ember_sampler_accept(smp, tok);
        gen[n_gen++] = tok; /* an end-of-generation token is listed, as llama.cpp does */
        if (ember_model_is_eog(m, tok)) { stop_eog = 1; break; }
        int k = ember_detok_push(dt, tok, piece, sizeof piece);
        if (k > 0) {
            if (!o->json) { fwrite(piece, 1, (size_t)k, stdout); fflush(stdout); }
            if (text_len + (size_t)k + 1 > text_cap) {
                char *nt = realloc(text, text_cap * 2 + (size_t)k);
                if (!nt) break;
                text = nt;
                text_cap = text_cap * 2 + (size_t)k;
            }
            memcpy(text + text_len, piece, (size_t)k);
            text_len += (size_t)k;
        }
        if (n_gen >= o->n_predict) break;
        if (ember_kv_len(c, 0) >= n_ctx) { stop_ctx = 1; break; }
        b.n_tokens = 1;
        b.tokens = &gen[n_gen - 1];
        st = ember_decode(c, &b);
    }
    double t_gen = cli_now_ms() - t2;
    if (st) { fprintf(stderr, "ember run: %s\n", ember_last_error()); rc = 1; }
    if (!gen || !text) { fprintf(stderr, "ember run: out of memory\n"); rc = 1; }
    int k = text ? ember_detok_flush(dt, piece, sizeof piece) : 0;
    if (k > 0 && text) {
        if (!o->json) fwrite(piece, 1, (size_t)k, stdout);
        if (text_len + (size_t)k + 1 <= text_cap) { memcpy(text + text_len, piece, (size_t)k); text_len += (size_t)k; }
    }
    if (stop_ctx) fprintf(stderr, "ember run: stopped after %d tokens: the context of %d is full\n", n_gen, n_ctx);
    const double pp_tps = t_prompt > 0 ? n_prompt / (t_prompt / 1e3) : 0;
    const double tg_tps = t_gen > 0 && n_gen > 1 ? (n_gen - 1) / (t_gen / 1e3) : 0;
    if (o->json && !rc) {
        printf("{\"model\": ");
        cli_json_str(stdout, ember_model_name(m), strlen(ember_model_name(m)));
        printf(", \"prompt_tokens\": ");
        json_ids(stdout, prompt, n_prompt);
        printf(", \"tokens\": ");
        json_ids(stdout, gen, n_gen);
        printf(", \"text\": ");
        cli_json_str(stdout, text, text_len);
        printf(", \"stopped_eos\": %s", stop_eog ? "true" : "false");
        printf(", \"timings\": {\"load_ms\": %.2f, \"prompt_ms\": %.2f, \"prompt_tokens_per_s\": %.2f, "
               "\"gen_ms\": %.2f, \"gen_tokens\": %d, \"gen_tokens_per_s\": %.2f, \"threads\": %d, \"cpu_path\": \"%s\"}}\n",
               t_load, t_prompt, pp_tps, t_gen, n_gen, tg_tps, o->n_threads, ember_cpu_path());
    } else if (!o->json) {
        printf("\n");
        fflush(stdout);
        if (ember_model_repacked_bytes(m))
            fprintf(stderr, "ember run: weight copies made at load (repacked, huge-page rows) use %.1f MB more memory (--no-repack to skip)\n",
                    ember_model_repacked_bytes(m) / 1e6);
        fprintf(stderr, "ember run: load %.1f ms | prompt %d tokens, %.2f tok/s | generated %d tokens, %.2f tok/s | %s\n",
                t_load, n_prompt, pp_tps, n_gen, tg_tps, ember_cpu_path());
    }
    free(gen);
    free(text);
    free(is_prompt);
    ember_detok_free(dt);
    ember_sampler_free(smp);
out:
    free(prompt);
    ember_ctx_free(c);
    ember_model_free(m);
    return rc;
}
