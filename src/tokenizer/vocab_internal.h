/* Shared between the vocabulary loader and the tokenizer algorithms. */
#ifndef EMBER_VOCAB_INTERNAL_H
#define EMBER_VOCAB_INTERNAL_H

#include "tokenizer.h"

enum { TOK_NORMAL = 1, TOK_UNKNOWN = 2, TOK_CONTROL = 3, TOK_USER_DEFINED = 4, TOK_UNUSED = 5, TOK_BYTE = 6 };
typedef enum { VOCAB_SPM, VOCAB_BPE } vocab_kind;

/* Growable output of token ids; tokenizers push into it. */
typedef struct { int32_t *v; size_t n, cap; int oom; } tok_buf;
void tok_push(tok_buf *b, int32_t id);

struct ember_vocab {
    vocab_kind kind;
    int n;
    char **text;
    uint32_t *len;
    float *score;
    int32_t *type;
    /* open-addressing map text -> id */
    int32_t *map;
    uint32_t map_mask;
    int32_t bos, eos, eot, eom, unk;
    int add_bos, add_eos, add_space_prefix;
    int32_t byte_tok[256];       /* SPM <0xXX> tokens (-1 if absent) */
    int32_t *special;            /* ids matched in text before tokenizing, longest first */
    int n_special;
    struct bpe_state *bpe;       /* BPE only */
};

int32_t vocab_find(const ember_vocab *v, const char *s, size_t len);
/* SentencePiece-style tokenization of one raw-text fragment (already
 * space-escaped), appended to out. */
void spm_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out);
/* BPE (bpe.c): load merges/pre-tokenizer; tokenize one fragment. */
int bpe_load(ember_vocab *v, const gguf_file *f, char *err, size_t errlen);
void bpe_free(ember_vocab *v);
void bpe_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out);
/* Piece text of a BPE token (GPT-2 byte-unicode decoding) into buf. */
int bpe_piece(const ember_vocab *v, int32_t tok, char *buf, int cap);

#endif
