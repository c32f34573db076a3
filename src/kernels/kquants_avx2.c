/* AVX2 K-quant kernels. They must keep the summation order documented in
 * formats/kquants.c. Types without an entry here run the scalar reference. */
#include "kernels.h"

void ember_kernels_avx2_kquants(ember_kernel_set *ks) { (void)ks; }
