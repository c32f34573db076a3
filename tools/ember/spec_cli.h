/* Options shared by `ember run` (plain and speculative generation). */
#ifndef EMBER_SPEC_CLI_H
#define EMBER_SPEC_CLI_H

#include "ember.h"
#include <stddef.h>

typedef struct {
    const char *model, *draft;
    const char *prompt;
    size_t prompt_len;
    int n_predict, n_threads, n_ctx, n_batch, kv_f32, no_special, json, no_repack;
    int draft_max, draft_fixed, lookup, compare;
    float draft_min_p;
    ember_sampler_params sp;
} ember_run_opts;

void ember_run_opts_default(ember_run_opts *o);
/* Plain generation (generate.c); returns the process exit status. */
int ember_run_generate(const ember_run_opts *o);
/* Speculative generation (spec_run.c), used when --draft or --lookup is given. */
int ember_run_speculative(const ember_run_opts *o) __attribute__((weak));

/* Loads a model and makes a context from the options; prints the error
 * ("ember run: ...") and returns the exit status on failure, 0 on success. */
int ember_run_load(const char *cmd, const char *path, const ember_run_opts *o, int n_seq, ember_model **m,
                   ember_ctx **c);

#endif
