/* Quantizing a whole GGUF file: per-tensor type choice (the mixes the GGUF
 * ecosystem expects: more bits for output, attn_v and ffn_down), streaming
 * quantization through the atomic GGUF writer, metadata kept. */
#ifndef EMBER_QUANTIZE_FILE_H
#define EMBER_QUANTIZE_FILE_H

#include "imatrix_file.h"
#include <stddef.h>
#include <stdint.h>

/* llama.cpp's LLAMA_FTYPE numbering (general.file_type). */
typedef enum {
    EMBER_FTYPE_F32 = 0, EMBER_FTYPE_F16 = 1, EMBER_FTYPE_Q4_0 = 2, EMBER_FTYPE_Q4_1 = 3, EMBER_FTYPE_Q8_0 = 7,
    EMBER_FTYPE_Q5_0 = 8, EMBER_FTYPE_Q5_1 = 9, EMBER_FTYPE_Q2_K = 10, EMBER_FTYPE_Q3_K_S = 11,
    EMBER_FTYPE_Q3_K_M = 12, EMBER_FTYPE_Q3_K_L = 13, EMBER_FTYPE_Q4_K_S = 14, EMBER_FTYPE_Q4_K_M = 15,
    EMBER_FTYPE_Q5_K_S = 16, EMBER_FTYPE_Q5_K_M = 17, EMBER_FTYPE_Q6_K = 18, EMBER_FTYPE_Q2_K_S = 21,
    EMBER_FTYPE_BF16 = 32
} ember_ftype;

/* "Q4_K_M" -> ftype; -1 if unknown. */
int ember_ftype_from_name(const char *name);
const char *ember_ftype_name(int ftype);

typedef struct {
    int64_t n_tensors, n_quantized;
    uint64_t bytes_in, bytes_out, n_params;
    int64_t n_weighted;   /* tensors quantized with importances */
    int64_t n_unweighted; /* with an imatrix: quantized tensors it has no entry for */
} ember_quantize_summary;

/* progress(ud, i, n, tensor name, chosen type) before each tensor (may be NULL) */
typedef void (*ember_quantize_progress_fn)(void *ud, int64_t i, int64_t n, const char *name, int type);

/* Returns 0 or an ember_status code with a one-line message in err. The
 * output is written atomically: on any failure no file is left behind. */
int ember_quantize_file(const char *in_path, const char *out_path, int ftype, int n_threads,
                        ember_quantize_progress_fn progress, void *ud, ember_quantize_summary *summary,
                        char *err, size_t errlen);

/* The same with an importance matrix (imatrix_file.h), as llama-quantize
 * --imatrix does: entries matched to tensors by name feed the weighted
 * quantizers; an entry whose size differs from the tensor's row length is an
 * error (token_embd.weight: ignored); with an imatrix, Q4_0/Q5_0 give the
 * first eighth of ffn_down Q4_1/Q5_1; Q2_K_S requires one. im_path and the
 * file's dataset, entry and chunk counts go into quantize.imatrix.* keys.
 * im may be NULL (then this is ember_quantize_file). */
int ember_quantize_file_imatrix(const char *in_path, const char *out_path, int ftype, int n_threads,
                                const ember_imatrix *im, const char *im_path, ember_quantize_progress_fn progress,
                                void *ud, ember_quantize_summary *summary, char *err, size_t errlen);

#endif
