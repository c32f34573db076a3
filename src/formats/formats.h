/* Tensor formats: one row of traits per type (block size, bytes per block,
 * dequantize, quantize, dot product). Adding a type is adding a row.
 * Block layouts are the GGUF/ggml ones, so files map straight from disk. */
#ifndef EMBER_FORMATS_H
#define EMBER_FORMATS_H

#include <stddef.h>
#include <stdint.h>

/* Values are the GGUF on-disk type ids. */
typedef enum {
    EMBER_TYPE_F32 = 0,
    EMBER_TYPE_F16 = 1,
    EMBER_TYPE_Q4_0 = 2,
    EMBER_TYPE_Q4_1 = 3,
    EMBER_TYPE_Q5_0 = 6,
    EMBER_TYPE_Q5_1 = 7,
    EMBER_TYPE_Q8_0 = 8,
    EMBER_TYPE_Q8_1 = 9,
    EMBER_TYPE_Q2_K = 10,
    EMBER_TYPE_Q3_K = 11,
    EMBER_TYPE_Q4_K = 12,
    EMBER_TYPE_Q5_K = 13,
    EMBER_TYPE_Q6_K = 14,
    EMBER_TYPE_Q8_K = 15,
    EMBER_TYPE_BF16 = 30,
    EMBER_TYPE_COUNT = 40 /* size of lookup tables; ids >= this are unknown */
} ember_type;

/* s = dot(x[0..n), y[0..n)); x in the weight type, y in its vec_dot_type.
 * n is a multiple of the block size. */
typedef void (*ember_vec_dot_fn)(int n, float *s, const void *x, const void *y);
/* nt tokens against a packed group of weight rows (see vec_dot_packed_tokens) */
typedef void (*ember_vec_dot_packed_tokens_fn)(int n, float *s, size_t s_stride, const void *group, const void *y,
                                               size_t y_stride, const void *aux, size_t aux_stride, int nt, int stream);
/* 16 weight rows (row_bytes apart) x nt (1..8) activation rows */
typedef void (*ember_vec_dot_rows16_tokens_fn)(int n, float *s, size_t s_stride, const void *x, size_t row_bytes,
                                               const void *y, size_t y_stride, int nt);
/* nt >= 1 activation rows (any count) against a packed group through a
 * matrix engine: s[k*s_stride + r], as vec_dot_packed_tokens computes them */
typedef void (*ember_gemm_packed_fn)(int n, float *s, size_t s_stride, const void *group, const void *y, size_t y_stride,
                                     const void *aux, size_t aux_stride, int nt);
typedef void (*ember_to_float_fn)(const void *x, float *y, int64_t n);
typedef void (*ember_from_float_fn)(const float *x, void *y, int64_t n);

/* A packed form of weight rows: groups of `rows` rows copied once at load
 * by pack(n, dst, rows, row_bytes) into an interleaved layout of the same
 * size, read by the packed kernels as one stream. ref is its portable
 * definition for one token (s[0..rows)); act_aux (NULL: none) builds the
 * side data of an activation row (act_aux_size bytes) that its kernels
 * read, once per matmul. Each kernel set names the layout its kernels
 * read, so paths may differ; a weight remembers the one it was packed in. */
typedef struct {
    const char *name;
    int rows;
    void (*pack)(int n, void *dst, const void *rows, size_t row_bytes);
    void (*ref)(int n, float *s, const void *group, const void *y);
    size_t (*act_aux_size)(int64_t n);
    void (*act_aux)(const void *y, void *aux, int64_t n);
} ember_packed_layout;

typedef struct {
    const char *name;          /* "Q4_0" */
    int block_size;            /* elements per block */
    size_t type_size;          /* bytes per block */
    int is_quantized;
    ember_type vec_dot_type;   /* activations are converted to this type */
    ember_to_float_fn to_float;
    ember_from_float_fn from_float_ref; /* reference quantizer (NULL: none) */
    ember_vec_dot_fn vec_dot_ref;       /* scalar reference (NULL: none) */
    /* Chosen for this CPU by ember_formats_init(); default to the refs. */
    ember_from_float_fn from_float;
    ember_vec_dot_fn vec_dot;
    /* Prompt-batch summation order (prefill_order.c); NULL when it equals
     * vec_dot's. Usable when n is a multiple of prefill_multiple. */
    ember_vec_dot_fn vec_dot_prefill_ref;
    ember_vec_dot_fn vec_dot_prefill;
    int prefill_multiple;
    /* Order of llama.cpp's repacked kernels, for weights whose row count is
     * a multiple of 8 (Q4_0 only); NULL otherwise. */
    ember_vec_dot_fn vec_dot_rows8_ref;
    ember_vec_dot_fn vec_dot_rows8;
    /* Same order, 8 consecutive rows at once: s[0..7] = dot(row r+k, y);
     * x points at row r, row_bytes apart. NULL if not available. */
    void (*vec_dot_rows8_x8)(int n, float *s, const void *x, size_t row_bytes, const void *y);
    /* Repacked weights: the packed form the chosen path's kernels read
     * (NULL: none); results per output are those of the type's order for
     * these rows (rows8 or vec_dot). */
    const ember_packed_layout *layout;
    /* decoding (one token) reads the packed copy too */
    int packed_decode;
    /* nt (1..8) activation rows y, y + y_stride, ... against a group:
     * s[k*s_stride + r] = row r against token k, each weight block loaded
     * once for all nt tokens. aux: the activation rows' side data
     * (act_aux, aux_stride bytes apart; NULL for types without). stream:
     * the whole batch is these few tokens, so the group comes from memory
     * once (a decoding batch), not from cache for every 8 tokens of a
     * prompt; the kernel may order its loads for that. Same results.
     * NULL if not available (then nothing is repacked). */
    ember_vec_dot_packed_tokens_fn vec_dot_packed_tokens;
    /* The same results for a whole prompt's tokens at once from a matrix
     * engine (AMX: Q4_0, whose order is one exact integer per block). Used
     * for prompt batches (more than 8 tokens); NULL if not available. */
    ember_gemm_packed_fn gemm_packed;
    /* vec_dot's exact order, one weight row against nt (1..4) activation
     * rows y, y + y_stride, ...: s[0..nt). Batched decoding (server slots,
     * speculative verification) then loads each weight block once for up to
     * four tokens. NULL if not available. */
    void (*vec_dot_tokens)(int n, float *s, const void *x, const void *y, size_t y_stride, int nt);
    /* vec_dot's exact order for nr weight rows (x_stride bytes apart) x
     * nt (1..4) activation rows: s[k*s_stride + r] = dot(row r, token k).
     * Attention's dots (F16 cache: rows are K positions or V dimensions,
     * tokens the query heads of one K/V head), where one call per row cost
     * more than the row's arithmetic. NULL if not available. */
    void (*vec_dot_rows_tokens)(int n, float *s, size_t s_stride, const void *x, size_t x_stride, int nr, const void *y,
                                size_t y_stride, int nt);
    /* vec_dot's exact order, 4 consecutive weight rows (row_bytes apart)
     * against one activation row: s[0..4). For types whose dot is one
     * float multiply-add chain per row (Q8_0: one link per 32-element
     * block), so a single token's rows run four chains at once instead of
     * waiting on one. NULL if not available. */
    void (*vec_dot_rows4)(int n, float *s, const void *x, size_t row_bytes, const void *y);
    /* vec_dot's exact order, 16 weight rows x nt (1..8) activation rows:
     * s[k*s_stride + r] = dot(row r, token k); the kernel may share work
     * across the rows (Q4_K/Q5_K: the min term, several rows per register
     * on AVX-512, eight tokens per register on AVX2; Q6_K: the -32 offset
     * moved to a per-row term, both paths; Q8_0, Q4_1, Q5_0, Q5_1 on
     * AVX2: register tiles of rows x tokens, each weight block unpacked
     * once per tile, scales converted once per call). Prompt
     * batches use it when every token takes vec_dot. NULL if not available. */
    ember_vec_dot_rows16_tokens_fn vec_dot_rows16_tokens;
    /* vec_dot_prefill's exact order for nr rows (any count) x up to
     * EMBER_TILE_TOKENS tokens (no side data): s[k*s_stride + r] =
     * dot(row r, token k). The kernel walks the rows in register tiles in
     * its own order (AVX-512 BF16: chunks of n across 64-row groups). */
    void (*vec_dot_prefill_tile)(int n, float *s, size_t s_stride, const void *x, size_t x_stride, int nr,
                                 const void *y, size_t y_stride, int nt);
} ember_type_traits;

/* NULL for an unknown or unsupported id. */
const ember_type_traits *ember_type_get(int type);

/* What the loader copies of one weight matrix at load (unless
 * --no-repack), the rule `ember info` reports too: *repack when the type has
 * a packed form on this path and the rows fill its groups; *row_copy (the
 * rows as they are, into huge pages) when huge pages are available and
 * decoding reads its rows (no packed copy, or one decoding skips); all
 * copies share one buffer, so a small matrix gets huge pages too. */
void ember_weight_copies(const ember_type_traits *tr, int64_t rows, int huge_pages, int *repack,
                         int *row_copy);

enum { EMBER_TILE_TOKENS = 6 }; /* tokens per vec_dot_prefill_tile call, at most */
int ember_type_supported(int type);
const char *ember_type_name(int type); /* "?" if unknown */
/* Bytes of a row of n elements; 0 if n is not a multiple of the block size. */
size_t ember_row_size(int type, int64_t n);

/* Picks SIMD kernels for the detected CPU path. Idempotent, thread-safe. */
void ember_formats_init(void);
/* Switches every type to the kernels of a path ("scalar", "avx2", "avx512",
 * "amx", "amx-emu", "avxvnni-emu")
 * the CPU supports. For tests comparing paths; not thread-safe. */
void ember_formats_select_path(const char *path);

/* ---- block layouts (must match GGUF byte for byte) ---- */
typedef uint16_t ember_f16;
typedef uint16_t ember_bf16;

#define QK4_0 32
typedef struct { ember_f16 d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
#define QK4_1 32
typedef struct { ember_f16 d; ember_f16 m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
#define QK5_0 32
typedef struct { ember_f16 d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
#define QK5_1 32
typedef struct { ember_f16 d; ember_f16 m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
#define QK8_0 32
typedef struct { ember_f16 d; int8_t qs[QK8_0]; } block_q8_0;
#define QK8_1 32
typedef struct { ember_f16 d; ember_f16 s; int8_t qs[QK8_1]; } block_q8_1; /* s = d * sum(qs) */

#define QK_K 256
#define K_SCALE_SIZE 12
typedef struct { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; ember_f16 d; ember_f16 dmin; } block_q2_K;
typedef struct { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; ember_f16 d; } block_q3_K;
typedef struct { ember_f16 d; ember_f16 dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; } block_q4_K;
typedef struct { ember_f16 d; ember_f16 dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; } block_q5_K;
typedef struct { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; ember_f16 d; } block_q6_K;
typedef struct { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; } block_q8_K;

/* ---- reference implementations (scalar, portable) ---- */
/* simple.c */
void ember_f32_to_float(const void *x, float *y, int64_t n);
void ember_f32_from_float(const float *x, void *y, int64_t n);
void ember_f16_to_float(const void *x, float *y, int64_t n);
void ember_f16_from_float(const float *x, void *y, int64_t n);
void ember_bf16_to_float(const void *x, float *y, int64_t n);
void ember_bf16_from_float(const float *x, void *y, int64_t n);
void ember_dequant_q4_0(const void *x, float *y, int64_t n);
void ember_dequant_q4_1(const void *x, float *y, int64_t n);
void ember_dequant_q5_0(const void *x, float *y, int64_t n);
void ember_dequant_q5_1(const void *x, float *y, int64_t n);
void ember_dequant_q8_0(const void *x, float *y, int64_t n);
void ember_dequant_q8_1(const void *x, float *y, int64_t n);
void ember_quant_q4_0_ref(const float *x, void *y, int64_t n);
void ember_quant_q4_1_ref(const float *x, void *y, int64_t n);
void ember_quant_q5_0_ref(const float *x, void *y, int64_t n);
void ember_quant_q5_1_ref(const float *x, void *y, int64_t n);
void ember_quant_q8_0_ref(const float *x, void *y, int64_t n);
void ember_quant_q8_1_ref(const float *x, void *y, int64_t n);
/* Activation quantizers (traits.from_float on every path): they follow what
 * llama.cpp's x86 build does for activations — id = 127/amax and rounding
 * half to even — which differs in rare ties from the weight quantizers
 * above; matching it keeps ember's greedy tokens identical to llama.cpp's. */
void ember_quant_q8_0_act(const float *x, void *y, int64_t n);
void ember_quant_q8_1_act(const float *x, void *y, int64_t n);
void ember_vec_dot_f32_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_f16_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_bf16_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q4_0_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q4_1_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q5_0_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q5_1_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q8_0_ref(int n, float *s, const void *x, const void *y);
/* lane_order.c: the SIMD kernels' order in portable C (scalar path) */
void ember_vec_dot_q4_0_lanes(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q4_1_lanes(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q5_0_lanes(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q5_1_lanes(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q8_0_lanes(int n, float *s, const void *x, const void *y);
void ember_vec_dot_bf16_lanes(int n, float *s, const void *x, const void *y);
void ember_vec_dot_f32_lanes(int n, float *s, const void *x, const void *y);
void ember_vec_dot_f16_lanes(int n, float *s, const void *x, const void *y);
/* rowops.c: element-wise row operations; ember_swiglu() is the one chosen
 * for this CPU (bit-identical to the reference) */
void ember_swiglu_ref(float *g, const float *u, int n);
void ember_swiglu(float *g, const float *u, int n);
/* x[i] = exp(x[i] - mx) (expf_poly); returns their sum in llama.cpp's order */
double ember_softmax_exp_sum_ref(float *x, int n, float mx);
double ember_softmax_exp_sum(float *x, int n, float mx);
/* rotates n_heads vectors of head_dim by cos/sin pairs cs (RoPE) */
void ember_rope_ref(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox);
void ember_rope(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox);
/* x[i] *= s; returns the largest result (-INFINITY for n == 0; NaNs are
 * passed over). A maximum does not depend on the order it is taken in,
 * except for the sign of a zero, which exp(x - max) does not see. */
float ember_scale_max_ref(float *x, int n, float s);
float ember_scale_max(float *x, int n, float s);
/* RMS norm's sums: for each of nrows <= 8 rows (stride floats apart),
 * sum += (double)(x[i] * x[i]) for i = 0..n-1 in order, as llama.cpp
 * sums; the SIMD forms give each row a lane, so every row keeps its
 * order and its exact result. */
void ember_sumsq_rows_ref(const float *x, size_t stride, int nrows, int n, double *sums);
void ember_sumsq_rows(const float *x, size_t stride, int nrows, int n, double *sums);
/* The same terms summed in any order (SIMD lanes): within a few ulps of
 * the ordered sum, not equal to it */
double ember_sumsq_unordered_ref(const float *x, int n);
double ember_sumsq_unordered(const float *x, int n);
/* RMS norm's mean square of one row, (float)(sum / n) with sum the
 * ordered sum above, exactly. The unordered sum is used when every sum
 * within its error bound of it gives the same float (all but ~1 row in
 * 10^4); otherwise the ordered chain runs. */
float ember_sumsq_mean(const float *x, int n);
/* the same from a given unordered sum s (tests feed it sums at the edge
 * of the bound) */
float ember_sumsq_mean_from(const float *x, int n, double s);
/* y[i] = (x[i] * s) * w[i], rounded after each multiply (two ops in the
 * graph); y may be x */
void ember_scale_mul_ref(float *y, const float *x, float s, const float *w, int n);
void ember_scale_mul(float *y, const float *x, float s, const float *w, int n);
/* q8_0_rows16.c: Q8_0's 16-row packed copy (lane order, as
 * ember_vec_dot_q8_0_lanes) and the activation side data of its kernels */
void ember_q8_0_pack16(int n, void *dst, const void *rows, size_t row_bytes);
void ember_vec_dot_q8_0_packed16_ref(int n, float *s, const void *group, const void *y); /* s[0..15] */
size_t ember_q8_0_act_aux_size(int64_t n);
void ember_q8_0_act_aux(const void *y, void *aux, int64_t n);
/* its form with the lanes starting from offset * (y[4k]+..+y[4k+3]) (Q8_0:
 * -128, Q5_0's copy: -16), then per block d as float */
void ember_q8_0_act_lane_starts(const void *y, void *aux, int64_t n, int32_t offset);
/* q4_0_rows8.c */
void ember_vec_dot_q4_0_rows8_ref(int n, float *s, const void *x, const void *y);
/* the packed forms (q4_0_lanes16.c, q8_0_rows16.c, nibble_lanes16.c) */
extern const ember_packed_layout ember_q4_0_lanes16_layout; /* every path: AVX2, AVX-VNNI, AVX-512 VNNI, AMX */
extern const ember_packed_layout ember_q8_0_lanes16_layout;
/* Q4_1, Q5_0 and Q5_1 (nibble_lanes16.c): d, [m], [fifth-bit planes],
 * nibbles per block of 16 rows, the lane order */
#define EMBER_Q4_1_LANES16_BLOCK (16 * sizeof(block_q4_1))
#define EMBER_Q5_0_LANES16_BLOCK (16 * sizeof(block_q5_0))
#define EMBER_Q5_1_LANES16_BLOCK (16 * sizeof(block_q5_1))
extern const ember_packed_layout ember_q4_1_lanes16_layout;
extern const ember_packed_layout ember_q5_0_lanes16_layout;
extern const ember_packed_layout ember_q5_1_lanes16_layout;
/* Q4_K's and Q5_K's 16-row copies (kquants_lanes16.c), the size of the
 * rows; both read the same activation side data */
#define EMBER_Q4_K_LANES16_BLOCK (16 * sizeof(block_q4_K))
#define EMBER_Q5_K_LANES16_BLOCK (16 * sizeof(block_q5_K))
extern const ember_packed_layout ember_q4_K_lanes16_layout;
extern const ember_packed_layout ember_q5_K_lanes16_layout;
size_t ember_q4_K_act_aux_size(int64_t n);
/* Shared by the K-quant copies: value i (0..31) of a 24-byte field of 6-bit
 * pairs, and a super-block's 256 activation quants in the copies' register
 * order (for m, c: y[64c+4m], y[64c+4m+1], y[64c+32+4m], y[64c+32+4m+1],
 * then +2 and +3) */
void ember_lanes16_put6(uint8_t *f, int i, int v);
int ember_lanes16_get6(const uint8_t *f, int i);
void ember_lanes16_act_quants(const int8_t *qs, int8_t *out);
/* Q2_K's (kquants_lanes16.c) */
#define EMBER_Q2_K_LANES16_BLOCK (16 * sizeof(block_q2_K))
extern const ember_packed_layout ember_q2_K_lanes16_layout;
size_t ember_q2_K_act_aux_size(int64_t n);
/* Q6_K's 16-row copy (q6_K_lanes16.c), the size of the rows */
#define EMBER_Q6_K_LANES16_BLOCK (16 * sizeof(block_q6_K))
extern const ember_packed_layout ember_q6_K_lanes16_layout;
size_t ember_q6_K_act_aux_size(int64_t n);
/* Q3_K's 16-row copy (q3_K_lanes16.c), the size of the rows: d, scale
 * pairs, per lane three planes of 3-bit values */
#define EMBER_Q3_K_LANES16_BLOCK (16 * sizeof(block_q3_K))
extern const ember_packed_layout ember_q3_K_lanes16_layout;
size_t ember_q3_K_act_aux_size(int64_t n);
/* prefill_order.c */
void ember_vec_dot_f32_prefill_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_f16_prefill_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_bf16_prefill_ref(int n, float *s, const void *x, const void *y);
/* kquants.c */
void ember_dequant_q2_K(const void *x, float *y, int64_t n);
void ember_dequant_q3_K(const void *x, float *y, int64_t n);
void ember_dequant_q4_K(const void *x, float *y, int64_t n);
void ember_dequant_q5_K(const void *x, float *y, int64_t n);
void ember_dequant_q6_K(const void *x, float *y, int64_t n);
void ember_dequant_q8_K(const void *x, float *y, int64_t n);
void ember_quant_q2_K_ref(const float *x, void *y, int64_t n);
void ember_quant_q3_K_ref(const float *x, void *y, int64_t n);
void ember_quant_q4_K_ref(const float *x, void *y, int64_t n);
void ember_quant_q5_K_ref(const float *x, void *y, int64_t n);
void ember_quant_q6_K_ref(const float *x, void *y, int64_t n);
void ember_quant_q8_K_ref(const float *x, void *y, int64_t n);
void ember_vec_dot_q2_K_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q3_K_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q4_K_ref(int n, float *s, const void *x, const void *y);
/* scale and min of sub-block j (0..7) from a Q4_K/Q5_K block's 12 packed bytes */
void ember_k4_scale_min(int j, const uint8_t *q, uint8_t *d, uint8_t *m);
/* The K-quant dots' fold of 8 lane sums: ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)) */
float ember_hsum8(const float *a);
void ember_vec_dot_q5_K_ref(int n, float *s, const void *x, const void *y);
void ember_vec_dot_q6_K_ref(int n, float *s, const void *x, const void *y);
/* kquants_quant.c: importance-weighted quantization of ONE row of n values
 * (n a multiple of the block size) with per-column importances qw[n], as
 * llama.cpp quantizes with an imatrix. Returns 0, or 1 if the type takes no
 * importances (Q8_0, F16, BF16, F32: use from_float_ref). */
int ember_quant_row_weighted(int type, const float *x, void *y, int64_t n, const float *qw);

#endif
