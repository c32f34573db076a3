/* ember eval: perplexity and KL divergence on a text file; checkable task
 * files and the token-inflation comparison of two models. */
#include "ember.h"
#include "cli.h"
#include "eval/eval.h"
#include "eval/svg.h"
#include "eval/tasks.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void progress(void *ud, int c, int n, double ppl) {
    (void)ud;
    fprintf(stderr, "\rember eval: chunk %d/%d, running PPL %.4f", c, n, ppl);
    if (c == n) fputc('\n', stderr);
}

static ember_model *load(const char *path) {
    ember_model *m;
    if (ember_model_load(path, 0, &m)) { fprintf(stderr, "ember eval: %s\n", ember_last_error()); return 0; }
    return m;
}

static void usage(FILE *f) {
    fprintf(f, "usage: ember eval perplexity -m MODEL -f TEXT [--ctx 512] [--chunks N] [-t T] [--json]\n"
               "       ember eval kld --base BASE -m MODEL -f TEXT [--ctx 512] [--chunks N] [-t T] [--json]\n"
               "       ember eval make-tasks [--kind arithmetic|counting|sorting|continuation|all] [--n 40] [--seed 1]\n"
               "                             [--source TEXT] -o FILE\n"
               "       ember eval inflation --base BASE -m MODEL --tasks FILE [--samples 0] [-n 64] [-t T] [--json] [--plot out.svg]\n");
}

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

static double quantile(const int *v, int n, double q) {
    int *c = malloc((size_t)n * sizeof *c);
    memcpy(c, v, (size_t)n * sizeof *c);
    qsort(c, (size_t)n, sizeof *c, cmp_int);
    const double r = c[(int)((n - 1) * q)];
    free(c);
    return r;
}

static void infl_progress(void *ud, int i, int n) {
    fprintf(stderr, "\rember eval: %s: task %d/%d", (const char *)ud, i, n);
    if (i == n) fputc('\n', stderr);
}

static int make_tasks(int argc, char **argv) {
    const char *cmd = "eval", *kind = "all", *out = 0, *source = 0;
    int n = 40;
    uint64_t seed = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = cli_value(cmd, argc, argv, &i);
        if (!v) return 2;
        if (!strcmp(a, "--kind")) kind = v;
        else if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--source")) source = v;
        else if (!strcmp(a, "--n")) { if (cli_int(cmd, a, v, 1, 100000, &n)) return 2; }
        else if (!strcmp(a, "--seed")) { if (cli_u64(cmd, a, v, &seed)) return 2; }
        else { fprintf(stderr, "ember eval: unknown option '%s'\n", a); return 2; }
    }
    if (!out) { fprintf(stderr, "ember eval: make-tasks needs -o FILE\n"); return 2; }
    char *src = 0;
    if (source && !(src = cli_read_file(cmd, source, 0))) return 2;
    FILE *f = fopen(out, "w");
    if (!f) { fprintf(stderr, "ember eval: cannot write '%s'\n", out); free(src); return 1; }
    char err[200];
    int rc = ember_tasks_generate(f, kind, n, seed, src, err, sizeof err);
    if (fclose(f) && !rc) rc = 1;
    if (rc) { fprintf(stderr, "ember eval: %s\n", err); remove(out); }
    free(src);
    return rc;
}

static int inflation(int argc, char **argv) {
    const char *cmd = "eval", *base = 0, *model = 0, *tasks_path = 0, *plot = 0;
    int samples = 0, max_new = 64, threads = 0, json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        if (!strcmp(a, "--base")) base = v;
        else if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "--tasks")) tasks_path = v;
        else if (!strcmp(a, "--plot")) plot = v;
        else if (!strcmp(a, "--samples")) { if (cli_int(cmd, a, v, 0, 1000, &samples)) return 2; }
        else if (!strcmp(a, "-n")) { if (cli_int(cmd, a, v, 1, 4096, &max_new)) return 2; }
        else if (!strcmp(a, "-t")) { if (cli_int(cmd, a, v, 1, 256, &threads)) return 2; }
        else { fprintf(stderr, "ember eval: unknown option '%s'\n", a); return 2; }
    }
    if (!base || !model || !tasks_path) { usage(stderr); return 2; }
    char *text = cli_read_file(cmd, tasks_path, 0);
    if (!text) return 2;
    ember_task *tasks;
    int nt, rc = 0;
    char err[200];
    if (ember_tasks_read(text, &tasks, &nt, err, sizeof err)) { fprintf(stderr, "ember eval: %s: %s\n", tasks_path, err); free(text); return 2; }
    free(text);
    const char *paths[2] = {base, model};
    ember_inflation r[2];
    memset(r, 0, sizeof r);
    for (int k = 0; k < 2 && !rc; k++) {
        ember_model *m = load(paths[k]);
        if (!m) { rc = 2; break; }
        ember_status st = ember_inflation_run(m, tasks, nt, samples, max_new, threads, infl_progress, (void *)paths[k], &r[k]);
        if (st) { fprintf(stderr, "ember eval: %s: %s\n", paths[k], st == EMBER_ERR_CONTEXT_FULL ? "a task does not fit the context" : ember_last_error()); rc = 1; }
        ember_model_free(m);
    }
    if (!rc) {
        /* Token Inflation Ratio over tasks both answer correctly (greedy) */
        double sb = 0, sq = 0;
        int both = 0;
        for (int i = 0; i < nt; i++)
            if (r[0].greedy_correct[i] && r[1].greedy_correct[i]) { sb += r[0].greedy_tokens[i]; sq += r[1].greedy_tokens[i]; both++; }
        const int over_all = both < 5;
        if (over_all) {
            sb = sq = 0;
            for (int i = 0; i < nt; i++) { sb += r[0].greedy_tokens[i]; sq += r[1].greedy_tokens[i]; }
        }
        const double tir = sb > 0 ? sq / sb : 0;
        if (json) printf("{\"tasks\": %d, \"samples\": %d, \"max_new\": %d, \"tir\": %.4f, \"tir_over\": \"%s\", \"both_correct\": %d, \"models\": [",
                         nt, samples, max_new, tir, over_all ? "all tasks" : "tasks both answer correctly", both);
        else printf("| model | accuracy (greedy) | tokens mean / median / p90 | hit limit | loops | s/token | cost/run s | cost per correct s |\n"
                    "|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (int k = 0; k < 2; k++) {
            int corr = 0;
            for (int i = 0; i < nt; i++) corr += r[k].greedy_correct[i];
            const double mean = (double)r[k].total_tokens / r[k].n_runs;
            const double spt = r[k].total_tokens ? r[k].seconds / r[k].total_tokens : 0;
            const double per_correct = r[k].n_correct_runs ? r[k].seconds / r[k].n_correct_runs : 0;
            if (json) {
                printf("%s{\"model\": ", k ? ", " : "");
                cli_json_str(stdout, paths[k], strlen(paths[k]));
                printf(", \"accuracy\": %.4f, \"tokens_mean\": %.3f, \"tokens_median\": %.1f, \"tokens_p90\": %.1f, "
                       "\"hit_limit_share\": %.4f, \"loop_share\": %.4f, \"seconds_per_token\": %.6f, \"cost_per_run_s\": %.6f, "
                       "\"cost_per_correct_s\": %.6f}", (double)corr / nt, mean, quantile(r[k].run_tokens, r[k].n_runs, 0.5),
                       quantile(r[k].run_tokens, r[k].n_runs, 0.9), (double)r[k].n_limit / r[k].n_runs,
                       (double)r[k].n_loop / r[k].n_runs, spt, mean * spt, per_correct);
            } else {
                char cell[48];
                if (per_correct > 0) snprintf(cell, sizeof cell, "%.4f", per_correct);
                else snprintf(cell, sizeof cell, "no correct answer");
                printf("| %s | %.1f%% | %.1f / %.0f / %.0f | %.1f%% | %.1f%% | %.5f | %.4f | %s |\n", paths[k], 100.0 * corr / nt, mean,
                       quantile(r[k].run_tokens, r[k].n_runs, 0.5), quantile(r[k].run_tokens, r[k].n_runs, 0.9),
                       100.0 * r[k].n_limit / r[k].n_runs, 100.0 * r[k].n_loop / r[k].n_runs, spt, mean * spt, cell);
            }
        }
        if (json) printf("]}\n");
        else printf("Token Inflation Ratio (quant ÷ base, greedy tokens): %.3f over %s (%d tasks both correct)\n", tir,
                    over_all ? "ALL tasks — too few answered correctly by both" : "tasks both answer correctly", both);
        if (plot && ember_svg_histograms(plot, "Generated tokens per run", "tokens", r[0].run_tokens, r[0].n_runs, base,
                                         r[1].run_tokens, r[1].n_runs, model)) {
            fprintf(stderr, "ember eval: cannot write '%s'\n", plot);
            rc = 1;
        }
    }
    ember_inflation_free(&r[0]);
    ember_inflation_free(&r[1]);
    ember_tasks_free(tasks, nt);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    const char *cmd = "eval";
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(argc < 2 ? stderr : stdout); return argc < 2 ? 2 : 0; }
    const char *sub = argv[1], *model = 0, *base = 0, *file = 0;
    if (!strcmp(sub, "make-tasks")) return make_tasks(argc, argv);
    if (!strcmp(sub, "inflation")) return inflation(argc, argv);
    if (strcmp(sub, "perplexity") && strcmp(sub, "kld")) {
        fprintf(stderr, "ember eval: unknown evaluation '%s' (perplexity, kld, make-tasks, inflation)\n", sub);
        return 2;
    }
    ember_eval_params p = {512, 0, 0};
    int json = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "--base")) base = v;
        else if (!strcmp(a, "-f")) file = v;
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { if (cli_int(cmd, a, v, 4, 1 << 16, &p.n_ctx)) return 2; }
        else if (!strcmp(a, "--chunks")) { if (cli_int(cmd, a, v, 1, 1 << 24, &p.n_chunks)) return 2; }
        else if (!strcmp(a, "-t")) { if (cli_int(cmd, a, v, 1, 256, &p.n_threads)) return 2; }
        else { fprintf(stderr, "ember eval: unknown option '%s'\n", a); return 2; }
    }
    if (!model || !file || (!strcmp(sub, "kld") && !base)) { usage(stderr); return 2; }
    size_t len;
    char *text = cli_read_file(cmd, file, &len);
    if (!text) return 2;
    int rc = 0;
    ember_model *m = load(model), *b = 0;
    if (!m) { free(text); return 2; }
    if (!strcmp(sub, "perplexity")) {
        ember_ppl_result r;
        ember_status st = ember_eval_perplexity(m, text, len, &p, progress, 0, &r);
        if (st == EMBER_ERR_INVALID_ARG) { fprintf(stderr, "ember eval: the text has fewer than %d tokens (one window)\n", p.n_ctx); rc = 2; }
        else if (st) { fprintf(stderr, "ember eval: %s\n", ember_last_error()); rc = 1; }
        else if (json)
            printf("{\"model\": \"%s\", \"ctx\": %d, \"chunks\": %d, \"tokens\": %d, \"scored\": %ld, \"ppl\": %.6f, \"ppl_err\": %.6f}\n",
                   ember_model_name(m), p.n_ctx, r.n_chunks, r.n_tokens, r.count, r.ppl, r.ppl_err);
        else
            printf("| model | ctx | chunks | scored tokens | PPL |\n|---|---:|---:|---:|---:|\n| %s | %d | %d | %ld | %.4f ± %.4f |\n",
                   ember_model_name(m), p.n_ctx, r.n_chunks, r.count, r.ppl, r.ppl_err);
    } else {
        if (!(b = load(base))) { rc = 2; goto out; }
        ember_kld_result r;
        ember_status st = ember_eval_kld(b, m, text, len, &p, progress, 0, &r);
        if (st == EMBER_ERR_INVALID_ARG) { fprintf(stderr, "ember eval: vocabularies differ, or the text is shorter than one window\n"); rc = 2; }
        else if (st) { fprintf(stderr, "ember eval: %s\n", ember_last_error()); rc = 1; }
        else if (json)
            printf("{\"base\": \"%s\", \"model\": \"%s\", \"ctx\": %d, \"scored\": %ld, \"ppl_base\": %.6f, \"ppl\": %.6f, "
                   "\"delta_ppl\": %.6f, \"kld_mean\": %.6f, \"kld_median\": %.6f, \"kld_p99\": %.6f, \"kld_max\": %.6f, "
                   "\"top1_agreement\": %.6f}\n", base, model, p.n_ctx, r.count, r.base.ppl, r.model.ppl,
                   r.model.ppl - r.base.ppl, r.kld_mean, r.kld_median, r.kld_p99, r.kld_max, r.top1_agreement);
        else
            printf("| base PPL | PPL | ΔPPL | mean KLD | median | p99 | max | top-1 agreement |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n"
                   "| %.4f | %.4f | %+.4f | %.6f | %.6f | %.6f | %.6f | %.2f%% |\n", r.base.ppl, r.model.ppl,
                   r.model.ppl - r.base.ppl, r.kld_mean, r.kld_median, r.kld_p99, r.kld_max, 100 * r.top1_agreement);
    }
out:
    ember_model_free(b);
    ember_model_free(m);
    free(text);
    return rc;
}
