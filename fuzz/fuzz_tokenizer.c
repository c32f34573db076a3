/* libFuzzer target: tokenize arbitrary bytes with SPM and BPE vocabularies
 * (the first byte picks add_special / parse_special), check every id is in
 * range, then detokenize the ids in one go and through the streaming
 * detokenizer, which must only ever emit valid UTF-8.
 * An input that starts with "GGUF" is a vocabulary instead: it must load or
 * fail cleanly, and if it loads it tokenizes a fixed text.
 * Vocabularies: EMBER_FUZZ_VOCAB (files separated by ':'), else
 * EMBER_FUZZ_VOCAB_DIR (or ../shared/tokenizer-tests) with the llama-spm,
 * phi-3, gpt-2 and deepseek-llm vocabularies; without any the target does
 * nothing. */
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOCABS 8
static gguf_file *g_file[MAX_VOCABS];
static ember_vocab *g_vocab[MAX_VOCABS];
static int g_n, g_init;

static void load(const char *path) {
    char err[256];
    if (g_n == MAX_VOCABS) return;
    if (gguf_open(path, &g_file[g_n], err, sizeof err)) { fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, err); return; }
    if (ember_vocab_load(g_file[g_n], &g_vocab[g_n], err, sizeof err)) {
        fprintf(stderr, "fuzz_tokenizer: %s: %s\n", path, err);
        gguf_close(g_file[g_n]);
        return;
    }
    g_n++;
}

static void init(void) {
    g_init = 1;
    const char *list = getenv("EMBER_FUZZ_VOCAB");
    if (list && *list) {
        char buf[4096];
        snprintf(buf, sizeof buf, "%s", list);
        for (char *s = strtok(buf, ":"); s; s = strtok(0, ":")) load(s);
        return;
    }
    const char *dir = getenv("EMBER_FUZZ_VOCAB_DIR");
    if (!dir) dir = "../shared/tokenizer-tests";
    static const char *const names[] = {"llama-spm", "phi-3", "gpt-2", "deepseek-llm"};
    for (int i = 0; i < 4; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/ggml-vocab-%s.gguf", dir, names[i]);
        load(p);
    }
}

/* valid UTF-8, no overlong forms or surrogates */
static int valid_utf8(const unsigned char *s, int n) {
    for (int i = 0; i < n;) {
        const unsigned c = s[i];
        int L = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
        if (!L || i + L > n) return 0;
        for (int j = 1; j < L; j++) if ((s[i + j] & 0xC0) != 0x80) return 0;
        if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) || (c == 0xF0 && s[i + 1] < 0x90) ||
            (c == 0xF4 && s[i + 1] > 0x8F))
            return 0;
        i += L;
    }
    return 1;
}

static void fuzz_vocab(const uint8_t *data, size_t size) {
    char err[256];
    gguf_file *f;
    ember_vocab *v;
    if (gguf_open_memory(data, size, &f, err, sizeof err)) return;
    if (!ember_vocab_load(f, &v, err, sizeof err)) {
        static const char text[] = "Hello <s> world! 123 \xc3\xa9\xe4\xbd\xa0 <|endoftext|>\xff\n";
        int32_t ids[256];
        const int n = ember_vocab_tokenize(v, text, sizeof text - 1, 1, 1, ids, 256);
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= ember_vocab_n_tokens(v)) abort();
        char out[4096];
        if (n > 0) ember_vocab_detokenize(v, ids, n, out, sizeof out, 0, 1);
        ember_vocab_free(v);
    }
    gguf_close(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_init) init();
    if (size >= 4 && !memcmp(data, "GGUF", 4)) {
        fuzz_vocab(data, size);
        return 0;
    }
    if (size < 1 || size > 4096) return 0;
    const int add = data[0] & 1, parse = (data[0] >> 1) & 1;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    static int32_t ids[8192];
    static char out[1 << 17];
    for (int v = 0; v < g_n; v++) {
        const int n = ember_vocab_tokenize(g_vocab[v], text, len, add, parse, ids, 8192);
        if (n < 0) abort(); /* 4 KiB never makes 8192 tokens */
        for (int i = 0; i < n; i++)
            if (ids[i] < 0 || ids[i] >= ember_vocab_n_tokens(g_vocab[v])) abort();
        if (ember_vocab_detokenize(g_vocab[v], ids, n, out, sizeof out, data[0] & 4, data[0] & 8) < 0) abort();
        ember_vocab_detok *d = ember_vocab_detok_create(g_vocab[v]);
        if (!d) continue;
        for (int i = 0; i < n; i++) {
            char buf[512];
            const int w = ember_vocab_detok_push(d, ids[i], buf, sizeof buf);
            if (w < 0 || !valid_utf8((const unsigned char *)buf, w)) abort();
        }
        char buf[64];
        const int w = ember_vocab_detok_flush(d, buf, sizeof buf);
        if (w < 0 || !valid_utf8((const unsigned char *)buf, w)) abort();
        ember_vocab_detok_free(d);
    }
    return 0;
}
