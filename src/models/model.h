/* In-memory model: hyper-parameters and weight views into the GGUF mapping.
 * Shared by the loader, the per-architecture forward passes and the API. */
#ifndef EMBER_MODEL_H
#define EMBER_MODEL_H

#include "ember.h"
#include "../formats/formats.h"
#include "../gguf/gguf.h"
#include "../tokenizer/tokenizer.h"
#include <stdint.h>

#define EMBER_MAX_ROT 1024 /* rope dimensions; larger files are rejected */

typedef enum { EMBER_ARCH_LLAMA, EMBER_ARCH_QWEN2, EMBER_ARCH_QWEN3 } ember_arch;
typedef enum { EMBER_ROPE_NORMAL = 0, EMBER_ROPE_NEOX = 2 } ember_rope_type;

/* A weight matrix [rows][cols] in its file type; cols = ne[0] (input dim). */
typedef struct {
    const void *data;
    int type;
    int64_t cols, rows;
    size_t row_bytes;
    const char *name;
    /* types with a packed form (traits layout), rows a multiple of its
     * group: a copy with that many rows interleaved block by block (made
     * once at load, NULL with no_repack), read as one stream; kernels
     * read it only on paths whose layout it was made in */
    void *packed;
    const ember_packed_layout *packed_layout;
    /* matrices with no packed copy: the file's rows copied once at load
     * into memory that asks for 2 MiB pages (data then points here; NULL
     * with no_repack or where the kernel refuses huge pages) */
    void *copy;
} ember_weight;

typedef struct {
    ember_weight attn_norm, wq, wk, wv, wo;
    ember_weight bq, bk, bv, bo;        /* optional biases (qwen2) */
    ember_weight q_norm, k_norm;        /* optional per-head norms (qwen3) */
    ember_weight ffn_norm, w_gate, w_up, w_down;
} ember_layer;

typedef struct {
    int n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv;
    int head_dim;      /* key/value length per head */
    int n_ff, n_rot;
    float rms_eps, rope_base, rope_freq_scale;
    ember_rope_type rope_type;
    float attn_scale;  /* 1/sqrt(head_dim) unless the file says otherwise */
} ember_hparams;

struct ember_model {
    gguf_file *gguf;
    ember_vocab *vocab;
    ember_arch arch;
    char arch_name[32];
    char name[128];
    char type_name[16];
    ember_hparams hp;
    ember_weight tok_embd, output_norm, output;
    ember_weight rope_freqs; /* optional per-dimension frequency factors */
    ember_layer *layers;
    uint64_t n_params, n_bytes;
    uint64_t repacked_bytes;   /* memory of the copies made at load (repacked or row copies) */
    void *weights_arena;       /* the one buffer that holds those copies */
};

/* model/loader.c */
ember_status ember_model_load_impl(const char *path, const ember_model_params *p, ember_model **out,
                                   char *err, size_t errlen);
const char *ember_supported_archs(void);

#endif
