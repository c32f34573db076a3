/* libFuzzer target: tokenize arbitrary bytes with an SPM and a BPE
 * vocabulary (special-token parsing on), then stream the ids back through
 * the detokenizer. Vocabularies come from ../shared/tokenizer-tests (or
 * EMBER_FUZZ_VOCAB_DIR); without them the target does nothing. */
#include "ember.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static ember_model *g_vocab[2];
static int g_init;

static void init(void) {
    g_init = 1;
    const char *dir = getenv("EMBER_FUZZ_VOCAB_DIR");
    if (!dir) dir = "../shared/tokenizer-tests";
    const char *names[2] = {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"};
    for (int i = 0; i < 2; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        ember_model_params mp = ember_model_default_params();
        mp.vocab_only = 1;
        if (ember_model_load(p, &mp, &g_vocab[i])) g_vocab[i] = 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_init) init();
    if (size > 4096) return 0;
    static ember_token ids[8192];
    for (int v = 0; v < 2; v++) {
        if (!g_vocab[v]) continue;
        int n = ember_tokenize(g_vocab[v], (const char *)data, size, 1, 1, ids, 8192);
        if (n < 0) continue;
        ember_detok *d;
        if (ember_detok_create(g_vocab[v], &d)) continue;
        char buf[512];
        for (int i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= ember_model_n_vocab(g_vocab[v])) abort();
            ember_detok_push(d, ids[i], buf, sizeof buf);
        }
        ember_detok_flush(d, buf, sizeof buf);
        ember_detok_free(d);
    }
    return 0;
}
