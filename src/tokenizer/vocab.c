/* Vocabulary: loads and validates tokenizer.ggml.*, splits special tokens
 * out of text (as llama.cpp does, longest special text first), dispatches to
 * the SPM or BPE algorithm, renders pieces and streams UTF-8 safely. */
#include "vocab_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tok_push(tok_buf *b, int32_t id) {
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 64;
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
        int32_t id = v->map[i];
        if (id < 0) return -1;
        if (v->len[id] == len && !memcmp(v->text[id], s, len)) return id;
    }
}

void ember_vocab_free(ember_vocab *v) {
    if (!v) return;
    if (v->bpe) bpe_free(v);
    if (v->text) for (int i = 0; i < v->n; i++) free(v->text[i]);
    free(v->text); free(v->len); free(v->score); free(v->type); free(v->map); free(v->special);
    free(v);
}

static int load_fail(ember_vocab *v, char *err, size_t errlen, int st, const char *msg, const char *arg) {
    snprintf(err, errlen, msg, arg);
    ember_vocab_free(v);
    return st;
}

static int cmp_special(const void *a, const void *b, void *ctx) {
    const ember_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->len[x] != v->len[y]) return v->len[x] > v->len[y] ? -1 : 1;
    return x - y;
}

/* Optional token id key: -1 if absent; -2 if present but out of range. */
static int32_t id_key(const gguf_file *f, const char *key, int n) {
    int64_t x;
    int r = gguf_get_i64(f, key, &x);
    if (r == 0) return -1;
    if (r < 0) return -2;
    if (x == 0xFFFFFFFFll || x == -1) return -1; /* "none" as some converters write it */
    return x >= 0 && x < n ? (int32_t)x : -2;
}

int ember_vocab_load(const gguf_file *f, ember_vocab **out, char *err, size_t errlen) {
    *out = 0;
    ember_vocab *v = calloc(1, sizeof *v);
    if (!v) return load_fail(v, err, errlen, 5, "out of memory%s", "");
    const char *model = 0;
    if (gguf_get_str(f, "tokenizer.ggml.model", &model) != 1 || !model)
        return load_fail(v, err, errlen, 2, "missing key 'tokenizer.ggml.model'%s", "");
    if (!strcmp(model, "llama")) v->kind = VOCAB_SPM;
    else if (!strcmp(model, "gpt2")) v->kind = VOCAB_BPE;
    else return load_fail(v, err, errlen, 3, "unsupported tokenizer model '%.40s' (supported: llama, gpt2)", model);
    gguf_vtype et;
    uint64_t n;
    if (gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n) != 1 || et != GGUF_VT_STRING)
        return load_fail(v, err, errlen, 2, "missing or malformed 'tokenizer.ggml.tokens'%s", "");
    if (n == 0 || n > (1u << 24)) return load_fail(v, err, errlen, 2, "vocabulary size out of range%s", "");
    v->n = (int)n;
    v->text = calloc(n, sizeof *v->text);
    v->len = calloc(n, sizeof *v->len);
    v->score = calloc(n, sizeof *v->score);
    v->type = calloc(n, sizeof *v->type);
    uint32_t cap = 1;
    while (cap < 2 * n) cap <<= 1;
    v->map = malloc((size_t)cap * sizeof *v->map);
    if (!v->text || !v->len || !v->score || !v->type || !v->map) return load_fail(v, err, errlen, 5, "out of memory%s", "");
    memset(v->map, 0xff, (size_t)cap * sizeof *v->map);
    v->map_mask = cap - 1;

    uint64_t ns = 0, nt = 0;
    const float *scores = 0;
    const int32_t *types = 0;
    if (gguf_get_arr_info(f, "tokenizer.ggml.scores", &et, &ns) == 1) {
        if (et != GGUF_VT_FLOAT32 || ns != n) return load_fail(v, err, errlen, 2, "'tokenizer.ggml.scores' does not match the token list%s", "");
        scores = gguf_get_arr_data(f, "tokenizer.ggml.scores");
    }
    if (gguf_get_arr_info(f, "tokenizer.ggml.token_type", &et, &nt) == 1) {
        if (et != GGUF_VT_INT32 || nt != n) return load_fail(v, err, errlen, 2, "'tokenizer.ggml.token_type' does not match the token list%s", "");
        types = gguf_get_arr_data(f, "tokenizer.ggml.token_type");
    }
    for (int i = 0; i < 256; i++) v->byte_tok[i] = -1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        const char *s = gguf_get_arr_str(f, "tokenizer.ggml.tokens", i, &len);
        if (len > 65536) return load_fail(v, err, errlen, 2, "token text longer than 64 KiB%s", "");
        v->text[i] = malloc(len + 1);
        if (!v->text[i]) return load_fail(v, err, errlen, 5, "out of memory%s", "");
        memcpy(v->text[i], s, len);
        v->text[i][len] = 0;
        v->len[i] = (uint32_t)len;
        if (scores) memcpy(&v->score[i], &scores[i], sizeof(float));
        int32_t t = TOK_NORMAL;
        if (types) memcpy(&t, &types[i], sizeof t);
        if (t < 0 || t > TOK_BYTE) t = TOK_NORMAL;
        v->type[i] = t;
        /* a repeated text maps to its last id, as in llama.cpp */
        for (uint32_t h = hash_bytes(s, len) & v->map_mask;; h = (h + 1) & v->map_mask) {
            const int32_t id = v->map[h];
            if (id < 0 || (v->len[id] == len && !memcmp(v->text[id], s, len))) { v->map[h] = (int32_t)i; break; }
        }
        if (t == TOK_BYTE && len == 6 && !memcmp(s, "<0x", 3) && s[5] == '>') {
            unsigned b;
            if (sscanf(s + 3, "%2x", &b) == 1) v->byte_tok[b & 255] = (int32_t)i;
        }
    }
    const int spm = v->kind == VOCAB_SPM;
    v->bos = id_key(f, "tokenizer.ggml.bos_token_id", v->n);
    v->eos = id_key(f, "tokenizer.ggml.eos_token_id", v->n);
    v->unk = id_key(f, "tokenizer.ggml.unknown_token_id", v->n);
    v->eot = id_key(f, "tokenizer.ggml.eot_token_id", v->n);
    v->eom = id_key(f, "tokenizer.ggml.eom_token_id", v->n);
    if (v->bos == -2 || v->eos == -2 || v->unk == -2 || v->eot == -2 || v->eom == -2)
        return load_fail(v, err, errlen, 2, "a special token id is out of the vocabulary range%s", "");
    if (spm) {
        if (v->bos < 0 && gguf_find_key(f, "tokenizer.ggml.bos_token_id") < 0 && v->n > 1) v->bos = 1;
        if (v->eos < 0 && gguf_find_key(f, "tokenizer.ggml.eos_token_id") < 0 && v->n > 2) v->eos = 2;
        if (v->unk < 0 && gguf_find_key(f, "tokenizer.ggml.unknown_token_id") < 0) v->unk = 0;
    }
    v->add_bos = spm;
    v->add_eos = 0;
    v->add_space_prefix = spm;
    int b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) == 1) v->add_bos = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &b) == 1) v->add_eos = b;
    if (gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &b) == 1) v->add_space_prefix = b;
    if (v->add_bos && v->bos < 0) return load_fail(v, err, errlen, 2, "the vocabulary asks for BOS but has no BOS token%s", "");
    if (v->add_eos && v->eos < 0) return load_fail(v, err, errlen, 2, "the vocabulary asks for EOS but has no EOS token%s", "");

    /* Special tokens: control, user-defined and unknown, longest first. */
    v->special = malloc((size_t)v->n * sizeof *v->special);
    if (!v->special) return load_fail(v, err, errlen, 5, "out of memory%s", "");
    for (int i = 0; i < v->n; i++)
        if ((v->type[i] == TOK_CONTROL || v->type[i] == TOK_USER_DEFINED || v->type[i] == TOK_UNKNOWN) && v->len[i] > 0)
            v->special[v->n_special++] = i;
    qsort_r(v->special, (size_t)v->n_special, sizeof *v->special, cmp_special, v);

    if (v->kind == VOCAB_BPE) {
        int st = bpe_load(v, f, err, errlen);
        if (st) { ember_vocab_free(v); return st; }
    }
    *out = v;
    return 0;
}

int ember_vocab_n_tokens(const ember_vocab *v) { return v->n; }
int32_t ember_vocab_bos(const ember_vocab *v) { return v->bos; }
int32_t ember_vocab_eos(const ember_vocab *v) { return v->eos; }

int ember_vocab_is_eog(const ember_vocab *v, int32_t t) {
    return t >= 0 && (t == v->eos || t == v->eot || t == v->eom);
}

const char *ember_vocab_token_text(const ember_vocab *v, int32_t t) {
    return t >= 0 && t < v->n ? v->text[t] : 0;
}

/* ---- special-token partition --------------------------------------- */

typedef struct { size_t off, len; int32_t tok; } fragment; /* tok >= 0: a special token */

typedef struct { fragment *f; size_t n, cap; int oom; } frag_list;

static void frag_insert(frag_list *l, size_t at, fragment fr) {
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        fragment *nf = realloc(l->f, nc * sizeof *nf);
        if (!nf) { l->oom = 1; return; }
        l->f = nf;
        l->cap = nc;
    }
    memmove(l->f + at + 1, l->f + at, (l->n - at) * sizeof *l->f);
    l->f[at] = fr;
    l->n++;
}

static const char *find_bytes(const char *hay, size_t hn, const char *nd, size_t nn) {
    if (nn > hn) return 0;
    for (size_t i = 0; i + nn <= hn; i++)
        if (hay[i] == nd[0] && !memcmp(hay + i, nd, nn)) return hay + i;
    return 0;
}

/* Splits raw-text fragments around every occurrence of each special token,
 * taking tokens longest first; control/unknown tokens only with parse_special. */
static void partition(const ember_vocab *v, const char *text, frag_list *l, int parse_special) {
    for (int s = 0; s < v->n_special && !l->oom; s++) {
        const int32_t id = v->special[s];
        if (!parse_special && v->type[id] != TOK_USER_DEFINED) continue;
        const char *st = v->text[id];
        const size_t sl = v->len[id];
        for (size_t i = 0; i < l->n && !l->oom; i++) {
            if (l->f[i].tok >= 0) continue;
            const char *p = find_bytes(text + l->f[i].off, l->f[i].len, st, sl);
            if (!p) continue;
            size_t off = l->f[i].off, len = l->f[i].len, m = (size_t)(p - text);
            /* replace fragment i by [left] special [right]; continue on right */
            size_t at = i;
            if (m > off) {
                l->f[at].len = m - off;
                at++;
                frag_insert(l, at, (fragment){m, sl, id});
            } else {
                l->f[at] = (fragment){m, sl, id};
            }
            if (m + sl < off + len) frag_insert(l, at + 1, (fragment){m + sl, off + len - (m + sl), -1});
            i = at; /* the loop's i++ moves to the right remainder */
        }
    }
}

int ember_vocab_tokenize(const ember_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                         int32_t *out, int max) {
    if (!text && len) return -1;
    tok_buf buf = {0, 0, 0, 0};
    frag_list l = {0, 0, 0, 0};
    if (len) frag_insert(&l, 0, (fragment){0, len, -1});
    partition(v, text, &l, parse_special);
    if (add_special && v->add_bos && v->bos >= 0) tok_push(&buf, v->bos);
    if (v->kind == VOCAB_SPM) {
        int prev_special = 1;
        char *tmp = 0;
        size_t tmp_cap = 0;
        for (size_t i = 0; i < l.n && !buf.oom; i++) {
            if (l.f[i].tok >= 0) { tok_push(&buf, l.f[i].tok); prev_special = 1; continue; }
            /* escape spaces as U+2581, with a leading one after BOS/specials */
            size_t need = (l.f[i].len + 1) * 3;
            if (need > tmp_cap) {
                char *nt = realloc(tmp, need);
                if (!nt) { buf.oom = 1; break; }
                tmp = nt;
                tmp_cap = need;
            }
            size_t k = 0;
            const char *src = text + l.f[i].off;
            if (v->add_space_prefix && prev_special) { memcpy(tmp, "\xe2\x96\x81", 3); k = 3; }
            for (size_t j = 0; j < l.f[i].len; j++) {
                if (src[j] == ' ') { memcpy(tmp + k, "\xe2\x96\x81", 3); k += 3; }
                else tmp[k++] = src[j];
            }
            spm_tokenize(v, tmp, k, &buf);
            prev_special = 0;
        }
        free(tmp);
    } else {
        for (size_t i = 0; i < l.n && !buf.oom; i++) {
            if (l.f[i].tok >= 0) tok_push(&buf, l.f[i].tok);
            else bpe_tokenize(v, text + l.f[i].off, l.f[i].len, &buf);
        }
    }
    if (add_special && v->add_eos && v->eos >= 0) tok_push(&buf, v->eos);
    free(l.f);
    int n;
    if (buf.oom || l.oom || buf.n > (size_t)0x7fffffff) n = -1;
    else if (buf.n > (size_t)max) n = -(int)buf.n;
    else {
        if (buf.n) memcpy(out, buf.v, buf.n * sizeof *out);
        n = (int)buf.n;
    }
    free(buf.v);
    return n;
}

static int copy_out(char *buf, int cap, const char *s, size_t n) {
    if (n > (size_t)cap) return -(int)n;
    memcpy(buf, s, n);
    return (int)n;
}

int ember_vocab_piece(const ember_vocab *v, int32_t tok, char *buf, int cap, int render_special) {
    if (tok < 0 || tok >= v->n) return 0;
    const int t = v->type[tok];
    if (!render_special && (t == TOK_CONTROL || t == TOK_UNKNOWN)) return 0;
    if (t == TOK_CONTROL || t == TOK_UNKNOWN || t == TOK_USER_DEFINED) return copy_out(buf, cap, v->text[tok], v->len[tok]);
    if (v->kind == VOCAB_BPE) return t == TOK_NORMAL ? bpe_piece(v, tok, buf, cap) : 0;
    if (t == TOK_BYTE) {
        unsigned b = 0;
        if (v->len[tok] == 6 && sscanf(v->text[tok] + 3, "%2x", &b) == 1) { char c = (char)b; return copy_out(buf, cap, &c, 1); }
        return 0;
    }
    if (t != TOK_NORMAL) return 0;
    /* U+2581 back to spaces */
    const char *s = v->text[tok];
    size_t n = v->len[tok], k = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3)) {
            if (k < (size_t)cap) buf[k] = ' ';
            k++;
            i += 3;
        } else {
            if (k < (size_t)cap) buf[k] = s[i];
            k++;
            i++;
        }
    }
    return k > (size_t)cap ? -(int)k : (int)k;
}

/* ---- streaming detokenizer ------------------------------------------ */

struct ember_vocab_detok {
    const ember_vocab *v;
    unsigned char pend[8];
    int n_pend;
};

ember_vocab_detok *ember_vocab_detok_create(const ember_vocab *v) {
    ember_vocab_detok *d = calloc(1, sizeof *d);
    if (d) d->v = v;
    return d;
}

void ember_vocab_detok_free(ember_vocab_detok *d) { free(d); }

static int utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return c >= 0xC2 ? 2 : 0;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return c <= 0xF4 ? 4 : 0;
    return 0;
}

/* Validates one UTF-8 sequence of length n (overlongs, surrogates). */
static int utf8_valid(const unsigned char *s, int n) {
    for (int i = 1; i < n; i++) if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3) {
        unsigned cp = ((s[0] & 15u) << 12) | ((s[1] & 63u) << 6) | (s[2] & 63u);
        return cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (n == 4) {
        unsigned cp = ((s[0] & 7u) << 18) | ((s[1] & 63u) << 12) | ((s[2] & 63u) << 6) | (s[3] & 63u);
        return cp >= 0x10000 && cp <= 0x10FFFF;
    }
    return 1;
}

static const char k_replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD};

/* Moves complete characters from pend+bytes to out; keeps a trailing
 * partial sequence pending. Invalid bytes become U+FFFD. */
static int emit(ember_vocab_detok *d, const unsigned char *src, int n, char *out, int cap, int final) {
    unsigned char work[8 + 512];
    int w = 0, k = 0;
    if (d->n_pend) memcpy(work, d->pend, (size_t)d->n_pend);
    w = d->n_pend;
    if (n > 512) return -1;
    if (n) memcpy(work + w, src, (size_t)n);
    w += n;
    d->n_pend = 0;
    int i = 0;
    while (i < w) {
        int L = utf8_len(work[i]);
        if (L == 0) {
            if (k + 3 > cap) return -1;
            memcpy(out + k, k_replacement, 3); k += 3; i++;
            continue;
        }
        if (i + L > w) {
            /* incomplete: keep if the bytes so far could still be valid */
            int ok = 1;
            for (int j = i + 1; j < w; j++) if ((work[j] & 0xC0) != 0x80) ok = 0;
            if (ok && !final) {
                memcpy(d->pend, work + i, (size_t)(w - i));
                d->n_pend = w - i;
                return k;
            }
            if (k + 3 > cap) return -1;
            memcpy(out + k, k_replacement, 3); k += 3; i++;
            continue;
        }
        if (!utf8_valid(work + i, L)) {
            if (k + 3 > cap) return -1;
            memcpy(out + k, k_replacement, 3); k += 3; i++;
            continue;
        }
        if (k + L > cap) return -1;
        memcpy(out + k, work + i, (size_t)L);
        k += L;
        i += L;
    }
    return k;
}

int ember_vocab_detok_push(ember_vocab_detok *d, int32_t tok, char *buf, int cap) {
    char piece[512];
    int n = ember_vocab_piece(d->v, tok, piece, sizeof piece, 0);
    if (n < 0) return -1;
    return emit(d, (const unsigned char *)piece, n, buf, cap, 0);
}

int ember_vocab_detok_flush(ember_vocab_detok *d, char *buf, int cap) {
    return emit(d, 0, 0, buf, cap, 1);
}
