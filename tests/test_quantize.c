/* ember quantize reproduces llama-quantize: every tensor of the synth-v512
 * and kjv-20m files llama.cpp quantized (types and bytes), from the same F32
 * source; bad input leaves no output behind. */
#include "test.h"
#include "formats/formats.h"
#include "formats/quantize_file.h"
#include "gguf/gguf.h"
#include <unistd.h>

static int compare_files(const char *mine, const char *theirs) {
    gguf_file *a, *b;
    char err[256];
    if (gguf_open(mine, &a, err, sizeof err)) { fprintf(stderr, "  %s\n", err); return -1; }
    if (gguf_open(theirs, &b, err, sizeof err)) { gguf_close(a); return -1; }
    int bad = 0;
    for (int64_t i = 0; i < gguf_n_tensors(b); i++) {
        const gguf_tensor_info *tb = gguf_tensor(b, i), *ta = gguf_find_tensor(a, tb->name);
        if (!ta || ta->type != tb->type || ta->nbytes != tb->nbytes || memcmp(ta->data, tb->data, ta->nbytes)) {
            fprintf(stderr, "  %s: %s differs (%s vs %s)\n", theirs, tb->name, ta ? ember_type_name(ta->type) : "missing",
                    ember_type_name(tb->type));
            bad++;
        }
    }
    uint32_t ft = 0;
    if (gguf_get_u32(a, "general.file_type", &ft) != 1) bad++;
    const char *arch = 0;
    if (gguf_get_str(a, "general.architecture", &arch) != 1 || strcmp(arch, "llama")) bad++; /* metadata kept */
    gguf_close(a);
    gguf_close(b);
    return bad;
}

static void matches_llama_quantize(void) {
    const char *sp = test_shared_path("models/synth-v512-f32.gguf");
    if (!sp) SKIP("synth-v512 models not found");
    char src[1024]; /* test_shared_path reuses a few static buffers */
    snprintf(src, sizeof src, "%s", sp);
    const char *types[] = {"Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q5_1", "Q4_K_M", "Q4_0", "Q4_1", "Q3_K_M", "Q2_K"};
    char out[256];
    snprintf(out, sizeof out, "/tmp/ember-test-quant-%d.gguf", (int)getpid());
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/synth-v512-%s.gguf", types[i]);
        const char *ref = test_shared_path(rel);
        ember_quantize_summary s;
        char err[300];
        CHECKF(ember_quantize_file(src, out, ember_ftype_from_name(types[i]), 2, 0, 0, &s, err, sizeof err) == 0, "%s", err);
        CHECKF(ref && compare_files(out, ref) == 0, "%s", types[i]);
        CHECK(s.bytes_out < s.bytes_in && s.n_quantized == 16);
    }
    char kjv[1024], kref[1024];
    const char *k1 = test_shared_path("models/kjv-20m-f32.gguf"), *k2 = test_shared_path("models/kjv-20m-q4_k_m.gguf");
    if (k1 && k2) {
        snprintf(kjv, sizeof kjv, "%s", k1);
        snprintf(kref, sizeof kref, "%s", k2);
        ember_quantize_summary s;
        char err[300];
        CHECK(ember_quantize_file(kjv, out, EMBER_FTYPE_Q4_K_M, 2, 0, 0, &s, err, sizeof err) == 0);
        CHECK(compare_files(out, kref) == 0); /* 8 layers: attn_v/ffn_down of blocks 0, 3, 6, 7 get Q6_K */
    }
    unlink(out);
}

static void bad_input_leaves_nothing(void) {
    char in[128], out[128], err[300];
    snprintf(in, sizeof in, "/tmp/ember-test-badq-%d.gguf", (int)getpid());
    snprintf(out, sizeof out, "/tmp/ember-test-badq-out-%d.gguf", (int)getpid());
    FILE *f = fopen(in, "wb");
    fputs("GGUF\x03\0\0\0 truncated", f);
    fclose(f);
    ember_quantize_summary s;
    CHECK(ember_quantize_file(in, out, EMBER_FTYPE_Q8_0, 1, 0, 0, &s, err, sizeof err) == 2);
    CHECK(access(out, F_OK) != 0);
    CHECK(ember_quantize_file(in, out, 99, 1, 0, 0, &s, err, sizeof err) == 4);
    const char *src = test_shared_path("models/stories260K.gguf");
    if (src) { /* unwritable destination: error, nothing left */
        CHECK(ember_quantize_file(src, "/nonexistent-dir/x.gguf", EMBER_FTYPE_Q8_0, 1, 0, 0, &s, err, sizeof err) != 0);
        /* rows of 172 fall back to F16, as in llama.cpp */
        CHECK(ember_quantize_file(src, out, EMBER_FTYPE_Q4_K_M, 1, 0, 0, &s, err, sizeof err) == 0);
        gguf_file *g;
        CHECK(gguf_open(out, &g, err, sizeof err) == 0);
        CHECK(gguf_find_tensor(g, "blk.0.ffn_down.weight")->type == EMBER_TYPE_F16);
        gguf_close(g);
        unlink(out);
    }
    unlink(in);
    CHECK(ember_ftype_from_name("q4_k_m") == EMBER_FTYPE_Q4_K_M && ember_ftype_from_name("Q9") < 0);
}

int main(void) {
    RUN(matches_llama_quantize);
    RUN(bad_input_leaves_nothing);
    TEST_EXIT();
}
