/* Prompt-order tiles for the float formats: up to 4 weight rows x 6 tokens
 * per call (24 accumulators leave registers for the operands; a 4 x 6 walk
 * of a 2048 x 2048 F16 matrix ran at 302-325 GFLOP/s where 4 x 4 reached
 * 282-307, 2 threads on a Zen 5 EPYC), each output bit-identical to the
 * prompt-order dot in prefill_avx512.c (16 lanes, lane r takes elements r,
 * r+16, ... by fma, then the pairwise tree). The single dot is one fma
 * chain, bound by its latency; a tile runs up to 24 chains at once and
 * converts each weight vector once for its tokens and each activation
 * vector once for its rows. */
#include "float_tile_avx512.h"

TILE_KIND(F32, tile_f32, 0)
TILE_KIND(F16, tile_f16, 0)

void ember_kernels_avx512_gemm_float(ember_kernel_set *ks) {
    ks->vec_dot_prefill_tile[EMBER_TYPE_F32] = tile_f32;
    ks->vec_dot_prefill_tile[EMBER_TYPE_F16] = tile_f16;
}
