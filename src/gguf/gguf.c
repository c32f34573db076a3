/* GGUF reader. The file is mapped read-only and parsed through a bounds-
 * checked cursor; every count, length, dimension, type and offset is
 * validated before use, so nothing downstream can read outside the file.
 *
 * Policy decisions (stricter than ggml where a value is never useful):
 * - dimensions must be >= 1 (ggml allows 0-sized tensors; ember rejects
 *   them because a weight with no elements is always a broken file);
 * - tensor names and keys must be non-empty and contain no NUL byte;
 * - tensors must not overlap (ggml packs them back to back; ember accepts
 *   any layout that is aligned, in bounds and disjoint);
 * - bool values must be 0 or 1. */
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

#define GGUF_MAGIC 0x46554747u /* "GGUF" read little-endian */
#define MAX_ARRAY_DEPTH 8
#define MAX_NAME_LEN 256
#define MAX_ALIGNMENT (1u << 20)

struct gguf_value {
    gguf_vtype type;
    const uint8_t *raw;   /* serialized payload in the file (after the type id) */
    size_t raw_len;
    union {
        uint64_t u;
        int64_t i;
        double f;
        struct { char *s; uint64_t len; } str;
        struct {
            gguf_vtype elem;
            uint64_t n;
            uint8_t *data;       /* numeric: aligned copy of the packed elements */
            char **strs;         /* string arrays: pointers into arena */
            uint64_t *lens;
            char *arena;         /* all strings of the array, NUL-terminated */
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
    int64_t *kv_order;     /* kv indices sorted by key, for binary search */
    int64_t *tensor_order; /* tensor indices sorted by name */
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
    if (c->errlen) vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    /* names come from the file: keep the message on one printable line */
    for (char *e = c->err; c->errlen && *e; e++)
        if ((unsigned char)*e < 0x20 || *e == 0x7f) *e = '?';
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

size_t gguf_vtype_size(gguf_vtype t) {
    switch (t) {
    case GGUF_VT_UINT8: case GGUF_VT_INT8: case GGUF_VT_BOOL: return 1;
    case GGUF_VT_UINT16: case GGUF_VT_INT16: return 2;
    case GGUF_VT_UINT32: case GGUF_VT_INT32: case GGUF_VT_FLOAT32: return 4;
    case GGUF_VT_UINT64: case GGUF_VT_INT64: case GGUF_VT_FLOAT64: return 8;
    default: return 0;
    }
}

/* Reads a GGUF string (u64 length + bytes) as a NUL-terminated heap copy. */
static char *rd_str(cursor *c, uint64_t *len_out, const char *what) {
    uint64_t len;
    if (rd_u64(c, &len, what) || need(c, len, what)) return 0;
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
        free(v->v.arr.strs);
        free(v->v.arr.lens);
        free(v->v.arr.arena);
        free(v->v.arr.data);
        if (v->v.arr.items)
            for (uint64_t i = 0; i < v->v.arr.n; i++) value_free(&v->v.arr.items[i]);
        free(v->v.arr.items);
    }
    v->type = GGUF_VT_COUNT;
}

/* Decodes one packed little-endian scalar of type t at p. */
static void scalar_decode(gguf_vtype t, const uint8_t *p, gguf_value *out) {
    switch (t) {
    case GGUF_VT_UINT8: case GGUF_VT_BOOL: out->v.u = p[0]; break;
    case GGUF_VT_INT8: out->v.i = (int8_t)p[0]; break;
    case GGUF_VT_UINT16: { uint16_t x; memcpy(&x, p, 2); out->v.u = x; break; }
    case GGUF_VT_INT16: { int16_t x; memcpy(&x, p, 2); out->v.i = x; break; }
    case GGUF_VT_UINT32: { uint32_t x; memcpy(&x, p, 4); out->v.u = x; break; }
    case GGUF_VT_INT32: { int32_t x; memcpy(&x, p, 4); out->v.i = x; break; }
    case GGUF_VT_FLOAT32: { float x; memcpy(&x, p, 4); out->v.f = x; break; }
    case GGUF_VT_UINT64: { uint64_t x; memcpy(&x, p, 8); out->v.u = x; break; }
    case GGUF_VT_INT64: { int64_t x; memcpy(&x, p, 8); out->v.i = x; break; }
    case GGUF_VT_FLOAT64: { double x; memcpy(&x, p, 8); out->v.f = x; break; }
    default: break;
    }
}

/* String array: lengths are validated in a first pass so that all strings
 * share one allocation (vocabularies have 100k+ entries). */
static int rd_str_array(cursor *c, gguf_value *out, uint64_t n, const char *key) {
    size_t start = c->pos;
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        if (rd_u64(c, &len, "array string length") || need(c, len, "array string")) return -1;
        c->pos += (size_t)len;
        total += len; /* <= file size: cannot overflow */
    }
    out->v.arr.strs = malloc((n ? n : 1) * sizeof(char *));
    out->v.arr.lens = malloc((n ? n : 1) * sizeof(uint64_t));
    out->v.arr.arena = malloc((size_t)(total + n + 1));
    if (!out->v.arr.strs || !out->v.arr.lens || !out->v.arr.arena)
        return fail(c, 5, "key '%s': out of memory for a %llu-string array", key, (unsigned long long)n);
    size_t pos = start, at = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        memcpy(&len, c->p + pos, 8);
        pos += 8;
        out->v.arr.strs[i] = out->v.arr.arena + at;
        out->v.arr.lens[i] = len;
        memcpy(out->v.arr.arena + at, c->p + pos, (size_t)len);
        at += (size_t)len;
        out->v.arr.arena[at++] = 0;
        pos += (size_t)len;
    }
    return 0;
}

static int rd_value(cursor *c, gguf_vtype type, gguf_value *out, int depth, const char *key) {
    memset(out, 0, sizeof *out);
    out->type = GGUF_VT_COUNT; /* nothing to free until set */
    if ((unsigned)type >= GGUF_VT_COUNT) return fail(c, 2, "key '%s': unknown value type %u", key, (unsigned)type);
    size_t start = c->pos;
    if (type == GGUF_VT_STRING) {
        char *s = rd_str(c, &out->v.str.len, "string value");
        if (!s) return -1;
        out->v.str.s = s;
        out->type = type;
    } else if (type != GGUF_VT_ARRAY) {
        uint8_t b[8];
        if (rd(c, b, gguf_vtype_size(type), "value")) return -1;
        if (type == GGUF_VT_BOOL && b[0] > 1) return fail(c, 2, "key '%s': bool value %u is not 0 or 1", key, b[0]);
        scalar_decode(type, b, out);
        out->type = type;
    } else {
        if (depth >= MAX_ARRAY_DEPTH) return fail(c, 2, "key '%s': arrays nested deeper than %d", key, MAX_ARRAY_DEPTH);
        uint32_t et;
        uint64_t n;
        if (rd_u32(c, &et, "array element type") || rd_u64(c, &n, "array length")) return -1;
        if (et >= GGUF_VT_COUNT) return fail(c, 2, "key '%s': unknown array element type %u", key, et);
        out->type = GGUF_VT_ARRAY;
        out->v.arr.elem = (gguf_vtype)et;
        /* Every element takes at least min_elem bytes of the file, so this
         * bounds every allocation below by a small multiple of the file. */
        size_t min_elem = et == GGUF_VT_STRING ? 8 : et == GGUF_VT_ARRAY ? 12 : gguf_vtype_size((gguf_vtype)et);
        if (n > (c->size - c->pos) / min_elem)
            return fail(c, 2, "key '%s': array of %llu elements does not fit in the file", key, (unsigned long long)n);
        out->v.arr.n = n;
        if (et == GGUF_VT_STRING) {
            if (rd_str_array(c, out, n, key)) return -1;
        } else if (et == GGUF_VT_ARRAY) {
            out->v.arr.items = calloc(n ? n : 1, sizeof(gguf_value));
            if (!out->v.arr.items) return fail(c, 5, "key '%s': out of memory", key);
            for (uint64_t i = 0; i < n; i++) out->v.arr.items[i].type = GGUF_VT_COUNT;
            for (uint64_t i = 0; i < n; i++)
                if (rd_value(c, GGUF_VT_ARRAY, &out->v.arr.items[i], depth + 1, key)) return -1;
        } else {
            size_t bytes = (size_t)n * gguf_vtype_size((gguf_vtype)et);
            if (need(c, bytes, "array data")) return -1;
            /* A copy: metadata is not aligned in the file, and callers may
             * read the elements as float/int32 arrays. */
            if (!(out->v.arr.data = malloc(bytes ? bytes : 1))) return fail(c, 5, "key '%s': out of memory", key);
            memcpy(out->v.arr.data, c->p + c->pos, bytes);
            if (et == GGUF_VT_BOOL)
                for (size_t i = 0; i < bytes; i++)
                    if (out->v.arr.data[i] > 1) return fail(c, 2, "key '%s': bool array element %zu is not 0 or 1", key, i);
            c->pos += bytes;
        }
    }
    out->raw = c->p + start;
    out->raw_len = c->pos - start;
    return 0;
}

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (int64_t i = 0; i < f->n_kv && f->kv; i++) {
        free(f->kv[i].key);
        value_free(&f->kv[i].val);
    }
    free(f->kv);
    if (f->tensors)
        for (int64_t i = 0; i < f->n_tensors; i++) free((char *)f->tensors[i].name);
    free(f->tensors);
    free(f->kv_order);
    free(f->tensor_order);
    if (f->mapped && f->data) munmap((void *)f->data, f->size);
    free(f->path);
    free(f);
}

/* ---- sorted indices (duplicate detection and binary-search lookup) ---- */

typedef struct { const char *s; int64_t i; } name_ix;

static int cmp_name_ix(const void *a, const void *b) {
    int r = strcmp(((const name_ix *)a)->s, ((const name_ix *)b)->s);
    if (r) return r;
    int64_t x = ((const name_ix *)a)->i, y = ((const name_ix *)b)->i;
    return (x > y) - (x < y);
}

/* Builds order[] (indices sorted by name); returns the first duplicate name,
 * NULL if none. *oom is set when allocation fails. */
static const char *sort_names(const char *(*get)(const gguf_file *, int64_t), const gguf_file *f, int64_t n,
                              int64_t *order, int *oom) {
    *oom = 0;
    name_ix *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) { *oom = 1; return 0; }
    for (int64_t i = 0; i < n; i++) { v[i].s = get(f, i); v[i].i = i; }
    qsort(v, (size_t)n, sizeof *v, cmp_name_ix);
    const char *dup = 0;
    for (int64_t i = 0; i < n; i++) {
        order[i] = v[i].i;
        if (i && !dup && !strcmp(v[i - 1].s, v[i].s)) dup = v[i].s;
    }
    free(v);
    return dup;
}

static const char *kv_name(const gguf_file *f, int64_t i) { return f->kv[i].key; }
static const char *tensor_name(const gguf_file *f, int64_t i) { return f->tensors[i].name; }

static int64_t lookup(const gguf_file *f, const int64_t *order, int64_t n,
                      const char *(*get)(const gguf_file *, int64_t), const char *name) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int r = strcmp(get(f, order[mid]), name);
        if (r == 0) return order[mid];
        if (r < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* ggml type ids ember does not implement, named for clearer errors. */
static const char *ggml_type_name(uint32_t t) {
    static const char *names[] = {
        [16] = "IQ2_XXS", [17] = "IQ2_XS", [18] = "IQ3_XXS", [19] = "IQ1_S", [20] = "IQ4_NL", [21] = "IQ3_S",
        [22] = "IQ2_S", [23] = "IQ4_XS", [24] = "I8", [25] = "I16", [26] = "I32", [27] = "I64", [28] = "F64",
        [29] = "IQ1_M", [34] = "TQ1_0", [35] = "TQ2_0", [39] = "MXFP4",
    };
    return t < sizeof names / sizeof names[0] ? names[t] : 0;
}

static int parse_kv(gguf_file *f, cursor *c, uint64_t nkv) {
    f->kv = calloc(nkv ? nkv : 1, sizeof *f->kv);
    if (!f->kv) return fail(c, 5, "out of memory");
    for (uint64_t i = 0; i < nkv; i++) {
        gguf_kv *kv = &f->kv[i];
        kv->val.type = GGUF_VT_COUNT;
        f->n_kv = (int64_t)i + 1;
        uint64_t klen;
        if (!(kv->key = rd_str(c, &klen, "metadata key"))) return -1;
        if (klen == 0) return fail(c, 2, "metadata key %llu is empty", (unsigned long long)i);
        if (strlen(kv->key) != klen) return fail(c, 2, "metadata key '%s' contains a NUL byte", kv->key);
        uint32_t t;
        if (rd_u32(c, &t, "value type") || rd_value(c, (gguf_vtype)t, &kv->val, 0, kv->key)) return -1;
        if (!strcmp(kv->key, "general.alignment")) {
            const gguf_value *v = &kv->val;
            if (v->type != GGUF_VT_UINT32) return fail(c, 2, "general.alignment must be a uint32");
            if (v->v.u == 0 || (v->v.u & (v->v.u - 1)) || v->v.u > MAX_ALIGNMENT)
                return fail(c, 2, "general.alignment %llu is invalid (must be a power of two in [1, %u])", (unsigned long long)v->v.u,
                            MAX_ALIGNMENT);
            f->alignment = (size_t)v->v.u;
        }
    }
    f->kv_order = malloc((nkv ? nkv : 1) * sizeof *f->kv_order);
    if (!f->kv_order) return fail(c, 5, "out of memory");
    int oom;
    const char *dup = sort_names(kv_name, f, (int64_t)nkv, f->kv_order, &oom);
    if (oom) return fail(c, 5, "out of memory");
    if (dup) return fail(c, 2, "duplicate metadata key '%.100s'", dup);
    return 0;
}

static int parse_tensor_info(gguf_file *f, cursor *c, uint64_t i) {
    gguf_tensor_info *t = &f->tensors[i];
    f->n_tensors = (int64_t)i + 1;
    uint64_t nlen;
    char *name = rd_str(c, &nlen, "tensor name");
    if (!name) return -1;
    t->name = name;
    if (nlen == 0 || nlen > MAX_NAME_LEN)
        return fail(c, 2, "tensor %llu: name length %llu is not in [1, %d]", (unsigned long long)i,
                    (unsigned long long)nlen, MAX_NAME_LEN);
    if (strlen(name) != nlen) return fail(c, 2, "tensor '%s': name contains a NUL byte", name);
    uint32_t nd;
    if (rd_u32(c, &nd, "tensor dimension count")) return -1;
    if (nd < 1 || nd > GGUF_MAX_DIMS) return fail(c, 2, "tensor '%s': %u dimensions (expected 1..4)", name, nd);
    t->n_dims = (int)nd;
    uint64_t total = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < (int)nd && rd_u64(c, &ne, "tensor shape")) return -1;
        if (ne == 0 || ne > (uint64_t)INT64_MAX)
            return fail(c, 2, "tensor '%s': dimension %d has invalid size %llu", name, d, (unsigned long long)ne);
        if (total > (uint64_t)INT64_MAX / ne) return fail(c, 2, "tensor '%s': element count overflows", name);
        total *= ne;
        t->ne[d] = (int64_t)ne;
    }
    uint32_t type;
    if (rd_u32(c, &type, "tensor type") || rd_u64(c, &t->offset, "tensor offset")) return -1;
    const ember_type_traits *tr = ember_type_get((int)type);
    if (!tr) {
        const char *gn = ggml_type_name(type);
        if (gn) return fail(c, 3, "tensor '%s': type %s (%u) is not supported by ember", name, gn, type);
        return fail(c, 2, "tensor '%s': unknown tensor type %u", name, type);
    }
    t->type = (int)type;
    if (t->ne[0] % tr->block_size)
        return fail(c, 2, "tensor '%s': row length %lld is not a multiple of the %s block size %d", name,
                    (long long)t->ne[0], tr->name, tr->block_size);
    uint64_t blocks = total / (uint64_t)tr->block_size;
    if (blocks > (uint64_t)SIZE_MAX / tr->type_size) return fail(c, 2, "tensor '%s': byte size overflows", name);
    t->nbytes = (size_t)(blocks * tr->type_size);
    return 0;
}

static int cmp_offset(const void *a, const void *b) {
    const gguf_tensor_info *x = *(const gguf_tensor_info *const *)a, *y = *(const gguf_tensor_info *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static int check_tensor_data(gguf_file *f, cursor *c) {
    int64_t nt = f->n_tensors;
    f->data_offset = c->pos + (f->alignment - c->pos % f->alignment) % f->alignment;
    for (int64_t i = 0; i < nt; i++) {
        gguf_tensor_info *t = &f->tensors[i];
        if (t->offset % f->alignment)
            return fail(c, 2, "tensor '%s': offset %llu is not a multiple of the alignment %zu", t->name,
                        (unsigned long long)t->offset, f->alignment);
        uint64_t room = f->data_offset <= f->size ? f->size - f->data_offset : 0;
        if (t->offset > room || t->nbytes > room - t->offset)
            return fail(c, 2, "tensor '%s': data [offset %llu, %zu bytes] extends past the end of the file (%zu bytes)",
                        t->name, (unsigned long long)(f->data_offset + t->offset), t->nbytes, f->size);
        t->data = f->data + f->data_offset + t->offset;
    }
    if (nt < 2) return 0;
    const gguf_tensor_info **by_off = malloc((size_t)nt * sizeof *by_off);
    if (!by_off) return fail(c, 5, "out of memory");
    for (int64_t i = 0; i < nt; i++) by_off[i] = &f->tensors[i];
    qsort(by_off, (size_t)nt, sizeof *by_off, cmp_offset);
    for (int64_t i = 1; i < nt; i++)
        if (by_off[i - 1]->offset + by_off[i - 1]->nbytes > by_off[i]->offset) {
            fail(c, 2, "tensors '%s' and '%s' overlap in the data section", by_off[i - 1]->name, by_off[i]->name);
            break;
        }
    free(by_off);
    return c->status ? -1 : 0;
}

static int parse(gguf_file *f, char *err, size_t errlen) {
    cursor c = {f->data, f->size, 0, err, errlen, 0};
    uint32_t magic;
    if (f->size < 8) return fail(&c, 2, "not a GGUF file (too short: %zu bytes)", f->size), c.status;
    rd_u32(&c, &magic, "magic");
    if (magic != GGUF_MAGIC) return fail(&c, 2, "not a GGUF file (bad magic 0x%08x)", magic), c.status;
    rd_u32(&c, &f->version, "version");
    if (f->version == 1) return fail(&c, 3, "GGUF version 1 is not supported (only v2 and v3)"), c.status;
    if (f->version >= 0x01000000u && !(f->version & 0xffffu))
        return fail(&c, 3, "big-endian GGUF files are not supported"), c.status;
    if (f->version < 2 || f->version > 3)
        return fail(&c, 3, "unsupported GGUF version %u (only v2 and v3)", f->version), c.status;
    uint64_t nt, nkv;
    if (rd_u64(&c, &nt, "tensor count") || rd_u64(&c, &nkv, "metadata count")) return c.status;
    /* A tensor info takes at least 8+1+4+8+4+8 bytes, a key/value 8+1+4+1:
     * larger counts cannot fit, and would otherwise size huge allocations. */
    if (nt > (c.size - c.pos) / 33)
        return fail(&c, 2, "tensor count %llu is impossible for a %zu-byte file", (unsigned long long)nt, f->size), c.status;
    if (nkv > (c.size - c.pos) / 14)
        return fail(&c, 2, "metadata count %llu is impossible for a %zu-byte file", (unsigned long long)nkv, f->size), c.status;
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (parse_kv(f, &c, nkv)) return c.status;
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    f->tensor_order = malloc((nt ? nt : 1) * sizeof *f->tensor_order);
    if (!f->tensors || !f->tensor_order) return fail(&c, 5, "out of memory"), c.status;
    for (uint64_t i = 0; i < nt; i++)
        if (parse_tensor_info(f, &c, i)) return c.status;
    int oom;
    const char *dup = sort_names(tensor_name, f, (int64_t)nt, f->tensor_order, &oom);
    if (oom) return fail(&c, 5, "out of memory"), c.status;
    if (dup) return fail(&c, 2, "duplicate tensor name '%.100s'", dup), c.status;
    if (check_tensor_data(f, &c)) return c.status;
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
    if (!f || !(f->path = strdup("<memory>"))) {
        free(f);
        if (errlen) snprintf(err, errlen, "out of memory");
        return 5;
    }
    f->data = data;
    f->size = size;
    return open_common(f, out, err, errlen);
}

int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen) {
    *out = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno)); return 1; }
    struct stat st;
    if (fstat(fd, &st) != 0) { snprintf(err, errlen, "cannot stat '%s': %s", path, strerror(errno)); close(fd); return 1; }
    if (!S_ISREG(st.st_mode)) { snprintf(err, errlen, "'%s' is not a regular file", path); close(fd); return 1; }
    if (st.st_size < 8) {
        snprintf(err, errlen, "not a GGUF file (too short: %lld bytes)", (long long)st.st_size);
        close(fd);
        return 2;
    }
    void *p = mmap(0, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int mmap_errno = errno;
    close(fd);
    if (p == MAP_FAILED) { snprintf(err, errlen, "cannot map '%s': %s", path, strerror(mmap_errno)); return 1; }
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = strdup(path))) {
        free(f);
        munmap(p, (size_t)st.st_size);
        snprintf(err, errlen, "out of memory");
        return 5;
    }
    f->data = p;
    f->size = (size_t)st.st_size;
    f->mapped = 1;
    return open_common(f, out, err, errlen);
}

/* ---- accessors ---- */

uint32_t gguf_version(const gguf_file *f) { return f->version; }
size_t gguf_alignment(const gguf_file *f) { return f->alignment; }
size_t gguf_data_offset(const gguf_file *f) { return f->data_offset; }
size_t gguf_file_size(const gguf_file *f) { return f->size; }
int gguf_is_mapped(const gguf_file *f) { return f->mapped; }
const char *gguf_path(const gguf_file *f) { return f->path; }
int64_t gguf_n_kv(const gguf_file *f) { return f->n_kv; }
const char *gguf_kv_key(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_kv ? f->kv[i].key : 0; }
gguf_vtype gguf_kv_type(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_kv ? f->kv[i].val.type : GGUF_VT_COUNT; }
const gguf_value *gguf_kv_value(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_kv ? &f->kv[i].val : 0; }
gguf_vtype gguf_value_type(const gguf_value *v) { return v->type; }

const void *gguf_value_raw(const gguf_value *v, size_t *nbytes) {
    if (nbytes) *nbytes = v->raw_len;
    return v->raw;
}

int64_t gguf_find_key(const gguf_file *f, const char *key) {
    return key ? lookup(f, f->kv_order, f->n_kv, kv_name, key) : -1;
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
    if (!v || v->type != GGUF_VT_ARRAY || !gguf_vtype_size(v->v.arr.elem)) return 0;
    return v->v.arr.data;
}

int64_t gguf_n_tensors(const gguf_file *f) { return f->n_tensors; }
const gguf_tensor_info *gguf_tensor(const gguf_file *f, int64_t i) { return i >= 0 && i < f->n_tensors ? &f->tensors[i] : 0; }

const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name) {
    int64_t i = name ? lookup(f, f->tensor_order, f->n_tensors, tensor_name, name) : -1;
    return i < 0 ? 0 : &f->tensors[i];
}

/* ---- text rendering ---- */

static const char *vtype_plural(gguf_vtype t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bools",
                                  "strings", "arrays", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_VT_COUNT ? names[t] : "?";
}

typedef struct { char *buf; size_t cap, n; } sbuf;

/* Appends formatted text; stops silently (NUL-terminated) when full. */
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->n + 1 >= b->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->buf + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (w < 0) return;
    b->n = b->n + (size_t)w < b->cap ? b->n + (size_t)w : b->cap - 1;
}

/* A quoted string with control bytes, quotes and backslashes escaped,
 * cut after max bytes. */
static void sb_quoted(sbuf *b, const char *s, uint64_t len, size_t max) {
    sb_printf(b, "\"");
    for (uint64_t i = 0; i < len && i < max; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) sb_printf(b, "\\x%02x", ch);
        else if (ch == '"' || ch == '\\') sb_printf(b, "\\%c", ch);
        else sb_printf(b, "%c", ch);
    }
    sb_printf(b, len > max ? "...\"" : "\"");
}

static void sb_value(sbuf *b, const gguf_value *v, int top) {
    switch (v->type) {
    case GGUF_VT_UINT8: case GGUF_VT_UINT16: case GGUF_VT_UINT32: case GGUF_VT_UINT64:
        sb_printf(b, "%llu", (unsigned long long)v->v.u); break;
    case GGUF_VT_INT8: case GGUF_VT_INT16: case GGUF_VT_INT32: case GGUF_VT_INT64:
        sb_printf(b, "%lld", (long long)v->v.i); break;
    case GGUF_VT_FLOAT32: case GGUF_VT_FLOAT64: {
        /* the shortest text that reads back as the same value */
        char num[40];
        int lo = v->type == GGUF_VT_FLOAT32 ? 6 : 15, hi = v->type == GGUF_VT_FLOAT32 ? 9 : 17;
        for (int prec = lo; prec <= hi; prec++) {
            snprintf(num, sizeof num, "%.*g", prec, v->v.f);
            if (v->type == GGUF_VT_FLOAT32 ? strtof(num, 0) == (float)v->v.f : strtod(num, 0) == v->v.f) break;
        }
        sb_printf(b, "%s", num);
        break;
    }
    case GGUF_VT_BOOL: sb_printf(b, "%s", v->v.u ? "true" : "false"); break;
    case GGUF_VT_STRING: sb_quoted(b, v->v.str.s, v->v.str.len, top ? 200 : 24); break;
    case GGUF_VT_ARRAY: {
        uint64_t n = v->v.arr.n, show = n < 4 ? n : 4;
        sb_printf(b, "[%llu %s", (unsigned long long)n, vtype_plural(v->v.arr.elem));
        for (uint64_t i = 0; i < show && b->n + 1 < b->cap; i++) {
            sb_printf(b, i ? ", " : ": ");
            gguf_vtype et = v->v.arr.elem;
            if (et == GGUF_VT_STRING) {
                sb_quoted(b, v->v.arr.strs[i], v->v.arr.lens[i], 24);
            } else if (et == GGUF_VT_ARRAY) {
                sb_value(b, &v->v.arr.items[i], 0);
            } else {
                gguf_value e;
                memset(&e, 0, sizeof e);
                e.type = et;
                scalar_decode(et, v->v.arr.data + i * gguf_vtype_size(et), &e);
                sb_value(b, &e, 0);
            }
        }
        sb_printf(b, n > show ? ", ...]" : "]");
        break;
    }
    default: sb_printf(b, "?");
    }
}

void gguf_value_format(const gguf_value *v, char *buf, size_t cap) {
    if (!cap) return;
    buf[0] = 0;
    sbuf b = {buf, cap, 0};
    sb_value(&b, v, 1);
}
