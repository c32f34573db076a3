/* Evaluation of a model's output distribution on text: chunked perplexity
 * exactly as llama.cpp's perplexity tool computes it, and the per-token KL
 * divergence of a (quantized) model from a base model. */
#ifndef EMBER_EVAL_H
#define EMBER_EVAL_H

#include "ember.h"
#include "../formats/imatrix_file.h"

typedef struct {
    int n_ctx;       /* window; the second half of each window is scored */
    int n_chunks;    /* <= 0: all full windows of the text */
    int n_threads;
} ember_eval_params;

typedef struct {
    double ppl, ppl_err;  /* exp(mean NLL) and its standard error */
    double nll, nll2;     /* sums over scored tokens */
    long count;           /* scored tokens */
    int n_chunks, n_tokens;
} ember_ppl_result;

/* -log p(tok) from one row of logits */
double ember_eval_token_nll(const float *logits, int n_vocab, int tok);

/* progress(ud, chunk, n_chunks, running_ppl) after each chunk (may be NULL) */
typedef void (*ember_eval_progress_fn)(void *ud, int chunk, int n_chunks, double ppl);

ember_status ember_eval_perplexity(ember_model *m, const char *text, size_t len, const ember_eval_params *p,
                                   ember_eval_progress_fn progress, void *ud, ember_ppl_result *out);

typedef struct {
    ember_ppl_result base, model;
    double kld_mean, kld_median, kld_p99, kld_max, kld_sd;
    double top1_agreement;  /* share of scored positions with the same argmax */
    long count;
} ember_kld_result;

/* Both models must share the vocabulary (sizes and texts). */
ember_status ember_eval_kld(ember_model *base, ember_model *m, const char *text, size_t len,
                            const ember_eval_params *p, ember_eval_progress_fn progress, void *ud, ember_kld_result *out);

/* Importance matrix (imatrix.c): runs the model over the text in windows of
 * n_ctx tokens (BOS first, as llama-imatrix does) and, for every weight of a
 * block (blk.*; output.weight too with process_output) used in a matmul of
 * 16 or more tokens, sums the squares of each input column and counts the
 * calls. out receives llama.cpp's file layout (imatrix_file.h); ppl the
 * perplexity of the second half of each window. Needs 2 * n_ctx tokens. */
typedef struct {
    int n_ctx, n_chunks, n_threads;
    int process_output;
    const char *dataset;  /* stored in the file (the text's path) */
} ember_imatrix_params;

ember_status ember_imatrix_compute(ember_model *m, const char *text, size_t len, const ember_imatrix_params *p,
                                   ember_eval_progress_fn progress, void *ud, ember_imatrix *out,
                                   ember_ppl_result *ppl);

#endif
