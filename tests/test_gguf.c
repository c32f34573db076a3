/* GGUF reader/writer: exact round trips of every value type and of tensors,
 * then many distinct corruptions built byte by byte, each of which must be
 * rejected with the right status and a message naming the problem. */
#include "test.h"
#include "gguf/gguf.h"
#include "formats/formats.h"
#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

/* ---- a little-endian byte builder for hand-made files ---- */
typedef struct { uint8_t *p; size_t n, cap; } buf;

static void b_bytes(buf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
}
static void b_u8(buf *b, uint8_t v) { b_bytes(b, &v, 1); }
static void b_u16(buf *b, uint16_t v) { b_bytes(b, &v, 2); }
static void b_u32(buf *b, uint32_t v) { b_bytes(b, &v, 4); }
static void b_u64(buf *b, uint64_t v) { b_bytes(b, &v, 8); }
static void b_f32(buf *b, float v) { b_bytes(b, &v, 4); }
static void b_f64(buf *b, double v) { b_bytes(b, &v, 8); }
static void b_str(buf *b, const char *s) { b_u64(b, strlen(s)); b_bytes(b, s, strlen(s)); }
static void b_pad(buf *b, size_t align) { while (b->n % align) b_u8(b, 0); }
static void b_hdr(buf *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    b_bytes(b, "GGUF", 4); b_u32(b, version); b_u64(b, nt); b_u64(b, nkv);
}
static void b_kv_u32(buf *b, const char *k, uint32_t v) { b_str(b, k); b_u32(b, GGUF_VT_UINT32); b_u32(b, v); }
static void b_tinfo(buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off) {
    b_str(b, name); b_u32(b, nd);
    for (uint32_t i = 0; i < nd; i++) b_u64(b, ne[i]);
    b_u32(b, type); b_u64(b, off);
}
/* Pads to the data section and appends n bytes of tensor data. */
static void b_data(buf *b, size_t align, size_t n) {
    b_pad(b, align);
    for (size_t i = 0; i < n; i++) b_u8(b, (uint8_t)(i * 7 + 1));
}

/* Opens the first n bytes of b from an exact-size copy, so ASan sees any
 * over-read; *keep receives the copy, which must outlive the file. */
static int open_buf(const buf *b, size_t n, gguf_file **f, char *err, size_t errlen, uint8_t **keep) {
    *keep = malloc(n ? n : 1);
    if (n) memcpy(*keep, b->p, n);
    return gguf_open_memory(*keep, n, f, err, errlen);
}

/* Expects b to be rejected with status and a message containing sub. */
static void expect_fail(const buf *b, int status, const char *sub) {
    gguf_file *f = 0;
    char err[512] = "";
    uint8_t *keep;
    int st = open_buf(b, b->n, &f, err, sizeof err, &keep);
    CHECKF(st == status, "status %d (want %d): %s", st, status, err);
    CHECKF(strstr(err, sub) != NULL, "message '%s' lacks '%s'", err, sub);
    CHECKF(strchr(err, '\n') == NULL, "message has a newline: %s", err);
    CHECK(f == NULL);
    if (f) gguf_close(f);
    free(keep);
}

/* A small valid file: 2 keys, two F32 tensors; the last tensor's data ends
 * exactly at end of file so that every shorter prefix is invalid. */
static void build_small(buf *b) {
    b_hdr(b, 3, 2, 2);
    b_kv_u32(b, "general.alignment", 32);
    b_str(b, "general.name"); b_u32(b, GGUF_VT_STRING); b_str(b, "tiny");
    uint64_t ne_a[2] = {8, 2}, ne_b[1] = {8};
    b_tinfo(b, "a", 2, ne_a, EMBER_TYPE_F32, 0);
    b_tinfo(b, "b", 1, ne_b, EMBER_TYPE_F32, 64);
    b_data(b, 32, 96);
}

/* ---- reading hand-built files ---- */

static void test_read_all_value_types(void) {
    buf b = {0};
    b_hdr(&b, 2, 0, 16);
    b_str(&b, "u8"); b_u32(&b, GGUF_VT_UINT8); b_u8(&b, 200);
    b_str(&b, "i8"); b_u32(&b, GGUF_VT_INT8); b_u8(&b, 0x80);
    b_str(&b, "u16"); b_u32(&b, GGUF_VT_UINT16); b_u16(&b, 65535);
    b_str(&b, "i16"); b_u32(&b, GGUF_VT_INT16); b_u16(&b, 0xfffe);
    b_str(&b, "u32"); b_u32(&b, GGUF_VT_UINT32); b_u32(&b, 4000000000u);
    b_str(&b, "i32"); b_u32(&b, GGUF_VT_INT32); b_u32(&b, (uint32_t)-7);
    b_str(&b, "f32"); b_u32(&b, GGUF_VT_FLOAT32); b_f32(&b, 1e-5f);
    b_str(&b, "bool"); b_u32(&b, GGUF_VT_BOOL); b_u8(&b, 1);
    b_str(&b, "str"); b_u32(&b, GGUF_VT_STRING); b_str(&b, "h\"i\n");
    b_str(&b, "u64"); b_u32(&b, GGUF_VT_UINT64); b_u64(&b, UINT64_MAX);
    b_str(&b, "i64"); b_u32(&b, GGUF_VT_INT64); b_u64(&b, (uint64_t)INT64_MIN);
    b_str(&b, "f64"); b_u32(&b, GGUF_VT_FLOAT64); b_f64(&b, 2.5);
    b_str(&b, "arr.i32"); b_u32(&b, GGUF_VT_ARRAY); b_u32(&b, GGUF_VT_INT32); b_u64(&b, 3);
    b_u32(&b, 1); b_u32(&b, 2); b_u32(&b, (uint32_t)-3);
    b_str(&b, "arr.str"); b_u32(&b, GGUF_VT_ARRAY); b_u32(&b, GGUF_VT_STRING); b_u64(&b, 6);
    const char *words[6] = {"<unk>", "", "a\tb", "dd", "e", "f"};
    for (int i = 0; i < 6; i++) b_str(&b, words[i]);
    /* [[1, 2], [], [["x"]]] with mixed inner element types */
    b_str(&b, "arr.nested"); b_u32(&b, GGUF_VT_ARRAY); b_u32(&b, GGUF_VT_ARRAY); b_u64(&b, 3);
    b_u32(&b, GGUF_VT_UINT8); b_u64(&b, 2); b_u8(&b, 1); b_u8(&b, 2);
    b_u32(&b, GGUF_VT_FLOAT32); b_u64(&b, 0);
    b_u32(&b, GGUF_VT_ARRAY); b_u64(&b, 1); b_u32(&b, GGUF_VT_STRING); b_u64(&b, 1); b_str(&b, "x");
    b_str(&b, "arr.empty"); b_u32(&b, GGUF_VT_ARRAY); b_u32(&b, GGUF_VT_STRING); b_u64(&b, 0);

    gguf_file *f = 0;
    char err[256];
    int st = gguf_open_memory(b.p, b.n, &f, err, sizeof err);
    CHECKF(st == 0, "%s", err);
    if (!f) { free(b.p); return; }
    CHECK(gguf_version(f) == 2);
    CHECK(gguf_n_kv(f) == 16);
    CHECK(gguf_n_tensors(f) == 0);
    CHECK(gguf_alignment(f) == 32);
    int64_t i64;
    uint32_t u32;
    float f32;
    int bl;
    const char *s;
    CHECK(gguf_get_i64(f, "u8", &i64) == 1 && i64 == 200);
    CHECK(gguf_get_i64(f, "i8", &i64) == 1 && i64 == -128);
    CHECK(gguf_get_i64(f, "u16", &i64) == 1 && i64 == 65535);
    CHECK(gguf_get_i64(f, "i16", &i64) == 1 && i64 == -2);
    CHECK(gguf_get_u32(f, "u32", &u32) == 1 && u32 == 4000000000u);
    CHECK(gguf_get_i64(f, "i32", &i64) == 1 && i64 == -7);
    CHECK(gguf_get_u32(f, "i32", &u32) == -1);             /* negative: does not fit */
    CHECK(gguf_get_i64(f, "u64", &i64) == -1);             /* too large */
    CHECK(gguf_get_i64(f, "i64", &i64) == 1 && i64 == INT64_MIN);
    CHECK(gguf_get_f32(f, "f32", &f32) == 1 && f32 == 1e-5f);
    CHECK(gguf_get_f32(f, "f64", &f32) == 1 && f32 == 2.5f);
    CHECK(gguf_get_f32(f, "i32", &f32) == -1);
    CHECK(gguf_get_bool(f, "bool", &bl) == 1 && bl == 1);
    CHECK(gguf_get_bool(f, "u8", &bl) == -1);
    CHECK(gguf_get_str(f, "str", &s) == 1 && !strcmp(s, "h\"i\n"));
    CHECK(gguf_get_str(f, "u8", &s) == -1);
    CHECK(gguf_get_str(f, "absent", &s) == 0);
    CHECK(gguf_get_i64(f, "absent", &i64) == 0);
    CHECK(gguf_find_key(f, "f64") == 11);
    CHECK(gguf_find_key(f, "nope") == -1);
    CHECK(!strcmp(gguf_kv_key(f, 0), "u8"));
    CHECK(gguf_kv_type(f, 12) == GGUF_VT_ARRAY);
    CHECK(gguf_kv_key(f, 16) == NULL && gguf_kv_key(f, -1) == NULL);

    gguf_vtype et;
    uint64_t n, len;
    CHECK(gguf_get_arr_info(f, "arr.i32", &et, &n) == 1 && et == GGUF_VT_INT32 && n == 3);
    const int32_t *ia = gguf_get_arr_data(f, "arr.i32");
    CHECK(ia && ia[0] == 1 && ia[1] == 2 && ia[2] == -3);
    CHECK(gguf_get_arr_info(f, "u8", &et, &n) == -1);
    CHECK(gguf_get_arr_info(f, "arr.str", &et, &n) == 1 && et == GGUF_VT_STRING && n == 6);
    for (int i = 0; i < 6; i++) {
        const char *w = gguf_get_arr_str(f, "arr.str", (uint64_t)i, &len);
        CHECK(w && !strcmp(w, words[i]) && len == strlen(words[i]));
    }
    CHECK(gguf_get_arr_str(f, "arr.str", 6, &len) == NULL);
    CHECK(gguf_get_arr_str(f, "arr.i32", 0, &len) == NULL);
    CHECK(gguf_get_arr_data(f, "arr.str") == NULL);
    CHECK(gguf_get_arr_info(f, "arr.nested", &et, &n) == 1 && et == GGUF_VT_ARRAY && n == 3);
    CHECK(gguf_get_arr_info(f, "arr.empty", &et, &n) == 1 && n == 0);

    char txt[256];
    gguf_value_format(gguf_kv_value(f, gguf_find_key(f, "arr.str")), txt, sizeof txt);
    CHECKF(!strcmp(txt, "[6 strings: \"<unk>\", \"\", \"a\\x09b\", \"dd\", ...]"), "%s", txt);
    gguf_value_format(gguf_kv_value(f, gguf_find_key(f, "arr.nested")), txt, sizeof txt);
    CHECKF(!strcmp(txt, "[3 arrays: [2 u8: 1, 2], [0 f32], [1 arrays: [1 strings: \"x\"]]]"), "%s", txt);
    gguf_value_format(gguf_kv_value(f, gguf_find_key(f, "str")), txt, sizeof txt);
    CHECKF(!strcmp(txt, "\"h\\\"i\\x0a\""), "%s", txt);
    gguf_value_format(gguf_kv_value(f, gguf_find_key(f, "i64")), txt, sizeof txt);
    CHECKF(!strcmp(txt, "-9223372036854775808"), "%s", txt);
    gguf_value_format(gguf_kv_value(f, gguf_find_key(f, "bool")), txt, sizeof txt);
    CHECK(!strcmp(txt, "true"));
    /* Every small buffer size stays NUL-terminated and in bounds. */
    for (size_t cap = 1; cap < 80; cap++) {
        char *small = malloc(cap);
        gguf_value_format(gguf_kv_value(f, gguf_find_key(f, "arr.nested")), small, cap);
        CHECK(strlen(small) < cap);
        gguf_value_format(gguf_kv_value(f, gguf_find_key(f, "arr.str")), small, cap);
        CHECK(strlen(small) < cap);
        free(small);
    }
    /* Raw payload of a u32 is its 4 bytes. */
    size_t rl;
    const uint8_t *raw = gguf_value_raw(gguf_kv_value(f, gguf_find_key(f, "u32")), &rl);
    uint32_t rv;
    memcpy(&rv, raw, 4);
    CHECK(rl == 4 && rv == 4000000000u);
    gguf_close(f);
    free(b.p);
}

static void test_read_tensors(void) {
    buf b = {0};
    build_small(&b);
    gguf_file *f = 0;
    char err[256];
    int st = gguf_open_memory(b.p, b.n, &f, err, sizeof err);
    CHECKF(st == 0, "%s", err);
    if (!f) { free(b.p); return; }
    CHECK(gguf_n_tensors(f) == 2);
    const gguf_tensor_info *a = gguf_find_tensor(f, "a"), *t = gguf_find_tensor(f, "b");
    CHECK(a && t && gguf_find_tensor(f, "c") == NULL);
    if (a && t) {
        CHECK(a->n_dims == 2 && a->ne[0] == 8 && a->ne[1] == 2 && a->ne[2] == 1 && a->ne[3] == 1);
        CHECK(a->type == EMBER_TYPE_F32 && a->nbytes == 64 && a->offset == 0);
        CHECK(t->n_dims == 1 && t->nbytes == 32 && t->offset == 64);
        CHECK(gguf_data_offset(f) % 32 == 0);
        CHECK((const uint8_t *)a->data == b.p + gguf_data_offset(f));
        CHECK(((const uint8_t *)t->data)[0] == (uint8_t)(64 * 7 + 1));
    }
    CHECK(gguf_tensor(f, 0) == a && gguf_tensor(f, 2) == NULL && gguf_tensor(f, -1) == NULL);
    CHECK(gguf_file_size(f) == b.n);
    gguf_close(f);
    free(b.p);
}

/* ---- corruptions ---- */

static void test_bad_magic(void) {
    buf b = {0};
    build_small(&b);
    b.p[0] = 'X';
    expect_fail(&b, 2, "bad magic");
    b.n = 5;
    expect_fail(&b, 2, "too short");
    free(b.p);
}

static void test_versions(void) {
    buf b = {0};
    b_hdr(&b, 1, 0, 0);
    expect_fail(&b, 3, "version 1");
    b.n = 0;
    b_hdr(&b, 99, 0, 0);
    expect_fail(&b, 3, "unsupported GGUF version 99");
    b.n = 0;
    b_hdr(&b, 0x03000000u, 0, 0); /* a big-endian v3 file read little-endian */
    expect_fail(&b, 3, "big-endian");
    free(b.p);
}

static void test_every_prefix_fails(void) {
    buf b = {0};
    build_small(&b);
    int bad = 0;
    for (size_t n = 0; n < b.n; n++) {
        gguf_file *f = 0;
        char err[256] = "";
        uint8_t *keep;
        int st = open_buf(&b, n, &f, err, sizeof err, &keep);
        if (st != 2 || f || !err[0] || strchr(err, '\n')) {
            if (bad++ < 3) fprintf(stderr, "  prefix %zu: status %d '%s'\n", n, st, err);
        }
        if (f) gguf_close(f);
        free(keep);
    }
    CHECKF(bad == 0, "%d prefixes were not rejected cleanly", bad);
    /* Messages name the part that was cut. */
    expect_fail(&(buf){b.p, 160, 0}, 2, "truncated file: tensor"); /* inside tensor b's info */
    expect_fail(&(buf){b.p, b.n - 1, 0}, 2, "tensor 'b': data [offset");
    gguf_file *f = 0;
    char err[256];
    uint8_t *keep;
    CHECK(open_buf(&b, b.n, &f, err, sizeof err, &keep) == 0);
    if (f) gguf_close(f);
    free(keep);
    free(b.p);
}

static void test_huge_counts(void) {
    buf b = {0};
    b_hdr(&b, 3, 0, UINT64_MAX / 2);
    b_kv_u32(&b, "k", 1);
    expect_fail(&b, 2, "metadata count");
    b.n = 0;
    b_hdr(&b, 3, (uint64_t)1 << 60, 0);
    expect_fail(&b, 2, "tensor count");
    free(b.p);
}

static void test_string_past_eof(void) {
    buf b = {0};
    b_hdr(&b, 3, 0, 1);
    b_u64(&b, 1000); b_bytes(&b, "abc", 3);
    for (int i = 0; i < 20; i++) b_u8(&b, 0);
    expect_fail(&b, 2, "truncated file: metadata key");
    b.n = 0;
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "k"); b_u32(&b, GGUF_VT_STRING); b_u64(&b, UINT64_MAX); b_bytes(&b, "zz", 2);
    expect_fail(&b, 2, "string value");
    free(b.p);
}

static void test_bad_value_types(void) {
    buf b = {0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "k"); b_u32(&b, 13); b_u32(&b, 0);
    expect_fail(&b, 2, "key 'k': unknown value type 13");
    b.n = 0;
    b_hdr(&b, 3, 0, 1); /* a hostile key cannot break the message over lines */
    b_str(&b, "a\nb\x1b"); b_u32(&b, 99); b_u32(&b, 0);
    expect_fail(&b, 2, "key 'a?b?': unknown value type 99");
    b.n = 0;
    b_hdr(&b, 3, 0, 1); /* nested array whose inner element type is bad */
    b_str(&b, "n"); b_u32(&b, GGUF_VT_ARRAY); b_u32(&b, GGUF_VT_ARRAY); b_u64(&b, 1);
    b_u32(&b, 77); b_u64(&b, 0); b_u64(&b, 0);
    expect_fail(&b, 2, "key 'n': unknown array element type 77");
    b.n = 0;
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "flag"); b_u32(&b, GGUF_VT_BOOL); b_u8(&b, 2); b_u32(&b, 0);
    expect_fail(&b, 2, "bool value 2");
    free(b.p);
}

static void test_deep_and_long_arrays(void) {
    buf b = {0};
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "deep"); b_u32(&b, GGUF_VT_ARRAY);
    for (int i = 0; i < 12; i++) { b_u32(&b, GGUF_VT_ARRAY); b_u64(&b, 1); }
    b_u32(&b, GGUF_VT_UINT8); b_u64(&b, 0);
    expect_fail(&b, 2, "nested deeper");
    b.n = 0;
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "long"); b_u32(&b, GGUF_VT_ARRAY); b_u32(&b, GGUF_VT_STRING); b_u64(&b, (uint64_t)1 << 61);
    b_str(&b, "x");
    expect_fail(&b, 2, "does not fit in the file");
    b.n = 0;
    b_hdr(&b, 3, 0, 1); /* numeric array one element short */
    b_str(&b, "short"); b_u32(&b, GGUF_VT_ARRAY); b_u32(&b, GGUF_VT_UINT16); b_u64(&b, 4);
    b_u16(&b, 1); b_u16(&b, 2); b_u16(&b, 3); b_u8(&b, 0);
    expect_fail(&b, 2, "array");
    free(b.p);
}

static void test_duplicate_key(void) {
    buf b = {0};
    b_hdr(&b, 3, 0, 3);
    b_kv_u32(&b, "x.a", 1);
    b_kv_u32(&b, "x.b", 2);
    b_kv_u32(&b, "x.a", 3);
    expect_fail(&b, 2, "duplicate metadata key 'x.a'");
    b.n = 0;
    b_hdr(&b, 3, 0, 1);
    b_kv_u32(&b, "", 1);
    expect_fail(&b, 2, "empty");
    free(b.p);
}

static void one_tensor(buf *b, const char *name, uint32_t nd, const uint64_t *ne, uint32_t type, uint64_t off,
                       size_t data) {
    b->n = 0;
    b_hdr(b, 3, 1, 0);
    b_tinfo(b, name, nd, ne, type, off);
    b_data(b, 32, data);
}

static void test_tensor_shapes(void) {
    buf b = {0};
    uint64_t ne[5] = {32, 1, 1, 1, 1};
    one_tensor(&b, "t", 0, ne, EMBER_TYPE_F32, 0, 128);
    expect_fail(&b, 2, "tensor 't': 0 dimensions");
    one_tensor(&b, "t", 5, ne, EMBER_TYPE_F32, 0, 128);
    expect_fail(&b, 2, "tensor 't': 5 dimensions");
    uint64_t zero[2] = {32, 0};
    one_tensor(&b, "t", 2, zero, EMBER_TYPE_F32, 0, 128);
    expect_fail(&b, 2, "dimension 1 has invalid size 0");
    uint64_t neg[1] = {(uint64_t)-32};
    one_tensor(&b, "t", 1, neg, EMBER_TYPE_F32, 0, 128);
    expect_fail(&b, 2, "dimension 0 has invalid size");
    uint64_t ovf[3] = {(uint64_t)1 << 32, (uint64_t)1 << 31, 4};
    one_tensor(&b, "t", 3, ovf, EMBER_TYPE_F32, 0, 128);
    expect_fail(&b, 2, "element count overflows");
    uint64_t big[2] = {(uint64_t)1 << 40, (uint64_t)1 << 20};
    one_tensor(&b, "t", 2, big, EMBER_TYPE_Q8_0, 0, 128);
    expect_fail(&b, 2, "extends past the end of the file");
    uint64_t odd[2] = {33, 2};
    one_tensor(&b, "blk.0.attn_q.weight", 2, odd, EMBER_TYPE_Q8_0, 0, 128);
    expect_fail(&b, 2, "tensor 'blk.0.attn_q.weight': row length 33 is not a multiple of the Q8_0 block size 32");
    free(b.p);
}

static void test_tensor_types(void) {
    buf b = {0};
    uint64_t ne[1] = {256};
    one_tensor(&b, "t", 1, ne, 200, 0, 1024);
    expect_fail(&b, 2, "unknown tensor type 200");
    one_tensor(&b, "t", 1, ne, 16, 0, 1024);
    expect_fail(&b, 3, "IQ2_XXS");
    one_tensor(&b, "t", 1, ne, 4, 0, 1024); /* removed Q4_2 */
    expect_fail(&b, 2, "unknown tensor type 4");
    free(b.p);
}

static void test_tensor_offsets(void) {
    buf b = {0};
    uint64_t ne[1] = {8};
    one_tensor(&b, "t", 1, ne, EMBER_TYPE_F32, 16, 64);
    expect_fail(&b, 2, "offset 16 is not a multiple of the alignment 32");
    one_tensor(&b, "w", 1, ne, EMBER_TYPE_F32, 32, 40);
    expect_fail(&b, 2, "tensor 'w': data [offset");
    expect_fail(&b, 2, "32 bytes] extends past the end of the file");
    one_tensor(&b, "w", 1, ne, EMBER_TYPE_F32, UINT64_MAX - 31, 40);
    expect_fail(&b, 2, "extends past the end");
    /* No data section at all. */
    b.n = 0;
    b_hdr(&b, 3, 1, 0);
    b_tinfo(&b, "t", 1, ne, EMBER_TYPE_F32, 0);
    expect_fail(&b, 2, "extends past the end");
    /* Two tensors sharing bytes. */
    b.n = 0;
    uint64_t ne2[1] = {16};
    b_hdr(&b, 3, 2, 0);
    b_tinfo(&b, "p", 1, ne2, EMBER_TYPE_F32, 0);
    b_tinfo(&b, "q", 1, ne, EMBER_TYPE_F32, 32);
    b_data(&b, 32, 128);
    expect_fail(&b, 2, "tensors 'p' and 'q' overlap");
    free(b.p);
}

static void test_duplicate_tensor(void) {
    buf b = {0};
    uint64_t ne[1] = {8};
    b_hdr(&b, 3, 3, 0);
    b_tinfo(&b, "blk.0.x", 1, ne, EMBER_TYPE_F32, 0);
    b_tinfo(&b, "blk.1.x", 1, ne, EMBER_TYPE_F32, 32);
    b_tinfo(&b, "blk.0.x", 1, ne, EMBER_TYPE_F32, 64);
    b_data(&b, 32, 96);
    expect_fail(&b, 2, "duplicate tensor name 'blk.0.x'");
    free(b.p);
}

static void test_tensor_names(void) {
    buf b = {0};
    uint64_t ne[1] = {8};
    b_hdr(&b, 3, 1, 0);
    b_u64(&b, 3); b_bytes(&b, "a\0b", 3);
    b_u32(&b, 1); b_u64(&b, 8); b_u32(&b, 0); b_u64(&b, 0);
    b_data(&b, 32, 32);
    expect_fail(&b, 2, "NUL byte");
    char longname[300];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    one_tensor(&b, longname, 1, ne, EMBER_TYPE_F32, 0, 32);
    expect_fail(&b, 2, "name length 299");
    one_tensor(&b, "", 1, ne, EMBER_TYPE_F32, 0, 32);
    expect_fail(&b, 2, "name length 0");
    free(b.p);
}

static void test_bad_alignment(void) {
    buf b = {0};
    uint32_t bad[3] = {0, 3, 1u << 30};
    const char *msg[3] = {"general.alignment 0 is invalid", "general.alignment 3", "general.alignment 1073741824"};
    for (int i = 0; i < 3; i++) {
        b.n = 0;
        b_hdr(&b, 3, 0, 1);
        b_kv_u32(&b, "general.alignment", bad[i]);
        expect_fail(&b, 2, msg[i]);
    }
    b.n = 0;
    b_hdr(&b, 3, 0, 1);
    b_str(&b, "general.alignment"); b_u32(&b, GGUF_VT_UINT64); b_u64(&b, 32);
    expect_fail(&b, 2, "general.alignment must be a uint32");
    /* A valid non-default alignment moves the data section. */
    b.n = 0;
    uint64_t ne[1] = {8};
    b_hdr(&b, 3, 1, 1);
    b_kv_u32(&b, "general.alignment", 256);
    b_tinfo(&b, "t", 1, ne, EMBER_TYPE_F32, 0);
    b_data(&b, 256, 32);
    gguf_file *f = 0;
    char err[256];
    CHECKF(gguf_open_memory(b.p, b.n, &f, err, sizeof err) == 0, "%s", err);
    if (f) {
        CHECK(gguf_alignment(f) == 256 && gguf_data_offset(f) == 256);
        gguf_close(f);
    }
    free(b.p);
}

/* Random byte flips of a valid file: never a crash (ASan/UBSan builds), and
 * only statuses 0, 2 or 3. */
static void test_random_flips(void) {
    buf b = {0};
    build_small(&b);
    uint32_t rng = 12345;
    int bad = 0;
    for (int it = 0; it < 3000; it++) {
        uint8_t *copy = malloc(b.n);
        memcpy(copy, b.p, b.n);
        for (int k = 0; k < 1 + it % 4; k++) {
            rng = rng * 1664525u + 1013904223u;
            size_t pos = (rng >> 8) % b.n;
            rng = rng * 1664525u + 1013904223u;
            copy[pos] = (uint8_t)(rng >> 24);
        }
        gguf_file *f = 0;
        char err[256] = "";
        int st = gguf_open_memory(copy, b.n, &f, err, sizeof err);
        if (!(st == 0 || ((st == 2 || st == 3) && err[0]))) bad++;
        if (f) {
            for (int64_t i = 0; i < gguf_n_kv(f); i++) {
                char txt[128];
                gguf_value_format(gguf_kv_value(f, i), txt, sizeof txt);
            }
            gguf_close(f);
        }
        free(copy);
    }
    CHECK(bad == 0);
    free(b.p);
}

static void test_open_errors(void) {
    gguf_file *f = 0;
    char err[256];
    CHECK(gguf_open("/nonexistent/dir/x.gguf", &f, err, sizeof err) == 1);
    CHECKF(strstr(err, "No such file") && strstr(err, "x.gguf"), "%s", err);
    CHECK(f == NULL);
    CHECK(gguf_open("/tmp", &f, err, sizeof err) == 1);
    CHECK(strstr(err, "not a regular file") != NULL);
}

/* ---- writer ---- */

static char g_dir[64];

static void make_dir(void) {
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/ember-gguf-XXXXXX");
        if (!mkdtemp(g_dir)) abort();
    }
}

static int dir_entries(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    if (d) closedir(d);
    return n;
}

static int fill_pattern(void *ud, int64_t idx, void *dst, size_t nbytes) {
    (void)ud;
    for (size_t i = 0; i < nbytes; i++) ((uint8_t *)dst)[i] = (uint8_t)(idx * 31 + (int64_t)i);
    return 0;
}

static int fill_fail_second(void *ud, int64_t idx, void *dst, size_t nbytes) {
    (void)ud;
    memset(dst, 1, nbytes);
    return idx == 1 ? 7 : 0;
}

static void test_writer_roundtrip(void) {
    make_dir();
    char path[128];
    snprintf(path, sizeof path, "%s/rt.gguf", g_dir);
    gguf_writer *w = gguf_writer_create();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "a.u32", 7);
    gguf_writer_set_i32(w, "a.i32", -7);
    gguf_writer_set_u64(w, "a.u64", (uint64_t)1 << 40);
    gguf_writer_set_f32(w, "a.f32", 0.125f);
    gguf_writer_set_bool(w, "a.bool", 1);
    gguf_writer_set_u32(w, "a.u32", 8); /* replaces, keeps position */
    float fa[3] = {1.5f, -2, 3};
    gguf_writer_set_arr(w, "a.arr", GGUF_VT_FLOAT32, fa, 3);
    const char *strs[3] = {"x", "", "zz"};
    gguf_writer_set_arr_str(w, "a.strs", strs, 3);
    float t0[64];
    for (int i = 0; i < 64; i++) t0[i] = (float)i * 0.5f;
    int64_t ne0[2] = {16, 4}, ne1[2] = {64, 3}, ne2[1] = {5};
    CHECK(gguf_writer_add_tensor(w, "t0", EMBER_TYPE_F32, 2, ne0, t0) == 0);
    CHECK(gguf_writer_add_tensor(w, "t1", EMBER_TYPE_Q8_0, 2, ne1, NULL) == 1);
    CHECK(gguf_writer_add_tensor(w, "t2", EMBER_TYPE_F16, 1, ne2, NULL) == 2);
    char err[256];
    int st = gguf_writer_write(w, path, fill_pattern, NULL, err, sizeof err);
    CHECKF(st == 0, "%s", err);
    gguf_writer_free(w);

    gguf_file *f = 0;
    st = gguf_open(path, &f, err, sizeof err);
    CHECKF(st == 0, "%s", err);
    if (!f) return;
    CHECK(gguf_version(f) == 3 && gguf_n_kv(f) == 8 && gguf_n_tensors(f) == 3);
    CHECK(!strcmp(gguf_kv_key(f, 1), "a.u32"));
    uint32_t u;
    int64_t i64;
    float x;
    int bl;
    const char *s;
    CHECK(gguf_get_u32(f, "a.u32", &u) == 1 && u == 8);
    CHECK(gguf_kv_type(f, 1) == GGUF_VT_UINT32 && gguf_kv_type(f, 2) == GGUF_VT_INT32);
    CHECK(gguf_get_i64(f, "a.i32", &i64) == 1 && i64 == -7);
    CHECK(gguf_get_i64(f, "a.u64", &i64) == 1 && i64 == (int64_t)1 << 40);
    CHECK(gguf_get_f32(f, "a.f32", &x) == 1 && x == 0.125f);
    CHECK(gguf_get_bool(f, "a.bool", &bl) == 1 && bl == 1);
    CHECK(gguf_get_str(f, "general.architecture", &s) == 1 && !strcmp(s, "llama"));
    const float *fr = gguf_get_arr_data(f, "a.arr");
    CHECK(fr && fr[0] == 1.5f && fr[1] == -2 && fr[2] == 3);
    uint64_t len;
    CHECK(gguf_get_arr_str(f, "a.strs", 2, &len) && len == 2 && gguf_get_arr_str(f, "a.strs", 1, &len) && len == 0);
    const gguf_tensor_info *a = gguf_find_tensor(f, "t0"), *b = gguf_find_tensor(f, "t1"), *c = gguf_find_tensor(f, "t2");
    CHECK(a && b && c);
    if (a && b && c) {
        CHECK(a->nbytes == 256 && !memcmp(a->data, t0, 256));
        CHECK(b->type == EMBER_TYPE_Q8_0 && b->nbytes == 6 * 34 && b->ne[1] == 3 && b->n_dims == 2);
        CHECK(c->type == EMBER_TYPE_F16 && c->nbytes == 10 && c->n_dims == 1);
        int ok = 1;
        for (size_t i = 0; i < b->nbytes; i++) ok &= ((const uint8_t *)b->data)[i] == (uint8_t)(31 + i);
        for (size_t i = 0; i < c->nbytes; i++) ok &= ((const uint8_t *)c->data)[i] == (uint8_t)(62 + i);
        CHECK(ok);
        CHECK(a->offset % 32 == 0 && b->offset % 32 == 0 && c->offset % 32 == 0);
    }
    CHECK(gguf_file_size(f) % 32 == 0);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644);

    /* Copy every key (incl. a hand-made nested array) into a second file:
     * the metadata bytes must come back identical. */
    buf nb = {0};
    b_hdr(&nb, 3, 0, 1);
    b_str(&nb, "nest"); b_u32(&nb, GGUF_VT_ARRAY); b_u32(&nb, GGUF_VT_ARRAY); b_u64(&nb, 2);
    b_u32(&nb, GGUF_VT_STRING); b_u64(&nb, 1); b_str(&nb, "q");
    b_u32(&nb, GGUF_VT_INT64); b_u64(&nb, 1); b_u64(&nb, 9);
    gguf_file *nf = 0;
    CHECK(gguf_open_memory(nb.p, nb.n, &nf, err, sizeof err) == 0);
    gguf_writer *w2 = gguf_writer_create();
    for (int64_t i = 0; i < gguf_n_kv(f); i++) gguf_writer_copy_kv(w2, f, i);
    if (nf) gguf_writer_copy_kv(w2, nf, 0);
    gguf_writer_set_u32(w2, "general.alignment", 64);
    int64_t ne3[1] = {3};
    gguf_writer_add_tensor(w2, "one", EMBER_TYPE_F32, 1, ne3, t0);
    gguf_writer_add_tensor(w2, "two", EMBER_TYPE_F32, 1, ne3, t0 + 3);
    char path2[128];
    snprintf(path2, sizeof path2, "%s/copy.gguf", g_dir);
    st = gguf_writer_write(w2, path2, NULL, NULL, err, sizeof err);
    CHECKF(st == 0, "%s", err);
    gguf_writer_free(w2);
    gguf_file *g = 0;
    CHECK(gguf_open(path2, &g, err, sizeof err) == 0);
    if (g) {
        CHECK(gguf_n_kv(g) == gguf_n_kv(f) + 2 && gguf_alignment(g) == 64);
        for (int64_t i = 0; i < gguf_n_kv(f); i++) {
            size_t l1, l2;
            const void *r1 = gguf_value_raw(gguf_kv_value(f, i), &l1);
            const void *r2 = gguf_value_raw(gguf_kv_value(g, i), &l2);
            CHECK(!strcmp(gguf_kv_key(f, i), gguf_kv_key(g, i)) && gguf_kv_type(f, i) == gguf_kv_type(g, i));
            CHECK(l1 == l2 && !memcmp(r1, r2, l1));
        }
        char txt[128];
        gguf_value_format(gguf_kv_value(g, gguf_find_key(g, "nest")), txt, sizeof txt);
        CHECKF(!strcmp(txt, "[2 arrays: [1 strings: \"q\"], [1 i64: 9]]"), "%s", txt);
        const gguf_tensor_info *two = gguf_find_tensor(g, "two");
        CHECK(two && two->offset == 64 && !memcmp(two->data, t0 + 3, 12));
        gguf_close(g);
    }
    if (nf) gguf_close(nf);
    free(nb.p);
    gguf_close(f);
    unlink(path);
    unlink(path2);
}

static void test_writer_errors(void) {
    make_dir();
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/fail.gguf", g_dir);
    int before = dir_entries();
    float d[64] = {0};
    int64_t ne[1] = {32};

    /* fill failure: status comes from the callback, nothing is left behind */
    gguf_writer *w = gguf_writer_create();
    gguf_writer_add_tensor(w, "a", EMBER_TYPE_F32, 1, ne, NULL);
    gguf_writer_add_tensor(w, "b", EMBER_TYPE_F32, 1, ne, NULL);
    int st = gguf_writer_write(w, path, fill_fail_second, NULL, err, sizeof err);
    CHECKF(st == 7 && strstr(err, "tensor 'b'"), "%d %s", st, err);
    CHECK(dir_entries() == before && access(path, F_OK) != 0);
    /* no fill callback for data-less tensors */
    st = gguf_writer_write(w, path, NULL, NULL, err, sizeof err);
    CHECKF(st == 4 && strstr(err, "fill"), "%d %s", st, err);
    CHECK(dir_entries() == before);
    gguf_writer_free(w);

    /* an existing file is untouched by a failed write */
    FILE *fp = fopen(path, "w");
    fputs("old", fp);
    fclose(fp);
    w = gguf_writer_create();
    gguf_writer_add_tensor(w, "a", EMBER_TYPE_F32, 1, ne, NULL);
    CHECK(gguf_writer_write(w, path, fill_fail_second, NULL, err, sizeof err) == 0); /* idx 0 succeeds */
    gguf_writer_free(w);
    w = gguf_writer_create();
    gguf_writer_add_tensor(w, "a", EMBER_TYPE_F32, 1, ne, NULL);
    gguf_writer_add_tensor(w, "b", EMBER_TYPE_F32, 1, ne, NULL);
    struct stat s1, s2;
    stat(path, &s1);
    CHECK(gguf_writer_write(w, path, fill_fail_second, NULL, err, sizeof err) == 7);
    stat(path, &s2);
    CHECK(s1.st_size == s2.st_size && s1.st_ino == s2.st_ino);
    gguf_writer_free(w);
    unlink(path);

    /* invalid tensors: the first problem is reported at write time */
    w = gguf_writer_create();
    int64_t odd[1] = {33};
    CHECK(gguf_writer_add_tensor(w, "q", EMBER_TYPE_Q8_0, 1, odd, d) == -1);
    CHECK(gguf_writer_add_tensor(w, "ok", EMBER_TYPE_F32, 1, ne, d) == 0);
    CHECK(gguf_writer_add_tensor(w, "ok", EMBER_TYPE_F32, 1, ne, d) == -1);
    st = gguf_writer_write(w, path, NULL, NULL, err, sizeof err);
    CHECKF(st == 4 && strstr(err, "row length 33"), "%d %s", st, err);
    gguf_writer_free(w);

    w = gguf_writer_create();
    CHECK(gguf_writer_add_tensor(w, "t", 16, 1, ne, d) == -1);
    CHECK(gguf_writer_add_tensor(w, "t", EMBER_TYPE_F32, 5, ne, d) == -1);
    st = gguf_writer_write(w, path, NULL, NULL, err, sizeof err);
    CHECKF(st == 3 && strstr(err, "unsupported type 16"), "%d %s", st, err);
    gguf_writer_free(w);

    w = gguf_writer_create();
    gguf_writer_set_u32(w, "general.alignment", 48);
    st = gguf_writer_write(w, path, NULL, NULL, err, sizeof err);
    CHECKF(st == 4 && strstr(err, "general.alignment"), "%d %s", st, err);
    gguf_writer_set_arr(w, "bad", GGUF_VT_STRING, d, 1);
    gguf_writer_free(w);

    w = gguf_writer_create();
    st = gguf_writer_write(w, "/nonexistent-dir/x.gguf", NULL, NULL, err, sizeof err);
    CHECKF(st == 1 && strstr(err, "No such file"), "%d %s", st, err);
    gguf_writer_free(w);
    CHECK(dir_entries() == before);

    /* A full disk, when the kernel offers one (/dev/full is a device, so the
     * temp file cannot go there; skip silently otherwise). */
}

static void test_many_tensors_lookup(void) {
    gguf_writer *w = gguf_writer_create();
    static float zero[4];
    char name[64];
    int64_t ne[1] = {1};
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "blk.%d.w%d", i / 3, i % 3);
        gguf_writer_add_tensor(w, name, EMBER_TYPE_F32, 1, ne, zero);
        snprintf(name, sizeof name, "key.%03d", (i * 7) % 300);
        gguf_writer_set_u32(w, name, (uint32_t)((i * 7) % 300));
    }
    make_dir();
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/many.gguf", g_dir);
    CHECK(gguf_writer_write(w, path, NULL, NULL, err, sizeof err) == 0);
    gguf_writer_free(w);
    gguf_file *f = 0;
    CHECK(gguf_open(path, &f, err, sizeof err) == 0);
    if (!f) return;
    int bad = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "blk.%d.w%d", i / 3, i % 3);
        const gguf_tensor_info *t = gguf_find_tensor(f, name);
        if (!t || t != gguf_tensor(f, i)) bad++;
        snprintf(name, sizeof name, "key.%03d", i);
        uint32_t u = 0;
        if (gguf_get_u32(f, name, &u) != 1 || u != (uint32_t)i) bad++;
    }
    CHECK(bad == 0);
    CHECK(gguf_find_tensor(f, "blk.100.w0") == NULL && gguf_find_key(f, "key.300") < 0 && gguf_find_key(f, "") < 0);
    gguf_close(f);
    unlink(path);
}

static int open_dir_files(const char *rel, int *opened) {
    const char *d = test_shared_path(rel);
    if (!d) return -1;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", d);
    DIR *dp = opendir(dir);
    if (!dp) return -1;
    struct dirent *e;
    int bad = 0;
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf")) continue;
        char path[2048], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gguf_file *f = 0;
        if (gguf_open(path, &f, err, sizeof err)) {
            fprintf(stderr, "  %s: %s\n", path, err);
            bad++;
            continue;
        }
        (*opened)++;
        const char *arch;
        if (gguf_get_str(f, "general.architecture", &arch) != 1 && gguf_find_key(f, "tokenizer.ggml.model") < 0) bad++;
        for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
            const gguf_tensor_info *t = gguf_tensor(f, i);
            if (t->offset + t->nbytes > gguf_file_size(f) - gguf_data_offset(f) || !t->nbytes) bad++;
        }
        gguf_close(f);
    }
    closedir(dp);
    return bad;
}

static void test_shared_files_open(void) {
    int opened = 0;
    int b1 = open_dir_files("models", &opened), b2 = open_dir_files("tokenizer-tests", &opened);
    if (b1 < 0 && b2 < 0) SKIP("shared models and tokenizer-tests not found");
    CHECK(b1 <= 0 && b2 <= 0);
    CHECK(opened > 0);
}

static void test_shared_vocab(void) {
    const char *p = test_shared_path("tokenizer-tests/ggml-vocab-llama-spm.gguf");
    if (!p) SKIP("tokenizer-tests/ggml-vocab-llama-spm.gguf not found");
    gguf_file *f = 0;
    char err[256];
    CHECK(gguf_open(p, &f, err, sizeof err) == 0);
    if (!f) return;
    gguf_vtype et;
    uint64_t n;
    CHECK(gguf_get_arr_info(f, "tokenizer.ggml.tokens", &et, &n) == 1 && et == GGUF_VT_STRING && n == 32000);
    const char *s = gguf_get_arr_str(f, "tokenizer.ggml.tokens", 1, NULL);
    CHECK(s && !strcmp(s, "<s>"));
    s = gguf_get_arr_str(f, "tokenizer.ggml.tokens", 3, NULL);
    CHECK(s && !strcmp(s, "<0x00>"));
    char txt[256];
    gguf_value_format(gguf_kv_value(f, gguf_find_key(f, "tokenizer.ggml.tokens")), txt, sizeof txt);
    CHECKF(!strncmp(txt, "[32000 strings: \"<unk>\", \"<s>\", \"</s>\", \"<0x00>\", ...]", 60), "%s", txt);
    gguf_close(f);
}

int main(void) {
    RUN(test_read_all_value_types);
    RUN(test_read_tensors);
    RUN(test_bad_magic);
    RUN(test_versions);
    RUN(test_every_prefix_fails);
    RUN(test_huge_counts);
    RUN(test_string_past_eof);
    RUN(test_bad_value_types);
    RUN(test_deep_and_long_arrays);
    RUN(test_duplicate_key);
    RUN(test_tensor_shapes);
    RUN(test_tensor_types);
    RUN(test_tensor_offsets);
    RUN(test_duplicate_tensor);
    RUN(test_tensor_names);
    RUN(test_bad_alignment);
    RUN(test_random_flips);
    RUN(test_open_errors);
    RUN(test_writer_roundtrip);
    RUN(test_writer_errors);
    RUN(test_many_tensors_lookup);
    RUN(test_shared_files_open);
    RUN(test_shared_vocab);
    if (g_dir[0]) rmdir(g_dir);
    TEST_EXIT();
}
