/* Unicode helpers for the tokenizers: general category groups (Unicode
 * 15.1, as llama.cpp c392e50 uses), whitespace as llama.cpp defines it,
 * and UTF-8 decoding with llama.cpp's treatment of invalid input. */
#ifndef EMBER_UNICODE_H
#define EMBER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum { UCAT_L, UCAT_N, UCAT_P, UCAT_S, UCAT_M, UCAT_Z, UCAT_C, UCAT_NONE };
typedef struct { uint32_t lo, hi; uint8_t group; } ember_ucat_range;
extern const ember_ucat_range ember_ucat_ranges[];
extern const int ember_ucat_n_ranges;

int ember_ucat(uint32_t cp);          /* UCAT_* (UCAT_NONE: unassigned or beyond U+10FFFF) */
int ember_uwhitespace(uint32_t cp);   /* Unicode White_Space */
/* Decodes UTF-8 into code points: the lead byte gives the length and the
 * continuation bytes must be 10xxxxxx (overlong forms and surrogates are
 * accepted, as llama.cpp does); anything else gives one U+FFFD per byte.
 * Returns the count; *out is malloc'd (NULL on OOM). */
size_t ember_utf8_decode(const char *s, size_t n, uint32_t **out);
/* Encodes cp (up to 0x1FFFFF, which a 4-byte lead can express); returns
 * the bytes written (1..4). */
int ember_utf8_encode(uint32_t cp, char *out);

#endif
