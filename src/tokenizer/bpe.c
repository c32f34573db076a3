/* Byte-level BPE (tokenizer.ggml.model = "gpt2"), as llama.cpp does it:
 * 1. pre-tokenize the fragment into pieces (pretok.c);
 * 2. write each piece's UTF-8 bytes in GPT-2's byte alphabet (printable
 *    bytes stand for themselves, the others for U+0100..U+0143);
 * 3. merge adjacent symbols, lowest merge rank first (ties: leftmost);
 * 4. emit each symbol's token, or the tokens of its single bytes. */
#include "vocab_internal.h"
#include "unicode.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MERGES (1u << 24)

/* "left right" strings; the rank of a pair is the index of its first
 * occurrence. */
struct bpe_merges {
    char *arena;
    const char **s;
    uint32_t *left_len, *len;
    int32_t *tab; /* open addressing over pair hashes -> merge index */
    uint32_t mask;
};

static uint32_t pair_hash(const char *l, size_t ln, const char *r, size_t rn) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < ln; i++) h = (h ^ (uint8_t)l[i]) * 16777619u;
    h = (h ^ 0xFFu) * 16777619u; /* 0xFF never occurs in UTF-8 */
    for (size_t i = 0; i < rn; i++) h = (h ^ (uint8_t)r[i]) * 16777619u;
    return h;
}

static int merge_rank(const struct bpe_merges *m, const char *l, size_t ln, const char *r, size_t rn) {
    for (uint32_t h = pair_hash(l, ln, r, rn) & m->mask;; h = (h + 1) & m->mask) {
        const int32_t i = m->tab[h];
        if (i < 0) return -1;
        const uint32_t a = m->left_len[i];
        if (a == ln && m->len[i] == ln + 1 + rn && !memcmp(m->s[i], l, ln) && !memcmp(m->s[i] + ln + 1, r, rn)) return i;
    }
}

void bpe_free(ember_vocab *v) {
    struct bpe_merges *m = v->merges;
    if (!m) return;
    free(m->arena); free(m->s); free(m->left_len); free(m->len); free(m->tab);
    free(m);
    v->merges = 0;
}

int bpe_load(ember_vocab *v, const gguf_file *f, char *err, size_t errlen) {
    for (int c = 0, next = 256; c < 256; c++) {
        const int printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE;
        v->byte_cp[c] = (uint16_t)(printable ? c : next);
        if (!printable) v->byte_cp_inv[next++ - 256] = (uint8_t)c;
    }
    gguf_vtype et;
    uint64_t n = 0;
    if (gguf_get_arr_info(f, "tokenizer.ggml.merges", &et, &n) != 1 || et != GGUF_VT_STRING) {
        snprintf(err, errlen, "BPE vocabulary without 'tokenizer.ggml.merges'");
        return 2;
    }
    if (n > MAX_MERGES) { snprintf(err, errlen, "too many BPE merges (%llu)", (unsigned long long)n); return 2; }
    struct bpe_merges *m = calloc(1, sizeof *m);
    if (!m) { snprintf(err, errlen, "out of memory"); return 5; }
    v->merges = m;
    uint32_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    m->s = calloc(n ? n : 1, sizeof *m->s);
    m->left_len = calloc(n ? n : 1, sizeof *m->left_len);
    m->len = calloc(n ? n : 1, sizeof *m->len);
    m->tab = malloc(cap * sizeof *m->tab);
    if (!m->s || !m->left_len || !m->len || !m->tab) { snprintf(err, errlen, "out of memory"); return 5; }
    memset(m->tab, 0xff, cap * sizeof *m->tab);
    m->mask = cap - 1;
    size_t total = 1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = 0;
        const char *s = gguf_get_arr_str(f, "tokenizer.ggml.merges", i, &len);
        /* the separator is the first space after the first byte */
        const char *sp = s && len > 1 ? memchr(s + 1, ' ', len - 1) : 0;
        if (!sp || len > 0xFFFFFFFFu) {
            snprintf(err, errlen, "BPE merge %llu is not of the form 'left right'", (unsigned long long)i);
            return 2;
        }
        m->len[i] = (uint32_t)len;
        m->left_len[i] = (uint32_t)(sp - s);
        total += len;
    }
    if (!(m->arena = malloc(total))) { snprintf(err, errlen, "out of memory"); return 5; }
    char *at = m->arena;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = 0;
        memcpy(at, gguf_get_arr_str(f, "tokenizer.ggml.merges", i, &len), m->len[i]);
        const char *s = m->s[i] = at;
        at += m->len[i];
        const size_t ln = m->left_len[i], rn = m->len[i] - ln - 1;
        for (uint32_t h = pair_hash(s, ln, s + ln + 1, rn) & m->mask;; h = (h + 1) & m->mask) {
            const int32_t j = m->tab[h];
            if (j < 0) { m->tab[h] = (int32_t)i; break; }
            if (m->left_len[j] == ln && m->len[j] == m->len[i] && !memcmp(m->s[j], s, m->len[i])) break; /* first rank wins */
        }
    }
    return 0;
}

/* ---- merging one pre-tokenized word ------------------------------------ */

typedef struct { const char *text; int n, prev, next; } sym;
typedef struct { int left, right, rank, size; } pair;

static int pair_before(const pair *a, const pair *b) { return a->rank < b->rank || (a->rank == b->rank && a->left < b->left); }

typedef struct { pair *h; size_t n, cap; int oom; } pair_heap;

static void heap_push(pair_heap *q, pair p) {
    if (q->n == q->cap) {
        const size_t nc = q->cap ? q->cap * 2 : 64;
        pair *nh = realloc(q->h, nc * sizeof *nh);
        if (!nh) { q->oom = 1; return; }
        q->h = nh;
        q->cap = nc;
    }
    size_t i = q->n++;
    while (i > 0 && pair_before(&p, &q->h[(i - 1) / 2])) { q->h[i] = q->h[(i - 1) / 2]; i = (i - 1) / 2; }
    q->h[i] = p;
}

static pair heap_pop(pair_heap *q) {
    const pair top = q->h[0], last = q->h[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && pair_before(&q->h[c + 1], &q->h[c])) c++;
        if (!pair_before(&q->h[c], &last)) break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (q->n) q->h[i] = last;
    return top;
}

static void try_pair(const ember_vocab *v, const sym *sy, pair_heap *q, int l, int r) {
    if (l < 0 || r < 0) return;
    const int rk = merge_rank(v->merges, sy[l].text, (size_t)sy[l].n, sy[r].text, (size_t)sy[r].n);
    if (rk >= 0) heap_push(q, (pair){l, r, rk, sy[l].n + sy[r].n});
}

static void merge_word(const ember_vocab *v, const char *w, size_t wl, sym *sy, pair_heap *q, tok_buf *out) {
    if (v->ignore_merges) {
        const int32_t id = vocab_find(v, w, wl);
        if (id >= 0) { tok_push(out, id); return; }
    }
    static const int lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    int n = 0;
    for (size_t off = 0; off < wl; n++) {
        size_t l = (size_t)lead_len[(uint8_t)w[off] >> 4];
        if (l > wl - off) l = wl - off;
        sy[n] = (sym){w + off, (int)l, n - 1, off + l == wl ? -1 : n + 1};
        off += l;
    }
    q->n = 0;
    for (int i = 1; i < n; i++) try_pair(v, sy, q, i - 1, i);
    while (q->n > 0 && !q->oom) {
        const pair p = heap_pop(q);
        sym *L = &sy[p.left], *R = &sy[p.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != p.size) continue; /* outdated */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = p.left;
        try_pair(v, sy, q, L->prev, p.left);
        try_pair(v, sy, q, p.left, L->next);
    }
    if (q->oom) { out->oom = 1; return; }
    for (int i = 0; i != -1 && n > 0; i = sy[i].next) {
        const int32_t id = vocab_find(v, sy[i].text, (size_t)sy[i].n);
        if (id >= 0) { tok_push(out, id); continue; }
        for (int j = 0; j < sy[i].n; j++) { /* single bytes that happen to be tokens */
            const int32_t bid = vocab_find(v, sy[i].text + j, 1);
            if (bid >= 0) tok_push(out, bid);
        }
    }
}

void bpe_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out) {
    if (!len) return;
    uint32_t *cp;
    const size_t n = ember_utf8_decode(text, len, &cp);
    size_t np = 0, maxp = 0;
    size_t *plen = cp ? pretok_split(v->pre, cp, n, &np) : 0;
    for (size_t i = 0; i < np; i++) if (plen[i] > maxp) maxp = plen[i];
    /* a code point is up to 4 bytes, each one symbol of up to 2 bytes */
    char *word = malloc(maxp * 8 + 8);
    sym *sy = malloc((maxp * 4 + 4) * sizeof *sy);
    pair_heap q = {0, 0, 0, 0};
    if (!cp || !plen || !word || !sy) out->oom = 1;
    size_t start = 0;
    for (size_t i = 0; i < np && !out->oom; i++) {
        size_t wl = 0;
        for (size_t j = start; j < start + plen[i]; j++) {
            char u[4];
            const int k = ember_utf8_encode(cp[j], u);
            for (int t = 0; t < k; t++) wl += (size_t)ember_utf8_encode(v->byte_cp[(uint8_t)u[t]], word + wl);
        }
        start += plen[i];
        merge_word(v, word, wl, sy, &q, out);
    }
    free(q.h);
    free(sy);
    free(word);
    free(plen);
    free(cp);
}

/* GPT-2 byte alphabet back to bytes; a code point outside it gives
 * "[UNK_BYTE_0x<its UTF-8 in hex><token text>]" as in llama.cpp. That grows
 * with the square of a broken token's length, so the text stops at 16 MiB. */
#define MAX_PIECE ((size_t)1 << 24)
int bpe_decode(const ember_vocab *v, int32_t tok, char *buf, int cap) {
    uint32_t *cp;
    const size_t n = ember_utf8_decode(v->text[tok], v->len[tok], &cp);
    if (!cp) return 0;
    size_t k = 0;
#define PUT(ch) do { if (k < MAX_PIECE) { if (k < (size_t)cap) buf[k] = (char)(ch); k++; } } while (0)
    for (size_t i = 0; i < n; i++) {
        const uint32_t c = cp[i];
        const int printable = (c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF);
        if (printable) { PUT(c); continue; }
        if (c >= 256 && c < 324) { PUT(v->byte_cp_inv[c - 256]); continue; }
        char u[4], hex[3];
        const int ul = ember_utf8_encode(c, u);
        for (const char *s = "[UNK_BYTE_0x"; *s; s++) PUT(*s);
        for (int j = 0; j < ul; j++) {
            snprintf(hex, sizeof hex, "%02x", (uint8_t)u[j]);
            PUT(hex[0]);
            PUT(hex[1]);
        }
        for (uint32_t j = 0; j < v->len[tok]; j++) PUT(v->text[tok][j]);
        PUT(']');
    }
#undef PUT
    free(cp);
    return k > (size_t)cap ? -(int)k : (int)k;
}
