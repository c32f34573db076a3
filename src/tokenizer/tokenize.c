/* Text to token ids: special tokens are split out of the text first
 * (longest text first, every occurrence, as llama.cpp's partition does),
 * then each remaining raw fragment goes through SPM or BPE, with BOS/EOS
 * around the whole as the vocabulary asks. */
#include "vocab_internal.h"
#include <stdlib.h>
#include <string.h> /* memmem: the build defines _GNU_SOURCE */

/* Fragments form a linked list inside a growable array. */
typedef struct { size_t off, len; int32_t tok; int next; } frag; /* tok >= 0: a special token */
typedef struct { frag *f; int n, cap; int oom; } frag_list;

static int frag_new(frag_list *l, size_t off, size_t len, int32_t tok) {
    if (l->n == l->cap) {
        const int nc = l->cap ? l->cap * 2 : 16;
        frag *nf = l->cap < (1 << 28) ? realloc(l->f, (size_t)nc * sizeof *nf) : 0;
        if (!nf) { l->oom = 1; return -1; }
        l->f = nf;
        l->cap = nc;
    }
    l->f[l->n] = (frag){off, len, tok, -1};
    return l->n++;
}

static int is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); } /* C isspace */

/* Splits raw fragment `cur` around the occurrences of special token id,
 * left to right. LSTRIP/RSTRIP drop the whitespace next to the token.
 * Returns the node after which the caller continues. */
static int split_fragment(const ember_vocab *v, const char *text, frag_list *l, int cur, int32_t id) {
    const char *st = v->text[id];
    const size_t sl = v->len[id];
    const int attr = v->attr[id];
    size_t bo = l->f[cur].off, bl = l->f[cur].len;
    for (;;) {
        const char *p = bl >= sl ? memmem(text + bo, bl, st, sl) : 0;
        if (!p) return cur;
        const size_t m = (size_t)(p - text);
        size_t left = m - bo;
        if (attr & ATTR_LSTRIP) while (left > 0 && is_space(text[bo + left - 1])) left--;
        size_t ro = m + sl, rl = bo + bl - ro;
        const int has_right = rl > 0;
        if (attr & ATTR_RSTRIP) while (rl > 0 && is_space(text[ro])) ro++, rl--;
        const int after = l->f[cur].next;
        int chain[3], nc = 0;
        if (left) chain[nc++] = frag_new(l, bo, left, -1);
        chain[nc++] = frag_new(l, m, sl, id);
        if (rl) chain[nc++] = frag_new(l, ro, rl, -1);
        if (l->oom) return -1;
        l->f[cur] = l->f[chain[0]]; /* node cur takes the first piece's place */
        chain[0] = cur;
        for (int i = 0; i < nc; i++) l->f[chain[i]].next = i + 1 < nc ? chain[i + 1] : after;
        if (!has_right || !rl) return chain[nc - 1];
        cur = chain[nc - 1]; /* go on in the right remainder */
        bo = ro;
        bl = rl;
    }
}

static void partition(const ember_vocab *v, const char *text, size_t len, frag_list *l, int parse_special) {
    uint8_t present[256] = {0}; /* bytes in the text: a cheap filter */
    for (size_t i = 0; i < len; i++) present[(uint8_t)text[i]] = 1;
    for (int s = 0; s < v->n_special && !l->oom; s++) {
        const int32_t id = v->special[s];
        if (!parse_special && (v->attr[id] & (ATTR_CONTROL | ATTR_UNKNOWN))) continue;
        if (v->len[id] > len || !present[(uint8_t)v->text[id][0]]) continue;
        for (int i = 0; i >= 0 && !l->oom; i = l->f[i].next) {
            if (l->f[i].tok >= 0) continue;
            i = split_fragment(v, text, l, i, id);
            if (i < 0) break;
        }
    }
}

static void spm_fragments(const ember_vocab *v, const char *text, const frag_list *l, tok_buf *out) {
    int prev_special = 1; /* a space goes in front of the first raw fragment and of any after a special token */
    char *tmp = 0;
    size_t tmp_cap = 0;
    for (int i = l->n ? 0 : -1; i >= 0 && !out->oom; i = l->f[i].next) {
        const frag *fr = &l->f[i];
        if (fr->tok >= 0) {
            tok_push(out, fr->tok);
            prev_special = 1;
            continue;
        }
        const size_t need = (fr->len + 1) * 3;
        if (need > tmp_cap) {
            char *nt = realloc(tmp, need);
            if (!nt) { out->oom = 1; break; }
            tmp = nt;
            tmp_cap = need;
        }
        size_t k = 0;
        const char *src = text + fr->off;
        if (v->add_space_prefix && prev_special) { memcpy(tmp, "\xe2\x96\x81", 3); k = 3; }
        for (size_t j = 0; j < fr->len; j++) {
            if (src[j] == ' ') { memcpy(tmp + k, "\xe2\x96\x81", 3); k += 3; }
            else tmp[k++] = src[j];
        }
        spm_tokenize(v, tmp, k, out);
        prev_special = 0;
    }
    free(tmp);
}

int ember_vocab_tokenize(const ember_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                         int32_t *out, int max) {
    if (!text && len) return -1;
    tok_buf buf = {0, 0, 0, 0};
    frag_list l = {0, 0, 0, 0};
    if (len) {
        frag_new(&l, 0, len, -1);
        partition(v, text, len, &l, parse_special);
    }
    if (add_special && v->add_bos) tok_push(&buf, v->bos);
    if (!l.oom) {
        if (v->kind == VOCAB_SPM) {
            spm_fragments(v, text, &l, &buf);
        } else {
            for (int i = l.n ? 0 : -1; i >= 0 && !buf.oom; i = l.f[i].next) {
                if (l.f[i].tok >= 0) tok_push(&buf, l.f[i].tok);
                else bpe_tokenize(v, text + l.f[i].off, l.f[i].len, &buf);
            }
        }
    }
    if (add_special && v->add_eos) tok_push(&buf, v->eos);
    int n;
    if (buf.oom || l.oom || buf.n > 0x7fffffff) n = -1; /* out of memory */
    else if (buf.n > (size_t)(max < 0 ? 0 : max)) n = -(int)buf.n;
    else {
        if (buf.n) memcpy(out, buf.v, buf.n * sizeof *out);
        n = (int)buf.n;
    }
    free(l.f);
    free(buf.v);
    return n;
}
