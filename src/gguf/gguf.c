/* GGUF reader. The file is mapped read-only and parsed through a bounds-
 * checked cursor; every count, length, dimension, type and offset is
 * validated before use, so nothing downstream can read outside the file. */
#include "gguf.h"
#include "../formats/formats.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define MAX_ARRAY_DEPTH 8

struct gguf_value {
    gguf_vtype type;
    union {
        uint64_t u;
        int64_t i;
        double f;
        struct { char *s; uint64_t len; } str;
        struct {
            gguf_vtype elem;
            uint64_t n;
            const uint8_t *raw;  /* numeric: packed elements in the mapping */
            char **strs;         /* string arrays: NUL-terminated copies */
            uint64_t *lens;
            gguf_value *items;   /* arrays of arrays */
        } arr;
    } v;
};

typedef struct {
    char *key;
    gguf_value val;
} gguf_kv;

struct gguf_file {
    char *path;
    const uint8_t *data;
    size_t size;
    int mapped;
    uint32_t version;
    size_t alignment;
    size_t data_offset;
    int64_t n_kv, n_tensors;
    gguf_kv *kv;
    gguf_tensor_info *tensors;
    char **tensor_names;
};

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    char *err;
    size_t errlen;
    int status;
} cursor;

static int fail(cursor *c, int status, const char *fmt, ...) {
    if (c->status) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    c->status = status;
    return -1;
}

static int need(cursor *c, uint64_t n, const char *what) {
    if (c->status) return -1;
    if (n > c->size - c->pos)
        return fail(c, 2, "truncated file: %s at offset %zu needs %llu bytes, only %zu left", what, c->pos,
                    (unsigned long long)n, c->size - c->pos);
    return 0;
}

static int rd(cursor *c, void *dst, size_t n, const char *what) {
    if (need(c, n, what)) return -1;
    memcpy(dst, c->p + c->pos, n);
    c->pos += n;
    return 0;
}

static int rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static int rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

static size_t vtype_size(gguf_vtype t) {
    switch (t) {
    case GGUF_VT_UINT8: case GGUF_VT_INT8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_UINT16: case GGUF_VT_INT16: return 2;
    case GGUF_VT_UINT32: case GGUF_VT_INT32: case GGUF_VT_FLOAT32: return 4;
    case GGUF_VT_UINT64: case GGUF_VT_INT64: case GGUF_VT_FLOAT64: return 8;
    default: return 0;
    }
}

/* Reads a GGUF string as a NUL-terminated heap copy. */
static char *rd_str(cursor *c, uint64_t *len_out, const char *what) {
    uint64_t len;
    if (rd_u64(c, &len, what)) return 0;
    if (need(c, len, what)) return 0;
    char *s = malloc((size_t)len + 1);
    if (!s) { fail(c, 5, "out of memory reading %s (%llu bytes)", what, (unsigned long long)len); return 0; }
    memcpy(s, c->p + c->pos, (size_t)len);
    s[len] = 0;
    c->pos += (size_t)len;
    if (len_out) *len_out = len;
    return s;
}

static void value_free(gguf_value *v) {
    if (v->type == GGUF_VT_STRING) free(v->v.str.s);
    if (v->type == GGUF_VT_ARRAY) {
        if (v->v.arr.strs)
            for (uint64_t i = 0; i < v->v.arr.n; i++) free(v->v.arr.strs[i]);
        free(v->v.arr.strs);
        free(v->v.arr.lens);
        if (v->v.arr.items)
            for (uint64_t i = 0; i < v->v.arr.n; i++) value_free(&v->v.arr.items[i]);
        free(v->v.arr.items);
    }
    v->type = GGUF_VT_COUNT;
}

static int rd_value(cursor *c, gguf_vtype type, gguf_value *out, int depth, const char *key) {
    memset(out, 0, sizeof *out);
    out->type = GGUF_VT_COUNT; /* nothing to free until set */
    if ((unsigned)type >= GGUF_VT_COUNT) return fail(c, 2, "key '%s': unknown value type %u", key, (unsigned)type);
    if (type == GGUF_VT_STRING) {
        char *s = rd_str(c, &out->v.str.len, "string value");
        if (!s) return -1;
        out->v.str.s = s;
        out->type = type;
        return 0;
    }
    if (type != GGUF_VT_ARRAY) {
        size_t n = vtype_size(type);
        uint8_t b[8] = {0};
        if (rd(c, b, n, "value")) return -1;
        switch (type) {
        case GGUF_VT_UINT8: out->v.u = b[0]; break;
        case GGUF_VT_INT8: out->v.i = (int8_t)b[0]; break;
        case GGUF_VT_BOOL:
            if (b[0] > 1) return fail(c, 2, "key '%s': bool value %u is not 0 or 1", key, b[0]);
            out->v.u = b[0];
            break;
        case GGUF_VT_UINT16: { uint16_t x; memcpy(&x, b, 2); out->v.u = x; break; }
        case GGUF_VT_INT16: { int16_t x; memcpy(&x, b, 2); out->v.i = x; break; }
        case GGUF_VT_UINT32: { uint32_t x; memcpy(&x, b, 4); out->v.u = x; break; }
        case GGUF_VT_INT32: { int32_t x; memcpy(&x, b, 4); out->v.i = x; break; }
        case GGUF_VT_FLOAT32: { float x; memcpy(&x, b, 4); out->v.f = x; break; }
        case GGUF_VT_UINT64: { uint64_t x; memcpy(&x, b, 8); out->v.u = x; break; }
        case GGUF_VT_INT64: { int64_t x; memcpy(&x, b, 8); out->v.i = x; break; }
        case GGUF_VT_FLOAT64: { double x; memcpy(&x, b, 8); out->v.f = x; break; }
        default: break;
        }
        out->type = type;
        return 0;
    }
    if (depth >= MAX_ARRAY_DEPTH) return fail(c, 2, "key '%s': arrays nested deeper than %d", key, MAX_ARRAY_DEPTH);
    uint32_t et;
    uint64_t n;
    if (rd_u32(c, &et, "array type") || rd_u64(c, &n, "array length")) return -1;
    if (et >= GGUF_VT_COUNT) return fail(c, 2, "key '%s': unknown array element type %u", key, et);
    out->type = GGUF_VT_ARRAY;
    out->v.arr.elem = (gguf_vtype)et;
    /* Every element takes at least one byte (strings: 8), so a count larger
     * than the bytes left is malformed: this bounds every allocation. */
    size_t min_elem = et == GGUF_VT_STRING ? 8 : et == GGUF_VT_ARRAY ? 12 : vtype_size((gguf_vtype)et);
    if (n > (c->size - c->pos) / min_elem)
        return fail(c, 2, "key '%s': array of %llu elements does not fit in the file", key, (unsigned long long)n);
    out->v.arr.n = n;
    if (et == GGUF_VT_STRING) {
        out->v.arr.strs = calloc(n ? n : 1, sizeof(char *));
        out->v.arr.lens = calloc(n ? n : 1, sizeof(uint64_t));
        if (!out->v.arr.strs || !out->v.arr.lens) return fail(c, 5, "out of memory");
        for (uint64_t i = 0; i < n; i++)
            if (!(out->v.arr.strs[i] = rd_str(c, &out->v.arr.lens[i], "array string"))) return -1;
    } else if (et == GGUF_VT_ARRAY) {
        out->v.arr.items = calloc(n ? n : 1, sizeof(gguf_value));
        if (!out->v.arr.items) return fail(c, 5, "out of memory");
        for (uint64_t i = 0; i < n; i++) out->v.arr.items[i].type = GGUF_VT_COUNT;
        /* each element is itself an array: element type, count, data */
        for (uint64_t i = 0; i < n; i++)
            if (rd_value(c, GGUF_VT_ARRAY, &out->v.arr.items[i], depth + 1, key)) return -1;
    } else {
        size_t bytes = (size_t)n * vtype_size((gguf_vtype)et);
        if (need(c, bytes, "array data")) return -1;
        out->v.arr.raw = c->p + c->pos;
        if (et == GGUF_VT_BOOL)
            for (size_t i = 0; i < bytes; i++)
                if (out->v.arr.raw[i] > 1) return fail(c, 2, "key '%s': bool array element is not 0 or 1", key);
        c->pos += bytes;
    }
    return 0;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n_kv && f->kv; i++) {
        free(f->kv[i].key);
        value_free(&f->kv[i].val);
    }
    free(f->kv);
    if (f->tensor_names)
        for (int64_t i = 0; i < f->n_tensors; i++) free(f->tensor_names[i]);
    free(f->tensor_names);
    free(f->tensors);
    if (f->mapped && f->data) munmap((void *)f->data, f->size);
    free(f->path);
    free(f);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Finds a duplicate in a list of names (sorted copy); NULL if none. */
static const char *find_duplicate(char **names, int64_t n) {
    if (n < 2) return 0;
    char **s = malloc((size_t)n * sizeof *s);
    if (!s) return 0;
    memcpy(s, names, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_str);
    const char *dup = 0;
    for (int64_t i = 1; i < n && !dup; i++)
        if (!strcmp(s[i - 1], s[i])) dup = s[i];
    free(s);
    return dup;
}

static int parse(gguf_file *f, char *err, size_t errlen) {
    cursor c = {f->data, f->size, 0, err, errlen, 0};
    uint32_t magic;
    if (f->size < 4 || rd_u32(&c, &magic, "magic")) return fail(&c, 2, "not a GGUF file (too short: %zu bytes)", f->size), c.status;
    if (magic != GGUF_MAGIC) return fail(&c, 2, "not a GGUF file (bad magic 0x%08x)", magic), c.status;
    if (rd_u32(&c, &f->version, "version")) return c.status;
    if (f->version == 1) return fail(&c, 3, "GGUF version 1 is not supported (only v2 and v3)"), c.status;
    if (f->version < 2 || f->version > 3) return fail(&c, 3, "unsupported GGUF version %u (only v2 and v3)", f->version), c.status;
    uint64_t nt, nkv;
    if (rd_u64(&c, &nt, "tensor count") || rd_u64(&c, &nkv, "metadata count")) return c.status;
    /* A tensor info takes at least 8+4+8+4+8 bytes, a key/value 8+4+1. */
    if (nt > (c.size - c.pos) / 32) return fail(&c, 2, "tensor count %llu is impossible for a %zu-byte file", (unsigned long long)nt, f->size), c.status;
    if (nkv > (c.size - c.pos) / 13) return fail(&c, 2, "metadata count %llu is impossible for a %zu-byte file", (unsigned long long)nkv, f->size), c.status;
    f->kv = calloc(nkv ? nkv : 1, sizeof *f->kv);
    if (!f->kv) return fail(&c, 5, "out of memory"), c.status;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < nkv; i++) {
        f->kv[i].val.type = GGUF_VT_COUNT;
        f->n_kv = (int64_t)i + 1;
        char *key = rd_str(&c, 0, "metadata key");
        if (!key) return c.status;
        f->kv[i].key = key;
        uint32_t t;
        if (rd_u32(&c, &t, "value type")) return c.status;
        if (rd_value(&c, (gguf_vtype)t, &f->kv[i].val, 0, key)) return c.status;
        if (!strcmp(key, "general.alignment")) {
            const gguf_value *v = &f->kv[i].val;
            if (v->type != GGUF_VT_UINT32) return fail(&c, 2, "general.alignment must be a uint32"), c.status;
            if (v->v.u == 0 || (v->v.u & (v->v.u - 1)) || v->v.u > (1u << 20))
                return fail(&c, 2, "general.alignment %llu is not a power of two in [1, 2^20]", (unsigned long long)v->v.u), c.status;
            f->alignment = (size_t)v->v.u;
        }
    }
    {
        char **keys = malloc((nkv ? nkv : 1) * sizeof *keys);
        if (!keys) return fail(&c, 5, "out of memory"), c.status;
        for (uint64_t i = 0; i < nkv; i++) keys[i] = f->kv[i].key;
        const char *dup = find_duplicate(keys, (int64_t)nkv);
        if (dup) { fail(&c, 2, "duplicate metadata key '%.80s'", dup); free(keys); return c.status; }
        free(keys);
    }
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    f->tensor_names = calloc(nt ? nt : 1, sizeof *f->tensor_names);
    if (!f->tensors || !f->tensor_names) return fail(&c, 5, "out of memory"), c.status;
    for (uint64_t i = 0; i < nt; i++) {
        gguf_tensor_info *t = &f->tensors[i];
        f->n_tensors = (int64_t)i + 1;
        uint64_t nlen;
        char *name = rd_str(&c, &nlen, "tensor name");
        if (!name) return c.status;
        f->tensor_names[i] = name;
        t->name = name;
        if (nlen == 0 || nlen > 256) return fail(&c, 2, "tensor %llu: name length %llu is not in [1, 256]", (unsigned long long)i, (unsigned long long)nlen), c.status;
        uint32_t nd;
        if (rd_u32(&c, &nd, "tensor dims")) return c.status;
        if (nd < 1 || nd > GGUF_MAX_DIMS) return fail(&c, 2, "tensor '%s': %u dimensions (expected 1..4)", name, nd), c.status;
        t->n_dims = (int)nd;
        uint64_t total = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if (d < (int)nd && rd_u64(&c, &ne, "tensor shape")) return c.status;
            if (ne == 0 || ne > (uint64_t)INT64_MAX) return fail(&c, 2, "tensor '%s': dimension %d has invalid size %llu", name, d, (unsigned long long)ne), c.status;
            if (total > (uint64_t)INT64_MAX / ne) return fail(&c, 2, "tensor '%s': element count overflows", name), c.status;
            total *= ne;
            t->ne[d] = (int64_t)ne;
        }
        uint32_t type;
        if (rd_u32(&c, &type, "tensor type") || rd_u64(&c, &t->offset, "tensor offset")) return c.status;
        const ember_type_traits *tr = ember_type_get((int)type);
        if (!tr) return fail(&c, 3, "tensor '%s': unsupported tensor type %u", name, type), c.status;
        t->type = (int)type;
        if (t->ne[0] % tr->block_size)
            return fail(&c, 2, "tensor '%s': row length %lld is not a multiple of the %s block size %d", name, (long long)t->ne[0], tr->name, tr->block_size), c.status;
        uint64_t blocks = total / (uint64_t)tr->block_size;
        if (blocks > (uint64_t)SIZE_MAX / tr->type_size) return fail(&c, 2, "tensor '%s': byte size overflows", name), c.status;
        t->nbytes = (size_t)(blocks * tr->type_size);
    }
    {
        const char *dup = find_duplicate(f->tensor_names, (int64_t)nt);
        if (dup) return fail(&c, 2, "duplicate tensor name '%.80s'", dup), c.status;
    }
    size_t off = c.pos;
    size_t pad = (f->alignment - off % f->alignment) % f->alignment;
    f->data_offset = off + pad;
    if (nt && f->data_offset > f->size) return fail(&c, 2, "truncated file: no tensor data section"), c.status;
    for (uint64_t i = 0; i < nt; i++) {
        gguf_tensor_info *t = &f->tensors[i];
        if (t->offset % f->alignment)
            return fail(&c, 2, "tensor '%s': offset %llu is not a multiple of the alignment %zu", t->name, (unsigned long long)t->offset, f->alignment), c.status;
        uint64_t room = f->size - f->data_offset;
        if (t->offset > room || t->nbytes > room - t->offset)
            return fail(&c, 2, "tensor '%s': data [offset %llu, %zu bytes] extends past the end of the file (%zu bytes)", t->name,
                        (unsigned long long)(f->data_offset + t->offset), t->nbytes, f->size), c.status;
        t->data = f->data + f->data_offset + t->offset;
    }
    return 0;
}

static int open_common(gguf_file *f, gguf_file **out, char *err, size_t errlen) {
    if (errlen) err[0] = 0;
    int st = parse(f, err, errlen);
    if (st) { gguf_close(f); return st; }
    *out = f;
    return 0;
}

int gguf_open_memory(const void *data, size_t size, gguf_file **out, char *err, size_t errlen) {
    *out = 0;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) { snprintf(err, errlen, "out of memory"); return 5; }
    f->data = data;
    f->size = size;
    f->path = strdup("<memory>");
    return open_common(f, out, err, errlen);
}

int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen) {
    *out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { snprintf(err, errlen, "cannot open: %s", strerror(errno)); return 1; }
    struct stat st;
    if (fstat(fd, &st) != 0) { snprintf(err, errlen, "cannot stat: %s", strerror(errno)); close(fd); return 1; }
    if (!S_ISREG(st.st_mode)) { snprintf(err, errlen, "not a regular file"); close(fd); return 1; }
    if (st.st_size < 8) { snprintf(err, errlen, "not a GGUF file (too short: %lld bytes)", (long long)st.st_size); close(fd); return 2; }
    void *p = mmap(0, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) { snprintf(err, errlen, "cannot map: %s", strerror(errno)); return 1; }
    gguf_file *f = calloc(1, sizeof *f);
    if (!f) { munmap(p, (size_t)st.st_size); snprintf(err, errlen, "out of memory"); return 5; }
    f->data = p;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    f->path = strdup(path);
    return open_common(f, out, err, errlen);
}

uint32_t gguf_version(const gguf_file *f) { return f->version; }
size_t gguf_alignment(const gguf_file *f) { return f->alignment; }
size_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
size_t gguf_file_size(const gguf_file *f) { return f->size; }
const char *gguf_path(const gguf_file *f) { return f->path; }
int64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
const char *gguf_kv_key(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_kv ? f->kv[i].key : 0; }
gguf_vtype gguf_kv_type(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_kv ? f->kv[i].val.type : GGUF_VT_COUNT; }
const gguf_value *gguf_kv_value(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_kv ? &f->kv[i].val : 0; }
gguf_vtype gguf_value_type(const gguf_value *v) { return v->type; }

int64_t gguf_find_key(const gguf_file *f, const char *key) {
    for (int64_t i = 0; i < f->n_kv; i++)
        if (!strcmp(f->kv[i].key, key)) return i;
    return -1;
}

static const gguf_value *find(const gguf_file *f, const char *key) {
    int64_t i = gguf_find_key(f, key);
    return i < 0 ? 0 : &f->kv[i].val;
}

static int is_unsigned(gguf_vtype t) { return t == GGUF_VT_UINT8 || t == GGUF_VT_UINT16 || t == GGUF_VT_UINT32 || t == GGUF_VT_UINT64; }
static int is_signed(gguf_vtype t) { return t == GGUF_VT_INT8 || t == GGUF_VT_INT16 || t == GGUF_VT_INT32 || t == GGUF_VT_INT64; }

int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out) {
    const gguf_value *v = find(f, key);
    if (!v) return 0;
    if (is_unsigned(v->type)) {
        if (v->v.u > (uint64_t)INT64_MAX) return -1;
        *out = (int64_t)v->v.u;
        return 1;
    }
    if (is_signed(v->type)) { *out = v->v.i; return 1; }
    return -1;
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out) {
    int64_t x;
    int r = gguf_get_i64(f, key, &x);
    if (r != 1) return r;
    if (x < 0 || x > (int64_t)UINT32_MAX) return -1;
    *out = (uint32_t)x;
    return 1;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out) {
    const gguf_value *v = find(f, key);
    if (!v) return 0;
    if (v->type != GGUF_VT_FLOAT32 && v->type != GGUF_VT_FLOAT64) return -1;
    *out = (float)v->v.f;
    return 1;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out) {
    const gguf_value *v = find(f, key);
    if (!v) return 0;
    if (v->type != GGUF_VT_BOOL) return -1;
    *out = (int)v->v.u;
    return 1;
}

int gguf_get_str(const gguf_file *f, const char *key, const char **out) {
    const gguf_value *v = find(f, key);
    if (!v) return 0;
    if (v->type != GGUF_VT_STRING) return -1;
    *out = v->v.str.s;
    return 1;
}

int gguf_get_arr_info(const gguf_file *f, const char *key, gguf_vtype *elem_type, uint64_t *n) {
    const gguf_value *v = find(f, key);
    if (!v) return 0;
    if (v->type != GGUF_VT_ARRAY) return -1;
    if (elem_type) *elem_type = v->v.arr.elem;
    if (n) *n = v->v.arr.n;
    return 1;
}

const char *gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, uint64_t *len) {
    const gguf_value *v = find(f, key);
    if (!v || v->type != GGUF_VT_ARRAY || v->v.arr.elem != GGUF_VT_STRING || i >= v->v.arr.n) return 0;
    if (len) *len = v->v.arr.lens[i];
    return v->v.arr.strs[i];
}

const void *gguf_get_arr_data(const gguf_file *f, const char *key) {
    const gguf_value *v = find(f, key);
    if (!v || v->type != GGUF_VT_ARRAY || !vtype_size(v->v.arr.elem)) return 0;
    return v->v.arr.raw;
}

int64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }
const gguf_tensor_info *gguf_tensor(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_tensors ? &f->tensors[i] : 0; }

const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name) {
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return 0;
}

static const char *vtype_name(gguf_vtype t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_VT_COUNT ? names[t] : "?";
}

/* Appends printable text, escaping control bytes. */
static void put_escaped(char *buf, size_t cap, size_t *n, const char *s, size_t len, size_t max) {
    for (size_t i = 0; i < len && i < max && *n + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) *n += (size_t)snprintf(buf + *n, cap - *n, "\\x%02x", ch);
        else buf[(*n)++] = (char)ch;
    }
    if (len > max && *n + 4 < cap) { memcpy(buf + *n, "...", 3); *n += 3; }
    buf[*n < cap ? *n : cap - 1] = 0;
}

void gguf_value_format(const gguf_value *v, char *buf, size_t cap) {
    if (!cap) return;
    buf[0] = 0;
    size_t n = 0;
    switch (v->type) {
    case GGUF_VT_UINT8: case GGUF_VT_UINT16: case GGUF_VT_UINT32: case GGUF_VT_UINT64:
        snprintf(buf, cap, "%llu", (unsigned long long)v->v.u); break;
    case GGUF_VT_INT8: case GGUF_VT_INT16: case GGUF_VT_INT32: case GGUF_VT_INT64:
        snprintf(buf, cap, "%lld", (long long)v->v.i); break;
    case GGUF_VT_FLOAT32: case GGUF_VT_FLOAT64: snprintf(buf, cap, "%g", v->v.f); break;
    case GGUF_VT_BOOL: snprintf(buf, cap, "%s", v->v.u ? "true" : "false"); break;
    case GGUF_VT_STRING:
        buf[n++] = '"';
        put_escaped(buf, cap, &n, v->v.str.s, (size_t)v->v.str.len, 60);
        if (n + 2 < cap) { buf[n++] = '"'; buf[n] = 0; }
        break;
    case GGUF_VT_ARRAY: {
        n = (size_t)snprintf(buf, cap, "[%llu %s", (unsigned long long)v->v.arr.n, vtype_name(v->v.arr.elem));
        if (n >= cap) break;
        uint64_t show = v->v.arr.n < 4 ? v->v.arr.n : 4;
        for (uint64_t i = 0; i < show && n + 16 < cap; i++) {
            n += (size_t)snprintf(buf + n, cap - n, "%s", i ? ", " : ": ");
            if (v->v.arr.elem == GGUF_VT_STRING) {
                buf[n++] = '"';
                put_escaped(buf, cap, &n, v->v.arr.strs[i], (size_t)v->v.arr.lens[i], 16);
                if (n + 2 < cap) buf[n++] = '"';
                buf[n] = 0;
            } else if (v->v.arr.elem == GGUF_VT_ARRAY) {
                n += (size_t)snprintf(buf + n, cap - n, "[...]");
            } else {
                gguf_value e;
                memset(&e, 0, sizeof e);
                e.type = v->v.arr.elem;
                const uint8_t *p = v->v.arr.raw + i * vtype_size(e.type);
                switch (e.type) {
                case GGUF_VT_UINT8: case GGUF_VT_BOOL: e.v.u = p[0]; break;
                case GGUF_VT_INT8: e.v.i = (int8_t)p[0]; break;
                case GGUF_VT_UINT16: { uint16_t x; memcpy(&x, p, 2); e.v.u = x; break; }
                case GGUF_VT_INT16: { int16_t x; memcpy(&x, p, 2); e.v.i = x; break; }
                case GGUF_VT_UINT32: { uint32_t x; memcpy(&x, p, 4); e.v.u = x; break; }
                case GGUF_VT_INT32: { int32_t x; memcpy(&x, p, 4); e.v.i = x; break; }
                case GGUF_VT_FLOAT32: { float x; memcpy(&x, p, 4); e.v.f = x; break; }
                case GGUF_VT_UINT64: { uint64_t x; memcpy(&x, p, 8); e.v.u = x; break; }
                case GGUF_VT_INT64: { int64_t x; memcpy(&x, p, 8); e.v.i = x; break; }
                case GGUF_VT_FLOAT64: { double x; memcpy(&x, p, 8); e.v.f = x; break; }
                default: break;
                }
                gguf_value_format(&e, buf + n, cap - n);
                n += strlen(buf + n);
            }
        }
        if (v->v.arr.n > show && n + 6 < cap) n += (size_t)snprintf(buf + n, cap - n, ", ...");
        if (n + 2 < cap) { buf[n++] = ']'; buf[n] = 0; }
        break;
    }
    default: snprintf(buf, cap, "?");
    }
}
