/* Greedy continuations must reproduce llama.cpp's (../shared/golden) token
 * for token, for every model; and must not depend on thread count or on
 * whether the prompt is fed as one batch or one token at a time. */
#include "test.h"
#include "jsonl.h"
#include "ember.h"
#include <dirent.h>

typedef struct { int n_cases, n_exact, n_prompt_ok; } golden_stats;

/* Greedy generation of n tokens; prompt fed in batches of `batch`. */
static int generate(ember_model *m, const int32_t *prompt, int n_prompt, int n, int threads, int batch, int32_t *out) {
    ember_ctx_params cp = ember_ctx_default_params();
    cp.n_ctx = 512;
    cp.n_threads = threads;
    cp.n_batch = 512;
    ember_ctx *c;
    if (ember_ctx_create(m, &cp, &c)) return -1;
    int8_t flags[512];
    memset(flags, n_prompt >= 2, sizeof flags);
    ember_batch b = {n_prompt, prompt, 0, 0, flags};
    int got = 0;
    /* fed in batches of `batch` entries, each marked as prompt */
    for (int i0 = 0; i0 + batch < n_prompt; i0 += batch) {
        ember_batch part = {batch, prompt + i0, 0, 0, flags};
        if (ember_decode(c, &part)) { ember_ctx_free(c); return -1; }
        b.n_tokens = n_prompt - i0 - batch;
        b.tokens = prompt + i0 + batch;
    }
    if (ember_decode(c, &b) == EMBER_OK) {
        while (got < n) {
            const float *l = ember_get_logits(c, b.n_tokens - 1);
            int best = 0;
            for (int i = 1; i < ember_model_n_vocab(m); i++) if (l[i] > l[best]) best = i;
            out[got++] = best;
            if (ember_model_is_eog(m, best) || got == n) break;
            b.n_tokens = 1;
            b.tokens = &out[got - 1];
            b.prefill = 0;
            if (ember_decode(c, &b)) break;
        }
    }
    ember_ctx_free(c);
    return got;
}

static void run_file(const char *path, golden_stats *st, int variants) {
    FILE *f = fopen(path, "r");
    if (!f) return;
    char *line = 0;
    size_t cap = 0;
    ember_model *m = 0;
    int case_no = 0;
    while (getline(&line, &cap, f) > 0) {
        char *model = jl_str(line, "model", 0);
        size_t plen;
        char *prompt = jl_str(line, "prompt", &plen);
        int32_t *ptoks = 0, *toks = 0;
        int np = jl_ints(line, "prompt_tokens", &ptoks), nt = jl_ints(line, "tokens", &toks);
        if (!m) {
            char mp[1024];
            snprintf(mp, sizeof mp, "%s/models/%s", test_shared_dir(), model);
            if (ember_model_load(mp, 0, &m)) { fprintf(stderr, "  load %s: %s\n", mp, ember_last_error()); CHECK(0); break; }
        }
        st->n_cases++;
        int32_t ids[512];
        int n = ember_tokenize(m, prompt, plen, 1, 1, ids, 512);
        if (n == np && !memcmp(ids, ptoks, (size_t)n * 4)) st->n_prompt_ok++;
        else fprintf(stderr, "  %s case %d: prompt tokenization differs\n", model, case_no);
        int32_t out[512];
        int got = generate(m, ptoks, np, nt, 2, 512, out);
        int same = got == nt && !memcmp(out, toks, (size_t)nt * 4);
        if (same) st->n_exact++;
        else {
            int k = 0;
            while (k < got && k < nt && out[k] == toks[k]) k++;
            fprintf(stderr, "  %s case %d: differs at generated token %d (ember %d, llama.cpp %d)\n", model, case_no, k,
                    k < got ? out[k] : -1, toks[k]);
        }
        if (variants && case_no < 2) {
            int32_t o1[512], o2[512];
            int g1 = generate(m, ptoks, np, nt, 1, 512, o1);
            int g2 = generate(m, ptoks, np, nt, 2, 1, o2);
            CHECKF(g1 == got && !memcmp(o1, out, (size_t)got * 4), "%s: 1 thread differs from 2 threads", model);
            CHECKF(g2 == got && !memcmp(o2, out, (size_t)got * 4), "%s: token-by-token prompt differs from one batch", model);
        }
        case_no++;
        free(model); free(prompt); free(ptoks); free(toks);
    }
    free(line);
    fclose(f);
    ember_model_free(m);
}

static void golden_all(void) {
    const char *dir = test_shared_path("golden");
    if (!dir) SKIP("../shared/golden not found");
    DIR *d = opendir(dir);
    struct dirent *e;
    char *names[64];
    int nn = 0;
    while ((e = readdir(d)) && nn < 64)
        if (strstr(e->d_name, ".jsonl")) names[nn++] = strdup(e->d_name);
    closedir(d);
    golden_stats total = {0, 0, 0};
    for (int i = 0; i < nn; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        golden_stats st = {0, 0, 0};
        run_file(p, &st, 1);
        fprintf(stderr, "  %-40s exact %2d/%2d  prompt %2d/%2d\n", names[i], st.n_exact, st.n_cases, st.n_prompt_ok, st.n_cases);
        printf("%s %s (%d/%d exact)\n", st.n_exact == st.n_cases && st.n_cases > 0 ? "PASS" : "FAIL", names[i], st.n_exact, st.n_cases);
        if (st.n_exact != st.n_cases || !st.n_cases) t_failures_++;
        total.n_cases += st.n_cases; total.n_exact += st.n_exact; total.n_prompt_ok += st.n_prompt_ok;
        free(names[i]);
    }
    fprintf(stderr, "  golden total: %d/%d exact, prompts %d/%d\n", total.n_exact, total.n_cases, total.n_prompt_ok, total.n_cases);
    CHECK(total.n_prompt_ok == total.n_cases);
}

int main(void) {
    RUN(golden_all);
    TEST_EXIT();
}
