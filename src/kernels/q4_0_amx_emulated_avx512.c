/* The AMX Q4_0 kernel with its tile instructions modelled in C (the
 * "amx-emu" path): the same source, tile shapes, data layout and float
 * order as the hardware kernel, runnable on any AVX-512 machine, so tests
 * prove the kernel's logic where there is no AMX. Far too slow to serve. */
#define EMBER_AMX_EMULATE 1
#include "amx_tiles.h"
#define AMX_KERNEL_NAME gemm_q4_0_amx_emulated
#define AMX_SET_NAME ember_kernels_amx_emulated_q4_0
#include "q4_0_amx_body.h"
