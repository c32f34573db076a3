/* Chat templates (src/chat): the built-in families render the documented
 * formats exactly, Hugging Face's whitespace rules hold, and bad or hostile
 * templates fail with a message instead of crashing or hanging. */
#include "test.h"
#include "chat/chat_template.h"

static const ember_chat_msg CONV[] = {
    {"system", "You are kind."}, {"user", "Hi"}, {"assistant", "Hello!"}, {"user", "How are you?"}};

static char err[256];

static void expect(const char *tmpl, const ember_chat_msg *m, int n, int agp, const char *want) {
    char *got = ember_chat_render(tmpl, m, n, agp, "<s>", "</s>", err, sizeof err);
    CHECKF(got && !strcmp(got, want), "got [%s] want [%s] (%s)", got ? got : "NULL", want, got ? "" : err);
    free(got);
}

static void expect_error(const char *tmpl, const char *needle) {
    char *got = ember_chat_render(tmpl, CONV, 4, 1, "<s>", "</s>", err, sizeof err);
    CHECKF(!got && strstr(err, needle) && !strchr(err, '\n'), "template [%.60s]: got [%s], error [%s], want [%s]", tmpl,
           got ? got : "NULL", err, needle);
    free(got);
}

static void test_chatml(void) {
    const char *t = ember_chat_builtin("chatml");
    CHECK(t && ember_chat_builtin("qwen") == t && !ember_chat_builtin("nope"));
    expect(t, CONV, 4, 1,
           "<|im_start|>system\nYou are kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
           "Hello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n");
    expect(t, CONV + 1, 1, 0, "<|im_start|>user\nHi<|im_end|>\n");
}

static void test_llama2(void) {
    const char *t = ember_chat_builtin("llama2");
    expect(t, CONV, 4, 1, "<s>[INST] <<SYS>>\nYou are kind.\n<</SYS>>\n\nHi [/INST] Hello! </s><s>[INST] How are you? [/INST]");
    expect(t, CONV + 1, 1, 1, "<s>[INST] Hi [/INST]");
    const ember_chat_msg bad[] = {{"user", "a"}, {"user", "b"}};
    CHECK(!ember_chat_render(t, bad, 2, 1, "<s>", "</s>", err, sizeof err));
    CHECKF(strstr(err, "Conversation roles must alternate") != NULL, "%s", err);
}

static void test_llama3(void) {
    const char *t = ember_chat_builtin("llama3");
    char *got = ember_chat_render(t, CONV, 2, 1, "<|begin_of_text|>", "<|eot_id|>", err, sizeof err);
    CHECKF(got && !strcmp(got, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are kind.<|eot_id|>"
                               "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                               "<|start_header_id|>assistant<|end_header_id|>\n\n"), "%s", got ? got : err);
    free(got);
    /* the shape of Meta's own template: set inside the loop, bos on the first */
    const char *meta = "{% set loop_messages = messages %}{% for message in loop_messages %}"
                       "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
                       "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
                       "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    const ember_chat_msg m[] = {{"user", "  Hi  "}};
    expect(meta, m, 1, 1, "<s><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void test_mistral_zephyr(void) {
    expect(ember_chat_builtin("mistral"), CONV, 4, 1, "<s>[INST] You are kind.\n\nHi [/INST]Hello!</s>[INST] How are you? [/INST]");
    expect(ember_chat_builtin("zephyr"), CONV, 4, 1,
           "<|system|>\nYou are kind.</s>\n<|user|>\nHi</s>\n<|assistant|>\nHello!</s>\n<|user|>\nHow are you?</s>\n<|assistant|>\n");
}

/* trim_blocks + lstrip_blocks, and {%- -%} */
static void test_whitespace(void) {
    expect("{% for message in messages %}\n  {% if message.role == 'user' %}\nU: {{ message.content }}\n  {% endif %}\n{% endfor %}",
           CONV, 4, 0, "U: Hi\nU: How are you?\n");
    expect("a  {{- 'b' -}}  c {# note #}\nd", CONV, 0, 0, "abc d");
    expect("x {%- if true -%}   y   {%- endif %} z", CONV, 0, 0, "xy z");
    expect("{{ 'a' }}\n", CONV, 0, 0, "a");       /* one trailing newline is dropped */
    expect("{{ 'a' }}\n\n", CONV, 0, 0, "a\n");
}

static void test_expressions(void) {
    expect("{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ m.role[0] %}"
           "{% endfor %}{{ ns.n }} {{ ns.s }}", CONV, 4, 0, "4 suau");
    expect("{{ 'a' if messages|length > 3 else 'b' }}{{ 'x' in 'abc' }}{{ 'b' in 'abc' }}{{ 3 // 2 }}{{ -7 % 3 }}", CONV, 4, 0,
           "aFalseTrue12");
    expect("{% for m in messages %}{{ loop.index }}{% if not loop.last %},{% endif %}{% endfor %}", CONV, 4, 0, "1,2,3,4");
    expect("{{ messages[-1]['content'] | upper }}|{{ messages[1:3] | length }}|{{ (messages | first).role }}", CONV, 4, 0,
           "HOW ARE YOU?|2|system");
    expect("{{ undefined_thing is defined }}{{ foo | default('d') }}{{ none is none }}{{ '  s '.strip() }}{{ 'ab'.startswith('a') }}",
           CONV, 4, 0, "FalsedTruesTrue");
    expect("{{ ['a', 'b'] | join('-') }}{{ {'k': 'v'}['k'] }}{{ 'q\"' | tojson }}", CONV, 0, 0, "a-bv\"q\\\"\"");
    expect("{% for m in messages %}{% endfor %}{% for i in [] %}x{% else %}empty{% endfor %}", CONV, 4, 0, "empty");
}

static void test_errors(void) {
    expect_error("{{ x | frobnicate }}", "unsupported filter 'frobnicate'");
    expect_error("{% if true %}open", "endif");
    expect_error("{{ 'abc }}", "unterminated string");
    expect_error("{{ 1 + }}", "expression expected");
    expect_error("{% call m() %}{% endcall %}", "unsupported tag 'call'");
    expect_error("{{ raise_exception('no tools here') }}", "no tools here");
    expect_error("{{ 1 + 'a' }}", "needs numbers");
    expect_error("{{ 5 // 0 }}", "division by zero");
    expect_error("{# never closed", "unterminated comment");
    expect_error("{{ a.b(", "unterminated tag");
}

static void test_hostile(void) {
    char *deep = malloc(30000);
    memcpy(deep, "{{ ", 3);
    memset(deep + 3, '(', 10000);
    deep[10003] = '1';
    memset(deep + 10004, ')', 10000);
    strcpy(deep + 20004, " }}");
    char *got = ember_chat_render(deep, CONV, 4, 1, "", "", err, sizeof err);
    CHECKF(!got && strstr(err, "nested too deeply"), "%s", err);
    char *blocks = malloc(20000);
    blocks[0] = 0;
    for (int i = 0; i < 1000; i++) strcat(blocks, "{% if true %}");
    got = ember_chat_render(blocks, CONV, 4, 1, "", "", err, sizeof err);
    CHECK(!got && strstr(err, "nested too deeply"));
    got = ember_chat_render("{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}", CONV, 4, 1, "", "",
                            err, sizeof err);
    CHECKF(!got && strstr(err, "256 MiB of working memory"), "%s", err); /* took 1.6 GB before the step limit */
    got = ember_chat_render("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(30) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}", CONV, 4, 1,
                            "", "", err, sizeof err);
    CHECKF(!got && strstr(err, "string longer"), "%s", err); /* 16 GiB: refused early */
    free(deep);
    free(blocks);
    /* chains nest the tree as deep as they are long (the parser builds them
     * in a loop, or by recursion for '-'): 100000 links fail with a message
     * (they overflowed the stack), 400 (40 '-') still render */
    static const char *const links[] = {"-", " + 1", ".a", "|trim", "[0]", " ~ 'x'"};
    for (size_t k = 0; k < sizeof links / sizeof links[0]; k++) {
        static const char *const base[] = {"", "1", "messages", "'x'", "'x'", "1"};
        for (int pass = 0; pass < 2; pass++) {
            const int len = pass ? 100000 : k == 0 ? 40 : 400; /* '-' nests the parser too: 64 levels */
            const size_t ln = strlen(links[k]);
            char *t = malloc(ln * (size_t)len + 32), *p = t;
            p += sprintf(p, "{{ %s", base[k]);
            for (int i = 0; i < len; i++) memcpy(p, links[k], ln), p += ln;
            strcpy(p, k == 0 ? "1 }}" : " }}");
            got = ember_chat_render(t, CONV, 4, 1, "", "", err, sizeof err);
            if (len > 1000) CHECKF(!got && strstr(err, "nested too deeply"), "chain of %d '%s': %s", len, links[k], got ? "rendered" : err);
            else CHECKF(got != NULL, "chain of %d '%s': %s", len, links[k], err);
            if (got && k == 1) CHECKF(!strcmp(got, "401"), "%s", got);
            free(got);
            free(t);
        }
    }
    /* 50000 string literals: each once took an arena buffer the size of the
     * rest of the template (11 GB in all here) */
    {
        char *t = malloc(50000 * 9 + 1), *p = t;
        for (int i = 0; i < 50000; i++) memcpy(p, "{{ 'x' }}", 9), p += 9;
        *p = 0;
        got = ember_chat_render(t, CONV, 4, 1, "", "", err, sizeof err);
        CHECKF(got && strlen(got) == 50000 && got[0] == 'x' && got[49999] == 'x', "%s", got ? "wrong output" : err);
        free(got);
        free(t);
    }
    CHECK(!ember_chat_render(NULL, CONV, 4, 1, "", "", err, sizeof err));
    got = ember_chat_render("", CONV, 4, 1, "", "", NULL, 0);
    CHECK(got && !*got);
    free(got);
}

/* inputs that once crashed the fuzz target, and the seeds: render or fail */
static void test_fuzz_seeds(void) {
    const char *files[] = {"fuzz/seeds/chat_regress_skip_eof.seed", "fuzz/seeds/chat_regress_deep_neg.seed",
                           "fuzz/seeds/chat_chatml.seed", "fuzz/seeds/chat_ns.seed"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        FILE *f = fopen(files[i], "rb");
        if (!f) SKIP("%s not found (run from the project root)", files[i]);
        char buf[65536];
        const size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *got = ember_chat_render(buf, CONV, 4, 1, "<s>", "</s>", err, sizeof err);
        CHECK(got || err[0]);
        free(got);
    }
}

/* Fault injection: every working-memory allocation a render makes, made to
 * fail in turn, ends the render with the memory error, never a crash or a
 * silently wrong text. The templates build every kind of value (list and
 * dict literals, concatenation, slices, loops over dicts with pairs,
 * namespaces, ranges) besides the built-in families. A list literal that
 * met the memory limit once dereferenced its never-made list (found by
 * static analysis; a 106000-byte message placed the limit there). */
static void test_every_allocation_failure(void) {
    const char *custom =
        "{% set ns = namespace(n=0, s='') %}{% set d = {'a': 1, 'b': [1, 2] + [3]} %}"
        "{% for k, v in d %}{{ k }}{% set ns.n = ns.n + 1 %}{% endfor %}"
        "{% for k in d %}{{ k }}{% endfor %}{% for m in messages[1:3] %}{{ m['role'] | upper }}{% endfor %}"
        "{% for i in range(3) %}{{ [i, i + 1][1:] | length }}{{ loop.index }}{% endfor %}"
        "{{ ns.n }}{{ (messages | last)['content'] ~ '!' }}{{ messages[0]['content'] | trim }}"
        "{% macro tag(name, body='-') %}<{{ name }}>{{ body }}{% endmacro %}{{ tag('a') }}{{ tag('b', body='x') }}"
        "{% set block %}{% for m in messages if m.role != 'system' %}{% if loop.index > 2 %}{% break %}{% endif %}"
        "{{ m.content.split(' ') | join('_') }}{% endfor %}{% endset %}{{ block | title }}"
        "{{ messages[::-1] | selectattr('role', 'equalto', 'user') | map(attribute='content') | join }}"
        "{{ {'k': [1, ('x', 'y')], 'd': {'e': none}} | tojson(indent=1) }}{{ d.items() | list | length }}";
    const char *tmpls[] = { custom, ember_chat_builtin("chatml"), ember_chat_builtin("llama2"), ember_chat_builtin("llama3"),
                            ember_chat_builtin("mistral"), ember_chat_builtin("zephyr") };
    for (int ti = 0; ti < (int)(sizeof tmpls / sizeof *tmpls); ti++) {
        ember_chat_test_fail_alloc(0);
        char *want = ember_chat_render(tmpls[ti], CONV, 4, 1, "<s>", "</s>", err, sizeof err);
        CHECKF(want != NULL, "template %d: %s", ti, err);
        const long calls = ember_chat_test_fail_alloc(0);
        CHECKF(calls > 5, "template %d made %ld allocations", ti, calls);
        int bad = 0;
        for (long i = 1; i <= calls + 1; i++) {
            ember_chat_test_fail_alloc(i);
            char *got = ember_chat_render(tmpls[ti], CONV, 4, 1, "<s>", "</s>", err, sizeof err);
            /* past the last allocation nothing fails: the same text */
            const int ok = i <= calls ? !got && strstr(err, "out of memory") != NULL : got && !strcmp(got, want);
            if (!ok && !bad++) CHECKF(0, "template %d, allocation %ld of %ld failing: got [%.40s] error [%s]", ti, i, calls,
                                      got ? got : "NULL", err);
            free(got);
        }
        ember_chat_test_fail_alloc(0);
        CHECKF(bad == 0, "template %d: %d failures", ti, bad);
        free(want);
    }
    /* the found case, through the real limit */
    const size_t len = 106000;
    char *c = malloc(len + 1);
    memset(c, 'a', len);
    c[len] = 0;
    const ember_chat_msg m = {"user", c};
    char *got = ember_chat_render("{% for i in range(100000) %}{% if (messages[0]['content'] ~ 'y') and [1] %}{% endif %}"
                                  "{% endfor %}", &m, 1, 1, "", "", err, sizeof err);
    CHECKF(!got && strstr(err, "working memory"), "%s", err);
    free(got);
    free(c);
}

/* Jinja features of real models' templates (Mistral Nemo's loop filters,
 * the tool-use templates' macros, tuples, selectattr, tojson of mappings,
 * Qwen's reversed slices and split): each expected text is what Python's
 * jinja2 3.1 renders with Hugging Face's settings (trim_blocks,
 * lstrip_blocks, loopcontrols, json.dumps as tojson) for CONV. */
static const char *const JINJA_CASES[][2] = {
    {"{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}:{{ m.content }}{% if not loop.last %}|{% endif %}{% endfor %}",
     "1/3:Hi|2/3:Hello!|3/3:How are you?"},
    {"{% for k, v in {'a': 1, 'b': 2}.items() if v > 1 %}{{ k }}={{ v }}{% endfor %}{% for x in [] if x %}no{% else %}empty{% endfor %}",
     "b=2empty"},
    {"{% set greeting %}Hello, {{ messages[1].content }}!{% endset %}[{{ greeting }}]{{ greeting | length }}",
     "[Hello, Hi!]10"},
    {"{% macro tag(name, body='none', close=true) %}<{{ name }}>{{ body }}{% if close %}</{{ name }}>{% endif %}{% endmacro %}{{ tag('a') }}{{ tag('b', 'x') }}{{ tag('c', close=false, body='y') }}",
     "<a>none</a><b>x</b><c>y"},
    {"{% macro count(n) %}{% if n > 0 %}{{ n }}{{ count(n - 1) }}{% endif %}{% endmacro %}{{ count(5) }}",
     "54321"},
    {"{% for m in messages %}{% if m.role == 'assistant' %}{% break %}{% endif %}{{ m.role }};{% endfor %}/{% for i in range(6) %}{% if i is odd %}{% continue %}{% endif %}{{ i }}{% endfor %}",
     "system;user;/024"},
    {"{{ messages[::-1] | map(attribute='role') | join(',') }}|{{ [1,2,3,4,5][::2] | join }}|{{ [1,2,3,4,5][-2::-2] | join }}|{{ [1,2,3][1:] | join }}|{{ [1,2,3][:-1] | join }}|{{ 'hello'[1:3] }}",
     "user,assistant,user,system|135|42|23|12|el"},
    {"{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(' / ') }}|{{ messages | rejectattr('role', 'eq', 'user') | list | length }}|{{ messages | selectattr('content') | list | length }}",
     "Hi / How are you?|2|4"},
    {"{{ {'a': [1, 'x', true, none], 'b': {'c': \"q\\\"\\n\\t\"}} | tojson }}|{{ [1, {'k': []}] | tojson(indent=2) }}|{{ {} | tojson }}",
     "{\"a\": [1, \"x\", true, null], \"b\": {\"c\": \"q\\\"\\n\\t\"}}|[\n  1,\n  {\n    \"k\": []\n  }\n]|{}"},
    {"{{ 'a,b,,c'.split(',') | join('|') }}/{{ '  x  y '.split() | join('|') }}/{{ 'aXbXc'.replace('X', '--') }}/{{ 'hello world' | title }}/{{ 'hELLO' | capitalize }}/{{ 'xxhixx'.strip('x') }}/{{ '\\n\\nhi\\n'.lstrip('\\n') }}.",
     "a|b||c/x|y/a--b--c/Hello World/Hello/hi/hi\n."},
    {"{{ ('a', 'b') | join('+') }}{% for a, b in [('x', 1), ('y', 2)] %}{{ a }}{{ b }}{% endfor %}{{ 'abc' | list | reverse | join }}{{ {'p': 1, 'q': 2} | list | join }}{{ [3, 1, 2] | reverse | join }}",
     "a+bx1y2cbapq213"},
    {"{{ (messages | last).content.split(' ')[-1] }}{{ undefined_thing | selectattr('x') | list | length }}{{ none | map(attribute='x') | list | length }}",
     "you?00"},
    {"{{ 'a b  c '.split(none, 1) | tojson }}{{ ' a b  c '.split(none, 0) | tojson }}{{ 'a,b,c'.split(',', 1) | tojson }}{{ 'a,b,c'.split(',', 0) | tojson }}{{ 'aaaa'.replace('a', 'b', 2) }}{{ 'aaaa' | replace('a', 'b', 0) }}{{ 'x y'.split(none, -1) | tojson }}{{ '   '.split(none, 1) | tojson }}",
     "[\"a\", \"b  c \"][\"a b  c \"][\"a\", \"b,c\"][\"a,b,c\"]bbaaaaaa[\"x\", \"y\"][]"},
    {"{{ '[|d] it-is (x) they\\'re  a<b' | title }}/{{ '[|d] it-is (x) they\\'re  a<b'.title() }}/{{ '[abc DEF' | capitalize }}/{{ 'hELLO wORLD'.capitalize() }}/{{ '' | title }}{{ ''.capitalize() }}",
     "[|d] It-Is (X) They're  A<B/[|D] It-Is (X) They'Re  A<B/[abc def/Hello world/"},
    {"{{ 'ab'.replace('', '-') }}|{{ 'ab' | replace('', '-', 2) }}|{{ '' | replace('', 'x') }}|{{ 2 | upper }}|{{ true | lower }}|{{ none | trim }}|{{ 12 | replace(1, 3) }}|{{ true is number }}{{ false is integer }}{{ 1 is boolean }}",
     "-a-b-|-a-b|x|2|true|None|32|TrueFalseFalse"},
    {"{% for i in [1,2] %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% else %}E{% endfor %}|{% for i in [1,2] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% else %}E{% endfor %}|{% for i in [1,2] %}{% continue %}{% else %}E{% endfor %}|{% for i in [1,2] %}{% break %}{% else %}E{% endfor %}|{% for i in [] %}{% else %}E{% endfor %}",
     "2|1|E|E|E"},
};

static void test_jinja_features(void) {
    for (size_t i = 0; i < sizeof JINJA_CASES / sizeof *JINJA_CASES; i++) expect(JINJA_CASES[i][0], CONV, 4, 1, JINJA_CASES[i][1]);
    expect_error("{% break %}", "'break' outside a loop");
    expect_error("{% for x in [1] %}{% macro m() %}{% continue %}{% endmacro %}{% endfor %}", "'continue' outside a loop");
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", "too many arguments for macro 'm'");
    expect_error("{% macro m(a) %}{% endmacro %}{{ m(b=1) }}", "macro 'm' has no parameter 'b'");
    expect_error("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "macro calls nested too deeply");
    expect_error("{{ [1, 2][::0] }}", "slice step cannot be zero");
    expect_error("{{ 'abc'[::-1] }}", "string slices with a step are not supported");
    expect_error("{% set x %}a", "missing {% endset %}");
    /* nesting counts parentheses, not the eight operator levels inside each (8 stopped it) */
    expect("{{ ((((((((((((((((((((1)))))))))))))))))))) }}", CONV, 4, 1, "1");
    expect_error("{{ 'a'.split('') }}", "empty separator");
    expect_error("{{ [1] | upper }}", "'upper' needs a string");
    expect_error("{{ [1] | map('center') }}", "'map' with filter 'center' is not supported");
    expect_error("{% set ns = namespace(a=1) %}{% set ns.me = ns %}{{ ns | tojson }}", "nested too deeply");
    /* replace is bounded like every string */
    expect_error("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(30) %}{% set ns.s = ns.s.replace('x', 'xx') %}{% endfor %}",
                 "longer than");
}

/* --render-batch: renders NUL-separated templates from stdin for CONV (as
 * the tests above: add_generation_prompt, "<s>" and "</s>") and writes the
 * texts NUL-separated, an error as "\x01" and its message (the harness of
 * tests/chat_vs_jinja2.py) */
static int render_batch(void) {
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, stdin)) > 0;) {
        n += got;
        if (n + 1 == cap) {
            char *more = cap < ((size_t)64 << 20) ? realloc(buf, cap * 2) : NULL;
            if (!more) { fprintf(stderr, "render-batch: input too large\n"); free(buf); return 2; }
            buf = more, cap *= 2;
        }
    }
    if (!buf) return 2;
    buf[n] = 0;
    for (size_t i = 0; i < n; i += strlen(buf + i) + 1) {
        char *out = ember_chat_render(buf + i, CONV, 4, 1, "<s>", "</s>", err, sizeof err);
        if (out) fputs(out, stdout);
        else printf("\x01%s", err);
        fputc(0, stdout);
        free(out);
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--render-batch")) return render_batch();
    RUN(test_fuzz_seeds);
    RUN(test_chatml);
    RUN(test_llama2);
    RUN(test_llama3);
    RUN(test_mistral_zephyr);
    RUN(test_whitespace);
    RUN(test_expressions);
    RUN(test_errors);
    RUN(test_hostile);
    RUN(test_jinja_features);
    RUN(test_every_allocation_failure);
    TEST_EXIT();
}
