/* libFuzzer target: the input is a chat template, up to the first NUL; the
 * bytes after it are the content of a user message. Rendering must return
 * a string or an error, within the step/size limits, without crashing. */
#include "chat/chat_template.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    const size_t tlen = strlen(buf);
    const char *content = tlen < size ? buf + tlen + 1 : "";
    const ember_chat_msg msgs[3] = {{"system", "sys"}, {"user", content}, {"assistant", "ok"}};
    char err[256];
    char *out = ember_chat_render(buf, msgs, 3, 1, "<s>", "</s>", err, sizeof err);
    free(out);
    free(buf);
    return 0;
}
