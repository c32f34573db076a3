/* Checkable tasks for the token-inflation measurement: generation of task
 * files, reading them back (a small, strict JSON-lines reader for our own
 * format), answer checking and a repetition detector. */
#include "tasks.h"
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void emit(FILE *f, int id, const char *kind, const char *prompt, const char *answer, const char *stop) {
    fprintf(f, "{\"id\": %d, \"kind\": ", id);
    json_str(f, kind);
    fprintf(f, ", \"prompt\": ");
    json_str(f, prompt);
    fprintf(f, ", \"answer\": ");
    json_str(f, answer);
    fprintf(f, ", \"stop\": ");
    json_str(f, stop);
    fprintf(f, "}\n");
}

static const char *k_words[] = {"apple", "river", "stone", "light", "house", "bread", "cloud", "field", "horse", "water"};

int ember_tasks_generate(FILE *out, const char *kind, int n, uint64_t seed, const char *source_text, char *err,
                         size_t errlen) {
    const int all = !strcmp(kind, "all");
    const int ar = all || !strcmp(kind, "arithmetic"), co = all || !strcmp(kind, "counting"),
              so = all || !strcmp(kind, "sorting"), cn = all || !strcmp(kind, "continuation");
    if (!ar && !co && !so && !cn) {
        snprintf(err, errlen, "unknown task kind '%.40s' (arithmetic, counting, sorting, continuation, all)", kind);
        return 2;
    }
    if (cn && !source_text && !all) { snprintf(err, errlen, "continuation tasks need --source FILE"); return 2; }
    uint64_t s = seed;
    int id = 0;
    char prompt[1024], answer[512];
    for (int i = 0; i < n; i++) {
        int which = all ? i % 4 : ar ? 0 : co ? 1 : so ? 2 : 3;
        if (which == 3 && !source_text) which = i % 3;
        if (which == 0) {
            const int a = (int)(rng_next(&s) % 90) + 10, b = (int)(rng_next(&s) % 90) + 10;
            snprintf(prompt, sizeof prompt, "Q: What is %d plus %d?\nA: The answer is", a, b);
            snprintf(answer, sizeof answer, "%d", a + b);
            emit(out, id++, "arithmetic", prompt, answer, ".");
        } else if (which == 1) {
            const int k = 2 + (int)(rng_next(&s) % 6);
            char list[256] = "";
            for (int j = 0; j < k; j++) {
                strcat(list, j ? " " : "");
                strcat(list, k_words[rng_next(&s) % 10]);
            }
            snprintf(prompt, sizeof prompt, "Q: How many words are in \"%s\"?\nA: There are", list);
            snprintf(answer, sizeof answer, "%d", k);
            emit(out, id++, "counting", prompt, answer, ".");
        } else if (which == 2) {
            int v[6];
            const int k = 3 + (int)(rng_next(&s) % 4);
            for (int j = 0; j < k; j++) v[j] = (int)(rng_next(&s) % 90) + 10;
            char in[128] = "", sorted[128] = "";
            for (int j = 0; j < k; j++) { char t[16]; snprintf(t, sizeof t, "%s%d", j ? " " : "", v[j]); strcat(in, t); }
            for (int a = 0; a < k; a++) for (int b = a + 1; b < k; b++) if (v[b] < v[a]) { int t = v[a]; v[a] = v[b]; v[b] = t; }
            for (int j = 0; j < k; j++) { char t[16]; snprintf(t, sizeof t, "%s%d", j ? " " : "", v[j]); strcat(sorted, t); }
            snprintf(prompt, sizeof prompt, "Q: Sort these numbers from smallest to largest: %s.\nA:", in);
            snprintf(answer, sizeof answer, "%s", sorted);
            emit(out, id++, "sorting", prompt, answer, ".");
        } else {
            /* a verse-like sentence of the source: first half as prompt, the
             * rest up to its end as the answer */
            const size_t len = strlen(source_text);
            if (len < 200) { snprintf(err, errlen, "the source text is too short for continuation tasks"); return 2; }
            size_t start = (size_t)(rng_next(&s) % (len - 100));
            while (start < len && source_text[start] != '.' && source_text[start] != ':') start++;
            while (start < len && (source_text[start] == '.' || source_text[start] == ':' || isspace((unsigned char)source_text[start]))) start++;
            size_t end = start;
            while (end < len && source_text[end] != '.' && source_text[end] != ':' && source_text[end] != ';') end++;
            if (end >= len || end - start < 20 || end - start > 400) { i--; continue; }
            size_t cut = start + (end - start) / 2;
            while (cut > start && source_text[cut] != ' ') cut--;
            if (cut <= start) { i--; continue; }
            snprintf(prompt, sizeof prompt, "%.*s", (int)(cut - start), source_text + start);
            snprintf(answer, sizeof answer, "%.*s", (int)(end - cut), source_text + cut);
            emit(out, id++, "continuation", prompt, answer, ".");
        }
    }
    return 0;
}

/* ---- reading tasks back ------------------------------------------------- */

/* Decodes the JSON string value of "key" in one line of our own format.
 * Returns a malloc'd string, or NULL if absent or malformed, or out of
 * memory (then *oom is set). */
static char *field(const char *line, const char *key, int *oom) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    if (!p) return 0;
    p += strlen(pat);
    while (*p == ' ') p++;
    if (*p != '"') return 0;
    p++;
    char *out = malloc(strlen(p) + 1);
    if (!out) { *oom = 1; return 0; }
    size_t n = 0;
    while (*p && *p != '"') {
        if (*p != '\\') { out[n++] = *p++; continue; }
        p++;
        switch (*p) {
        case 'n': out[n++] = '\n'; p++; break;
        case 't': out[n++] = '\t'; p++; break;
        case '"': case '\\': case '/': out[n++] = *p++; break;
        case 'u': {
            unsigned v = 0;
            for (int k = 1; k <= 4; k++) {
                const char c = p[k];
                if (!isxdigit((unsigned char)c)) { free(out); return 0; }
                v = v * 16 + (unsigned)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
            }
            p += 5;
            if (v < 0x80) out[n++] = (char)v;
            else if (v < 0x800) { out[n++] = (char)(0xC0 | (v >> 6)); out[n++] = (char)(0x80 | (v & 63)); }
            else { out[n++] = (char)(0xE0 | (v >> 12)); out[n++] = (char)(0x80 | ((v >> 6) & 63)); out[n++] = (char)(0x80 | (v & 63)); }
            break;
        }
        default: free(out); return 0;
        }
    }
    if (*p != '"') { free(out); return 0; }
    out[n] = 0;
    return out;
}

int ember_tasks_read(const char *text, ember_task **out, int *n_out, char *err, size_t errlen) {
    *out = 0;
    *n_out = 0;
    int cap = 0, n = 0, line_no = 0;
    ember_task *t = 0;
    const char *p = text;
    while (*p) {
        const char *e = strchr(p, '\n');
        const size_t len = e ? (size_t)(e - p) : strlen(p);
        line_no++;
        if (len > 65536) { snprintf(err, errlen, "tasks line %d is longer than 64 KiB", line_no); goto fail; }
        char *line = malloc(len + 1);
        if (!line) { snprintf(err, errlen, "out of memory"); goto fail; }
        memcpy(line, p, len);
        line[len] = 0;
        p += len + (e ? 1 : 0);
        int blank = 1;
        for (size_t i = 0; i < len; i++) blank &= isspace((unsigned char)line[i]) != 0;
        if (blank) { free(line); continue; }
        int oom = 0;
        ember_task task = {field(line, "prompt", &oom), field(line, "answer", &oom), field(line, "stop", &oom),
                           field(line, "kind", &oom)};
        free(line);
        if (!oom && !task.stop) oom = !(task.stop = strdup("\n"));
        if (!oom && !task.kind) oom = !(task.kind = strdup("task"));
        if (!oom && n == cap) {
            const int ncap = cap ? cap * 2 : 64;
            ember_task *nt = realloc(t, (size_t)ncap * sizeof *nt);
            if (nt) t = nt, cap = ncap;
            else oom = 1;
        }
        if (oom || !task.prompt || !task.answer) {
            free(task.prompt); free(task.answer); free(task.stop); free(task.kind);
            if (oom) snprintf(err, errlen, "out of memory");
            else snprintf(err, errlen, "tasks line %d: needs string fields \"prompt\" and \"answer\"", line_no);
            goto fail;
        }
        t[n++] = task;
    }
    if (!n) { snprintf(err, errlen, "no tasks in the file"); goto fail; }
    *out = t;
    *n_out = n;
    return 0;
fail:
    ember_tasks_free(t, n);
    return 2;
}

void ember_tasks_free(ember_task *t, int n) {
    for (int i = 0; t && i < n; i++) { free(t[i].prompt); free(t[i].answer); free(t[i].stop); free(t[i].kind); }
    free(t);
}

/* ---- checking ---------------------------------------------------------- */

static void normalise(const char *s, char *out, size_t cap) {
    size_t k = 0;
    int space = 1;
    for (; *s && k + 1 < cap; s++) {
        const unsigned char c = (unsigned char)*s;
        if (isspace(c) || c == ',') { if (!space) out[k++] = ' '; space = 1; continue; }
        out[k++] = (char)tolower(c);
        space = 0;
    }
    while (k && out[k - 1] == ' ') k--;
    out[k] = 0;
}

int ember_task_correct(const ember_task *t, const char *generated) {
    char got[2048], want[1024];
    normalise(generated, got, sizeof got);
    normalise(t->answer, want, sizeof want);
    if (!*want) return 0;
    /* numeric tasks: the first number-like word must be the answer */
    if (!strcmp(t->kind, "arithmetic") || !strcmp(t->kind, "counting")) {
        const char *p = got;
        while (*p && !isdigit((unsigned char)*p)) p++;
        return !strncmp(p, want, strlen(want)) && !isdigit((unsigned char)p[strlen(want)]);
    }
    if (!strcmp(t->kind, "continuation")) {
        /* a small model rarely recites a whole verse: the first four words
         * of the true continuation must come first */
        size_t k = 0;
        for (int words = 0; want[k] && words < 4; k++)
            if (want[k] == ' ' && ++words == 4) break;
        return !strncmp(got, want, k) && (got[k] == 0 || got[k] == ' ' || want[k] == 0);
    }
    return !strncmp(got, want, strlen(want));
}

int ember_is_looping(const int32_t *toks, int n) {
    /* the last 8-gram already occurred twice before: the model repeats itself */
    const int g = 8;
    if (n < 3 * g) return 0;
    const int32_t *tail = toks + n - g;
    int seen = 0;
    for (int i = 0; i + g < n; i++)
        if (!memcmp(toks + i, tail, (size_t)g * sizeof *toks) && ++seen >= 2) return 1;
    return 0;
}
