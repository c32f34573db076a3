/* libFuzzer target: parse arbitrary bytes as GGUF, then walk everything the
 * parser accepted (keys, values, tensors) and render every value, so any
 * out-of-bounds read in the reader or the formatter shows up under ASan. */
#include "gguf/gguf.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gguf_file *f = 0;
    char err[256];
    int st = gguf_open_memory(data, size, &f, err, sizeof err);
    if (st) {
        /* a rejected file always says why, in one line */
        if (!err[0] || strchr(err, '\n') || f) abort();
        return 0;
    }
    char txt[192];
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const char *key = gguf_kv_key(f, i);
        if (gguf_find_key(f, key) != i) abort();
        const gguf_value *v = gguf_kv_value(f, i);
        gguf_value_format(v, txt, sizeof txt);
        if (strlen(txt) >= sizeof txt) abort();
        gguf_value_format(v, txt, 7); /* a tiny buffer too */
        size_t n;
        const uint8_t *raw = gguf_value_raw(v, &n);
        if (n && (raw < data || raw + n > data + size)) abort();
        gguf_vtype et;
        uint64_t cnt;
        if (gguf_get_arr_info(f, key, &et, &cnt) == 1 && et == GGUF_VT_STRING && cnt) {
            uint64_t len;
            const char *s = gguf_get_arr_str(f, key, cnt - 1, &len);
            if (!s || strlen(s) > len) abort();
        }
        int64_t x;
        float fl;
        const char *s;
        (void)gguf_get_i64(f, key, &x);
        (void)gguf_get_f32(f, key, &fl);
        (void)gguf_get_str(f, key, &s);
    }
    uint64_t sum = 0;
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = gguf_tensor(f, i);
        if (gguf_find_tensor(f, t->name) != t) abort();
        const uint8_t *p = t->data;
        if (p < data || p + t->nbytes > data + size) abort();
        sum += p[0] + p[t->nbytes - 1]; /* touch both ends of the data */
    }
    (void)sum;
    gguf_close(f);
    return 0;
}
