#include "cli.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_int(const char *cmd, const char *flag, const char *val, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi) {
        fprintf(stderr, "ember %s: %s expects an integer in [%ld, %ld], got '%s'\n", cmd, flag, lo, hi, val);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cli_u64(const char *cmd, const char *flag, const char *val, uint64_t *out) {
    char *end;
    errno = 0;
    if (*val == '-') { fprintf(stderr, "ember %s: %s expects a non-negative integer, got '%s'\n", cmd, flag, val); return -1; }
    unsigned long long v = strtoull(val, &end, 10);
    if (errno || end == val || *end) {
        fprintf(stderr, "ember %s: %s expects a non-negative integer, got '%s'\n", cmd, flag, val);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, float *out) {
    char *end;
    errno = 0;
    double v = strtod(val, &end);
    if (errno || end == val || *end || !isfinite(v) || v < lo || v > hi) {
        fprintf(stderr, "ember %s: %s expects a number in [%g, %g], got '%s'\n", cmd, flag, lo, hi, val);
        return -1;
    }
    *out = (float)v;
    return 0;
}

const char *cli_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        fprintf(stderr, "ember %s: %s needs a value\n", cmd, argv[*i]);
        return 0;
    }
    return argv[++*i];
}

char *cli_read_file(const char *cmd, const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "ember %s: cannot open '%s': %s\n", cmd, path, strerror(errno)); return 0; }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (n < cap) break;
        if (cap > ((size_t)1 << 30)) { fprintf(stderr, "ember %s: '%s' is larger than 1 GiB\n", cmd, path); free(buf); buf = 0; break; }
        char *nb = realloc(buf, cap * 2 + 1);
        if (!nb) { free(buf); buf = 0; break; }
        buf = nb;
        cap *= 2;
    }
    if (buf && ferror(f)) { fprintf(stderr, "ember %s: error reading '%s'\n", cmd, path); free(buf); buf = 0; }
    fclose(f);
    if (!buf) return 0;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

void cli_json_str(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (c < 0x20) fprintf(f, "\\u%04x", c);
            else fputc(c, f);
        }
    }
    fputc('"', f);
}

double cli_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
