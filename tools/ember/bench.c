/* ember bench: prompt processing (pp) and generation (tg) speed, modelled on
 * llama-bench, with each figure set against what the machine can do:
 * generation GB/s against measured memory bandwidth (decode streams every
 * weight once per token), prompt GFLOP/s against the measured in-cache peak
 * of the model's main kernel. `ember bench --mem` prints those limits. */
#include "ember.h"
#include "cli.h"
#include "formats/formats.h"
#include "kernels/kernels.h"
#include "runtime/cpu.h"
#include "runtime/threadpool.h"
#include "spec/spec.h"
#include <math.h>
#include <stdint.h>
#include <sys/mman.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- machine limits ---------------------------------------------------- */

/* Thread ith's share [i0, i1) of n elements. */
static void thread_share(size_t n, int ith, int nth, size_t *i0, size_t *i1) {
    const size_t per = n / (size_t)nth;
    *i0 = per * (size_t)ith;
    *i1 = ith == nth - 1 ? n : *i0 + per;
}

/* Best of 5 runs of fn on all threads, in GB/s for `bytes` moved per run. */
static double best_gbs(int threads, void (*fn)(void *, int, int), void *arg, double bytes) {
    ember_pool *pool = ember_pool_create(threads);
    double best = 0;
    for (int r = 0; r < 5 && pool; r++) {
        const double t0 = cli_now_ms();
        ember_pool_run(pool, fn, arg);
        const double gbs = bytes / ((cli_now_ms() - t0) * 1e6);
        if (gbs > best) best = gbs;
    }
    ember_pool_free(pool);
    return best;
}

typedef struct { float *a, *b, *c; size_t n; } triad_arg;

static void triad(void *arg, int ith, int nth) {
    triad_arg *t = arg;
    size_t i0, i1;
    thread_share(t->n, ith, nth, &i0, &i1);
    for (size_t i = i0; i < i1; i++) t->a[i] = t->b[i] + 3.0f * t->c[i];
}

/* STREAM-triad bandwidth in GB/s, counting 3 arrays moved. */
static double measure_bandwidth(int threads) {
    const size_t n = (size_t)48 << 20; /* 3 x 192 MiB: far beyond any cache */
    triad_arg t = {malloc(n * 4), malloc(n * 4), malloc(n * 4), n};
    double gbs = 0;
    if (t.a && t.b && t.c) {
        for (size_t i = 0; i < n; i++) { t.a[i] = 0; t.b[i] = 1; t.c[i] = 2; }
        gbs = best_gbs(threads, triad, &t, 3.0 * n * 4);
    }
    free(t.a); free(t.b); free(t.c);
    return gbs;
}

/* Read-only bandwidth: what decode needs (it streams every weight once per
 * token and writes almost nothing). Each thread sums its share of a buffer
 * far beyond any cache, four independent 64-bit sums, reading the way the
 * decode kernels do: from 2 MiB pages where the kernel gives them (the
 * loader's copies) and with software prefetch 4 KiB ahead (the F16, Q4_0
 * and Q8_0 kernels); without both the probe read less than F16 decoding
 * did at times. */
typedef struct { const uint64_t *a; size_t n; uint64_t sink[256]; } read_arg;

static void read_sum(void *arg, int ith, int nth) {
    read_arg *t = arg;
    size_t i0, i1;
    thread_share(t->n, ith, nth, &i0, &i1);
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = i0;
    for (; i + 8 <= i1; i += 8) {
        __builtin_prefetch(t->a + i + 512, 0, 2);
        s0 += t->a[i] + t->a[i + 4];
        s1 += t->a[i + 1] + t->a[i + 5];
        s2 += t->a[i + 2] + t->a[i + 6];
        s3 += t->a[i + 3] + t->a[i + 7];
    }
    for (; i < i1; i++) s0 += t->a[i];
    t->sink[ith & 255] = s0 + s1 + s2 + s3;
}

typedef struct { uint64_t *a; size_t n; } read_probe;

static int read_probe_init(read_probe *rp, size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    rp->n = bytes / 8;
    rp->a = aligned_alloc(huge, bytes);
    if (!rp->a) return 0;
#ifdef MADV_HUGEPAGE
    (void)madvise(rp->a, bytes, MADV_HUGEPAGE);
#endif
    for (size_t i = 0; i < rp->n; i++) rp->a[i] = i;
    return 1;
}

static double read_probe_run(read_probe *rp, int threads) {
    read_arg t = {rp->a, rp->n, {0}};
    return rp->a ? best_gbs(threads, read_sum, &t, (double)rp->n * 8) : 0;
}

static double measure_read_bandwidth(int threads) {
    read_probe rp;
    if (!read_probe_init(&rp, (size_t)512 << 20)) return 0;
    const double gbs = read_probe_run(&rp, threads);
    free(rp.a);
    return gbs;
}

typedef struct { int type; int iters; double gflops; } peak_arg;

static void peak_worker(void *arg, int ith, int nth) {
    (void)nth;
    peak_arg *p = (peak_arg *)arg + ith;
    const ember_type_traits *tr = ember_type_get(p->type), *vt = ember_type_get(tr->vec_dot_type);
    const int n = 4096;
    float *x = malloc((size_t)n * 4);
    for (int i = 0; i < n; i++) x[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    void *w = malloc(ember_row_size(p->type, n)), *a = malloc(ember_row_size(tr->vec_dot_type, n) + 64);
    if (tr->from_float_ref) tr->from_float_ref(x, w, n);
    else memset(w, 0, ember_row_size(p->type, n));
    vt->from_float ? vt->from_float(x, a, n) : memcpy(a, x, (size_t)n * 4);
    float s = 0, acc = 0;
    double t0 = cli_now_ms();
    for (int i = 0; i < p->iters; i++) { tr->vec_dot(n, &s, w, a); acc += s; }
    double ms = cli_now_ms() - t0;
    p->gflops = 2.0 * n * p->iters / (ms * 1e6) + (acc == 12345.0f ? 1e-9 : 0);
    free(x); free(w); free(a);
}

/* The CPU path's compute peak on all threads, in GFLOP/s (GOP/s for int8):
 * kind 0 = float multiply-add, 1 = int8 multiply-add (VNNI, or maddubs on
 * AVX2), 2 = BF16 dot products (AVX-512 BF16; 0 without). The prompt
 * test's share is measured against the peak of the arithmetic its kernels
 * use: int8 for quantized weights, BF16 for BF16 weights where the CPU has
 * it (twice the float rate: against the float peak they read 134 %),
 * float otherwise. */
typedef struct { int kind; double gflops; } machine_peak_arg;

static float scalar_sink;

static void machine_peak_worker(void *arg, int ith, int nth) {
    (void)nth;
    machine_peak_arg *p = (machine_peak_arg *)arg + ith;
    ember_kernel_set ks;
    ember_kernels_for_path(NULL, &ks);
    double (*fn)(long, float *) = p->kind == 2 ? ks.peak_bf16 : p->kind ? ks.peak_i8 : ks.peak_f32;
    const long iters = 2000000;
    float sink = 0;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = cli_now_ms();
        double ops;
        if (fn) ops = fn(iters, &sink);
        else { /* scalar path: 8 independent float chains */
            float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
            for (long i = 0; i < iters; i++)
                for (int c = 0; c < 8; c++) a[c] = a[c] * 0.999f + 1e-3f;
            sink = a[0] + a[7];
            ops = (double)iters * 8 * 2;
        }
        const double g = ops / ((cli_now_ms() - t0) * 1e6);
        if (g > best) best = g;
    }
    scalar_sink += sink * 0.0f;
    p->gflops = best;
}

static int has_bf16_peak(void) {
    ember_kernel_set ks;
    ember_kernels_for_path(NULL, &ks);
    return ks.peak_bf16 != NULL;
}

static double measure_machine_peak(int kind, int threads) {
    machine_peak_arg args[256];
    for (int i = 0; i < threads; i++) args[i] = (machine_peak_arg){kind, 0};
    ember_pool *pool = ember_pool_create(threads);
    ember_pool_run(pool, machine_peak_worker, args);
    ember_pool_free(pool);
    double total = 0;
    for (int i = 0; i < threads; i++) total += args[i].gflops;
    return total;
}

/* In-cache dot-product throughput of a weight type on all threads. */
static double measure_peak(int type, int threads) {
    peak_arg args[256];
    for (int i = 0; i < threads; i++) args[i] = (peak_arg){type, 20000, 0};
    ember_pool *pool = ember_pool_create(threads);
    ember_pool_run(pool, peak_worker, args);
    ember_pool_free(pool);
    double total = 0;
    for (int i = 0; i < threads; i++) total += args[i].gflops;
    return total;
}

/* ---- model tests ------------------------------------------------------- */

typedef struct { double mean, sd; } stat;

static stat stats(const double *v, int n) {
    stat s = {0, 0};
    for (int i = 0; i < n; i++) s.mean += v[i];
    s.mean /= n;
    for (int i = 0; i < n; i++) s.sd += (v[i] - s.mean) * (v[i] - s.mean);
    s.sd = n > 1 ? sqrt(s.sd / (n - 1)) : 0;
    return s;
}

/* Tokens per second of r runs: a p-token prompt in one batch (tg = 0) or
 * tg steps after a BOS, each step one token of each of `streams` sequences
 * in one batch (aggregate tokens/s; what a server with that many busy slots
 * gets from the engine). */
/* The machine limit beside each run: probe(arg) measured just before and
 * just after it, the larger kept (a shared machine's bandwidth swings by 2x
 * within minutes here, so one figure measured at the start says little about
 * a run a minute later). */
typedef struct { double (*fn)(void *); void *arg; } limit_probe;

static int run_test(ember_model *m, ember_ctx *c, int p, int tg, int streams, int r, double *tps, const limit_probe *lp,
                    double *limits) {
    const int nv = ember_model_n_vocab(m);
    ember_token *toks = malloc(((size_t)(p > 0 ? p : 1)) * sizeof *toks);
    int8_t *flags = malloc((size_t)(p > 0 ? p : 1));
    unsigned seed = 1;
    for (int i = 0; i < p; i++) { seed = seed * 1103515245u + 12345u; toks[i] = (ember_token)((seed >> 8) % (unsigned)nv); }
    if (p > 0) memset(flags, 1, (size_t)p);
    int rc = 0;
    for (int k = -1; k < r && !rc; k++) { /* k = -1: warm-up */
        for (int q = 0; q < streams; q++) ember_kv_clear(c, q);
        double t0, before = k >= 0 && lp ? lp->fn(lp->arg) : 0;
        if (tg == 0) {
            ember_batch b = {p, toks, 0, 0, flags};
            t0 = cli_now_ms();
            rc = ember_decode(c, &b) != EMBER_OK;
            if (k >= 0) tps[k] = p / ((cli_now_ms() - t0) / 1e3);
        } else {
            ember_token t[64];
            int32_t seq[64];
            int8_t want[64];
            for (int q = 0; q < streams; q++) {
                t[q] = ember_model_bos(m) >= 0 ? ember_model_bos(m) : 0;
                seq[q] = q;
                want[q] = 1;
            }
            t0 = cli_now_ms();
            for (int i = 0; i < tg && !rc; i++) {
                ember_batch b = {streams, t, seq, want, 0};
                rc = ember_decode(c, &b) != EMBER_OK;
                for (int q = 0; q < streams; q++) t[q] = (ember_token)((i * 7919 + 13 + q * 104729) % nv);
            }
            if (k >= 0) tps[k] = (double)tg * streams / ((cli_now_ms() - t0) / 1e3);
        }
        if (k >= 0 && lp) {
            const double after = lp->fn(lp->arg);
            limits[k] = after > before ? after : before;
        }
        fprintf(stderr, "ember bench: %s%d%s run %d/%d\r", tg ? "tg" : "pp", tg ? tg : p, streams > 1 ? " (streams)" : "", k + 1, r);
    }
    free(toks);
    free(flags);
    return rc;
}

static double median(const double *v, int n) {
    double *w = malloc((size_t)n * sizeof *w);
    if (!w || n <= 0) { free(w); return 0; }
    memcpy(w, v, (size_t)n * sizeof *w);
    for (int i = 1; i < n; i++) /* insertion sort: a handful of runs */
        for (int j = i; j > 0 && w[j - 1] > w[j]; j--) { const double x = w[j]; w[j] = w[j - 1]; w[j - 1] = x; }
    const double md = n % 2 ? w[n / 2] : 0.5 * (w[n / 2 - 1] + w[n / 2]);
    free(w);
    return md;
}

typedef struct { read_probe rp; int threads, kind; } bench_probes;

static double probe_read(void *a) { bench_probes *b = a; return read_probe_run(&b->rp, b->threads); }
static double probe_peak(void *a) { bench_probes *b = a; return measure_machine_peak(b->kind, b->threads); }

static int main_type(ember_model *m) {
    const char *t = ember_model_type_name(m);
    static const struct { const char *p; int t; } map[] = {
        {"Q4_K", EMBER_TYPE_Q4_K}, {"Q5_K", EMBER_TYPE_Q5_K}, {"Q3_K", EMBER_TYPE_Q3_K}, {"Q2_K", EMBER_TYPE_Q2_K},
        {"Q6_K", EMBER_TYPE_Q6_K}, {"Q8_0", EMBER_TYPE_Q8_0}, {"Q4_0", EMBER_TYPE_Q4_0}, {"Q4_1", EMBER_TYPE_Q4_1},
        {"Q5_0", EMBER_TYPE_Q5_0}, {"Q5_1", EMBER_TYPE_Q5_1}, {"BF16", EMBER_TYPE_BF16}, {"F16", EMBER_TYPE_F16},
        {"F32", EMBER_TYPE_F32}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strncmp(t, map[i].p, strlen(map[i].p))) return map[i].t;
    return EMBER_TYPE_F32;
}

/* Speculative generation against target-only greedy generation, same
 * prompt, same run: tokens/s of each, acceptance, speedup. */
typedef struct { double spec_tps, base_tps, accept, mean_drafted; int generated, rounds, no_draft; } spec_result;

static int spec_test(ember_model *tm, ember_ctx *tc, ember_ctx *dc, const char *prompt, int n, int K, int fixed, int lookup,
                     spec_result *r) {
    ember_token p[512];
    int np = ember_tokenize(tm, prompt, strlen(prompt), 1, 1, p, 512);
    if (np <= 0) return 1;
    ember_sampler_params spp = ember_sampler_default_params();
    spp.temp = 0;
    ember_sampler *smp;
    if (ember_sampler_create(&spp, ember_model_n_vocab(tm), &smp)) return 1;
    /* target-only: prompt batch, then one token per pass */
    int8_t fl[512];
    memset(fl, np >= 2, sizeof fl);
    ember_kv_clear(tc, 0);
    double t0 = cli_now_ms();
    ember_batch b = {np, p, 0, 0, fl};
    int got = 0, rc = ember_decode(tc, &b) != EMBER_OK;
    ember_token t;
    while (!rc && got < n) {
        t = ember_sampler_sample(smp, ember_get_logits(tc, b.n_tokens - 1));
        if (++got == n || ember_model_is_eog(tm, t)) break;
        ember_batch s1 = {1, &t, 0, 0, 0};
        b = s1;
        rc = ember_decode(tc, &b) != EMBER_OK;
    }
    r->base_tps = got / ((cli_now_ms() - t0) / 1e3);
    ember_spec_params sp = {K, 0, lookup, 0, fixed};
    ember_spec_stats st = {0};
    t0 = cli_now_ms();
    if (!rc) rc = ember_spec_generate(tc, dc, p, np, got, smp, &sp, 0, 0, &st) != EMBER_OK;
    r->spec_tps = st.n_generated / ((cli_now_ms() - t0) / 1e3);
    r->accept = st.n_drafted ? (double)st.n_accepted / st.n_drafted : 0;
    r->generated = st.n_generated;
    r->rounds = st.n_target_passes;
    r->no_draft = st.n_rounds_no_draft;
    r->mean_drafted = st.n_target_passes ? (double)st.n_drafted / st.n_target_passes : 0;
    ember_sampler_free(smp);
    return rc;
}

static void usage(FILE *f) {
    fprintf(f, "usage: ember bench -m MODEL [-m MODEL ...] [-p 512] [-n 128] [--streams 1,2,4,8] [-t THREADS] [-r 5] [--no-repack] [--json]\n"
               "       ember bench -m TARGET (--draft DRAFT | --lookup N) [--draft-max 8] [--draft-fixed] [--prompt TEXT] [-n 256] [-r 5]\n"
               "       ember bench --mem [-t THREADS] [--json]\n");
}

int cmd_bench(int argc, char **argv) {
    const char *cmd = "bench", *models[16];
    int n_models = 0, p = 512, n = 128, threads = 0, reps = 5, json = 0, mem = 0, draft_max = 8, lookup = 0;
    int streams[16] = {1}, n_streams = 1, max_streams = 1;
    const char *draft = 0, *spec_prompt = "And it came to pass, when";
    int draft_fixed = 0; /* speculative: always draft --draft-max (default: adaptive length) */
    ember_model_params mp = ember_model_default_params(); /* --no-repack: file layout only */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--json")) { json = 1; continue; }
        if (!strcmp(a, "--mem")) { mem = 1; continue; }
        if (!strcmp(a, "--draft-fixed")) { draft_fixed = 1; continue; }
        if (!strcmp(a, "--no-repack")) { mp.no_repack = 1; continue; }
        if (!(v = cli_value(cmd, argc, argv, &i))) return 2;
        if (!strcmp(a, "-m")) {
            if (n_models == 16) { fprintf(stderr, "ember bench: at most 16 models\n"); return 2; }
            models[n_models++] = v;
        } else if (!strcmp(a, "-p")) { if (cli_int(cmd, a, v, 0, 8192, &p)) return 2; }
        else if (!strcmp(a, "-n")) { if (cli_int(cmd, a, v, 0, 8192, &n)) return 2; }
        else if (!strcmp(a, "-t")) { if (cli_int(cmd, a, v, 1, 256, &threads)) return 2; }
        else if (!strcmp(a, "-r")) { if (cli_int(cmd, a, v, 1, 1000, &reps)) return 2; }
        else if (!strcmp(a, "--draft")) draft = v;
        else if (!strcmp(a, "--prompt")) spec_prompt = v;
        else if (!strcmp(a, "--draft-max")) { if (cli_int(cmd, a, v, 1, 64, &draft_max)) return 2; }
        else if (!strcmp(a, "--lookup")) { if (cli_int(cmd, a, v, 1, 16, &lookup)) return 2; }
        else if (!strcmp(a, "--streams")) {
            /* comma-separated stream counts, each 1..64 */
            n_streams = 0;
            for (const char *q = v; *q;) {
                char *end;
                long x = strtol(q, &end, 10);
                if (end == q || x < 1 || x > 64 || n_streams == 16 || (*end && *end != ',') || (*end == ',' && !end[1])) {
                    fprintf(stderr, "ember bench: --streams wants a comma-separated list of counts 1..64 (at most 16), got '%s'\n", v);
                    return 2;
                }
                streams[n_streams++] = (int)x;
                q = *end ? end + 1 : end;
            }
            if (!n_streams) { fprintf(stderr, "ember bench: --streams wants at least one count\n"); return 2; }
        }
        else { fprintf(stderr, "ember bench: unknown option '%s'\n", a); return 2; }
    }
    if (!threads) threads = ember_n_cores();
    if (!mem && !n_models) { usage(stderr); return 2; }
    if ((draft || lookup) && !n_models) {
        fprintf(stderr, "ember bench: --draft and --lookup need a target model (-m)\n");
        return 2;
    }
    for (int i = 0; i < n_streams; i++) if (streams[i] > max_streams) max_streams = streams[i];
    if (draft || lookup) {
        /* speculative benchmark: target = first -m */
        ember_model *tm = 0, *dm = 0;
        ember_ctx *tc = 0, *dc = 0;
        ember_ctx_params cp = ember_ctx_default_params();
        cp.n_ctx = n + 600;
        cp.n_threads = threads;
        int rc = 0;
        if (ember_model_load(models[0], &mp, &tm) || ember_ctx_create(tm, &cp, &tc) ||
            (draft && (ember_model_load(draft, &mp, &dm) || ember_ctx_create(dm, &cp, &dc)))) {
            fprintf(stderr, "ember bench: %s\n", ember_last_error());
            rc = 2;
        }
        char why[200];
        if (!rc && dm && !ember_spec_vocab_match(tm, dm, why, sizeof why)) { fprintf(stderr, "ember bench: %s\n", why); rc = 2; }
        double *sv = calloc((size_t)reps, sizeof *sv), *bv = calloc((size_t)reps, sizeof *bv), acc = 0, mdr = 0;
        int no_draft = 0, rounds = 0;
        for (int k = 0; !rc && k < reps; k++) {
            spec_result r;
            if (spec_test(tm, tc, dc, spec_prompt, n, draft_max, draft_fixed, lookup, &r)) { fprintf(stderr, "ember bench: %s\n", ember_last_error()); rc = 1; break; }
            sv[k] = r.spec_tps; bv[k] = r.base_tps; acc = r.accept; mdr = r.mean_drafted; no_draft = r.no_draft; rounds = r.rounds;
            fprintf(stderr, "ember bench: speculative run %d/%d\r", k + 1, reps);
        }
        if (!rc) {
            stat ss = stats(sv, reps), bs = stats(bv, reps);
            const char *tb = strrchr(models[0], '/'), *db = draft ? strrchr(draft, '/') : 0;
            tb = tb ? tb + 1 : models[0];
            db = db ? db + 1 : (draft ? draft : "-");
            if (json)
                printf("{\"target\": \"%s\", \"draft\": \"%s\", \"draft_max\": %d, \"adaptive\": %s, \"lookup\": %d, \"tokens\": %d, "
                       "\"threads\": %d, \"acceptance\": %.4f, \"mean_drafted_per_round\": %.3f, \"rounds\": %d, \"rounds_no_draft\": %d, "
                       "\"target_only_tokens_per_s\": %.3f, \"speculative_tokens_per_s\": %.3f, \"sd\": %.3f, "
                       "\"speedup\": %.3f}\n", tb, db, draft_max, draft_fixed ? "false" : "true", lookup, n, threads, acc, mdr, rounds,
                       no_draft, bs.mean, ss.mean, ss.sd, ss.mean / bs.mean);
            else
                printf("| %-22s | %-22s | K%s%-2d lookup=%d | accept %5.1f%% | drafted/round %4.2f, %d/%d rounds no draft | target-only %7.2f ± %5.2f t/s | speculative %7.2f ± %5.2f t/s | %.2fx |\n",
                       tb, db, draft_fixed ? "=" : "<=", draft_max, lookup, 100 * acc, mdr, no_draft, rounds, bs.mean, bs.sd, ss.mean, ss.sd,
                       ss.mean / bs.mean);
        }
        free(sv); free(bv);
        ember_ctx_free(dc); ember_model_free(dm); ember_ctx_free(tc); ember_model_free(tm);
        fprintf(stderr, "\n");
        return rc;
    }
    if (mem) {
        fprintf(stderr, "ember bench: measuring memory bandwidth...\n");
        const double bw = measure_bandwidth(threads), bw_read = measure_read_bandwidth(threads);
        static const int types[] = {EMBER_TYPE_F32, EMBER_TYPE_F16, EMBER_TYPE_BF16, EMBER_TYPE_Q8_0, EMBER_TYPE_Q4_0,
                                    EMBER_TYPE_Q4_K, EMBER_TYPE_Q6_K};
        if (json) printf("{\"cpu\": \"%s\", \"path\": \"%s\", \"threads\": %d, \"bandwidth_gbs\": %.2f, \"read_bandwidth_gbs\": %.2f, ",
                         ember_cpu()->brand, ember_cpu_path(), threads, bw, bw_read);
        else printf("cpu: %s | path %s | %d threads\nmemory bandwidth: read %.2f GB/s, STREAM triad %.2f GB/s\n",
                    ember_cpu()->brand, ember_cpu_path(), threads, bw_read, bw);
        const double pf = measure_machine_peak(0, threads), pi = measure_machine_peak(1, threads),
                     pb = has_bf16_peak() ? measure_machine_peak(2, threads) : 0;
        if (json) printf("\"float_fma_peak_gflops\": %.2f, \"int8_peak_gops\": %.2f, \"bf16_dot_peak_gflops\": %.2f, \"dot_gflops\": {", pf, pi, pb);
        else {
            printf("compute peak (%s path): float multiply-add %.1f GFLOP/s, int8 multiply-add %.1f GOP/s", ember_cpu_path(), pf, pi);
            if (pb > 0) printf(", BF16 dot product %.1f GFLOP/s", pb);
            printf("\nin-cache single-token dot throughput:\n%-6s %12s\n", "type", "GFLOP/s");
        }
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
            double g = measure_peak(types[i], threads);
            if (json) printf("%s\"%s\": %.2f", i ? ", " : "", ember_type_name(types[i]), g);
            else printf("%-6s %12.2f\n", ember_type_name(types[i]), g);
        }
        if (json) printf("}}\n");
        return 0;
    }
    if (json) printf("[");
    else printf("| %-28s | %-7s | %9s | %8s | %3s | %6s | %14s | %-22s |\n|%s|\n", "model", "type", "size GiB", "params",
                "thr", "test", "t/s", "share of machine limit",
                "------------------------------|---------|-----------|----------|-----|--------|----------------|------------------------");
    int first = 1, rc = 0;
    bench_probes probes = {{0, 0}, threads, 0};
    if (n > 0 && !read_probe_init(&probes.rp, (size_t)256 << 20)) { fprintf(stderr, "ember bench: out of memory\n"); return 1; }
    for (int mi = 0; mi < n_models; mi++) {
        ember_model *m;
        if (ember_model_load(models[mi], &mp, &m)) { fprintf(stderr, "ember bench: %s\n", ember_last_error()); rc = 2; continue; }
        ember_ctx_params cp = ember_ctx_default_params();
        cp.n_ctx = (p > n ? p : n) + 8;
        cp.n_threads = threads;
        cp.n_batch = p > max_streams ? p : max_streams;
        cp.n_seq = max_streams;
        ember_ctx *c;
        if (ember_ctx_create(m, &cp, &c)) { fprintf(stderr, "ember bench: %s\n", ember_last_error()); ember_model_free(m); rc = 1; continue; }
        const double gib = ember_model_size_bytes(m) / 1073741824.0;
        const int int8 = ember_type_get(main_type(m))->is_quantized;
        probes.kind = int8 ? 1 : main_type(m) == EMBER_TYPE_BF16 && has_bf16_peak() ? 2 : 0;
        for (int test = 0; test < 1 + n_streams; test++) {
            const int tok = test == 0 ? p : n, ns = test == 0 ? 1 : streams[test - 1];
            if (tok == 0) continue;
            double *tps = calloc((size_t)reps, sizeof *tps), *limits = calloc((size_t)reps, sizeof *limits),
                   *shares = calloc((size_t)reps, sizeof *shares);
            const limit_probe lp = {test == 0 ? probe_peak : probe_read, &probes};
            if (!tps || !limits || !shares ||
                run_test(m, c, test == 0 ? p : 0, test == 0 ? 0 : n, ns, reps, tps, &lp, limits)) {
                fprintf(stderr, "\nember bench: %s\n", tps && limits && shares ? ember_last_error() : "out of memory");
                rc = 1; free(tps); free(limits); free(shares);
                break;
            }
            stat s = stats(tps, reps);
            /* per run: what it achieved against the limit measured beside
             * it; the table gives the medians */
            const double per_tps = test == 0 ? 2.0 * ember_model_n_params(m) / 1e9 /* GFLOP per token */
                                             : ember_model_size_bytes(m) / (double)ns / 1e9; /* GB per step's token */
            for (int k = 0; k < reps; k++) shares[k] = limits[k] > 0 ? tps[k] * per_tps / limits[k] : 0;
            const double achieved = per_tps * s.mean, share = median(shares, reps), limit = median(limits, reps);
            const char *unit = test == 0 ? (int8 ? "GOP/s" : "GFLOP/s") : "GB/s";
            char name[64];
            if (ns > 1) snprintf(name, sizeof name, "tg%dx%d", tok, ns);
            else snprintf(name, sizeof name, "%s%d", test == 0 ? "pp" : "tg", tok);
            const char *base = strrchr(models[mi], '/');
            base = base ? base + 1 : models[mi];
            if (json) {
                printf("%s\n {\"model\": ", first ? "" : ",");
                cli_json_str(stdout, base, strlen(base));
                printf(", \"type\": \"%s\", \"size_bytes\": %llu, \"params\": %llu, \"threads\": %d, \"test\": \"%s\", "
                       "\"tokens_per_s\": %.3f, \"sd\": %.3f, \"runs\": [", ember_model_type_name(m),
                       (unsigned long long)ember_model_size_bytes(m), (unsigned long long)ember_model_n_params(m), threads, name, s.mean, s.sd);
                for (int k = 0; k < reps; k++) printf("%s%.3f", k ? ", " : "", tps[k]);
                printf("], \"%s\": %.3f, \"limit\": %.3f, \"limits\": [", test == 0 ? "gflops" : "gbs", achieved, limit);
                for (int k = 0; k < reps; k++) printf("%s%.3f", k ? ", " : "", limits[k]);
                printf("], \"share_of_limit\": %.4f, \"cpu_path\": \"%s\"", share, ember_cpu_path());
                if (test > 0) printf(", \"streams\": %d", ns);
                printf("}");
            } else {
                char lim[64];
                snprintf(lim, sizeof lim, "%.1f %s = %.0f%%", achieved, unit, share * 100);
                printf("| %-28.28s | %-7s | %9.2f | %7.2fB | %3d | %6s | %7.2f ± %5.2f | %-22s |\n", base, ember_model_type_name(m), gib,
                       ember_model_n_params(m) / 1e9, threads, name, s.mean, s.sd, lim);
            }
            fflush(stdout);
            first = 0;
            free(tps); free(limits); free(shares);
        }
        ember_ctx_free(c);
        ember_model_free(m);
    }
    if (json) printf("\n]\n");
    else printf("share of machine limit (%d threads): each run against the limit measured just before and after it (the "
                "larger), median of the runs; generation: read bandwidth (ember bench --mem); prompt: the %s path's "
                "multiply-add peak (int8 for quantized weights, BF16 dot products for BF16 where the CPU has them, float otherwise); tgNxB: B streams, one token each per step\n",
                threads, ember_cpu_path());
    free(probes.rp.a);
    fprintf(stderr, "\n");
    return rc;
}
