/* SentencePiece-style tokenization (tokenizer.ggml.model = "llama"), as
 * llama.cpp does it: start from UTF-8 characters (the lead byte gives the
 * length), repeatedly merge the adjacent pair whose concatenation is a token
 * with the highest score (ties: leftmost), then emit each symbol's token.
 * A merged symbol is a token by construction, so only an unmerged character
 * can be missing from the vocabulary: it falls back to byte tokens.
 * (llama.cpp also keeps a map to split such symbols along earlier merges;
 * with the argument above it can only ever be consulted in vain.) */
#include "vocab_internal.h"
#include <stdlib.h>
#include <string.h>

typedef struct { const char *text; int n, prev, next; } symbol;
typedef struct { int left, right; float score; int size; } bigram;
typedef struct { bigram *h; int n, cap, oom; } bigram_heap;

static int better(const bigram *a, const bigram *b) { /* a pops before b */
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(bigram_heap *q, bigram b) {
    if (q->n == q->cap) {
        const int nc = q->cap ? q->cap * 2 : 64;
        bigram *nh = q->cap < (1 << 28) ? realloc(q->h, (size_t)nc * sizeof *nh) : 0;
        if (!nh) { q->oom = 1; return; }
        q->h = nh;
        q->cap = nc;
    }
    int i = q->n++;
    while (i > 0 && better(&b, &q->h[(i - 1) / 2])) {
        q->h[i] = q->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->h[i] = b;
}

static bigram heap_pop(bigram_heap *q) {
    const bigram top = q->h[0], last = q->h[--q->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && better(&q->h[c + 1], &q->h[c])) c++;
        if (!better(&q->h[c], &last)) break;
        q->h[i] = q->h[c];
        i = c;
    }
    if (q->n) q->h[i] = last;
    return top;
}

static void try_bigram(const ember_vocab *v, const symbol *sym, bigram_heap *q, int left, int right) {
    if (left < 0 || right < 0) return;
    const int len = sym[left].n + sym[right].n;
    const int32_t id = vocab_find(v, sym[left].text, (size_t)len);
    if (id >= 0) heap_push(q, (bigram){left, right, v->score[id], len});
}

void spm_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out) {
    if (!len) return;
    if (len > 0x7fffffff) { out->oom = 1; return; }
    symbol *sym = malloc(len * sizeof *sym);
    bigram_heap q = {0, 0, 0, 0};
    if (!sym) { out->oom = 1; return; }
    static const int lead_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    int n = 0;
    for (size_t off = 0; off < len; n++) {
        size_t l = (size_t)lead_len[(uint8_t)text[off] >> 4];
        if (l > len - off) l = len - off;
        sym[n] = (symbol){text + off, (int)l, n - 1, off + l == len ? -1 : n + 1};
        off += l;
    }
    for (int i = 1; i < n; i++) try_bigram(v, sym, &q, i - 1, i);
    while (q.n > 0 && !q.oom) {
        const bigram b = heap_pop(&q);
        symbol *L = &sym[b.left], *R = &sym[b.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != b.size) continue; /* outdated */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) sym[R->next].prev = b.left;
        try_bigram(v, sym, &q, L->prev, b.left);
        try_bigram(v, sym, &q, b.left, L->next);
    }
    if (q.oom) out->oom = 1;
    for (int i = 0; i != -1 && !out->oom; i = sym[i].next) {
        const int32_t id = vocab_find(v, sym[i].text, (size_t)sym[i].n);
        if (id >= 0) { tok_push(out, id); continue; }
        int all = 1;
        for (int j = 0; j < sym[i].n; j++) all &= v->byte_tok[(uint8_t)sym[i].text[j]] >= 0;
        if (all) {
            for (int j = 0; j < sym[i].n; j++) tok_push(out, v->byte_tok[(uint8_t)sym[i].text[j]]);
        } else if (v->unk >= 0) {
            /* no byte fallback in this vocabulary (llama.cpp would throw):
             * one unknown token for the character, as SentencePiece does */
            tok_push(out, v->unk);
        }
    }
    free(sym);
    free(q.h);
}
