/* ember quantize [--imatrix FILE] IN.gguf OUT.gguf TYPE: writes a quantized
 * copy with llama-quantize's per-tensor type mix (and, given an importance
 * matrix, its weighted quantizers); progress per tensor on stderr. */
#include "ember.h"
#include "cli.h"
#include "formats/formats.h"
#include "formats/quantize_file.h"
#include "formats/imatrix_file.h"
#include "gguf/gguf.h"
#include <stdio.h>
#include <string.h>

static void progress(void *ud, int64_t i, int64_t n, const char *name, int type) {
    (void)ud;
    fprintf(stderr, "\rember quantize: [%3lld/%3lld] %-32.32s -> %-5s", (long long)i + 1, (long long)n, name, ember_type_name(type));
    if (i + 1 == n) fputc('\n', stderr);
}

int cmd_quantize(int argc, char **argv) {
    const char *cmd = "quantize", *pos[3] = {0, 0, 0}, *im_path = 0;
    int npos = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("usage: ember quantize [--imatrix FILE] IN.gguf OUT.gguf TYPE [-t THREADS]\n"
                   "types: Q8_0 Q6_K Q5_K_M Q5_K_S Q5_0 Q5_1 Q4_K_M Q4_K_S Q4_0 Q4_1 Q3_K_L Q3_K_M Q3_K_S Q2_K Q2_K_S F16 BF16 F32\n"
                   "--imatrix FILE: importance matrix from `ember imatrix` or llama-imatrix (Q2_K_S requires one)\n");
            return 0;
        }
        if (!strcmp(argv[i], "-t")) {
            const char *v = cli_value(cmd, argc, argv, &i);
            if (!v || cli_int(cmd, "-t", v, 1, 256, &threads)) return 2;
            continue;
        }
        if (!strcmp(argv[i], "--imatrix")) {
            if (!(im_path = cli_value(cmd, argc, argv, &i))) return 2;
            continue;
        }
        if (argv[i][0] == '-') { fprintf(stderr, "ember quantize: unknown option '%s'\n", argv[i]); return 2; }
        if (npos == 3) { fprintf(stderr, "ember quantize: too many arguments\n"); return 2; }
        pos[npos++] = argv[i];
    }
    if (npos != 3) { fprintf(stderr, "ember quantize: usage: ember quantize [--imatrix FILE] IN.gguf OUT.gguf TYPE [-t THREADS]\n"); return 2; }
    const int ftype = ember_ftype_from_name(pos[2]);
    if (ftype < 0) { fprintf(stderr, "ember quantize: unknown type '%s' (see ember quantize --help)\n", pos[2]); return 2; }
    if (!strcmp(pos[0], pos[1])) { fprintf(stderr, "ember quantize: input and output are the same file\n"); return 2; }
    if (ftype == EMBER_FTYPE_Q2_K_S && !im_path) {
        fprintf(stderr, "ember quantize: Q2_K_S needs an importance matrix (--imatrix FILE; make one with ember imatrix)\n");
        return 2;
    }
    ember_imatrix im;
    memset(&im, 0, sizeof im);
    if (im_path) {
        char e[400];
        if (ember_imatrix_read(im_path, &im, e, sizeof e)) { fprintf(stderr, "ember quantize: %s: %s\n", im_path, e); return 2; }
        fprintf(stderr, "ember quantize: imatrix %s: %d entries, %d chunks, dataset '%s'\n", im_path, im.n,
                (int)im.last_call, im.dataset);
    }
    {
        gguf_file *f;
        char err[300];
        int st = gguf_open(pos[0], &f, err, sizeof err);
        if (st) { fprintf(stderr, "ember quantize: %s: %s\n", pos[0], err); ember_imatrix_free(&im); return 2; }
        int quantized = 0;
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) quantized |= ember_type_get(gguf_tensor(f, i)->type)->is_quantized;
        gguf_close(f);
        if (quantized) fprintf(stderr, "ember quantize: warning: %s is already quantized; requantizing loses more precision\n", pos[0]);
    }
    ember_quantize_summary s;
    char err[400];
    double t0 = cli_now_ms();
    int st = ember_quantize_file_imatrix(pos[0], pos[1], ftype, threads, im_path ? &im : 0, im_path, progress, 0, &s, err,
                                         sizeof err);
    ember_imatrix_free(&im);
    if (st) {
        fprintf(stderr, "\nember quantize: %s\n", err);
        return st == 1 || st == 5 ? 1 : 2;
    }
    if (im_path)
        fprintf(stderr, "ember quantize: %lld tensors quantized with importances, %lld without (no imatrix entry)\n",
                (long long)s.n_weighted, (long long)s.n_unweighted);
    printf("%s -> %s (%s): %lld tensors, %lld converted, %.2f MB -> %.2f MB, %.2f bits per weight, %.1f s\n", pos[0], pos[1],
           ember_ftype_name(ftype), (long long)s.n_tensors, (long long)s.n_quantized, s.bytes_in / 1e6, s.bytes_out / 1e6,
           8.0 * s.bytes_out / (double)s.n_params, (cli_now_ms() - t0) / 1e3);
    return 0;
}
