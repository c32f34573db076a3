/* Chat templates: the Jinja subset that models' `tokenizer.chat_template`
 * use (Llama-2/3, ChatML/Qwen, Mistral, Zephyr, ...), rendered the way
 * Hugging Face renders them (trim_blocks and lstrip_blocks on). Pure C,
 * bounded work: a hostile template gets an error, never a hang. */
#ifndef EMBER_CHAT_TEMPLATE_H
#define EMBER_CHAT_TEMPLATE_H

#include <stddef.h>

typedef struct {
    const char *role;
    const char *content;
} ember_chat_msg;

/* Renders tmpl for messages[0..n). bos/eos: the model's BOS/EOS texts (may
 * be ""). Returns a malloc'd string, or NULL with a one-line message in err
 * (e.g. "chat template: unknown filter 'foo' at line 3"). */
char *ember_chat_render(const char *tmpl, const ember_chat_msg *messages, int n, int add_generation_prompt,
                        const char *bos, const char *eos, char *err, size_t err_size);

/* Testing (fault injection): from the next render on, its n-th working-
 * memory allocation fails as if the memory limit were reached (n >= 1;
 * 0: off). Returns how many allocations the last finished render made. */
long ember_chat_test_fail_alloc(long n);

/* Built-in templates: "chatml" (= "qwen"), "llama2", "llama3", "mistral",
 * "zephyr". Returns the Jinja source, or NULL if unknown. */
const char *ember_chat_builtin(const char *name);
/* "chatml, llama2, ...", for messages. */
const char *ember_chat_builtin_names(void);

#endif
