/* ember gen: writes a random-weight model (llama, qwen2, qwen3) with the
 * metadata keys and tensor layout llama.cpp expects, for benchmarks and
 * loader tests at real sizes without downloading weights. Weights are
 * N(0, scale) from a seeded generator (per tensor, so the output does not
 * depend on the order tensors are produced), quantized with the type's
 * reference quantizer; norms are 1 and stay F32. Tensors are produced one
 * at a time inside the writer's fill callback, so a 1.1B model never sits
 * in memory. */
#include "gguf/gguf.h"
#include "formats/formats.h"
#include "cli.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CMD "gen"

typedef enum { ARCH_LLAMA, ARCH_QWEN2, ARCH_QWEN3 } gen_arch;
static const char *const k_arch_names[] = {"llama", "qwen2", "qwen3"};

typedef struct {
    const char *name;
    gen_arch arch;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, ctx, n_vocab, head_dim;
    float rope_base, rms_eps;
} preset;

/* Shapes of well-known models (head_dim 0: n_embd / n_head). */
static const preset k_presets[] = {
    {"tinyllama-1.1b", ARCH_LLAMA, 2048, 22, 32, 4, 5632, 2048, 32000, 0, 10000.0f, 1e-5f},
    {"stories15m", ARCH_LLAMA, 288, 6, 6, 6, 768, 256, 32000, 0, 10000.0f, 1e-5f},
    {"stories42m", ARCH_LLAMA, 512, 8, 8, 8, 1376, 1024, 32000, 0, 10000.0f, 1e-5f},
    {"stories110m", ARCH_LLAMA, 768, 12, 12, 12, 2048, 1024, 32000, 0, 10000.0f, 1e-5f},
    {"tiny", ARCH_LLAMA, 64, 2, 4, 2, 128, 256, 512, 0, 10000.0f, 1e-5f},
    {"qwen2-0.5b", ARCH_QWEN2, 896, 24, 14, 2, 4864, 32768, 151936, 0, 1000000.0f, 1e-6f},
    {"qwen3-0.6b", ARCH_QWEN3, 1024, 28, 16, 8, 3072, 40960, 151936, 128, 1000000.0f, 1e-6f},
};

typedef enum { K_WEIGHT, K_NORM, K_BIAS } tensor_kind;

typedef struct {
    char name[64];
    tensor_kind kind;
    int type;
    int64_t ne0, ne1;
} gen_tensor;

typedef struct {
    gen_tensor *t;
    int n;
    uint64_t seed;
    float scale;
    uint64_t bytes_total, bytes_done;
    int last_pct;
    int tty;
} gen_state;

/* ---- deterministic random numbers (splitmix64 + Box-Muller) ---- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: never 0, so log() below is finite. */
static double uniform01(uint64_t *s) { return ((double)(splitmix64(s) >> 11) + 1.0) * (1.0 / 9007199254740992.0); }

static void fill_normal(uint64_t *s, float *x, int64_t n, float scale) {
    const double two_pi = 6.283185307179586;
    for (int64_t i = 0; i < n; i += 2) {
        double r = sqrt(-2.0 * log(uniform01(s))), th = two_pi * uniform01(s);
        x[i] = (float)(r * cos(th)) * scale;
        if (i + 1 < n) x[i + 1] = (float)(r * sin(th)) * scale;
    }
}

static void progress(gen_state *g, const char *name) {
    int pct = g->bytes_total ? (int)(100.0 * (double)g->bytes_done / (double)g->bytes_total) : 100;
    if (g->tty) {
        fprintf(stderr, "\rember gen: %3d%% %-40.40s", pct, name);
        if (g->bytes_done == g->bytes_total) fputc('\n', stderr);
    } else if (pct / 10 != g->last_pct / 10 || g->bytes_done == g->bytes_total) {
        fprintf(stderr, "ember gen: %3d%% (%s)\n", pct, name);
    }
    g->last_pct = pct;
}

static int gen_fill(void *ud, int64_t idx, void *dst, size_t nbytes) {
    gen_state *g = ud;
    if (idx < 0 || idx >= g->n) return 7;
    const gen_tensor *t = &g->t[idx];
    const ember_type_traits *tr = ember_type_get(t->type);
    size_t row_bytes = ember_row_size(t->type, t->ne0);
    if (!tr || !tr->from_float_ref || row_bytes * (size_t)t->ne1 != nbytes) return 7;
    float *row = malloc((size_t)t->ne0 * sizeof *row);
    if (!row) return 5;
    uint64_t s = g->seed ^ ((uint64_t)(idx + 1) * 0xd1342543de82ef95ull);
    for (int64_t r = 0; r < t->ne1; r++) {
        if (t->kind == K_NORM)
            for (int64_t i = 0; i < t->ne0; i++) row[i] = 1.0f;
        else
            fill_normal(&s, row, t->ne0, g->scale);
        tr->from_float_ref(row, (uint8_t *)dst + (size_t)r * row_bytes, t->ne0);
    }
    free(row);
    g->bytes_done += nbytes;
    progress(g, t->name);
    return 0;
}

/* ---- options ---- */

typedef struct {
    const char *out, *vocab_from, *name, *type_name, *preset_name;
    int arch; /* -1: unset */
    int n_embd, n_layer, n_head, n_head_kv, n_ff, ctx, n_vocab, head_dim;
    float rope_base, rms_eps, scale;
    uint64_t seed;
    int have_rope, have_eps;
} gen_opts;

static int find_type(const char *s) {
    for (int t = 0; t < EMBER_TYPE_COUNT; t++) {
        const ember_type_traits *tr = ember_type_get(t);
        if (tr && !strcasecmp(tr->name, s)) return t;
    }
    return -1;
}

/* LLAMA_FTYPE value for a model whose 2-D weights are all of type t. */
static int llama_ftype(int t) {
    switch (t) {
    case EMBER_TYPE_F32: return 0;
    case EMBER_TYPE_F16: return 1;
    case EMBER_TYPE_Q4_0: return 2;
    case EMBER_TYPE_Q4_1: return 3;
    case EMBER_TYPE_Q8_0: return 7;
    case EMBER_TYPE_Q5_0: return 8;
    case EMBER_TYPE_Q5_1: return 9;
    case EMBER_TYPE_Q2_K: return 10;
    case EMBER_TYPE_Q3_K: return 11; /* Q3_K_S: every weight Q3_K */
    case EMBER_TYPE_Q4_K: return 14; /* Q4_K_S */
    case EMBER_TYPE_Q5_K: return 16; /* Q5_K_S */
    case EMBER_TYPE_Q6_K: return 18;
    case EMBER_TYPE_BF16: return 32;
    default: return -1;
    }
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: ember gen [--preset NAME] [--arch llama|qwen2|qwen3] [--n-embd N] [--n-layer N]\n"
            "                 [--n-head N] [--n-head-kv N] [--n-ff N] [--head-dim N] [--ctx N]\n"
            "                 [--rope-base F] [--rms-eps F] [--vocab-from M.gguf | --n-vocab N]\n"
            "                 [--type q8_0] [--seed 1] [--scale 0.02] [--name NAME] -o OUT.gguf\n"
            "presets:");
    for (size_t i = 0; i < sizeof k_presets / sizeof k_presets[0]; i++) fprintf(out, " %s", k_presets[i].name);
    fprintf(out, "\n");
}

static int parse_opts(int argc, char **argv, gen_opts *o) {
    memset(o, 0, sizeof *o);
    o->arch = -1;
    o->seed = 1;
    o->scale = 0.02f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 1; }
        static const char *const with_value[] = {"-o", "--preset", "--arch", "--n-embd", "--n-layer", "--n-head",
            "--n-head-kv", "--n-ff", "--head-dim", "--ctx", "--rope-base", "--rms-eps", "--vocab-from", "--n-vocab",
            "--type", "--seed", "--scale", "--name"};
        int known = 0;
        for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) known |= !strcmp(a, with_value[k]);
        if (!known) { fprintf(stderr, "ember gen: unknown option '%s'\n", a); return -1; }
        if (!(v = cli_value(CMD, argc, argv, &i))) return -1;
        int r = 0;
        if (!strcmp(a, "-o")) o->out = v;
        else if (!strcmp(a, "--preset")) o->preset_name = v;
        else if (!strcmp(a, "--vocab-from")) o->vocab_from = v;
        else if (!strcmp(a, "--type")) o->type_name = v;
        else if (!strcmp(a, "--name")) o->name = v;
        else if (!strcmp(a, "--arch")) {
            for (int k = 0; k < 3; k++) if (!strcmp(v, k_arch_names[k])) o->arch = k;
            if (o->arch < 0) { fprintf(stderr, "ember gen: unknown --arch '%s' (llama, qwen2, qwen3)\n", v); return -1; }
        }
        else if (!strcmp(a, "--n-embd")) r = cli_int(CMD, a, v, 1, 1 << 20, &o->n_embd);
        else if (!strcmp(a, "--n-layer")) r = cli_int(CMD, a, v, 1, 4096, &o->n_layer);
        else if (!strcmp(a, "--n-head")) r = cli_int(CMD, a, v, 1, 4096, &o->n_head);
        else if (!strcmp(a, "--n-head-kv")) r = cli_int(CMD, a, v, 1, 4096, &o->n_head_kv);
        else if (!strcmp(a, "--n-ff")) r = cli_int(CMD, a, v, 1, 1 << 22, &o->n_ff);
        else if (!strcmp(a, "--head-dim")) r = cli_int(CMD, a, v, 2, 1 << 16, &o->head_dim);
        else if (!strcmp(a, "--ctx")) r = cli_int(CMD, a, v, 1, 1 << 24, &o->ctx);
        else if (!strcmp(a, "--n-vocab")) r = cli_int(CMD, a, v, 1, 1 << 24, &o->n_vocab);
        else if (!strcmp(a, "--rope-base")) { r = cli_float(CMD, a, v, 1e-3, 1e12, &o->rope_base); o->have_rope = 1; }
        else if (!strcmp(a, "--rms-eps")) { r = cli_float(CMD, a, v, 1e-12, 1.0, &o->rms_eps); o->have_eps = 1; }
        else if (!strcmp(a, "--scale")) r = cli_float(CMD, a, v, 0.0, 100.0, &o->scale);
        else if (!strcmp(a, "--seed")) r = cli_u64(CMD, a, v, &o->seed);
        if (r) return -1;
    }
    return 0;
}

/* Fills unset options from the preset, then checks that the shapes make a
 * model ember and llama.cpp can load. */
static int resolve_opts(gen_opts *o) {
    if (o->preset_name) {
        const preset *p = 0;
        for (size_t i = 0; i < sizeof k_presets / sizeof k_presets[0]; i++)
            if (!strcmp(o->preset_name, k_presets[i].name)) p = &k_presets[i];
        if (!p) { fprintf(stderr, "ember gen: unknown preset '%s' (see ember gen --help)\n", o->preset_name); return -1; }
        if (o->arch < 0) o->arch = (int)p->arch;
        if (!o->n_embd) o->n_embd = p->n_embd;
        if (!o->n_layer) o->n_layer = p->n_layer;
        if (!o->n_head) o->n_head = p->n_head;
        if (!o->n_head_kv) o->n_head_kv = p->n_head_kv;
        if (!o->n_ff) o->n_ff = p->n_ff;
        if (!o->ctx) o->ctx = p->ctx;
        if (!o->n_vocab && !o->vocab_from) o->n_vocab = p->n_vocab;
        if (!o->head_dim && p->head_dim) o->head_dim = p->head_dim;
        if (!o->have_rope) o->rope_base = p->rope_base;
        if (!o->have_eps) o->rms_eps = p->rms_eps;
    }
    if (o->arch < 0) o->arch = ARCH_LLAMA;
    if (!o->out) { fprintf(stderr, "ember gen: no output file (-o OUT.gguf)\n"); return -1; }
    const char *missing = !o->n_embd ? "--n-embd" : !o->n_layer ? "--n-layer" : !o->n_head ? "--n-head" : !o->n_ff ? "--n-ff" : 0;
    if (missing) { fprintf(stderr, "ember gen: %s is required (or use --preset)\n", missing); return -1; }
    if (!o->n_head_kv) o->n_head_kv = o->n_head;
    if (!o->ctx) o->ctx = 2048;
    if (!o->have_rope && !o->preset_name) o->rope_base = 10000.0f;
    if (!o->have_eps && !o->preset_name) o->rms_eps = 1e-5f;
    if (o->vocab_from && o->n_vocab) { fprintf(stderr, "ember gen: --vocab-from and --n-vocab exclude each other\n"); return -1; }
    if (!o->vocab_from && !o->n_vocab) o->n_vocab = 32000;
    if (!o->head_dim) {
        if (o->n_embd % o->n_head) {
            fprintf(stderr, "ember gen: --n-embd %d is not a multiple of --n-head %d\n", o->n_embd, o->n_head);
            return -1;
        }
        o->head_dim = o->n_embd / o->n_head;
    }
    if (o->n_head % o->n_head_kv) {
        fprintf(stderr, "ember gen: --n-head %d is not a multiple of --n-head-kv %d\n", o->n_head, o->n_head_kv);
        return -1;
    }
    if (o->head_dim % 2) { fprintf(stderr, "ember gen: head dimension %d must be even (RoPE rotates pairs)\n", o->head_dim); return -1; }
    if ((int64_t)o->n_head * o->head_dim > (1 << 20)) { fprintf(stderr, "ember gen: n_head x head_dim is too large\n"); return -1; }
    return 0;
}

/* ---- vocabulary ---- */

/* Byte-level SPM vocab: <unk> <s> </s>, the 256 byte tokens, then
 * "▁", printable ASCII, and "▁"-prefixed letter words, so any text
 * tokenizes (bytes are the fallback). */
static int synth_vocab(gguf_writer *w, int n) {
    if (n < 259) { fprintf(stderr, "ember gen: a synthetic vocab needs --n-vocab >= 259 (3 specials + 256 bytes)\n"); return -1; }
    char **tok = calloc((size_t)n, sizeof *tok);
    float *score = malloc((size_t)n * sizeof *score);
    int32_t *type = malloc((size_t)n * sizeof *type);
    int rc = -1;
    if (!tok || !score || !type) { fprintf(stderr, "ember gen: out of memory\n"); goto out; }
    char piece[32];
    for (int i = 0; i < n; i++) {
        if (i < 3) {
            snprintf(piece, sizeof piece, "%s", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>");
            type[i] = i == 0 ? 2 : 3; /* unknown, control */
            score[i] = 0.0f;
        } else if (i < 259) {
            snprintf(piece, sizeof piece, "<0x%02X>", i - 3);
            type[i] = 6; /* byte */
            score[i] = 0.0f;
        } else {
            int k = i - 259;
            if (k == 0) snprintf(piece, sizeof piece, "\xe2\x96\x81");
            else if (k <= 94) snprintf(piece, sizeof piece, "%c", 0x20 + k); /* '!'..'~' */
            else {
                /* "▁" + a word in bijective base 26 ("a".."z", "aa", ...) */
                unsigned long long m = (unsigned long long)(k - 95);
                char word[16];
                int len = 0;
                for (;;) {
                    word[len++] = (char)('a' + m % 26);
                    if (m < 26 || len == 15) break;
                    m = m / 26 - 1;
                }
                memcpy(piece, "\xe2\x96\x81", 3);
                for (int j = 0; j < len; j++) piece[3 + j] = word[len - 1 - j];
                piece[3 + len] = 0;
            }
            type[i] = 1; /* normal */
            score[i] = -(float)k; /* earlier pieces merge first */
        }
        if (!(tok[i] = strdup(piece))) { fprintf(stderr, "ember gen: out of memory\n"); goto out; }
    }
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "default");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VT_FLOAT32, score, (uint64_t)n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, type, (uint64_t)n);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", 1);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", 0);
    rc = 0;
out:
    if (tok)
        for (int i = 0; i < n; i++) free(tok[i]);
    free(tok);
    free(score);
    free(type);
    return rc;
}

/* Copies every tokenizer.* key of path; returns the vocab size or -1. */
static int copy_vocab(gguf_writer *w, const char *path) {
    gguf_file *f;
    char err[512];
    int st = gguf_open(path, &f, err, sizeof err);
    if (st) { fprintf(stderr, "ember gen: --vocab-from: %s\n", err); return -1; }
    gguf_vtype et;
    uint64_t n = 0;
    if (gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n) != 1 || et != GGUF_VT_STRING || n == 0 || n > (1 << 24)) {
        fprintf(stderr, "ember gen: --vocab-from '%s' has no usable tokenizer.ggml.tokens array\n", path);
        gguf_close(f);
        return -1;
    }
    for (int64_t i = 0; i < gguf_n_kv(f); i++)
        if (!strncmp(gguf_kv_key(f, i), "tokenizer.", 10)) gguf_writer_copy_kv(w, f, i);
    gguf_close(f);
    return (int)n;
}

/* ---- tensors ---- */

static void add(gen_tensor *t, int *n, tensor_kind kind, int type, int64_t ne0, int64_t ne1, const char *fmt, int layer) {
    gen_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, fmt, layer);
    x->kind = kind;
    x->type = kind == K_WEIGHT ? type : EMBER_TYPE_F32;
    x->ne0 = ne0;
    x->ne1 = ne1;
}

static int build_tensors(const gen_opts *o, int type, gen_tensor *t) {
    int n = 0;
    const int64_t E = o->n_embd, V = o->n_vocab, F = o->n_ff;
    const int64_t QD = (int64_t)o->n_head * o->head_dim, KVD = (int64_t)o->n_head_kv * o->head_dim;
    add(t, &n, K_WEIGHT, type, E, V, "token_embd.weight", 0);
    for (int l = 0; l < o->n_layer; l++) {
        add(t, &n, K_NORM, type, E, 1, "blk.%d.attn_norm.weight", l);
        add(t, &n, K_WEIGHT, type, E, QD, "blk.%d.attn_q.weight", l);
        add(t, &n, K_WEIGHT, type, E, KVD, "blk.%d.attn_k.weight", l);
        add(t, &n, K_WEIGHT, type, E, KVD, "blk.%d.attn_v.weight", l);
        if (o->arch == ARCH_QWEN2) {
            add(t, &n, K_BIAS, type, QD, 1, "blk.%d.attn_q.bias", l);
            add(t, &n, K_BIAS, type, KVD, 1, "blk.%d.attn_k.bias", l);
            add(t, &n, K_BIAS, type, KVD, 1, "blk.%d.attn_v.bias", l);
        }
        if (o->arch == ARCH_QWEN3) {
            add(t, &n, K_NORM, type, o->head_dim, 1, "blk.%d.attn_q_norm.weight", l);
            add(t, &n, K_NORM, type, o->head_dim, 1, "blk.%d.attn_k_norm.weight", l);
        }
        add(t, &n, K_WEIGHT, type, QD, E, "blk.%d.attn_output.weight", l);
        add(t, &n, K_NORM, type, E, 1, "blk.%d.ffn_norm.weight", l);
        add(t, &n, K_WEIGHT, type, E, F, "blk.%d.ffn_gate.weight", l);
        add(t, &n, K_WEIGHT, type, E, F, "blk.%d.ffn_up.weight", l);
        add(t, &n, K_WEIGHT, type, F, E, "blk.%d.ffn_down.weight", l);
    }
    add(t, &n, K_NORM, type, E, 1, "output_norm.weight", 0);
    add(t, &n, K_WEIGHT, type, E, V, "output.weight", 0);
    return n;
}

static void set_arch_keys(gguf_writer *w, const gen_opts *o, int type) {
    const char *arch = k_arch_names[o->arch];
    char key[96];
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    gguf_writer_set_str(w, "general.architecture", arch);
    char name[128];
    if (o->name) snprintf(name, sizeof name, "%s", o->name);
    else snprintf(name, sizeof name, "ember-gen %s", o->preset_name ? o->preset_name : arch);
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)llama_ftype(type));
    if (ember_type_get(type)->is_quantized) gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)o->ctx);
    gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)o->n_embd);
    gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)o->n_layer);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)o->n_ff);
    gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)o->n_head);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), (uint32_t)o->n_head_kv);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), o->rms_eps);
    gguf_writer_set_f32(w, KEY("rope.freq_base"), o->rope_base);
    gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)o->head_dim);
    gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)o->n_vocab);
    if (o->head_dim * o->n_head != o->n_embd) {
        gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)o->head_dim);
        gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)o->head_dim);
    }
#undef KEY
}

int cmd_gen(int argc, char **argv) {
    gen_opts o;
    int r = parse_opts(argc, argv, &o);
    if (r) return r > 0 ? 0 : 2;
    if (resolve_opts(&o)) return 2;
    int type = find_type(o.type_name ? o.type_name : "q8_0");
    const ember_type_traits *tr = type >= 0 ? ember_type_get(type) : 0;
    if (!tr || llama_ftype(type) < 0) {
        fprintf(stderr, "ember gen: unknown or unusable --type '%s' (f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k)\n",
                o.type_name);
        return 2;
    }
    if (!tr->from_float_ref) { fprintf(stderr, "ember gen: type %s has no quantizer in this build\n", tr->name); return 2; }
    /* Every 2-D weight's row is n_embd, n_head*head_dim or n_ff long. */
    const struct { const char *what; int64_t len; } rows[] = {
        {"n_embd", o.n_embd}, {"n_head x head_dim", (int64_t)o.n_head * o.head_dim}, {"n_ff", o.n_ff}};
    for (int i = 0; i < 3; i++)
        if (rows[i].len % tr->block_size) {
            fprintf(stderr, "ember gen: type %s needs row lengths that are multiples of %d, but %s = %lld is not\n",
                    tr->name, tr->block_size, rows[i].what, (long long)rows[i].len);
            return 2;
        }

    gguf_writer *w = gguf_writer_create();
    if (!w) { fprintf(stderr, "ember gen: out of memory\n"); return 1; }
    set_arch_keys(w, &o, type);
    if (o.vocab_from) {
        int nv = copy_vocab(w, o.vocab_from);
        if (nv < 0) { gguf_writer_free(w); return 2; }
        o.n_vocab = nv;
        char key[96];
        snprintf(key, sizeof key, "%s.vocab_size", k_arch_names[o.arch]);
        gguf_writer_set_u32(w, key, (uint32_t)nv);
    } else if (synth_vocab(w, o.n_vocab)) {
        gguf_writer_free(w);
        return 2;
    }

    int max_t = 3 + o.n_layer * 14;
    gen_tensor *t = calloc((size_t)max_t, sizeof *t);
    if (!t) { gguf_writer_free(w); fprintf(stderr, "ember gen: out of memory\n"); return 1; }
    int nt = build_tensors(&o, type, t);
    gen_state g = {t, nt, o.seed, o.scale, 0, 0, -1, isatty(2)};
    uint64_t params = 0;
    for (int i = 0; i < nt; i++) {
        int64_t ne[2] = {t[i].ne0, t[i].ne1};
        if (gguf_writer_add_tensor(w, t[i].name, t[i].type, t[i].ne1 > 1 || t[i].kind == K_WEIGHT ? 2 : 1, ne, NULL) < 0)
            break; /* the writer reports the problem below */
        g.bytes_total += ember_row_size(t[i].type, t[i].ne0) * (uint64_t)t[i].ne1;
        params += (uint64_t)(t[i].ne0 * t[i].ne1);
    }
    fprintf(stderr, "ember gen: %s %s, %d layers, %llu params, %s, %.1f MiB -> %s\n", k_arch_names[o.arch],
            o.preset_name ? o.preset_name : "custom", o.n_layer, (unsigned long long)params, tr->name,
            (double)g.bytes_total / (1024.0 * 1024.0), o.out);
    char err[512];
    int st = gguf_writer_write(w, o.out, gen_fill, &g, err, sizeof err);
    gguf_writer_free(w);
    free(t);
    if (st) {
        if (g.tty && g.bytes_done) fputc('\n', stderr);
        fprintf(stderr, "ember gen: %s\n", err);
        return st == 4 || st == 3 ? 2 : 1;
    }
    return 0;
}
