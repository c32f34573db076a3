/* A persistent pool of worker threads that lives as long as its context.
 * ember_pool_run(fn) calls fn(arg, ith, nth) on every thread (the caller is
 * thread 0) and returns when all are done. Work splitting is the callee's;
 * kernels split by output rows so results never depend on nth. */
#ifndef EMBER_THREADPOOL_H
#define EMBER_THREADPOOL_H

typedef struct ember_pool ember_pool;
typedef void (*ember_pool_fn)(void *arg, int ith, int nth);

ember_pool *ember_pool_create(int n_threads); /* NULL on failure */
void ember_pool_free(ember_pool *p);
int ember_pool_size(const ember_pool *p);
void ember_pool_run(ember_pool *p, ember_pool_fn fn, void *arg);
int ember_n_cores(void);

#endif
