/* The int8 compute peak of the AMX path for `ember bench`: four independent
 * TDPBSSD accumulators over two A and two B tiles of full size (16 x 64
 * bytes), nothing else. Returns the operations done (multiply-add = 2). */
#include "amx_tiles.h"
#include "kernels.h"

static double peak_i8_amx(long iters, float *sink) {
    _Alignas(64) static const int8_t src[16][64] = {{1, -2, 3}};
    _Alignas(64) int32_t c[16][16];
    ember_amx_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
    AMX_CONFIG(&cfg);
    AMX_LOAD(0, src, 64);
    AMX_LOAD(1, src, 64);
    AMX_LOAD(2, src, 64);
    AMX_LOAD(3, src, 64);
    AMX_ZERO(4);
    AMX_ZERO(5);
    AMX_ZERO(6);
    AMX_ZERO(7);
    for (long i = 0; i < iters; i++) {
        AMX_DPBSSD(4, 0, 2);
        AMX_DPBSSD(5, 0, 3);
        AMX_DPBSSD(6, 1, 2);
        AMX_DPBSSD(7, 1, 3);
    }
    AMX_STORE(4, c, 64);
    int32_t s = c[0][0];
    AMX_STORE(5, c, 64);
    s ^= c[0][0];
    AMX_STORE(6, c, 64);
    s ^= c[0][0];
    AMX_STORE(7, c, 64);
    s ^= c[0][0];
    AMX_RELEASE();
    *sink = (float)s;
    return (double)iters * 4 * 16 * 16 * 64 * 2;
}

void ember_kernels_amx_peak(ember_kernel_set *ks) { ks->peak_i8 = peak_i8_amx; }
