/* Byte-level BPE (tokenizer.ggml.model = "gpt2"). */
#include "vocab_internal.h"
#include <stdio.h>

int bpe_load(ember_vocab *v, const gguf_file *f, char *err, size_t errlen) {
    (void)v; (void)f;
    snprintf(err, errlen, "BPE (gpt2) tokenizers are not supported by this build");
    return 3;
}
void bpe_free(ember_vocab *v) { (void)v; }
void bpe_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out) { (void)v; (void)text; (void)len; (void)out; }
int bpe_piece(const ember_vocab *v, int32_t tok, char *buf, int cap) { (void)v; (void)tok; (void)buf; (void)cap; return 0; }
