/* GGUF v2/v3 reader and writer. All validation of files lives here: every
 * count, length, dimension, type and offset is checked before use, so the
 * rest of ember can trust a gguf_file it was handed. */
#ifndef EMBER_GGUF_H
#define EMBER_GGUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    GGUF_VT_UINT8 = 0, GGUF_VT_INT8 = 1, GGUF_VT_UINT16 = 2, GGUF_VT_INT16 = 3,
    GGUF_VT_UINT32 = 4, GGUF_VT_INT32 = 5, GGUF_VT_FLOAT32 = 6, GGUF_VT_BOOL = 7,
    GGUF_VT_STRING = 8, GGUF_VT_ARRAY = 9, GGUF_VT_UINT64 = 10, GGUF_VT_INT64 = 11,
    GGUF_VT_FLOAT64 = 12, GGUF_VT_COUNT
} gguf_vtype;

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    const char *name;
    int type;                    /* ember_type / GGUF type id (validated) */
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];   /* ne[0] = row length; unused dims are 1 */
    uint64_t offset;             /* relative to the data section */
    size_t nbytes;
    const void *data;            /* points into the mapping */
} gguf_tensor_info;

typedef struct gguf_file gguf_file;

/* Opens and fully validates a file (mmap, read-only). Returns 0 and *out on
 * success; otherwise an ember_status code (1 = IO, 2 = format,
 * 3 = unsupported) with a one-line message in err. */
int gguf_open(const char *path, gguf_file **out, char *err, size_t errlen);
/* Same over a caller-owned buffer that must outlive the gguf_file (fuzzing). */
int gguf_open_memory(const void *data, size_t size, gguf_file **out, char *err, size_t errlen);
void gguf_close(gguf_file *f);

/* bytes of one fixed-size value (0 for strings, arrays, unknown types) */
size_t gguf_vtype_size(gguf_vtype t);

uint32_t gguf_version(const gguf_file *f);
size_t gguf_alignment(const gguf_file *f);
size_t gguf_data_offset(const gguf_file *f);
int gguf_is_mapped(const gguf_file *f); /* 1: data is a read-only file mapping */
size_t gguf_file_size(const gguf_file *f);
const char *gguf_path(const gguf_file *f);

/* ---- key/value metadata ---- */
int64_t gguf_n_kv(const gguf_file *f);
const char *gguf_kv_key(const gguf_file *f, int64_t i);
gguf_vtype gguf_kv_type(const gguf_file *f, int64_t i);
int64_t gguf_find_key(const gguf_file *f, const char *key); /* -1 if absent */

/* Typed getters: return 1 and set *out when the key exists with a
 * compatible type (any integer type that fits for the integer getters,
 * FLOAT32/FLOAT64 for floats), 0 when absent, -1 when present with an
 * incompatible type or out-of-range value. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
int gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
int gguf_get_f32(const gguf_file *f, const char *key, float *out);
int gguf_get_bool(const gguf_file *f, const char *key, int *out);
int gguf_get_str(const gguf_file *f, const char *key, const char **out); /* NUL-terminated */

/* Arrays: element type and count (1 if present as array, 0 absent, -1 not an array). */
int gguf_get_arr_info(const gguf_file *f, const char *key, gguf_vtype *elem_type, uint64_t *n);
/* i-th string of a string array; NULL if out of range or not a string array. */
const char *gguf_get_arr_str(const gguf_file *f, const char *key, uint64_t i, uint64_t *len);
/* Packed elements of a numeric array (little-endian as in the file). */
const void *gguf_get_arr_data(const gguf_file *f, const char *key);

/* Generic access by index, for `ember info` and copying metadata. */
typedef struct gguf_value gguf_value;
const gguf_value *gguf_kv_value(const gguf_file *f, int64_t i);
gguf_vtype gguf_value_type(const gguf_value *v);
/* Render a value as short readable text (arrays abbreviated). */
void gguf_value_format(const gguf_value *v, char *buf, size_t cap);
/* The value's bytes exactly as stored after its type id (little-endian;
 * arrays include element type and count), for copying metadata verbatim.
 * Points into the file's data. */
const void *gguf_value_raw(const gguf_value *v, size_t *nbytes);

/* ---- tensors ---- */
int64_t gguf_n_tensors(const gguf_file *f);
const gguf_tensor_info *gguf_tensor(const gguf_file *f, int64_t i);
const gguf_tensor_info *gguf_find_tensor(const gguf_file *f, const char *name);

/* ---- writer ---- */
typedef struct gguf_writer gguf_writer;
/* Fills dst (nbytes) with tensor idx's data; returns 0 or non-zero to abort. */
typedef int (*gguf_tensor_fill_fn)(void *ud, int64_t idx, void *dst, size_t nbytes);

gguf_writer *gguf_writer_create(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
void gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_set_bool(gguf_writer *w, const char *key, int v);
void gguf_writer_set_str(gguf_writer *w, const char *key, const char *v);
void gguf_writer_set_arr(gguf_writer *w, const char *key, gguf_vtype elem, const void *data, uint64_t n);
void gguf_writer_set_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
/* Copy key i of src (any type, nested arrays included); replaces same key. */
void gguf_writer_copy_kv(gguf_writer *w, const gguf_file *src, int64_t i);
/* data may be NULL: then fill() provides it at write time. Returns index. */
int64_t gguf_writer_add_tensor(gguf_writer *w, const char *name, int type, int n_dims,
                               const int64_t *ne, const void *data);
/* Writes atomically (temp file + rename; no partial file is left on error).
 * Returns 0 or an ember_status code with a message in err. */
int gguf_writer_write(gguf_writer *w, const char *path, gguf_tensor_fill_fn fill, void *ud,
                      char *err, size_t errlen);

#endif
