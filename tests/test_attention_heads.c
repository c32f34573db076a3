/* Grouped-query attention against its plain multi-head equivalent: a
 * model with 8 query heads sharing one K/V head gives the same logits,
 * bit for bit, as the model whose K and V projections repeat that head's
 * rows for every query head (each head then has its own, equal, K/V
 * head). One-token attention takes up to 4 query heads of a K/V head per
 * job, a prompt head by head, so this checks which heads a job covers and
 * where their outputs land, independently of those mappings. Needs the
 * ember CLI (EMBER, default ./ember) to make the model. */
#include "test.h"
#include "ember.h"
#include "formats/formats.h"
#include "gguf/gguf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { N_EMBD = 128, N_HEAD = 8, HEAD_DIM = N_EMBD / N_HEAD };

/* path_mha: path_gqa with head_count_kv = N_HEAD and attn_k/attn_v rows
 * repeated per query head (F32 weights) */
static int write_mha(const char *path_gqa, const char *path_mha) {
    char err[256];
    gguf_file *f;
    if (gguf_open(path_gqa, &f, err, sizeof err)) return 1;
    gguf_writer *w = gguf_writer_create();
    for (int64_t i = 0; i < gguf_n_kv(f); i++) gguf_writer_copy_kv(w, f, i);
    gguf_writer_set_u32(w, "llama.attention.head_count_kv", N_HEAD);
    float *bufs[64] = {0};
    int n_bufs = 0, bad = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        const size_t len = strlen(t->name);
        const int kv = len > 13 && (!strcmp(t->name + len - 13, "attn_k.weight") || !strcmp(t->name + len - 13, "attn_v.weight"));
        if (!kv) {
            gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
            continue;
        }
        /* rows of the one K/V head: ne[1] == HEAD_DIM, F32 */
        if (t->type != EMBER_TYPE_F32 || t->ne[0] != N_EMBD || t->ne[1] != HEAD_DIM || n_bufs == 64) { bad = 1; break; }
        float *rep = malloc(sizeof(float) * N_EMBD * HEAD_DIM * N_HEAD);
        for (int h = 0; h < N_HEAD; h++) memcpy(rep + (size_t)h * N_EMBD * HEAD_DIM, t->data, sizeof(float) * N_EMBD * HEAD_DIM);
        bufs[n_bufs++] = rep;
        const int64_t ne[2] = {N_EMBD, (int64_t)HEAD_DIM * N_HEAD};
        gguf_writer_add_tensor(w, t->name, t->type, 2, ne, rep);
    }
    if (!bad) bad = gguf_writer_write(w, path_mha, 0, 0, err, sizeof err) != 0;
    if (bad) fprintf(stderr, "write_mha: %s\n", err);
    gguf_writer_free(w);
    for (int i = 0; i < n_bufs; i++) free(bufs[i]);
    gguf_close(f);
    return bad;
}

/* logits after a 7-token prompt and after each of 6 single tokens */
static float *run(const char *path, int n_threads, int *nv) {
    ember_model *m;
    if (ember_model_load(path, 0, &m)) return 0;
    ember_ctx_params cp = ember_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = n_threads;
    ember_ctx *c;
    if (ember_ctx_create(m, &cp, &c)) { ember_model_free(m); return 0; }
    *nv = ember_model_n_vocab(m);
    float *out = malloc(sizeof(float) * (size_t)*nv * 7);
    const ember_token prompt[7] = {1, 40, 77, 120, 9, 250, 31};
    const int8_t pf[7] = {1, 1, 1, 1, 1, 1, 1};
    ember_batch b = {7, prompt, 0, 0, pf};
    int ok = ember_decode(c, &b) == EMBER_OK;
    if (ok) memcpy(out, ember_get_logits(c, 6), sizeof(float) * (size_t)*nv);
    for (int s = 0; ok && s < 6; s++) {
        const ember_token t = (ember_token)(60 + 23 * s);
        ember_batch one = {1, &t, 0, 0, 0};
        ok = ember_decode(c, &one) == EMBER_OK;
        if (ok) memcpy(out + (size_t)(s + 1) * *nv, ember_get_logits(c, 0), sizeof(float) * (size_t)*nv);
    }
    ember_ctx_free(c);
    ember_model_free(m);
    if (!ok) { free(out); return 0; }
    return out;
}

static void gqa_equals_mha(void) {
    const char *e = getenv("EMBER") ? getenv("EMBER") : "./ember";
    char dir[] = "/tmp/ember_heads_XXXXXX";
    if (!mkdtemp(dir)) { CHECK(0); return; }
    char gqa[128], mha[128], cmd[1024];
    snprintf(gqa, sizeof gqa, "%s/gqa.gguf", dir);
    snprintf(mha, sizeof mha, "%s/mha.gguf", dir);
    snprintf(cmd, sizeof cmd,
             "%s gen --arch llama --n-embd %d --n-layer 2 --n-head %d --n-head-kv 1 --n-ff 192 --n-vocab 300 --ctx 128 "
             "--type f32 --seed 5 --scale 0.3 -o %s >/dev/null 2>&1",
             e, N_EMBD, N_HEAD, gqa);
    if (system(cmd) != 0) SKIP("ember gen did not run (EMBER=%s)", e);
    CHECK(write_mha(gqa, mha) == 0);
    for (int threads = 1; threads <= 2; threads++) {
        int nv = 0, nv2 = 0;
        float *a = run(gqa, threads, &nv), *b = run(mha, threads, &nv2);
        CHECK(a && b && nv == nv2 && nv > 0);
        if (a && b && nv == nv2) {
            int bad = 0, differ = 0;
            for (size_t i = 0; i < (size_t)nv * 7; i++) bad += memcmp(&a[i], &b[i], sizeof(float)) != 0;
            for (int i = 0; i < nv; i++) differ += a[i] != a[(size_t)6 * nv + i]; /* the steps move the logits */
            CHECKF(bad == 0, "%d threads: %d of %d logits differ between 8 heads on 1 K/V head and 8 K/V heads", threads, bad,
                   nv * 7);
            CHECK(differ > 0);
        }
        free(a);
        free(b);
    }
    remove(gqa);
    remove(mha);
    rmdir(dir);
}

int main(void) {
    RUN(gqa_equals_mha);
    TEST_EXIT();
}
