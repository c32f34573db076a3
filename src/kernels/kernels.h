/* Kernel sets per instruction set. Each SIMD translation unit fills the
 * entries it implements; dispatch.c applies them over the scalar refs in
 * order scalar -> avx2 -> avx512 according to the CPU path. Every entry must
 * agree with the reference in formats/ (tests/test_kernels.c checks). */
#ifndef EMBER_KERNELS_H
#define EMBER_KERNELS_H

#include "../formats/formats.h"

typedef struct {
    ember_vec_dot_fn vec_dot[EMBER_TYPE_COUNT];
    ember_from_float_fn from_float[EMBER_TYPE_COUNT];
    ember_vec_dot_fn vec_dot_prefill[EMBER_TYPE_COUNT];
    ember_vec_dot_fn vec_dot_rows8[EMBER_TYPE_COUNT];
    void (*vec_dot_rows8_x8[EMBER_TYPE_COUNT])(int n, float *s, const void *x, size_t row_bytes, const void *y);
    ember_vec_dot_packed_tokens_fn vec_dot_packed_tokens[EMBER_TYPE_COUNT];
    /* the packed form the packed kernels above read (set with them) */
    const ember_packed_layout *packed_layout[EMBER_TYPE_COUNT];
    /* the packed tokens kernel also serves one token best (decoding then
     * reads the packed copy, not the file's rows) */
    int packed_decode[EMBER_TYPE_COUNT];
    void (*vec_dot_tokens[EMBER_TYPE_COUNT])(int n, float *s, const void *x, const void *y, size_t y_stride, int nt);
    void (*vec_dot_rows_tokens[EMBER_TYPE_COUNT])(int n, float *s, size_t s_stride, const void *x, size_t x_stride, int nr,
                                                  const void *y, size_t y_stride, int nt);
    void (*vec_dot_rows4[EMBER_TYPE_COUNT])(int n, float *s, const void *x, size_t row_bytes, const void *y);
    ember_vec_dot_rows16_tokens_fn vec_dot_rows16_tokens[EMBER_TYPE_COUNT];
    ember_gemm_packed_fn gemm_packed[EMBER_TYPE_COUNT];
    void (*vec_dot_prefill_tile[EMBER_TYPE_COUNT])(int n, float *s, size_t s_stride, const void *x, size_t x_stride,
                                                   int nr, const void *y, size_t y_stride, int nt);
    /* compute peaks for benchmarks: run iters rounds, return operations */
    double (*peak_f32)(long iters, float *sink);
    double (*peak_i8)(long iters, float *sink);
    double (*peak_bf16)(long iters, float *sink); /* VDPBF16PS, where BF16 weights use it */
    /* row operations (not per type) */
    void (*swiglu)(float *g, const float *u, int n);
    double (*softmax_exp_sum)(float *x, int n, float mx);
    void (*rope)(float *x, int n_heads, int head_dim, const float *cs, int n_rot, int neox);
    float (*scale_max)(float *x, int n, float s);
    void (*sumsq_rows)(const float *x, size_t stride, int nrows, int n, double *sums);
    double (*sumsq_unordered)(const float *x, int n);
    void (*scale_mul)(float *y, const float *x, float s, const float *w, int n);
} ember_kernel_set;

/* The prefetch hint of decoding's weight streams, which read each weight
 * byte once per token: non-temporal (into L1, not kept in L2/L3 when
 * evicted) instead of into L2. Zen 5, 2 threads, tg128 alternations
 * against T1/T0 (medians, runs won): Q4_0 +5-24 % (29 of 30), Q8_0 +10 %
 * (6/6), Q4_K +10-17 % (17 of 18), Q6_K +12 % (6/6), Q4_0 on the AVX2 path
 * +9 % (6/6), F16 even (8 of 14); prompts even;
 * the TSC split puts the gain in the matmuls (-8 to -14 % each), not in
 * attention, so it is the stream itself that runs faster, not the data
 * it no longer evicts. A single matmul alone in a microbenchmark was even.
 * Expands to an <immintrin.h> constant at the x86 call sites. */
#define EMBER_PF_STREAM _MM_HINT_NTA

/* Runs STMT with the constant NT equal to nt (1..8, the token counts of
 * the tokens/rows16 traits; others run as 8), so a kernel written for a
 * constant token count gets its token loops unrolled at each count. */
#define EMBER_WITH_NT8(nt, STMT)                                                                  \
    do {                                                                                          \
        switch (nt) {                                                                             \
        case 1: { enum { NT = 1 }; STMT; } break;                                                 \
        case 2: { enum { NT = 2 }; STMT; } break;                                                 \
        case 3: { enum { NT = 3 }; STMT; } break;                                                 \
        case 4: { enum { NT = 4 }; STMT; } break;                                                 \
        case 5: { enum { NT = 5 }; STMT; } break;                                                 \
        case 6: { enum { NT = 6 }; STMT; } break;                                                 \
        case 7: { enum { NT = 7 }; STMT; } break;                                                 \
        default: { enum { NT = 8 }; STMT; } break;                                                \
        }                                                                                         \
    } while (0)

/* activation row k of a batch whose rows are stride bytes apart */
static inline const void *ember_batch_row(const void *base, size_t stride, int k) {
    return (const char *)base + (size_t)k * stride;
}

/* per file; the suffix names the extensions a file is built for */
void ember_kernels_avx2_simple(ember_kernel_set *ks);         /* simple_avx2.c */
void ember_kernels_avx2_kquants(ember_kernel_set *ks);        /* kquants_avx2.c */
void ember_kernels_avx2_prefill(ember_kernel_set *ks);        /* prefill_avx2.c */
void ember_kernels_avx2_peak(ember_kernel_set *ks);           /* peak_avx2.c */
void ember_kernels_avx2_tokens_float(ember_kernel_set *ks);   /* tokens_float_avx2.c */
void ember_kernels_avx2_rowops(ember_kernel_set *ks);         /* rowops_avx2.c */
void ember_kernels_avx2_q8_0(ember_kernel_set *ks);           /* q8_0_avx2.c */
void ember_kernels_avx2_gemm_float(ember_kernel_set *ks);     /* gemm_float_avx2.c */
void ember_kernels_avxvnni_simple(ember_kernel_set *ks);      /* simple_avxvnni.c */
void ember_kernels_avxvnni_q8_0(ember_kernel_set *ks);        /* q8_0_avxvnni.c */
void ember_kernels_avxvnni_q4_0(ember_kernel_set *ks);        /* q4_0_avxvnni.c */
void ember_kernels_avxvnni_emulated_simple(ember_kernel_set *ks); /* simple_avxvnni_emulated_avx512vnni.c */
void ember_kernels_avxvnni_emulated_q8_0(ember_kernel_set *ks);   /* q8_0_avxvnni_emulated_avx512vnni.c */
void ember_kernels_avxvnni_emulated_q4_0(ember_kernel_set *ks);   /* q4_0_avxvnni_emulated_avx512vnni.c */
void ember_kernels_avx512_simple(ember_kernel_set *ks);       /* simple_avx512.c */
void ember_kernels_avx512_prefill(ember_kernel_set *ks);      /* prefill_avx512.c */
void ember_kernels_avx512_rowops(ember_kernel_set *ks);       /* rowops_avx512.c */
void ember_kernels_avx512_gemm_float(ember_kernel_set *ks);   /* gemm_float_avx512.c */
void ember_kernels_avx512_peak(ember_kernel_set *ks);         /* peak_avx512.c */
void ember_kernels_avx512_tokens_float(ember_kernel_set *ks); /* tokens_float_avx512.c */
void ember_kernels_avx512vnni_simple(ember_kernel_set *ks);   /* simple_avx512vnni.c */
void ember_kernels_avx512vnni_kquants(ember_kernel_set *ks);  /* kquants_avx512vnni.c */
void ember_kernels_avx512vnni_lanes16(ember_kernel_set *ks); /* lanes16_avx512vnni.c */
void ember_kernels_avx512vnni_kquants_lanes16(ember_kernel_set *ks); /* kquants_lanes16_avx512vnni.c */
void ember_kernels_avx512vnni_q6_K_lanes16(ember_kernel_set *ks);    /* q6_K_lanes16_avx512vnni.c */
void ember_kernels_avx512vnni_q3_K_lanes16(ember_kernel_set *ks);    /* q3_K_lanes16_avx512vnni.c */
void ember_kernels_avx512vnni_q4_0(ember_kernel_set *ks);     /* q4_0_avx512vnni.c */
void ember_kernels_avx512vnni_peak(ember_kernel_set *ks);     /* peak_avx512vnni.c */
void ember_kernels_avx512bf16_bf16(ember_kernel_set *ks);     /* bf16_avx512bf16.c */
void ember_kernels_amx_q4_0(ember_kernel_set *ks);            /* q4_0_amx.c */
void ember_kernels_amx_peak(ember_kernel_set *ks);            /* peak_amx.c */
void ember_kernels_amx_emulated_q4_0(ember_kernel_set *ks);   /* q4_0_amx_emulated_avx512.c */

/* The kernel set for a named path ("scalar", "avx2", "avx512", "amx",
 * "amx-emu": avx512 plus the AMX kernels, real or with modelled tiles; the
 * avx512 sets needing VNNI or BF16 only where the CPU has them; avx2 with
 * the AVX-VNNI int8 kernels where the CPU has AVX-VNNI; "avxvnni-emu": avx2
 * plus those kernels built with EVEX VPDPBUSD); entries
 * not provided by that path are NULL. Used by tests to compare every path
 * the machine supports against the reference. */
void ember_kernels_for_path(const char *path, ember_kernel_set *ks);

#endif
