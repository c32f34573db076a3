/* ember info: what is inside a GGUF file (metadata, tensors, totals), as
 * text or JSON, and `ember info --cpu`: the detected CPU features and the
 * kernel path ember will use. JSON is written by hand (no JSON library). */
#include "gguf/gguf.h"
#include "formats/formats.h"
#include "runtime/cpu.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_ARRAY_HEAD 16 /* array elements shown in JSON without --full */

static const char *vt_name(gguf_vtype t) {
    static const char *names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool",
                                  "str", "arr", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_VT_COUNT ? names[t] : "?";
}

/* ---- JSON output ---- */

/* Length of the valid UTF-8 sequence at s (0 if invalid), per RFC 3629. */
static size_t utf8_len(const unsigned char *s, size_t left) {
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
    else return 0;
    if (n > left) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

/* A JSON string literal; bytes that are not valid UTF-8 become U+FFFD so
 * the output is always valid JSON. */
static void json_str(FILE *out, const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', out);
    for (size_t i = 0; i < len;) {
        unsigned char c = p[i];
        if (c == '"') fputs("\\\"", out);
        else if (c == '\\') fputs("\\\\", out);
        else if (c == '\n') fputs("\\n", out);
        else if (c == '\r') fputs("\\r", out);
        else if (c == '\t') fputs("\\t", out);
        else if (c < 0x20 || c == 0x7f) fprintf(out, "\\u%04x", c);
        else {
            size_t n = utf8_len(p + i, len - i);
            if (!n) { fputs("\\ufffd", out); i++; continue; }
            fwrite(p + i, 1, n, out);
            i += n;
            continue;
        }
        i++;
    }
    fputc('"', out);
}

/* The shortest text that reads back as the same float (is_f32) or double. */
static void json_double(FILE *out, double v, int is_f32) {
    if (!isfinite(v)) { fputs("null", out); return; } /* JSON has no NaN/Inf */
    char num[40];
    for (int prec = is_f32 ? 6 : 15; prec <= (is_f32 ? 9 : 17); prec++) {
        snprintf(num, sizeof num, "%.*g", prec, v);
        if (is_f32 ? strtof(num, 0) == (float)v : strtod(num, 0) == v) break;
    }
    fputs(num, out);
}

/* One serialized value of type t at *p, advancing *p (bounds were checked
 * by the reader; end is checked again so a bug cannot read past the
 * payload). Arrays show at most limit elements; after a cut *p is not
 * advanced to the end, so only the outermost array may be cut. */
static int json_value(FILE *out, gguf_vtype t, const uint8_t **p, const uint8_t *end, uint64_t limit) {
    const uint8_t *q = *p;
    size_t sz = gguf_vtype_size(t);
    if (sz) {
        if ((size_t)(end - q) < sz) return -1;
        union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32; float f32;
                uint64_t u64; int64_t i64; double f64; } v;
        memcpy(&v, q, sz);
        switch (t) {
        case GGUF_VT_UINT8: fprintf(out, "%u", v.u8); break;
        case GGUF_VT_INT8: fprintf(out, "%d", v.i8); break;
        case GGUF_VT_UINT16: fprintf(out, "%u", v.u16); break;
        case GGUF_VT_INT16: fprintf(out, "%d", v.i16); break;
        case GGUF_VT_UINT32: fprintf(out, "%u", v.u32); break;
        case GGUF_VT_INT32: fprintf(out, "%d", v.i32); break;
        case GGUF_VT_UINT64: fprintf(out, "%llu", (unsigned long long)v.u64); break;
        case GGUF_VT_INT64: fprintf(out, "%lld", (long long)v.i64); break;
        case GGUF_VT_FLOAT32: json_double(out, v.f32, 1); break;
        case GGUF_VT_FLOAT64: json_double(out, v.f64, 0); break;
        case GGUF_VT_BOOL: fputs(v.u8 ? "true" : "false", out); break;
        default: return -1;
        }
        *p = q + sz;
        return 0;
    }
    if (t == GGUF_VT_STRING) {
        uint64_t len;
        if ((size_t)(end - q) < 8) return -1;
        memcpy(&len, q, 8);
        if (len > (uint64_t)(end - q - 8)) return -1;
        json_str(out, (const char *)q + 8, (size_t)len);
        *p = q + 8 + len;
        return 0;
    }
    if (t != GGUF_VT_ARRAY || (size_t)(end - q) < 12) return -1;
    uint32_t et;
    uint64_t n;
    memcpy(&et, q, 4);
    memcpy(&n, q + 4, 8);
    q += 12;
    fputc('[', out);
    for (uint64_t i = 0; i < n && i < limit; i++) {
        if (i) fputs(", ", out);
        if (json_value(out, (gguf_vtype)et, &q, end, UINT64_MAX)) return -1;
    }
    fputc(']', out);
    *p = q;
    return 0;
}

/* ---- totals ---- */

typedef struct {
    uint64_t params, bytes;
    int64_t count[EMBER_TYPE_COUNT];
} totals;

static void compute_totals(const gguf_file *f, totals *t) {
    memset(t, 0, sizeof *t);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *ti = gguf_tensor(f, i);
        uint64_t n = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) n *= (uint64_t)ti->ne[d];
        t->params += n;
        t->bytes += ti->nbytes;
        if (ti->type >= 0 && ti->type < EMBER_TYPE_COUNT) t->count[ti->type]++;
    }
}

static void shape_text(const gguf_tensor_info *t, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = 0;
    for (int d = 0; d < t->n_dims && n + 1 < cap; d++) {
        int w = snprintf(buf + n, cap - n, "%s%lld", d ? " x " : "", (long long)t->ne[d]);
        if (w < 0) break;
        n += (size_t)w;
    }
}

/* 1234567 -> "1,234,567" */
static const char *grouped(uint64_t v, char *buf) {
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v), o = 0;
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = 0;
    return buf;
}

static void print_text(const gguf_file *f) {
    printf("file:       %s\n", gguf_path(f));
    printf("version:    %u\n", gguf_version(f));
    printf("alignment:  %zu\n", gguf_alignment(f));
    printf("size:       %zu bytes (data section at %zu)\n", gguf_file_size(f), gguf_data_offset(f));
    int64_t nkv = gguf_n_kv(f), nt = gguf_n_tensors(f);
    size_t kw = 10, tw = 10;
    for (int64_t i = 0; i < nkv; i++) if (strlen(gguf_kv_key(f, i)) > kw) kw = strlen(gguf_kv_key(f, i));
    for (int64_t i = 0; i < nt; i++) if (strlen(gguf_tensor(f, i)->name) > tw) tw = strlen(gguf_tensor(f, i)->name);
    printf("\nmetadata (%lld keys):\n", (long long)nkv);
    char val[512];
    for (int64_t i = 0; i < nkv; i++) {
        gguf_value_format(gguf_kv_value(f, i), val, sizeof val);
        printf("  %-*s  %-4s  %s\n", (int)kw, gguf_kv_key(f, i), vt_name(gguf_kv_type(f, i)), val);
    }
    printf("\ntensors (%lld):\n", (long long)nt);
    if (nt) printf("  %-*s  %-5s  %-24s  %12s  %12s\n", (int)tw, "name", "type", "shape", "bytes", "offset");
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        char shape[96];
        shape_text(t, shape, sizeof shape);
        printf("  %-*s  %-5s  %-24s  %12zu  %12llu\n", (int)tw, t->name, ember_type_name(t->type), shape, t->nbytes,
               (unsigned long long)(gguf_data_offset(f) + t->offset));
    }
    totals tot;
    compute_totals(f, &tot);
    char g1[32], g2[32];
    printf("\ntotals:     %s params, %s bytes", grouped(tot.params, g1), grouped(tot.bytes, g2));
    if (tot.params) printf(", %.2f bits per weight", 8.0 * (double)tot.bytes / (double)tot.params);
    printf("\ntypes:     ");
    int any = 0;
    for (int ty = 0; ty < EMBER_TYPE_COUNT; ty++)
        if (tot.count[ty]) printf("%s %s: %lld", any++ ? "," : "", ember_type_name(ty), (long long)tot.count[ty]);
    printf("%s\n", any ? "" : " none");
    /* what `ember run` adds at load on this CPU: the loader's rule
     * (ember_weight_copies) over the matrices it loads; `ember info --cpu`
     * names the packed layouts; --no-repack skips both copies */
    uint64_t repack = 0, rows = 0;
    const int tied = gguf_find_tensor(f, "output.weight") == 0, huge = ember_huge_pages_available();
    for (int64_t i = 0; i < nt; i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        const ember_type_traits *tr = ember_type_get((int)t->type);
        if (!tr || t->n_dims != 2 || !strstr(t->name, ".weight") || strstr(t->name, "norm")) continue;
        if (!strcmp(t->name, "token_embd.weight") && !tied) continue;
        int packed, copy;
        ember_weight_copies(tr, (int64_t)t->ne[1], huge, &packed, &copy);
        if (packed) repack += t->nbytes;
        if (copy) rows += t->nbytes;
    }
    if (repack) printf("repack:     %.1f MB of weights copied into interleaved row groups at load (ember run --no-repack skips it)\n", repack / 1e6);
    if (rows) printf("row copy:   %.1f MB of the rows decoding reads copied into huge pages at load (ember run --no-repack skips it)\n", rows / 1e6);
}

static int print_json(const gguf_file *f, int full) {
    FILE *o = stdout;
    const char *path = gguf_path(f);
    fputs("{\"file\": ", o);
    json_str(o, path, strlen(path));
    fprintf(o, ", \"version\": %u, \"alignment\": %zu, \"size\": %zu, \"data_offset\": %zu,\n \"metadata\": [",
            gguf_version(f), gguf_alignment(f), gguf_file_size(f), gguf_data_offset(f));
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_value *v = gguf_kv_value(f, i);
        const char *key = gguf_kv_key(f, i);
        gguf_vtype t = gguf_value_type(v);
        fputs(i ? ",\n  {\"key\": " : "\n  {\"key\": ", o);
        json_str(o, key, strlen(key));
        fprintf(o, ", \"type\": \"%s\"", vt_name(t));
        size_t n;
        const uint8_t *raw = gguf_value_raw(v, &n), *p = raw;
        uint64_t limit = UINT64_MAX;
        if (t == GGUF_VT_ARRAY && n >= 12) {
            uint32_t et;
            uint64_t cnt;
            memcpy(&et, raw, 4);
            memcpy(&cnt, raw + 4, 8);
            fprintf(o, ", \"elem_type\": \"%s\", \"count\": %llu", vt_name((gguf_vtype)et), (unsigned long long)cnt);
            if (!full && cnt > JSON_ARRAY_HEAD) {
                limit = JSON_ARRAY_HEAD;
                fputs(", \"truncated\": true", o);
            }
        }
        fputs(", \"value\": ", o);
        if (json_value(o, t, &p, raw + n, limit)) {
            fprintf(stderr, "ember info: cannot render key '%s'\n", key);
            return 1;
        }
        fputc('}', o);
    }
    fputs("\n ],\n \"tensors\": [", o);
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", o);
        json_str(o, t->name, strlen(t->name));
        fprintf(o, ", \"type\": \"%s\", \"type_id\": %d, \"shape\": [", ember_type_name(t->type), t->type);
        for (int d = 0; d < t->n_dims; d++) fprintf(o, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
        fprintf(o, "], \"bytes\": %zu, \"offset\": %llu}", t->nbytes, (unsigned long long)(gguf_data_offset(f) + t->offset));
    }
    totals tot;
    compute_totals(f, &tot);
    fprintf(o, "\n ],\n \"totals\": {\"tensors\": %lld, \"params\": %llu, \"bytes\": %llu, \"bits_per_weight\": ",
            (long long)gguf_n_tensors(f), (unsigned long long)tot.params, (unsigned long long)tot.bytes);
    if (tot.params) fprintf(o, "%.4f", 8.0 * (double)tot.bytes / (double)tot.params);
    else fputs("null", o);
    fputs(", \"types\": {", o);
    int any = 0;
    for (int ty = 0; ty < EMBER_TYPE_COUNT; ty++)
        if (tot.count[ty]) fprintf(o, "%s\"%s\": %lld", any++ ? ", " : "", ember_type_name(ty), (long long)tot.count[ty]);
    fputs("}}}\n", o);
    return 0;
}

/* ---- --cpu ---- */

static int print_cpu(int json) {
    const ember_cpu_features *c = ember_cpu();
    const struct { const char *name; int on; } feats[] = {
        {"sse4.2", c->sse42}, {"avx", c->avx}, {"avx2", c->avx2}, {"fma", c->fma}, {"f16c", c->f16c},
        {"avx512f", c->avx512f}, {"avx512bw", c->avx512bw}, {"avx512vl", c->avx512vl}, {"avx512dq", c->avx512dq},
        {"avx512_vnni", c->avx512_vnni}, {"avx512_bf16", c->avx512_bf16}, {"avx_vnni", c->avx_vnni},
        {"amx_tile", c->amx_tile}, {"amx_int8", c->amx_int8}, {"amx_bf16", c->amx_bf16},
        {"amx_permitted", c->amx_permitted},
    };
    size_t nf = sizeof feats / sizeof feats[0];
    const char *path = ember_cpu_path_name();
    if (json) {
        fputs("{\"brand\": ", stdout);
        json_str(stdout, c->brand, strnlen(c->brand, sizeof c->brand));
        fputs(", \"features\": {", stdout);
        for (size_t i = 0; i < nf; i++) printf("%s\"%s\": %s", i ? ", " : "", feats[i].name, feats[i].on ? "true" : "false");
        printf("}, \"path\": \"%s\", \"repack\": {", path);
        for (int t = 0, k = 0; t < EMBER_TYPE_COUNT; t++) {
            const ember_type_traits *tr = ember_type_get(t);
            if (tr && tr->layout) printf("%s\"%s\": \"%s\"", k++ ? ", " : "", tr->name, tr->layout->name);
        }
        fputs("}}\n", stdout);
        return 0;
    }
    printf("cpu:      %.*s\n", (int)sizeof c->brand, c->brand[0] ? c->brand : "(unknown)");
    printf("features:");
    for (size_t i = 0; i < nf; i++) if (feats[i].on) printf(" %s", feats[i].name);
    printf("\nmissing: ");
    for (size_t i = 0; i < nf; i++) if (!feats[i].on) printf(" %s", feats[i].name);
    printf("\npath:     %s\n", path);
    /* the packed copies `ember run` makes at load on this path (their layout) */
    printf("repack:  ");
    int any = 0;
    for (int t = 0; t < EMBER_TYPE_COUNT; t++) {
        const ember_type_traits *tr = ember_type_get(t);
        if (tr && tr->layout) printf("%s %s (%s)", any++ ? "," : "", tr->name, tr->layout->name);
    }
    printf("%s\n", any ? "" : " none");
    return 0;
}

static void usage(FILE *out) {
    fprintf(out, "usage: ember info MODEL.gguf [--json [--full]]   (--full: whole arrays in JSON)\n"
                 "       ember info --cpu [--json]\n");
}

int cmd_info(int argc, char **argv) {
    const char *file = 0;
    int json = 0, cpu = 0, full = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(stdout); return 0; }
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--full")) full = 1;
        else if (!strcmp(a, "--cpu")) cpu = 1;
        else if (!strcmp(a, "-m") && i + 1 < argc && !file) file = argv[++i];
        else if (a[0] == '-' && a[1]) { fprintf(stderr, "ember info: unknown option '%s'\n", a); return 2; }
        else if (file) { fprintf(stderr, "ember info: more than one file given ('%s', '%s')\n", file, a); return 2; }
        else file = a;
    }
    if (cpu) {
        if (file) { fprintf(stderr, "ember info: --cpu takes no file\n"); return 2; }
        return print_cpu(json);
    }
    if (!file) { fprintf(stderr, "ember info: no file given (usage: ember info MODEL.gguf [--json])\n"); return 2; }
    gguf_file *f;
    char err[512];
    int st = gguf_open(file, &f, err, sizeof err);
    if (st) {
        fprintf(stderr, "ember info: %s\n", err);
        return st <= 4 ? 2 : 1;
    }
    int rc = json ? print_json(f, full) : (print_text(f), 0);
    gguf_close(f);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}
