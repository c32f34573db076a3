/* AVX-512 K-quant kernels: the AVX2 ones are used (llama.cpp has no wider
 * K-quant kernels, and matching its order is what keeps tokens identical). */
#include "kernels.h"

void ember_kernels_avx512_kquants(ember_kernel_set *ks) { (void)ks; }
