/* Tokenizers against llama.cpp's ids (../shared/tokenizer-tests/cases.jsonl:
 * SPM and five BPE pre-tokenizers), plus streaming detokenization. */
#include "test.h"
#include "jsonl.h"
#include "ember.h"

static ember_model *load_vocab(const char *rel) {
    const char *p = test_shared_path(rel);
    if (!p) return 0;
    ember_model_params mp = ember_model_default_params();
    mp.vocab_only = 1;
    ember_model *m = 0;
    if (ember_model_load(p, &mp, &m)) fprintf(stderr, "  %s\n", ember_last_error());
    return m;
}

static void llama_cpp_cases(void) {
    const char *path = test_shared_path("tokenizer-tests/cases.jsonl");
    if (!path) SKIP("../shared/tokenizer-tests not found");
    FILE *f = fopen(path, "r");
    char *line = 0, last[256] = "";
    size_t cap = 0;
    ember_model *m = 0;
    int ok = 0, total = 0;
    while (getline(&line, &cap, f) > 0) {
        char *voc = jl_str(line, "vocab", 0);
        size_t tl;
        char *text = jl_str(line, "text", &tl);
        int32_t *ids = 0;
        int n = jl_ints(line, "ids", &ids);
        if (strcmp(voc, last)) {
            ember_model_free(m);
            char rel[300];
            snprintf(rel, sizeof rel, "tokenizer-tests/%s", voc);
            m = load_vocab(rel);
            snprintf(last, sizeof last, "%s", voc);
        }
        total++;
        int32_t out[2048];
        int k = m ? ember_tokenize(m, text, tl, 1, 1, out, 2048) : -1;
        if (k == n && !memcmp(out, ids, (size_t)n * 4)) ok++;
        else fprintf(stderr, "  %s: %s: %d ids, expected %d\n", voc, text, k, n);
        free(voc); free(text); free(ids);
    }
    ember_model_free(m);
    free(line);
    fclose(f);
    fprintf(stderr, "  %d/%d cases exact\n", ok, total);
    CHECK(total == 180);
    CHECK(ok == total);
}

/* Detokenizing a tokenization gives the text back (SPM drops the space it
 * added in front), and streaming never splits a UTF-8 character. */
static void round_trip_and_streaming(void) {
    ember_model *m = load_vocab("tokenizer-tests/ggml-vocab-gpt-2.gguf");
    if (!m) SKIP("gpt-2 vocab not found");
    const char *text = "naïve café — 你好，世界！ 👨‍👩‍👧";
    int32_t ids[256];
    int n = ember_tokenize(m, text, strlen(text), 0, 0, ids, 256);
    CHECK(n > 0);
    ember_detok *d;
    CHECK(ember_detok_create(m, &d) == EMBER_OK);
    char out[1024];
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        char buf[256];
        int w = ember_detok_push(d, ids[i], buf, sizeof buf);
        CHECK(w >= 0);
        /* every chunk is valid UTF-8 on its own: it never ends inside a character */
        if (w > 0) {
            unsigned char last = (unsigned char)buf[w - 1];
            CHECK(last < 0x80 || (last & 0xC0) == 0x80);
        }
        memcpy(out + k, buf, (size_t)w);
        k += (size_t)w;
    }
    k += (size_t)ember_detok_flush(d, out + k, (int)(sizeof out - k));
    out[k] = 0;
    CHECKF(!strcmp(out, text), "got '%s'", out);
    ember_detok_free(d);
    ember_model_free(m);
}

static void invalid_utf8_is_safe(void) {
    ember_model *m = load_vocab("tokenizer-tests/ggml-vocab-llama-spm.gguf");
    ember_model *g = load_vocab("tokenizer-tests/ggml-vocab-gpt-2.gguf");
    if (!m || !g) SKIP("vocabularies not found");
    const char bad[] = "ok \xff\xfe \xe2\x82 end \xf0\x9f";
    int32_t ids[128];
    CHECK(ember_tokenize(m, bad, sizeof bad - 1, 1, 1, ids, 128) > 0);
    CHECK(ember_tokenize(g, bad, sizeof bad - 1, 1, 1, ids, 128) > 0);
    /* too small an output buffer reports the size needed */
    CHECK(ember_tokenize(m, "hello world", 11, 1, 1, ids, 1) < -1);
    /* special tokens are only parsed when asked */
    int a = ember_tokenize(m, "<s>", 3, 0, 1, ids, 128);
    CHECK(a == 1 && ids[0] == 1);
    int b = ember_tokenize(m, "<s>", 3, 0, 0, ids, 128);
    CHECK(b > 1);
    ember_model_free(m);
    ember_model_free(g);
}

int main(void) {
    RUN(llama_cpp_cases);
    RUN(round_trip_and_streaming);
    RUN(invalid_utf8_is_safe);
    TEST_EXIT();
}
