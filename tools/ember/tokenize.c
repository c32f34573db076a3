/* ember tokenize: text to token ids, as the model's tokenizer sees it. */
#include "ember.h"
#include "cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_tokenize(int argc, char **argv) {
    const char *cmd = "tokenize", *model = 0, *prompt = 0, *file = 0;
    int json = 0, no_special = 0, show_pieces = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: ember tokenize -m MODEL (-p TEXT | -f FILE) [--json] [--no-bos] [--pieces]\n");
            return 0;
        }
        if (!strcmp(a, "-m") || !strcmp(a, "-p") || !strcmp(a, "-f")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v) return 2;
            if (a[1] == 'm') model = v; else if (a[1] == 'p') prompt = v; else file = v;
        } else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-bos")) no_special = 1;
        else if (!strcmp(a, "--pieces")) show_pieces = 1;
        else { fprintf(stderr, "ember tokenize: unknown option '%s'\n", a); return 2; }
    }
    if (!model) { fprintf(stderr, "ember tokenize: no model given (-m MODEL)\n"); return 2; }
    if (!prompt && !file) { fprintf(stderr, "ember tokenize: no text given (-p TEXT or -f FILE)\n"); return 2; }
    size_t len = 0;
    char *buf = 0;
    if (file) { if (!(buf = cli_read_file(cmd, file, &len))) return 2; prompt = buf; }
    else len = strlen(prompt);
    ember_model_params mp = ember_model_default_params();
    mp.vocab_only = 1;
    ember_model *m;
    if (ember_model_load(model, &mp, &m)) {
        fprintf(stderr, "ember tokenize: %s\n", ember_last_error());
        free(buf);
        return 2;
    }
    int cap = (int)(len + 16 < (size_t)1 << 30 ? len + 16 : 1 << 30);
    ember_token *ids = malloc((size_t)cap * sizeof *ids);
    int n = ids ? ember_tokenize(m, prompt, len, !no_special, 1, ids, cap) : -1;
    int rc = 0;
    if (n < 0) { fprintf(stderr, "ember tokenize: tokenization failed\n"); rc = 1; }
    else if (json) {
        printf("{\"ids\": [");
        for (int i = 0; i < n; i++) printf("%s%d", i ? ", " : "", ids[i]);
        printf("]}\n");
    } else {
        for (int i = 0; i < n; i++) {
            if (show_pieces) {
                char piece[256];
                int k = ember_token_to_piece(m, ids[i], piece, sizeof piece, 1);
                printf("%6d ", ids[i]);
                cli_json_str(stdout, piece, k > 0 ? (size_t)k : 0);
                printf("\n");
            } else {
                printf("%s%d", i ? " " : "", ids[i]);
            }
        }
        if (!show_pieces) printf("\n");
    }
    free(ids);
    free(buf);
    ember_model_free(m);
    return rc;
}
