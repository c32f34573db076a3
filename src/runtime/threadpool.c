/* Persistent worker pool. Workers spin briefly on a generation counter
 * (dispatch of a decode step costs well under a microsecond when hot) and
 * then sleep on a condition variable, so an idle pool burns no CPU. */
#include "threadpool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define SPIN_ITERS 20000
#define YIELD_EVERY 256 /* give the core away now and then: on a busy machine
                         * a spinning thread can starve the one it waits for */
#define HOT_SPINS 2048  /* ...but not in the first ~25 us of a wait: the gaps
                         * between a decode step's runs are shorter, and a
                         * worker inside sched_yield (~2.5k cycles here) saw
                         * a run 4-6k TSC cycles late on average instead of
                         * ~1k (tl-q4_0 tg64, per-matmul TSC split) */

struct ember_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t cv_work;
    pthread_cond_t cv_done;
    atomic_uint gen;      /* bumped once per run */
    atomic_int pending;   /* workers still running the current job */
    atomic_int sleepers;
    int stop;
    ember_pool_fn fn;
    void *arg;
};

typedef struct { ember_pool *p; int ith; } worker_arg;

static void *worker(void *v) {
    worker_arg wa = *(worker_arg *)v;
    free(v);
    ember_pool *p = wa.p;
    unsigned seen = 0;
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen && spins < SPIN_ITERS) {
            CPU_RELAX();
            if (++spins > HOT_SPINS && spins % YIELD_EVERY == 0) sched_yield();
        }
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load(&p->gen)) == seen && !p->stop)
                pthread_cond_wait(&p->cv_work, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            int stop = p->stop;
            pthread_mutex_unlock(&p->mu);
            if (stop && g == seen) return 0;
        }
        seen = g;
        if (p->stop) return 0;
        p->fn(p->arg, wa.ith, p->n);
        if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->cv_done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

int ember_n_cores(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

ember_pool *ember_pool_create(int n_threads) {
    if (n_threads <= 0) n_threads = ember_n_cores();
    if (n_threads > 256) n_threads = 256;
    ember_pool *p = calloc(1, sizeof *p);
    if (!p) return 0;
    p->n = n_threads;
    pthread_mutex_init(&p->mu, 0);
    pthread_cond_init(&p->cv_work, 0);
    pthread_cond_init(&p->cv_done, 0);
    atomic_init(&p->gen, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    if (n_threads > 1) {
        p->threads = calloc((size_t)n_threads, sizeof *p->threads);
        if (!p->threads) { free(p); return 0; }
        for (int i = 1; i < n_threads; i++) {
            worker_arg *wa = malloc(sizeof *wa);
            if (!wa) { p->n = i; ember_pool_free(p); return 0; }
            wa->p = p; wa->ith = i;
            if (pthread_create(&p->threads[i], 0, worker, wa) != 0) {
                free(wa); p->n = i; ember_pool_free(p); return 0;
            }
        }
    }
    return p;
}

void ember_pool_free(ember_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    atomic_fetch_add(&p->gen, 1);
    pthread_cond_broadcast(&p->cv_work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], 0);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_work);
    pthread_cond_destroy(&p->cv_done);
    free(p->threads);
    free(p);
}

int ember_pool_size(const ember_pool *p) { return p ? p->n : 1; }

void ember_pool_run(ember_pool *p, ember_pool_fn fn, void *arg) {
    if (!p || p->n == 1) { fn(arg, 0, 1); return; }
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->pending, p->n - 1);
    atomic_fetch_add(&p->gen, 1); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv_work);
        pthread_mutex_unlock(&p->mu);
    }
    fn(arg, 0, p->n);
    int spins = 0;
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
        if (++spins < SPIN_ITERS) {
            CPU_RELAX();
            if (spins > HOT_SPINS && spins % YIELD_EVERY == 0) sched_yield();
            continue;
        }
        pthread_mutex_lock(&p->mu);
        while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
            pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
}
