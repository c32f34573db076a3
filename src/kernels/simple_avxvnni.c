/* AVX-VNNI build (VEX VPDPBUSD on ymm, -mavxvnni) of the
 * Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 dots (simple_avx2_body.h) for the avx2 path on
 * CPUs with AVX-VNNI and no AVX-512 (Alder Lake and later, Sierra Forest):
 * dispatch.c adds it there. */
#define EMBER_I8_DOT EMBER_I8_AVXVNNI
#include "simple_avx2_body.h"

void ember_kernels_avxvnni_simple(ember_kernel_set *ks) { simple_i8_kernels(ks); }
