/* ember screen invariance: proves (or refutes) that speculative decoding
 * leaves the target's output unchanged. Greedy: every prompt is generated
 * target-only and speculatively; any difference is reported with its first
 * position and both continuations, and the exit status is 1. --sampling:
 * the first sampled token at each prompt, drawn --samples times
 * speculatively, is tested against the target's exact distribution with a
 * chi-square test (p-value reported; fails below --alpha). The draft
 * length is fixed at --draft-max (every round exercises verification);
 * --adaptive screens the adaptive length of ember run / bench instead. */
#include "ember.h"
#include "cli.h"
#include "spec_cli.h"
#include "spec/spec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { ember_token *t; int n, max; } collect;

static int collect_tok(void *ud, ember_token t) {
    collect *c = ud;
    if (c->n < c->max) c->t[c->n++] = t;
    return 0;
}

static int greedy_target(ember_ctx *c, const ember_token *p, int np, int n, ember_token *out) {
    int8_t *fl = malloc((size_t)np);
    memset(fl, np >= 2, (size_t)np);
    ember_kv_clear(c, 0);
    ember_batch b = {np, p, 0, 0, fl};
    int got = 0;
    const ember_model *m = ember_ctx_model(c);
    const int nv = ember_model_n_vocab(m);
    if (!ember_decode(c, &b)) {
        while (got < n) {
            const float *l = ember_get_logits(c, b.n_tokens - 1);
            int best = 0;
            for (int i = 1; i < nv; i++) if (l[i] > l[best]) best = i;
            out[got++] = best;
            if (ember_model_is_eog(m, best) || got == n || ember_kv_len(c, 0) >= ember_ctx_n_ctx(c)) break;
            ember_batch s = {1, &out[got - 1], 0, 0, 0};
            b = s;
            if (ember_decode(c, &b)) break;
        }
    }
    free(fl);
    return got;
}

static void print_text(const ember_model *m, const ember_token *t, int n, FILE *f, int json) {
    char buf[65536];
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        int w = ember_token_to_piece(m, t[i], buf + k, (int)(sizeof buf - k - 1), 0);
        if (w > 0) k += (size_t)w;
    }
    if (json) cli_json_str(f, buf, k);
    else fwrite(buf, 1, k, f);
}

int cmd_screen(int argc, char **argv) {
    const char *cmd = "screen";
    if (argc < 2 || strcmp(argv[1], "invariance")) {
        fprintf(stderr, "usage: ember screen invariance -m TARGET (--draft DRAFT | --lookup N) --prompts FILE "
                        "[-n 32] [--draft-max 8] [--adaptive] [-t T] [--json] [--sampling --samples 2000 --temp 1 --alpha 0.001]\n");
        return argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
    }
    ember_run_opts o;
    ember_run_opts_default(&o);
    o.n_predict = 32;
    o.sp.temp = 0;
    const char *prompts_file = 0;
    int sampling = 0, samples = 2000, adaptive = 0;
    float alpha = 0.001f, temp = 1.0f;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--json")) { o.json = 1; continue; }
        if (!strcmp(a, "--sampling")) { sampling = 1; continue; }
        if (!strcmp(a, "--adaptive")) { adaptive = 1; continue; }
        if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        if (!strcmp(a, "-m")) o.model = v;
        else if (!strcmp(a, "--draft")) o.draft = v;
        else if (!strcmp(a, "--prompts")) prompts_file = v;
        else if (!strcmp(a, "-n")) { if (cli_int(cmd, a, v, 1, 1 << 16, &o.n_predict)) return 2; }
        else if (!strcmp(a, "--draft-max")) { if (cli_int(cmd, a, v, 1, 64, &o.draft_max)) return 2; }
        else if (!strcmp(a, "--lookup")) { if (cli_int(cmd, a, v, 1, 16, &o.lookup)) return 2; }
        else if (!strcmp(a, "-t")) { if (cli_int(cmd, a, v, 1, 256, &o.n_threads)) return 2; }
        else if (!strcmp(a, "--ctx")) { if (cli_int(cmd, a, v, 1, 1 << 20, &o.n_ctx)) return 2; }
        else if (!strcmp(a, "--samples")) { if (cli_int(cmd, a, v, 10, 1 << 24, &samples)) return 2; }
        else if (!strcmp(a, "--alpha")) { if (cli_float(cmd, a, v, 0, 1, &alpha)) return 2; }
        else if (!strcmp(a, "--temp")) { if (cli_float(cmd, a, v, 1e-3, 100, &temp)) return 2; }
        else { fprintf(stderr, "ember screen: unknown option '%s'\n", a); return 2; }
    }
    if (!o.model || (!o.draft && !o.lookup) || !prompts_file) {
        fprintf(stderr, "ember screen: need -m TARGET, --draft DRAFT or --lookup N, and --prompts FILE\n");
        return 2;
    }
    size_t flen;
    char *text = cli_read_file(cmd, prompts_file, &flen);
    if (!text) return 2;
    ember_model *tm = 0, *dm = 0;
    ember_ctx *tc = 0, *dc = 0;
    int rc = ember_run_load(cmd, o.model, &o, 1, &tm, &tc);
    if (rc) { free(text); return rc; }
    if (o.draft && (rc = ember_run_load(cmd, o.draft, &o, 1, &dm, &dc))) goto out;
    char why[200];
    if (dm && !ember_spec_vocab_match(tm, dm, why, sizeof why)) {
        fprintf(stderr, "ember screen: the draft model cannot be used with this target: %s\n", why);
        rc = 2;
        goto out;
    }
    const int nv = ember_model_n_vocab(tm);
    ember_token *ptoks = malloc(65536 * sizeof *ptoks), *a = malloc(((size_t)o.n_predict + 1) * sizeof *a),
                *b = malloc(((size_t)o.n_predict + 1) * sizeof *b);
    int n_pass = 0, n_fail = 0, first = 1;
    if (o.json) printf("{\"results\": [");
    for (char *line = strtok(text, "\n"); line; line = strtok(0, "\n")) {
        if (!*line) continue;
        int np = ember_tokenize(tm, line, strlen(line), 1, 1, ptoks, 65536);
        if (np <= 0 || np + o.n_predict > ember_ctx_n_ctx(tc)) { fprintf(stderr, "ember screen: skipping a prompt that does not fit the context\n"); continue; }
        ember_spec_params sp = {o.draft_max, 0, o.lookup, sampling, !adaptive};
        if (!sampling) {
            int na = greedy_target(tc, ptoks, np, o.n_predict, a);
            ember_sampler_params spp = ember_sampler_default_params();
            spp.temp = 0;
            ember_sampler *smp;
            ember_sampler_create(&spp, nv, &smp);
            collect c = {b, 0, o.n_predict};
            ember_spec_stats st;
            ember_spec_generate(tc, dc, ptoks, np, o.n_predict, smp, &sp, collect_tok, &c, &st);
            ember_sampler_free(smp);
            int k = 0;
            while (k < na && k < c.n && a[k] == b[k]) k++;
            const int ok = na == c.n && k == na;
            ok ? n_pass++ : n_fail++;
            if (o.json) {
                printf("%s\n {\"prompt\": ", first ? "" : ",");
                cli_json_str(stdout, line, strlen(line));
                printf(", \"pass\": %s, \"first_divergence\": %d, \"accepted\": %d, \"drafted\": %d, \"target\": ",
                       ok ? "true" : "false", ok ? -1 : k, st.n_accepted, st.n_drafted);
                print_text(tm, a, na, stdout, 1);
                printf(", \"speculative\": ");
                print_text(tm, b, c.n, stdout, 1);
                printf("}");
            } else if (ok) {
                printf("PASS  %.60s\n", line);
            } else {
                printf("FAIL  %.60s\n  first difference at generated token %d\n  target:      ", line, k);
                print_text(tm, a, na, stdout, 0);
                printf("\n  speculative: ");
                print_text(tm, b, c.n, stdout, 0);
                printf("\n");
            }
            first = 0;
            continue;
        }
        /* sampling: the first generated token's distribution */
        ember_sampler_params spp = ember_sampler_default_params();
        spp.temp = temp; spp.top_k = 0; spp.top_p = 1; spp.min_p = 0; spp.seed = 1234;
        ember_sampler *smp;
        ember_sampler_create(&spp, nv, &smp);
        /* exact target distribution of the token after the first emitted one:
         * condition on a fixed first token (the target's greedy choice) */
        int na = greedy_target(tc, ptoks, np, 1, a);
        if (na < 1) { ember_sampler_free(smp); continue; }
        ptoks[np] = a[0];
        float *pexact = malloc((size_t)nv * sizeof(float));
        {
            int8_t *fl = malloc((size_t)np + 1);
            memset(fl, np + 1 >= 2, (size_t)np + 1);
            ember_kv_clear(tc, 0);
            ember_batch bb = {np + 1, ptoks, 0, 0, fl};
            ember_decode(tc, &bb);
            ember_sampler_probs(smp, ember_get_logits(tc, np), pexact);
            free(fl);
        }
        int *counts = calloc((size_t)nv, sizeof(int));
        for (int sN = 0; sN < samples; sN++) {
            collect c = {b, 0, 2};
            ember_spec_stats st;
            sp.sample = 1;
            /* prompt + fixed first token; the speculative step drafts the next */
            ember_spec_generate(tc, dc, ptoks, np + 1, 1, smp, &sp, collect_tok, &c, &st);
            if (c.n >= 1) counts[c.t[0]]++;
        }
        /* chi-square over tokens with expected count >= 5 (rest pooled) */
        double chi = 0, pool_e = 0, pool_o = 0;
        int dof = -1;
        for (int i = 0; i < nv; i++) {
            const double e = pexact[i] * samples;
            if (e >= 5) { chi += (counts[i] - e) * (counts[i] - e) / e; dof++; }
            else { pool_e += e; pool_o += counts[i]; }
        }
        if (pool_e >= 5) { chi += (pool_o - pool_e) * (pool_o - pool_e) / pool_e; dof++; }
        const double pval = dof > 0 ? ember_chi2_sf(chi, dof) : 1.0;
        const int ok = pval >= alpha;
        ok ? n_pass++ : n_fail++;
        if (o.json) {
            printf("%s\n {\"prompt\": ", first ? "" : ",");
            cli_json_str(stdout, line, strlen(line));
            printf(", \"pass\": %s, \"samples\": %d, \"chi2\": %.3f, \"dof\": %d, \"p_value\": %.6f}", ok ? "true" : "false",
                   samples, chi, dof, pval);
        } else {
            printf("%s  %.60s  chi2 %.2f, %d dof, p = %.4f\n", ok ? "PASS" : "FAIL", line, chi, dof, pval);
        }
        first = 0;
        free(counts); free(pexact);
        ember_sampler_free(smp);
    }
    if (o.json) printf("\n], \"passed\": %d, \"failed\": %d}\n", n_pass, n_fail);
    else printf("%d passed, %d failed\n", n_pass, n_fail);
    rc = n_fail ? 1 : 0;
    free(ptoks); free(a); free(b);
out:
    free(text);
    ember_ctx_free(dc); ember_model_free(dm);
    ember_ctx_free(tc); ember_model_free(tm);
    return rc;
}
