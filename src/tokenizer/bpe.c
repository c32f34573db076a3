/* Byte-level BPE (tokenizer.ggml.model = "gpt2"), as llama.cpp does it:
 * 1. pre-tokenize: split the text into pieces with the splitters of the
 *    vocabulary's tokenizer.ggml.pre (each splitter refines the previous
 *    pieces; text between matches stays a piece of its own);
 * 2. map each piece's bytes to the GPT-2 byte-level alphabet;
 * 3. merge adjacent symbols by merge rank (lowest first, then leftmost);
 * 4. emit each symbol's token, or its single bytes' tokens if it has none. */
#include "vocab_internal.h"
#include "unicode.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { PRE_GPT2, PRE_LLAMA3, PRE_QWEN2, PRE_STARCODER, PRE_FALCON, PRE_DEEPSEEK_LLM } pre_kind;

struct bpe_state {
    pre_kind pre;
    int ignore_merges;
    /* merges: "left right" -> rank */
    char **mkey;
    uint32_t *mlen;
    int32_t *mtab;
    uint32_t mmask;
    int n_merges;
    uint32_t byte_cp[256];  /* byte -> code point of the byte-level alphabet */
    int16_t cp_byte[324];   /* inverse, for code points < 324; -1 if none */
};

static uint32_t fnv(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

static int merge_rank(const struct bpe_state *b, const char *l, size_t ln, const char *r, size_t rn) {
    char small[512], *buf = small;
    if (ln + rn + 1 > sizeof small && !(buf = malloc(ln + rn + 1))) return -1;
    memcpy(buf, l, ln);
    buf[ln] = ' ';
    memcpy(buf + ln + 1, r, rn);
    const size_t n = ln + rn + 1;
    int rank = -1;
    for (uint32_t h = fnv(buf, n) & b->mmask;; h = (h + 1) & b->mmask) {
        int32_t i = b->mtab[h];
        if (i < 0) break;
        if (b->mlen[i] == n && !memcmp(b->mkey[i], buf, n)) { rank = i; break; }
    }
    if (buf != small) free(buf);
    return rank;
}

void bpe_free(ember_vocab *v) {
    struct bpe_state *b = v->bpe;
    if (!b) return;
    if (b->mkey) for (int i = 0; i < b->n_merges; i++) free(b->mkey[i]);
    free(b->mkey); free(b->mlen); free(b->mtab);
    free(b);
    v->bpe = 0;
}

static const struct { const char *name; pre_kind kind; } k_pre[] = {
    {"default", PRE_GPT2}, {"gpt-2", PRE_GPT2}, {"gpt2", PRE_GPT2}, {"mpt", PRE_GPT2}, {"olmo", PRE_GPT2},
    {"jais", PRE_GPT2}, {"llama3", PRE_LLAMA3}, {"llama-v3", PRE_LLAMA3}, {"llama-bpe", PRE_LLAMA3},
    {"falcon3", PRE_LLAMA3}, {"dbrx", PRE_LLAMA3}, {"smaug-bpe", PRE_LLAMA3}, {"qwen2", PRE_QWEN2},
    {"stablelm2", PRE_QWEN2}, {"megrez", PRE_QWEN2}, {"starcoder", PRE_STARCODER}, {"refact", PRE_STARCODER},
    {"command-r", PRE_STARCODER}, {"smollm", PRE_STARCODER}, {"codeshell", PRE_STARCODER},
    {"exaone", PRE_STARCODER}, {"minerva-7b", PRE_STARCODER}, {"falcon", PRE_FALCON},
    {"deepseek-llm", PRE_DEEPSEEK_LLM},
};

int bpe_load(ember_vocab *v, const gguf_file *f, char *err, size_t errlen) {
    struct bpe_state *b = calloc(1, sizeof *b);
    if (!b) { snprintf(err, errlen, "out of memory"); return 5; }
    v->bpe = b;
    const char *pre = 0;
    b->pre = PRE_GPT2;
    if (gguf_get_str(f, "tokenizer.ggml.pre", &pre) == 1 && pre) {
        int found = 0;
        for (size_t i = 0; i < sizeof k_pre / sizeof k_pre[0]; i++)
            if (!strcmp(pre, k_pre[i].name)) { b->pre = k_pre[i].kind; found = 1; }
        if (!found)
            fprintf(stderr, "ember: warning: unknown BPE pre-tokenizer '%.60s'; using the gpt-2 rules, "
                            "tokens may differ from the model's own tokenizer\n", pre);
    } else {
        fprintf(stderr, "ember: warning: the vocabulary names no BPE pre-tokenizer; using the gpt-2 rules\n");
    }
    b->ignore_merges = b->pre == PRE_LLAMA3;
    /* byte-level alphabet: printable bytes map to themselves, the rest to 256+ */
    for (int i = 0; i < 324; i++) b->cp_byte[i] = -1;
    int next = 256;
    for (int c = 0; c < 256; c++) {
        const int printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
        b->byte_cp[c] = printable ? (uint32_t)c : (uint32_t)next++;
        b->cp_byte[b->byte_cp[c]] = (int16_t)c;
    }
    gguf_vtype et;
    uint64_t n = 0;
    if (gguf_get_arr_info(f, "tokenizer.ggml.merges", &et, &n) != 1 || et != GGUF_VT_STRING) {
        snprintf(err, errlen, "BPE vocabulary without 'tokenizer.ggml.merges'");
        return 2;
    }
    if (n > (1u << 24)) { snprintf(err, errlen, "too many BPE merges"); return 2; }
    b->n_merges = (int)n;
    uint32_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    b->mkey = calloc(n ? n : 1, sizeof *b->mkey);
    b->mlen = calloc(n ? n : 1, sizeof *b->mlen);
    b->mtab = malloc(cap * sizeof *b->mtab);
    if (!b->mkey || !b->mlen || !b->mtab) { snprintf(err, errlen, "out of memory"); return 5; }
    memset(b->mtab, 0xff, cap * sizeof *b->mtab);
    b->mmask = cap - 1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        const char *s = gguf_get_arr_str(f, "tokenizer.ggml.merges", i, &len);
        /* "left right": the separator is the first space after position 0 */
        if (len > 65536) { snprintf(err, errlen, "BPE merge %llu is longer than 64 KiB", (unsigned long long)i); return 2; }
        b->mkey[i] = malloc(len + 1);
        if (!b->mkey[i]) { snprintf(err, errlen, "out of memory"); return 5; }
        memcpy(b->mkey[i], s, len);
        b->mkey[i][len] = 0;
        b->mlen[i] = (uint32_t)len;
        for (uint32_t h = fnv(s, len) & b->mmask;; h = (h + 1) & b->mmask) {
            int32_t j = b->mtab[h];
            if (j < 0) { b->mtab[h] = (int32_t)i; break; }
            if (b->mlen[j] == len && !memcmp(b->mkey[j], s, len)) break; /* first rank wins */
        }
    }
    return 0;
}

/* ---- pre-tokenizers over code points ---------------------------------- */

typedef struct { size_t *len; size_t n, cap; int oom; } pieces;

static void piece_add(pieces *p, size_t len) {
    if (!len) return;
    if (p->n == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        size_t *nl = realloc(p->len, nc * sizeof *nl);
        if (!nl) { p->oom = 1; return; }
        p->len = nl;
        p->cap = nc;
    }
    p->len[p->n++] = len;
}

typedef struct { const uint32_t *cp; size_t ini, end; } span;

static int cat_at(const span *s, size_t pos) { return pos >= s->ini && pos < s->end ? ember_ucat(s->cp[pos]) : -1; }
static int is_l(const span *s, size_t p) { return cat_at(s, p) == UCAT_L; }
static int is_n(const span *s, size_t p) { return cat_at(s, p) == UCAT_N; }
static int is_ws(const span *s, size_t p) { return p >= s->ini && p < s->end && ember_uwhitespace(s->cp[p]); }
static uint32_t cp_at(const span *s, size_t p) { return p >= s->ini && p < s->end ? s->cp[p] : 0xFFFFFFFFu; }
/* has some category, and is not whitespace, letter or number */
static int is_other(const span *s, size_t p) {
    return p >= s->ini && p < s->end && !is_ws(s, p) && !is_l(s, p) && !is_n(s, p);
}
static uint32_t lower_ascii(uint32_t c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* contractions 's 't 're 've 'm 'll 'd; returns match length or 0 */
static size_t contraction(const span *s, size_t pos, int fold) {
    if (cp_at(s, pos) != '\'' || pos + 1 >= s->end) return 0;
    uint32_t a = cp_at(s, pos + 1), b = pos + 2 < s->end ? cp_at(s, pos + 2) : 0;
    if (fold) { a = lower_ascii(a); b = lower_ascii(b); }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void split_gpt2(const span *s, pieces *out) {
    size_t prev = s->ini;
    for (size_t pos = s->ini; pos < s->end;) {
        size_t c = contraction(s, pos, 0);
        if (c) { pos += c; piece_add(out, pos - prev); prev = pos; continue; }
        const size_t q = cp_at(s, pos) == ' ' ? pos + 1 : pos;
        if (is_l(s, q)) { pos = q; while (is_l(s, pos)) pos++; piece_add(out, pos - prev); prev = pos; continue; }
        if (is_n(s, q)) { pos = q; while (is_n(s, pos)) pos++; piece_add(out, pos - prev); prev = pos; continue; }
        if (is_other(s, q)) { pos = q; while (is_other(s, pos)) pos++; piece_add(out, pos - prev); prev = pos; continue; }
        size_t nws = 0;
        while (is_ws(s, pos + nws)) nws++;
        if (nws > 1 && pos + nws < s->end) { pos += nws - 1; piece_add(out, pos - prev); prev = pos; continue; }
        if (nws > 0) { pos += nws; piece_add(out, pos - prev); prev = pos; continue; }
        pos++;
        piece_add(out, pos - prev);
        prev = pos;
    }
}

/* (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
 *  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
static void split_llama3(const span *s, pieces *out, int max_digits) {
    size_t prev = s->ini;
#define EMIT(p) do { pos = (p); piece_add(out, pos - prev); prev = pos; } while (0)
    for (size_t pos = s->ini; pos < s->end;) {
        const uint32_t cpt = cp_at(s, pos);
        size_t c = contraction(s, pos, 1);
        if (c) { EMIT(pos + c); continue; }
        if (!(cpt == '\r' || cpt == '\n' || is_n(s, pos)) && (is_l(s, pos) || is_l(s, pos + 1))) {
            size_t p = pos + 1;
            while (is_l(s, p)) p++;
            EMIT(p);
            continue;
        }
        if (is_n(s, pos)) {
            size_t ini = pos, p = pos;
            while (is_n(s, p)) {
                if (++p - ini >= (size_t)max_digits) { pos = p; piece_add(out, pos - prev); prev = pos; ini = p; }
            }
            EMIT(p);
            continue;
        }
        const size_t q = cpt == ' ' ? pos + 1 : pos;
        if (is_other(s, q) && cat_at(s, pos) != -1) {
            size_t p = q;
            while (is_other(s, p)) p++;
            while (cp_at(s, p) == '\r' || cp_at(s, p) == '\n') p++;
            EMIT(p);
            continue;
        }
        size_t nws = 0, last_rn = 0;
        while (is_ws(s, pos + nws)) {
            const uint32_t c2 = cp_at(s, pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) { EMIT(last_rn); continue; }
        if (nws > 1 && pos + nws < s->end) { EMIT(pos + nws - 1); continue; }
        if (nws > 0) { EMIT(pos + nws); continue; }
        EMIT(pos + 1);
    }
#undef EMIT
}

/* Splitters with one pattern: maximal runs (run = 1) or single code points
 * (run = 0) of class members become pieces; the text between them too. */
static void split_class(const span *s, pieces *out, int (*member)(uint32_t), int run) {
    size_t prev = s->ini, pos = s->ini;
    while (pos < s->end) {
        if (!member(s->cp[pos])) { pos++; continue; }
        if (pos > prev) piece_add(out, pos - prev);
        size_t e = pos + 1;
        if (run) while (e < s->end && member(s->cp[e])) e++;
        piece_add(out, e - pos);
        prev = pos = e;
    }
    if (s->end > prev) piece_add(out, s->end - prev);
}

static int m_number(uint32_t c) { return ember_ucat(c) == UCAT_N; }
static int m_falcon_punct(uint32_t c) {
    return ember_ucat(c) == UCAT_P || c == '$' || c == '+' || c == '<' || c == '=' || c == '>' || c == '^' ||
           c == '~' || c == '|' || c == '`';
}
static int m_ascii_digit(uint32_t c) { return c >= '0' && c <= '9'; }

/* [0-9][0-9][0-9]: leftmost runs of exactly three ASCII digits */
static void split_digits3(const span *s, pieces *out) {
    size_t prev = s->ini, pos = s->ini;
    while (pos < s->end) {
        if (pos + 3 <= s->end && m_ascii_digit(s->cp[pos]) && m_ascii_digit(s->cp[pos + 1]) && m_ascii_digit(s->cp[pos + 2])) {
            if (pos > prev) piece_add(out, pos - prev);
            piece_add(out, 3);
            prev = pos = pos + 3;
        } else {
            pos++;
        }
    }
    if (s->end > prev) piece_add(out, s->end - prev);
}

/* DeepSeek LLM: [\r\n] | \s?[Latin/Greek/Cyrillic... letters]+ | \s?[ASCII and
 * full-width punctuation]+ | \s+$ | [CJK, Hangul]+ | \p{N}+ applied in turn. */
static int m_newline(uint32_t c) { return c == '\r' || c == '\n'; }
static int m_ds_letter(uint32_t c) {
    /* the alphabetic scripts of the deepseek pattern (Latin, Greek, Cyrillic,
     * Armenian, Georgian, Cherokee, ... ) approximated by letter categories
     * outside the CJK/Hangul blocks handled by m_ds_cjk */
    if (c < 0x80) return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    return ember_ucat(c) == UCAT_L && !(c >= 0x4E00 && c <= 0x9FA5) && !(c >= 0x0800 && c < 0x4E00 && c >= 0x3000) &&
           !(c >= 0xAC00 && c <= 0xD7FF) && c != 0xAA && c != 0xBA && !(c >= 0x3040 && c <= 0x30FF) &&
           !(c >= 0x0600 && c <= 0x06FF) && !(c >= 0x0590 && c <= 0x05FF) && !(c >= 0x0900 && c <= 0x0DFF);
}
static int m_ds_punct(uint32_t c) {
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '~') || (c >= 0xFF01 && c <= 0xFF0F) ||
           (c >= 0xFF1A && c <= 0xFF5E) || (c >= 0x2018 && c <= 0x201F) || (c >= 0x3000 && c <= 0x3002);
}
static int m_ds_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x0800 && c <= 0x4E00) || (c >= 0xAC00 && c <= 0xD7FF);
}

/* \s?[class]+ : an optional single whitespace joins the run that follows */
static void split_ws_class(const span *s, pieces *out, int (*member)(uint32_t)) {
    size_t prev = s->ini, pos = s->ini;
    while (pos < s->end) {
        size_t st = pos;
        if (ember_uwhitespace(s->cp[pos]) && pos + 1 < s->end && member(s->cp[pos + 1])) st = pos + 1;
        else if (!member(s->cp[pos])) { pos++; continue; }
        if (pos > prev) piece_add(out, pos - prev);
        size_t e = st + 1;
        while (e < s->end && member(s->cp[e])) e++;
        piece_add(out, e - pos);
        prev = pos = e;
    }
    if (s->end > prev) piece_add(out, s->end - prev);
}

/* \s+$ : trailing whitespace of the piece */
static void split_trailing_ws(const span *s, pieces *out) {
    size_t e = s->end;
    while (e > s->ini && ember_uwhitespace(s->cp[e - 1])) e--;
    if (e > s->ini) piece_add(out, e - s->ini);
    if (s->end > e) piece_add(out, s->end - e);
}

typedef enum { SP_GPT2, SP_LLAMA3, SP_QWEN2, SP_DIGIT_EACH, SP_FALCON_PUNCT, SP_DIGITS3, SP_NEWLINE,
               SP_DS_LETTERS, SP_DS_PUNCT, SP_TRAILING_WS, SP_DS_CJK, SP_NUMBERS } splitter;

static void apply(splitter k, const uint32_t *cp, pieces *in, pieces *out) {
    size_t start = 0;
    for (size_t i = 0; i < in->n; i++) {
        span s = {cp, start, start + in->len[i]};
        start += in->len[i];
        switch (k) {
        case SP_GPT2: split_gpt2(&s, out); break;
        case SP_LLAMA3: split_llama3(&s, out, 3); break;
        case SP_QWEN2: split_llama3(&s, out, 1); break;
        case SP_DIGIT_EACH: split_class(&s, out, m_number, 0); break;
        case SP_FALCON_PUNCT: split_class(&s, out, m_falcon_punct, 1); break;
        case SP_DIGITS3: split_digits3(&s, out); break;
        case SP_NEWLINE: split_class(&s, out, m_newline, 0); break;
        case SP_DS_LETTERS: split_ws_class(&s, out, m_ds_letter); break;
        case SP_DS_PUNCT: split_ws_class(&s, out, m_ds_punct); break;
        case SP_TRAILING_WS: split_trailing_ws(&s, out); break;
        case SP_DS_CJK: split_class(&s, out, m_ds_cjk, 1); break;
        case SP_NUMBERS: split_class(&s, out, m_number, 1); break;
        }
    }
}

/* ---- merges ------------------------------------------------------------ */

typedef struct { const char *text; int n, prev, next; } sym;
typedef struct { int left, right, rank, size; } pair;

static int pair_before(const pair *a, const pair *b) { return a->rank < b->rank || (a->rank == b->rank && a->left < b->left); }

static void merge_word(const ember_vocab *v, const char *w, size_t wl, tok_buf *out) {
    const struct bpe_state *b = v->bpe;
    if (b->ignore_merges) {
        int32_t id = vocab_find(v, w, wl);
        if (id >= 0) { tok_push(out, id); return; }
    }
    sym *sy = malloc(wl * sizeof *sy);
    pair *heap = malloc((3 * wl + 4) * sizeof *heap);
    if (!sy || !heap) { free(sy); free(heap); out->oom = 1; return; }
    int n = 0, nh = 0;
    static const int lead[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    for (size_t off = 0; off < wl;) {
        size_t l = (size_t)lead[(uint8_t)w[off] >> 4];
        if (l > wl - off) l = wl - off;
        sy[n] = (sym){w + off, (int)l, n - 1, off + l == wl ? -1 : n + 1};
        off += l;
        n++;
    }
#define PUSH(L, R) do { \
        if ((L) >= 0 && (R) >= 0) { \
            int rk = merge_rank(b, sy[L].text, (size_t)sy[L].n, sy[R].text, (size_t)sy[R].n); \
            if (rk >= 0) { \
                pair np = {(L), (R), rk, sy[L].n + sy[R].n}; int i = nh++; \
                while (i > 0 && pair_before(&np, &heap[(i - 1) / 2])) { heap[i] = heap[(i - 1) / 2]; i = (i - 1) / 2; } \
                heap[i] = np; \
            } \
        } } while (0)
    for (int i = 1; i < n; i++) PUSH(i - 1, i);
    while (nh > 0) {
        pair top = heap[0], last = heap[--nh];
        int i = 0;
        for (;;) {
            int c = 2 * i + 1;
            if (c >= nh) break;
            if (c + 1 < nh && pair_before(&heap[c + 1], &heap[c])) c++;
            if (!pair_before(&heap[c], &last)) break;
            heap[i] = heap[c];
            i = c;
        }
        if (nh) heap[i] = last;
        sym *L = &sy[top.left], *R = &sy[top.right];
        if (L->n == 0 || R->n == 0 || L->n + R->n != top.size) continue; /* stale */
        L->n += R->n;
        R->n = 0;
        L->next = R->next;
        if (R->next >= 0) sy[R->next].prev = top.left;
        if (nh + 2 > (int)(3 * wl + 4)) break; /* cannot happen: bounded by merges */
        PUSH(L->prev, top.left);
        PUSH(top.left, L->next);
    }
#undef PUSH
    for (int i = 0; i != -1 && n > 0; i = sy[i].next) {
        if (sy[i].n == 0) continue;
        int32_t id = vocab_find(v, sy[i].text, (size_t)sy[i].n);
        if (id >= 0) { tok_push(out, id); continue; }
        for (int j = 0; j < sy[i].n; j++) {
            int32_t bid = vocab_find(v, sy[i].text + j, 1);
            if (bid >= 0) tok_push(out, bid);
        }
    }
    free(sy);
    free(heap);
}

void bpe_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out) {
    const struct bpe_state *b = v->bpe;
    if (!len) return;
    uint32_t *cp;
    const size_t n = ember_utf8_decode(text, len, &cp);
    if (!cp) { out->oom = 1; return; }
    static const splitter gpt2[] = {SP_GPT2}, llama3[] = {SP_LLAMA3}, qwen2[] = {SP_QWEN2},
                          star[] = {SP_DIGIT_EACH, SP_GPT2}, falcon[] = {SP_FALCON_PUNCT, SP_GPT2, SP_DIGITS3},
                          ds[] = {SP_NEWLINE, SP_DS_LETTERS, SP_DS_PUNCT, SP_TRAILING_WS, SP_DS_CJK, SP_NUMBERS};
    const splitter *seq = gpt2;
    int nseq = 1;
    switch (b->pre) {
    case PRE_GPT2: break;
    case PRE_LLAMA3: seq = llama3; break;
    case PRE_QWEN2: seq = qwen2; break;
    case PRE_STARCODER: seq = star; nseq = 2; break;
    case PRE_FALCON: seq = falcon; nseq = 3; break;
    case PRE_DEEPSEEK_LLM: seq = ds; nseq = 6; break;
    }
    pieces cur = {0, 0, 0, 0};
    piece_add(&cur, n);
    for (int k = 0; k < nseq && !cur.oom; k++) {
        pieces next = {0, 0, 0, 0};
        apply(seq[k], cp, &cur, &next);
        free(cur.len);
        cur = next;
    }
    /* byte-level encoding of each piece, then merges */
    char *word = malloc(n * 8 + 8);
    size_t start = 0;
    for (size_t i = 0; word && i < cur.n && !out->oom; i++) {
        size_t wl = 0;
        for (size_t j = start; j < start + cur.len[i]; j++) {
            char u[4];
            const int k = ember_utf8_encode(cp[j], u);
            for (int t = 0; t < k; t++) wl += (size_t)ember_utf8_encode(b->byte_cp[(uint8_t)u[t]], word + wl);
        }
        start += cur.len[i];
        merge_word(v, word, wl, out);
    }
    if (!word || cur.oom) out->oom = 1;
    free(word);
    free(cur.len);
    free(cp);
}

int bpe_piece(const ember_vocab *v, int32_t tok, char *buf, int cap) {
    const struct bpe_state *b = v->bpe;
    uint32_t *cp;
    const size_t n = ember_utf8_decode(v->text[tok], v->len[tok], &cp);
    if (!cp) return 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char tmp[24];
        int tl;
        if (cp[i] < 324 && b->cp_byte[cp[i]] >= 0) { tmp[0] = (char)b->cp_byte[cp[i]]; tl = 1; }
        else tl = snprintf(tmp, sizeof tmp, "[UNK_BYTE_0x%x]", (unsigned)cp[i]);
        for (int t = 0; t < tl; t++) { if (k < (size_t)cap) buf[k] = tmp[t]; k++; }
    }
    free(cp);
    return k > (size_t)cap ? -(int)k : (int)k;
}
