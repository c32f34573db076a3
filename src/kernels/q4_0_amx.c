/* Q4_0 prompt GEMM on the AMX tile hardware (the "amx" path only: the CPU
 * has AMX-INT8 and Linux granted the tile permission; see runtime/cpu.c). */
#include "amx_tiles.h"
#define AMX_KERNEL_NAME gemm_q4_0_amx
#define AMX_SET_NAME ember_kernels_amx_q4_0
#include "q4_0_amx_body.h"
