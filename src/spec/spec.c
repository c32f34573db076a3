/* Speculative decoding loop (see spec.h). */
#include "spec.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[b]) b = i;
    return b;
}

/* Debug hook for the invariance screen's self-test: EMBER_DEBUG_SPEC_PERTURB=1
 * corrupts the verification logits so that speculative output can differ. */
static int perturb_enabled(void) {
    static int v = -1;
    if (v < 0) { const char *e = getenv("EMBER_DEBUG_SPEC_PERTURB"); v = e && *e && strcmp(e, "0"); }
    return v;
}

/* n-gram lookup: the longest suffix (up to max_n tokens) of hist that also
 * occurs earlier; proposes what followed it. Returns the count proposed. */
static int lookup_draft(const ember_token *hist, int n_hist, int max_n, int k, ember_token *out) {
    for (int n = max_n < n_hist - 1 ? max_n : n_hist - 1; n >= 1; n--) {
        const ember_token *suffix = hist + n_hist - n;
        for (int start = n_hist - n - 1; start >= 0; start--) { /* most recent match first */
            if (memcmp(hist + start, suffix, (size_t)n * sizeof *hist)) continue;
            int c = 0;
            for (int j = start + n; j < n_hist && c < k; j++) out[c++] = hist[j];
            if (c > 0) return c;
        }
    }
    return 0;
}

int ember_spec_vocab_match(const ember_model *a, const ember_model *b, char *why, size_t whylen) {
    const int na = ember_model_n_vocab(a), nb = ember_model_n_vocab(b);
    if (na != nb) {
        snprintf(why, whylen, "vocabulary sizes differ (%d vs %d)", na, nb);
        return 0;
    }
    char pa[256], pb[256];
    for (int i = 0; i < na; i++) {
        int la = ember_token_to_piece(a, i, pa, sizeof pa, 1), lb = ember_token_to_piece(b, i, pb, sizeof pb, 1);
        if (la != lb || (la > 0 && memcmp(pa, pb, (size_t)la))) {
            snprintf(why, whylen, "token %d differs between the vocabularies", i);
            return 0;
        }
    }
    return 1;
}

typedef struct {
    ember_token *hist;
    int n_hist, cap;
} history;

static int hist_push(history *h, ember_token t) {
    if (h->n_hist == h->cap) {
        int nc = h->cap * 2 + 64;
        ember_token *n = realloc(h->hist, (size_t)nc * sizeof *n);
        if (!n) return -1;
        h->hist = n;
        h->cap = nc;
    }
    h->hist[h->n_hist++] = t;
    return 0;
}

ember_status ember_spec_generate(ember_ctx *target, ember_ctx *draft, const ember_token *prompt, int n_prompt,
                                 int n_predict, ember_sampler *smp, const ember_spec_params *p,
                                 ember_spec_token_fn on_token, void *ud, ember_spec_stats *st) {
    memset(st, 0, sizeof *st);
    if (n_prompt < 1 || n_predict < 0 || !p || p->draft_max < 1 || p->draft_max > 64 || (!draft && p->lookup <= 0))
        return EMBER_ERR_INVALID_ARG;
    const ember_model *tm = ember_ctx_model(target);
    const int nv = ember_model_n_vocab(tm), n_ctx = ember_ctx_n_ctx(target), K = p->draft_max;
    const int sampling = p->sample;
    ember_status rc = EMBER_OK;
    history h = {0, 0, 0};
    float *pt = sampling ? malloc((size_t)nv * sizeof(float)) : 0;
    float *q = sampling ? malloc((size_t)K * nv * sizeof(float)) : 0; /* draft distributions */
    ember_token *batch = malloc(((size_t)K + 1) * sizeof *batch);
    ember_token *drafted = malloc((size_t)K * sizeof *drafted);
    int8_t *want = malloc((size_t)K + 1), *flags = malloc((size_t)n_prompt + 1), *zeros = calloc((size_t)n_prompt + 1, 1);
    int8_t vflags[65] = {0};
    int is_lookup[1];
    if ((sampling && (!pt || !q)) || !batch || !drafted || !want || !flags || !zeros) { rc = EMBER_ERR_NOMEM; goto out; }
    memset(want, 1, (size_t)K + 1);
    for (int i = 0; i < n_prompt; i++) if (hist_push(&h, prompt[i])) { rc = EMBER_ERR_NOMEM; goto out; }

    /* The prompt minus its last token goes in as a prompt batch; the last
     * one is the first entry of the first verification pass, flagged as a
     * prompt token, so the first generated token is speculated too and
     * every logit equals target-only generation's. */
    ember_kv_clear(target, 0);
    if (draft) ember_kv_clear(draft, 0);
    if (n_prompt >= 2) {
        memset(flags, 1, (size_t)n_prompt);
        ember_batch pb = {n_prompt - 1, prompt, 0, zeros, flags};
        if ((rc = ember_decode(target, &pb))) goto out;
        if (draft && (rc = ember_decode(draft, &pb))) goto out;
    }
    if (n_predict == 0) goto out;
    int first_round = 1;
    while (st->n_generated < n_predict) {
        const int n_before = h.n_hist; /* the last token is not in the target cache yet */
        int k = K;
        if (k > n_predict - st->n_generated) k = n_predict - st->n_generated;
        if (k > n_ctx - n_before) k = n_ctx - n_before;
        if (n_before > n_ctx) { rc = EMBER_ERR_CONTEXT_FULL; break; }
        int nd = 0;
        is_lookup[0] = 0;
        if (k > 0 && p->lookup > 0) {
            nd = lookup_draft(h.hist, h.n_hist, p->lookup, k, drafted);
            is_lookup[0] = nd > 0;
        }
        if (k > 0 && nd == 0 && draft) {
            /* catch the draft up with the accepted history, then propose */
            const int have = ember_kv_len(draft, 0);
            ember_batch cb = {n_before - have, h.hist + have, 0, 0, 0};
            if ((rc = ember_decode(draft, &cb))) break;
            st->n_draft_passes++;
            const float *l = ember_get_logits(draft, cb.n_tokens - 1);
            while (nd < k) {
                ember_token d;
                if (sampling) {
                    ember_sampler_probs(smp, l, q + (size_t)nd * nv);
                    d = ember_sampler_draw(smp, q + (size_t)nd * nv, nv);
                } else {
                    d = argmax(l, nv);
                    if (p->draft_min_p > 0) { /* confidence of the draft's choice */
                        double z = 0;
                        for (int i = 0; i < nv; i++) z += exp((double)l[i] - l[d]);
                        if (1.0 / z < p->draft_min_p) break;
                    }
                }
                drafted[nd++] = d;
                if (nd == k) break;
                ember_batch db = {1, &d, 0, 0, 0};
                if ((rc = ember_decode(draft, &db))) goto out;
                st->n_draft_passes++;
                l = ember_get_logits(draft, 0);
            }
        }
        st->n_drafted += nd;
        /* verify: the last token plus the drafts, one target pass */
        batch[0] = h.hist[n_before - 1];
        memcpy(batch + 1, drafted, (size_t)nd * sizeof *drafted);
        vflags[0] = first_round && n_prompt >= 2;
        first_round = 0;
        ember_batch vb = {nd + 1, batch, 0, want, vflags};
        if ((rc = ember_decode(target, &vb))) break;
        st->n_target_passes++;
        int n_acc = 0;
        ember_token next = -1;
        for (int j = 0; j <= nd; j++) {
            float *l = (float *)ember_get_logits(target, j);
            if (perturb_enabled() && j < nd && ((n_before + j) % 3 == 0)) {
                /* deliberately broken verification: boost a wrong token */
                l[(drafted[j] + 1) % nv] += 1000.0f;
            }
            if (!sampling) {
                const ember_token t = argmax(l, nv);
                if (j < nd && t == drafted[j]) { n_acc++; continue; }
                next = t;
                break;
            }
            ember_sampler_probs(smp, l, pt);
            if (j == nd) { next = ember_sampler_draw(smp, pt, nv); break; }
            const ember_token d = drafted[j];
            const double qd = is_lookup[0] ? 1.0 : q[(size_t)j * nv + d];
            if (qd > 0 && ember_sampler_uniform(smp) < pt[d] / qd) { n_acc++; continue; }
            /* resample from the residual max(0, p - q) */
            double mass = 0;
            for (int i = 0; i < nv; i++) {
                const double qi = is_lookup[0] ? (i == d) : q[(size_t)j * nv + i];
                pt[i] = (float)(pt[i] > qi ? pt[i] - qi : 0.0);
                mass += pt[i];
            }
            next = mass > 0 ? ember_sampler_draw(smp, pt, nv) : d;
            break;
        }
        st->n_accepted += n_acc;
        /* roll the caches back to what was accepted */
        ember_kv_truncate(target, 0, n_before + n_acc);
        if (draft && ember_kv_len(draft, 0) > n_before + n_acc) ember_kv_truncate(draft, 0, n_before + n_acc);
        int stop = 0;
        for (int j = 0; j <= n_acc && !stop; j++) {
            const ember_token t = j < n_acc ? drafted[j] : next;
            if (hist_push(&h, t)) { rc = EMBER_ERR_NOMEM; goto out; }
            st->n_generated++;
            if ((on_token && on_token(ud, t)) || ember_model_is_eog(tm, t) || st->n_generated >= n_predict) stop = 1;
        }
        if (stop) break;
    }
out:
    free(h.hist); free(pt); free(q); free(batch); free(drafted); free(want); free(flags); free(zeros);
    return rc;
}

/* Regularised upper incomplete gamma Q(a, x) (series / continued fraction,
 * Numerical Recipes style), for chi-square p-values. */
static double gamma_q(double a, double x) {
    if (x <= 0) return 1.0;
    const double gln = lgamma(a);
    if (x < a + 1) {
        double ap = a, sum = 1.0 / a, del = sum;
        for (int n = 0; n < 1000; n++) {
            ap += 1;
            del *= x / ap;
            sum += del;
            if (fabs(del) < fabs(sum) * 1e-15) break;
        }
        return 1.0 - sum * exp(-x + a * log(x) - gln);
    }
    double b = x + 1 - a, c = 1e300, d = 1 / b, hh = d;
    for (int i = 1; i < 1000; i++) {
        const double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300) d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300) c = 1e-300;
        d = 1 / d;
        const double del = d * c;
        hh *= del;
        if (fabs(del - 1) < 1e-15) break;
    }
    return exp(-x + a * log(x) - gln) * hh;
}

double ember_chi2_sf(double x, int k) { return k > 0 ? gamma_q(k / 2.0, x / 2.0) : 1.0; }
