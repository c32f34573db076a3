#include "kv.h"
#include "../formats/formats.h"
#include "../formats/fp16.h"
#include <stdlib.h>
#include <string.h>

static size_t seq_layer_elems(const ember_kv *kv) { return (size_t)kv->n_ctx * (size_t)kv->kv_dim; }

int ember_kv_init(ember_kv *kv, int n_seq, int n_ctx, int n_layer, int kv_dim, ember_kv_type type) {
    memset(kv, 0, sizeof *kv);
    kv->n_seq = n_seq; kv->n_ctx = n_ctx; kv->n_layer = n_layer; kv->kv_dim = kv_dim;
    kv->type = type;
    kv->elt = type == EMBER_KV_F32 ? 4 : 2;
    size_t per = seq_layer_elems(kv) * kv->elt;
    size_t total = per * (size_t)n_layer * (size_t)n_seq;
    if (per / kv->elt / (size_t)kv_dim != (size_t)n_ctx || total / per != (size_t)n_layer * (size_t)n_seq) return -1;
    /* calloc: unused V cells must be zeros (they meet zero weights). */
    kv->k = calloc(1, total);
    kv->v = calloc(1, total);
    kv->len = calloc((size_t)n_seq, sizeof(int));
    if (!kv->k || !kv->v || !kv->len) { ember_kv_free(kv); return -1; }
    return 0;
}

void ember_kv_free(ember_kv *kv) {
    free(kv->k); free(kv->v); free(kv->len);
    memset(kv, 0, sizeof *kv);
}

static size_t base(const ember_kv *kv, int seq, int layer) {
    return ((size_t)seq * (size_t)kv->n_layer + (size_t)layer) * seq_layer_elems(kv);
}

void *ember_kv_k(const ember_kv *kv, int seq, int layer, int pos) {
    return kv->k + (base(kv, seq, layer) + (size_t)pos * (size_t)kv->kv_dim) * kv->elt;
}

void *ember_kv_v(const ember_kv *kv, int seq, int layer, int dim) {
    return kv->v + (base(kv, seq, layer) + (size_t)dim * (size_t)kv->n_ctx) * kv->elt;
}

void ember_kv_store(ember_kv *kv, int seq, int layer, int pos, const float *k, const float *v) {
    if (kv->type == EMBER_KV_F32) {
        memcpy(ember_kv_k(kv, seq, layer, pos), k, (size_t)kv->kv_dim * 4);
        float *vb = ember_kv_v(kv, seq, layer, 0);
        for (int d = 0; d < kv->kv_dim; d++) vb[(size_t)d * kv->n_ctx + pos] = v[d];
    } else {
        /* the path's conversion (F16C where there is one: as llama.cpp's
         * copy into its cache; the same roundings as ember_fp32_to_fp16) */
        const ember_type_traits *h = ember_type_get(EMBER_TYPE_F16);
        h->from_float(k, ember_kv_k(kv, seq, layer, pos), kv->kv_dim);
        uint16_t *vb = ember_kv_v(kv, seq, layer, 0), tmp[256];
        for (int d0 = 0; d0 < kv->kv_dim; d0 += 256) {
            const int nd = kv->kv_dim - d0 < 256 ? kv->kv_dim - d0 : 256;
            h->from_float(v + d0, tmp, nd);
            for (int d = 0; d < nd; d++) vb[(size_t)(d0 + d) * kv->n_ctx + pos] = tmp[d];
        }
    }
}

void ember_kv_copy(ember_kv *kv, int src, int dst, int n) {
    if (src == dst) return;
    for (int l = 0; l < kv->n_layer; l++) {
        memcpy(ember_kv_k(kv, dst, l, 0), ember_kv_k(kv, src, l, 0), (size_t)n * kv->kv_dim * kv->elt);
        for (int d = 0; d < kv->kv_dim; d++)
            memcpy(ember_kv_v(kv, dst, l, d), ember_kv_v(kv, src, l, d), (size_t)n * kv->elt);
    }
    kv->len[dst] = n;
}
