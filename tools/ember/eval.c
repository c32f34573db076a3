/* ember eval: perplexity and KL divergence on a text file. */
#include "ember.h"
#include "cli.h"
#include "eval/eval.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void progress(void *ud, int c, int n, double ppl) {
    (void)ud;
    fprintf(stderr, "\rember eval: chunk %d/%d, running PPL %.4f", c, n, ppl);
    if (c == n) fputc('\n', stderr);
}

static void usage(FILE *f) {
    fprintf(f, "usage: ember eval perplexity -m MODEL -f TEXT [--ctx 512] [--chunks N] [-t T] [--json]\n"
               "       ember eval kld --base BASE -m MODEL -f TEXT [--ctx 512] [--chunks N] [-t T] [--json]\n");
}

static ember_model *load(const char *path) {
    ember_model *m;
    if (ember_model_load(path, 0, &m)) { fprintf(stderr, "ember eval: %s\n", ember_last_error()); return 0; }
    return m;
}

int cmd_eval(int argc, char **argv) {
    const char *cmd = "eval";
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) { usage(argc < 2 ? stderr : stdout); return argc < 2 ? 2 : 0; }
    const char *sub = argv[1], *model = 0, *base = 0, *file = 0;
    if (strcmp(sub, "perplexity") && strcmp(sub, "kld")) {
        fprintf(stderr, "ember eval: unknown evaluation '%s' (perplexity, kld)\n", sub);
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
