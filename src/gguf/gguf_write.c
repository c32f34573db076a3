/* GGUF v3 writer. Metadata is kept as serialized payloads so copied keys
 * (nested arrays included) round-trip byte for byte. Tensor data is either
 * borrowed from the caller or produced by a fill callback at write time, one
 * tensor at a time, so a large model never sits in memory. Setters cannot
 * fail visibly: the first error is kept and reported by gguf_writer_write. */
#include "gguf.h"
#include "../formats/formats.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer assumes a little-endian host"
#endif

#define GGUF_MAGIC_BYTES "GGUF"
#define GGUF_WRITE_VERSION 3u
#define MAX_NAME_LEN 256

typedef struct {
    char *key;
    gguf_vtype type;
    uint8_t *payload; /* serialized value after the type id */
    size_t len;
} wkv;

typedef struct {
    char *name;
    int type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    const void *data; /* borrowed; NULL: fill() provides it */
    size_t nbytes;
    uint64_t offset;
} wtensor;

struct gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    int status; /* first error (ember_status), 0 if none */
    char err[256];
};

static void werr(gguf_writer *w, int status, const char *fmt, ...) {
    if (!w || w->status) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->err, sizeof w->err, fmt, ap);
    va_end(ap);
    for (char *e = w->err; *e; e++) /* one printable line */
        if ((unsigned char)*e < 0x20 || *e == 0x7f) *e = '?';
    w->status = status;
}

gguf_writer *gguf_writer_create(void) { return calloc(1, sizeof(gguf_writer)); }

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].payload); }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

/* Stores key = (type, payload); takes ownership of payload. A key that is
 * already set keeps its position and gets the new value. */
static void put_kv(gguf_writer *w, const char *key, gguf_vtype type, uint8_t *payload, size_t len) {
    if (!w) { free(payload); return; }
    if (!payload && len) { werr(w, 5, "out of memory setting key '%s'", key ? key : ""); return; }
    if (!key || !*key) { werr(w, 4, "empty metadata key"); free(payload); return; }
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            free(w->kv[i].payload);
            w->kv[i].type = type;
            w->kv[i].payload = payload;
            w->kv[i].len = len;
            return;
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        wkv *nk = realloc(w->kv, cap * sizeof *nk);
        if (!nk) { werr(w, 5, "out of memory"); free(payload); return; }
        w->kv = nk;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) { werr(w, 5, "out of memory"); free(payload); return; }
    w->kv[w->n_kv++] = (wkv){k, type, payload, len};
}

static void put_scalar(gguf_writer *w, const char *key, gguf_vtype type, const void *v) {
    size_t n = gguf_vtype_size(type);
    uint8_t *p = malloc(n);
    if (p) memcpy(p, v, n);
    put_kv(w, key, type, p, n);
}

void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) { put_scalar(w, key, GGUF_VT_UINT32, &v); }
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) { put_scalar(w, key, GGUF_VT_INT32, &v); }
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) { put_scalar(w, key, GGUF_VT_UINT64, &v); }
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v) { put_scalar(w, key, GGUF_VT_FLOAT32, &v); }
void gguf_writer_set_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v ? 1 : 0;
    put_scalar(w, key, GGUF_VT_BOOL, &b);
}

void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v) {
    if (!v) { werr(w, 4, "key '%s': NULL string", key ? key : ""); return; }
    uint64_t len = strlen(v);
    uint8_t *p = malloc(8 + (size_t)len);
    if (p) { memcpy(p, &len, 8); memcpy(p + 8, v, (size_t)len); }
    put_kv(w, key, GGUF_VT_STRING, p, 8 + (size_t)len);
}

void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_vtype elem, const void *data, uint64_t n) {
    size_t es = gguf_vtype_size(elem);
    if (!es) { werr(w, 4, "key '%s': gguf_writer_set_arr needs a numeric element type", key ? key : ""); return; }
    if (n && !data) { werr(w, 4, "key '%s': NULL array data", key ? key : ""); return; }
    if (n > (SIZE_MAX - 12) / es) { werr(w, 4, "key '%s': array too large", key ? key : ""); return; }
    uint32_t et = (uint32_t)elem;
    size_t len = 12 + (size_t)n * es;
    uint8_t *p = malloc(len);
    if (p) { memcpy(p, &et, 4); memcpy(p + 4, &n, 8); if (n) memcpy(p + 12, data, (size_t)n * es); }
    put_kv(w, key, GGUF_VT_ARRAY, p, len);
}

void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n) {
    if (n && !v) { werr(w, 4, "key '%s': NULL string array", key ? key : ""); return; }
    size_t len = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!v[i]) { werr(w, 4, "key '%s': NULL string at index %llu", key ? key : "", (unsigned long long)i); return; }
        len += 8 + strlen(v[i]);
    }
    uint8_t *p = malloc(len);
    if (p) {
        uint32_t et = GGUF_VT_STRING;
        memcpy(p, &et, 4);
        memcpy(p + 4, &n, 8);
        size_t at = 12;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t sl = strlen(v[i]);
            memcpy(p + at, &sl, 8);
            memcpy(p + at + 8, v[i], (size_t)sl);
            at += 8 + (size_t)sl;
        }
    }
    put_kv(w, key, GGUF_VT_ARRAY, p, len);
}

void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, int64_t i) {
    const gguf_value *v = gguf_kv_value(src, i);
    if (!v) { werr(w, 4, "copy of metadata index %lld: out of range", (long long)i); return; }
    size_t len;
    const void *raw = gguf_value_raw(v, &len);
    uint8_t *p = malloc(len ? len : 1);
    if (p) memcpy(p, raw, len);
    put_kv(w, gguf_kv_key(src, i), gguf_value_type(v), p, len);
}

int64_t gguf_writer_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                               const void *data) {
    if (!w) return -1;
    size_t nlen = name ? strlen(name) : 0;
    if (nlen == 0 || nlen > MAX_NAME_LEN) { werr(w, 4, "tensor name length %zu is not in [1, %d]", nlen, MAX_NAME_LEN); return -1; }
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne) { werr(w, 4, "tensor '%s': %d dimensions (expected 1..4)", name, n_dims); return -1; }
    const ember_type_traits *tr = ember_type_get(type);
    if (!tr) { werr(w, 3, "tensor '%s': unsupported type %d", name, type); return -1; }
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) { werr(w, 4, "duplicate tensor name '%s'", name); return -1; }
    wtensor t;
    memset(&t, 0, sizeof t);
    uint64_t total = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        int64_t x = d < n_dims ? ne[d] : 1;
        if (x < 1 || total > (uint64_t)INT64_MAX / (uint64_t)x) {
            werr(w, 4, "tensor '%s': bad or overflowing dimension %d (%lld)", name, d, (long long)x);
            return -1;
        }
        total *= (uint64_t)x;
        t.ne[d] = x;
    }
    if (t.ne[0] % tr->block_size) {
        werr(w, 4, "tensor '%s': row length %lld is not a multiple of the %s block size %d", name, (long long)t.ne[0],
             tr->name, tr->block_size);
        return -1;
    }
    uint64_t blocks = total / (uint64_t)tr->block_size;
    if (blocks > (uint64_t)SIZE_MAX / tr->type_size) { werr(w, 4, "tensor '%s': byte size overflows", name); return -1; }
    t.nbytes = (size_t)(blocks * tr->type_size);
    t.type = type;
    t.n_dims = n_dims;
    t.data = data;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *nt = realloc(w->t, cap * sizeof *nt);
        if (!nt) { werr(w, 5, "out of memory"); return -1; }
        w->t = nt;
        w->cap_t = cap;
    }
    if (!(t.name = strdup(name))) { werr(w, 5, "out of memory"); return -1; }
    w->t[w->n_t] = t;
    return (int64_t)w->n_t++;
}

/* ---- output ---- */

typedef struct {
    int fd;
    uint64_t pos;
    const char *tmp;
    char *err;
    size_t errlen;
    int status;
} out_file;

static int out_write(out_file *o, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(o->fd, b, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            snprintf(o->err, o->errlen, "write to '%s' failed: %s", o->tmp, k < 0 ? strerror(errno) : "no progress");
            o->status = 1;
            return -1;
        }
        b += k;
        n -= (size_t)k;
        o->pos += (uint64_t)k;
    }
    return 0;
}

static int out_pad(out_file *o, size_t align) {
    static const uint8_t zeros[256];
    size_t pad = (size_t)((align - o->pos % align) % align);
    while (pad) {
        size_t k = pad < sizeof zeros ? pad : sizeof zeros;
        if (out_write(o, zeros, k)) return -1;
        pad -= k;
    }
    return 0;
}

static int out_str(out_file *o, const char *s) {
    uint64_t n = strlen(s);
    return out_write(o, &n, 8) || out_write(o, s, (size_t)n) ? -1 : 0;
}

/* The alignment the file will declare: general.alignment if set (must be
 * a valid uint32 power of two), otherwise the default. */
static size_t writer_alignment(gguf_writer *w) {
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, "general.alignment")) continue;
        uint32_t a = 0;
        if (w->kv[i].type == GGUF_VT_UINT32) memcpy(&a, w->kv[i].payload, 4);
        if (w->kv[i].type != GGUF_VT_UINT32 || a == 0 || (a & (a - 1)) || a > (1u << 20)) {
            werr(w, 4, "general.alignment must be a uint32 power of two in [1, 2^20]");
            return 0;
        }
        return a;
    }
    return GGUF_DEFAULT_ALIGNMENT;
}

static int write_all(gguf_writer *w, out_file *o, size_t align, gguf_tensor_fill_fn fill, void *ud) {
    uint32_t ver = GGUF_WRITE_VERSION;
    uint64_t nt = w->n_t, nkv = w->n_kv;
    if (out_write(o, GGUF_MAGIC_BYTES, 4) || out_write(o, &ver, 4) || out_write(o, &nt, 8) || out_write(o, &nkv, 8))
        return -1;
    for (size_t i = 0; i < w->n_kv; i++) {
        uint32_t t = (uint32_t)w->kv[i].type;
        if (out_str(o, w->kv[i].key) || out_write(o, &t, 4) || out_write(o, w->kv[i].payload, w->kv[i].len)) return -1;
    }
    uint64_t off = 0;
    size_t max_fill = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        t->offset = off;
        off += t->nbytes + (align - t->nbytes % align) % align;
        uint32_t nd = (uint32_t)t->n_dims, type = (uint32_t)t->type;
        if (out_str(o, t->name) || out_write(o, &nd, 4) || out_write(o, t->ne, 8 * (size_t)t->n_dims) ||
            out_write(o, &type, 4) || out_write(o, &t->offset, 8))
            return -1;
        if (!t->data && t->nbytes > max_fill) max_fill = t->nbytes;
    }
    if (out_pad(o, align)) return -1;
    uint8_t *buf = 0;
    if (max_fill) {
        if (!fill) {
            snprintf(o->err, o->errlen, "tensors without data need a fill callback");
            o->status = 4;
            return -1;
        }
        if (!(buf = malloc(max_fill))) {
            snprintf(o->err, o->errlen, "out of memory for a %zu-byte tensor buffer", max_fill);
            o->status = 5;
            return -1;
        }
    }
    int rc = 0;
    for (size_t i = 0; i < w->n_t && !rc; i++) {
        wtensor *t = &w->t[i];
        const void *src = t->data;
        if (!src) {
            memset(buf, 0, t->nbytes);
            int r = fill(ud, (int64_t)i, buf, t->nbytes);
            if (r) {
                snprintf(o->err, o->errlen, "tensor '%s': producing its data failed (code %d)", t->name, r);
                o->status = r > 0 && r <= 7 ? r : 1;
                rc = -1;
                break;
            }
            src = buf;
        }
        rc = out_write(o, src, t->nbytes) || out_pad(o, align) ? -1 : 0;
    }
    free(buf);
    return rc;
}

/* Directory part of path ("." if none), for the temp file and its fsync. */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    char *d = malloc((size_t)(slash - path) + 1);
    if (d) { memcpy(d, path, (size_t)(slash - path)); d[slash - path] = 0; }
    return d;
}

int gguf_writer_write(gguf_writer *w, const char *path, gguf_tensor_fill_fn fill, void *ud, char *err,
                      size_t errlen) {
    if (errlen) err[0] = 0;
    if (!w || !path || !*path) { snprintf(err, errlen, "no writer or output path"); return 4; }
    size_t align = writer_alignment(w);
    if (w->status) { snprintf(err, errlen, "%s", w->err); return w->status; }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) { snprintf(err, errlen, "out of memory"); return 5; }
    snprintf(tmp, plen + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create a temporary file next to '%s': %s", path, strerror(errno));
        free(tmp);
        return 1;
    }
    out_file o = {fd, 0, tmp, err, errlen, 0};
    int rc = write_all(w, &o, align, fill, ud);
    /* mkstemp makes 0600 files; models are ordinary readable files. */
    if (!rc && fchmod(fd, 0644) != 0) {
        snprintf(err, errlen, "chmod of '%s' failed: %s", tmp, strerror(errno));
        o.status = 1, rc = -1;
    }
    if (!rc && fsync(fd) != 0) {
        snprintf(err, errlen, "fsync of '%s' failed: %s", tmp, strerror(errno));
        o.status = 1, rc = -1;
    }
    if (close(fd) != 0 && !rc) {
        snprintf(err, errlen, "close of '%s' failed: %s", tmp, strerror(errno));
        o.status = 1, rc = -1;
    }
    if (!rc && rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        o.status = 1, rc = -1;
    }
    if (rc) {
        unlink(tmp);
        free(tmp);
        return o.status ? o.status : 1;
    }
    free(tmp);
    /* Make the rename itself durable; failure here loses nothing written. */
    char *dir = dir_of(path);
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { fsync(dfd); close(dfd); }
        free(dir);
    }
    return 0;
}
