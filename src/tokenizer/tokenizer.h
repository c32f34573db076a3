/* Tokenizers: vocabulary loading (tokenizer.ggml.* keys), SentencePiece-style
 * and byte-level BPE tokenization exactly as llama.cpp does it, and a
 * streaming detokenizer that only ever emits whole UTF-8 characters. */
#ifndef EMBER_TOKENIZER_H
#define EMBER_TOKENIZER_H

#include "../gguf/gguf.h"
#include <stddef.h>
#include <stdint.h>

typedef struct ember_vocab ember_vocab;

/* Reads tokenizer.ggml.* keys; 0 or an ember_status code (2 format,
 * 3 unsupported) with a one-line message. */
int ember_vocab_load(const gguf_file *f, ember_vocab **out, char *err, size_t errlen);
void ember_vocab_free(ember_vocab *v);
int ember_vocab_n_tokens(const ember_vocab *v);
int32_t ember_vocab_bos(const ember_vocab *v); /* -1 if none */
int32_t ember_vocab_eos(const ember_vocab *v);
int ember_vocab_is_eog(const ember_vocab *v, int32_t tok);
const char *ember_vocab_token_text(const ember_vocab *v, int32_t tok);
/* Same contracts as ember_tokenize / ember_token_to_piece in ember.h. */
int ember_vocab_tokenize(const ember_vocab *v, const char *text, size_t len, int add_special, int parse_special,
                         int32_t *out, int max);
int ember_vocab_piece(const ember_vocab *v, int32_t tok, char *buf, int cap, int render_special);

/* A whole sequence as llama_detokenize gives it: remove_special drops the
 * BOS/EOS the vocabulary adds; SPM's leading space is dropped unless a BOS
 * was; BPE vocabularies that ask for it get llama.cpp's space clean-up
 * (" ," -> ","). Returns bytes written or -(needed); -1 on OOM. */
int ember_vocab_detokenize(const ember_vocab *v, const int32_t *ids, int n, char *buf, int cap, int remove_special,
                           int render_special);

typedef struct ember_vocab_detok ember_vocab_detok;
ember_vocab_detok *ember_vocab_detok_create(const ember_vocab *v);
void ember_vocab_detok_free(ember_vocab_detok *d);
int ember_vocab_detok_push(ember_vocab_detok *d, int32_t tok, char *buf, int cap);
int ember_vocab_detok_flush(ember_vocab_detok *d, char *buf, int cap);

#endif
