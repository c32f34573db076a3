/* Whole-file quantization (see quantize_file.h). The per-tensor rules follow
 * llama.cpp's llama-quantize for the dense (non-MoE) case, so the output
 * matches its files tensor for tensor (checked in tests/test_quantize.c). */
#include "quantize_file.h"
#include "formats.h"
#include "../gguf/gguf.h"
#include "../runtime/threadpool.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct { const char *name; int ftype; int base; } k_ftypes[] = {
    {"F32", EMBER_FTYPE_F32, EMBER_TYPE_F32}, {"F16", EMBER_FTYPE_F16, EMBER_TYPE_F16},
    {"BF16", EMBER_FTYPE_BF16, EMBER_TYPE_BF16}, {"Q8_0", EMBER_FTYPE_Q8_0, EMBER_TYPE_Q8_0},
    {"Q4_0", EMBER_FTYPE_Q4_0, EMBER_TYPE_Q4_0}, {"Q4_1", EMBER_FTYPE_Q4_1, EMBER_TYPE_Q4_1},
    {"Q5_0", EMBER_FTYPE_Q5_0, EMBER_TYPE_Q5_0}, {"Q5_1", EMBER_FTYPE_Q5_1, EMBER_TYPE_Q5_1},
    {"Q2_K", EMBER_FTYPE_Q2_K, EMBER_TYPE_Q2_K}, {"Q3_K_S", EMBER_FTYPE_Q3_K_S, EMBER_TYPE_Q3_K},
    {"Q3_K_M", EMBER_FTYPE_Q3_K_M, EMBER_TYPE_Q3_K}, {"Q3_K_L", EMBER_FTYPE_Q3_K_L, EMBER_TYPE_Q3_K},
    {"Q4_K_S", EMBER_FTYPE_Q4_K_S, EMBER_TYPE_Q4_K}, {"Q4_K_M", EMBER_FTYPE_Q4_K_M, EMBER_TYPE_Q4_K},
    {"Q5_K_S", EMBER_FTYPE_Q5_K_S, EMBER_TYPE_Q5_K}, {"Q5_K_M", EMBER_FTYPE_Q5_K_M, EMBER_TYPE_Q5_K},
    {"Q6_K", EMBER_FTYPE_Q6_K, EMBER_TYPE_Q6_K},
};

int ember_ftype_from_name(const char *name) {
    for (size_t i = 0; i < sizeof k_ftypes / sizeof k_ftypes[0]; i++)
        if (!strcasecmp(name, k_ftypes[i].name)) return k_ftypes[i].ftype;
    return -1;
}

const char *ember_ftype_name(int ftype) {
    for (size_t i = 0; i < sizeof k_ftypes / sizeof k_ftypes[0]; i++)
        if (k_ftypes[i].ftype == ftype) return k_ftypes[i].name;
    return "?";
}

static int base_type(int ftype) {
    for (size_t i = 0; i < sizeof k_ftypes / sizeof k_ftypes[0]; i++)
        if (k_ftypes[i].ftype == ftype) return k_ftypes[i].base;
    return -1;
}

static int use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

typedef struct {
    int ftype, n_gqa, has_output;
    int i_wv, n_wv, i_down, n_down;
} mix_state;

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The type a tensor gets for a file type (dense models). */
static int choose_type(mix_state *q, const gguf_tensor_info *t) {
    const int ft = q->ftype;
    int type = base_type(ft);
    const int quantized_target = type != EMBER_TYPE_F32 && type != EMBER_TYPE_F16 && type != EMBER_TYPE_BF16;
    const char *name = t->name;
    if (quantized_target) {
        if (!strcmp(name, "output.weight") || (!q->has_output && !strcmp(name, "token_embd.weight"))) {
            if (t->ne[0] % ember_type_get(type)->block_size) type = EMBER_TYPE_Q8_0;
            else if (type != EMBER_TYPE_Q8_0) type = EMBER_TYPE_Q6_K;
        } else if (strstr(name, "attn_v.weight")) {
            if (ft == EMBER_FTYPE_Q2_K) type = q->n_gqa >= 4 ? EMBER_TYPE_Q4_K : EMBER_TYPE_Q3_K;
            else if (ft == EMBER_FTYPE_Q3_K_M) type = q->i_wv < 2 ? EMBER_TYPE_Q5_K : EMBER_TYPE_Q4_K;
            else if (ft == EMBER_FTYPE_Q3_K_L) type = EMBER_TYPE_Q5_K;
            else if ((ft == EMBER_FTYPE_Q4_K_M || ft == EMBER_FTYPE_Q5_K_M) && use_more_bits(q->i_wv, q->n_wv)) type = EMBER_TYPE_Q6_K;
            else if (ft == EMBER_FTYPE_Q4_K_S && q->i_wv < 4) type = EMBER_TYPE_Q5_K;
            q->i_wv++;
        } else if (strstr(name, "ffn_down")) {
            const int i = q->i_down, n = q->n_down;
            if (ft == EMBER_FTYPE_Q2_K) type = EMBER_TYPE_Q3_K;
            else if (ft == EMBER_FTYPE_Q3_K_M) type = i < n / 16 ? EMBER_TYPE_Q5_K : EMBER_TYPE_Q4_K;
            else if (ft == EMBER_FTYPE_Q3_K_L) type = EMBER_TYPE_Q5_K;
            else if (ft == EMBER_FTYPE_Q4_K_M && use_more_bits(i, n)) type = EMBER_TYPE_Q6_K;
            else if (ft == EMBER_FTYPE_Q5_K_M && use_more_bits(i, n)) type = EMBER_TYPE_Q6_K;
            else if (ft == EMBER_FTYPE_Q4_K_S && i < n / 8) type = EMBER_TYPE_Q5_K;
            q->i_down++;
        } else if (strstr(name, "attn_output.weight")) {
            if (ft == EMBER_FTYPE_Q2_K) type = EMBER_TYPE_Q3_K;
            else if (ft == EMBER_FTYPE_Q3_K_M) type = EMBER_TYPE_Q4_K;
            else if (ft == EMBER_FTYPE_Q3_K_L) type = EMBER_TYPE_Q5_K;
        }
    }
    /* rows that do not fill the chosen type's blocks fall back */
    if (t->ne[0] % ember_type_get(type)->block_size) {
        switch (type) {
        case EMBER_TYPE_Q2_K: case EMBER_TYPE_Q3_K: type = EMBER_TYPE_Q4_0; break; /* llama.cpp: IQ4_NL */
        case EMBER_TYPE_Q4_K: type = EMBER_TYPE_Q5_0; break;
        case EMBER_TYPE_Q5_K: type = EMBER_TYPE_Q5_1; break;
        case EMBER_TYPE_Q6_K: type = EMBER_TYPE_Q8_0; break;
        default: break;
        }
        if (t->ne[0] % ember_type_get(type)->block_size) type = EMBER_TYPE_F16;
    }
    return type;
}

static int quantizable(const gguf_tensor_info *t) {
    return t->n_dims >= 2 && ends_with(t->name, "weight") && !strstr(t->name, "_norm");
}

typedef struct {
    gguf_file *in;
    int *types;
    int n_threads;
    ember_quantize_progress_fn progress;
    void *ud;
    /* per-tensor job */
    const gguf_tensor_info *t;
    float *f32;
    void *dst;
    int64_t rows, cols;
    int type;
} job;

static void quant_rows(void *arg, int ith, int nth) {
    job *j = arg;
    const ember_type_traits *tr = ember_type_get(j->type);
    const size_t rb = ember_row_size(j->type, j->cols);
    for (int64_t r = ith; r < j->rows; r += nth)
        tr->from_float_ref(j->f32 + (size_t)r * j->cols, (char *)j->dst + (size_t)r * rb, j->cols);
}

static int fill(void *ud, int64_t idx, void *dst, size_t nbytes) {
    job *j = ud;
    const gguf_tensor_info *t = gguf_tensor(j->in, idx);
    const int type = j->types[idx];
    if (j->progress) j->progress(j->ud, idx, gguf_n_tensors(j->in), t->name, type);
    if (type == t->type) { memcpy(dst, t->data, nbytes); return 0; } /* kept as is */
    const int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    float *f = malloc((size_t)n * sizeof(float));
    if (!f) return 5;
    ember_type_get(t->type)->to_float(t->data, f, n);
    j->t = t; j->f32 = f; j->dst = dst; j->cols = t->ne[0]; j->rows = n / t->ne[0]; j->type = type;
    ember_pool *pool = ember_pool_create(j->n_threads);
    if (!pool) { free(f); return 5; }
    ember_pool_run(pool, quant_rows, j);
    ember_pool_free(pool);
    free(f);
    return 0;
}

int ember_quantize_file(const char *in_path, const char *out_path, int ftype, int n_threads,
                        ember_quantize_progress_fn progress, void *ud, ember_quantize_summary *sum, char *err,
                        size_t errlen) {
    memset(sum, 0, sizeof *sum);
    if (base_type(ftype) < 0) { snprintf(err, errlen, "unknown target type %d", ftype); return 4; }
    gguf_file *in;
    int st = gguf_open(in_path, &in, err, errlen);
    if (st) return st;
    const int64_t nt = gguf_n_tensors(in);
    int *types = calloc((size_t)(nt ? nt : 1), sizeof *types);
    gguf_writer *w = gguf_writer_create();
    if (!types || !w) { snprintf(err, errlen, "out of memory"); st = 5; goto out; }
    mix_state q;
    memset(&q, 0, sizeof q);
    q.ftype = ftype;
    q.has_output = gguf_find_tensor(in, "output.weight") != 0;
    {
        const char *arch = "llama";
        gguf_get_str(in, "general.architecture", &arch);
        char key[96];
        uint32_t nh = 1, nkv = 1;
        snprintf(key, sizeof key, "%s.attention.head_count", arch);
        gguf_get_u32(in, key, &nh);
        snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
        if (gguf_get_u32(in, key, &nkv) != 1) nkv = nh;
        q.n_gqa = nkv ? (int)(nh / nkv) : 1;
    }
    for (int64_t i = 0; i < nt; i++) {
        const char *n = gguf_tensor(in, i)->name;
        q.n_wv += strstr(n, "attn_v.weight") != 0;
        q.n_down += strstr(n, "ffn_down") != 0;
    }
    for (int64_t i = 0; i < gguf_n_kv(in); i++) {
        const char *k = gguf_kv_key(in, i);
        if (!strcmp(k, "general.file_type") || !strcmp(k, "general.quantization_version")) continue;
        gguf_writer_copy_kv(w, in, i);
    }
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor_info *t = gguf_tensor(in, i);
        types[i] = quantizable(t) ? choose_type(&q, t) : t->type;
        if (quantizable(t) && !ember_type_get(types[i])->from_float_ref) {
            snprintf(err, errlen, "tensor '%s': no quantizer for %s", t->name, ember_type_name(types[i]));
            st = 3;
            goto out;
        }
        if (types[i] != t->type && !ember_type_get(t->type)->to_float) {
            snprintf(err, errlen, "tensor '%s': cannot read type %s", t->name, ember_type_name(t->type));
            st = 3;
            goto out;
        }
        gguf_writer_add_tensor(w, t->name, types[i], t->n_dims, t->ne, 0);
        const int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        sum->n_params += (uint64_t)n;
        sum->bytes_in += t->nbytes;
        sum->bytes_out += ember_row_size(types[i], t->ne[0]) * (size_t)(n / t->ne[0]);
        sum->n_quantized += types[i] != t->type;
    }
    sum->n_tensors = nt;
    {
        job j = {in, types, n_threads, progress, ud, 0, 0, 0, 0, 0, 0};
        st = gguf_writer_write(w, out_path, fill, &j, err, errlen);
    }
out:
    gguf_writer_free(w);
    free(types);
    gguf_close(in);
    return st;
}
