/* The Q8_0/Q4_1/Q5_0/Q5_1 prompt kernels (q8_0_avx2_body.h) on AVX2:
 * VPMADDUBSW + VPMADDWD. */
#define EMBER_I8_DOT EMBER_I8_AVX2
#define Q8_0_SET_NAME ember_kernels_avx2_q8_0
#include "q8_0_avx2_body.h"
