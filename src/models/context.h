/* Inference context: KV cache, scratch buffers and the thread pool. */
#ifndef EMBER_CONTEXT_H
#define EMBER_CONTEXT_H

#include "model.h"
#include "../kv/kv.h"
#include "../runtime/threadpool.h"
#include <stdatomic.h>

typedef struct {
    float *scores;     /* [EMBER_TILE_TOKENS][n_ctx] */
    uint16_t *p16;     /* [EMBER_TILE_TOKENS][n_ctx] probabilities rounded to F16 */
    uint16_t *q16;     /* [EMBER_TILE_TOKENS][head_dim] queries rounded to F16 */
} ember_thread_scratch;

/* A thread's share of a matmul's rows, on its own cache line: the blocks
 * [lo, hi) of MM_CLAIM_ROWS rows not yet claimed, lo in the low 32 bits.
 * The owner claims from the front, a thread done with its own share from
 * the back (forward.c). */
typedef struct {
    _Atomic uint64_t blocks;
    char pad[56];
} ember_mm_claim;

/* Optional observer of matmul inputs (ember imatrix): called on the
 * calling thread for each weight of a matmul, with the n_tok float input
 * rows (x_stride apart) before they are converted to the vec_dot type. It
 * must not modify anything the pass reads. NULL (the default) costs one
 * branch per matmul. */
typedef void (*ember_matmul_hook)(void *ud, const ember_weight *w, const float *x, int x_stride, int n_tok);

struct ember_ctx {
    ember_model *model;
    ember_ctx_params p;
    ember_pool *pool;
    ember_kv kv;
    /* activations for up to n_batch tokens */
    float *x, *xn, *q, *k, *v, *att, *gate, *up;
    void *act;           /* activations converted to a weight's vec_dot_type */
    size_t act_bytes;
    void *act_aux;       /* side data of activation rows for tile kernels */
    size_t act_aux_bytes;
    ember_thread_scratch *ts;
    ember_mm_claim *mm_claims; /* [n_threads], 64-byte aligned */
    /* logits of the entries that asked for them in the last decode */
    float *logits;
    int logits_cap;
    int *out_row;        /* batch entry -> logits row, or -1 */
    int out_row_cap;
    int n_rows_last;     /* entries in the last decoded batch */
    int *pos;            /* scratch: position of each entry */
    float *rope_cs;      /* scratch: each entry's RoPE cos/sin pairs (n_rot floats) */
    int8_t *prefill_tmp; /* scratch: prompt flags of the compacted rows */
    int n_rows_chunk;    /* entries in the chunk being evaluated */
    ember_matmul_hook mm_hook;
    void *mm_hook_ud;
};

/* forward.c: evaluates n tokens (n <= n_batch) whose positions and
 * sequences are given, writing logits rows for entries with out[i] >= 0. */
void ember_forward(ember_ctx *ctx, int n, const ember_token *tokens, const int32_t *seq, const int *pos,
                   const int *out, const int8_t *prefill, float *logits);

#endif
