/* AVX-VNNI build (VEX VPDPBUSD on ymm, -mavxvnni) of the Q4_0 rows8,
 * rows8_x8 and packed (one token, prompt batches) kernels (q4_0_avx2_body.h)
 * for the avx2 path on CPUs with AVX-VNNI and no AVX-512 (Alder Lake and
 * later, Sierra Forest): dispatch.c adds it there. */
#define EMBER_I8_DOT EMBER_I8_AVXVNNI
#include "q4_0_avx2_body.h"

void ember_kernels_avxvnni_q4_0(ember_kernel_set *ks) { q4_0_i8_kernels(ks); }
