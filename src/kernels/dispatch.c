/* Chooses kernels per CPU path. Paths are layered: avx512 starts from the
 * avx2 set and overrides what it implements better, amx adds its tile
 * kernels to avx512, avxvnni-emu is avx2 plus the AVX-VNNI kernels. Within a path a kernel file is used only if the CPU has
 * the extensions it is built for. */
#include "kernels.h"
#include "../runtime/cpu.h"
#include <string.h>

void ember_kernels_for_path(const char *path, ember_kernel_set *ks) {
    memset(ks, 0, sizeof *ks);
    if (!path) path = ember_cpu_path_name();
    ks->from_float[EMBER_TYPE_Q8_0] = ember_quant_q8_0_act;
    ks->from_float[EMBER_TYPE_Q8_1] = ember_quant_q8_1_act;
    /* the scalar path sums block quants in the SIMD order: same results on
     * every CPU for these types; the float formats in the order of llama.cpp's
     * AVX-512 build, which made the golden outputs */
    ks->vec_dot[EMBER_TYPE_Q4_0] = ember_vec_dot_q4_0_lanes;
    ks->vec_dot[EMBER_TYPE_Q4_1] = ember_vec_dot_q4_1_lanes;
    ks->vec_dot[EMBER_TYPE_Q5_0] = ember_vec_dot_q5_0_lanes;
    ks->vec_dot[EMBER_TYPE_Q5_1] = ember_vec_dot_q5_1_lanes;
    ks->vec_dot[EMBER_TYPE_Q8_0] = ember_vec_dot_q8_0_lanes;
    ks->vec_dot[EMBER_TYPE_BF16] = ember_vec_dot_bf16_lanes;
    ks->vec_dot[EMBER_TYPE_F32] = ember_vec_dot_f32_lanes;
    ks->vec_dot[EMBER_TYPE_F16] = ember_vec_dot_f16_lanes;
    if (!strcmp(path, "scalar")) return;
    ember_kernels_avx2_simple(ks);
    ember_kernels_avx2_kquants(ks);
    ember_kernels_avx2_prefill(ks);
    ember_kernels_avx2_peak(ks);
    ember_kernels_avx2_tokens_float(ks);
    ember_kernels_avx2_rowops(ks);
    ember_kernels_avx2_q8_0(ks);
    ember_kernels_avx2_gemm_float(ks);
    const ember_cpu_features *f = ember_cpu();
    /* AVX-VNNI: the same int8 kernels with VPDPBUSD (one instruction for
     * VPMADDUBSW + VPMADDWD + VPADDD); "avxvnni-emu" runs them with its
     * EVEX form (AVX512-VNNI + VL) so they are tested on AVX-512 machines */
    if (!strcmp(path, "avxvnni-emu")) {
        ember_kernels_avxvnni_emulated_simple(ks);
        ember_kernels_avxvnni_emulated_q8_0(ks);
        ember_kernels_avxvnni_emulated_q4_0(ks);
        return;
    }
    if (f->avx_vnni) {
        ember_kernels_avxvnni_simple(ks);
        ember_kernels_avxvnni_q8_0(ks);
        ember_kernels_avxvnni_q4_0(ks);
    }
    if (!strcmp(path, "avx2")) return;
    ember_kernels_avx512_simple(ks);
    ember_kernels_avx512_prefill(ks);
    ember_kernels_avx512_rowops(ks);
    ember_kernels_avx512_gemm_float(ks);
    ember_kernels_avx512_peak(ks);
    ember_kernels_avx512_tokens_float(ks);
    /* without VNNI (Skylake-SP) the int8 kernels stay AVX2's, without BF16
     * (Cascade Lake, Ice Lake) BF16's: every path gives the same results */
    if (f->avx512_vnni) {
        ember_kernels_avx512vnni_simple(ks);
        ember_kernels_avx512vnni_kquants(ks);
        ember_kernels_avx512vnni_lanes16(ks);
        ember_kernels_avx512vnni_kquants_lanes16(ks);
        ember_kernels_avx512vnni_q6_K_lanes16(ks);
        ember_kernels_avx512vnni_q3_K_lanes16(ks);
        ember_kernels_avx512vnni_q4_0(ks);
        ember_kernels_avx512vnni_peak(ks);
    }
    if (f->avx512_bf16) ember_kernels_avx512bf16_bf16(ks);
    if (!strcmp(path, "amx")) ember_kernels_amx_q4_0(ks), ember_kernels_amx_peak(ks);
    else if (!strcmp(path, "amx-emu")) ember_kernels_amx_emulated_q4_0(ks);
}
