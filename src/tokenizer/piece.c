/* Token ids back to text: one token's bytes, a whole sequence as
 * llama_detokenize gives it, and a streaming detokenizer that only ever
 * emits complete, valid UTF-8. */
#include "vocab_internal.h"
#include <stdlib.h>
#include <string.h>

static int copy_out(char *buf, int cap, const char *s, size_t n) {
    if (n > (size_t)cap) return -(int)n;
    if (n) memcpy(buf, s, n);
    return (int)n;
}

/* "<0xXX>": the two characters after "<0x" read as hex, as llama.cpp does */
static char byte_of(const ember_vocab *v, int32_t tok) {
    char hex[3] = {0, 0, 0};
    for (uint32_t i = 3; i < 5 && i < v->len[tok]; i++) hex[i - 3] = v->text[tok][i];
    return (char)strtol(hex, 0, 16);
}

int ember_vocab_piece(const ember_vocab *v, int32_t tok, char *buf, int cap, int render_special) {
    if (tok < 0 || tok >= v->n) return 0;
    const int a = v->attr[tok];
    if (!render_special && (a & (ATTR_UNKNOWN | ATTR_CONTROL))) return 0;
    if (a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) return copy_out(buf, cap, v->text[tok], v->len[tok]);
    if (v->kind == VOCAB_BPE) return a & ATTR_NORMAL ? bpe_decode(v, tok, buf, cap) : 0;
    if (a & ATTR_NORMAL) { /* U+2581 back to spaces */
        const char *s = v->text[tok];
        const size_t n = v->len[tok];
        size_t k = 0;
        for (size_t i = 0; i < n; k++) {
            const int esc = i + 3 <= n && !memcmp(s + i, "\xe2\x96\x81", 3);
            if (k < (size_t)cap) buf[k] = esc ? ' ' : s[i];
            i += esc ? 3 : 1;
        }
        return k > (size_t)cap ? -(int)k : (int)k;
    }
    if (a & ATTR_BYTE) {
        const char c = byte_of(v, tok);
        return copy_out(buf, cap, &c, 1);
    }
    return 0; /* unused and undefined tokens have no text */
}

/* One token's piece into a growable buffer at *len. */
static int append_piece(const ember_vocab *v, int32_t tok, int special, char **s, size_t *len, size_t *cap) {
    for (;;) {
        const size_t room = *cap - *len;
        const int n = ember_vocab_piece(v, tok, *s + *len, room > 0x7fffffff ? 0x7fffffff : (int)room, special);
        if (n >= 0) { *len += (size_t)n; return 0; }
        const size_t nc = *cap * 2 + (size_t)-n;
        char *ns = realloc(*s, nc);
        if (!ns) return -1;
        *s = ns;
        *cap = nc;
    }
}

/* llama.cpp's clean-up of tokenization spaces (BPE vocabularies that ask
 * for it), in place: " ?" " !" " ." " ," lose the space; " ' " becomes "'";
 * " 's" " 'm" " 're" " 've" lose the space. Each pass compares with the text
 * as it was before the pass. */
static size_t clean_spaces(char *t, size_t n) {
    size_t k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        const char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) k--;
        t[k++] = x;
    }
    n = k;
    k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        const char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            k--;
            t[++i] = 0; /* the space after is dropped (and no longer counts as a space) */
        }
        t[k++] = x;
    }
    n = k;
    k = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        const char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            const char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm') k--;
            else if (i + 2 < n && ((x1 == 'r' || x1 == 'v') && t[i + 2] == 'e')) k--;
        }
        t[k++] = x;
    }
    return k;
}

int ember_vocab_detokenize(const ember_vocab *v, const int32_t *ids, int n, char *buf, int cap, int remove_special,
                           int render_special) {
    int remove_space = v->add_space_prefix; /* the space SPM put in front */
    if (remove_special && v->add_bos && n > 0 && ids[0] == v->bos) {
        remove_space = 0;
        ids++;
        n--;
    }
    if (remove_special && v->add_eos && n > 0 && ids[n - 1] == v->eos) n--;
    size_t len = 0, scap = 256;
    char *s = malloc(scap);
    if (!s) return -1;
    for (int i = 0; i < n; i++) {
        const size_t at = len;
        if (append_piece(v, ids[i], render_special, &s, &len, &scap)) { free(s); return -1; }
        if (remove_space && len > at && s[at] == ' ') {
            memmove(s + at, s + at + 1, len - at - 1);
            len--;
        }
        remove_space = 0;
    }
    int r;
    if (len > 0x7fffffff) r = -1;
    else if (len > (size_t)cap) r = -(int)len;
    else {
        if (v->clean_spaces) len = clean_spaces(s, len);
        if (len) memcpy(buf, s, len);
        r = (int)len;
    }
    free(s);
    return r;
}

/* ---- streaming ----------------------------------------------------------- */

struct ember_vocab_detok {
    const ember_vocab *v;
    unsigned char pend[4]; /* start of a character not yet complete */
    int n_pend;
    char *piece;
    size_t piece_cap;
};

ember_vocab_detok *ember_vocab_detok_create(const ember_vocab *v) {
    ember_vocab_detok *d = calloc(1, sizeof *d);
    if (!d) return 0;
    d->v = v;
    d->piece_cap = 256;
    if (!(d->piece = malloc(d->piece_cap))) { free(d); return 0; }
    return d;
}

void ember_vocab_detok_free(ember_vocab_detok *d) {
    if (!d) return;
    free(d->piece);
    free(d);
}

/* Length of the character a lead byte starts (0: never a lead byte). */
static int seq_len(unsigned c) {
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

/* Whether s[0..n) (n >= 2) can be the start of a valid character of
 * length L: continuation bytes, no overlong form, no surrogate, <= U+10FFFF. */
static int valid_prefix(const unsigned char *s, int n) {
    for (int i = 1; i < n; i++) if ((s[i] & 0xC0) != 0x80) return 0;
    if (s[0] == 0xE0 && s[1] < 0xA0) return 0;
    if (s[0] == 0xED && s[1] > 0x9F) return 0;
    if (s[0] == 0xF0 && s[1] < 0x90) return 0;
    if (s[0] == 0xF4 && s[1] > 0x8F) return 0;
    return 1;
}

/* Emits the complete characters of pend + src into out; invalid bytes
 * become U+FFFD; an incomplete tail stays pending unless final. On -1
 * (cap too small) the state is unchanged. */
static int emit(ember_vocab_detok *d, const char *src, size_t n, char *out, int cap, int final) {
    const size_t total = (size_t)d->n_pend + n;
#define AT(i) ((i) < (size_t)d->n_pend ? d->pend[i] : (unsigned char)src[(i) - (size_t)d->n_pend])
    size_t k = 0, i = 0;
    unsigned char tail[4];
    int n_tail = 0;
    while (i < total) {
        unsigned char ch[4];
        const int L = seq_len(AT(i));
        int have = 0;
        while (L && have < L && i + (size_t)have < total) { ch[have] = AT(i + (size_t)have); have++; }
        if (L == 1 || (L > 1 && have == L && valid_prefix(ch, L))) {
            if (k + (size_t)L > (size_t)cap) return -1;
            memcpy(out + k, ch, (size_t)L);
            k += (size_t)L;
            i += (size_t)L;
        } else if (L > 1 && have < L && !final && (have < 2 || valid_prefix(ch, have))) {
            memcpy(tail, ch, (size_t)have); /* may still complete with the next token */
            n_tail = have;
            i += (size_t)have;
        } else {
            if (k + 3 > (size_t)cap) return -1;
            memcpy(out + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        }
    }
#undef AT
    memcpy(d->pend, tail, (size_t)n_tail);
    d->n_pend = n_tail;
    return (int)k;
}

int ember_vocab_detok_push(ember_vocab_detok *d, int32_t tok, char *buf, int cap) {
    int n;
    while ((n = ember_vocab_piece(d->v, tok, d->piece, (int)d->piece_cap, 0)) < 0) {
        char *np = realloc(d->piece, (size_t)-n);
        if (!np) return -1;
        d->piece = np;
        d->piece_cap = (size_t)-n;
    }
    return emit(d, d->piece, (size_t)n, buf, cap, 0);
}

int ember_vocab_detok_flush(ember_vocab_detok *d, char *buf, int cap) { return emit(d, 0, 0, buf, cap, 1); }
