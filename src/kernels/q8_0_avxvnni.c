/* AVX-VNNI build (VEX VPDPBUSD on ymm, -mavxvnni) of the Q8_0/Q4_1/Q5_0/Q5_1
 * prompt kernels (rows16_tokens, tokens; q8_0_avx2_body.h) for the avx2
 * path on CPUs with AVX-VNNI and no AVX-512 (Alder Lake and later, Sierra
 * Forest): dispatch.c adds it there. */
#define EMBER_I8_DOT EMBER_I8_AVXVNNI
#define Q8_0_SET_NAME ember_kernels_avxvnni_q8_0
#include "q8_0_avx2_body.h"
