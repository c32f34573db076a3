/* Unicode helpers for the BPE pre-tokenizers: general category groups,
 * whitespace as llama.cpp defines it, UTF-8 decoding with U+FFFD for
 * invalid input. */
#ifndef EMBER_UNICODE_H
#define EMBER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum { UCAT_L, UCAT_N, UCAT_P, UCAT_S, UCAT_M, UCAT_Z, UCAT_C, UCAT_NONE };
typedef struct { uint32_t lo, hi; uint8_t group; } ember_ucat_range;
extern const ember_ucat_range ember_ucat_ranges[];
extern const int ember_ucat_n_ranges;

int ember_ucat(uint32_t cp);          /* UCAT_* (UCAT_NONE: unassigned) */
int ember_uwhitespace(uint32_t cp);
/* Decodes text into code points (invalid bytes -> U+FFFD, one per byte);
 * returns the count; *out is malloc'd. */
size_t ember_utf8_decode(const char *s, size_t n, uint32_t **out);
int ember_utf8_encode(uint32_t cp, char *out); /* bytes written (1..4) */

#endif
