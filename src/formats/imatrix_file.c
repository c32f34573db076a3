/* Importance-matrix file reader and writer (see imatrix_file.h). */
#include "imatrix_file.h"
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const unsigned char *p;
    size_t len, off;
} reader;

static int rd_i32(reader *r, int32_t *v) {
    if (r->len - r->off < 4) return -1;
    uint32_t u = (uint32_t)r->p[r->off] | (uint32_t)r->p[r->off + 1] << 8 | (uint32_t)r->p[r->off + 2] << 16 |
                 (uint32_t)r->p[r->off + 3] << 24;
    memcpy(v, &u, sizeof u);
    r->off += 4;
    return 0;
}

/* a string of len bytes (no NUL inside) as a new C string */
static char *rd_str(reader *r, int32_t len) {
    if (len < 0 || r->len - r->off < (size_t)len) return 0;
    if (memchr(r->p + r->off, 0, (size_t)len)) return 0;
    char *s = malloc((size_t)len + 1);
    if (!s) return 0;
    memcpy(s, r->p + r->off, (size_t)len);
    s[len] = 0;
    r->off += (size_t)len;
    return s;
}

void ember_imatrix_free(ember_imatrix *im) {
    if (!im) return;
    for (int i = 0; i < im->n; i++) {
        free(im->e[i].name);
        free(im->e[i].values);
    }
    free(im->e);
    free(im->dataset);
    memset(im, 0, sizeof *im);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp((*(const ember_imatrix_entry *const *)a)->name, (*(const ember_imatrix_entry *const *)b)->name);
}

#define FAIL(code, ...) do { snprintf(err, errlen, __VA_ARGS__); st = (code); goto fail; } while (0)

int ember_imatrix_parse(const void *buf, size_t len, ember_imatrix *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (errlen) err[0] = 0;
    reader r = {buf, len, 0};
    int st = 0;
    int32_t n;
    if (rd_i32(&r, &n)) FAIL(2, "imatrix: file too short (%zu bytes)", len);
    /* each entry takes at least 17 bytes */
    if (n < 1 || (size_t)n > (len - 4) / 17) FAIL(2, "imatrix: bad entry count %ld", (long)n);
    out->e = calloc((size_t)n, sizeof *out->e);
    if (!out->e) FAIL(5, "imatrix: out of memory");
    for (int i = 0; i < n; i++) {
        ember_imatrix_entry *e = &out->e[i];
        int32_t nl;
        if (rd_i32(&r, &nl)) FAIL(2, "imatrix: entry %d: truncated", i);
        if (nl < 1 || nl > EMBER_IMATRIX_MAX_NAME) FAIL(2, "imatrix: entry %d: bad name length %ld", i, (long)nl);
        if (!(e->name = rd_str(&r, nl))) FAIL(2, "imatrix: entry %d: truncated or invalid name", i);
        out->n = i + 1;
        if (rd_i32(&r, &e->ncall) || rd_i32(&r, &e->nval)) FAIL(2, "imatrix: entry '%s': truncated", e->name);
        if (e->ncall < 1) FAIL(2, "imatrix: entry '%s': bad call count %ld", e->name, (long)e->ncall);
        if (e->nval < 1 || (size_t)e->nval > (r.len - r.off) / 4)
            FAIL(2, "imatrix: entry '%s': bad value count %ld", e->name, (long)e->nval);
        if (!(e->values = malloc((size_t)e->nval * sizeof(float)))) FAIL(5, "imatrix: out of memory");
        for (int32_t j = 0; j < e->nval; j++) {
            int32_t bits = 0;
            rd_i32(&r, &bits); /* nval fits: checked above */
            memcpy(&e->values[j], &bits, sizeof bits);
            if (!isfinite(e->values[j]) || e->values[j] < 0)
                FAIL(2, "imatrix: entry '%s': value %ld is %g (must be finite and >= 0)", e->name, (long)j, e->values[j]);
        }
    }
    if (r.off < r.len) {
        int32_t dl;
        if (rd_i32(&r, &out->last_call) || rd_i32(&r, &dl)) FAIL(2, "imatrix: truncated trailer");
        if (out->last_call < 0) FAIL(2, "imatrix: bad chunk count %ld", (long)out->last_call);
        if (dl < 0 || (size_t)dl != r.len - r.off) FAIL(2, "imatrix: bad dataset name length %ld", (long)dl);
        if (!(out->dataset = rd_str(&r, dl))) FAIL(2, "imatrix: invalid dataset name");
        out->has_trailer = 1;
    } else if (!(out->dataset = calloc(1, 1))) {
        FAIL(5, "imatrix: out of memory");
    }
    {
        ember_imatrix_entry **s = malloc((size_t)n * sizeof *s);
        if (!s) FAIL(5, "imatrix: out of memory");
        for (int i = 0; i < n; i++) s[i] = &out->e[i];
        qsort(s, (size_t)n, sizeof *s, cmp_name);
        const char *dup = 0;
        for (int i = 1; i < n && !dup; i++)
            if (!strcmp(s[i - 1]->name, s[i]->name)) dup = s[i]->name;
        if (dup) snprintf(err, errlen, "imatrix: entry '%s' appears twice", dup);
        free(s);
        if (dup) { st = 2; goto fail; }
    }
    return 0;
fail:
    ember_imatrix_free(out);
    return st;
}

int ember_imatrix_read(const char *path, ember_imatrix *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) { snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno)); return 1; }
    struct stat sb;
    if (fstat(fileno(f), &sb) || !S_ISREG(sb.st_mode)) {
        fclose(f);
        snprintf(err, errlen, "'%s' is not a regular file", path);
        return 1;
    }
    if (sb.st_size > ((off_t)1 << 31)) {
        fclose(f);
        snprintf(err, errlen, "imatrix: '%s' is too large (%lld bytes)", path, (long long)sb.st_size);
        return 2;
    }
    const size_t len = (size_t)sb.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) { fclose(f); snprintf(err, errlen, "out of memory"); return 5; }
    const size_t got = fread(buf, 1, len, f);
    const int bad = ferror(f) || got != len;
    fclose(f);
    if (bad) { free(buf); snprintf(err, errlen, "cannot read '%s'", path); return 1; }
    int st = ember_imatrix_parse(buf, len, out, err, errlen);
    free(buf);
    return st;
}

const ember_imatrix_entry *ember_imatrix_find(const ember_imatrix *im, const char *name) {
    for (int i = 0; im && i < im->n; i++)
        if (!strcmp(im->e[i].name, name)) return &im->e[i];
    return 0;
}

static int put_i32(FILE *f, int32_t v) {
    unsigned char b[4];
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    for (int k = 0; k < 4; k++) b[k] = (unsigned char)(u >> (8 * k));
    return fwrite(b, 1, 4, f) == 4 ? 0 : -1;
}

int ember_imatrix_write(const char *path, const ember_imatrix *im, char *err, size_t errlen) {
    if (errlen) err[0] = 0;
    if (!im || im->n < 1) { snprintf(err, errlen, "imatrix: nothing to write"); return 4; }
    const size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) { snprintf(err, errlen, "out of memory"); return 5; }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file next to '%s': %s", path, strerror(errno));
        free(tmp);
        return 1;
    }
    FILE *f = fdopen(fd, "wb");
    int bad = !f;
    if (f) {
        bad |= put_i32(f, im->n);
        for (int i = 0; i < im->n && !bad; i++) {
            const ember_imatrix_entry *e = &im->e[i];
            const size_t nl = strlen(e->name);
            bad |= put_i32(f, (int32_t)nl) || fwrite(e->name, 1, nl, f) != nl;
            bad |= put_i32(f, e->ncall) || put_i32(f, e->nval);
            for (int32_t j = 0; j < e->nval && !bad; j++) {
                int32_t bits;
                memcpy(&bits, &e->values[j], sizeof bits);
                bad |= put_i32(f, bits);
            }
        }
        const char *ds = im->dataset ? im->dataset : "";
        const size_t dl = strlen(ds);
        bad |= put_i32(f, im->last_call) || put_i32(f, (int32_t)dl) || fwrite(ds, 1, dl, f) != dl;
        bad |= fflush(f) != 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0;
        bad |= fclose(f) != 0;
    } else {
        close(fd);
    }
    if (!bad && rename(tmp, path) != 0) bad = 1;
    if (bad) {
        snprintf(err, errlen, "cannot write '%s': %s", path, errno ? strerror(errno) : "I/O error");
        unlink(tmp);
        free(tmp);
        return 1;
    }
    free(tmp);
    return 0;
}
