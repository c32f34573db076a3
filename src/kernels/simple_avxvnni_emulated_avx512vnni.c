/* The AVX-VNNI build of the Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 dots
 * (simple_avx2_body.h) with the EVEX form of VPDPBUSD on ymm
 * (AVX512-VNNI + VL; the same operation): the "avxvnni-emu" path, the avx2
 * path plus these kernels, so tests prove the AVX-VNNI kernels on AVX-512
 * machines without AVX-VNNI. */
#define EMBER_I8_DOT EMBER_I8_EVEX
#include "simple_avx2_body.h"

void ember_kernels_avxvnni_emulated_simple(ember_kernel_set *ks) { simple_i8_kernels(ks); }
