/* Q4_0 prompt GEMM on AMX-INT8, shared by the hardware build (q4_0_amx.c)
 * and the emulated one (q4_0_amx_emulated_avx512.c); the includer defines
 * AMX_KERNEL_NAME and AMX_SET_NAME and includes amx_tiles.h first.
 *
 * Why it can be exact: llama.cpp's repacked Q4_0 order (q4_0_rows8.c) takes
 * per block the exact integer dot of 32 products and one float fma per
 * output. A TDPBSSD with K = 32 bytes computes exactly those integers for
 * 16 tokens x 16 rows at once (signed weights q - 8 times signed
 * activations), so the float part below (convert, dw * da, fma, block after
 * block) reproduces vec_dot_packed_tokens bit for bit.
 *
 * Tiles: A (tmm0/1) = 16 tokens x one block's 32 activation bytes, read in
 * place from the Q8_0 rows; B (tmm2/3) = the block's weights for 16 rows in
 * the VNNI layout B[k][4r + i] = w_r[4k + i] (8 rows of 64 bytes); C
 * (tmm4/5) = 16 x 16 int32. The packed 16-row group (q4_0_lanes16.c) is
 * already in that layout, as nibbles: B is unpacked from it once per chunk
 * of blocks and reused for every tile of tokens. Two blocks are in flight so that one block's TDPBSSD runs
 * while the other's sums are scaled into the accumulators. */
#include "../formats/formats.h"
#include "kernels.h"
#include <immintrin.h>

#define AMX_CHUNK 64 /* blocks unpacked per pass: 36 KiB of B tiles and scales */

typedef struct {
    _Alignas(64) int8_t b[AMX_CHUNK][8][64]; /* B tiles */
    _Alignas(64) float d[AMX_CHUNK][16];     /* row scales per block */
    _Alignas(64) int32_t c[2][16][16];       /* C tiles stored for the float part */
} amx_q4_0_scratch;

/* Blocks [b0, b0 + nc) of the group into B tiles and float scales. */
static inline void amx_q4_0_unpack(amx_q4_0_scratch *w, const uint8_t *group, int b0, int nc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    for (int j = 0; j < nc; j++) {
        const uint8_t *blk = group + (size_t)(b0 + j) * 16 * sizeof(block_q4_0);
        for (int k = 0; k < 4; k++) { /* chunk k: elements 4k..4k+3 are low nibbles, 16+4k.. high ones */
            const __m512i q = _mm512_loadu_si512(blk + 32 + 64 * k);
            _mm512_store_si512(w->b[j][k], _mm512_sub_epi8(_mm512_and_si512(q, m4), eight));
            _mm512_store_si512(w->b[j][k + 4], _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), eight));
        }
        _mm512_store_ps(w->d[j], _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk)));
    }
}

/* acc[t] = fma(c[t], dw * da[t], acc[t]) for the 16 tokens of a tile (rows
 * past the tile's end read a valid token and are never stored) */
static inline void amx_q4_0_scale(__m512 *acc, const int32_t (*c)[16], const float *dw, const float *const *da, int b) {
    const __m512 w = _mm512_load_ps(dw);
    for (int t = 0; t < 16; t++)
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(c[t])), _mm512_mul_ps(w, _mm512_set1_ps(da[t][b])),
                                 acc[t]);
}

static void AMX_KERNEL_NAME(int n, float *s, size_t s_stride, const void *group, const void *y, size_t y_stride,
                            const void *aux, size_t aux_stride, int nt) {
    const int nb = n / QK4_0;
    amx_q4_0_scratch w;
    memset(w.c, 0, sizeof w.c); /* C rows past a short tile's end stay defined */
    AMX_STATE;
    int cfg_rows = 0;
    for (int b0 = 0; b0 < nb; b0 += AMX_CHUNK) {
        const int nc = nb - b0 < AMX_CHUNK ? nb - b0 : AMX_CHUNK;
        amx_q4_0_unpack(&w, group, b0, nc);
        for (int t0 = 0; t0 < nt; t0 += 16) {
            const int mt = nt - t0 < 16 ? nt - t0 : 16;
            if (mt != cfg_rows) { /* A and C have one row per token */
                ember_amx_config cfg;
                memset(&cfg, 0, sizeof cfg);
                cfg.palette = 1;
                for (int i = 0; i < 2; i++) {
                    cfg.rows[i] = (uint8_t)mt, cfg.colsb[i] = QK8_0;        /* A */
                    cfg.rows[2 + i] = QK8_0 / 4, cfg.colsb[2 + i] = 64;    /* B */
                    cfg.rows[4 + i] = (uint8_t)mt, cfg.colsb[4 + i] = 64;  /* C */
                }
                AMX_CONFIG(&cfg);
                cfg_rows = mt;
            }
            const float *da[16]; /* float scales of each token's blocks (act_aux) */
            for (int t = 0; t < 16; t++)
                da[t] = (const float *)((const char *)aux + (size_t)(t0 + (t < mt ? t : mt - 1)) * aux_stride) + b0;
            __m512 acc[16];
            for (int t = 0; t < 16; t++)
                acc[t] = b0 && t < mt ? _mm512_loadu_ps(s + (size_t)(t0 + t) * s_stride) : _mm512_setzero_ps();
            /* A rows: token t's block b quants, y_stride apart */
            const char *a = (const char *)y + (size_t)t0 * y_stride + offsetof(block_q8_0, qs);
            for (int j = 0; j < nc; j += 2) {
                AMX_LOAD(0, a + (size_t)(b0 + j) * sizeof(block_q8_0), y_stride);
                AMX_LOAD(2, w.b[j], 64);
                AMX_ZERO(4);
                AMX_DPBSSD(4, 0, 2);
                if (j + 1 < nc) {
                    AMX_LOAD(1, a + (size_t)(b0 + j + 1) * sizeof(block_q8_0), y_stride);
                    AMX_LOAD(3, w.b[j + 1], 64);
                    AMX_ZERO(5);
                    AMX_DPBSSD(5, 1, 3);
                }
                AMX_STORE(4, w.c[0], 64);
                amx_q4_0_scale(acc, (const int32_t(*)[16])w.c[0], w.d[j], da, j);
                if (j + 1 < nc) {
                    AMX_STORE(5, w.c[1], 64);
                    amx_q4_0_scale(acc, (const int32_t(*)[16])w.c[1], w.d[j + 1], da, j + 1);
                }
            }
            for (int t = 0; t < mt; t++) _mm512_storeu_ps(s + (size_t)(t0 + t) * s_stride, acc[t]);
        }
    }
    if (cfg_rows) AMX_RELEASE();
}

void AMX_SET_NAME(ember_kernel_set *ks) { ks->gemm_packed[EMBER_TYPE_Q4_0] = AMX_KERNEL_NAME; }
