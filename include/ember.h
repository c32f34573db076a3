/* ember — a CPU-first inference engine for GGUF language models.
 *
 * Public C API. Everything is reached through opaque handles created and
 * freed in pairs. Functions that can fail return an ember_status; the text
 * of the most recent failure on the calling thread is ember_last_error().
 *
 * Data flows one way: file -> model -> ctx (KV cache, scratch) -> logits ->
 * sampler -> tokens -> text.
 */
#ifndef EMBER_H
#define EMBER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t ember_token;

typedef enum {
    EMBER_OK = 0,
    EMBER_ERR_IO = 1,           /* file missing, unreadable, mmap failed */
    EMBER_ERR_FORMAT = 2,       /* malformed GGUF or model metadata */
    EMBER_ERR_UNSUPPORTED = 3,  /* valid file, but a type/arch ember lacks */
    EMBER_ERR_INVALID_ARG = 4,  /* caller passed a bad value */
    EMBER_ERR_NOMEM = 5,
    EMBER_ERR_CONTEXT_FULL = 6, /* the batch does not fit in the KV cache */
    EMBER_ERR_INTERNAL = 7
} ember_status;

/* Short fixed text for a status code ("invalid argument", ...). */
const char *ember_strerror(ember_status status);
/* Detailed one-line message of the last failure on this thread ("" if none). */
const char *ember_last_error(void);

/* ---- model ------------------------------------------------------------ */

typedef struct ember_model ember_model;

typedef struct {
    int n_threads;   /* threads used while loading/repacking; 0 = all cores */
    int no_repack;   /* 1: no weight copies at load (repacked or huge-page rows), run from mmap */
    int vocab_only;  /* 1: load tokenizer + metadata only, no tensors needed */
} ember_model_params;

ember_model_params ember_model_default_params(void);
ember_status ember_model_load(const char *path, const ember_model_params *params,
                              ember_model **out);
void ember_model_free(ember_model *model);

const char *ember_model_arch(const ember_model *model);     /* "llama", ... */
const char *ember_model_name(const ember_model *model);     /* general.name or file name */
int ember_model_n_vocab(const ember_model *model);
int ember_model_n_ctx_train(const ember_model *model);
int ember_model_n_embd(const ember_model *model);
int ember_model_n_layer(const ember_model *model);
uint64_t ember_model_n_params(const ember_model *model);
uint64_t ember_model_size_bytes(const ember_model *model);  /* tensor data bytes */
uint64_t ember_model_repacked_bytes(const ember_model *model); /* extra memory of the weight copies made at load */
const char *ember_model_type_name(const ember_model *model); /* "Q4_0", "Q4_K_M", ... */
ember_token ember_model_bos(const ember_model *model);      /* -1 if none */
ember_token ember_model_eos(const ember_model *model);      /* -1 if none */
int ember_model_is_eog(const ember_model *model, ember_token tok); /* end of generation */
/* String metadata value by key, or NULL (e.g. "tokenizer.chat_template"). */
const char *ember_model_meta_str(const ember_model *model, const char *key);

/* ---- tokenizer -------------------------------------------------------- */

/* Tokenize text[0..len). add_special: add BOS/EOS as the model's metadata
 * says. parse_special: recognise control-token texts such as "<s>".
 * Returns the number of tokens written; if it exceeds max_tokens, returns
 * -(needed) and writes nothing meaningful. */
int ember_tokenize(const ember_model *model, const char *text, size_t len,
                   int add_special, int parse_special,
                   ember_token *tokens, int max_tokens);

/* Raw bytes of one token as it appears in text (byte tokens give their
 * byte, SPM's U+2581 becomes a space). Control tokens give "" unless
 * render_special. Returns bytes written, or -(needed) if cap is too small. */
int ember_token_to_piece(const ember_model *model, ember_token tok,
                         char *buf, int cap, int render_special);

/* Streaming detokenizer: feed tokens one at a time; it returns only bytes
 * that form complete UTF-8 characters, holding back partial sequences. */
typedef struct ember_detok ember_detok;
ember_status ember_detok_create(const ember_model *model, ember_detok **out);
void ember_detok_free(ember_detok *d);
/* Appends the text for tok; returns bytes written into buf (<= cap), or -1
 * if cap is too small — the state is then unchanged, so the call can be
 * retried with a larger buffer (256 bytes suffice for ordinary tokens). */
int ember_detok_push(ember_detok *d, ember_token tok, char *buf, int cap);
/* Flush held-back bytes (invalid sequences become U+FFFD). */
int ember_detok_flush(ember_detok *d, char *buf, int cap);

/* ---- context: KV cache + scratch + thread pool ----------------------- */

typedef struct ember_ctx ember_ctx;

typedef enum { EMBER_KV_F16 = 0, EMBER_KV_F32 = 1 } ember_kv_type;

typedef struct {
    int n_ctx;       /* KV positions per sequence; 0 = model's, capped at 4096 */
    int n_seq;       /* independent sequences (server slots, draft/target) */
    int n_threads;   /* 0 = all cores */
    int n_batch;     /* max tokens per ember_decode call; 0 = 512 */
    ember_kv_type kv_type; /* F16 (default, as llama.cpp) or F32 */
} ember_ctx_params;

ember_ctx_params ember_ctx_default_params(void);
ember_status ember_ctx_create(ember_model *model, const ember_ctx_params *params,
                              ember_ctx **out);
void ember_ctx_free(ember_ctx *ctx);
int ember_ctx_n_ctx(const ember_ctx *ctx);
int ember_ctx_n_seq(const ember_ctx *ctx);
const ember_model *ember_ctx_model(const ember_ctx *ctx);

/* A batch of tokens to evaluate. Entry i appends tokens[i] to sequence
 * seq[i] (NULL: all 0). Within each sequence, entries must come in order and
 * continue that sequence: the first one at position ember_kv_len(seq).
 * want_logits[i] != 0 asks for the logits of entry i (NULL: only the last
 * entry). A token's logits never depend on the other entries of the batch
 * nor on the thread count. */
typedef struct {
    int n_tokens;
    const ember_token *tokens;
    const int32_t *seq;
    const int8_t *want_logits;
    /* prefill[i] != 0 marks entry i as part of a prompt of two or more
     * tokens (NULL: none). Prompt entries use the summation order of
     * llama.cpp's prompt GEMMs, other entries that of its generation dot
     * products; this is what lets ember reproduce llama.cpp's greedy tokens
     * exactly. Either way a token's logits depend only on its own flag, never
     * on the rest of the batch or the thread count. */
    const int8_t *prefill;
} ember_batch;

ember_status ember_decode(ember_ctx *ctx, const ember_batch *batch);
/* Logits (n_vocab floats) of batch entry i of the last ember_decode; NULL
 * if that entry did not ask for logits. Valid until the next decode. */
const float *ember_get_logits(ember_ctx *ctx, int i);

/* KV cache management, per sequence. */
int ember_kv_len(const ember_ctx *ctx, int seq);
/* Keep the first n_keep positions of seq, drop the rest (rollback). */
ember_status ember_kv_truncate(ember_ctx *ctx, int seq, int n_keep);
/* Make dst hold the first n positions of src (prefix reuse). */
ember_status ember_kv_copy_prefix(ember_ctx *ctx, int src, int dst, int n);
void ember_kv_clear(ember_ctx *ctx, int seq);

/* ---- sampling --------------------------------------------------------- */

typedef struct ember_sampler ember_sampler;

typedef struct {
    float temp;              /* 0 = greedy */
    int top_k;               /* 0 = off */
    float top_p;             /* 1 = off */
    float min_p;             /* 0 = off */
    float repeat_penalty;    /* 1 = off */
    int repeat_last_n;       /* window for the penalties; 64 */
    float presence_penalty;  /* 0 = off */
    float frequency_penalty; /* 0 = off */
    uint64_t seed;
} ember_sampler_params;

ember_sampler_params ember_sampler_default_params(void);
/* Validates the params (e.g. top_p in (0,1]); EMBER_ERR_INVALID_ARG if bad. */
ember_status ember_sampler_create(const ember_sampler_params *params, int n_vocab,
                                  ember_sampler **out);
void ember_sampler_free(ember_sampler *s);
/* Picks a token from logits (not modified). Does not record it. */
ember_token ember_sampler_sample(ember_sampler *s, const float *logits);
/* Records a token in the penalty history (prompt and generated tokens). */
void ember_sampler_accept(ember_sampler *s, ember_token tok);
void ember_sampler_reset(ember_sampler *s);
/* The probability distribution the sampler draws from after every
 * transformation (temperature, penalties, truncation), written to probs
 * (n_vocab floats). Used by lossless speculative sampling. */
void ember_sampler_probs(ember_sampler *s, const float *logits, float *probs);
/* Draw from a given distribution with the sampler's RNG. */
ember_token ember_sampler_draw(ember_sampler *s, const float *probs, int n);
/* Uniform random number in [0,1) from the sampler's RNG. */
double ember_sampler_uniform(ember_sampler *s);

/* ---- misc ------------------------------------------------------------- */

const char *ember_version(void);
/* Name of the kernel path chosen for this CPU: "scalar", "avx2", "avx512". */
const char *ember_cpu_path(void);

#ifdef __cplusplus
}
#endif
#endif
