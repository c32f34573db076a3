/* ember run: load a model, evaluate the prompt as one batch, then generate
 * token by token, streaming text to stdout and timings to stderr. */
#include "ember.h"
#include "cli.h"
#include "spec_cli.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "usage: ember run -m MODEL (-p TEXT | -f FILE) [options]\n"
        "  -n N                tokens to generate (default 128; 0 = prompt only)\n"
        "  --temp T            temperature (default 0.8; 0 = greedy)\n"
        "  --top-k K           (default 40; 0 = off)    --top-p P   (default 0.95)\n"
        "  --min-p P           (default 0.05)          --seed S\n"
        "  --repeat-penalty R  (default 1.0 = off)     --repeat-last-n N (default 64)\n"
        "  --presence-penalty P  --frequency-penalty P\n"
        "  -t THREADS          (default: all cores)    --ctx C (default: model's, max 4096)\n"
        "  --batch B           prompt tokens per forward pass (default 512; 1 = one by one)\n"
        "  --kv-f32            F32 KV cache instead of llama.cpp's default F16\n"
        "  --no-repack         run all weights from the file mapping (no repacked or huge-page copies)\n"
        "  --no-bos            do not add BOS/EOS from the model metadata\n"
        "  --json              print one JSON object instead of streaming text\n"
        "speculative decoding (see `ember screen`):\n"
        "  --draft MODEL       draft model with the same vocabulary\n"
        "  --draft-max K       at most K tokens drafted per step (default 8); how many pay off\n"
        "                      is chosen each step from the acceptance so far\n"
        "  --draft-fixed       always draft K tokens (as the invariance screen does)\n"
        "  --draft-min-p P     stop drafting when the draft's top probability is below P\n"
        "  --lookup N          prompt/n-gram lookup drafting with n-grams up to N\n"
        "  --compare           also run target-only and report the speedup\n");
}

int cmd_run(int argc, char **argv) {
    const char *cmd = "run";
    ember_run_opts o;
    ember_run_opts_default(&o);
    const char *prompt = 0, *prompt_file = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
#define VAL() do { if (!(v = cli_value(cmd, argc, argv, &i))) return 2; } while (0)
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) { VAL(); o.model = v; }
        else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) { VAL(); prompt = v; }
        else if (!strcmp(a, "-f") || !strcmp(a, "--file")) { VAL(); prompt_file = v; }
        else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) { VAL(); if (cli_int(cmd, a, v, 0, 1 << 24, &o.n_predict)) return 2; }
        else if (!strcmp(a, "--temp")) { VAL(); if (cli_float(cmd, a, v, 0, 100, &o.sp.temp)) return 2; }
        else if (!strcmp(a, "--top-k")) { VAL(); if (cli_int(cmd, a, v, 0, 1 << 24, &o.sp.top_k)) return 2; }
        else if (!strcmp(a, "--top-p")) { VAL(); if (cli_float(cmd, a, v, 1e-9, 1, &o.sp.top_p)) return 2; }
        else if (!strcmp(a, "--min-p")) { VAL(); if (cli_float(cmd, a, v, 0, 1, &o.sp.min_p)) return 2; }
        else if (!strcmp(a, "--repeat-penalty")) { VAL(); if (cli_float(cmd, a, v, 1e-6, 100, &o.sp.repeat_penalty)) return 2; }
        else if (!strcmp(a, "--repeat-last-n")) { VAL(); if (cli_int(cmd, a, v, 0, 1 << 20, &o.sp.repeat_last_n)) return 2; }
        else if (!strcmp(a, "--presence-penalty")) { VAL(); if (cli_float(cmd, a, v, -100, 100, &o.sp.presence_penalty)) return 2; }
        else if (!strcmp(a, "--frequency-penalty")) { VAL(); if (cli_float(cmd, a, v, -100, 100, &o.sp.frequency_penalty)) return 2; }
        else if (!strcmp(a, "--seed")) { VAL(); if (cli_u64(cmd, a, v, &o.sp.seed)) return 2; }
        else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) { VAL(); if (cli_int(cmd, a, v, 1, 256, &o.n_threads)) return 2; }
        else if (!strcmp(a, "--ctx") || !strcmp(a, "-c")) { VAL(); if (cli_int(cmd, a, v, 1, 1 << 20, &o.n_ctx)) return 2; }
        else if (!strcmp(a, "--batch") || !strcmp(a, "-b")) { VAL(); if (cli_int(cmd, a, v, 1, 8192, &o.n_batch)) return 2; }
        else if (!strcmp(a, "--kv-f32")) o.kv_f32 = 1;
        else if (!strcmp(a, "--no-repack")) o.no_repack = 1;
        else if (!strcmp(a, "--no-bos")) o.no_special = 1;
        else if (!strcmp(a, "--json")) o.json = 1;
        else if (!strcmp(a, "--draft") || !strcmp(a, "-md")) { VAL(); o.draft = v; }
        else if (!strcmp(a, "--draft-max")) { VAL(); if (cli_int(cmd, a, v, 1, 64, &o.draft_max)) return 2; }
        else if (!strcmp(a, "--draft-fixed")) o.draft_fixed = 1;
        else if (!strcmp(a, "--draft-min-p")) { VAL(); if (cli_float(cmd, a, v, 0, 1, &o.draft_min_p)) return 2; }
        else if (!strcmp(a, "--lookup")) { VAL(); if (cli_int(cmd, a, v, 1, 16, &o.lookup)) return 2; }
        else if (!strcmp(a, "--compare")) o.compare = 1;
        else { fprintf(stderr, "ember run: unknown option '%s' (see ember run --help)\n", a); return 2; }
#undef VAL
    }
    if (!o.model) { fprintf(stderr, "ember run: no model given (-m MODEL)\n"); return 2; }
    if (prompt && prompt_file) { fprintf(stderr, "ember run: give either -p or -f, not both\n"); return 2; }
    char *file_text = 0;
    size_t prompt_len = 0;
    if (prompt_file) {
        file_text = cli_read_file(cmd, prompt_file, &prompt_len);
        if (!file_text) return 2;
        prompt = file_text;
    } else if (prompt) {
        prompt_len = strlen(prompt);
    } else {
        prompt = "";
    }
    o.prompt = prompt;
    o.prompt_len = prompt_len;
    int rc = ember_run_generate(&o);
    free(file_text);
    return rc;
}
