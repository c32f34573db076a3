/* SentencePiece-style tokenization (tokenizer.ggml.model = "llama"): start
 * from UTF-8 characters and repeatedly merge the adjacent pair whose merged
 * text is a token with the highest score (ties: leftmost), then map each
 * symbol to its token, or split it back along the merges that built it, or
 * fall back to byte tokens. Same algorithm and tie-breaking as llama.cpp. */
#include "vocab_internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct { const char *text; int n, prev, next; } symbol;
typedef struct { int left, right; float score; int size; } bigram;

typedef struct {
    symbol *sym;
    bigram *heap;
    int n_heap, cap_heap;
    /* text -> (left, right) of the latest bigram with that text */
    struct { const char *s; int len, left, right; } *rev;
    uint32_t rev_mask;
    int n_rev, oom;
} spm_state;

static int better(const bigram *a, const bigram *b) { /* a pops before b */
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm_state *st, bigram b) {
    if (st->n_heap == st->cap_heap) {
        int nc = st->cap_heap ? st->cap_heap * 2 : 64;
        bigram *nh = realloc(st->heap, (size_t)nc * sizeof *nh);
        if (!nh) { st->oom = 1; return; }
        st->heap = nh;
        st->cap_heap = nc;
    }
    int i = st->n_heap++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!better(&b, &st->heap[p])) break;
        st->heap[i] = st->heap[p];
        i = p;
    }
    st->heap[i] = b;
}

static bigram heap_pop(spm_state *st) {
    bigram top = st->heap[0], last = st->heap[--st->n_heap];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= st->n_heap) break;
        if (c + 1 < st->n_heap && better(&st->heap[c + 1], &st->heap[c])) c++;
        if (!better(&st->heap[c], &last)) break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (st->n_heap) st->heap[i] = last;
    return top;
}

static uint32_t hash_bytes(const char *s, int n) {
    uint32_t h = 2166136261u;
    for (int i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static void rev_put(spm_state *st, const char *s, int len, int left, int right) {
    for (uint32_t h = hash_bytes(s, len) & st->rev_mask;; h = (h + 1) & st->rev_mask) {
        if (!st->rev[h].s || (st->rev[h].len == len && !memcmp(st->rev[h].s, s, (size_t)len))) {
            st->rev[h].s = s; st->rev[h].len = len; st->rev[h].left = left; st->rev[h].right = right;
            return;
        }
    }
}

static int rev_get(const spm_state *st, const char *s, int len, int *left, int *right) {
    for (uint32_t h = hash_bytes(s, len) & st->rev_mask;; h = (h + 1) & st->rev_mask) {
        if (!st->rev[h].s) return 0;
        if (st->rev[h].len == len && !memcmp(st->rev[h].s, s, (size_t)len)) {
            *left = st->rev[h].left; *right = st->rev[h].right;
            return 1;
        }
    }
}

static void try_bigram(const ember_vocab *v, spm_state *st, int left, int right) {
    if (left < 0 || right < 0) return;
    const char *text = st->sym[left].text;
    const int len = st->sym[left].n + st->sym[right].n;
    const int32_t id = vocab_find(v, text, (size_t)len);
    if (id < 0) return;
    heap_push(st, (bigram){left, right, v->score[id], len});
    rev_put(st, text, len, left, right);
}

static void resegment(const ember_vocab *v, const spm_state *st, int i, tok_buf *out, int depth) {
    const symbol *s = &st->sym[i];
    const int32_t id = vocab_find(v, s->text, (size_t)s->n);
    if (id >= 0) { tok_push(out, id); return; }
    int l, r;
    if (depth < 4096 && rev_get(st, s->text, s->n, &l, &r)) {
        resegment(v, st, l, out, depth + 1);
        resegment(v, st, r, out, depth + 1);
        return;
    }
    for (int j = 0; j < s->n; j++) {
        int32_t b = v->byte_tok[(uint8_t)s->text[j]];
        tok_push(out, b >= 0 ? b : v->unk);
    }
}

void spm_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out) {
    if (!len) return;
    spm_state st;
    memset(&st, 0, sizeof st);
    st.sym = malloc(len * sizeof *st.sym);
    uint32_t cap = 16;
    while (cap < 8 * len) cap <<= 1;
    st.rev = calloc(cap, sizeof *st.rev);
    st.rev_mask = cap - 1;
    if (!st.sym || !st.rev) { out->oom = 1; free(st.sym); free(st.rev); return; }
    /* split into UTF-8 characters (lead byte decides the length) */
    static const int lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    int n = 0;
    for (size_t off = 0; off < len;) {
        size_t l = (size_t)lead_len[(uint8_t)text[off] >> 4];
        if (l > len - off) l = len - off;
        st.sym[n] = (symbol){text + off, (int)l, n - 1, off + l == len ? -1 : n + 1};
        off += l;
        n++;
    }
    for (int i = 1; i < n; i++) try_bigram(v, &st, i - 1, i);
    while (st.n_heap > 0 && !st.oom) {
        bigram b = heap_pop(&st);
        symbol *L = &st.sym[b.left], *R = &st.sym[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size) continue; /* stale */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) st.sym[R->next].prev = b.left;
        try_bigram(v, &st, L->prev, b.left);
        try_bigram(v, &st, b.left, L->next);
    }
    if (st.oom) out->oom = 1;
    for (int i = 0; i != -1 && !out->oom; i = st.sym[i].next) resegment(v, &st, i, out, 0);
    free(st.sym);
    free(st.heap);
    free(st.rev);
}
