/* KV cache: one contiguous region per sequence and layer. K is stored by
 * position ([pos][kv_dim]); V is stored transposed ([kv_dim][n_ctx]) so the
 * attention-weighted sum over positions is one contiguous dot product per
 * output dimension — the same arrangement (and F16 rounding) as llama.cpp's
 * default cache, which ember's golden outputs depend on. */
#ifndef EMBER_KV_H
#define EMBER_KV_H

#include "ember.h"
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int n_seq, n_ctx, n_layer, kv_dim;
    ember_kv_type type;
    size_t elt;          /* bytes per element: 2 (F16) or 4 (F32) */
    uint8_t *k, *v;
    int *len;            /* positions filled per sequence */
} ember_kv;

int ember_kv_init(ember_kv *kv, int n_seq, int n_ctx, int n_layer, int kv_dim, ember_kv_type type);
void ember_kv_free(ember_kv *kv);
/* K row of (seq, layer, pos): kv_dim elements. */
void *ember_kv_k(const ember_kv *kv, int seq, int layer, int pos);
/* V column base of (seq, layer, dim): n_ctx elements, one per position. */
void *ember_kv_v(const ember_kv *kv, int seq, int layer, int dim);
/* Stores k and v (kv_dim floats each) at (seq, layer, pos), rounding to the cache type. */
void ember_kv_store(ember_kv *kv, int seq, int layer, int pos, const float *k, const float *v);
void ember_kv_copy(ember_kv *kv, int src, int dst, int n);

#endif
