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

/* Adaptive draft length (the default): draft_max is a maximum. Each round
 * drafts the k in 0..draft_max that maximises expected tokens per unit of
 * cost, (1 - a^(k+1)) / (1 - a) / (k*c_draft + V(k+1)), where a is the
 * per-token acceptance estimated from this generation's history (an
 * exponentially decayed count of accepted vs rejected drafts), c_draft the
 * cost of one draft step and V(n) the cost of a target pass over n tokens,
 * both relative to one single-token target step and computed from the
 * models' shapes only (spec.c: spec_cost) — never from clocks, so a seeded
 * run gives the same tokens every time. k = 0 is plain target decoding;
 * then a short probe is drafted every 16 tokens (interval doubling up to
 * 256 while probes fail). A source whose cost model says it cannot pay even
 * at 100% acceptance is not used at all. draft_fixed = 1 always drafts
 * draft_max (the pre-adaptive behaviour, used by the invariance screen). */
typedef struct {
    int draft_max;      /* tokens proposed per step at most (1..64) */
    float draft_min_p;  /* stop drafting when the draft's top probability is below this */
    int lookup;         /* n-gram lookup drafting with n-grams up to this size (0 = off) */
    int sample;         /* 0: greedy (argmax); 1: lossless speculative sampling */
    int draft_fixed;    /* 1: always draft draft_max tokens; 0: adaptive length */
} ember_spec_params;

typedef struct {
    int n_generated;
    int n_drafted, n_accepted;
    int n_target_passes;  /* target decode calls after the prompt (= rounds) */
    int n_draft_passes;
    int n_rounds_no_draft; /* rounds that verified no draft (plain target steps) */
    int n_probes;          /* adaptive mode: rounds drafted only to re-measure acceptance */
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
