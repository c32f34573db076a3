/* Speculative decoding loop (see spec.h). */
#include "spec.h"
#include "models/model.h"
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

/* ---- adaptive draft length: static cost model + acceptance history ----
 * Cost of one pass over n tokens, in byte equivalents, from the model's
 * shape: its weight matrices (layers and output) are streamed once per pass
 * (the multi-token kernels use each loaded block for up to 4 tokens, and
 * mm_rows keeps the row block in cache for the next 4), plus, per token,
 * 0.35 byte-equivalents of arithmetic per weight and a fixed 384 KiB
 * equivalent per layer (norms, rope, attention, thread hand-offs) — the
 * part that dominates tiny models. Fitted to single- and multi-token decode
 * times of the kjv and stories test models (Zen 4): it predicts a 9-token
 * verification of kjv-20m-f32 at ~2.0 single steps (measured 1.8-2.2), a
 * kjv-20m-q4_k_m draft step at ~0.31 of a kjv-20m-f32 step (0.26-0.28), a
 * kjv-5m-q8_0 one at ~0.24 (0.11-0.15; erring towards drafting less), and
 * a stories260K-q8_0 step at ~0.8 of a stories260K step (0.85-1.0), so
 * that pair — like kjv-20m-q8_0 with its q4_k_m — never pays. No clocks:
 * the choice is reproducible. */
typedef struct { double mem, tok; } pass_cost;

static void w_add(const ember_weight *w, double *bytes, double *params) {
    if (!w->data || w->rows < 2) return;
    *bytes += (double)w->rows * (double)w->row_bytes;
    *params += (double)w->rows * (double)w->cols;
}

static pass_cost spec_cost(const ember_model *m) {
    double b = 0, pr = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const ember_layer *L = &m->layers[l];
        const ember_weight *ws[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (int i = 0; i < 7; i++) w_add(ws[i], &b, &pr);
    }
    w_add(&m->output, &b, &pr);
    pass_cost c = {b, 0.35 * pr + 393216.0 * m->hp.n_layer};
    return c;
}

/* cost of a target pass over n tokens relative to a single-token pass */
static double pass_rel(pass_cost c, int n) { return (c.mem + n * c.tok) / (c.mem + c.tok); }

#define ADAPT_DECAY 0.95   /* per observed draft token: memory of ~20 tokens */
#define PROBE_FIRST 16     /* tokens of plain decoding before the first probe */
#define PROBE_LAST 256     /* longest probe interval */
#define PROBE_K 3          /* drafts in a probe */

/* One draft source (the draft model or lookup). */
typedef struct {
    double s, f;       /* decayed counts of accepted and rejected drafts */
    double cd;         /* cost of one proposal relative to a target step */
    int usable;        /* 0: cannot pay under the cost model even if always accepted */
    int since, every;  /* tokens generated since it last proposed; probe interval */
} adapt;

/* Draft length maximising expected tokens per unit of cost at acceptance a:
 * a round with k drafts yields (1 - a^(k+1)) / (1 - a) tokens for
 * k*cd + V(k+1); k = 0 is one token for one target step. Near its optimum
 * the curve is flat, so the longest k within 3 % of the best is taken (the
 * model errs on the expensive side for verification). */
static int best_k(pass_cost t, double cd, double a, int K) {
    double r[65], best = 1.0, e = 1.0, ap = 1.0;
    int bk = 0;
    for (int k = 1; k <= K; k++) {
        ap *= a;
        e += ap;
        r[k] = e / (k * cd + pass_rel(t, k + 1));
        if (r[k] > best) { best = r[k]; bk = k; }
    }
    if (bk == 0) return 0;
    for (int k = K; k > bk; k--) if (r[k] >= 0.97 * best) return k;
    return bk;
}

static void adapt_init(adapt *ad, pass_cost t, double cd, int K) {
    ad->s = 1.8; /* prior: 90 % acceptance, weight 2 */
    ad->f = 0.2;
    ad->cd = cd;
    ad->usable = best_k(t, cd, 1.0, K) > 0;
    ad->since = 0;
    ad->every = PROBE_FIRST;
}

/* Tokens to propose this round (before the remaining-length limits). */
static int adapt_choose(adapt *ad, pass_cost t, int K, int *probe) {
    *probe = 0;
    if (!ad->usable) return 0;
    const int k = best_k(t, ad->cd, ad->s / (ad->s + ad->f), K);
    if (k > 0) { ad->every = PROBE_FIRST; return k; }
    if (ad->since < ad->every) return 0;
    *probe = 1;
    ad->every = ad->every * 2 > PROBE_LAST ? PROBE_LAST : ad->every * 2;
    return K < PROBE_K ? K : PROBE_K;
}

/* Records a round: nd proposed, n_acc accepted (the first rejected, if any,
 * ends the round). */
static void adapt_observe(adapt *ad, int nd, int n_acc) {
    for (int j = 0; j < nd && j <= n_acc; j++) {
        ad->s *= ADAPT_DECAY;
        ad->f *= ADAPT_DECAY;
        if (j < n_acc) ad->s += 1; else ad->f += 1;
    }
    if (nd > 0) ad->since = 0;
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
    const int sampling = p->sample, fixed = p->draft_fixed;
    /* debug hook for the adaptive-length test: a draft that is never right */
    const char *bad_env = getenv("EMBER_DEBUG_SPEC_BAD_DRAFT");
    const int bad_draft = bad_env && *bad_env && strcmp(bad_env, "0");
    const pass_cost tcost = spec_cost(tm), dcost = draft ? spec_cost(ember_ctx_model(draft)) : tcost;
    adapt ad_draft, ad_look; /* lookup proposals cost nothing to make */
    adapt_init(&ad_draft, tcost, (dcost.mem + dcost.tok) / (tcost.mem + tcost.tok), K);
    adapt_init(&ad_look, tcost, 0.0, K);
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
        int lim = n_predict - st->n_generated;
        if (lim > n_ctx - n_before) lim = n_ctx - n_before;
        if (n_before > n_ctx) { rc = EMBER_ERR_CONTEXT_FULL; break; }
        int nd = 0, probe_l = 0, probe_d = 0, k;
        is_lookup[0] = 0;
        if (p->lookup > 0) {
            k = fixed ? K : adapt_choose(&ad_look, tcost, K, &probe_l);
            if (k > lim) k = lim;
            if (k > 0) nd = lookup_draft(h.hist, h.n_hist, p->lookup, k, drafted);
            is_lookup[0] = nd > 0;
        }
        k = 0;
        if (nd == 0 && draft) {
            k = fixed ? K : adapt_choose(&ad_draft, tcost, K, &probe_d);
            if (k > lim) k = lim;
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
                    if (bad_draft) d = (d + 1) % nv;
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
        st->n_rounds_no_draft += nd == 0;
        st->n_probes += nd > 0 && (is_lookup[0] ? probe_l : probe_d);
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
        if (nd > 0) adapt_observe(is_lookup[0] ? &ad_look : &ad_draft, nd, n_acc);
        ad_look.since += n_acc + 1;
        ad_draft.since += n_acc + 1;
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
