/* Chooses kernels per CPU path. Paths are layered: avx512 starts from the
 * avx2 set and overrides what it implements better. */
#include "kernels.h"
#include "../runtime/cpu.h"
#include <string.h>

void ember_kernels_for_path(const char *path, ember_kernel_set *ks) {
    memset(ks, 0, sizeof *ks);
    if (!path) path = ember_cpu_path_name();
    ks->from_float[EMBER_TYPE_Q8_0] = ember_quant_q8_0_act;
    ks->from_float[EMBER_TYPE_Q8_1] = ember_quant_q8_1_act;
    if (!strcmp(path, "scalar")) return;
    ember_kernels_avx2_simple(ks);
    ember_kernels_avx2_kquants(ks);
    ember_kernels_avx2_prefill(ks);
    if (!strcmp(path, "avx2")) return;
    ember_kernels_avx512_simple(ks);
    ember_kernels_avx512_kquants(ks);
    ember_kernels_avx512_prefill(ks);
}
