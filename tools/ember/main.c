/* ember CLI: dispatches `ember <command> ...` to tools/ember/<command>.c. */
#include "ember.h"
#include <stdio.h>
#include <string.h>

typedef int (*cmd_fn)(int argc, char **argv);

/* Commands live in their own files; a command left out of a build (e.g.
 * serve without libmicrohttpd) resolves to NULL and is reported as such. */
#define CMD(name) extern int cmd_##name(int, char **) __attribute__((weak));
CMD(run) CMD(info) CMD(tokenize) CMD(gen) CMD(bench) CMD(serve) CMD(quantize) CMD(imatrix)
CMD(eval) CMD(screen)
#undef CMD

static void usage(FILE *out) {
    fprintf(out,
        "ember %s — CPU inference for GGUF language models\n"
        "usage: ember <command> [options]\n\n"
        "commands:\n"
        "  run       generate text:      ember run -m M.gguf -p TEXT [-n N] [--temp T] ...\n"
        "  info      file/CPU details:   ember info M.gguf | ember info --cpu\n"
        "  tokenize  text to ids:        ember tokenize -m M.gguf -p TEXT [--json]\n"
        "  gen       random-weight model ember gen --preset tinyllama-1.1b --type q4_0 -o out.gguf\n"
        "  bench     speed:              ember bench -m M.gguf [-p 512 -n 128 -r 5]\n"
        "  serve     OpenAI-compatible server: ember serve -m M.gguf [--port 8080]\n"
        "  quantize  ember quantize IN.gguf OUT.gguf TYPE\n"
        "  imatrix   importance matrix:  ember imatrix -m M.gguf -f TEXT -o imatrix.dat\n"
        "  eval      perplexity | kld | inflation | make-tasks\n"
        "  screen    invariance screen:  ember screen invariance -m T.gguf --draft D.gguf --prompts F\n\n"
        "`ember <command> --help` shows the options of a command.\n",
        ember_version());
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("ember %s\n", ember_version()); return 0; }
    const struct { const char *name; cmd_fn fn; } cmds[] = {
        {"run", cmd_run}, {"info", cmd_info}, {"tokenize", cmd_tokenize}, {"gen", cmd_gen},
        {"bench", cmd_bench}, {"serve", cmd_serve}, {"quantize", cmd_quantize},
        {"imatrix", cmd_imatrix}, {"eval", cmd_eval}, {"screen", cmd_screen},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name)) continue;
        if (!cmds[i].fn) {
            fprintf(stderr, "ember: command '%s' is not part of this build\n", argv[1]);
            return 2;
        }
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "ember: unknown command '%s' (try 'ember --help')\n", argv[1]);
    return 2;
}
