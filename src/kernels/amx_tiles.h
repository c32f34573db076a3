/* The few AMX tile operations ember's matrix-engine kernels use, either as
 * the real instructions (built with -mamx-tile -mamx-int8, run only where
 * the CPU has AMX and Linux granted the tile permission) or, with
 * EMBER_AMX_EMULATE defined, as a portable model of their architectural
 * semantics (Intel SDM: LDTILECFG, TILELOADD, TILEZERO, TDPBSSD,
 * TILESTORED). The model lets the same kernel source, its tile shapes and
 * its data layout run and be tested on any machine; it aborts on the shape
 * errors that fault on hardware. */
#ifndef EMBER_AMX_TILES_H
#define EMBER_AMX_TILES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* LDTILECFG's 64-byte operand, palette 1: up to 8 tiles of up to 16 rows of
 * up to 64 bytes. */
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} ember_amx_config;

#ifdef EMBER_AMX_EMULATE
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    ember_amx_config cfg;
    int configured;
    uint8_t tile[8][16][64];
} ember_amx_state;

static void amx_emu_fail(const char *what, int t) {
    fprintf(stderr, "ember: emulated AMX: %s (tile %d); hardware would fault\n", what, t);
    abort();
}

static void amx_emu_check(const ember_amx_state *st, int t) {
    if (!st->configured) amx_emu_fail("tile used before LDTILECFG", t);
    if (t < 0 || t > 7 || st->cfg.rows[t] == 0 || st->cfg.rows[t] > 16 || st->cfg.colsb[t] == 0 ||
        st->cfg.colsb[t] > 64 || st->cfg.colsb[t] % 4)
        amx_emu_fail("tile not configured for use", t);
}

static inline void amx_emu_config(ember_amx_state *st, const ember_amx_config *c) {
    if (c->palette != 1) amx_emu_fail("palette must be 1", -1);
    st->cfg = *c;
    st->configured = 1;
    memset(st->tile, 0, sizeof st->tile);
}

static inline void amx_emu_zero(ember_amx_state *st, int t) {
    amx_emu_check(st, t);
    memset(st->tile[t], 0, sizeof st->tile[t]);
}

/* rows[t] rows of colsb[t] bytes from base + r * stride; the rest zeroed */
static inline void amx_emu_load(ember_amx_state *st, int t, const void *base, size_t stride) {
    amx_emu_check(st, t);
    memset(st->tile[t], 0, sizeof st->tile[t]);
    for (int r = 0; r < st->cfg.rows[t]; r++) memcpy(st->tile[t][r], (const char *)base + (size_t)r * stride, st->cfg.colsb[t]);
}

static inline void amx_emu_store(ember_amx_state *st, int t, void *base, size_t stride) {
    amx_emu_check(st, t);
    for (int r = 0; r < st->cfg.rows[t]; r++) memcpy((char *)base + (size_t)r * stride, st->tile[t][r], st->cfg.colsb[t]);
}

/* c[m][n] += sum over k, i < 4 of a[m][4k + i] * b[k][4n + i], signed bytes,
 * 32-bit wrapping sums */
static inline void amx_emu_dpbssd(ember_amx_state *st, int c, int a, int b) {
    amx_emu_check(st, c), amx_emu_check(st, a), amx_emu_check(st, b);
    const ember_amx_config *g = &st->cfg;
    if (g->colsb[c] != g->colsb[b] || g->colsb[a] != 4 * g->rows[b] || g->rows[a] != g->rows[c])
        amx_emu_fail("TDPBSSD shapes do not match", c);
    for (int m = 0; m < g->rows[c]; m++)
        for (int n = 0; n < g->colsb[c] / 4; n++) {
            uint32_t acc;
            memcpy(&acc, &st->tile[c][m][4 * n], 4);
            for (int k = 0; k < g->colsb[a] / 4; k++)
                for (int i = 0; i < 4; i++)
                    acc += (uint32_t)((int32_t)(int8_t)st->tile[a][m][4 * k + i] * (int8_t)st->tile[b][k][4 * n + i]);
            memcpy(&st->tile[c][m][4 * n], &acc, 4);
        }
}

#define AMX_STATE ember_amx_state amx_st_
#define AMX_CONFIG(cfg) amx_emu_config(&amx_st_, (cfg))
#define AMX_ZERO(t) amx_emu_zero(&amx_st_, (t))
#define AMX_LOAD(t, base, stride) amx_emu_load(&amx_st_, (t), (base), (stride))
#define AMX_STORE(t, base, stride) amx_emu_store(&amx_st_, (t), (base), (stride))
#define AMX_DPBSSD(c, a, b) amx_emu_dpbssd(&amx_st_, (c), (a), (b))
#define AMX_RELEASE() ((void)amx_st_)
#else
#include <immintrin.h>
#define AMX_STATE int amx_st_unused_ __attribute__((unused))
#define AMX_CONFIG(cfg) _tile_loadconfig(cfg)
#define AMX_ZERO(t) _tile_zero(t)
#define AMX_LOAD(t, base, stride) _tile_loadd(t, base, (long)(stride))
#define AMX_STORE(t, base, stride) _tile_stored(t, base, (long)(stride))
#define AMX_DPBSSD(c, a, b) _tile_dpbssd(c, a, b)
#define AMX_RELEASE() _tile_release()
#endif

#endif
