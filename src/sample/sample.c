/* Sampling chain, in llama.cpp's default order: repetition/presence/
 * frequency penalties over the last N tokens, top-k, top-p, min-p,
 * temperature, then a draw. temp <= 0 is greedy (argmax after penalties).
 * Ties break toward the lower token id so results are reproducible. */
#include "ember.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int id; float logit; } cand;

struct ember_sampler {
    ember_sampler_params p;
    int n_vocab;
    uint64_t rng[4];
    int *hist;       /* ring of the last repeat_last_n accepted tokens */
    int hist_len, hist_pos;
    cand *c;
    float *tmp;
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* xoshiro256** */
static uint64_t next_u64(ember_sampler *s) {
    uint64_t *r = s->rng;
    const uint64_t out = rotl(r[1] * 5, 7) * 9, t = r[1] << 17;
    r[2] ^= r[0]; r[3] ^= r[1]; r[1] ^= r[2]; r[0] ^= r[3];
    r[2] ^= t; r[3] = rotl(r[3], 45);
    return out;
}

double ember_sampler_uniform(ember_sampler *s) { return (double)(next_u64(s) >> 11) * 0x1.0p-53; }

ember_sampler_params ember_sampler_default_params(void) {
    ember_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temp = 0.8f; p.top_k = 40; p.top_p = 0.95f; p.min_p = 0.05f;
    p.repeat_penalty = 1.0f; p.repeat_last_n = 64; p.seed = 0xE3BE2;
    return p;
}

ember_status ember_sampler_create(const ember_sampler_params *p, int n_vocab, ember_sampler **out) {
    *out = 0;
    if (!p || n_vocab <= 0) return EMBER_ERR_INVALID_ARG;
    if (!(p->temp >= 0.0f && p->temp <= 100.0f) || p->top_k < 0 || !(p->top_p > 0.0f && p->top_p <= 1.0f) ||
        !(p->min_p >= 0.0f && p->min_p <= 1.0f) || !(p->repeat_penalty > 0.0f && p->repeat_penalty <= 100.0f) ||
        p->repeat_last_n < 0 || p->repeat_last_n > 1 << 20 || !(fabsf(p->presence_penalty) <= 100.0f) ||
        !(fabsf(p->frequency_penalty) <= 100.0f))
        return EMBER_ERR_INVALID_ARG;
    ember_sampler *s = calloc(1, sizeof *s);
    if (!s) return EMBER_ERR_NOMEM;
    s->p = *p;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->tmp = malloc((size_t)n_vocab * sizeof(float));
    s->hist = malloc(((size_t)p->repeat_last_n + 1) * sizeof(int));
    if (!s->c || !s->tmp || !s->hist) { ember_sampler_free(s); return EMBER_ERR_NOMEM; }
    ember_sampler_reset(s);
    *out = s;
    return EMBER_OK;
}

void ember_sampler_free(ember_sampler *s) {
    if (!s) return;
    free(s->c); free(s->tmp); free(s->hist); free(s);
}

void ember_sampler_reset(ember_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->hist_len = s->hist_pos = 0;
}

void ember_sampler_accept(ember_sampler *s, ember_token tok) {
    if (s->p.repeat_last_n == 0) return;
    s->hist[s->hist_pos] = tok;
    s->hist_pos = (s->hist_pos + 1) % s->p.repeat_last_n;
    if (s->hist_len < s->p.repeat_last_n) s->hist_len++;
}

static int cand_cmp(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

/* Applies the penalties to logits (copied into s->tmp). */
static const float *penalized(ember_sampler *s, const float *logits) {
    const ember_sampler_params *p = &s->p;
    if (!s->hist_len || (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return logits;
    memcpy(s->tmp, logits, (size_t)s->n_vocab * sizeof(float));
    for (int i = 0; i < s->hist_len; i++) {
        const int t = s->hist[i];
        if (t < 0 || t >= s->n_vocab) continue;
        int seen = 0, count = 0;
        for (int j = 0; j < s->hist_len; j++) {
            if (s->hist[j] == t) { count++; if (j < i) seen = 1; }
        }
        if (seen) continue; /* each distinct token once */
        float *l = &s->tmp[t];
        if (p->repeat_penalty != 1.0f) *l = *l <= 0 ? *l * p->repeat_penalty : *l / p->repeat_penalty;
        *l -= (float)count * p->frequency_penalty + (count > 0 ? p->presence_penalty : 0.0f);
    }
    return s->tmp;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[best]) best = i;
    return best;
}

/* Builds the final candidate set with normalised probabilities in .logit;
 * returns its size. */
static int build(ember_sampler *s, const float *logits) {
    const ember_sampler_params *p = &s->p;
    const float *l = penalized(s, logits);
    int n = s->n_vocab;
    for (int i = 0; i < n; i++) { s->c[i].id = i; s->c[i].logit = l[i]; }
    if (p->top_k > 0 && p->top_k < n) {
        /* partial selection: keep the k best, then sort them */
        qsort(s->c, (size_t)n, sizeof(cand), cand_cmp);
        n = p->top_k;
    } else {
        qsort(s->c, (size_t)n, sizeof(cand), cand_cmp);
    }
    /* top-p and min-p on the softmax of the (untempered) logits */
    if (p->top_p < 1.0f || p->min_p > 0.0f) {
        const float mx = s->c[0].logit;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += exp((double)s->c[i].logit - mx);
        if (p->top_p < 1.0f) {
            double cum = 0;
            for (int i = 0; i < n; i++) {
                cum += exp((double)s->c[i].logit - mx) / sum;
                if (cum >= p->top_p) { n = i + 1; break; }
            }
        }
        if (p->min_p > 0.0f) {
            const double thr = log(p->min_p);
            int k = 1;
            while (k < n && (double)s->c[k].logit - mx >= thr) k++;
            n = k;
        }
    }
    /* temperature, softmax */
    const float mx = s->c[0].logit;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const double e = exp(((double)s->c[i].logit - mx) / p->temp);
        s->c[i].logit = (float)e;
        sum += e;
    }
    for (int i = 0; i < n; i++) s->c[i].logit = (float)(s->c[i].logit / sum);
    return n;
}

ember_token ember_sampler_sample(ember_sampler *s, const float *logits) {
    if (s->p.temp <= 0.0f) return argmax(penalized(s, logits), s->n_vocab);
    const int n = build(s, logits);
    const double u = ember_sampler_uniform(s);
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += s->c[i].logit;
        if (u < cum) return s->c[i].id;
    }
    return s->c[n - 1].id;
}

void ember_sampler_probs(ember_sampler *s, const float *logits, float *probs) {
    memset(probs, 0, (size_t)s->n_vocab * sizeof(float));
    if (s->p.temp <= 0.0f) { probs[argmax(penalized(s, logits), s->n_vocab)] = 1.0f; return; }
    const int n = build(s, logits);
    for (int i = 0; i < n; i++) probs[s->c[i].id] = s->c[i].logit;
}

ember_token ember_sampler_draw(ember_sampler *s, const float *probs, int n) {
    double total = 0;
    for (int i = 0; i < n; i++) total += probs[i] > 0 ? probs[i] : 0;
    if (total <= 0) return argmax(probs, n);
    const double u = ember_sampler_uniform(s) * total;
    double cum = 0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (probs[i] <= 0) continue;
        cum += probs[i];
        last = i;
        if (u < cum) return i;
    }
    return last;
}
