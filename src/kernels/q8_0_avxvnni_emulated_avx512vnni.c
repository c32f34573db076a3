/* The AVX-VNNI build of the Q8_0/Q4_1/Q5_0/Q5_1 prompt kernels
 * (rows16_tokens, tokens; q8_0_avx2_body.h) with the EVEX form of VPDPBUSD
 * on ymm (AVX512-VNNI + VL; the same operation): the "avxvnni-emu" path,
 * the avx2 path plus these kernels, so tests prove the AVX-VNNI kernels on
 * AVX-512 machines without AVX-VNNI. */
#define EMBER_I8_DOT EMBER_I8_EVEX
#define Q8_0_SET_NAME ember_kernels_avxvnni_emulated_q8_0
#include "q8_0_avx2_body.h"
