#include "unicode.h"
#include <stdlib.h>

int ember_ucat(uint32_t cp) {
    int lo = 0, hi = ember_ucat_n_ranges - 1;
    while (lo <= hi) {
        const int mid = (lo + hi) / 2;
        if (cp < ember_ucat_ranges[mid].lo) hi = mid - 1;
        else if (cp > ember_ucat_ranges[mid].hi) lo = mid + 1;
        else return ember_ucat_ranges[mid].group;
    }
    return UCAT_NONE;
}

int ember_uwhitespace(uint32_t cp) {
    return (cp >= 9 && cp <= 13) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}

size_t ember_utf8_decode(const char *str, size_t n, uint32_t **out) {
    const unsigned char *s = (const unsigned char *)str;
    uint32_t *cp = malloc((n ? n : 1) * sizeof *cp);
    size_t k = 0;
    *out = cp;
    if (!cp) return 0;
    for (size_t i = 0; i < n;) {
        const unsigned c = s[i];
        const int len = !(c & 0x80) ? 1 : !(c & 0x40) ? 0 : !(c & 0x20) ? 2 : !(c & 0x10) ? 3 : !(c & 0x08) ? 4 : 0;
        int ok = len > 0 && (size_t)len <= n - i;
        for (int j = 1; ok && j < len; j++) ok = (s[i + j] & 0xC0) == 0x80;
        if (!ok) {
            cp[k++] = 0xFFFD;
            i++;
            continue;
        }
        uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
        for (int j = 1; j < len; j++) v = (v << 6) | (s[i + j] & 0x3F);
        cp[k++] = v;
        i += (size_t)len;
    }
    return k;
}

int ember_utf8_encode(uint32_t cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 63));
        o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | ((cp >> 18) & 7));
    o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63));
    o[3] = (char)(0x80 | (cp & 63));
    return 4;
}
