/* Tiny JSON-lines field extraction for test data (strings with escapes,
 * integer arrays, integers). Test-only; not a general JSON parser. */
#ifndef EMBER_TEST_JSONL_H
#define EMBER_TEST_JSONL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *jl_find(const char *line, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return 0;
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

static int jl_utf8(char *out, unsigned cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) { out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 63)); out[2] = (char)(0x80 | (cp & 63)); return 3; }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 63));
    out[2] = (char)(0x80 | ((cp >> 6) & 63)); out[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Decodes the JSON string value of key into a malloc'd buffer; *len set. */
static char *jl_str(const char *line, const char *key, size_t *len) {
    const char *p = jl_find(line, key);
    if (!p || *p != '"') return 0;
    p++;
    char *out = malloc(strlen(p) + 1);
    size_t n = 0;
    while (*p && *p != '"') {
        if (*p != '\\') { out[n++] = *p++; continue; }
        p++;
        char c = *p++;
        switch (c) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'u': {
            unsigned cp = (unsigned)strtoul((char[]){p[0], p[1], p[2], p[3], 0}, 0, 16);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u') {
                unsigned lo = (unsigned)strtoul((char[]){p[2], p[3], p[4], p[5], 0}, 0, 16);
                p += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            n += (size_t)jl_utf8(out + n, cp);
            break;
        }
        default: out[n++] = c;
        }
    }
    out[n] = 0;
    if (len) *len = n;
    return out;
}

/* Parses an integer array; returns count (malloc'd *out), -1 if absent. */
static int jl_ints(const char *line, const char *key, int32_t **out) {
    const char *p = jl_find(line, key);
    if (!p || *p != '[') return -1;
    p++;
    int cap = 64, n = 0;
    int32_t *v = malloc((size_t)cap * sizeof *v);
    while (*p && *p != ']') {
        char *end;
        long x = strtol(p, &end, 10);
        if (end == p) { p++; continue; }
        if (n == cap) { cap *= 2; v = realloc(v, (size_t)cap * sizeof *v); }
        v[n++] = (int32_t)x;
        p = end;
    }
    *out = v;
    return n;
}

static long jl_int(const char *line, const char *key, long def) {
    const char *p = jl_find(line, key);
    return p ? strtol(p, 0, 10) : def;
}

#endif
