/* Vocabulary loading: tokenizer.ggml.* keys, validated, with llama.cpp's
 * defaults per tokenizer model and pre-tokenizer, its recognition of
 * end-of-generation and fill-in-the-middle tokens by their text, and its
 * per-model strip attributes. */
#include "vocab_internal.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS (1u << 24)
#define MAX_TOKEN_LEN (1u << 20)

void tok_push(tok_buf *b, int32_t id) {
    if (b->n == b->cap) {
        const size_t nc = b->cap ? b->cap * 2 : 64;
        int32_t *nv = realloc(b->v, nc * sizeof *nv);
        if (!nv) { b->oom = 1; return; }
        b->v = nv;
        b->cap = nc;
    }
    b->v[b->n++] = id;
}

static uint32_t hash_bytes(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int32_t vocab_find(const ember_vocab *v, const char *s, size_t len) {
    for (uint32_t i = hash_bytes(s, len) & v->map_mask;; i = (i + 1) & v->map_mask) {
        const int32_t id = v->map[i];
        if (id < 0) return -1;
        if (v->len[id] == len && !memcmp(v->text[id], s, len)) return id;
    }
}

static int32_t find_str(const ember_vocab *v, const char *s) { return vocab_find(v, s, strlen(s)); }

void ember_vocab_free(ember_vocab *v) {
    if (!v) return;
    bpe_free(v);
    free(v->text); free(v->len); free(v->score); free(v->attr); free(v->arena);
    free(v->map); free(v->eog); free(v->special);
    free(v);
}

static int fail(ember_vocab *v, char *err, size_t errlen, int st, const char *msg) {
    snprintf(err, errlen, "%s", msg);
    ember_vocab_free(v);
    return st;
}

static int attr_of_type(int32_t t) {
    switch (t) {
    case 1: return ATTR_NORMAL;
    case 2: return ATTR_UNKNOWN;
    case 3: return ATTR_CONTROL;
    case 4: return ATTR_USER_DEFINED;
    case 5: return ATTR_UNUSED;
    case 6: return ATTR_BYTE;
    default: return 0;
    }
}

/* Token texts into one arena; an empty text becomes "[EMPTY_<id>]" as in
 * llama.cpp (so it can be looked up and never matches empty input). */
static int load_tokens(ember_vocab *v, const gguf_file *f, uint64_t n, char *err, size_t errlen) {
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = 0;
        if (!gguf_get_arr_str(f, "tokenizer.ggml.tokens", i, &len)) { snprintf(err, errlen, "unreadable token %llu", (unsigned long long)i); return 2; }
        if (len > MAX_TOKEN_LEN) { snprintf(err, errlen, "token %llu is longer than 1 MiB", (unsigned long long)i); return 2; }
        total += (len ? len : 24) + 1;
    }
    v->arena = malloc(total ? total : 1);
    if (!v->arena) { snprintf(err, errlen, "out of memory"); return 5; }
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = 0;
        const char *s = gguf_get_arr_str(f, "tokenizer.ggml.tokens", i, &len);
        char *dst = v->arena + off;
        if (len) memcpy(dst, s, len);
        else len = (uint64_t)snprintf(dst, 24, "[EMPTY_%llu]", (unsigned long long)i);
        dst[len] = 0;
        v->text[i] = dst;
        v->len[i] = (uint32_t)len;
        off += len + 1;
    }
    return 0;
}

/* Text -> id. llama.cpp refuses a vocabulary with a repeated text (its
 * map would be smaller than the token list), and so does ember. */
static int build_map(ember_vocab *v, char *err, size_t errlen) {
    for (int i = 0; i < v->n; i++) {
        for (uint32_t h = hash_bytes(v->text[i], v->len[i]) & v->map_mask;; h = (h + 1) & v->map_mask) {
            const int32_t id = v->map[h];
            if (id < 0) {
                v->map[h] = i;
                break;
            }
            if (v->len[id] == v->len[i] && !memcmp(v->text[id], v->text[i], v->len[i])) {
                snprintf(err, errlen, "tokens %d and %d have the same text", id, i);
                return 2;
            }
        }
    }
    return 0;
}

/* A special token id key. Absent: keeps *id. Out of range: warns and keeps
 * the default, as llama.cpp does. Returns -1 for a non-integer value. */
static int read_id(const ember_vocab *v, const gguf_file *f, const char *key, int32_t *id) {
    int64_t x;
    const int r = gguf_get_i64(f, key, &x);
    if (r == 0) return 0;
    if (r < 0) {
        if (gguf_kv_type(f, gguf_find_key(f, key)) != GGUF_VT_UINT64) return -1;
        x = -1; /* a u64 beyond int64: out of range */
    }
    if (x < 0 || x >= v->n)
        fprintf(stderr, "ember: warning: %s = %lld is outside the vocabulary; using the default\n", key, (long long)x);
    else
        *id = (int32_t)x;
    return 0;
}

static void mark_eog(ember_vocab *v, int32_t id) {
    if (id >= 0 && id < v->n) v->eog[id >> 3] |= (uint8_t)(1u << (id & 7));
}

/* The lowest id among the texts that exist; -1 if none. (llama.cpp takes
 * the first it meets in hash-map order, which matters only for vocabularies
 * that hold several of the alternatives.) */
static int32_t find_any(const ember_vocab *v, const char *const *texts) {
    int32_t best = -1;
    for (int i = 0; texts[i]; i++) {
        const int32_t id = find_str(v, texts[i]);
        if (id >= 0 && (best < 0 || id < best)) best = id;
    }
    return best;
}

static void force_control(ember_vocab *v, int32_t id) {
    if (id >= 0 && !(v->attr[id] & ATTR_CONTROL)) v->attr[id] = ATTR_CONTROL;
}

/* End-of-generation and fill-in-the-middle tokens recognised by text when
 * the metadata does not name them; such tokens become control tokens. */
static int detect_special(ember_vocab *v, const gguf_file *f) {
    static const char *const eot_t[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
                                        "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", 0};
    static const char *const eom_t[] = {"<|eom_id|>", 0};
    static const char *const pre_t[] = {"<|fim_prefix|>", "<fim-prefix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", 0};
    static const char *const suf_t[] = {"<|fim_suffix|>", "<fim-suffix>", "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>", "<SUF>", 0};
    static const char *const mid_t[] = {"<|fim_middle|>", "<fim-middle>", "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", 0};
    static const char *const pad_t[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>", 0};
    static const char *const rep_t[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", 0};
    static const char *const sep_t[] = {"<|file_sep|>", 0};
    static const char *const eog_t[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", 0};
    static const struct { const char *key, *old_key; const char *const *texts; int eog; } fim[] = {
        {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id", pre_t, 0},
        {"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id", suf_t, 0},
        {"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id", mid_t, 0},
        {"tokenizer.ggml.fim_pad_token_id", 0, pad_t, 1},
        {"tokenizer.ggml.fim_rep_token_id", 0, rep_t, 1},
        {"tokenizer.ggml.fim_sep_token_id", 0, sep_t, 1},
    };
    if (v->eot < 0 && (v->eot = find_any(v, eot_t)) >= 0) force_control(v, v->eot);
    if (v->eom < 0 && (v->eom = find_any(v, eom_t)) >= 0) force_control(v, v->eom);
    for (size_t k = 0; k < sizeof fim / sizeof fim[0]; k++) {
        int32_t id = -1;
        if (read_id(v, f, fim[k].key, &id) || (fim[k].old_key && read_id(v, f, fim[k].old_key, &id))) return -1;
        if (id < 0 && (id = find_any(v, fim[k].texts)) >= 0) force_control(v, id);
        if (fim[k].eog) mark_eog(v, id);
    }
    for (int i = 0; eog_t[i]; i++) {
        const int32_t id = find_str(v, eog_t[i]);
        if (id >= 0) { mark_eog(v, id); force_control(v, id); }
    }
    mark_eog(v, v->eos);
    mark_eog(v, v->eot);
    mark_eog(v, v->eom);
    return 0;
}

static void set_attr(ember_vocab *v, const char *text, int bit, int on) {
    const int32_t id = find_str(v, text);
    if (id < 0) return;
    v->attr[id] = (uint16_t)(on ? (v->attr[id] | bit) : (v->attr[id] & ~bit));
}

/* llama.cpp sets strip attributes by model name / pre-tokenizer. */
static void model_attrs(ember_vocab *v, const gguf_file *f) {
    const char *pre = 0, *name = 0;
    char lname[256];
    gguf_get_str(f, "tokenizer.ggml.pre", &pre);
    gguf_get_str(f, "general.name", &name);
    snprintf(lname, sizeof lname, "%s", name ? name : "");
    for (char *p = lname; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (pre && (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") || strstr(pre, "jina-v2-code"))) {
        set_attr(v, "<mask>", ATTR_LSTRIP, 1);
    } else if (strstr(lname, "phi-3") || strstr(lname, "phi3")) {
        for (int i = 0; i < v->n_special; i++) v->attr[v->special[i]] |= ATTR_RSTRIP;
        set_attr(v, "</s>", ATTR_RSTRIP, 1);
        set_attr(v, "<unk>", ATTR_RSTRIP, 0);
        set_attr(v, "<s>", ATTR_RSTRIP, 0);
        set_attr(v, "<|endoftext|>", ATTR_RSTRIP, 0);
    }
}

/* SPM byte fallback: "<0xXX>" (upper-case hex), else the byte itself. */
static void byte_tokens(ember_vocab *v) {
    for (int b = 0; b < 256; b++) {
        char t[8];
        snprintf(t, sizeof t, "<0x%02X>", b);
        v->byte_tok[b] = find_str(v, t);
        if (v->byte_tok[b] < 0) {
            const char c = (char)b;
            v->byte_tok[b] = b ? vocab_find(v, &c, 1) : -1;
        }
    }
}

int ember_vocab_load(const gguf_file *f, ember_vocab **out, char *err, size_t errlen) {
    *out = 0;
    ember_vocab *v = calloc(1, sizeof *v);
    if (!v) return fail(v, err, errlen, 5, "out of memory");
    const char *model = 0, *pre = 0;
    if (gguf_get_str(f, "tokenizer.ggml.model", &model) != 1 || !model)
        return fail(v, err, errlen, 2, "missing key 'tokenizer.ggml.model'");
    int no_bos = 0;
    if (!strcmp(model, "llama")) {
        v->kind = VOCAB_SPM;
        v->bos = 1; v->eos = 2; v->unk = 0;
        v->add_space_prefix = 1; v->add_bos = 1;
    } else if (!strcmp(model, "gpt2")) {
        v->kind = VOCAB_BPE;
        v->bos = 11; v->eos = 11; v->unk = -1;
        v->clean_spaces = 1;
        const int r = gguf_get_str(f, "tokenizer.ggml.pre", &pre);
        if (r < 0) return fail(v, err, errlen, 2, "'tokenizer.ggml.pre' is not a string");
        if (r == 0 || !pre || !*pre) {
            fprintf(stderr, "ember: warning: the vocabulary names no BPE pre-tokenizer; using llama.cpp's 'default' rules\n");
            v->pre = PRE_DEFAULT;
        } else if (pretok_by_name(pre, &v->pre, &v->ignore_merges, &v->add_bos, &v->clean_spaces, &no_bos)) {
            fprintf(stderr, "ember: warning: unknown BPE pre-tokenizer '%.60s'; using the gpt-2 rules, "
                            "tokens may differ from the model's own tokenizer\n", pre);
            v->pre = PRE_GPT2;
        }
        if (no_bos) v->bos = -1;
    } else {
        char msg[128];
        snprintf(msg, sizeof msg, "unsupported tokenizer model '%.40s' (supported: llama, gpt2)", model);
        return fail(v, err, errlen, 3, msg);
    }
    v->eot = v->eom = -1;
    int b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b) == 1) v->add_space_prefix = b;

    gguf_vtype et;
    uint64_t n = 0, ns = 0, nt = 0;
    if (gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n) != 1 || et != GGUF_VT_STRING)
        return fail(v, err, errlen, 2, "missing or malformed 'tokenizer.ggml.tokens'");
    if (n == 0 || n > MAX_TOKENS) return fail(v, err, errlen, 2, "vocabulary size out of range (1 .. 16M tokens)");
    const unsigned char *scores = 0, *types = 0; /* little-endian f32 / i32, maybe unaligned */
    int r = gguf_get_arr_info(f, "tokenizer.ggml.scores", &et, &ns);
    if (r < 0 || (r == 1 && (et != GGUF_VT_FLOAT32 || ns != n)))
        return fail(v, err, errlen, 2, "'tokenizer.ggml.scores' does not match the token list");
    if (r == 1) scores = gguf_get_arr_data(f, "tokenizer.ggml.scores");
    r = gguf_get_arr_info(f, "tokenizer.ggml.token_type", &et, &nt);
    if (r < 0 || (r == 1 && (et != GGUF_VT_INT32 || nt != n)))
        return fail(v, err, errlen, 2, "'tokenizer.ggml.token_type' does not match the token list");
    if (r == 1) types = gguf_get_arr_data(f, "tokenizer.ggml.token_type");
    v->n = (int)n;
    uint32_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    v->text = calloc(n, sizeof *v->text);
    v->len = calloc(n, sizeof *v->len);
    v->score = calloc(n, sizeof *v->score);
    v->attr = calloc(n, sizeof *v->attr);
    v->eog = calloc((n + 7) / 8, 1);
    v->special = malloc(n * sizeof *v->special);
    v->map = malloc((size_t)cap * sizeof *v->map);
    if (!v->text || !v->len || !v->score || !v->attr || !v->eog || !v->special || !v->map)
        return fail(v, err, errlen, 5, "out of memory");
    memset(v->map, 0xff, (size_t)cap * sizeof *v->map);
    v->map_mask = cap - 1;
    int st = load_tokens(v, f, n, err, errlen);
    if (st) { ember_vocab_free(v); return st; }
    for (uint64_t i = 0; i < n; i++) {
        if (scores) memcpy(&v->score[i], scores + 4 * i, 4);
        int32_t t = 1;
        if (types) memcpy(&t, types + 4 * i, 4);
        v->attr[i] = (uint16_t)(types ? attr_of_type(t) : ATTR_NORMAL);
    }
    if ((st = build_map(v, err, errlen))) { ember_vocab_free(v); return st; }

    static const char *const id_keys[] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                          "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id",
                                          "tokenizer.ggml.unknown_token_id"};
    int32_t *ids[] = {&v->bos, &v->eos, &v->eot, &v->eom, &v->unk};
    for (int i = 0; i < 5; i++)
        if (read_id(v, f, id_keys[i], ids[i])) return fail(v, err, errlen, 2, "a special token id key is not an integer");
    for (int i = 0; i < 5; i++) if (*ids[i] >= v->n) *ids[i] = -1; /* a default beyond a small vocabulary */
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) == 1) v->add_bos = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &b) == 1) v->add_eos = b;
    if (v->add_bos && v->bos < 0) return fail(v, err, errlen, 2, "the vocabulary asks for a BOS token but has none");
    if (v->add_eos && v->eos < 0) return fail(v, err, errlen, 2, "the vocabulary asks for an EOS token but has none");
    if (detect_special(v, f)) return fail(v, err, errlen, 2, "a special token id key is not an integer");

    for (int i = 0; i < v->n; i++)
        if (v->attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) v->special[v->n_special++] = i;
    sort_by_len_desc(v->special, (size_t)v->n_special, v->len);
    model_attrs(v, f);

    if (v->kind == VOCAB_SPM) {
        byte_tokens(v);
    } else if ((st = bpe_load(v, f, err, errlen))) {
        ember_vocab_free(v);
        return st;
    }
    *out = v;
    return 0;
}

int ember_vocab_n_tokens(const ember_vocab *v) { return v->n; }
int32_t ember_vocab_bos(const ember_vocab *v) { return v->bos; }
int32_t ember_vocab_eos(const ember_vocab *v) { return v->eos; }

int ember_vocab_is_eog(const ember_vocab *v, int32_t t) {
    return t >= 0 && t < v->n && (v->eog[t >> 3] >> (t & 7) & 1);
}

const char *ember_vocab_token_text(const ember_vocab *v, int32_t t) {
    return t >= 0 && t < v->n ? v->text[t] : 0;
}
