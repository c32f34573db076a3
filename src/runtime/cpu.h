/* Run-time CPU feature detection (cpuid + xgetbv; OS support checked). */
#ifndef EMBER_CPU_H
#define EMBER_CPU_H

typedef struct {
    int sse42, avx, avx2, fma, f16c;
    int avx512f, avx512bw, avx512vl, avx512dq, avx512_vnni, avx512_bf16, avx_vnni;
    int amx_tile, amx_int8, amx_bf16, amx_permitted;
    char brand[64];
} ember_cpu_features;

const ember_cpu_features *ember_cpu(void);
/* Best supported path, or the one forced with
 * EMBER_CPU=scalar|avx2|avx512|amx|amx-emu|avxvnni-emu (a forced path the
 * CPU lacks falls back to the best it has, with a warning). "amx" is avx512
 * plus the AMX tile kernels; "amx-emu" runs those kernels with the tile
 * instructions modelled in C; "avxvnni-emu" is avx2 plus the AVX-VNNI int8
 * kernels built with EVEX VPDPBUSD (AVX512-VNNI + VL) (both for tests; never
 * chosen by themselves). The avx2 path uses the AVX-VNNI kernels by itself
 * where the CPU has avx_vnni. */
const char *ember_cpu_path_name(void);
int ember_cpu_path_supported(const char *path);

/* 1 if the kernel hands out transparent huge pages on madvise (or always):
 * the loader's row copies of the weights exist only for them. */
int ember_huge_pages_available(void);

#endif
