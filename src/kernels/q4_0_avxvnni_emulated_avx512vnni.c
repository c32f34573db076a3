/* The AVX-VNNI build of the Q4_0 rows8, rows8_x8 and packed (one token,
 * prompt batches) kernels (q4_0_avx2_body.h) with the EVEX form of VPDPBUSD
 * on ymm (AVX512-VNNI + VL; the same operation): the "avxvnni-emu" path, the
 * avx2 path plus these kernels, so tests prove the AVX-VNNI kernels on
 * AVX-512 machines without AVX-VNNI. */
#define EMBER_I8_DOT EMBER_I8_EVEX
#include "q4_0_avx2_body.h"

void ember_kernels_avxvnni_emulated_q4_0(ember_kernel_set *ks) { q4_0_i8_kernels(ks); }
