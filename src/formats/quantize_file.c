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
#include <pthread.h>

static const struct { const char *name; int ftype; int base; } k_ftypes[] = {
    {"F32", EMBER_FTYPE_F32, EMBER_TYPE_F32}, {"F16", EMBER_FTYPE_F16, EMBER_TYPE_F16},
    {"BF16", EMBER_FTYPE_BF16, EMBER_TYPE_BF16}, {"Q8_0", EMBER_FTYPE_Q8_0, EMBER_TYPE_Q8_0},
    {"Q4_0", EMBER_FTYPE_Q4_0, EMBER_TYPE_Q4_0}, {"Q4_1", EMBER_FTYPE_Q4_1, EMBER_TYPE_Q4_1},
    {"Q5_0", EMBER_FTYPE_Q5_0, EMBER_TYPE_Q5_0}, {"Q5_1", EMBER_FTYPE_Q5_1, EMBER_TYPE_Q5_1},
    {"Q2_K", EMBER_FTYPE_Q2_K, EMBER_TYPE_Q2_K}, {"Q2_K_S", EMBER_FTYPE_Q2_K_S, EMBER_TYPE_Q2_K}, {"Q3_K_S", EMBER_FTYPE_Q3_K_S, EMBER_TYPE_Q3_K},
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
    int ftype, n_gqa, has_output, has_imatrix;
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
            else if (ft == EMBER_FTYPE_Q2_K_S && q->n_gqa >= 4) type = EMBER_TYPE_Q4_K;
            else if (ft == EMBER_FTYPE_Q3_K_M) type = q->i_wv < 2 ? EMBER_TYPE_Q5_K : EMBER_TYPE_Q4_K;
            else if (ft == EMBER_FTYPE_Q3_K_L) type = EMBER_TYPE_Q5_K;
            else if ((ft == EMBER_FTYPE_Q4_K_M || ft == EMBER_FTYPE_Q5_K_M) && use_more_bits(q->i_wv, q->n_wv)) type = EMBER_TYPE_Q6_K;
            else if (ft == EMBER_FTYPE_Q4_K_S && q->i_wv < 4) type = EMBER_TYPE_Q5_K;
            q->i_wv++;
        } else if (strstr(name, "ffn_down")) {
            const int i = q->i_down, n = q->n_down;
            if (ft == EMBER_FTYPE_Q2_K) type = EMBER_TYPE_Q3_K;
            else if (ft == EMBER_FTYPE_Q2_K_S) { if (i < n / 8) type = EMBER_TYPE_Q4_K; }
            else if (ft == EMBER_FTYPE_Q3_K_M) type = i < n / 16 ? EMBER_TYPE_Q5_K : EMBER_TYPE_Q4_K;
            else if (ft == EMBER_FTYPE_Q3_K_L) type = EMBER_TYPE_Q5_K;
            else if (ft == EMBER_FTYPE_Q4_K_M && use_more_bits(i, n)) type = EMBER_TYPE_Q6_K;
            else if (ft == EMBER_FTYPE_Q5_K_M && use_more_bits(i, n)) type = EMBER_TYPE_Q6_K;
            else if (ft == EMBER_FTYPE_Q4_K_S && i < n / 8) type = EMBER_TYPE_Q5_K;
            /* with importances, guard the first ffn_down layers of Q4_0/Q5_0 */
            else if ((ft == EMBER_FTYPE_Q4_0 || ft == EMBER_FTYPE_Q5_0) && q->has_imatrix && i < n / 8)
                type = ft == EMBER_FTYPE_Q4_0 ? EMBER_TYPE_Q4_1 : EMBER_TYPE_Q5_1;
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
    const int64_t *order; /* output position -> input tensor index */
    int *types;
    int n_threads;
    ember_quantize_progress_fn progress;
    void *ud;
    float **qw;        /* per tensor: importances [ne[0] * ne[2]] or NULL */
    /* per-tensor job */
    const gguf_tensor_info *t;
    float *f32;
    void *dst;
    int64_t rows, cols;
    int type;
    const float *w;    /* this tensor's importances (NULL: reference quantizer) */
} job;

static void quant_rows(void *arg, int ith, int nth) {
    job *j = arg;
    const ember_type_traits *tr = ember_type_get(j->type);
    const size_t rb = ember_row_size(j->type, j->cols);
    const int64_t ne1 = j->t->ne[1];
    for (int64_t r = ith; r < j->rows; r += nth) {
        const float *x = j->f32 + (size_t)r * j->cols;
        void *y = (char *)j->dst + (size_t)r * rb;
        /* a 3-D tensor has one importance vector per matrix (ne[2] index) */
        if (j->w && !ember_quant_row_weighted(j->type, x, y, j->cols, j->w + (size_t)(r / ne1) * j->cols)) continue;
        tr->from_float_ref(x, y, j->cols);
    }
}

static int fill(void *ud, int64_t out_idx, void *dst, size_t nbytes) {
    job *j = ud;
    const int64_t idx = j->order[out_idx];
    const gguf_tensor_info *t = gguf_tensor(j->in, idx);
    const int type = j->types[idx];
    if (j->progress) j->progress(j->ud, out_idx, gguf_n_tensors(j->in), t->name, type);
    if (type == t->type) { memcpy(dst, t->data, nbytes); return 0; } /* kept as is */
    const int64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    float *f = malloc((size_t)n * sizeof(float));
    if (!f) return 5;
    ember_type_get(t->type)->to_float(t->data, f, n);
    j->t = t; j->f32 = f; j->dst = dst; j->cols = t->ne[0]; j->rows = n / t->ne[0]; j->type = type;
    j->w = j->qw ? j->qw[idx] : 0;
    ember_pool *pool = ember_pool_create(j->n_threads);
    if (!pool) { free(f); return 5; }
    ember_pool_run(pool, quant_rows, j);
    ember_pool_free(pool);
    free(f);
    return 0;
}

/* keys llama-quantize writes when given an importance matrix */
#define KEY_IM_FILE "quantize.imatrix.file"
#define KEY_IM_DATASET "quantize.imatrix.dataset"
#define KEY_IM_ENTRIES "quantize.imatrix.entries_count"
#define KEY_IM_CHUNKS "quantize.imatrix.chunks_count"

/* llama-quantize passes these strings through a 128-byte buffer */
static void set_str127(gguf_writer *w, const char *key, const char *v) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", v);
    gguf_writer_set_str(w, key, buf);
}

/* llama-quantize's tensor order: by block number (tensors outside blocks
 * first), then by name. The per-layer type rules count in this order. */
static int block_of(const char *name) {
    int l = -1;
    if (!strncmp(name, "blk.", 4)) {
        char *end;
        const long v = strtol(name + 4, &end, 10);
        if (end != name + 4 && v >= -2147483647L - 1 && v <= 2147483647L) l = (int)v;
    }
    return l;
}

static const gguf_file *g_sort_file; /* qsort has no context argument in C11 */

static int cmp_order(const void *a, const void *b) {
    const char *na = gguf_tensor(g_sort_file, *(const int64_t *)a)->name, *nb = gguf_tensor(g_sort_file, *(const int64_t *)b)->name;
    const int la = block_of(na), lb = block_of(nb);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(na, nb);
}

int ember_quantize_file_imatrix(const char *in_path, const char *out_path, int ftype, int n_threads,
                                const ember_imatrix *im, const char *im_path, ember_quantize_progress_fn progress,
                                void *ud, ember_quantize_summary *sum, char *err, size_t errlen) {
    memset(sum, 0, sizeof *sum);
    if (base_type(ftype) < 0) { snprintf(err, errlen, "unknown target type %d", ftype); return 4; }
    if (ftype == EMBER_FTYPE_Q2_K_S && !im) {
        snprintf(err, errlen, "Q2_K_S needs an importance matrix (--imatrix FILE)");
        return 4;
    }
    gguf_file *in;
    int st = gguf_open(in_path, &in, err, errlen);
    if (st) return st;
    const int64_t nt = gguf_n_tensors(in);
    int *types = calloc((size_t)(nt ? nt : 1), sizeof *types);
    int64_t *order = malloc((size_t)(nt ? nt : 1) * sizeof *order);
    float **qw = im ? calloc((size_t)(nt ? nt : 1), sizeof *qw) : 0; /* owned, per tensor */
    gguf_writer *w = gguf_writer_create();
    if (!types || !order || !w || (im && !qw)) { snprintf(err, errlen, "out of memory"); st = 5; goto out; }
    for (int64_t i = 0; i < nt; i++) order[i] = i;
    {
        static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
        pthread_mutex_lock(&mu);
        g_sort_file = in;
        qsort(order, (size_t)nt, sizeof *order, cmp_order);
        g_sort_file = 0;
        pthread_mutex_unlock(&mu);
    }
    mix_state q;
    memset(&q, 0, sizeof q);
    q.ftype = ftype;
    q.has_imatrix = im != 0;
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
    /* Keys the output sets are dropped from the copy and appended after it
     * (llama.cpp's set-key semantics). */
    for (int64_t i = 0; i < gguf_n_kv(in); i++) {
        const char *k = gguf_kv_key(in, i);
        if (!strcmp(k, "general.file_type") || !strcmp(k, "general.quantization_version")) continue;
        if (im && (!strcmp(k, KEY_IM_FILE) || !strcmp(k, KEY_IM_DATASET) || !strcmp(k, KEY_IM_ENTRIES) ||
                   !strcmp(k, KEY_IM_CHUNKS)))
            continue;
        gguf_writer_copy_kv(w, in, i);
    }
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    if (im) {
        set_str127(w, KEY_IM_FILE, im_path ? im_path : "");
        if (im->dataset && im->dataset[0]) set_str127(w, KEY_IM_DATASET, im->dataset);
        gguf_writer_set_i32(w, KEY_IM_ENTRIES, im->n);
        if (im->last_call > 0) gguf_writer_set_i32(w, KEY_IM_CHUNKS, im->last_call);
    }
    for (int64_t oi = 0; oi < nt; oi++) {
        const int64_t i = order[oi];
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
        if (im && types[i] != t->type) {
            const ember_imatrix_entry *e = ember_imatrix_find(im, t->name);
            if (e && (int64_t)e->nval == t->ne[0] * t->ne[2]) {
                /* stored values carry a factor ncall; the quantizers take means */
                if (!(qw[i] = malloc((size_t)e->nval * sizeof(float)))) { snprintf(err, errlen, "out of memory"); st = 5; goto out; }
                for (int32_t k = 0; k < e->nval; k++) qw[i][k] = e->values[k] / (float)e->ncall;
            } else if (e && strcmp(t->name, "token_embd.weight")) {
                snprintf(err, errlen, "imatrix entry '%s' has %ld values, the tensor needs %lld", t->name,
                         (long)e->nval, (long long)(t->ne[0] * t->ne[2]));
                st = 2;
                goto out;
            }
            if (!qw[i] && types[i] == EMBER_TYPE_Q2_K && ftype == EMBER_FTYPE_Q2_K_S && strcmp(t->name, "token_embd.weight")) {
                snprintf(err, errlen, "Q2_K_S: the imatrix has no entry for tensor '%s'", t->name);
                st = 2;
                goto out;
            }
            sum->n_weighted += qw[i] != 0;
            sum->n_unweighted += !qw[i];
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
        job j;
        memset(&j, 0, sizeof j);
        j.in = in; j.order = order; j.types = types; j.n_threads = n_threads; j.progress = progress; j.ud = ud; j.qw = qw;
        st = gguf_writer_write(w, out_path, fill, &j, err, errlen);
    }
out:
    gguf_writer_free(w);
    free(types);
    free(order);
    for (int64_t i = 0; qw && i < nt; i++) free(qw[i]);
    free(qw);
    gguf_close(in);
    return st;
}

int ember_quantize_file(const char *in_path, const char *out_path, int ftype, int n_threads,
                        ember_quantize_progress_fn progress, void *ud, ember_quantize_summary *sum, char *err,
                        size_t errlen) {
    return ember_quantize_file_imatrix(in_path, out_path, ftype, n_threads, 0, 0, progress, ud, sum, err, errlen);
}
