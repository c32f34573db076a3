/* Sampler: greedy, truncations, penalties, determinism, parameter checks. */
#include "test.h"
#include "ember.h"
#include <math.h>

#define NV 100

static void make_logits(float *l) {
    for (int i = 0; i < NV; i++) l[i] = (float)((i * 37) % NV) / 10.0f; /* max at i with (i*37)%100 == 99 */
}

static int argmax(const float *l) {
    int b = 0;
    for (int i = 1; i < NV; i++) if (l[i] > l[b]) b = i;
    return b;
}

static void greedy_is_argmax(void) {
    float l[NV];
    make_logits(l);
    ember_sampler_params p = ember_sampler_default_params();
    p.temp = 0;
    ember_sampler *s;
    CHECK(ember_sampler_create(&p, NV, &s) == EMBER_OK);
    CHECK(ember_sampler_sample(s, l) == argmax(l));
    float probs[NV];
    ember_sampler_probs(s, l, probs);
    CHECK(probs[argmax(l)] == 1.0f);
    ember_sampler_free(s);
}

static void top_k_one_is_greedy(void) {
    float l[NV];
    make_logits(l);
    ember_sampler_params p = ember_sampler_default_params();
    p.temp = 1.5f; p.top_k = 1; p.seed = 3;
    ember_sampler *s;
    CHECK(ember_sampler_create(&p, NV, &s) == EMBER_OK);
    for (int i = 0; i < 50; i++) CHECK(ember_sampler_sample(s, l) == argmax(l));
    ember_sampler_free(s);
}

static void same_seed_same_tokens(void) {
    float l[NV];
    make_logits(l);
    ember_sampler_params p = ember_sampler_default_params();
    p.temp = 2.0f; p.top_k = 0; p.top_p = 1.0f; p.min_p = 0; p.seed = 42;
    ember_sampler *a, *b, *c;
    ember_sampler_create(&p, NV, &a);
    ember_sampler_create(&p, NV, &b);
    p.seed = 43;
    ember_sampler_create(&p, NV, &c);
    int same = 1, diff = 0;
    for (int i = 0; i < 200; i++) {
        int x = ember_sampler_sample(a, l), y = ember_sampler_sample(b, l), z = ember_sampler_sample(c, l);
        same &= x == y;
        diff += x != z;
    }
    CHECK(same);
    CHECK(diff > 0);
    ember_sampler_free(a); ember_sampler_free(b); ember_sampler_free(c);
}

static void probs_normalised_and_truncated(void) {
    float l[NV];
    make_logits(l);
    ember_sampler_params p = ember_sampler_default_params();
    p.temp = 1.0f; p.top_k = 10; p.top_p = 1.0f; p.min_p = 0;
    ember_sampler *s;
    ember_sampler_create(&p, NV, &s);
    float probs[NV];
    ember_sampler_probs(s, l, probs);
    double sum = 0;
    int nz = 0;
    for (int i = 0; i < NV; i++) { sum += probs[i]; nz += probs[i] > 0; }
    CHECK(fabs(sum - 1.0) < 1e-5);
    CHECK(nz == 10);
    ember_sampler_free(s);
    /* min-p 0.5 keeps tokens within log(0.5) of the max logit: logits are
     * spaced by 0.1, so 7 survive (0.0 .. -0.6 > -0.693) */
    p.top_k = 0; p.min_p = 0.5f;
    ember_sampler_create(&p, NV, &s);
    ember_sampler_probs(s, l, probs);
    nz = 0;
    for (int i = 0; i < NV; i++) nz += probs[i] > 0;
    CHECK(nz == 7);
    ember_sampler_free(s);
    /* top-p 0.0001 keeps only the best */
    p.min_p = 0; p.top_p = 0.0001f;
    ember_sampler_create(&p, NV, &s);
    ember_sampler_probs(s, l, probs);
    CHECK(probs[argmax(l)] == 1.0f);
    ember_sampler_free(s);
}

static void repeat_penalty_changes_greedy(void) {
    float l[NV];
    for (int i = 0; i < NV; i++) l[i] = 0;
    l[5] = 2.0f; l[6] = 1.9f;
    ember_sampler_params p = ember_sampler_default_params();
    p.temp = 0; p.repeat_penalty = 1.5f;
    ember_sampler *s;
    ember_sampler_create(&p, NV, &s);
    CHECK(ember_sampler_sample(s, l) == 5);
    ember_sampler_accept(s, 5);
    CHECK(ember_sampler_sample(s, l) == 6); /* 2.0/1.5 < 1.9 */
    ember_sampler_reset(s);
    CHECK(ember_sampler_sample(s, l) == 5);
    ember_sampler_free(s);
    p.repeat_penalty = 1.0f; p.presence_penalty = 0.5f;
    ember_sampler_create(&p, NV, &s);
    ember_sampler_accept(s, 5);
    CHECK(ember_sampler_sample(s, l) == 6);
    ember_sampler_free(s);
}

static void invalid_params_rejected(void) {
    ember_sampler *s;
    ember_sampler_params p = ember_sampler_default_params();
    p.top_p = 2.0f;
    CHECK(ember_sampler_create(&p, NV, &s) == EMBER_ERR_INVALID_ARG);
    p = ember_sampler_default_params(); p.temp = -1;
    CHECK(ember_sampler_create(&p, NV, &s) == EMBER_ERR_INVALID_ARG);
    p = ember_sampler_default_params(); p.min_p = NAN;
    CHECK(ember_sampler_create(&p, NV, &s) == EMBER_ERR_INVALID_ARG);
    p = ember_sampler_default_params(); p.top_k = -3;
    CHECK(ember_sampler_create(&p, NV, &s) == EMBER_ERR_INVALID_ARG);
    p = ember_sampler_default_params();
    CHECK(ember_sampler_create(&p, 0, &s) == EMBER_ERR_INVALID_ARG);
}

int main(void) {
    RUN(greedy_is_argmax);
    RUN(top_k_one_is_greedy);
    RUN(same_seed_same_tokens);
    RUN(probs_normalised_and_truncated);
    RUN(repeat_penalty_changes_greedy);
    RUN(invalid_params_rejected);
    TEST_EXIT();
}
