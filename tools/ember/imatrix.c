/* ember imatrix -m M -f TEXT -o imatrix.dat: importance matrix for
 * `ember quantize --imatrix` (and llama-quantize), in llama.cpp's file
 * format; progress on stderr, a summary line (or --json) on stdout. */
#include "ember.h"
#include "cli.h"
#include "eval/eval.h"
#include "formats/imatrix_file.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void progress(void *ud, int c, int n, double ppl) {
    (void)ud;
    fprintf(stderr, "\rember imatrix: chunk %d/%d, running PPL %.4f", c, n, ppl);
    if (c == n) fputc('\n', stderr);
}

static void usage(FILE *f) {
    fprintf(f, "usage: ember imatrix -m MODEL -f TEXT [-o imatrix.dat] [--ctx 512] [--chunks N] [-t T]\n"
               "                     [--process-output] [--json]\n"
               "Runs MODEL over TEXT in windows of --ctx tokens and writes, per weight matrix of the\n"
               "blocks, the mean squared input of each column (llama.cpp's imatrix format).\n"
               "--process-output also collects output.weight.\n");
}

int cmd_imatrix(int argc, char **argv) {
    const char *cmd = "imatrix", *model = 0, *file = 0, *out = "imatrix.dat";
    ember_imatrix_params p = {512, 0, 0, 0, 0};
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--process-output")) { p.process_output = 1; continue; }
        if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        if (!strcmp(a, "-m")) model = v;
        else if (!strcmp(a, "-f")) file = v;
        else if (!strcmp(a, "-o")) out = v;
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { if (cli_int(cmd, a, v, 16, 1 << 16, &p.n_ctx)) return 2; }
        else if (!strcmp(a, "--chunks")) { if (cli_int(cmd, a, v, 1, 1 << 24, &p.n_chunks)) return 2; }
        else if (!strcmp(a, "-t")) { if (cli_int(cmd, a, v, 1, 256, &p.n_threads)) return 2; }
        else { fprintf(stderr, "ember imatrix: unknown option '%s'\n", a); return 2; }
    }
    if (!model || !file || !*out) { usage(stderr); return 2; }
    p.dataset = file;
    size_t len;
    char *text = cli_read_file(cmd, file, &len);
    if (!text) return 2;
    ember_model *m;
    if (ember_model_load(model, 0, &m)) {
        fprintf(stderr, "ember imatrix: %s\n", ember_last_error());
        free(text);
        return 2;
    }
    if (p.n_ctx > ember_model_n_ctx_train(m) && ember_model_n_ctx_train(m) > 0)
        fprintf(stderr, "ember imatrix: warning: the model was trained on %d tokens of context (--ctx %d)\n",
                ember_model_n_ctx_train(m), p.n_ctx);
    ember_imatrix im;
    ember_ppl_result r;
    int rc = 0;
    const double t0 = cli_now_ms();
    ember_status st = ember_imatrix_compute(m, text, len, &p, progress, 0, &im, &r);
    if (st == EMBER_ERR_INVALID_ARG) {
        fprintf(stderr, "ember imatrix: the text has %d tokens; --ctx %d needs at least %d\n", r.n_tokens, p.n_ctx, 2 * p.n_ctx);
        rc = 2;
    } else if (st == EMBER_ERR_FORMAT) {
        fprintf(stderr, "\nember imatrix: a squared-activation sum is not finite (the model overflows on this text)\n");
        rc = 1;
    } else if (st) {
        fprintf(stderr, "\nember imatrix: %s\n", st == EMBER_ERR_NOMEM ? "out of memory" : ember_last_error());
        rc = 1;
    }
    if (!rc) {
        char err[400];
        if (ember_imatrix_write(out, &im, err, sizeof err)) {
            fprintf(stderr, "ember imatrix: %s\n", err);
            rc = 1;
        } else if (json) {
            printf("{\"model\": ");
            cli_json_str(stdout, model, strlen(model));
            printf(", \"text\": ");
            cli_json_str(stdout, file, strlen(file));
            printf(", \"output\": ");
            cli_json_str(stdout, out, strlen(out));
            printf(", \"ctx\": %d, \"chunks\": %d, \"tokens\": %d, \"entries\": %d, \"ppl\": %.6f, \"ppl_err\": %.6f, "
                   "\"seconds\": %.3f}\n", p.n_ctx, r.n_chunks, r.n_tokens, im.n, r.ppl, r.ppl_err, (cli_now_ms() - t0) / 1e3);
        } else {
            printf("%s: %d entries from %d chunks of %d tokens (PPL %.4f ± %.4f), %.1f s\n", out, im.n, r.n_chunks, p.n_ctx,
                   r.ppl, r.ppl_err, (cli_now_ms() - t0) / 1e3);
        }
    }
    ember_imatrix_free(&im);
    ember_model_free(m);
    free(text);
    return rc;
}
