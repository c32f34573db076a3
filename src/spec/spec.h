/* Speculative decoding: a draft (a smaller model and/or n-gram lookup in the
 * context) proposes tokens, the target verifies them in one batched pass.
 * Greedy: accept while the target's argmax agrees — the output is
 * byte-identical to target-only decoding because ember's logits do not
 * depend on batch composition. Sampling: lossless rejection sampling
 * (accept d with min(1, p(d)/q(d)), else draw from norm(max(0, p - q))). */
#ifndef EMBER_SPEC_H
#define EMBER_SPEC_H

#include "ember.h"
#include <stddef.h>

typedef struct {
    int draft_max;      /* tokens proposed per step (1..64) */
    float draft_min_p;  /* stop drafting when the draft's top probability is below this */
    int lookup;         /* n-gram lookup drafting with n-grams up to this size (0 = off) */
    int sample;         /* 0: greedy (argmax); 1: lossless speculative sampling */
} ember_spec_params;

typedef struct {
    int n_generated;
    int n_drafted, n_accepted;
    int n_target_passes;  /* target decode calls after the prompt */
    int n_draft_passes;
} ember_spec_stats;

/* Called for every emitted token; return non-zero to stop. */
typedef int (*ember_spec_token_fn)(void *ud, ember_token tok);

/* Generates up to n_predict tokens after prompt (n_prompt >= 1; the prompt
 * is evaluated here, in both contexts, from an empty sequence 0). draft may
 * be NULL (lookup only). The sampler decides greedy (temp 0) or sampling;
 * sampling needs a sampler without penalties. Returns EMBER_OK or an error
 * (EMBER_ERR_CONTEXT_FULL ends generation cleanly at the context limit). */
ember_status ember_spec_generate(ember_ctx *target, ember_ctx *draft, const ember_token *prompt, int n_prompt,
                                 int n_predict, ember_sampler *smp, const ember_spec_params *p,
                                 ember_spec_token_fn on_token, void *ud, ember_spec_stats *stats);

/* 1 if the two models' vocabularies are identical (sizes and every token's
 * text), else 0 with a reason in why. */
int ember_spec_vocab_match(const ember_model *a, const ember_model *b, char *why, size_t whylen);

/* Upper tail of the chi-square distribution: P(X >= x) with k dof. */
double ember_chi2_sf(double x, int k);

#endif
