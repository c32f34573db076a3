/* Tokenizer against llama.cpp c392e50: the 180 cases of
 * ../shared/tokenizer-tests (SPM and five BPE pre-tokenizers), the golden
 * prompts of two models, ids that llama.cpp gives for the pre-tokenizers
 * without a shared vocabulary (tested on the gpt-2 vocabulary with another
 * tokenizer.ggml.pre), special tokens, invalid UTF-8, detokenization,
 * streaming, and the validation of broken vocabularies. Expected ids not
 * in ../shared come from llama.cpp's libllama at that commit. */
#include "test.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include <stdint.h>
#include <unistd.h>

/* ---- a small JSON-lines reader: one flat object a line, string values
 * (all escapes, \u with surrogate pairs), integer arrays; other values are
 * skipped ---------------------------------------------------------------- */

typedef struct { char key[32]; char *s; size_t slen; int32_t *a; int na; int is_arr; } jfield;
typedef struct { jfield f[16]; int n; } jobj;

static const char *jws(const char *p) { while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++; return p; }

static int put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

static int hex4(const char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        const char c = p[i];
        const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return 0;
        v = v * 16 + (unsigned)d;
    }
    *out = v;
    return 1;
}

/* p at the opening quote; returns the position after the closing one */
static const char *jstr(const char *p, char **out, size_t *len) {
    char *o = malloc(strlen(p) + 1);
    size_t n = 0;
    for (p++; *p && *p != '"'; p++) {
        if (*p != '\\') { o[n++] = *p; continue; }
        p++;
        switch (*p) {
        case 'n': o[n++] = '\n'; break;
        case 't': o[n++] = '\t'; break;
        case 'r': o[n++] = '\r'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(p + 1, &cp)) { free(o); return 0; }
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u' && hex4(p + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            n += (size_t)put_utf8(o + n, cp);
            break;
        }
        case 0: free(o); return 0;
        default: o[n++] = *p; /* \" \\ \/ */
        }
    }
    if (*p != '"') { free(o); return 0; }
    o[n] = 0;
    *out = o;
    *len = n;
    return p + 1;
}

static const char *jskip(const char *p) { /* numbers, true/false/null */
    while (*p && *p != ',' && *p != '}' && *p != ']') p++;
    return p;
}

static void jfree(jobj *o) {
    for (int i = 0; i < o->n; i++) { free(o->f[i].s); free(o->f[i].a); }
    o->n = 0;
}

static int jparse(const char *line, jobj *o) {
    memset(o, 0, sizeof *o);
    const char *p = jws(line);
    if (*p++ != '{') return 0;
    for (;;) {
        p = jws(p);
        if (*p == '}') return 1;
        if (*p != '"' || o->n == 16) goto bad;
        jfield *f = &o->f[o->n++];
        char *key;
        size_t kl;
        if (!(p = jstr(p, &key, &kl))) goto bad;
        snprintf(f->key, sizeof f->key, "%s", key);
        free(key);
        p = jws(p);
        if (*p++ != ':') goto bad;
        p = jws(p);
        if (*p == '"') {
            if (!(p = jstr(p, &f->s, &f->slen))) goto bad;
        } else if (*p == '[') {
            f->is_arr = 1;
            int cap = 16;
            f->a = malloc((size_t)cap * sizeof *f->a);
            for (p = jws(p + 1); *p != ']';) {
                char *e;
                const long v = strtol(p, &e, 10);
                if (e == p) goto bad;
                if (f->na == cap) f->a = realloc(f->a, (size_t)(cap *= 2) * sizeof *f->a);
                f->a[f->na++] = (int32_t)v;
                p = jws(e);
                if (*p == ',') p = jws(p + 1);
            }
            p++;
        } else {
            p = jskip(p);
        }
        p = jws(p);
        if (*p == ',') p++;
    }
bad:
    jfree(o);
    return 0;
}

static jfield *jget(jobj *o, const char *key) {
    for (int i = 0; i < o->n; i++) if (!strcmp(o->f[i].key, key)) return &o->f[i];
    return 0;
}

/* ---- vocabularies ------------------------------------------------------- */

typedef struct { gguf_file *f; ember_vocab *v; } tvocab;

static int tv_open(tvocab *t, const char *path) {
    char err[256];
    t->f = 0;
    t->v = 0;
    if (!path) return -1;
    if (gguf_open(path, &t->f, err, sizeof err)) { fprintf(stderr, "  %s: %s\n", path, err); return -1; }
    const int st = ember_vocab_load(t->f, &t->v, err, sizeof err);
    if (st) { fprintf(stderr, "  %s: %s\n", path, err); gguf_close(t->f); t->f = 0; return st; }
    return 0;
}

static void tv_close(tvocab *t) {
    ember_vocab_free(t->v);
    gguf_close(t->f);
    t->v = 0;
    t->f = 0;
}

static int tv_shared(tvocab *t, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizer-tests/ggml-vocab-%s.gguf", name);
    return tv_open(t, test_shared_path(rel));
}

#define MAXTOK 4096

/* tokenize and compare with expected ids */
static int same_ids(const ember_vocab *v, const char *text, size_t len, int add, int parse, const int32_t *want, int nwant) {
    int32_t out[MAXTOK];
    const int n = ember_vocab_tokenize(v, text, len, add, parse, out, MAXTOK);
    if (n == nwant && !memcmp(out, want, (size_t)n * sizeof *out)) return 1;
    fprintf(stderr, "  got %d ids:", n);
    for (int i = 0; i < n && i < 40; i++) fprintf(stderr, " %d", out[i]);
    fprintf(stderr, "\n  want %d ids:", nwant);
    for (int i = 0; i < nwant && i < 40; i++) fprintf(stderr, " %d", want[i]);
    fputc('\n', stderr);
    return 0;
}
#define IDS(...) ((const int32_t[]){__VA_ARGS__}), (int)(sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))

/* ---- llama.cpp's ids for the shared cases --------------------------------- */

static void llama_cpp_cases(void) {
    const char *path = test_shared_path("tokenizer-tests/cases.jsonl");
    if (!path) SKIP("../shared/tokenizer-tests not found");
    FILE *fp = fopen(path, "r");
    CHECK(fp != 0);
    if (!fp) return;
    char *line = 0, last[256] = "";
    size_t cap = 0;
    tvocab tv = {0, 0};
    int ok = 0, total = 0;
    while (getline(&line, &cap, fp) > 0) {
        jobj o;
        if (!jparse(line, &o)) continue;
        jfield *voc = jget(&o, "vocab"), *text = jget(&o, "text"), *ids = jget(&o, "ids");
        if (!voc || !voc->s || !text || !text->s || !ids || !ids->is_arr) { jfree(&o); continue; }
        if (strcmp(voc->s, last)) {
            tv_close(&tv);
            char rel[300];
            snprintf(rel, sizeof rel, "tokenizer-tests/%.250s", voc->s);
            tv_open(&tv, test_shared_path(rel));
            snprintf(last, sizeof last, "%s", voc->s);
        }
        total++;
        int32_t out[MAXTOK];
        const int n = tv.v ? ember_vocab_tokenize(tv.v, text->s, text->slen, 1, 1, out, MAXTOK) : -1;
        if (n == ids->na && !memcmp(out, ids->a, (size_t)n * sizeof *out)) ok++;
        else fprintf(stderr, "  FAIL %s: \"%s\": %d ids, expected %d\n", voc->s, text->s, n, ids->na);
        jfree(&o);
    }
    tv_close(&tv);
    free(line);
    fclose(fp);
    fprintf(stderr, "  %d/%d cases exact\n", ok, total);
    CHECK(total == 180);
    CHECK(ok == total);
}

/* Tokenize without special tokens, detokenize as llama_detokenize does
 * (SPM drops the space it put in front): the text comes back for every
 * case, as with llama.cpp. The streaming detokenizer gives the same text
 * (SPM: with that space) in chunks that never end inside a character. */
static void round_trip_and_streaming(void) {
    const char *path = test_shared_path("tokenizer-tests/cases.jsonl");
    if (!path) SKIP("../shared/tokenizer-tests not found");
    FILE *fp = fopen(path, "r");
    if (!fp) { CHECK(0); return; }
    char *line = 0, last[256] = "";
    size_t cap = 0;
    tvocab tv = {0, 0};
    int bad = 0, total = 0;
    while (getline(&line, &cap, fp) > 0) {
        jobj o;
        if (!jparse(line, &o)) continue;
        jfield *voc = jget(&o, "vocab"), *text = jget(&o, "text");
        if (!voc || !voc->s || !text || !text->s) { jfree(&o); continue; }
        if (strcmp(voc->s, last)) {
            tv_close(&tv);
            char rel[300];
            snprintf(rel, sizeof rel, "tokenizer-tests/%.250s", voc->s);
            tv_open(&tv, test_shared_path(rel));
            snprintf(last, sizeof last, "%s", voc->s);
        }
        if (!tv.v) { bad++; jfree(&o); continue; }
        total++;
        int32_t ids[MAXTOK];
        const int n = ember_vocab_tokenize(tv.v, text->s, text->slen, 0, 0, ids, MAXTOK);
        char back[8192];
        const int k = n >= 0 ? ember_vocab_detokenize(tv.v, ids, n, back, sizeof back, 0, 0) : -1;
        if (k != (int)text->slen || memcmp(back, text->s, text->slen)) {
            bad++;
            fprintf(stderr, "  %s: \"%s\" came back as \"%.*s\"\n", voc->s, text->s, k > 0 ? k : 0, back);
        }
        /* streaming */
        ember_vocab_detok *d = ember_vocab_detok_create(tv.v);
        char s[8192];
        size_t sl = 0;
        int chunk_ok = 1;
        for (int i = 0; d && i < n; i++) {
            char buf[256];
            const int w = ember_vocab_detok_push(d, ids[i], buf, sizeof buf);
            if (w < 0) { chunk_ok = 0; break; }
            if (w > 0) {
                int lead = w - 1; /* the last character must be complete */
                while (lead > 0 && ((unsigned char)buf[lead] & 0xC0) == 0x80) lead--;
                const unsigned char l0 = (unsigned char)buf[lead];
                const int need = l0 < 0x80 ? 1 : l0 >= 0xF0 ? 4 : l0 >= 0xE0 ? 3 : 2;
                if (w - lead != need) chunk_ok = 0;
            }
            memcpy(s + sl, buf, (size_t)w);
            sl += (size_t)w;
        }
        if (d) sl += (size_t)ember_vocab_detok_flush(d, s + sl, (int)(sizeof s - sl));
        ember_vocab_detok_free(d);
        const int spm_space = strstr(voc->s, "llama-spm") || strstr(voc->s, "phi-3"); /* the SPM vocabularies */
        const size_t want = text->slen + (spm_space ? 1 : 0);
        if (!chunk_ok || sl != want || memcmp(s + (spm_space ? 1 : 0), text->s, text->slen) || (spm_space && s[0] != ' ')) {
            bad++;
            fprintf(stderr, "  streaming %s: \"%s\" gave \"%.*s\"\n", voc->s, text->s, (int)sl, s);
        }
        jfree(&o);
    }
    tv_close(&tv);
    free(line);
    fclose(fp);
    CHECK(total == 180);
    CHECKF(bad == 0, "%d texts did not come back", bad);
}

/* llama_detokenize's rules: with the BOS removed, SPM keeps the leading
 * space; BPE vocabularies with clean-up drop the space before , . ! ? 's */
static void detokenize_rules(void) {
    tvocab s, g, d;
    if (tv_shared(&s, "llama-spm")) SKIP("../shared/tokenizer-tests not found");
    char buf[256];
    int n = ember_vocab_detokenize(s.v, IDS(1, 15043), buf, sizeof buf, 1, 0);
    CHECK(n == 6 && !memcmp(buf, " Hello", 6));
    n = ember_vocab_detokenize(s.v, IDS(15043), buf, sizeof buf, 1, 0);
    CHECK(n == 5 && !memcmp(buf, "Hello", 5));
    n = ember_vocab_detokenize(s.v, IDS(1, 15043), buf, sizeof buf, 0, 1);
    CHECK(n == 9 && !memcmp(buf, "<s> Hello", 9));
    n = ember_vocab_detokenize(s.v, IDS(1, 15043), buf, 3, 0, 1);
    CHECK(n == -9);
    tv_close(&s);
    if (tv_shared(&g, "gpt-2")) { CHECK(0); return; }
    const int32_t ids[] = {15496, 837, 995, 764, 632, 705, 82, 12876, 5145, 220, 50256, 87};
    n = ember_vocab_detokenize(g.v, ids, 12, buf, sizeof buf, 1, 0);
    CHECKF(n == 24 && !memcmp(buf, "Hello, world. It's ok! x", 24), "got '%.*s'", n > 0 ? n : 0, buf);
    n = ember_vocab_detokenize(g.v, ids, 12, buf, sizeof buf, 0, 1);
    CHECKF(n == 37 && !memcmp(buf, "Hello, world. It's ok! <|endoftext|>x", 37), "got '%.*s'", n > 0 ? n : 0, buf);
    tv_close(&g);
    if (tv_shared(&d, "deepseek-llm")) { CHECK(0); return; }
    int32_t t[64];
    const int k = ember_vocab_tokenize(d.v, "a , b", 5, 0, 0, t, 64);
    n = ember_vocab_detokenize(d.v, t, k, buf, sizeof buf, 0, 0);
    CHECK(n == 5 && !memcmp(buf, "a , b", 5)); /* deepseek-llm keeps its spaces */
    tv_close(&d);
}

/* A character split over byte tokens comes out whole, once complete. */
static void streaming_holdback(void) {
    tvocab s;
    if (tv_shared(&s, "llama-spm")) SKIP("../shared/tokenizer-tests not found");
    /* SPM byte tokens: <0x00> is id 3 */
    CHECK(!strcmp(ember_vocab_token_text(s.v, 3 + 0xE2), "<0xE2>"));
    ember_vocab_detok *d = ember_vocab_detok_create(s.v);
    char buf[64];
    CHECK(ember_vocab_detok_push(d, 3 + 0xE2, buf, sizeof buf) == 0);
    CHECK(ember_vocab_detok_push(d, 3 + 0x82, buf, sizeof buf) == 0);
    CHECK(ember_vocab_detok_push(d, 3 + 0xAC, buf, 2) == -1); /* too small: nothing is lost */
    CHECK(ember_vocab_detok_push(d, 3 + 0xAC, buf, sizeof buf) == 3 && !memcmp(buf, "\xe2\x82\xac", 3));
    /* an interrupted sequence becomes U+FFFD, the rest is kept */
    CHECK(ember_vocab_detok_push(d, 3 + 0xE2, buf, sizeof buf) == 0);
    int n = ember_vocab_detok_push(d, 15043, buf, sizeof buf); /* "▁Hello" */
    CHECK(n == 9 && !memcmp(buf, "\xef\xbf\xbd Hello", 9));
    /* a pending start at the end: flushed as U+FFFD */
    CHECK(ember_vocab_detok_push(d, 3 + 0xF0, buf, sizeof buf) == 0);
    CHECK(ember_vocab_detok_push(d, 3 + 0x9F, buf, sizeof buf) == 0);
    n = ember_vocab_detok_flush(d, buf, sizeof buf);
    CHECK(n == 6 && !memcmp(buf, "\xef\xbf\xbd\xef\xbf\xbd", 6));
    /* bytes that can never start a character, and an overlong form */
    CHECK(ember_vocab_detok_push(d, 3 + 0xFF, buf, sizeof buf) == 3);
    CHECK(ember_vocab_detok_push(d, 3 + 0xC0, buf, sizeof buf) == 3);
    CHECK(ember_vocab_detok_push(d, 3 + 0xE0, buf, sizeof buf) == 0);
    CHECK(ember_vocab_detok_push(d, 3 + 0x80, buf, sizeof buf) == 6); /* E0 80: overlong, both replaced */
    /* control tokens render as nothing */
    CHECK(ember_vocab_detok_push(d, 1, buf, sizeof buf) == 0);
    CHECK(ember_vocab_detok_flush(d, buf, sizeof buf) == 0);
    ember_vocab_detok_free(d);
    tv_close(&s);
}

/* Invalid UTF-8: llama.cpp's ids (one U+FFFD per bad byte for BPE; byte
 * tokens for SPM), and random bytes never crash. */
static void invalid_utf8(void) {
    static const char text[] = "a\xff" "b\xc3(\xe2\x82 \xed\xa0\x80\xc0\x80z\xf8\x88\xf0\x9f\x98";
    static const struct { const char *vocab; int32_t ids[32]; int n; } want[] = {
        {"llama-spm", {1, 263, 258, 101, 198, 43, 229, 133, 229, 153, 132, 240, 163, 131, 195, 131, 29920, 251, 139, 243, 162, 155}, 22},
        {"gpt-2", {64, 4210, 65, 4210, 7, 6353, 220, 169, 254, 222, 188, 89, 12100, 4210}, 14},
        {"deepseek-llm", {100000, 64, 10003, 65, 10003, 7, 16211, 207, 167, 241, 209, 175, 89, 33367, 10003}, 15},
        {"falcon", {76, 13112, 133, 77, 13112, 133, 19, 13112, 133, 13112, 133, 61801, 238, 206, 186, 101, 13112, 133,
                    13112, 133, 13112, 133, 13112, 133, 13112, 133}, 26},
        {"starcoder", {102, 8448, 103, 8448, 45, 15466, 3915, 278, 246, 212, 127, 39315, 8448}, 13},
    };
    int tested = 0;
    unsigned seed = 12345;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        tvocab t;
        if (tv_shared(&t, want[i].vocab)) continue;
        tested++;
        CHECKF(same_ids(t.v, text, sizeof text - 1, 1, 1, want[i].ids, want[i].n), "%s", want[i].vocab);
        for (int r = 0; r < 200; r++) {
            char junk[64];
            int32_t out[512];
            const size_t len = (size_t)(r % 64);
            for (size_t j = 0; j < len; j++) junk[j] = (char)((seed = seed * 1103515245u + 12345u) >> 16);
            const int n = ember_vocab_tokenize(t.v, junk, len, 1, 1, out, 512);
            CHECK(n >= 0);
            for (int j = 0; j < n; j++) CHECK(out[j] >= 0 && out[j] < ember_vocab_n_tokens(t.v));
        }
        tv_close(&t);
    }
    if (!tested) SKIP("../shared/tokenizer-tests not found");
}

/* Special tokens: control tokens only with parse_special; user-defined
 * ones always; phi-3 strips whitespace after them (llama.cpp sets that by
 * model name). */
static void special_tokens(void) {
    tvocab p, g;
    if (tv_shared(&p, "phi-3")) SKIP("../shared/tokenizer-tests not found");
    static const char chat[] = "<|user|>\nHi there<|end|>\n<|assistant|> ok</s> x";
    CHECK(same_ids(p.v, chat, sizeof chat - 1, 1, 1, IDS(1, 32010, 6324, 727, 32007, 32001, 3431, 2, 921)));
    CHECK(same_ids(p.v, chat, sizeof chat - 1, 1, 0,
                   IDS(1, 529, 29989, 1792, 29989, 29958, 13, 18567, 727, 29966, 29989, 355, 29989, 29958, 13, 29966,
                       29989, 465, 22137, 29989, 29958, 3431, 2, 921)));
    CHECK(ember_vocab_is_eog(p.v, 32000) && ember_vocab_is_eog(p.v, 32007) && !ember_vocab_is_eog(p.v, 32001));
    CHECK(ember_vocab_bos(p.v) == 1 && ember_vocab_eos(p.v) == 32000);
    char buf[64];
    CHECK(ember_vocab_piece(p.v, 32007, buf, sizeof buf, 0) == 0);
    CHECK(ember_vocab_piece(p.v, 32007, buf, sizeof buf, 1) == 7 && !memcmp(buf, "<|end|>", 7));
    CHECK(ember_vocab_piece(p.v, 32007, buf, 3, 1) == -7);
    CHECK(ember_vocab_piece(p.v, 2, buf, sizeof buf, 0) == 4); /* user-defined: always its text */
    tv_close(&p);
    if (tv_shared(&g, "gpt-2")) { CHECK(0); return; }
    static const char t[] = "Hello , world . It 's ok ! <|endoftext|>x";
    CHECK(same_ids(g.v, t, sizeof t - 1, 1, 1, IDS(15496, 837, 995, 764, 632, 705, 82, 12876, 5145, 220, 50256, 87)));
    CHECK(same_ids(g.v, t, sizeof t - 1, 1, 0,
                   IDS(15496, 837, 995, 764, 632, 705, 82, 12876, 5145, 1279, 91, 437, 1659, 5239, 91, 29, 87)));
    CHECK(ember_vocab_bos(g.v) == 50256 && ember_vocab_is_eog(g.v, 50256) && !ember_vocab_is_eog(g.v, 0));
    /* gpt-2 adds no BOS; an empty text gives no ids */
    int32_t out[4];
    CHECK(ember_vocab_tokenize(g.v, "", 0, 1, 1, out, 4) == 0);
    tv_close(&g);
}

/* ---- pre-tokenizers without a shared vocabulary ----------------------- */

/* Copies a vocabulary file with some keys changed: "key=value" sets a
 * string, "key" alone removes it, "!key=0|1" sets a bool, "#key=N" a u32. */
static int write_variant(const char *src, const char *dst, const char *const *edits, int n_edits) {
    char err[256];
    gguf_file *f;
    if (gguf_open(src, &f, err, sizeof err)) return -1;
    gguf_writer *w = gguf_writer_create();
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        int drop = 0;
        for (int e = 0; e < n_edits; e++)
            if (!strchr(edits[e], '=') && !strcmp(edits[e], gguf_kv_key(f, i))) drop = 1;
        if (!drop) gguf_writer_copy_kv(w, f, i);
    }
    for (int e = 0; e < n_edits; e++) {
        char key[128];
        const char *eq = strchr(edits[e], '=');
        if (!eq) continue;
        const char *k = edits[e] + (edits[e][0] == '!' || edits[e][0] == '#');
        snprintf(key, sizeof key, "%.*s", (int)(eq - k), k);
        if (edits[e][0] == '!') gguf_writer_set_bool(w, key, atoi(eq + 1));
        else if (edits[e][0] == '#') gguf_writer_set_u32(w, key, (uint32_t)strtoul(eq + 1, 0, 10));
        else gguf_writer_set_str(w, key, eq + 1);
    }
    const int st = gguf_writer_write(w, dst, 0, 0, err, sizeof err);
    if (st) fprintf(stderr, "  %s\n", err);
    gguf_writer_free(w);
    gguf_close(f);
    return st;
}

static char g_tmpdir[64];

static const char *tmp_path(const char *name) {
    static char p[128];
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/ember-tok-XXXXXX");
        if (!mkdtemp(g_tmpdir)) return 0;
    }
    snprintf(p, sizeof p, "%s/%s", g_tmpdir, name);
    return p;
}

static const char k_pre_text1[] = "Hello, World! It's 12345 apples; they'LL cost $3.14 (\xc2\xbd off) ~~ ok?!\n\n\tx = [a+b] / c  ";
static const char k_pre_text2[] =
    "na\xc3\xafve CAF\xc3\x89 \xc3\x9cn\xc3\xaf" "code \xe2\x80\x94 \xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
    "\xd0\xbc\xd0\xb8\xd1\x80 \xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c\xef\xbc\x81 "
    "\xe3\x81\xb2\xe3\x82\x89\xe3\x81\x8c\xe3\x81\xaa\xe3\x82\xab\xe3\x82\xbf\xe3\x82\xab\xe3\x83\x8a "
    "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 ABCdef DEFGhi \xc3\x80\xc3\x89\xc3\x8exyz\xe3\x80\x80" "end\r\n 1,000,000";

static void pre_tokenizers(void) {
    const char *gpt2 = test_shared_path("tokenizer-tests/ggml-vocab-gpt-2.gguf");
    if (!gpt2) SKIP("../shared/tokenizer-tests not found");
    static const struct { const char *pre; int32_t a[56]; int na; int32_t b[84]; int nb; } cases[] = {
        {"default",
         {15496, 11, 2159, 0, 632, 6, 82, 220, 10163, 2231, 22514, 26, 484, 6, 3069, 1575, 220, 3, 18, 13, 1415, 220, 7,
          23141, 572, 8, 220, 4907, 12876, 12248, 628, 197, 87, 220, 28, 220, 58, 64, 10, 65, 60, 220, 14, 269, 220, 220}, 46,
         {2616, 38776, 7257, 37, 38351, 49363, 77, 26884, 8189, 220, 960, 12466, 253, 21169, 18849, 38857, 16843, 20375,
          12466, 120, 18849, 21169, 220, 19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234, 171, 120, 223,
          23294, 110, 36853, 35585, 26945, 21763, 23376, 21763, 26229, 220, 47991, 250, 166, 113, 255, 168, 244, 112, 9738,
          4299, 23449, 38, 5303, 6184, 222, 38351, 127, 236, 5431, 89, 5099, 222, 437, 201, 198, 220, 16, 11, 830, 11, 830}, 78},
        {"llama-bpe",
         {15496, 11, 2159, 0, 632, 338, 220, 10163, 2231, 22514, 26, 484, 6, 3069, 1575, 720, 18, 13, 1415, 357, 23141,
          572, 8, 220, 4907, 12876, 12248, 628, 197, 87, 796, 685, 64, 10, 65, 60, 1220, 269, 220, 220}, 40,
         {2616, 38776, 7257, 37, 38351, 49363, 77, 26884, 8189, 851, 12466, 253, 21169, 18849, 38857, 16843, 20375, 12466,
          120, 18849, 21169, 220, 19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234, 171, 120, 223, 23294, 110,
          36853, 35585, 26945, 21763, 23376, 21763, 26229, 220, 47991, 250, 166, 113, 255, 168, 244, 112, 9738, 4299,
          23449, 38, 5303, 6184, 222, 38351, 127, 236, 5431, 89, 5099, 222, 437, 201, 198, 220, 16, 11, 830, 11, 830}, 77},
        {"qwen2",
         {15496, 11, 2159, 0, 632, 338, 220, 16, 17, 18, 19, 20, 22514, 26, 484, 6, 3069, 1575, 720, 18, 13, 16, 19, 357,
          23141, 572, 8, 220, 4907, 12876, 12248, 628, 197, 87, 796, 685, 64, 10, 65, 60, 1220, 269, 220, 220}, 44,
         {2616, 38776, 7257, 37, 38351, 49363, 77, 26884, 8189, 851, 12466, 253, 21169, 18849, 38857, 16843, 20375, 12466,
          120, 18849, 21169, 220, 19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234, 171, 120, 223, 23294, 110,
          36853, 35585, 26945, 21763, 23376, 21763, 26229, 220, 47991, 250, 166, 113, 255, 168, 244, 112, 9738, 4299,
          23449, 38, 5303, 6184, 222, 38351, 127, 236, 5431, 89, 5099, 222, 437, 201, 198, 220, 16, 11, 15, 15, 15, 11, 15,
          15, 15}, 81},
        {"deepseek-coder",
         {15496, 11, 2159, 0, 632, 6, 82, 220, 16, 17, 18, 19, 20, 22514, 26, 484, 6, 3069, 1575, 720, 18, 13, 16, 19,
          357, 23141, 572, 8, 220, 4907, 12876, 12248, 198, 198, 197, 87, 796, 685, 64, 10, 65, 60, 1220, 269, 220, 220}, 46,
         {2616, 38776, 7257, 37, 38351, 49363, 77, 26884, 8189, 220, 960, 12466, 253, 21169, 18849, 38857, 16843, 20375,
          12466, 120, 18849, 21169, 220, 19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234, 171, 120, 223, 220,
          2515, 110, 36853, 35585, 26945, 21763, 23376, 21763, 26229, 220, 47991, 250, 166, 113, 255, 168, 244, 112, 9738,
          4299, 23449, 38, 5303, 6184, 222, 38351, 127, 236, 5431, 89, 5099, 222, 437, 201, 198, 220, 16, 11, 15, 15, 15,
          11, 15, 15, 15}, 83},
        {"deepseek-v3",
         {15496, 11, 2159, 0, 632, 338, 220, 10163, 2231, 22514, 26, 484, 6, 3069, 1575, 720, 18, 13, 1415, 357, 23141,
          572, 8, 220, 4907, 12876, 12248, 628, 197, 87, 796, 685, 64, 10, 65, 60, 1220, 269, 220, 220}, 40,
         {2616, 38776, 7257, 37, 38351, 49363, 77, 26884, 8189, 851, 12466, 253, 21169, 18849, 38857, 16843, 20375, 12466,
          120, 18849, 21169, 220, 19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234, 171, 120, 223, 220, 2515,
          110, 36853, 35585, 26945, 21763, 23376, 21763, 26229, 220, 47991, 250, 166, 113, 255, 168, 244, 112, 9738, 4299,
          23449, 38, 5303, 6184, 222, 38351, 127, 236, 5431, 89, 5099, 222, 437, 201, 198, 220, 16, 11, 830, 11, 830}, 78},
        {"poro-chat",
         {15496, 11, 2159, 0, 632, 338, 17031, 2231, 22514, 26, 484, 6, 3069, 1575, 720, 18, 13, 1415, 357, 23141, 572, 8,
          220, 4907, 12876, 12248, 628, 197, 87, 796, 685, 64, 10, 65, 60, 1220, 269, 220, 220}, 39,
         {2616, 38776, 7257, 37, 38351, 49363, 77, 26884, 8189, 851, 12466, 253, 21169, 18849, 38857, 16843, 20375, 12466,
          120, 18849, 21169, 220, 19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234, 171, 120, 223, 23294, 110,
          36853, 35585, 26945, 21763, 23376, 21763, 26229, 220, 47991, 250, 166, 113, 255, 168, 244, 112, 9738, 4299,
          23449, 38, 5303, 6184, 222, 38351, 127, 236, 5431, 89, 5099, 222, 437, 201, 198, 352, 11, 830, 11, 830}, 76},
        {"tekken",
         {15496, 11, 2159, 0, 632, 338, 220, 16, 17, 18, 19, 20, 22514, 26, 484, 6, 3069, 1575, 720, 18, 13, 16, 19, 357,
          23141, 572, 8, 220, 4907, 12876, 12248, 628, 197, 87, 796, 685, 64, 10, 65, 60, 1220, 269, 220, 220}, 44,
         {2616, 38776, 7257, 37, 38351, 49363, 77, 26884, 8189, 851, 12466, 253, 21169, 18849, 38857, 16843, 20375, 12466,
          120, 18849, 21169, 220, 19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234, 171, 120, 223, 23294, 110,
          36853, 35585, 26945, 21763, 23376, 21763, 26229, 220, 47991, 250, 166, 113, 255, 168, 244, 112, 9738, 4299,
          23449, 38, 5303, 6184, 222, 38351, 127, 236, 5431, 89, 5099, 222, 437, 201, 198, 220, 16, 11, 15, 15, 15, 11, 15,
          15, 15}, 81},
        {"chameleon",
         {15496, 11, 2159, 0, 632, 6, 82, 220, 16, 17, 18, 19, 20, 22514, 26, 484, 6, 3069, 1575, 220, 3, 18, 13, 16, 19,
          220, 7, 23141, 572, 8, 220, 93, 93, 12876, 30, 0, 198, 198, 197, 87, 220, 28, 220, 58, 64, 10, 65, 60, 220, 14,
          269, 220, 220}, 53,
         {2616, 38776, 7257, 37, 38351, 49363, 77, 26884, 8189, 220, 960, 12466, 253, 21169, 18849, 38857, 16843, 20375,
          12466, 120, 18849, 21169, 220, 19526, 254, 25001, 121, 171, 120, 234, 10310, 244, 45911, 234, 171, 120, 223,
          23294, 110, 36853, 35585, 26945, 21763, 23376, 21763, 26229, 220, 47991, 250, 166, 113, 255, 168, 244, 112, 9738,
          4299, 23449, 38, 5303, 6184, 222, 38351, 127, 236, 5431, 89, 5099, 222, 437, 201, 198, 220, 16, 11, 15, 15, 15,
          11, 15, 15, 15}, 82},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *edit[1];
        char e[64];
        snprintf(e, sizeof e, "tokenizer.ggml.pre=%s", cases[i].pre);
        edit[0] = e;
        const char *dst = tmp_path("pre.gguf");
        tvocab t;
        if (!dst || write_variant(gpt2, dst, edit, 1) || tv_open(&t, dst)) { CHECKF(0, "%s", cases[i].pre); continue; }
        CHECKF(same_ids(t.v, k_pre_text1, sizeof k_pre_text1 - 1, 0, 0, cases[i].a, cases[i].na), "%s", cases[i].pre);
        CHECKF(same_ids(t.v, k_pre_text2, sizeof k_pre_text2 - 1, 0, 0, cases[i].b, cases[i].nb), "%s", cases[i].pre);
        /* llama-3, tekken and chameleon add a BOS by default */
        int32_t out[2];
        const int n = ember_vocab_tokenize(t.v, "", 0, 1, 0, out, 2);
        const int chameleon = !strcmp(cases[i].pre, "chameleon");
        const int want_bos = !strcmp(cases[i].pre, "llama-bpe") || !strcmp(cases[i].pre, "tekken") || chameleon;
        static const char img[] = "<sentinel:12>IMGIMGABCDEZ IMGIMGABZ    x1,2";
        if (chameleon)
            CHECK(same_ids(t.v, img, sizeof img - 1, 1, 0,
                           IDS(50256, 27, 34086, 20538, 25, 16, 17, 29, 3955, 38, 3955, 9273, 2749, 7206, 57, 220, 3955,
                               38, 3955, 38, 6242, 57, 220, 220, 220, 220, 87, 16, 11, 17)));
        CHECKF(n == want_bos && (!n || out[0] == 50256), "%s: %d", cases[i].pre, n);
        tv_close(&t);
        unlink(dst);
    }
    /* no pre-tokenizer named: llama.cpp's 'default' rules */
    const char *drop[] = {"tokenizer.ggml.pre"};
    const char *dst = tmp_path("nopre.gguf");
    tvocab t;
    if (!dst || write_variant(gpt2, dst, drop, 1) || tv_open(&t, dst)) { CHECK(0); return; }
    CHECK(same_ids(t.v, k_pre_text1, sizeof k_pre_text1 - 1, 0, 0, cases[0].a, cases[0].na));
    tv_close(&t);
    unlink(dst);
}

/* An unknown pre-tokenizer: one warning that names it, then gpt-2's rules. */
static void unknown_pre_warns(void) {
    const char *gpt2 = test_shared_path("tokenizer-tests/ggml-vocab-gpt-2.gguf");
    if (!gpt2) SKIP("../shared/tokenizer-tests not found");
    const char *edit[] = {"tokenizer.ggml.pre=brand-new-pre"};
    char dst[128];
    snprintf(dst, sizeof dst, "%s", tmp_path("unknown.gguf") ? tmp_path("unknown.gguf") : "");
    CHECK(write_variant(gpt2, dst, edit, 1) == 0);
    char logp[128];
    snprintf(logp, sizeof logp, "%s/stderr.txt", g_tmpdir);
    fflush(stderr);
    const int saved = dup(2);
    FILE *log = fopen(logp, "w");
    if (!log || saved < 0) { CHECK(0); return; }
    dup2(fileno(log), 2);
    tvocab t, g;
    const int st = tv_open(&t, dst);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(log);
    CHECK(st == 0);
    char text[512] = "";
    FILE *r = fopen(logp, "r");
    if (r) { size_t k = fread(text, 1, sizeof text - 1, r); text[k] = 0; fclose(r); }
    CHECKF(strstr(text, "warning") && strstr(text, "'brand-new-pre'") && strstr(text, "gpt-2"), "stderr: %s", text);
    int lines = 0;
    for (const char *p = text; *p; p++) lines += *p == '\n';
    CHECK(lines == 1);
    if (!st && !tv_shared(&g, "gpt-2")) {
        int32_t a[MAXTOK], b[MAXTOK];
        const int na = ember_vocab_tokenize(t.v, k_pre_text2, sizeof k_pre_text2 - 1, 1, 1, a, MAXTOK);
        const int nb = ember_vocab_tokenize(g.v, k_pre_text2, sizeof k_pre_text2 - 1, 1, 1, b, MAXTOK);
        CHECK(na == nb && na > 0 && !memcmp(a, b, (size_t)na * sizeof *a));
        tv_close(&g);
    }
    if (!st) tv_close(&t);
    unlink(dst);
    unlink(logp);
}

/* ---- broken vocabularies ------------------------------------------------- */

typedef struct {
    const char *model;
    const char *const *tokens;
    int n_tokens, n_scores, n_types;
    const char *const *merges;
    int n_merges;
    int64_t bos; /* -1: no key */
} tiny_vocab;

static int load_tiny(const tiny_vocab *tv, tvocab *out, char *err, size_t errlen) {
    gguf_writer *w = gguf_writer_create();
    if (tv->model) gguf_writer_set_str(w, "tokenizer.ggml.model", tv->model);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tv->tokens, (uint64_t)tv->n_tokens);
    float scores[64];
    int32_t types[64];
    for (int i = 0; i < 64; i++) { scores[i] = (float)-i; types[i] = i < 3 ? 3 : 1; }
    if (tv->n_scores >= 0) gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_VT_FLOAT32, scores, (uint64_t)tv->n_scores);
    if (tv->n_types >= 0) gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_VT_INT32, types, (uint64_t)tv->n_types);
    if (tv->merges) gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", tv->merges, (uint64_t)tv->n_merges);
    if (tv->bos >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)tv->bos);
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    const char *path = tmp_path("tiny.gguf");
    int st = path ? gguf_writer_write(w, path, 0, 0, err, errlen) : 1;
    gguf_writer_free(w);
    out->f = 0;
    out->v = 0;
    if (st) return -1;
    if ((st = gguf_open(path, &out->f, err, errlen))) return -1;
    st = ember_vocab_load(out->f, &out->v, err, errlen);
    if (st) { gguf_close(out->f); out->f = 0; }
    unlink(path);
    return st;
}

static void vocab_validation(void) {
    static const char *const toks[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81" "a", "b", "\xe2\x96\x81" "ab", ""};
    static const char *const dup[] = {"<unk>", "<s>", "</s>", "x", "x"};
    static const char *const bpe_toks[] = {"a", "b", "ab", "<|endoftext|>"};
    static const char *const merges[] = {"a b"};
    static const char *const bad_merges[] = {"ab"};
    char err[256];
    tvocab t;
    /* a valid SPM vocabulary: merges by score, unknown characters -> <unk> (no byte tokens) */
    CHECK(load_tiny(&(tiny_vocab){"llama", toks, 7, 7, 7, 0, 0, -1}, &t, err, sizeof err) == 0);
    if (t.v) {
        CHECK(same_ids(t.v, "ab b", 4, 1, 0, IDS(1, 5, 0, 4)));
        CHECK(!strcmp(ember_vocab_token_text(t.v, 6), "[EMPTY_6]")); /* as llama.cpp names it */
        CHECK(ember_vocab_is_eog(t.v, 2) && !ember_vocab_is_eog(t.v, 1));
        tv_close(&t);
    }
    /* the BOS key out of range: warning, default kept */
    CHECK(load_tiny(&(tiny_vocab){"llama", toks, 7, 7, 7, 0, 0, 99999}, &t, err, sizeof err) == 0);
    if (t.v) { CHECK(ember_vocab_bos(t.v) == 1); tv_close(&t); }
    CHECK(load_tiny(&(tiny_vocab){"llama", toks, 7, 6, 7, 0, 0, -1}, &t, err, sizeof err) == 2);
    CHECKF(strstr(err, "scores") != 0, "%s", err);
    CHECK(load_tiny(&(tiny_vocab){"llama", toks, 7, 7, 3, 0, 0, -1}, &t, err, sizeof err) == 2);
    CHECKF(strstr(err, "token_type") != 0, "%s", err);
    CHECK(load_tiny(&(tiny_vocab){"llama", dup, 5, 5, 5, 0, 0, -1}, &t, err, sizeof err) == 2);
    CHECKF(strstr(err, "same text") != 0, "%s", err);
    /* SPM with one token: the default BOS (id 1) does not exist */
    CHECK(load_tiny(&(tiny_vocab){"llama", toks, 1, 1, 1, 0, 0, -1}, &t, err, sizeof err) == 2);
    CHECK(load_tiny(&(tiny_vocab){"bert", toks, 7, 7, 7, 0, 0, -1}, &t, err, sizeof err) == 3);
    CHECK(load_tiny(&(tiny_vocab){0, toks, 7, 7, 7, 0, 0, -1}, &t, err, sizeof err) == 2);
    CHECK(load_tiny(&(tiny_vocab){"gpt2", bpe_toks, 4, -1, -1, 0, 0, -1}, &t, err, sizeof err) == 2);
    CHECKF(strstr(err, "merges") != 0, "%s", err);
    CHECK(load_tiny(&(tiny_vocab){"gpt2", bpe_toks, 4, -1, -1, bad_merges, 1, -1}, &t, err, sizeof err) == 2);
    CHECK(load_tiny(&(tiny_vocab){"gpt2", bpe_toks, 4, -1, -1, merges, 1, -1}, &t, err, sizeof err) == 0);
    if (t.v) {
        CHECK(same_ids(t.v, "abab<|endoftext|>ba", 19, 1, 1, IDS(2, 2, 3, 1, 0)));
        CHECK(ember_vocab_bos(t.v) == -1); /* the BPE default (11) is beyond this vocabulary */
        char b[8];
        CHECK(ember_vocab_piece(t.v, 2, b, sizeof b, 0) == 2 && !memcmp(b, "ab", 2));
        CHECK(ember_vocab_piece(t.v, 99, b, sizeof b, 1) == 0);
        tv_close(&t);
    }
}

/* ---- the golden prompts of two models --------------------------------------- */

static void golden_prompts(void) {
    static const char *const models[] = {"kjv-20m-f32", "stories260K"};
    int tested = 0;
    for (int m = 0; m < 2; m++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/%s.gguf", models[m]);
        const char *mp = test_shared_path(rel);
        snprintf(rel, sizeof rel, "golden/%s.jsonl", models[m]);
        const char *gp = test_shared_path(rel);
        if (!mp || !gp) continue;
        tvocab t;
        if (tv_open(&t, mp)) { CHECKF(0, "%s", models[m]); continue; }
        FILE *fp = fopen(gp, "r");
        char *line = 0;
        size_t cap = 0;
        int n_ok = 0, n = 0;
        while (fp && getline(&line, &cap, fp) > 0) {
            jobj o;
            if (!jparse(line, &o)) continue;
            jfield *pr = jget(&o, "prompt"), *ids = jget(&o, "prompt_tokens");
            if (pr && pr->s && ids && ids->is_arr) {
                n++;
                if (same_ids(t.v, pr->s, pr->slen, 1, 1, ids->a, ids->na)) n_ok++;
                else fprintf(stderr, "  %s: \"%s\"\n", models[m], pr->s);
            }
            jfree(&o);
        }
        free(line);
        if (fp) fclose(fp);
        fprintf(stderr, "  %s: %d/%d prompts\n", models[m], n_ok, n);
        CHECK(n > 0 && n_ok == n);
        tv_close(&t);
        tested++;
    }
    if (!tested) SKIP("../shared models/golden not found");
}

/* Output buffer contract: -(needed) when max is too small. */
static void buffer_contract(void) {
    tvocab s;
    if (tv_shared(&s, "llama-spm")) SKIP("../shared/tokenizer-tests not found");
    int32_t out[8];
    CHECK(ember_vocab_tokenize(s.v, "Hello world", 11, 1, 0, out, 2) == -3);
    CHECK(ember_vocab_tokenize(s.v, "Hello world", 11, 1, 0, out, 3) == 3 && out[0] == 1 && out[1] == 15043 && out[2] == 3186);
    CHECK(ember_vocab_tokenize(s.v, "", 0, 1, 0, out, 8) == 1 && out[0] == 1); /* SPM: [BOS] for an empty text */
    CHECK(ember_vocab_tokenize(s.v, "", 0, 0, 0, out, 8) == 0);
    CHECK(ember_vocab_tokenize(s.v, 0, 0, 1, 0, out, 8) == 1);
    tv_close(&s);
}

int main(void) {
    RUN(llama_cpp_cases);
    RUN(round_trip_and_streaming);
    RUN(detokenize_rules);
    RUN(streaming_holdback);
    RUN(invalid_utf8);
    RUN(special_tokens);
    RUN(pre_tokenizers);
    RUN(unknown_pre_warns);
    RUN(vocab_validation);
    RUN(golden_prompts);
    RUN(buffer_contract);
    if (g_tmpdir[0]) rmdir(g_tmpdir);
    TEST_EXIT();
}
