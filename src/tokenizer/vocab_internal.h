/* Shared between the vocabulary loader, the partition into special tokens
 * and raw text, the SPM and BPE algorithms and the detokenizer. */
#ifndef EMBER_VOCAB_INTERNAL_H
#define EMBER_VOCAB_INTERNAL_H

#include "tokenizer.h"

/* Token attributes, a bit set as llama.cpp derives it from
 * tokenizer.ggml.token_type (and later overrides by token text and model
 * name). 0 = undefined type. */
enum {
    ATTR_UNKNOWN = 1 << 0,
    ATTR_UNUSED = 1 << 1,
    ATTR_NORMAL = 1 << 2,
    ATTR_CONTROL = 1 << 3,
    ATTR_USER_DEFINED = 1 << 4,
    ATTR_BYTE = 1 << 5,
    ATTR_LSTRIP = 1 << 7, /* whitespace before the token is dropped when it is split out of text */
    ATTR_RSTRIP = 1 << 8, /* whitespace after it likewise */
};

typedef enum { VOCAB_SPM, VOCAB_BPE } vocab_kind;

/* BPE pre-tokenizer families: each is one list of splitters (pretok.c). */
typedef enum {
    PRE_DEFAULT,        /* "default" or no tokenizer.ggml.pre */
    PRE_GPT2,           /* also mpt, olmo, jais, phi-2, roberta-bpe, jina-*, gigachat */
    PRE_LLAMA3,         /* llama3/llama-bpe/falcon3, dbrx, smaug-bpe, chatglm-bpe */
    PRE_QWEN2,          /* also stablelm2, megrez, deepseek-r1-qwen */
    PRE_STARCODER,      /* also refact, command-r, smollm, codeshell, exaone, minerva-7b */
    PRE_FALCON,
    PRE_DEEPSEEK_LLM,
    PRE_DEEPSEEK_CODER,
    PRE_DEEPSEEK3,
    PRE_PORO,           /* also bloom, gpt3-finnish */
    PRE_VIKING,
    PRE_TEKKEN,
    PRE_CHAMELEON,
} pre_kind;

/* Growable output of token ids; tokenizers push into it. */
typedef struct { int32_t *v; size_t n, cap; int oom; } tok_buf;
void tok_push(tok_buf *b, int32_t id);

struct bpe_merges;

struct ember_vocab {
    vocab_kind kind;
    pre_kind pre;
    int n;
    const char **text;   /* token texts, NUL-terminated, in one arena */
    uint32_t *len;
    float *score;
    uint16_t *attr;
    char *arena;
    int32_t *map;        /* open addressing: text -> id (texts are unique) */
    uint32_t map_mask;
    int32_t bos, eos, eot, eom, unk;
    uint8_t *eog;        /* bit set over ids: ends generation */
    int add_bos, add_eos, add_space_prefix, ignore_merges, clean_spaces;
    int32_t byte_tok[256]; /* SPM byte fallback ids (-1: none) */
    int32_t *special;    /* ids split out of text before tokenizing, longest text first */
    int n_special;
    struct bpe_merges *merges; /* BPE only */
    uint16_t byte_cp[256];          /* BPE: byte -> code point of GPT-2's byte alphabet */
    uint8_t byte_cp_inv[324 - 256]; /* and back, for code points 256..323 */
};

int32_t vocab_find(const ember_vocab *v, const char *s, size_t len);

/* SentencePiece-style tokenization of one fragment whose spaces are already
 * escaped as U+2581; ids appended to out. */
void spm_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out);

/* BPE (bpe.c): merges from tokenizer.ggml.merges; tokenization of one raw
 * text fragment; GPT-2 byte-level decoding of a token's text. */
int bpe_load(ember_vocab *v, const gguf_file *f, char *err, size_t errlen);
void bpe_free(ember_vocab *v);
void bpe_tokenize(const ember_vocab *v, const char *text, size_t len, tok_buf *out);
int bpe_decode(const ember_vocab *v, int32_t tok, char *buf, int cap);

/* Pre-tokenizer (pretok.c): splits cp[0..n) into pieces; returns the
 * malloc'd piece lengths (in code points) and their count, or NULL on OOM. */
size_t *pretok_split(pre_kind pre, const uint32_t *cp, size_t n, size_t *n_pieces);
/* Pre-tokenizer by tokenizer.ggml.pre name; -1 if unknown. Sets the flags
 * that llama.cpp ties to the name (ignore_merges, add_bos, clean_spaces,
 * no default BOS). */
int pretok_by_name(const char *name, pre_kind *pre, int *ignore_merges, int *add_bos, int *clean_spaces, int *no_bos);

/* Sorts ids by descending text length with the same comparisons and swaps
 * as libstdc++'s std::sort, so equal-length special tokens keep llama.cpp's
 * order (stdsort.c). */
void sort_by_len_desc(int32_t *ids, size_t n, const uint32_t *len);

#endif
