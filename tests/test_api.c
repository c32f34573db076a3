/* Public API contract: errors, batch validation, KV rollback/copy, and the
 * invariances speculative decoding and the server rely on. */
#include "test.h"
#include "ember.h"
#include <math.h>
#include "runtime/cpu.h"
#include "formats/formats.h"
static int ember_cpu_path_supported_public(void) { return strcmp(ember_cpu_path(), "scalar") != 0; }

static ember_model *load(const char *rel) {
    const char *p = test_shared_path(rel);
    if (!p) return 0;
    ember_model *m = 0;
    if (ember_model_load(p, 0, &m)) { fprintf(stderr, "  %s\n", ember_last_error()); return 0; }
    return m;
}

static void load_errors(void) {
    ember_model *m;
    CHECK(ember_model_load("/nonexistent/x.gguf", 0, &m) == EMBER_ERR_IO);
    CHECK(strstr(ember_last_error(), "/nonexistent/x.gguf") != 0);
    CHECK(ember_model_load("", 0, &m) == EMBER_ERR_INVALID_ARG);
    CHECK(strcmp(ember_strerror(EMBER_ERR_FORMAT), "malformed file") == 0);
}

static void decode_validation(void) {
    ember_model *m = load("models/stories260K.gguf");
    if (!m) SKIP("stories260K.gguf not available");
    ember_ctx_params cp = ember_ctx_default_params();
    cp.n_ctx = 16; cp.n_seq = 2;
    ember_ctx *c;
    CHECK(ember_ctx_create(m, &cp, &c) == EMBER_OK);
    ember_token bad[1] = {100000};
    ember_batch b = {1, bad, 0, 0};
    CHECK(ember_decode(c, &b) == EMBER_ERR_INVALID_ARG);
    ember_token toks[20];
    for (int i = 0; i < 20; i++) toks[i] = 1 + i;
    int32_t seq[1] = {5};
    ember_batch b2 = {1, toks, seq, 0};
    CHECK(ember_decode(c, &b2) == EMBER_ERR_INVALID_ARG);
    ember_batch b3 = {17, toks, 0, 0};
    CHECK(ember_decode(c, &b3) == EMBER_ERR_CONTEXT_FULL);
    CHECK(ember_kv_len(c, 0) == 0); /* a rejected batch leaves the cache alone */
    ember_batch b4 = {0, toks, 0, 0};
    CHECK(ember_decode(c, &b4) == EMBER_ERR_INVALID_ARG);
    CHECK(ember_kv_truncate(c, 0, 1) == EMBER_ERR_INVALID_ARG);
    CHECK(ember_kv_copy_prefix(c, 0, 1, 3) == EMBER_ERR_INVALID_ARG);
    ember_ctx_free(c);
    cp.n_seq = -1;
    CHECK(ember_ctx_create(m, &cp, &c) == EMBER_ERR_INVALID_ARG);
    ember_model_free(m);
}

/* Logits of a token do not depend on batch composition or thread count. */
static void batch_and_thread_invariance(void) {
    ember_model *m = load("models/kjv-5m-q8_0.gguf");
    if (!m) SKIP("kjv-5m-q8_0.gguf not available");
    const int nv = ember_model_n_vocab(m);
    ember_token toks[12];
    int n = ember_tokenize(m, "In the beginning God created", 28, 1, 0, toks, 12);
    CHECK(n > 3);
    float *ref = malloc((size_t)nv * n * sizeof(float));
    for (int variant = 0; variant < 4; variant++) {
        ember_ctx_params cp = ember_ctx_default_params();
        /* 3 threads on 2 cores: shares of unequal pace, rows claimed across them */
        cp.n_ctx = 64; cp.n_seq = 2; cp.n_threads = variant == 1 ? 1 : variant == 2 ? 3 : 2;
        ember_ctx *c;
        CHECK(ember_ctx_create(m, &cp, &c) == EMBER_OK);
        int8_t want[12];
        memset(want, 1, sizeof want);
        if (variant <= 1) {
            ember_batch b = {n, toks, 0, want};
            CHECK(ember_decode(c, &b) == EMBER_OK);
            for (int i = 0; i < n; i++) {
                const float *l = ember_get_logits(c, i);
                if (variant == 0) memcpy(ref + (size_t)i * nv, l, (size_t)nv * 4);
                else CHECKF(!memcmp(ref + (size_t)i * nv, l, (size_t)nv * 4), "1 vs 2 threads, token %d", i);
            }
        } else if (variant == 2) {
            for (int i = 0; i < n; i++) { /* one token at a time */
                ember_batch b = {1, toks + i, 0, 0};
                CHECK(ember_decode(c, &b) == EMBER_OK);
                CHECKF(!memcmp(ref + (size_t)i * nv, ember_get_logits(c, 0), (size_t)nv * 4), "token-by-token on 3 threads, token %d", i);
            }
        } else {
            /* two sequences interleaved in one batch, plus a prefix copy */
            ember_token bt[24];
            int32_t sq[24];
            for (int i = 0; i < n; i++) { bt[2 * i] = toks[i]; sq[2 * i] = 0; bt[2 * i + 1] = toks[i]; sq[2 * i + 1] = 1; }
            int8_t w2[24];
            memset(w2, 1, sizeof w2);
            ember_batch b = {2 * n, bt, sq, w2};
            CHECK(ember_decode(c, &b) == EMBER_OK);
            for (int i = 0; i < 2 * n; i++)
                CHECKF(!memcmp(ref + (size_t)(i / 2) * nv, ember_get_logits(c, i), (size_t)nv * 4), "two sequences, entry %d", i);
            /* roll back seq 1 and re-decode its last token */
            CHECK(ember_kv_truncate(c, 1, n - 1) == EMBER_OK);
            ember_batch b1 = {1, toks + n - 1, &sq[1], 0};
            CHECK(ember_decode(c, &b1) == EMBER_OK);
            CHECK(!memcmp(ref + (size_t)(n - 1) * nv, ember_get_logits(c, 0), (size_t)nv * 4));
            /* copy seq 0's prefix into seq 1 and continue */
            CHECK(ember_kv_copy_prefix(c, 0, 1, n - 1) == EMBER_OK);
            CHECK(ember_kv_len(c, 1) == n - 1);
            CHECK(ember_decode(c, &b1) == EMBER_OK);
            CHECK(!memcmp(ref + (size_t)(n - 1) * nv, ember_get_logits(c, 0), (size_t)nv * 4));
        }
        ember_ctx_free(c);
    }
    free(ref);
    ember_model_free(m);
}

/* F16 KV (llama.cpp's default) stays close to an F32 cache. */
static void kv_f16_close_to_f32(void) {
    ember_model *m = load("models/stories260K.gguf");
    if (!m) SKIP("stories260K.gguf not available");
    ember_token toks[8];
    int n = ember_tokenize(m, "Once upon a time", 16, 1, 0, toks, 8);
    float *l16 = 0, *l32 = 0;
    const int nv = ember_model_n_vocab(m);
    for (int k = 0; k < 2; k++) {
        ember_ctx_params cp = ember_ctx_default_params();
        cp.n_ctx = 32; cp.kv_type = k ? EMBER_KV_F32 : EMBER_KV_F16;
        ember_ctx *c;
        ember_ctx_create(m, &cp, &c);
        ember_batch b = {n, toks, 0, 0};
        CHECK(ember_decode(c, &b) == EMBER_OK);
        float *dst = malloc((size_t)nv * 4);
        memcpy(dst, ember_get_logits(c, n - 1), (size_t)nv * 4);
        if (k) l32 = dst; else l16 = dst;
        ember_ctx_free(c);
    }
    float maxd = 0;
    for (int i = 0; i < nv; i++) maxd = fmaxf(maxd, fabsf(l16[i] - l32[i]));
    CHECKF(maxd < 0.05f, "max |F16 - F32| = %g", maxd);
    free(l16); free(l32);
    ember_model_free(m);
}

/* Repacked weights (Q4_0, Q8_0, Q5_0, Q4_1, Q5_1, the K-quants) give
 * bit-identical logits to the file layout, for a prompt and a decoded
 * token, whether one thread or several did the repacking: on the path
 * chosen for this CPU and, where it differs, on the AVX2 one (its own
 * kernels for Q4_0's copy). */
static void repack_is_invisible_on(const char *path);
static void repack_is_invisible(void) {
    if (ember_cpu_path_supported("avx2") && strcmp(ember_cpu_path_name(), "avx2")) repack_is_invisible_on("avx2");
    repack_is_invisible_on(ember_cpu_path_name());
    ember_model_params mp = ember_model_default_params();
    mp.n_threads = -1;
    ember_model *m = 0;
    CHECK(ember_model_load("x.gguf", &mp, &m) == EMBER_ERR_INVALID_ARG && m == 0);
}

static void repack_is_invisible_on(const char *path) {
    ember_formats_select_path(path);
    const char *models[] = {"models/synth-v512-Q4_0.gguf", "models/synth-v512-Q8_0.gguf", "models/synth-v512-Q5_0.gguf",
                            "models/synth-v512-Q4_1.gguf", "models/synth-v512-Q5_1.gguf",
                            "models/synth-v512-Q4_K_M.gguf", "models/synth-v512-Q5_K_M.gguf",
                            "models/synth-v512-Q2_K.gguf", "models/synth-v512-Q6_K.gguf",
                            "models/synth-v512-Q3_K_M.gguf",
                            /* row copies in huge pages: all matrices (F32), the output (Q8_0) */
                            "models/kjv-20m-f32.gguf", "models/kjv-5m-q8_0.gguf"};
    int found = 0;
    for (int mi = 0; mi < (int)(sizeof models / sizeof *models); mi++) {
        const char *p = test_shared_path(models[mi]);
        if (!p) continue;
        found++;
        float *ref = 0;
        const int no_repack[3] = {1, 0, 0}, threads[3] = {0, 1, 3};
        for (int k = 0; k < 3; k++) {
            ember_model_params mp = ember_model_default_params();
            mp.no_repack = no_repack[k], mp.n_threads = threads[k];
            ember_model *m;
            CHECK(ember_model_load(p, &mp, &m) == EMBER_OK);
            if (!no_repack[k] && ember_cpu_path_supported_public() && mi == 0) CHECK(ember_model_repacked_bytes(m) > 0);
            if (!no_repack[k] && ember_huge_pages_available() && strstr(models[mi], "kjv-20m-f32"))
                CHECK(ember_model_repacked_bytes(m) > 30u * 1000 * 1000);
            if (no_repack[k]) CHECK(ember_model_repacked_bytes(m) == 0);
            ember_ctx *c;
            ember_ctx_create(m, 0, &c);
            ember_token t[6] = {1, 100, 200, 300, 400, 5};
            int8_t pf[6] = {1, 1, 1, 1, 1, 1};
            ember_batch b = {6, t, 0, 0, pf};
            CHECK(ember_decode(c, &b) == EMBER_OK);
            ember_batch b2 = {1, t + 2, 0, 0, 0};
            CHECK(ember_decode(c, &b2) == EMBER_OK);
            const int nv = ember_model_n_vocab(m);
            if (!k) { ref = malloc((size_t)nv * 4); memcpy(ref, ember_get_logits(c, 0), (size_t)nv * 4); }
            else CHECKF(!memcmp(ref, ember_get_logits(c, 0), (size_t)nv * 4), "%s path %s: repacked by %d threads differs",
                        models[mi], path, threads[k]);
            ember_ctx_free(c);
            ember_model_free(m);
        }
        free(ref);
    }
    ember_formats_select_path(ember_cpu_path_name());
    if (!found) SKIP("synth-v512-Q4_0/Q8_0 not found");
}

int main(void) {
    RUN(repack_is_invisible);
    RUN(load_errors);
    RUN(decode_validation);
    RUN(batch_and_thread_invariance);
    RUN(kv_f16_close_to_f32);
    TEST_EXIT();
}
