/* The u8 x s8 dot step of the AVX2-path int8 kernels, in the instruction
 * set of the file that includes it. The includer defines EMBER_I8_DOT:
 *   EMBER_I8_AVX2     VPMADDUBSW (int16 pair sums) ... VPMADDWD(ones)
 *   EMBER_I8_AVXVNNI  VEX VPDPBUSD on ymm (AVX-VNNI: Alder Lake and later,
 *                     Sierra Forest; built with -mavxvnni)
 *   EMBER_I8_EVEX     EVEX VPDPBUSD on ymm (AVX512-VNNI + VL): the same
 *                     operation, so the AVX-VNNI kernels run and are tested
 *                     on AVX-512 machines (the "avxvnni-emu" path)
 * Kernels hold "partial" sums p in a __m256i: int16 pair sums (AVX2) or
 * int32 sums of four products (VNNI), and widen them to int32 lanes, lane m
 * = the products of bytes 4m..4m+3, at the end. VPDPBUSD never saturates;
 * VPMADDUBSW does, so the AVX2 kernels only feed it operands whose pair sums
 * (and the int16 sums of those they add) stay within int16: every form
 * then gives the same exact integers, hence the same float results. */
#ifndef EMBER_I8_DOT_X86_H
#define EMBER_I8_DOT_X86_H

#include <immintrin.h>

#define EMBER_I8_AVX2 1
#define EMBER_I8_AVXVNNI 2
#define EMBER_I8_EVEX 3

#if !defined(EMBER_I8_DOT)
#error "define EMBER_I8_DOT before including i8_dot_x86.h"
#elif EMBER_I8_DOT == EMBER_I8_AVX2

/* p = products of unsigned u and signed s, as partial sums */
static inline __m256i i8_pdot(__m256i u, __m256i s) { return _mm256_maddubs_epi16(u, s); }
static inline __m256i i8_padd(__m256i p, __m256i q) { return _mm256_add_epi16(p, q); }
static inline __m256i i8_psub(__m256i p, __m256i q) { return _mm256_sub_epi16(p, q); }
/* p + pdot(u, s) */
static inline __m256i i8_pdot_add(__m256i p, __m256i u, __m256i s) { return i8_padd(p, i8_pdot(u, s)); }
/* int32 lane m = bytes 4m..4m+3 */
static inline __m256i i8_pwiden(__m256i p) { return _mm256_madd_epi16(p, _mm256_set1_epi16(1)); }
/* per 128-bit half: widened [p 0..7, p 8..15, q 0..7, q 8..15] (bytes summed) */
static inline __m256i i8_pwiden_hadd(__m256i p, __m256i q) { return i8_pwiden(_mm256_hadd_epi16(p, q)); }

#else

#if EMBER_I8_DOT == EMBER_I8_AVXVNNI
#define I8_DPBUSD _mm256_dpbusd_avx_epi32
#elif EMBER_I8_DOT == EMBER_I8_EVEX
#define I8_DPBUSD _mm256_dpbusd_epi32
#else
#error "unknown EMBER_I8_DOT"
#endif
static inline __m256i i8_pdot_add(__m256i p, __m256i u, __m256i s) { return I8_DPBUSD(p, u, s); }
static inline __m256i i8_pdot(__m256i u, __m256i s) { return I8_DPBUSD(_mm256_setzero_si256(), u, s); }
static inline __m256i i8_padd(__m256i p, __m256i q) { return _mm256_add_epi32(p, q); }
static inline __m256i i8_psub(__m256i p, __m256i q) { return _mm256_sub_epi32(p, q); }
static inline __m256i i8_pwiden(__m256i p) { return p; }
static inline __m256i i8_pwiden_hadd(__m256i p, __m256i q) { return _mm256_hadd_epi32(p, q); }

#endif

/* int32 lane m = sum of u[j] * s[j], j = 4m..4m+3 */
static inline __m256i i8_dot(__m256i u, __m256i s) { return i8_pwiden(i8_pdot(u, s)); }

#endif
