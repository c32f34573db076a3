/* A Jinja subset for chat templates: lexer -> tree -> evaluator.
 *
 * Covers what chat templates use: {{ }}, {% if/elif/else %}, {% for %} with
 * loop.* and loop filters ('for x in y if c'), {% set %} (also namespace
 * attributes and {% set x %}...{% endset %} blocks), {% macro %} with
 * default arguments, comments, whitespace control, Hugging Face's
 * trim_blocks + lstrip_blocks, literals, lists, dicts, slices with steps,
 * the usual operators, inline if, filters (trim, length, upper, lower,
 * capitalize, title, replace, default, first, last, join, string, int,
 * list, reverse, items, selectattr, rejectattr, map(attribute=), tojson
 * with indent), string methods (strip, split, replace, startswith, ...),
 * dict methods (get, items, keys, values) and tests (defined, none,
 * string, ...). Anything else is an error naming it. All memory comes from one arena freed at the end; steps, output
 * size, working memory and nesting are capped so hostile templates end quickly. */
#include "chat_template.h"
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_STEPS 2000000
#define MAX_OUT (8u << 20)
#define MAX_DEPTH 64
#define MAX_ARENA ((size_t)256 << 20)
/* Evaluation recurses once per level of the expression tree, and chains the
 * parser builds in loops (a + b + ..., x.a.b..., x|f|g...) or by recursion
 * (- - x) nest without bound: deeper trees fail instead of overflowing
 * the stack (about 1 KiB per level under ASan; server threads render). */
#define MAX_EVAL_DEPTH 512
/* macro calls nest at most this deep (each is several C frames) */
#define MAX_MACRO_DEPTH 32

/* ---- arena ---- */
typedef struct blk { struct blk *next; size_t used, cap; char data[]; } blk;

/* limit caps the blocks' total (0: none); over records that it was hit;
 * calls counts the allocations, fail_at makes that one fail (tests) */
typedef struct { blk *head; int oom, over; size_t total, limit; long calls, fail_at; } arena;

static _Atomic long test_fail_at, test_last_calls;

long ember_chat_test_fail_alloc(long n) {
    atomic_store(&test_fail_at, n > 0 ? n : 0);
    return atomic_load(&test_last_calls);
}

static void *alloc(arena *a, size_t n) {
    if (++a->calls == a->fail_at) { a->oom = 1; return NULL; }
    n = (n + 15) & ~(size_t)15;
    if (!a->head || a->head->used + n > a->head->cap) {
        const size_t cap = n > 65536 ? n : 65536;
        if (a->limit && (cap > a->limit || a->total > a->limit - cap)) { a->oom = a->over = 1; return NULL; }
        a->total += cap;
        blk *b = malloc(sizeof *b + cap);
        if (!b) { a->oom = 1; return NULL; }
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    memset(p, 0, n);
    return p;
}

static void arena_free(arena *a) {
    while (a->head) { blk *n = a->head->next; free(a->head); a->head = n; }
}

/* ---- values ---- */
typedef enum { V_UNDEF, V_NONE, V_BOOL, V_INT, V_STR, V_LIST, V_DICT, V_MACRO } vkind;
typedef struct list list;
typedef struct dict dict;
typedef struct {
    vkind k;
    long long i;
    const char *s;
    size_t n;
    list *l;
    dict *d;
    struct node *m; /* V_MACRO: its definition */
} value;
struct list { int n, cap; value *v; };
struct dict { int n, cap; const char **key; value *v; };

/* ---- tokens ---- */
typedef enum { T_TEXT, T_VAR, T_VAR_END, T_BLOCK, T_BLOCK_END, T_NAME, T_STR, T_INT, T_OP, T_EOF } tkind;
typedef struct { tkind k; const char *s; size_t n; long long i; int line; } token;

/* ---- tree ---- */
enum {
    N_LIST, N_TEXT, N_OUT, N_IF, N_FOR, N_SET, N_MACRO, N_LOOPCTL,
    E_LIT, E_NAME, E_ATTR, E_INDEX, E_SLICE, E_CALL, E_FILTER, E_TEST, E_BIN, E_NOT, E_NEG, E_COND, E_MKLIST, E_MKDICT
};
typedef struct node node;
struct node {
    int kind, line, op, neg;
    const char *s, *s2;
    size_t n;
    value lit;
    node *a, *b, *c;
    node **kid;
    const char **kw; /* keyword names of call arguments (NULL entries: positional) */
    int nk, ck;
};

typedef struct frame { const char *name; value v; struct frame *next; int mark; } frame;

typedef struct {
    arena ar;
    char *err;
    size_t err_size;
    int failed;
    token *tok;
    int nt, ct, p;
    long steps;
    int depth, eval_depth, macro_depth;
    int in_loop;  /* parsing a for body: break/continue allowed */
    int loop_ctl; /* 'b' or 'c' while a break/continue unwinds to its loop */
    char *out;
    size_t out_len, out_cap;
    frame *vars;
} R;

static int fail(R *r, int line, const char *fmt, ...) {
    if (r->failed) return -1;
    r->failed = 1;
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a failed allocation is the root cause of whatever failed after it
     * (some callers carry on with an empty value) */
    if (r->ar.over) snprintf(msg, sizeof msg, "needs more than %zu MiB of working memory", r->ar.limit >> 20);
    else if (r->ar.oom) snprintf(msg, sizeof msg, "out of memory");
    if (line > 0) snprintf(r->err, r->err_size, "chat template: %s at line %d", msg, line);
    else snprintf(r->err, r->err_size, "chat template: %s", msg);
    return -1;
}

static const char *dupn(R *r, const char *s, size_t n) {
    char *d = alloc(&r->ar, n + 1);
    if (!d) return "";
    memcpy(d, s, n);
    return d;
}

/* ---- lexer ---- */

static void push_tok(R *r, tkind k, const char *s, size_t n, int line) {
    if (r->nt == r->ct) {
        const int cap = r->ct ? 2 * r->ct : 256;
        token *t = realloc(r->tok, (size_t)cap * sizeof *t);
        if (!t) { fail(r, 0, "out of memory"); return; }
        r->tok = t;
        r->ct = cap;
    }
    r->tok[r->nt++] = (token){k, s, n, 0, line};
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

static void lex(R *r, const char *src) {
    size_t len = strlen(src);
    /* Jinja drops one trailing newline of the source (keep_trailing_newline
     * is off in Hugging Face's environment) */
    if (len && src[len - 1] == '\n') len -= len > 1 && src[len - 2] == '\r' ? 2 : 1;
    size_t i = 0;
    int line = 1, trim_next = 0 /* 1: one newline (trim_blocks), 2: all space ('-') */;
    while (i < len && !r->failed) {
        /* text up to the next tag */
        size_t j = i;
        while (j < len && !(src[j] == '{' && j + 1 < len && (src[j + 1] == '{' || src[j + 1] == '%' || src[j + 1] == '#'))) j++;
        size_t a = i, b = j;
        if (trim_next == 2) while (a < b && is_space(src[a])) a++;
        else if (trim_next == 1 && a < b && src[a] == '\n') a++;
        else if (trim_next == 1 && a + 1 < b && src[a] == '\r' && src[a + 1] == '\n') a += 2;
        trim_next = 0;
        if (j < len) {
            const char kind = src[j + 1];
            const int minus = j + 2 < len && src[j + 2] == '-', plus = j + 2 < len && src[j + 2] == '+';
            if (minus) while (b > a && is_space(src[b - 1])) b--;
            else if (kind != '{' && !plus) { /* lstrip_blocks: blanks between a line start and the tag */
                size_t k = j;
                while (k > 0 && (src[k - 1] == ' ' || src[k - 1] == '\t')) k--;
                if ((k == 0 || src[k - 1] == '\n') && k < b) b = k < a ? a : k;
            }
        }
        for (size_t k = i; k < j; k++) line += src[k] == '\n';
        if (b > a) push_tok(r, T_TEXT, src + a, b - a, line);
        if (j >= len) break;
        const char kind = src[j + 1];
        const int tag_line = line;
        i = j + 2;
        if (i < len && (src[i] == '-' || src[i] == '+')) i++;
        if (kind == '#') {
            const char *end = strstr(src + i, "#}");
            if (!end) { fail(r, tag_line, "unterminated comment"); return; }
            for (const char *q = src + i; q < end; q++) line += *q == '\n';
            trim_next = end > src + i && end[-1] == '-' ? 2 : 1;
            i = (size_t)(end - src) + 2;
            continue;
        }
        push_tok(r, kind == '{' ? T_VAR : T_BLOCK, NULL, 0, tag_line);
        const char close = kind == '{' ? '}' : '%';
        int braces = 0; /* open '{' of dict literals: "}}" inside them closes two, not the tag */
        for (;;) {
            while (i < len && is_space(src[i])) line += src[i++] == '\n';
            if (i >= len) { fail(r, tag_line, "unterminated tag"); return; }
            if ((close == '%' || !braces) &&
                ((src[i] == '-' && i + 2 < len && src[i + 1] == close && src[i + 2] == '}') ||
                 (src[i] == close && i + 1 < len && src[i + 1] == '}'))) {
                const int m = src[i] == '-';
                i += m ? 3 : 2;
                push_tok(r, kind == '{' ? T_VAR_END : T_BLOCK_END, NULL, 0, line);
                trim_next = m ? 2 : kind == '%' ? 1 : 0;
                break;
            }
            const char c = src[i];
            if (is_name0(c)) {
                size_t k = i;
                while (k < len && (is_name0(src[k]) || is_digit(src[k]))) k++;
                push_tok(r, T_NAME, src + i, k - i, line);
                i = k;
            } else if (is_digit(c)) {
                long long v = 0;
                size_t k = i;
                while (k < len && is_digit(src[k])) {
                    if (v > 100000000000000LL) { fail(r, line, "integer literal too large"); return; }
                    v = v * 10 + (src[k++] - '0');
                }
                if (k < len && src[k] == '.' && k + 1 < len && is_digit(src[k + 1])) { fail(r, line, "float literals are not supported"); return; }
                push_tok(r, T_INT, src + i, k - i, line);
                if (!r->failed) r->tok[r->nt - 1].i = v;
                i = k;
            } else if (c == '\'' || c == '"') {
                /* decode escapes into the arena, in a buffer the size of the
                 * literal (not of the rest of the template: that made many
                 * literals quadratic in memory) */
                size_t end = i + 1;
                while (end < len && src[end] != c) end += src[end] == '\\' && end + 1 < len ? 2 : 1;
                char *buf = alloc(&r->ar, end - i + 1);
                if (!buf) { fail(r, line, "out of memory"); return; }
                size_t k = i + 1, o = 0;
                while (k < len && src[k] != c) {
                    if (src[k] == '\\' && k + 1 < len) {
                        const char e = src[k + 1];
                        buf[o++] = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
                        k += 2;
                    } else {
                        line += src[k] == '\n';
                        buf[o++] = src[k++];
                    }
                }
                if (k >= len) { fail(r, tag_line, "unterminated string"); return; }
                push_tok(r, T_STR, buf, o, line);
                i = k + 1;
            } else {
                static const char *ops2[] = {"==", "!=", "<=", ">=", "//", "**"};
                size_t n = 1;
                for (int k = 0; k < 6; k++) if (i + 1 < len && src[i] == ops2[k][0] && src[i + 1] == ops2[k][1]) n = 2;
                if (n == 1 && !strchr("()[]{}.,:|+-*/%~<>=", c)) { fail(r, line, "unexpected character '%c'", c); return; }
                braces += c == '{' ? 1 : c == '}' && braces > 0 ? -1 : 0;
                push_tok(r, T_OP, src + i, n, line);
                i += n;
            }
        }
    }
    push_tok(r, T_EOF, NULL, 0, line);
}

/* ---- parser ---- */

/* the token k ahead; the final T_EOF repeats, so error paths that skip
 * ahead can never read past the array */
static token *at(R *r, int k) {
    const int i = r->p + k;
    return &r->tok[i < r->nt ? i : r->nt - 1];
}
static token *peek(R *r) { return at(r, 0); }
static int is_op(token *t, const char *op) { return t->k == T_OP && t->n == strlen(op) && !memcmp(t->s, op, t->n); }
static int is_name(token *t, const char *nm) { return t->k == T_NAME && t->n == strlen(nm) && !memcmp(t->s, nm, t->n); }

static node *mk(R *r, int kind, int line) {
    node *n = alloc(&r->ar, sizeof *n);
    if (!n) { fail(r, line, "out of memory"); return NULL; }
    n->kind = kind;
    n->line = line;
    return n;
}

static void add_kid(R *r, node *n, node *k, const char *kw) {
    if (!n) return;
    if (n->nk == n->ck) {
        const int cap = n->ck ? 2 * n->ck : 4;
        node **kids = alloc(&r->ar, (size_t)cap * sizeof *kids);
        const char **kws = alloc(&r->ar, (size_t)cap * sizeof *kws);
        if (!kids || !kws) { fail(r, n->line, "out of memory"); return; }
        if (n->nk) { memcpy(kids, n->kid, (size_t)n->nk * sizeof *kids); memcpy(kws, n->kw, (size_t)n->nk * sizeof *kws); }
        n->kid = kids;
        n->kw = kws;
        n->ck = cap;
    }
    n->kw[n->nk] = kw;
    n->kid[n->nk++] = k;
}

/* a name token (a variable, attribute, macro or test name) copied into
 * the arena; NULL (and the failure recorded) if the next token is none */
static const char *take_name(R *r, int line, const char *what) {
    if (peek(r)->k != T_NAME) { fail(r, line, "%s", what); return NULL; }
    const char *s = dupn(r, peek(r)->s, peek(r)->n);
    r->p++;
    return s;
}

static int expect_op(R *r, const char *op) {
    if (!is_op(peek(r), op)) return fail(r, peek(r)->line, "expected '%s'", op);
    r->p++;
    return 0;
}

static node *expr(R *r);

static node *call_args(R *r, node *n) {
    /* after '(' */
    while (!r->failed && !is_op(peek(r), ")")) {
        const char *kw = NULL;
        if (peek(r)->k == T_NAME && is_op(at(r, 1), "=")) {
            kw = dupn(r, peek(r)->s, peek(r)->n);
            r->p += 2;
        }
        add_kid(r, n, expr(r), kw);
        if (is_op(peek(r), ",")) r->p++;
        else if (!is_op(peek(r), ")")) { fail(r, peek(r)->line, "expected ',' or ')'"); return n; }
    }
    expect_op(r, ")");
    return n;
}

/* after '|': the filter and its arguments, applied to n */
static node *filter_node(R *r, node *n, token *t) {
    const char *name = take_name(r, t->line, "filter name expected");
    node *m = name ? mk(r, E_FILTER, t->line) : NULL;
    if (!m) return n;
    m->a = n;
    m->s = name;
    if (is_op(peek(r), "(")) { r->p++; call_args(r, m); }
    return m;
}

/* filters: 0 leaves '|' to the caller (a negation's operand: Jinja
 * filters '-1 | string' as (-1) | string) */
static node *primary_ex(R *r, int filters) {
    token *t = peek(r);
    if (r->failed) return NULL;
    if (++r->depth > MAX_DEPTH) { fail(r, t->line, "expression nested too deeply"); return NULL; }
    node *n = NULL;
    if (t->k == T_STR || t->k == T_INT) {
        n = mk(r, E_LIT, t->line);
        if (n) n->lit = t->k == T_STR ? (value){V_STR, 0, t->s, t->n, 0, 0} : (value){V_INT, t->i, 0, 0, 0, 0};
        r->p++;
        /* adjacent string literals concatenate */
        while (n && t->k == T_STR && peek(r)->k == T_STR) {
            token *u = peek(r);
            char *s = alloc(&r->ar, n->lit.n + u->n + 1);
            if (!s) break;
            memcpy(s, n->lit.s, n->lit.n);
            memcpy(s + n->lit.n, u->s, u->n);
            n->lit.s = s;
            n->lit.n += u->n;
            r->p++;
        }
    } else if (t->k == T_NAME) {
        r->p++;
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") || is_name(t, "False")) {
            n = mk(r, E_LIT, t->line);
            if (n) n->lit = (value){V_BOOL, t->s[0] == 't' || t->s[0] == 'T', 0, 0, 0, 0};
        } else if (is_name(t, "none") || is_name(t, "None")) {
            n = mk(r, E_LIT, t->line);
            if (n) n->lit.k = V_NONE;
        } else {
            n = mk(r, E_NAME, t->line);
            if (n) n->s = dupn(r, t->s, t->n);
        }
    } else if (is_op(t, "(")) {
        r->p++;
        n = expr(r);
        if (is_op(peek(r), ",")) { /* a tuple: a list here */
            node *m = mk(r, E_MKLIST, t->line);
            add_kid(r, m, n, NULL);
            while (!r->failed && is_op(peek(r), ",")) {
                r->p++;
                if (is_op(peek(r), ")")) break;
                add_kid(r, m, expr(r), NULL);
            }
            n = m;
        }
        expect_op(r, ")");
    } else if (is_op(t, "[")) {
        r->p++;
        n = mk(r, E_MKLIST, t->line);
        while (!r->failed && !is_op(peek(r), "]")) {
            add_kid(r, n, expr(r), NULL);
            if (is_op(peek(r), ",")) r->p++;
            else break;
        }
        expect_op(r, "]");
    } else if (is_op(t, "{")) {
        r->p++;
        n = mk(r, E_MKDICT, t->line);
        while (!r->failed && !is_op(peek(r), "}")) {
            add_kid(r, n, expr(r), NULL);
            expect_op(r, ":");
            add_kid(r, n, expr(r), NULL);
            if (is_op(peek(r), ",")) r->p++;
            else break;
        }
        expect_op(r, "}");
    } else {
        fail(r, t->line, t->k == T_EOF || t->k == T_VAR_END || t->k == T_BLOCK_END ? "expression expected" : "unexpected token '%.*s'",
             (int)t->n, t->s ? t->s : "");
        r->depth--;
        return NULL;
    }
    /* postfix: .attr  [index]  [a:b]  (args)  |filter  is test */
    for (;;) {
        if (r->failed) break;
        t = peek(r);
        if (is_op(t, ".")) {
            r->p++;
            const char *name = take_name(r, t->line, "attribute name expected");
            node *m = name ? mk(r, E_ATTR, t->line) : NULL;
            if (!m) break;
            m->a = n;
            m->s = name;
            n = m;
        } else if (is_op(t, "[")) {
            r->p++;
            node *m = mk(r, E_INDEX, t->line);
            if (!m) break;
            m->a = n;
            if (!is_op(peek(r), ":")) m->b = expr(r);
            if (is_op(peek(r), ":")) {
                r->p++;
                m->kind = E_SLICE;
                if (!is_op(peek(r), "]") && !is_op(peek(r), ":")) m->c = expr(r);
                if (is_op(peek(r), ":")) { /* step: kid[0] */
                    r->p++;
                    if (!is_op(peek(r), "]")) add_kid(r, m, expr(r), NULL);
                }
            }
            expect_op(r, "]");
            n = m;
        } else if (is_op(t, "(")) {
            r->p++;
            node *m = mk(r, E_CALL, t->line);
            if (!m) break;
            m->a = n;
            n = call_args(r, m);
        } else if (filters && is_op(t, "|")) {
            r->p++;
            n = filter_node(r, n, t);
        } else {
            break;
        }
    }
    r->depth--;
    return n;
}

static node *primary(R *r) { return primary_ex(r, 1); }

/* '-' chains bind tighter than filters, looser than attributes and calls */
static node *negation(R *r) {
    if (!is_op(peek(r), "-")) return primary_ex(r, 0);
    const int line = peek(r)->line;
    if (++r->depth > MAX_DEPTH) { fail(r, line, "expression nested too deeply"); return NULL; }
    r->p++;
    node *n = mk(r, E_NEG, line);
    if (n) n->a = negation(r);
    r->depth--;
    return n;
}

static node *unary(R *r) {
    if (!is_op(peek(r), "-")) return primary(r);
    node *n = negation(r);
    while (!r->failed && is_op(peek(r), "|")) {
        token *t = peek(r);
        r->p++;
        n = filter_node(r, n, t);
    }
    return n;
}

static node *binary(R *r, int level);

static node *bin_node(R *r, int op, node *a, node *b, int line) {
    node *n = mk(r, E_BIN, line);
    if (!n) return NULL;
    n->op = op;
    n->a = a;
    n->b = b;
    return n;
}

/* levels: 0 or, 1 and, 2 not, 3 compare/in/is, 4 ~, 5 + -, 6 * / // %.
 * The depth limit counts nested primaries (each parenthesis, list or call
 * argument) and chained prefixes ('not not ...', '- - ...'), not these
 * levels: eight levels per parenthesis stopped at 8 parentheses. */
static node *binary(R *r, int level) {
    if (r->failed) return NULL;
    node *n;
    if (level == 2) {
        if (is_name(peek(r), "not")) {
            const int line = peek(r)->line;
            r->p++;
            if (++r->depth > MAX_DEPTH) { fail(r, line, "expression nested too deeply"); return NULL; }
            n = mk(r, E_NOT, line);
            if (n) n->a = binary(r, 2);
            r->depth--;
        } else {
            n = binary(r, 3);
        }
        return n;
    }
    if (level == 7) return unary(r);
    n = binary(r, level + 1);
    for (;;) {
        if (r->failed) break;
        token *t = peek(r);
        int op = 0;
        if (level == 0 && is_name(t, "or")) op = 'o';
        else if (level == 1 && is_name(t, "and")) op = 'a';
        else if (level == 3) {
            if (is_op(t, "==")) op = 'E'; else if (is_op(t, "!=")) op = 'N';
            else if (is_op(t, "<=")) op = 'l'; else if (is_op(t, ">=")) op = 'g';
            else if (is_op(t, "<")) op = '<'; else if (is_op(t, ">")) op = '>';
            else if (is_name(t, "in")) op = 'i';
            else if (is_name(t, "not") && is_name(at(r, 1), "in")) { op = 'I'; r->p++; }
            else if (is_name(t, "is")) {
                r->p++;
                node *m = mk(r, E_TEST, t->line);
                if (!m) break;
                if (is_name(peek(r), "not")) { m->neg = 1; r->p++; }
                if (!(m->s = take_name(r, t->line, "test name expected after 'is'"))) break;
                m->a = n;
                if (is_op(peek(r), "(")) { r->p++; call_args(r, m); }
                n = m;
                continue;
            }
        } else if (level == 4 && is_op(t, "~")) op = '~';
        else if (level == 5 && (is_op(t, "+") || is_op(t, "-"))) op = t->s[0];
        else if (level == 6 && (is_op(t, "*") || is_op(t, "/") || is_op(t, "//") || is_op(t, "%"))) op = t->n == 2 ? 'D' : t->s[0];
        if (!op) break;
        r->p++;
        n = bin_node(r, op, n, binary(r, level == 3 ? 4 : level + 1), t->line);
    }
    return n;
}

static node *expr(R *r) {
    node *n = binary(r, 0);
    if (is_name(peek(r), "if")) { /* a if cond else b */
        const int line = peek(r)->line;
        r->p++;
        node *m = mk(r, E_COND, line);
        if (!m) return NULL;
        m->a = n;
        m->b = binary(r, 0);
        if (is_name(peek(r), "else")) { r->p++; m->c = expr(r); }
        return m;
    }
    return n;
}

static int block_is(R *r, const char *kw) {
    return peek(r)->k == T_BLOCK && is_name(at(r, 1), kw);
}

static int end_block(R *r) {
    if (peek(r)->k != T_BLOCK_END) return fail(r, peek(r)->line, "expected '%%}'");
    r->p++;
    return 0;
}

/* after a body: its {% end... %} tag */
static int close_tag(R *r, const char *end) {
    if (r->failed) return -1;
    if (!block_is(r, end)) return fail(r, peek(r)->line, "missing {%% %s %%}", end);
    r->p += 2;
    return end_block(r);
}

/* statements until one of the stop keywords opens a block */
static node *body(R *r, const char *const *stops) {
    node *list = mk(r, N_LIST, peek(r)->line);
    if (++r->depth > MAX_DEPTH) { fail(r, peek(r)->line, "blocks nested too deeply"); return list; }
    while (!r->failed) {
        token *t = peek(r);
        if (t->k == T_EOF) {
            if (stops) fail(r, t->line, "unexpected end of template (missing {%% %s %%})", stops[0]);
            break;
        }
        if (t->k == T_TEXT) {
            node *n = mk(r, N_TEXT, t->line);
            if (n) { n->s = t->s; n->n = t->n; }
            add_kid(r, list, n, NULL);
            r->p++;
            continue;
        }
        if (t->k == T_VAR) {
            r->p++;
            node *n = mk(r, N_OUT, t->line);
            if (n) n->a = expr(r);
            if (peek(r)->k != T_VAR_END) { fail(r, peek(r)->line, "expected '}}'"); break; }
            r->p++;
            add_kid(r, list, n, NULL);
            continue;
        }
        if (t->k != T_BLOCK) { fail(r, t->line, "unexpected token"); break; }
        token *kw = at(r, 1);
        int stop = 0;
        for (int i = 0; stops && stops[i]; i++) if (is_name(kw, stops[i])) stop = 1;
        if (stop) break;
        r->p += 2;
        if (is_name(kw, "if")) {
            node *n = mk(r, N_IF, t->line);
            static const char *const if_stops[] = {"endif", "elif", "else", NULL};
            add_kid(r, n, expr(r), NULL);
            end_block(r);
            add_kid(r, n, body(r, if_stops), NULL);
            while (!r->failed && block_is(r, "elif")) {
                r->p += 2;
                add_kid(r, n, expr(r), NULL);
                end_block(r);
                add_kid(r, n, body(r, if_stops), NULL);
            }
            if (!r->failed && block_is(r, "else")) {
                r->p += 2;
                end_block(r);
                static const char *const else_stops[] = {"endif", NULL};
                if (n) n->a = body(r, else_stops);
            }
            if (close_tag(r, "endif")) break;
            add_kid(r, list, n, NULL);
        } else if (is_name(kw, "for")) {
            node *n = mk(r, N_FOR, t->line);
            if (!n) break;
            if (!(n->s = take_name(r, t->line, "loop variable expected"))) break;
            if (is_op(peek(r), ",")) {
                r->p++;
                if (!(n->s2 = take_name(r, t->line, "loop variable expected"))) break;
            }
            if (!is_name(peek(r), "in")) { fail(r, t->line, "expected 'in'"); break; }
            r->p++;
            n->a = binary(r, 0); /* no inline-if: 'if' here is a loop filter */
            if (is_name(peek(r), "if")) { /* the filter: kid[0] */
                r->p++;
                add_kid(r, n, binary(r, 0), NULL);
            }
            end_block(r);
            static const char *const for_stops[] = {"endfor", "else", NULL};
            r->in_loop++;
            n->b = body(r, for_stops);
            r->in_loop--;
            if (!r->failed && block_is(r, "else")) {
                r->p += 2;
                end_block(r);
                static const char *const e_stops[] = {"endfor", NULL};
                n->c = body(r, e_stops);
            }
            if (close_tag(r, "endfor")) break;
            add_kid(r, list, n, NULL);
        } else if (is_name(kw, "set")) {
            node *n = mk(r, N_SET, t->line);
            if (!n) break;
            if (!(n->s = take_name(r, t->line, "variable name expected after 'set'"))) break;
            if (is_op(peek(r), ".")) {
                r->p++;
                if (!(n->s2 = take_name(r, t->line, "attribute name expected"))) break;
            }
            if (!n->s2 && peek(r)->k == T_BLOCK_END) { /* {% set x %}...{% endset %}: the text rendered */
                end_block(r);
                static const char *const set_stops[] = {"endset", NULL};
                n->b = body(r, set_stops);
                if (close_tag(r, "endset")) break;
                add_kid(r, list, n, NULL);
                continue;
            }
            if (!is_op(peek(r), "=")) { fail(r, t->line, "expected '=' after the variable"); break; }
            r->p++;
            n->a = expr(r);
            end_block(r);
            add_kid(r, list, n, NULL);
        } else if (is_name(kw, "break") || is_name(kw, "continue")) {
            if (!r->in_loop) { fail(r, t->line, "'%.*s' outside a loop", (int)kw->n, kw->s); break; }
            node *n = mk(r, N_LOOPCTL, t->line);
            if (n) n->op = kw->s[0];
            end_block(r);
            add_kid(r, list, n, NULL);
        } else if (is_name(kw, "macro")) {
            /* {% macro name(p, q=default) %}...{% endmacro %}: parameters as
             * kids (the default expression or NULL) named by kw */
            node *n = mk(r, N_MACRO, t->line);
            if (!n) break;
            if (!(n->s = take_name(r, t->line, "macro name expected"))) break;
            if (expect_op(r, "(")) break;
            while (!r->failed && !is_op(peek(r), ")")) {
                const char *pname = take_name(r, t->line, "macro parameter name expected");
                if (!pname) break;
                node *def = NULL;
                if (is_op(peek(r), "=")) { r->p++; def = expr(r); }
                add_kid(r, n, def, pname);
                if (is_op(peek(r), ",")) r->p++;
                else if (!is_op(peek(r), ")")) { fail(r, peek(r)->line, "expected ',' or ')'"); break; }
            }
            if (expect_op(r, ")")) break;
            end_block(r);
            static const char *const macro_stops[] = {"endmacro", NULL};
            const int in_loop = r->in_loop;
            r->in_loop = 0; /* a macro body is not inside the loop around its definition */
            n->b = body(r, macro_stops);
            r->in_loop = in_loop;
            if (close_tag(r, "endmacro")) break;
            add_kid(r, list, n, NULL);
        } else {
            fail(r, t->line, "unsupported tag '%.*s'", (int)kw->n, kw->s ? kw->s : "");
            break;
        }
    }
    r->depth--;
    return list;
}

/* ---- evaluation ---- */

static value V(vkind k) { value v = {k, 0, 0, 0, 0, 0, 0}; return v; }
static value vstr(const char *s, size_t n) { value v = V(V_STR); v.s = s; v.n = n; return v; }
static value vbool(int b) { value v = V(V_BOOL); v.i = b != 0; return v; }
static value vint(long long i) { value v = V(V_INT); v.i = i; return v; }

static int truthy(value v) {
    switch (v.k) {
    case V_BOOL: case V_INT: return v.i != 0;
    case V_STR: return v.n > 0;
    case V_LIST: return v.l->n > 0;
    case V_DICT: return v.d->n > 0;
    default: return 0;
    }
}

/* l, d: NULL when their new_list/new_dict ran out of memory, which
 * recorded the failure; the calls below then do nothing */
static int list_push(R *r, list *l, value v) {
    if (!l) return -1;
    if (l->n == l->cap) {
        const int cap = l->cap ? 2 * l->cap : 8;
        value *nv = alloc(&r->ar, (size_t)cap * sizeof *nv);
        if (!nv) return fail(r, 0, "out of memory");
        if (l->n) memcpy(nv, l->v, (size_t)l->n * sizeof *nv);
        l->v = nv;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

static value *dict_get(dict *d, const char *k, size_t kn) {
    if (!d) return NULL;
    for (int i = 0; i < d->n; i++) if (strlen(d->key[i]) == kn && !memcmp(d->key[i], k, kn)) return &d->v[i];
    return NULL;
}

static int dict_set(R *r, dict *d, const char *k, value v) {
    if (!d) return -1;
    value *p = dict_get(d, k, strlen(k));
    if (p) { *p = v; return 0; }
    if (d->n == d->cap) {
        const int cap = d->cap ? 2 * d->cap : 8;
        value *nv = alloc(&r->ar, (size_t)cap * sizeof *nv);
        const char **nk = alloc(&r->ar, (size_t)cap * sizeof *nk);
        if (!nv || !nk) return fail(r, 0, "out of memory");
        if (d->n) { memcpy(nv, d->v, (size_t)d->n * sizeof *nv); memcpy(nk, d->key, (size_t)d->n * sizeof *nk); }
        d->v = nv;
        d->key = nk;
        d->cap = cap;
    }
    d->key[d->n] = k;
    d->v[d->n++] = v;
    return 0;
}

static value new_list(R *r) { value v = V(V_LIST); v.l = alloc(&r->ar, sizeof *v.l); if (!v.l) { fail(r, 0, "out of memory"); v.k = V_NONE; } return v; }
static value new_dict(R *r) { value v = V(V_DICT); v.d = alloc(&r->ar, sizeof *v.d); if (!v.d) { fail(r, 0, "out of memory"); v.k = V_NONE; } return v; }

/* text form of a value ({{ }} and ~) */
static value to_str(R *r, value v) {
    char buf[32];
    switch (v.k) {
    case V_STR: return v;
    case V_INT: snprintf(buf, sizeof buf, "%lld", v.i); return vstr(dupn(r, buf, strlen(buf)), strlen(buf));
    case V_BOOL: return v.i ? vstr("True", 4) : vstr("False", 5);
    case V_NONE: return vstr("None", 4);
    case V_UNDEF: return vstr("", 0);
    default: fail(r, 0, "cannot print a list or mapping"); return vstr("", 0);
    }
}

static int equal(value a, value b) {
    if ((a.k == V_INT || a.k == V_BOOL) && (b.k == V_INT || b.k == V_BOOL)) return a.i == b.i;
    if (a.k != b.k) return 0;
    if (a.k == V_STR) return a.n == b.n && !memcmp(a.s, b.s, a.n);
    if (a.k == V_NONE || a.k == V_UNDEF) return 1;
    if (a.k == V_LIST) {
        if (a.l->n != b.l->n) return 0;
        for (int i = 0; i < a.l->n; i++) if (!equal(a.l->v[i], b.l->v[i])) return 0;
        return 1;
    }
    return a.d == b.d;
}

static value lookup(R *r, const char *name) {
    for (frame *f = r->vars; f; f = f->next) if (f->name && !strcmp(f->name, name)) return f->v;
    return V(V_UNDEF);
}

static void bind(R *r, const char *name, value v) {
    /* assignment goes to the innermost scope (a for body is one) */
    for (frame *f = r->vars; f && !f->mark; f = f->next)
        if (f->name && !strcmp(f->name, name)) { f->v = v; return; }
    frame *f = alloc(&r->ar, sizeof *f);
    if (!f) { fail(r, 0, "out of memory"); return; }
    f->name = name;
    f->v = v;
    f->next = r->vars;
    r->vars = f;
}

static value eval(R *r, node *n);

/* chars: the bytes to strip (Python's str.strip(chars)); not a string:
 * whitespace */
static int strip_this(char c, value chars) { return chars.k == V_STR ? memchr(chars.s, c, chars.n) != NULL : is_space(c); }

static value strip_set(value s, int left, int right, value chars) {
    size_t a = 0, b = s.n;
    if (left) while (a < b && strip_this(s.s[a], chars)) a++;
    if (right) while (b > a && strip_this(s.s[b - 1], chars)) b--;
    return vstr(s.s + a, b - a);
}

static value strip_chars(value s, int left, int right) { return strip_set(s, left, right, V(V_NONE)); }

static value change_case(R *r, value s, int up) {
    char *d = alloc(&r->ar, s.n + 1);
    if (!d) return s;
    for (size_t i = 0; i < s.n; i++) {
        const char c = s.s[i];
        d[i] = up ? (c >= 'a' && c <= 'z' ? (char)(c - 32) : c) : (c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
    }
    return vstr(d, s.n);
}

static value json_str(R *r, value s) {
    char *d = alloc(&r->ar, s.n * 6 + 3);
    if (!d) return s;
    size_t o = 0;
    d[o++] = '"';
    for (size_t i = 0; i < s.n; i++) {
        const unsigned char c = (unsigned char)s.s[i];
        const char *esc = c == '\n' ? "n" : c == '\r' ? "r" : c == '\t' ? "t" : c == '\b' ? "b" : c == '\f' ? "f" : NULL;
        if (c == '"' || c == '\\') d[o++] = '\\', d[o++] = (char)c;
        else if (esc) d[o++] = '\\', d[o++] = esc[0]; /* as Python's json.dumps */
        else if (c < 0x20) o += (size_t)snprintf(d + o, 7, "\\u%04x", c);
        else d[o++] = (char)c;
    }
    d[o++] = '"';
    return vstr(d, o);
}

static value eval_args(R *r, node *n, int i) { return i < n->nk ? eval(r, n->kid[i]) : V(V_UNDEF); }

static void exec(R *r, node *n);
static void emit(R *r, const char *s, size_t n);

/* The output written since start, taken back out of the output as a
 * string (block sets, macro calls and tojson write there, bounded by the
 * output cap, and keep the result) */
static value take_output(R *r, size_t start) {
    const size_t len = r->out_len - start;
    char *d = alloc(&r->ar, len + 1);
    if (d && len) memcpy(d, r->out + start, len);
    r->out_len = start;
    return d ? vstr(d, len) : vstr("", 0);
}

static value render_to_str(R *r, node *body) {
    const size_t start = r->out_len;
    exec(r, body);
    return take_output(r, start);
}

/* s.replace(old, new[, count]): the first count occurrences (all without) */
static value str_replace(R *r, int line, value s, value from, value to, value limit) {
    if (s.k != V_STR || from.k != V_STR || to.k != V_STR) return fail(r, line, "'replace' needs strings"), s;
    if (limit.k != V_UNDEF && limit.k != V_INT) return fail(r, line, "'replace' count must be an integer"), s;
    if (s.n > MAX_OUT) return fail(r, line, "string longer than %u bytes", MAX_OUT), s; /* keeps the bounds below exact */
    const size_t most = limit.k == V_INT && limit.i >= 0 ? (size_t)limit.i : SIZE_MAX;
    if (!from.n) { /* Python: new before each character and at the end */
        size_t chars = 1;
        for (size_t i = 0; i < s.n; i++) chars += ((unsigned char)s.s[i] & 0xC0) != 0x80;
        const size_t k = chars < most ? chars : most;
        if (to.n && k > (MAX_OUT - s.n) / to.n) return fail(r, line, "string longer than %u bytes", MAX_OUT), s;
        char *d = alloc(&r->ar, s.n + k * to.n + 1);
        if (!d) return s;
        size_t o = 0, done = 0;
        for (size_t i = 0; i <= s.n; i++) {
            if (done < k && (i == s.n || ((unsigned char)s.s[i] & 0xC0) != 0x80)) memcpy(d + o, to.s, to.n), o += to.n, done++;
            if (i < s.n) d[o++] = s.s[i];
        }
        return vstr(d, o);
    }
    size_t count = 0;
    for (size_t i = 0; i + from.n <= s.n && count < most;) {
        if (!memcmp(s.s + i, from.s, from.n)) count++, i += from.n;
        else i++;
    }
    if (!count) return s;
    if (to.n > from.n && (to.n - from.n) > (MAX_OUT - s.n) / count) return fail(r, line, "string longer than %u bytes", MAX_OUT), s;
    const size_t len = s.n - count * from.n + count * to.n;
    char *d = alloc(&r->ar, len + 1);
    if (!d) return s;
    size_t o = 0, done = 0;
    for (size_t i = 0; i < s.n;) {
        if (done < count && i + from.n <= s.n && !memcmp(s.s + i, from.s, from.n)) {
            memcpy(d + o, to.s, to.n);
            o += to.n;
            i += from.n;
            done++;
        } else d[o++] = s.s[i++];
    }
    return vstr(d, o);
}

/* s.split(sep[, maxsplit]) as Python's: by sep, or by runs of whitespace
 * (empty parts dropped) without one; at most maxsplit splits */
static value str_split(R *r, int line, value s, value sep, value limit) {
    if (sep.k == V_STR && !sep.n) return fail(r, line, "'split' with an empty separator"), V(V_UNDEF);
    if (limit.k != V_UNDEF && limit.k != V_INT) return fail(r, line, "'split' maxsplit must be an integer"), V(V_UNDEF);
    long long left = limit.k == V_INT && limit.i >= 0 ? limit.i : -1;
    value l = new_list(r);
    if (sep.k != V_STR) {
        for (size_t i = 0; i < s.n;) {
            while (i < s.n && is_space(s.s[i])) i++;
            if (i < s.n && !left) { list_push(r, l.l, vstr(s.s + i, s.n - i)); break; } /* the rest, as it is */
            const size_t a = i;
            while (i < s.n && !is_space(s.s[i])) i++;
            if (i > a) list_push(r, l.l, vstr(s.s + a, i - a)), left -= left > 0;
        }
        return l;
    }
    size_t a = 0;
    for (size_t i = 0; i + sep.n <= s.n && left;) {
        if (!memcmp(s.s + i, sep.s, sep.n)) { list_push(r, l.l, vstr(s.s + a, i - a)); i += sep.n; a = i; left -= left > 0; }
        else i++;
    }
    list_push(r, l.l, vstr(s.s + a, s.n - a));
    return l;
}

/* ASCII case changes, as Python's for these three (other bytes kept):
 * 'c' str.capitalize (the first character up, the rest down), 'p'
 * str.title (a letter after a non-letter up), 'j' Jinja's title filter (the
 * first character after a run of whitespace, '-', '(', '{', '[' or '<' up) */
static value str_title(R *r, value s, int mode) {
    char *d = alloc(&r->ar, s.n + 1);
    if (!d) return s;
    int start = 1;
    for (size_t i = 0; i < s.n; i++) {
        const char c = s.s[i];
        const int letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        const int sep = is_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
        const int up = mode == 'c' ? i == 0 : mode == 'p' ? letter && start : start && !sep;
        d[i] = up ? (c >= 'a' && c <= 'z' ? (char)(c - 32) : c) : (c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
        start = mode == 'p' ? !letter : sep;
    }
    return vstr(d, s.n);
}

/* which: 'i' items (key, value pairs), 'k' keys, 'v' values */
static value dict_view(R *r, value d, char which) {
    value l = new_list(r);
    for (int i = 0; i < d.d->n && !r->failed; i++) {
        const value key = vstr(d.d->key[i], strlen(d.d->key[i]));
        if (which == 'i') {
            value pair = new_list(r);
            list_push(r, pair.l, key);
            list_push(r, pair.l, d.d->v[i]);
            list_push(r, l.l, pair);
        } else list_push(r, l.l, which == 'k' ? key : d.d->v[i]);
    }
    return l;
}

/* item.a.b... (selectattr, map): undefined where a step is not a mapping */
static value attr_path(value v, value path) {
    if (path.k != V_STR) return V(V_UNDEF);
    size_t a = 0;
    while (a <= path.n) {
        size_t b = a;
        while (b < path.n && path.s[b] != '.') b++;
        if (v.k != V_DICT) return V(V_UNDEF);
        value *p = dict_get(v.d, path.s + a, b - a);
        if (!p) return V(V_UNDEF);
        v = *p;
        a = b + 1;
    }
    return v;
}

/* tojson: Python's json.dumps (separators ', ' and ': ', or ',' and ': '
 * with an indent), written to the output and taken back */
static void json_emit(R *r, value v, int indent, int level) {
    if (r->failed) return;
    if (level > 64) { fail(r, 0, "'tojson' of a value nested too deeply"); return; }
    if (v.k == V_STR) { value j = json_str(r, v); emit(r, j.s, j.n); return; }
    if (v.k == V_INT) { value j = to_str(r, v); emit(r, j.s, j.n); return; }
    if (v.k == V_BOOL) { emit(r, v.i ? "true" : "false", v.i ? 4 : 5); return; }
    if (v.k != V_LIST && v.k != V_DICT) { emit(r, "null", 4); return; }
    const int n = v.k == V_LIST ? v.l->n : v.d->n;
    emit(r, v.k == V_LIST ? "[" : "{", 1);
    for (int i = 0; i < n && !r->failed; i++) {
        if (i) emit(r, indent > 0 ? "," : ", ", indent > 0 ? 1 : 2);
        if (indent > 0) {
            emit(r, "\n", 1);
            for (int k = 0; k < indent * (level + 1); k++) emit(r, " ", 1);
        }
        if (v.k == V_DICT) {
            json_emit(r, vstr(v.d->key[i], strlen(v.d->key[i])), indent, level + 1);
            emit(r, ": ", 2);
        }
        json_emit(r, v.k == V_LIST ? v.l->v[i] : v.d->v[i], indent, level + 1);
    }
    if (indent > 0 && n) {
        emit(r, "\n", 1);
        for (int k = 0; k < indent * level; k++) emit(r, " ", 1);
    }
    emit(r, v.k == V_LIST ? "]" : "}", 1);
}

static value to_json(R *r, value v, int indent) {
    const size_t start = r->out_len;
    json_emit(r, v, indent, 0);
    return take_output(r, start);
}

static int test_value(R *r, int line, const char *t, value v, value arg, int *res);

static value filter(R *r, node *n) {
    value v = eval(r, n->a);
    const char *f = n->s;
    if (r->failed) return v;
    /* the string filters take any printable value as its text, as Jinja's do */
    const int text_filter = !strcmp(f, "trim") || !strcmp(f, "upper") || !strcmp(f, "lower") || !strcmp(f, "capitalize") ||
                            !strcmp(f, "title") || !strcmp(f, "replace");
    if (text_filter && v.k != V_STR) {
        if (v.k == V_LIST || v.k == V_DICT || v.k == V_MACRO) return fail(r, n->line, "'%s' needs a string", f), v;
        v = to_str(r, v);
    }
    if (!strcmp(f, "trim")) return strip_chars(v, 1, 1);
    if (!strcmp(f, "upper") || !strcmp(f, "lower")) return change_case(r, v, f[0] == 'u');
    if (!strcmp(f, "length") || !strcmp(f, "count")) {
        if (v.k == V_STR) return vint((long long)v.n);
        if (v.k == V_LIST) return vint(v.l->n);
        if (v.k == V_DICT) return vint(v.d->n);
        return fail(r, n->line, "'length' of a value without length"), v;
    }
    if (!strcmp(f, "default") || !strcmp(f, "d")) {
        const int boolean = n->nk > 1 && truthy(eval(r, n->kid[1]));
        return (v.k == V_UNDEF || (boolean && !truthy(v))) ? eval_args(r, n, 0) : v;
    }
    if (!strcmp(f, "first") || !strcmp(f, "last")) {
        if (v.k != V_LIST) return fail(r, n->line, "'%s' needs a list", f), v;
        return v.l->n ? v.l->v[f[0] == 'f' ? 0 : v.l->n - 1] : V(V_UNDEF);
    }
    if (!strcmp(f, "string")) return to_str(r, v);
    if (!strcmp(f, "safe")) return v;
    if (!strcmp(f, "int")) {
        if (v.k == V_INT || v.k == V_BOOL) return vint(v.i);
        if (v.k == V_STR) return vint(strtoll(dupn(r, v.s, v.n), NULL, 10));
        return vint(0);
    }
    if (!strcmp(f, "join")) {
        if (v.k != V_LIST) return fail(r, n->line, "'join' needs a list"), v;
        value sep = n->nk ? to_str(r, eval(r, n->kid[0])) : vstr("", 0);
        size_t len = 0;
        for (int i = 0; i < v.l->n; i++) len += to_str(r, v.l->v[i]).n + sep.n;
        if (len > MAX_OUT) return fail(r, n->line, "string longer than %u bytes", MAX_OUT), v;
        char *d = alloc(&r->ar, len + 1);
        if (!d) return v;
        size_t o = 0;
        for (int i = 0; i < v.l->n; i++) {
            value s = to_str(r, v.l->v[i]);
            if (i) memcpy(d + o, sep.s, sep.n), o += sep.n;
            memcpy(d + o, s.s, s.n);
            o += s.n;
        }
        return vstr(d, o);
    }
    if (!strcmp(f, "tojson")) {
        value ind = V(V_UNDEF);
        for (int i = 0; i < n->nk; i++)
            if (n->kw[i] && !strcmp(n->kw[i], "indent")) ind = eval(r, n->kid[i]);
        if (ind.k != V_UNDEF && ind.k != V_NONE && ind.k != V_INT) return fail(r, n->line, "'tojson' indent must be an integer"), v;
        return to_json(r, v, ind.k == V_INT ? (int)(ind.i < 0 ? 0 : ind.i > 16 ? 16 : ind.i) : 0);
    }
    if (!strcmp(f, "replace")) {
        value from = eval_args(r, n, 0), to = eval_args(r, n, 1);
        if (from.k != V_STR && from.k != V_LIST && from.k != V_DICT) from = to_str(r, from);
        if (to.k != V_STR && to.k != V_LIST && to.k != V_DICT) to = to_str(r, to);
        return str_replace(r, n->line, v, from, to, eval_args(r, n, 2));
    }
    if (!strcmp(f, "capitalize") || !strcmp(f, "title")) return str_title(r, v, f[0] == 't' ? 'j' : 'c');
    /* undefined iterates as nothing in Jinja; select/reject/map also take
     * none (anything false) as nothing */
    const int select = !strcmp(f, "selectattr") || !strcmp(f, "rejectattr") || !strcmp(f, "map");
    if ((v.k == V_UNDEF && (select || !strcmp(f, "list") || !strcmp(f, "reverse"))) || (select && v.k == V_NONE)) return new_list(r);
    if (!strcmp(f, "items")) {
        if (v.k != V_DICT) return fail(r, n->line, "'items' needs a mapping"), v;
        return dict_view(r, v, 'i');
    }
    if (!strcmp(f, "list") || !strcmp(f, "reverse")) {
        if (v.k == V_DICT) v = dict_view(r, v, 'k');
        if (v.k == V_STR) { /* characters (UTF-8 sequences kept whole) */
            value l = new_list(r);
            for (size_t i = 0; i < v.n;) {
                size_t k = 1;
                while (i + k < v.n && ((unsigned char)v.s[i + k] & 0xC0) == 0x80) k++;
                list_push(r, l.l, vstr(v.s + i, k));
                i += k;
            }
            v = l;
        }
        if (v.k != V_LIST) return fail(r, n->line, "'%s' needs a list, string or mapping", f), v;
        if (f[0] == 'l') return v;
        value l = new_list(r);
        for (int i = v.l->n - 1; i >= 0; i--) list_push(r, l.l, v.l->v[i]);
        return l;
    }
    if (!strcmp(f, "selectattr") || !strcmp(f, "rejectattr")) {
        /* selectattr(attr[, test[, arg]]): items whose attribute passes the
         * test (truthy without one) */
        if (v.k != V_LIST) return fail(r, n->line, "'%s' needs a list", f), v;
        const value attr = eval_args(r, n, 0), tname = eval_args(r, n, 1), arg = eval_args(r, n, 2);
        if (attr.k != V_STR || (n->nk > 1 && tname.k != V_STR)) return fail(r, n->line, "'%s' needs an attribute name and a test name", f), v;
        char tn[32] = "";
        if (n->nk > 1) {
            if (tname.n >= sizeof tn) return fail(r, n->line, "unsupported test '%.*s'", (int)(tname.n > 40 ? 40 : tname.n), tname.s), v;
            memcpy(tn, tname.s, tname.n);
            tn[tname.n] = 0;
        }
        value l = new_list(r);
        for (int i = 0; i < v.l->n && !r->failed; i++) {
            const value a = attr_path(v.l->v[i], attr);
            int res = truthy(a);
            if (n->nk > 1 && test_value(r, n->line, tn, a, arg, &res)) break;
            if (res == (f[0] == 's')) list_push(r, l.l, v.l->v[i]);
        }
        return l;
    }
    if (!strcmp(f, "map")) {
        /* map(attribute='a.b'); map('lower'|'upper'|'trim'|'string') */
        if (v.k != V_LIST) return fail(r, n->line, "'map' needs a list"), v;
        const value a = eval_args(r, n, 0);
        const int by_attr = n->nk && n->kw[0] && !strcmp(n->kw[0], "attribute");
        if (!by_attr && n->nk && n->kw[0]) return fail(r, n->line, "'map' takes attribute= or a filter name"), v;
        if (a.k != V_STR) return fail(r, n->line, "'map' needs attribute= or a filter name"), v;
        const int fl = by_attr ? 0 : a.n == 5 && !memcmp(a.s, "lower", 5) ? 'l' : a.n == 5 && !memcmp(a.s, "upper", 5) ? 'u'
                                   : a.n == 4 && !memcmp(a.s, "trim", 4) ? 't' : a.n == 6 && !memcmp(a.s, "string", 6) ? 's' : -1;
        if (fl < 0) return fail(r, n->line, "'map' with filter '%.*s' is not supported", (int)(a.n > 40 ? 40 : a.n), a.s), v;
        value l = new_list(r);
        for (int i = 0; i < v.l->n && !r->failed; i++) {
            value x = v.l->v[i];
            if (by_attr) x = attr_path(x, a);
            else if (fl == 's' || x.k != V_STR) x = to_str(r, x);
            if (fl == 'l' || fl == 'u') x = change_case(r, x, fl == 'u');
            else if (fl == 't') x = strip_chars(x, 1, 1);
            list_push(r, l.l, x);
        }
        return l;
    }
    fail(r, n->line, "unsupported filter '%s'", f);
    return v;
}

/* the test named t of v (arg: equalto's operand) into *res; -1 if unknown */
static int test_value(R *r, int line, const char *t, value v, value arg, int *res) {
    if (!strcmp(t, "defined")) *res = v.k != V_UNDEF;
    else if (!strcmp(t, "undefined")) *res = v.k == V_UNDEF;
    else if (!strcmp(t, "none")) *res = v.k == V_NONE;
    else if (!strcmp(t, "string")) *res = v.k == V_STR;
    else if (!strcmp(t, "number")) *res = v.k == V_INT || v.k == V_BOOL; /* Jinja: a bool is a number, not an integer */
    else if (!strcmp(t, "integer")) *res = v.k == V_INT;
    else if (!strcmp(t, "boolean")) *res = v.k == V_BOOL;
    else if (!strcmp(t, "mapping")) *res = v.k == V_DICT;
    else if (!strcmp(t, "sequence") || !strcmp(t, "iterable")) *res = v.k == V_LIST || v.k == V_STR || (t[0] == 'i' && v.k == V_DICT);
    else if (!strcmp(t, "true") || !strcmp(t, "false")) *res = v.k == V_BOOL && v.i == (t[0] == 't');
    else if (!strcmp(t, "even") || !strcmp(t, "odd")) *res = v.k == V_INT && (v.i % 2 == 0) == (t[0] == 'e');
    else if (!strcmp(t, "equalto") || !strcmp(t, "eq") || !strcmp(t, "==")) *res = equal(v, arg);
    else if (!strcmp(t, "ne") || !strcmp(t, "!=")) *res = !equal(v, arg);
    else return fail(r, line, "unsupported test '%s'", t);
    return 0;
}

static value test(R *r, node *n) {
    value v = eval(r, n->a);
    int res = 0;
    test_value(r, n->line, n->s, v, eval_args(r, n, 0), &res);
    return vbool(n->neg ? !res : res);
}

static value method(R *r, node *n, value obj, const char *m) {
    if (obj.k == V_STR) {
        if (!strcmp(m, "strip")) return strip_set(obj, 1, 1, eval_args(r, n, 0));
        if (!strcmp(m, "lstrip")) return strip_set(obj, 1, 0, eval_args(r, n, 0));
        if (!strcmp(m, "rstrip")) return strip_set(obj, 0, 1, eval_args(r, n, 0));
        if (!strcmp(m, "upper") || !strcmp(m, "lower")) return change_case(r, obj, m[0] == 'u');
        if (!strcmp(m, "title") || !strcmp(m, "capitalize")) return str_title(r, obj, m[0] == 't' ? 'p' : 'c');
        if (!strcmp(m, "split")) return str_split(r, n->line, obj, eval_args(r, n, 0), eval_args(r, n, 1));
        if (!strcmp(m, "replace")) return str_replace(r, n->line, obj, eval_args(r, n, 0), eval_args(r, n, 1), eval_args(r, n, 2));
        if (!strcmp(m, "startswith") || !strcmp(m, "endswith")) {
            value a = eval_args(r, n, 0);
            if (a.k != V_STR) return fail(r, n->line, "'%s' needs a string argument", m), vbool(0);
            if (a.n > obj.n) return vbool(0);
            return vbool(!memcmp(m[0] == 's' ? obj.s : obj.s + obj.n - a.n, a.s, a.n));
        }
    }
    if (obj.k == V_DICT && !strcmp(m, "get")) {
        value k = eval_args(r, n, 0);
        value *p = k.k == V_STR ? dict_get(obj.d, k.s, k.n) : NULL;
        return p ? *p : n->nk > 1 ? eval(r, n->kid[1]) : V(V_NONE);
    }
    if (obj.k == V_DICT && (!strcmp(m, "items") || !strcmp(m, "keys") || !strcmp(m, "values")))
        return dict_view(r, obj, m[0]); /* 'i', 'k', 'v' */
    fail(r, n->line, "unsupported method '%s'", m);
    return V(V_UNDEF);
}

/* Binds the macro's parameters (positional, then by name, then defaults,
 * else undefined) over the caller's variables and renders its body. */
static value call_macro(R *r, node *n, node *m) {
    if (r->macro_depth >= MAX_MACRO_DEPTH) return fail(r, n->line, "macro calls nested too deeply"), V(V_UNDEF);
    value *args = alloc(&r->ar, (size_t)(m->nk + 1) * sizeof *args);
    char *given = alloc(&r->ar, (size_t)m->nk + 1);
    if (!args || !given) return fail(r, n->line, "out of memory"), V(V_UNDEF);
    int pos = 0;
    for (int i = 0; i < n->nk && !r->failed; i++) {
        int k = -1;
        if (!n->kw[i]) k = pos < m->nk ? pos++ : -1;
        else
            for (int j = 0; j < m->nk; j++) if (!strcmp(m->kw[j], n->kw[i])) k = j;
        if (k < 0) return fail(r, n->line, n->kw[i] ? "macro '%s' has no parameter '%s'" : "too many arguments for macro '%s'", m->s, n->kw[i]), V(V_UNDEF);
        args[k] = eval(r, n->kid[i]);
        given[k] = 1;
    }
    for (int j = 0; j < m->nk && !r->failed; j++)
        if (!given[j]) args[j] = m->kid[j] ? eval(r, m->kid[j]) : V(V_UNDEF);
    frame *saved = r->vars, *mark = alloc(&r->ar, sizeof *mark);
    if (!mark || r->failed) return fail(r, n->line, "out of memory"), V(V_UNDEF);
    mark->mark = 1;
    mark->next = saved;
    r->vars = mark;
    for (int j = 0; j < m->nk; j++) bind(r, m->kw[j], args[j]);
    r->macro_depth++;
    const value out = render_to_str(r, m->b);
    r->macro_depth--;
    r->vars = saved;
    return out;
}

static value call(R *r, node *n) {
    if (n->a->kind == E_ATTR) return method(r, n, eval(r, n->a->a), n->a->s);
    if (n->a->kind != E_NAME) return fail(r, n->line, "only functions and methods can be called"), V(V_UNDEF);
    const char *f = n->a->s;
    if (!strcmp(f, "raise_exception")) {
        value msg = to_str(r, eval_args(r, n, 0));
        fail(r, 0, "%.*s", (int)(msg.n > 150 ? 150 : msg.n), msg.s);
        return V(V_UNDEF);
    }
    if (!strcmp(f, "namespace")) {
        value d = new_dict(r);
        for (int i = 0; i < n->nk && !r->failed; i++) {
            if (!n->kw[i]) return fail(r, n->line, "namespace() takes keyword arguments"), d;
            dict_set(r, d.d, n->kw[i], eval(r, n->kid[i]));
        }
        return d;
    }
    if (!strcmp(f, "range")) {
        value a = eval_args(r, n, 0), b = eval_args(r, n, 1);
        long long lo = 0, hi = a.i;
        if (n->nk > 1) lo = a.i, hi = b.i;
        if (a.k != V_INT || (n->nk > 1 && b.k != V_INT)) return fail(r, n->line, "range() needs integers"), V(V_UNDEF);
        if (hi - lo > 100000) return fail(r, n->line, "range() too long"), V(V_UNDEF);
        value l = new_list(r);
        for (long long i = lo; i < hi && !r->failed; i++) list_push(r, l.l, vint(i));
        return l;
    }
    const value mv = lookup(r, f);
    if (mv.k == V_MACRO) return call_macro(r, n, mv.m);
    fail(r, n->line, "unsupported function '%s'", f);
    return V(V_UNDEF);
}

static value binop(R *r, node *n) {
    const int op = n->op;
    value a = eval(r, n->a);
    if (op == 'o') return truthy(a) ? a : eval(r, n->b);
    if (op == 'a') return !truthy(a) ? a : eval(r, n->b);
    value b = eval(r, n->b);
    if (r->failed) return a;
    switch (op) {
    case 'E': return vbool(equal(a, b));
    case 'N': return vbool(!equal(a, b));
    case 'i': case 'I': {
        int in = 0;
        if (b.k == V_STR && a.k == V_STR) {
            for (size_t i = 0; !in && i + a.n <= b.n; i++) in = !memcmp(b.s + i, a.s, a.n);
        } else if (b.k == V_LIST) {
            for (int i = 0; !in && i < b.l->n; i++) in = equal(a, b.l->v[i]);
        } else if (b.k == V_DICT && a.k == V_STR) {
            in = dict_get(b.d, a.s, a.n) != NULL;
        } else if (b.k != V_UNDEF) {
            return fail(r, n->line, "'in' needs a string, list or mapping"), vbool(0);
        }
        return vbool(op == 'i' ? in : !in);
    }
    case '~': {
        value x = to_str(r, a), y = to_str(r, b);
        if (x.n + y.n > MAX_OUT) return fail(r, n->line, "string longer than %u bytes", MAX_OUT), a;
        char *d = alloc(&r->ar, x.n + y.n + 1);
        if (!d) return x;
        memcpy(d, x.s, x.n);
        memcpy(d + x.n, y.s, y.n);
        return vstr(d, x.n + y.n);
    }
    case '+':
        if (a.k == V_STR && b.k == V_STR) {
            if (a.n + b.n > MAX_OUT) return fail(r, n->line, "string longer than %u bytes", MAX_OUT), a;
            char *d = alloc(&r->ar, a.n + b.n + 1);
            if (!d) return a;
            memcpy(d, a.s, a.n);
            memcpy(d + a.n, b.s, b.n);
            return vstr(d, a.n + b.n);
        }
        if (a.k == V_LIST && b.k == V_LIST) {
            value l = new_list(r);
            for (int i = 0; i < a.l->n; i++) list_push(r, l.l, a.l->v[i]);
            for (int i = 0; i < b.l->n; i++) list_push(r, l.l, b.l->v[i]);
            return l;
        }
        break;
    default: break;
    }
    const int num = (a.k == V_INT || a.k == V_BOOL) && (b.k == V_INT || b.k == V_BOOL);
    if (op == '<' || op == '>' || op == 'l' || op == 'g') {
        int c;
        if (num) c = a.i < b.i ? -1 : a.i > b.i;
        else if (a.k == V_STR && b.k == V_STR) {
            const size_t m = a.n < b.n ? a.n : b.n;
            c = memcmp(a.s, b.s, m);
            if (!c) c = a.n < b.n ? -1 : a.n > b.n;
        } else return fail(r, n->line, "cannot compare these values"), vbool(0);
        return vbool(op == '<' ? c < 0 : op == '>' ? c > 0 : op == 'l' ? c <= 0 : c >= 0);
    }
    if (!num) return fail(r, n->line, "operator '%c' needs numbers (or two strings for '+')", op == 'D' ? '/' : op), V(V_UNDEF);
    if ((op == '/' || op == 'D' || op == '%') && b.i == 0) return fail(r, n->line, "division by zero"), V(V_UNDEF);
    switch (op) {
    case '+': return vint(a.i + b.i);
    case '-': return vint(a.i - b.i);
    case '*': return vint(a.i * b.i);
    case '/': if (a.i % b.i) return fail(r, n->line, "non-integer division is not supported"), V(V_UNDEF); return vint(a.i / b.i);
    case 'D': return vint(a.i / b.i - ((a.i % b.i != 0) && ((a.i < 0) != (b.i < 0))));
    case '%': { long long m = a.i % b.i; if (m && ((m < 0) != (b.i < 0))) m += b.i; return vint(m); }
    }
    return V(V_UNDEF);
}

static value eval_node(R *r, node *n);

static value eval(R *r, node *n) {
    if (!n || r->failed) return V(V_UNDEF);
    if (r->eval_depth >= MAX_EVAL_DEPTH) { fail(r, n->line, "expression nested too deeply"); return V(V_UNDEF); }
    r->eval_depth++;
    const value v = eval_node(r, n);
    r->eval_depth--;
    return v;
}

static value eval_node(R *r, node *n) {
    if (++r->steps > MAX_STEPS) { fail(r, n->line, "template takes too many steps"); return V(V_UNDEF); }
    if (r->ar.over) { fail(r, n->line, "memory"); return V(V_UNDEF); }
    switch (n->kind) {
    case E_LIT: return n->lit;
    case E_NAME: return lookup(r, n->s);
    case E_ATTR: case E_INDEX: {
        value o = eval(r, n->a);
        if (n->kind == E_ATTR || (n->b && o.k == V_DICT)) {
            value k = n->kind == E_ATTR ? vstr(n->s, strlen(n->s)) : eval(r, n->b);
            if (o.k == V_DICT && k.k == V_STR) { value *p = dict_get(o.d, k.s, k.n); return p ? *p : V(V_UNDEF); }
            if (o.k == V_UNDEF || o.k == V_NONE || n->kind == E_ATTR) return V(V_UNDEF);
            return fail(r, n->line, "bad mapping key"), V(V_UNDEF);
        }
        value i = eval(r, n->b);
        if (i.k != V_INT) return o.k == V_UNDEF ? V(V_UNDEF) : (fail(r, n->line, "index must be an integer"), V(V_UNDEF));
        long long len = o.k == V_LIST ? o.l->n : o.k == V_STR ? (long long)o.n : -1;
        if (len < 0) return V(V_UNDEF);
        long long k = i.i < 0 ? i.i + len : i.i;
        if (k < 0 || k >= len) return V(V_UNDEF);
        return o.k == V_LIST ? o.l->v[k] : vstr(o.s + k, 1);
    }
    case E_SLICE: { /* Python's slice rules; a step (kid[0]) for lists */
        value o = eval(r, n->a);
        const long long len = o.k == V_LIST ? o.l->n : o.k == V_STR ? (long long)o.n : -1;
        if (len < 0) return fail(r, n->line, "slice of a value that is not a list or string"), V(V_UNDEF);
        value lo = n->b ? eval(r, n->b) : V(V_NONE), hi = n->c ? eval(r, n->c) : V(V_NONE), st = n->nk ? eval(r, n->kid[0]) : vint(1);
        if ((lo.k != V_NONE && lo.k != V_INT) || (hi.k != V_NONE && hi.k != V_INT) || st.k != V_INT)
            return fail(r, n->line, "slice bounds must be integers"), V(V_UNDEF);
        if (st.i == 0) return fail(r, n->line, "slice step cannot be zero"), V(V_UNDEF);
        if (st.i != 1 && o.k == V_STR) return fail(r, n->line, "string slices with a step are not supported"), V(V_UNDEF);
        const long long step = st.i;
        long long a, b; /* first index, and the bound it walks to (exclusive) */
        if (step > 0) {
            a = lo.k == V_NONE ? 0 : lo.i < 0 ? lo.i + len : lo.i;
            b = hi.k == V_NONE ? len : hi.i < 0 ? hi.i + len : hi.i;
            a = a < 0 ? 0 : a > len ? len : a;
            b = b < a ? a : b > len ? len : b;
        } else {
            a = lo.k == V_NONE ? len - 1 : lo.i < 0 ? lo.i + len : lo.i;
            b = hi.k == V_NONE ? -1 : hi.i < 0 ? hi.i + len : hi.i;
            a = a < -1 ? -1 : a > len - 1 ? len - 1 : a;
            b = b < -1 ? -1 : b > len - 1 ? len - 1 : b;
        }
        if (o.k == V_STR) return vstr(o.s + a, (size_t)(b - a));
        value l = new_list(r);
        for (long long i = a; step > 0 ? i < b : i > b; i += step) list_push(r, l.l, o.l->v[i]);
        return l;
    }
    case E_CALL: return call(r, n);
    case E_FILTER: return filter(r, n);
    case E_TEST: return test(r, n);
    case E_BIN: return binop(r, n);
    case E_NOT: return vbool(!truthy(eval(r, n->a)));
    case E_NEG: { value v = eval(r, n->a); if (v.k != V_INT) return fail(r, n->line, "'-' needs a number"), v; return vint(-v.i); }
    case E_COND: return truthy(eval(r, n->b)) ? eval(r, n->a) : n->c ? eval(r, n->c) : V(V_UNDEF);
    case E_MKLIST: { value l = new_list(r); for (int i = 0; i < n->nk; i++) list_push(r, l.l, eval(r, n->kid[i])); return l; }
    case E_MKDICT: {
        value d = new_dict(r);
        for (int i = 0; i + 1 < n->nk && !r->failed; i += 2) {
            value k = eval(r, n->kid[i]);
            if (k.k != V_STR) return fail(r, n->line, "mapping keys must be strings"), d;
            dict_set(r, d.d, dupn(r, k.s, k.n), eval(r, n->kid[i + 1]));
        }
        return d;
    }
    }
    return fail(r, n->line, "internal: bad expression"), V(V_UNDEF);
}

static void emit(R *r, const char *s, size_t n) {
    if (r->failed || !n) return;
    if (r->out_len + n + 1 > MAX_OUT) { fail(r, 0, "output larger than %u bytes", MAX_OUT); return; }
    if (r->out_len + n + 1 > r->out_cap) {
        size_t cap = r->out_cap ? r->out_cap : 1024;
        while (cap < r->out_len + n + 1) cap *= 2;
        char *o = realloc(r->out, cap);
        if (!o) { fail(r, 0, "out of memory"); return; }
        r->out = o;
        r->out_cap = cap;
    }
    memcpy(r->out + r->out_len, s, n);
    r->out_len += n;
}

static void exec(R *r, node *n);

/* the loop variable(s) of a for node for one item */
static int bind_loop_vars(R *r, node *n, value item) {
    if (!n->s2) { bind(r, n->s, item); return 0; }
    if (item.k != V_LIST || item.l->n != 2) return fail(r, n->line, "cannot unpack into two loop variables");
    bind(r, n->s, item.l->v[0]);
    bind(r, n->s2, item.l->v[1]);
    return 0;
}

static void exec_list(R *r, node *list) {
    for (int i = 0; list && i < list->nk && !r->failed && !r->loop_ctl; i++) exec(r, list->kid[i]);
}

static void exec(R *r, node *n) {
    if (!n || r->failed) return;
    if (++r->steps > MAX_STEPS) { fail(r, n->line, "template takes too many steps"); return; }
    if (r->ar.over) { fail(r, n->line, "memory"); return; }
    switch (n->kind) {
    case N_LIST: exec_list(r, n); return;
    case N_TEXT: emit(r, n->s, n->n); return;
    case N_OUT: { value v = to_str(r, eval(r, n->a)); emit(r, v.s, v.n); return; }
    case N_IF:
        for (int i = 0; i + 1 < n->nk; i += 2)
            if (truthy(eval(r, n->kid[i]))) { exec(r, n->kid[i + 1]); return; }
        exec(r, n->a);
        return;
    case N_MACRO: { value v = V(V_MACRO); v.m = n; bind(r, n->s, v); return; }
    case N_LOOPCTL: r->loop_ctl = n->op; return;
    case N_SET: {
        if (n->b) { bind(r, n->s, render_to_str(r, n->b)); return; }
        value v = eval(r, n->a);
        if (!n->s2) { bind(r, n->s, v); return; }
        value ns = lookup(r, n->s);
        if (ns.k != V_DICT) { fail(r, n->line, "'%s' is not a namespace", n->s); return; }
        dict_set(r, ns.d, n->s2, v);
        return;
    }
    case N_FOR: {
        value it = eval(r, n->a);
        if (r->failed) return;
        value items;
        if (it.k == V_LIST) items = it;
        else if (it.k == V_DICT) items = dict_view(r, it, n->s2 ? 'i' : 'k');
        else if (it.k == V_UNDEF || it.k == V_NONE) {
            items = new_list(r);
        } else {
            fail(r, n->line, "cannot loop over this value");
            return;
        }
        if (r->failed) return; /* items may be a list that was never made */
        frame *saved = r->vars;
        frame *mark = alloc(&r->ar, sizeof *mark);
        if (!mark) { fail(r, n->line, "out of memory"); return; }
        mark->mark = 1;
        if (n->nk) { /* the loop filter, before loop.* counts anything */
            value kept = new_list(r);
            for (int i = 0; i < items.l->n && !r->failed; i++) {
                mark->next = saved;
                r->vars = mark;
                if (bind_loop_vars(r, n, items.l->v[i])) break;
                if (truthy(eval(r, n->kid[0]))) list_push(r, kept.l, items.l->v[i]);
            }
            r->vars = saved;
            if (r->failed) return;
            items = kept;
        }
        const int len = items.l->n;
        /* else runs unless some pass through the body ran to its end (a
         * pass left by break or continue does not count): jinja2's rule */
        int completed = 0;
        for (int i = 0; i < len && !r->failed; i++) {
            mark->next = saved;
            r->vars = mark;
            value loop = new_dict(r);
            if (r->failed) break;
            dict_set(r, loop.d, "index", vint(i + 1));
            dict_set(r, loop.d, "index0", vint(i));
            dict_set(r, loop.d, "revindex", vint(len - i));
            dict_set(r, loop.d, "revindex0", vint(len - i - 1));
            dict_set(r, loop.d, "first", vbool(i == 0));
            dict_set(r, loop.d, "last", vbool(i == len - 1));
            dict_set(r, loop.d, "length", vint(len));
            dict_set(r, loop.d, "previtem", i ? items.l->v[i - 1] : V(V_UNDEF));
            dict_set(r, loop.d, "nextitem", i + 1 < len ? items.l->v[i + 1] : V(V_UNDEF));
            bind(r, "loop", loop);
            if (bind_loop_vars(r, n, items.l->v[i])) break;
            exec(r, n->b);
            const int ctl = r->loop_ctl;
            r->loop_ctl = 0;
            completed |= !ctl;
            if (ctl == 'b') break;
        }
        r->vars = saved;
        if (!completed && !r->failed) exec(r, n->c);
        return;
    }
    }
    fail(r, n->line, "internal: bad statement");
}

char *ember_chat_render(const char *tmpl, const ember_chat_msg *messages, int n, int add_generation_prompt,
                        const char *bos, const char *eos, char *err, size_t err_size) {
    static char dummy[8];
    if (!err || !err_size) err = dummy, err_size = sizeof dummy;
    err[0] = 0;
    R r;
    memset(&r, 0, sizeof r);
    r.err = err;
    r.err_size = err_size;
    if (!tmpl || n < 0 || (n && !messages)) { fail(&r, 0, "no template or messages"); return NULL; }
    /* working memory: MAX_ARENA plus 16 bytes per byte of input (each loop
     * step allocates its loop variables, and nothing is freed before the end:
     * nested range loops took 1.6 GB before the step limit) */
    size_t in_bytes = strlen(tmpl);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 2; k++) {
            const char *f = k ? messages[i].content : messages[i].role;
            const size_t len = f ? strlen(f) : 0;
            in_bytes = in_bytes + len < in_bytes ? SIZE_MAX : in_bytes + len;
        }
    r.ar.limit = in_bytes > (SIZE_MAX - MAX_ARENA) / 16 ? SIZE_MAX : MAX_ARENA + 16 * in_bytes;
    r.ar.fail_at = atomic_load(&test_fail_at);
    lex(&r, tmpl);
    node *root = r.failed ? NULL : body(&r, NULL);
    if (!r.failed) {
        value msgs = new_list(&r);
        for (int i = 0; i < n && !r.failed; i++) {
            value m = new_dict(&r);
            if (r.failed) break;
            const char *role = messages[i].role ? messages[i].role : "", *content = messages[i].content ? messages[i].content : "";
            dict_set(&r, m.d, "role", vstr(role, strlen(role)));
            dict_set(&r, m.d, "content", vstr(content, strlen(content)));
            list_push(&r, msgs.l, m);
        }
        bind(&r, "messages", msgs);
        bind(&r, "add_generation_prompt", vbool(add_generation_prompt));
        bind(&r, "bos_token", vstr(bos ? bos : "", bos ? strlen(bos) : 0));
        bind(&r, "eos_token", vstr(eos ? eos : "", eos ? strlen(eos) : 0));
        exec(&r, root);
    }
    if (r.ar.oom && !r.failed) fail(&r, 0, "out of memory");
    char *out = NULL;
    if (!r.failed) {
        emit(&r, "", 0);
        out = r.out ? r.out : calloc(1, 1);
        if (out) out[r.out_len] = 0;
        r.out = NULL;
    }
    free(r.out);
    free(r.tok);
    arena_free(&r.ar);
    atomic_store(&test_last_calls, r.ar.calls);
    return out;
}

/* ---- built-in templates (written for ember, in the families' formats) ---- */

static const struct { const char *name, *src; } BUILTIN[] = {
    {"chatml",
     "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"},
    {"llama2",
     "{% if messages[0]['role'] == 'system' %}{% set rest = messages[1:] %}{% set sys = messages[0]['content'] %}"
     "{% else %}{% set rest = messages %}{% set sys = none %}{% endif %}"
     "{% for message in rest %}"
     "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
     "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
     "{% if loop.index0 == 0 and sys is not none %}{% set content = '<<SYS>>\\n' + sys + '\\n<</SYS>>\\n\\n' + message['content'] %}"
     "{% else %}{% set content = message['content'] %}{% endif %}"
     "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
     "{% else %}{{ ' ' + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"},
    {"llama3",
     "{{ bos_token }}{% for message in messages %}"
     "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"},
    {"mistral",
     "{{ bos_token }}{% set ns = namespace(sys='') %}{% for message in messages %}"
     "{% if message['role'] == 'system' %}{% set ns.sys = message['content'] + '\\n\\n' %}"
     "{% elif message['role'] == 'user' %}{{ '[INST] ' + ns.sys + message['content'] + ' [/INST]' }}{% set ns.sys = '' %}"
     "{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"},
    {"zephyr",
     "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"},
};

const char *ember_chat_builtin(const char *name) {
    if (!name) return NULL;
    if (!strcmp(name, "qwen") || !strcmp(name, "qwen2")) name = "chatml";
    for (size_t i = 0; i < sizeof BUILTIN / sizeof BUILTIN[0]; i++)
        if (!strcmp(BUILTIN[i].name, name)) return BUILTIN[i].src;
    return NULL;
}

const char *ember_chat_builtin_names(void) { return "chatml (qwen), llama2, llama3, mistral, zephyr"; }
