/* Side data for the Q8_0 tile kernels (kernels/gemm_q8_0_*.c), built once
 * per activation row so the kernels do not redo it for every weight row:
 * per block, the 8 lane sums -128 * (y[4k]+..+y[4k+3]) as int32 (the VNNI
 * kernels compute (x+128)*y, exact for every int8 pair, and start from this
 * correction), then per block the scale d as float. */
#include "formats.h"
#include "fp16.h"
#include <string.h>

size_t ember_q8_0_tile_aux_size(int64_t n) { return (size_t)(n / QK8_0) * (8 * sizeof(int32_t) + sizeof(float)); }

void ember_q8_0_tile_aux(const void *vy, void *aux, int64_t n) {
    const block_q8_0 *y = vy;
    const int64_t nb = n / QK8_0;
    int32_t *corr = aux;
    float *d = (float *)(corr + 8 * nb);
    for (int64_t b = 0; b < nb; b++) {
        for (int k = 0; k < 8; k++) {
            const int8_t *q = y[b].qs + 4 * k;
            corr[8 * b + k] = -128 * ((int32_t)q[0] + q[1] + q[2] + q[3]);
        }
        d[b] = ember_fp16_to_fp32(y[b].d);
    }
}
