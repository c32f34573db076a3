/* Thread pool, CPU detection, fp16 conversion and KV cache bookkeeping. */
#include "test.h"
#include "runtime/threadpool.h"
#include "runtime/cpu.h"
#include "formats/fp16.h"
#include "kv/kv.h"
#include <math.h>
#include <stdatomic.h>
#include <time.h>

typedef struct { atomic_int hits[8]; atomic_int calls; } pool_arg;

static void count_fn(void *a, int ith, int nth) {
    pool_arg *p = a;
    atomic_fetch_add(&p->hits[ith], 1);
    atomic_fetch_add(&p->calls, nth);
}

static void pool_runs_every_thread(void) {
    for (int n = 1; n <= 4; n++) {
        ember_pool *pool = ember_pool_create(n);
        CHECK(pool != 0);
        CHECK(ember_pool_size(pool) == n);
        pool_arg a;
        memset(&a, 0, sizeof a);
        for (int r = 0; r < 500; r++) ember_pool_run(pool, count_fn, &a);
        for (int i = 0; i < n; i++) CHECK(atomic_load(&a.hits[i]) == 500);
        CHECK(atomic_load(&a.calls) == 500 * n * n);
        ember_pool_free(pool);
    }
}

static void pool_survives_idle_sleep(void) {
    ember_pool *pool = ember_pool_create(2);
    pool_arg a;
    memset(&a, 0, sizeof a);
    ember_pool_run(pool, count_fn, &a);
    struct timespec ts = {0, 50 * 1000 * 1000}; /* workers fall asleep */
    nanosleep(&ts, 0);
    ember_pool_run(pool, count_fn, &a);
    CHECK(atomic_load(&a.hits[1]) == 2);
    ember_pool_free(pool);
}

static void cpu_path_is_consistent(void) {
    const char *p = ember_cpu_path_name();
    CHECK(!strcmp(p, "scalar") || !strcmp(p, "avx2") || !strcmp(p, "avx512"));
    CHECK(ember_cpu_path_supported(p));
    CHECK(ember_cpu_path_supported("scalar"));
    if (ember_cpu_path_supported("avx512")) CHECK(ember_cpu_path_supported("avx2"));
    CHECK(!ember_cpu_path_supported("sparc"));
}

static void fp16_round_trip(void) {
    /* every finite half round-trips exactly; rounding is to nearest even */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00) continue;
        CHECK(ember_fp32_to_fp16(ember_fp16_to_fp32((uint16_t)h)) == h);
    }
    CHECK(ember_fp32_to_fp16(1.0f) == 0x3c00);
    CHECK(ember_fp32_to_fp16(65520.0f) == 0x7c00);          /* overflow to inf */
    CHECK(ember_fp32_to_fp16(1.0f + 0x1p-11f) == 0x3c00);   /* tie to even */
    CHECK(ember_fp32_to_fp16(1.0f + 3 * 0x1p-11f) == 0x3c02);
    CHECK((ember_fp32_to_fp16(NAN) & 0x7c00) == 0x7c00 && (ember_fp32_to_fp16(NAN) & 0x3ff));
    CHECK(ember_bf16_to_fp32(ember_fp32_to_bf16(1.5f)) == 1.5f);
    CHECK(ember_fp32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);    /* tie to even */
}

static void kv_store_copy_truncate(void) {
    ember_kv kv;
    CHECK(ember_kv_init(&kv, 2, 8, 2, 4, EMBER_KV_F16) == 0);
    float k[4] = {1, 2, 3, 4}, v[4] = {5, 6, 7, 8};
    for (int p = 0; p < 3; p++) { ember_kv_store(&kv, 0, 1, p, k, v); kv.len[0]++; }
    const uint16_t *kr = ember_kv_k(&kv, 0, 1, 2);
    CHECK(ember_fp16_to_fp32(kr[3]) == 4.0f);
    const uint16_t *vc = ember_kv_v(&kv, 0, 1, 2); /* dim 2 over positions */
    CHECK(ember_fp16_to_fp32(vc[0]) == 7.0f && ember_fp16_to_fp32(vc[2]) == 7.0f);
    ember_kv_copy(&kv, 0, 1, 2);
    CHECK(kv.len[1] == 2);
    const uint16_t *vc1 = ember_kv_v(&kv, 1, 1, 2);
    CHECK(ember_fp16_to_fp32(vc1[1]) == 7.0f);
    ember_kv_free(&kv);
}

int main(void) {
    RUN(pool_runs_every_thread);
    RUN(pool_survives_idle_sleep);
    RUN(cpu_path_is_consistent);
    RUN(fp16_round_trip);
    RUN(kv_store_copy_truncate);
    TEST_EXIT();
}
