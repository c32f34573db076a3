/* `ember run --draft D / --lookup N`: speculative generation with statistics;
 * --compare also runs target-only and reports the speedup. The draft length
 * is adaptive (--draft-max is a maximum, see spec.h); EMBER_DRAFT_FIXED=1 in
 * the environment always drafts --draft-max tokens. */
#include "cli.h"
#include "spec_cli.h"
#include "spec/spec.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ember_detok *dt;
    int stream;
    char *text;
    size_t len, cap;
    ember_token *toks;
    int n, max;
} sink;

static int on_token(void *ud, ember_token t) {
    sink *s = ud;
    if (s->n < s->max) s->toks[s->n++] = t;
    char piece[512];
    int k = ember_detok_push(s->dt, t, piece, sizeof piece);
    if (k > 0) {
        if (s->stream) { fwrite(piece, 1, (size_t)k, stdout); fflush(stdout); }
        if (s->len + (size_t)k + 1 > s->cap) {
            size_t nc = s->cap * 2 + (size_t)k + 256;
            char *n = realloc(s->text, nc);
            if (!n) return 1;
            s->text = n;
            s->cap = nc;
        }
        memcpy(s->text + s->len, piece, (size_t)k);
        s->len += (size_t)k;
    }
    return 0;
}

/* Plain greedy/sampled target-only run for --compare (same numerics as ember run). */
static double target_only_tps(ember_ctx *c, const ember_token *prompt, int n_prompt, int n_predict, ember_sampler *smp) {
    int8_t *fl = malloc((size_t)n_prompt);
    memset(fl, n_prompt >= 2, (size_t)n_prompt);
    ember_kv_clear(c, 0);
    ember_batch b = {n_prompt, prompt, 0, 0, fl};
    if (ember_decode(c, &b)) { free(fl); return 0; }
    const ember_model *m = ember_ctx_model(c);
    double t0 = cli_now_ms();
    int n = 0;
    ember_token t;
    while (n < n_predict) {
        t = ember_sampler_sample(smp, ember_get_logits(c, b.n_tokens - 1));
        n++;
        if (ember_model_is_eog(m, t) || n >= n_predict) break;
        ember_batch s = {1, &t, 0, 0, 0};
        b = s;
        if (ember_decode(c, &b)) break;
    }
    free(fl);
    double ms = cli_now_ms() - t0;
    return ms > 0 ? n / (ms / 1e3) : 0;
}

int ember_run_speculative(const ember_run_opts *o) {
    const char *cmd = "run";
    if (o->sp.repeat_penalty != 1.0f || o->sp.presence_penalty != 0.0f || o->sp.frequency_penalty != 0.0f) {
        fprintf(stderr, "ember run: repetition/presence/frequency penalties are not supported with speculative decoding\n");
        return 2;
    }
    ember_model *tm = 0, *dm = 0;
    ember_ctx *tc = 0, *dc = 0;
    int rc = ember_run_load(cmd, o->model, o, 1, &tm, &tc);
    if (rc) return rc;
    if (o->draft) {
        rc = ember_run_load(cmd, o->draft, o, 1, &dm, &dc);
        if (rc) { ember_ctx_free(tc); ember_model_free(tm); return rc; }
        char why[200];
        if (!ember_spec_vocab_match(tm, dm, why, sizeof why)) {
            fprintf(stderr, "ember run: the draft model cannot be used with this target: %s\n", why);
            rc = 2;
            goto out;
        }
        if (ember_ctx_n_ctx(dc) < ember_ctx_n_ctx(tc)) {
            fprintf(stderr, "ember run: the draft's context (%d) is smaller than the target's (%d); pass --ctx\n",
                    ember_ctx_n_ctx(dc), ember_ctx_n_ctx(tc));
            rc = 2;
            goto out;
        }
    }
    {
        const int cap = (int)(o->prompt_len + 16 < (size_t)1 << 30 ? o->prompt_len + 16 : 1 << 30);
        ember_token *prompt = malloc((size_t)cap * sizeof *prompt);
        int n_prompt = prompt ? ember_tokenize(tm, o->prompt, o->prompt_len, !o->no_special, 1, prompt, cap) : -1;
        if (n_prompt <= 0) { fprintf(stderr, "ember run: the prompt is empty or cannot be tokenized\n"); free(prompt); rc = 2; goto out; }
        if (n_prompt > ember_ctx_n_ctx(tc)) {
            fprintf(stderr, "ember run: the prompt has %d tokens, more than the context of %d (use --ctx)\n", n_prompt, ember_ctx_n_ctx(tc));
            free(prompt); rc = 2; goto out;
        }
        ember_sampler *smp;
        if (ember_sampler_create(&o->sp, ember_model_n_vocab(tm), &smp)) { fprintf(stderr, "ember run: invalid sampling parameters\n"); free(prompt); rc = 2; goto out; }
        sink s = {0};
        ember_detok_create(tm, &s.dt);
        s.stream = !o->json;
        s.max = o->n_predict;
        s.toks = malloc(((size_t)o->n_predict + 1) * sizeof *s.toks);
        const char *fx = getenv("EMBER_DRAFT_FIXED");
        const int fixed = o->draft_fixed || (fx && *fx && strcmp(fx, "0"));
        ember_spec_params sp = {o->draft_max, o->draft_min_p, o->lookup, o->sp.temp > 0, fixed};
        ember_spec_stats st;
        double t0 = cli_now_ms();
        ember_status est = ember_spec_generate(tc, dc, prompt, n_prompt, o->n_predict, smp, &sp, on_token, &s, &st);
        double ms = cli_now_ms() - t0;
        char tail[64];
        int k = ember_detok_flush(s.dt, tail, sizeof tail);
        if (k > 0) {
            if (s.stream) fwrite(tail, 1, (size_t)k, stdout);
            char *nt = realloc(s.text, s.len + (size_t)k + 1);
            if (nt) { memcpy(nt + s.len, tail, (size_t)k); s.text = nt; s.len += (size_t)k; }
        }
        if (est && est != EMBER_ERR_CONTEXT_FULL) { fprintf(stderr, "ember run: %s\n", ember_last_error()); rc = 1; }
        const double tps = ms > 0 ? st.n_generated / (ms / 1e3) : 0;
        double base = 0;
        if (o->compare) {
            ember_sampler_reset(smp);
            base = target_only_tps(tc, prompt, n_prompt, o->n_predict, smp);
        }
        const double acc = st.n_drafted ? (double)st.n_accepted / st.n_drafted : 0;
        const double mean_len = st.n_target_passes ? (double)st.n_accepted / st.n_target_passes : 0;
        const double mean_drafted = st.n_target_passes ? (double)st.n_drafted / st.n_target_passes : 0;
        if (o->json) {
            printf("{\"model\": ");
            cli_json_str(stdout, ember_model_name(tm), strlen(ember_model_name(tm)));
            printf(", \"prompt_tokens\": [");
            for (int i = 0; i < n_prompt; i++) printf("%s%d", i ? ", " : "", prompt[i]);
            printf("], \"tokens\": [");
            for (int i = 0; i < s.n; i++) printf("%s%d", i ? ", " : "", s.toks[i]);
            printf("], \"text\": ");
            cli_json_str(stdout, s.text ? s.text : "", s.len);
            printf(", \"speculative\": {\"draft\": ");
            if (o->draft) cli_json_str(stdout, o->draft, strlen(o->draft)); else printf("null");
            printf(", \"draft_max\": %d, \"adaptive\": %s, \"lookup\": %d, \"drafted\": %d, \"accepted\": %d, \"acceptance_rate\": %.4f, "
                   "\"mean_accepted_per_pass\": %.3f, \"mean_drafted_per_round\": %.3f, \"rounds_no_draft\": %d, \"probes\": %d, "
                   "\"target_passes\": %d, \"tokens_per_s\": %.2f",
                   o->draft_max, fixed ? "false" : "true", o->lookup, st.n_drafted, st.n_accepted, acc, mean_len, mean_drafted,
                   st.n_rounds_no_draft, st.n_probes, st.n_target_passes, tps);
            if (o->compare) printf(", \"target_only_tokens_per_s\": %.2f, \"speedup\": %.3f", base, base > 0 ? tps / base : 0);
            printf("}}\n");
        } else {
            printf("\n");
            fflush(stdout);
            fprintf(stderr, "ember run: speculative (%s, max %d): drafted %d, accepted %d (%.1f%%), %.2f accepted per target pass, "
                            "%.2f drafted per round, %d rounds without drafts, %d probes, %d target passes, %d tokens at %.2f tok/s",
                    fixed ? "fixed length" : "adaptive length", o->draft_max, st.n_drafted, st.n_accepted, 100 * acc, mean_len,
                    mean_drafted, st.n_rounds_no_draft, st.n_probes, st.n_target_passes, st.n_generated, tps);
            if (o->compare) fprintf(stderr, " | target-only %.2f tok/s, speedup %.2fx", base, base > 0 ? tps / base : 0);
            fprintf(stderr, "\n");
        }
        free(s.toks); free(s.text); ember_detok_free(s.dt);
        ember_sampler_free(smp);
        free(prompt);
    }
out:
    ember_ctx_free(dc); ember_model_free(dm);
    ember_ctx_free(tc); ember_model_free(tm);
    return rc;
}
