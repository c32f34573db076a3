/* Builds an ember_model from a validated GGUF file: reads the architecture's
 * hyper-parameters, checks that every tensor the forward pass will touch is
 * present with the right shape and a usable type, and keeps pointers into
 * the mapping; the large matrices are then copied once (repacked, or row
 * for row into huge pages) unless no_repack says otherwise. */
#include "model.h"
#include "../formats/formats.h"
#include "../runtime/cpu.h"
#include "../runtime/threadpool.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static const struct { const char *name; ember_arch arch; ember_rope_type rope; } k_archs[] = {
    {"llama", EMBER_ARCH_LLAMA, EMBER_ROPE_NORMAL},
    {"qwen2", EMBER_ARCH_QWEN2, EMBER_ROPE_NEOX},
    {"qwen3", EMBER_ARCH_QWEN3, EMBER_ROPE_NEOX},
};

const char *ember_supported_archs(void) { return "llama, qwen2, qwen3"; }

typedef struct {
    ember_model *m;
    char *err;
    size_t errlen;
    int failed;
    int status;
} load_state;

static void fail(load_state *s, int status, const char *fmt, ...) {
    if (s->failed) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, s->errlen, fmt, ap);
    va_end(ap);
    s->failed = 1;
    s->status = status;
}

/* Integer hyper-parameter "<arch>.<key>"; def < 0 means required. */
static int hp_int(load_state *s, const char *key, int64_t def, int64_t lo, int64_t hi) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", s->m->arch_name, key);
    int64_t v = 0;
    int r = gguf_get_i64(s->m->gguf, full, &v);
    if (r == 0) {
        if (def < 0) fail(s, EMBER_ERR_FORMAT, "missing required key '%s'", full);
        return (int)def;
    }
    if (r < 0) { fail(s, EMBER_ERR_FORMAT, "key '%s' has the wrong type (expected an integer)", full); return 0; }
    if (v < lo || v > hi) {
        fail(s, EMBER_ERR_FORMAT, "key '%s' = %lld is out of range [%lld, %lld]", full, (long long)v,
             (long long)lo, (long long)hi);
        return 0;
    }
    return (int)v;
}

static float hp_float(load_state *s, const char *key, float def, int required, float lo, float hi) {
    char full[128];
    snprintf(full, sizeof full, "%s.%s", s->m->arch_name, key);
    float v = def;
    int r = gguf_get_f32(s->m->gguf, full, &v);
    if (r == 0) {
        if (required) fail(s, EMBER_ERR_FORMAT, "missing required key '%s'", full);
        return def;
    }
    if (r < 0) { fail(s, EMBER_ERR_FORMAT, "key '%s' has the wrong type (expected a float)", full); return def; }
    if (!(v >= lo && v <= hi)) { fail(s, EMBER_ERR_FORMAT, "key '%s' = %g is out of range", full, (double)v); return def; }
    return v;
}

/* Looks up a tensor and checks its shape (ne0 x ne1; ne1 = 1 for vectors). */
static ember_weight get_w(load_state *s, const char *name, int64_t ne0, int64_t ne1, int required, int need_f32,
                          int need_dot) {
    ember_weight w;
    memset(&w, 0, sizeof w);
    if (s->failed) return w;
    const gguf_tensor_info *t = gguf_find_tensor(s->m->gguf, name);
    if (!t) {
        if (required) fail(s, EMBER_ERR_FORMAT, "missing tensor '%s'", name);
        return w;
    }
    int64_t want[4] = {ne0, ne1, 1, 1};
    for (int d = 0; d < 4; d++) {
        if (t->ne[d] != want[d]) {
            fail(s, EMBER_ERR_FORMAT, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", name,
                 (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3],
                 (long long)ne0, (long long)ne1);
            return w;
        }
    }
    const ember_type_traits *tr = ember_type_get(t->type);
    if (!tr) { fail(s, EMBER_ERR_UNSUPPORTED, "tensor '%s' has unsupported type %d", name, t->type); return w; }
    if (need_f32 && t->type != EMBER_TYPE_F32) {
        fail(s, EMBER_ERR_UNSUPPORTED, "tensor '%s' has type %s; ember expects F32 for norms and biases", name, tr->name);
        return w;
    }
    if (need_dot && !tr->vec_dot_ref) {
        fail(s, EMBER_ERR_UNSUPPORTED, "tensor '%s' has type %s, which cannot be used as a weight matrix", name, tr->name);
        return w;
    }
    w.data = t->data;
    w.type = t->type;
    w.cols = ne0;
    w.rows = ne1;
    w.row_bytes = ember_row_size(t->type, ne0);
    w.name = t->name;
    return w;
}

static const char *ftype_name(uint32_t ft) {
    switch (ft) {
    case 0: return "F32"; case 1: return "F16"; case 2: return "Q4_0"; case 3: return "Q4_1";
    case 7: return "Q8_0"; case 8: return "Q5_0"; case 9: return "Q5_1"; case 10: return "Q2_K";
    case 11: return "Q3_K_S"; case 12: return "Q3_K_M"; case 13: return "Q3_K_L"; case 14: return "Q4_K_S";
    case 15: return "Q4_K_M"; case 16: return "Q5_K_S"; case 17: return "Q5_K_M"; case 18: return "Q6_K";
    case 32: return "BF16";
    default: return 0;
    }
}

/* The copying work at load: every group of rows of the listed matrices,
 * numbered across matrices; thread ith copies groups ith, ith + nth, ... in
 * interleaved runs of 16 groups (so each thread first-touches its share).
 * A matrix with a packed layout is repacked group by group (its groups);
 * a row copy is made 16 rows per group otherwise, or with the same groups
 * beside its packed copy. */
typedef struct {
    ember_weight **w;
    int n, cap;
} copy_job;

enum { COPY_GROUP_ROWS = 16 };

static int64_t copy_group_rows(const ember_weight *w) {
    return w->packed ? w->packed_layout->rows : COPY_GROUP_ROWS;
}

static void copy_groups(void *arg, int ith, int nth) {
    const copy_job *job = arg;
    const int64_t run = 16;
    int64_t first = 0; /* number of the first group of matrix i */
    for (int i = 0; i < job->n; i++) {
        const ember_weight *w = job->w[i];
        const int64_t gr = copy_group_rows(w), ng = (w->rows + gr - 1) / gr;
        const size_t group = (size_t)gr * w->row_bytes;
        for (int64_t g = 0; g < ng; g++) {
            if (((first + g) / run) % nth != ith) continue;
            const char *src = (const char *)w->data + (size_t)g * group;
            if (w->packed) w->packed_layout->pack((int)w->cols, (char *)w->packed + (size_t)g * group, src, w->row_bytes);
            if (w->copy) {
                const int64_t rows = w->rows - g * gr < gr ? w->rows - g * gr : gr;
                memcpy((char *)w->copy + (size_t)g * group, src, (size_t)rows * w->row_bytes);
            }
        }
        first += ng;
    }
}

static int copy_job_add(copy_job *job, ember_weight *w) {
    if (job->n == job->cap) {
        const int cap = job->cap ? 2 * job->cap : 64;
        ember_weight **ws = realloc(job->w, (size_t)cap * sizeof *ws);
        if (!ws) return 0;
        job->w = ws, job->cap = cap;
    }
    job->w[job->n++] = w;
    return 1;
}

/* A buffer for bytes of weights: 64-byte aligned (whole cache lines per
 * vector load); 2 MiB or more ask for huge pages, because decoding streams
 * every byte once per token and 4 KiB pages cost a TLB miss and a restart
 * of the hardware prefetcher per page (tl-q4_0 tg128: median 46.2 vs 43.0
 * t/s for the repacked copy; the row copies' figures are at the copy step
 * in ember_model_load_impl). */
static void *weight_buffer(size_t bytes) {
    const size_t huge = (size_t)2 << 20;
    bytes = (bytes + 63) & ~(size_t)63;
    if (bytes >= huge) bytes = (bytes + huge - 1) & ~(huge - 1);
    void *dst = aligned_alloc(bytes >= huge ? huge : 64, bytes);
#ifdef MADV_HUGEPAGE
    if (dst && bytes >= huge) (void)madvise(dst, bytes, MADV_HUGEPAGE); /* advice only: 4 KiB pages if refused */
#endif
    return dst;
}

/* Reads the file pages under [p, p + n) in now. The token embeddings stay
 * in the file mapping and each new token reads a row no token read before:
 * unread, that row's page came from disk inside the decode step (~120k-
 * 250k cycles per token, 1.6-2 % of a tl-q4_0/q8_0 token, TSC-measured,
 * with the page cache cold). Advice only: on kernels without
 * MADV_POPULATE_READ (before 5.14) readahead is asked for instead. */
static void prefault(const void *p, size_t n) {
    const uintptr_t pg = 4096, a = (uintptr_t)p & ~(pg - 1), e = ((uintptr_t)p + n + pg - 1) & ~(pg - 1);
    if (!p || !n) return;
#ifdef MADV_POPULATE_READ
    if (madvise((void *)a, e - a, MADV_POPULATE_READ) == 0) return;
#endif
    (void)madvise((void *)a, e - a, MADV_WILLNEED);
}

ember_status ember_model_load_impl(const char *path, const ember_model_params *p, ember_model **out,
                                   char *err, size_t errlen) {
    *out = 0;
    ember_model *m = calloc(1, sizeof *m);
    if (!m) { snprintf(err, errlen, "out of memory"); return EMBER_ERR_NOMEM; }
    int st = gguf_open(path, &m->gguf, err, errlen);
    if (st) { free(m); return (ember_status)st; }
    load_state s = {m, err, errlen, 0, 0};

    const char *arch = 0;
    if (gguf_get_str(m->gguf, "general.architecture", &arch) != 1 || !arch) {
        fail(&s, EMBER_ERR_FORMAT, "missing key 'general.architecture'");
        goto done;
    }
    int found = 0;
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++) {
        if (!strcmp(arch, k_archs[i].name)) {
            m->arch = k_archs[i].arch;
            m->hp.rope_type = k_archs[i].rope;
            found = 1;
        }
    }
    if (!found && !(p && p->vocab_only)) {
        fail(&s, EMBER_ERR_UNSUPPORTED, "unsupported architecture '%.40s' (supported: %s)", arch, ember_supported_archs());
        goto done;
    }
    snprintf(m->arch_name, sizeof m->arch_name, "%s", arch);
    const char *gname = 0;
    if (gguf_get_str(m->gguf, "general.name", &gname) == 1 && gname && *gname) snprintf(m->name, sizeof m->name, "%s", gname);
    else {
        const char *base = strrchr(path, '/');
        snprintf(m->name, sizeof m->name, "%s", base ? base + 1 : path);
    }

    char verr[256];
    int vst = ember_vocab_load(m->gguf, &m->vocab, verr, sizeof verr);
    if (vst) { fail(&s, vst, "tokenizer: %s", verr); goto done; }
    if (p && p->vocab_only) goto done;

    ember_hparams *hp = &m->hp;
    hp->n_vocab = ember_vocab_n_tokens(m->vocab);
    hp->n_embd = hp_int(&s, "embedding_length", -1, 1, 1 << 20);
    hp->n_layer = hp_int(&s, "block_count", -1, 1, 4096);
    hp->n_head = hp_int(&s, "attention.head_count", -1, 1, 4096);
    hp->n_head_kv = hp_int(&s, "attention.head_count_kv", hp->n_head, 1, 4096);
    hp->n_ff = hp_int(&s, "feed_forward_length", -1, 1, 1 << 22);
    hp->n_ctx_train = hp_int(&s, "context_length", 2048, 1, 1 << 24);
    if (s.failed) goto done;
    if (hp->n_embd % hp->n_head) { fail(&s, EMBER_ERR_FORMAT, "embedding_length %d is not a multiple of head_count %d", hp->n_embd, hp->n_head); goto done; }
    if (hp->n_head % hp->n_head_kv) { fail(&s, EMBER_ERR_FORMAT, "head_count %d is not a multiple of head_count_kv %d", hp->n_head, hp->n_head_kv); goto done; }
    hp->head_dim = hp_int(&s, "attention.key_length", hp->n_embd / hp->n_head, 1, 1 << 16);
    int vlen = hp_int(&s, "attention.value_length", hp->head_dim, 1, 1 << 16);
    if (!s.failed && vlen != hp->head_dim) { fail(&s, EMBER_ERR_UNSUPPORTED, "key_length %d != value_length %d is not supported", hp->head_dim, vlen); goto done; }
    if (hp->head_dim % 2) { fail(&s, EMBER_ERR_FORMAT, "head dimension %d is odd", hp->head_dim); goto done; }
    hp->n_rot = hp_int(&s, "rope.dimension_count", hp->head_dim, 2,
                       hp->head_dim < EMBER_MAX_ROT ? hp->head_dim : EMBER_MAX_ROT);
    if (hp->n_rot % 2) { fail(&s, EMBER_ERR_FORMAT, "rope.dimension_count %d is odd", hp->n_rot); goto done; }
    hp->rms_eps = hp_float(&s, "attention.layer_norm_rms_epsilon", 1e-5f, 1, 0.0f, 1.0f);
    hp->rope_base = hp_float(&s, "rope.freq_base", 10000.0f, 0, 1e-3f, 1e12f);
    hp->rope_freq_scale = 1.0f;
    {
        char key[128];
        const char *stype = 0;
        snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch_name);
        if (gguf_get_str(m->gguf, key, &stype) == 1 && stype && strcmp(stype, "none") && strcmp(stype, "linear")) {
            fail(&s, EMBER_ERR_UNSUPPORTED, "rope scaling type '%.32s' is not supported (supported: none, linear)", stype);
            goto done;
        }
        float factor = hp_float(&s, "rope.scaling.factor", 0.0f, 0, 0.0f, 1e6f);
        if (factor == 0.0f) factor = hp_float(&s, "rope.scale_linear", 0.0f, 0, 0.0f, 1e6f);
        if (factor > 0.0f && (!stype || strcmp(stype, "none"))) hp->rope_freq_scale = 1.0f / factor;
    }
    hp->attn_scale = hp_float(&s, "attention.scale", 0.0f, 0, 0.0f, 1e6f);
    if (hp->attn_scale == 0.0f) hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (s.failed) goto done;

    const int64_t E = hp->n_embd, V = hp->n_vocab, HD = hp->head_dim;
    const int64_t QD = (int64_t)hp->n_head * HD, KVD = (int64_t)hp->n_head_kv * HD, F = hp->n_ff;
    const int bias = m->arch == EMBER_ARCH_QWEN2;
    const int qknorm = m->arch == EMBER_ARCH_QWEN3;
    m->tok_embd = get_w(&s, "token_embd.weight", E, V, 1, 0, 0);
    m->output_norm = get_w(&s, "output_norm.weight", E, 1, 1, 1, 0);
    m->output = get_w(&s, "output.weight", E, V, 0, 0, 1);
    if (!s.failed && !m->output.data) {
        if (!ember_type_get(m->tok_embd.type)->vec_dot_ref) fail(&s, EMBER_ERR_UNSUPPORTED, "tied output needs a matmul type for token_embd");
        m->output = m->tok_embd; /* tied embeddings */
    }
    m->rope_freqs = get_w(&s, "rope_freqs.weight", hp->n_rot / 2, 1, 0, 1, 0);
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) { fail(&s, EMBER_ERR_NOMEM, "out of memory"); goto done; }
    for (int l = 0; l < hp->n_layer && !s.failed; l++) {
        ember_layer *L = &m->layers[l];
        char n[96];
#define W(field, suffix, ne0, ne1, req, f32, dot) \
        snprintf(n, sizeof n, "blk.%d.%s", l, suffix); L->field = get_w(&s, n, ne0, ne1, req, f32, dot);
        W(attn_norm, "attn_norm.weight", E, 1, 1, 1, 0);
        W(wq, "attn_q.weight", E, QD, 1, 0, 1);
        W(wk, "attn_k.weight", E, KVD, 1, 0, 1);
        W(wv, "attn_v.weight", E, KVD, 1, 0, 1);
        W(wo, "attn_output.weight", QD, E, 1, 0, 1);
        W(bq, "attn_q.bias", QD, 1, bias, 1, 0);
        W(bk, "attn_k.bias", KVD, 1, bias, 1, 0);
        W(bv, "attn_v.bias", KVD, 1, bias, 1, 0);
        W(bo, "attn_output.bias", E, 1, 0, 1, 0);
        W(q_norm, "attn_q_norm.weight", HD, 1, qknorm, 1, 0);
        W(k_norm, "attn_k_norm.weight", HD, 1, qknorm, 1, 0);
        W(ffn_norm, "ffn_norm.weight", E, 1, 1, 1, 0);
        W(w_gate, "ffn_gate.weight", E, F, 1, 0, 1);
        W(w_up, "ffn_up.weight", E, F, 1, 0, 1);
        W(w_down, "ffn_down.weight", F, E, 1, 0, 1);
#undef W
    }
    if (s.failed) goto done;

    /* Copy the large matrices once (unless no_repack):
     * - types with a packed form on this path (Q4_0, and Q8_0, Q4_1, Q5_0,
     *   Q5_1, Q2_K..Q6_K where VNNI reads them) are repacked: groups of rows
     *   interleaved, the rows' size; same results, one memory stream instead
     *   of one per row, and kernels that need no horizontal sums;
     * - the rows that decoding reads (F32, F16, BF16, types without a layout
     *   on this path, and Q8_0, whose single tokens read its rows)
     *   are copied as they are into huge pages when the kernel gives them:
     *   the same bytes, so the same results, but the mapping's 4 KiB pages
     *   held decoding well below the read bandwidth (Zen 5 EPYC, tg64:
     *   tl-f16 12.4 vs 21.0 t/s, tl-q8_0 median 27.5 vs 31.6 t/s, 8/8
     *   alternating runs; README). Q8_0 then holds two copies.
     * Buffers are allocated first, then the groups of all matrices are
     * copied by p->n_threads threads (first touch of the new pages
     * included). */
    if (!(p && p->no_repack)) {
        copy_job job = {0};
        const int row_copies = ember_huge_pages_available();
        /* One buffer holds every copy, each matrix at a page boundary: the
         * small K/V matrices sit in huge pages too, and nothing is rounded
         * up per matrix (one buffer per matrix, each rounded up to 2 MiB,
         * held 742 MiB for tl-q4_0's 582 MB of copies). Pass 0 sizes it,
         * pass 1 hands out the places. */
        char *arena = 0;
        for (int pass = 0; pass < 2; pass++) {
            size_t off = 0;
            for (int l = -1; l < hp->n_layer; l++) {
                ember_weight *all[7];
                int nw = 0;
                if (l < 0) all[nw++] = &m->output;
                else {
                    ember_layer *L = &m->layers[l];
                    ember_weight *ws[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
                    for (int i = 0; i < 7; i++) all[nw++] = ws[i];
                }
                for (int i = 0; i < nw; i++) {
                    ember_weight *w = all[i];
                    const ember_type_traits *tr = ember_type_get(w->type);
                    if (!w->data || w->packed || w->copy || !tr) continue;
                    const size_t bytes = (size_t)w->rows * w->row_bytes, place = (bytes + 4095) & ~(size_t)4095;
                    int repack, copy;
                    ember_weight_copies(tr, w->rows, row_copies, &repack, &copy);
                    if (repack) {
                        if (pass) {
                            w->packed = arena + off;
                            w->packed_layout = tr->layout;
                            m->repacked_bytes += bytes;
                        }
                        off += place;
                    }
                    if (copy) {
                        if (pass) {
                            w->copy = arena + off;
                            m->repacked_bytes += bytes;
                        }
                        off += place;
                    }
                    if (pass && (repack || copy) && !copy_job_add(&job, w)) goto nomem;
                }
            }
            if (pass == 0 && off && !(arena = m->weights_arena = weight_buffer(off))) goto nomem;
            if (!arena) break; /* nothing to copy */
        }
        /* In slices of about 64 MB; after each, the copied rows' whole
         * pages of the read-only file mapping leave the process (they stay
         * in the page cache, and a later read, e.g. on another kernel path,
         * faults them back in): otherwise the resident memory holds both
         * (tl-f16 peak RSS 4.0 GB instead of 2.1). One madvise per matrix:
         * one per group of rows cost seconds of TLB shootdowns. */
        ember_pool *pool = job.n ? ember_pool_create(p ? p->n_threads : 0) : 0;
        for (int i0 = 0; i0 < job.n;) {
            copy_job slice = {job.w + i0, 0, 0};
            size_t bytes = 0;
            while (i0 + slice.n < job.n && bytes < ((size_t)64 << 20)) {
                const ember_weight *w = job.w[i0 + slice.n++];
                bytes += (size_t)w->rows * w->row_bytes;
            }
            if (pool) ember_pool_run(pool, copy_groups, &slice);
            else copy_groups(&slice, 0, 1);
            for (int i = 0; i < slice.n && gguf_is_mapped(m->gguf); i++) {
                const ember_weight *w = slice.w[i];
                const uintptr_t pg = 4096, a = ((uintptr_t)w->data + pg - 1) & ~(pg - 1),
                                e = ((uintptr_t)w->data + (size_t)w->rows * w->row_bytes) & ~(pg - 1);
                if (e > a) (void)madvise((void *)a, e - a, MADV_DONTNEED);
            }
            i0 += slice.n;
        }
        ember_pool_free(pool);
        if (m->output.packed && m->output.data == m->tok_embd.data)
            m->tok_embd.packed = m->output.packed, m->tok_embd.packed_layout = m->output.packed_layout;
        for (int i = 0; i < job.n; i++)
            if (job.w[i]->copy) job.w[i]->data = job.w[i]->copy;
        free(job.w);
        if (0) {
        nomem:
            free(job.w);
            fail(&s, EMBER_ERR_NOMEM, "out of memory copying the weights at load (--no-repack runs from the file)");
            goto done;
        }
    }

    if (gguf_is_mapped(m->gguf) && m->tok_embd.data && !m->tok_embd.copy)
        prefault(m->tok_embd.data, (size_t)m->tok_embd.rows * m->tok_embd.row_bytes);

    /* Totals and the file's type name. */
    int64_t count[EMBER_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(m->gguf); i++) {
        const gguf_tensor_info *t = gguf_tensor(m->gguf, i);
        int64_t ne = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
        m->n_params += (uint64_t)ne;
        m->n_bytes += t->nbytes;
        if (t->n_dims >= 2) count[t->type] += ne;
    }
    uint32_t ft;
    const char *tn = gguf_get_u32(m->gguf, "general.file_type", &ft) == 1 ? ftype_name(ft) : 0;
    if (!tn) {
        int best = 0;
        for (int t = 0; t < EMBER_TYPE_COUNT; t++) if (count[t] > count[best]) best = t;
        tn = ember_type_name(best);
    }
    snprintf(m->type_name, sizeof m->type_name, "%s", tn);

done:
    if (s.failed) {
        ember_model_free(m);
        return (ember_status)s.status;
    }
    *out = m;
    return EMBER_OK;
}
