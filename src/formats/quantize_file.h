/* Quantizing a whole GGUF file: per-tensor type choice (the mixes the GGUF
 * ecosystem expects: more bits for output, attn_v and ffn_down), streaming
 * quantization through the atomic GGUF writer, metadata kept. */
#ifndef EMBER_QUANTIZE_FILE_H
#define EMBER_QUANTIZE_FILE_H

#include <stddef.h>
#include <stdint.h>

/* llama.cpp's LLAMA_FTYPE numbering (general.file_type). */
typedef enum {
    EMBER_FTYPE_F32 = 0, EMBER_FTYPE_F16 = 1, EMBER_FTYPE_Q4_0 = 2, EMBER_FTYPE_Q4_1 = 3, EMBER_FTYPE_Q8_0 = 7,
    EMBER_FTYPE_Q5_0 = 8, EMBER_FTYPE_Q5_1 = 9, EMBER_FTYPE_Q2_K = 10, EMBER_FTYPE_Q3_K_S = 11,
    EMBER_FTYPE_Q3_K_M = 12, EMBER_FTYPE_Q3_K_L = 13, EMBER_FTYPE_Q4_K_S = 14, EMBER_FTYPE_Q4_K_M = 15,
    EMBER_FTYPE_Q5_K_S = 16, EMBER_FTYPE_Q5_K_M = 17, EMBER_FTYPE_Q6_K = 18, EMBER_FTYPE_BF16 = 32
} ember_ftype;

/* "Q4_K_M" -> ftype; -1 if unknown. */
int ember_ftype_from_name(const char *name);
const char *ember_ftype_name(int ftype);

typedef struct {
    int64_t n_tensors, n_quantized;
    uint64_t bytes_in, bytes_out, n_params;
} ember_quantize_summary;

/* progress(ud, i, n, tensor name, chosen type) before each tensor (may be NULL) */
typedef void (*ember_quantize_progress_fn)(void *ud, int64_t i, int64_t n, const char *name, int type);

/* Returns 0 or an ember_status code with a one-line message in err. The
 * output is written atomically: on any failure no file is left behind. */
int ember_quantize_file(const char *in_path, const char *out_path, int ftype, int n_threads,
                        ember_quantize_progress_fn progress, void *ud, ember_quantize_summary *summary,
                        char *err, size_t errlen);

#endif
