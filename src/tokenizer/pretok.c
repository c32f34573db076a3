/* BPE pre-tokenizers: each tokenizer.ggml.pre family is a list of
 * splitters applied in turn, each refining the pieces of the one before.
 *
 * llama.cpp runs two of its patterns (gpt-2's and llama-3's) as hand-written
 * scanners and the rest through std::regex (ECMAScript: leftmost match,
 * first alternative that succeeds, greedy with backtracking); text between
 * two matches stays one piece. For the regex ones it first maps every
 * non-ASCII code point to its category (whitespace first), so \p{..} and \s
 * see categories, not code points. Each regex here is a matcher that returns
 * the length of that regex's match at a position, written from the
 * pattern's backtracking behaviour.
 *
 * One quirk of that mapping is kept: for ASCII, \p{S} is "$+<=>^`|" without
 * '~' (it matters for deepseek-v3's pattern). */
#include "vocab_internal.h"
#include "unicode.h"
#include <stdlib.h>
#include <string.h>

/* Code point classes: the category group, with whitespace taking
 * precedence; OUT past the end of the piece. */
enum { K_L = UCAT_L, K_N = UCAT_N, K_P = UCAT_P, K_S = UCAT_S, K_M = UCAT_M, K_Z = UCAT_Z, K_C = UCAT_C,
       K_NONE = UCAT_NONE, K_WS, K_OUT };

typedef struct { const uint32_t *cp; const uint8_t *k; size_t end; } ctx;

static inline int K(const ctx *c, size_t p) { return p < c->end ? c->k[p] : K_OUT; }
static inline uint32_t CP(const ctx *c, size_t p) { return p < c->end ? c->cp[p] : 0xFFFFFFFFu; }
static inline int is_rn(uint32_t x) { return x == '\r' || x == '\n'; }

typedef struct { size_t *len; size_t n, cap; int oom; } pieces;

static void add(pieces *p, size_t len) {
    if (!len) return;
    if (p->n == p->cap) {
        const size_t nc = p->cap ? p->cap * 2 : 64;
        size_t *nl = realloc(p->len, nc * sizeof *nl);
        if (!nl) { p->oom = 1; return; }
        p->len = nl;
        p->cap = nc;
    }
    p->len[p->n++] = len;
}

/* ---- the two scanners llama.cpp hand-codes ------------------------------ */

/* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (fold: the contractions in either case); the llama-3 form is
 * (?i:'s|..)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *  \s*[\r\n]+|\s+(?!\S)|\s+ . An unmatched code point is a piece of its own. */
static size_t contraction(const ctx *c, size_t pos, int fold) {
    if (CP(c, pos) != '\'' || pos + 1 >= c->end) return 0;
    uint32_t a = CP(c, pos + 1), b = pos + 2 < c->end ? CP(c, pos + 2) : 0;
    if (fold) {
        if (a >= 'A' && a <= 'Z') a += 32;
        if (b >= 'A' && b <= 'Z') b += 32;
    }
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

static int other(int k) { return k != K_WS && k != K_L && k != K_N && k != K_OUT; }

/* whitespace run at pos: \s*[\r\n]+ (if with_rn) | \s+(?!\S) | \s+ */
static size_t ws_run(const ctx *c, size_t pos, int with_rn) {
    size_t n = 0, last_rn = 0;
    while (K(c, pos + n) == K_WS) {
        if (is_rn(CP(c, pos + n))) last_rn = pos + n + 1;
        n++;
    }
    if (with_rn && last_rn) return last_rn - pos;
    if (n > 1 && pos + n < c->end) return n - 1;
    return n;
}

static void scan_gpt2(const ctx *c, size_t ini, pieces *out) {
    for (size_t pos = ini; pos < c->end;) {
        size_t e = pos + contraction(c, pos, 0);
        if (e == pos) {
            const size_t q = pos + (CP(c, pos) == ' ');
            const int k = K(c, q);
            if (k == K_L || k == K_N) {
                for (e = q; K(c, e) == k;) e++;
            } else if (other(k)) {
                for (e = q; other(K(c, e));) e++;
            } else {
                const size_t w = ws_run(c, pos, 0);
                e = pos + (w ? w : 1);
            }
        }
        add(out, e - pos);
        pos = e;
    }
}

static size_t llama3_step(const ctx *c, size_t pos, size_t max_digits) {
    const uint32_t cpt = CP(c, pos);
    const int k = K(c, pos);
    size_t e = pos + contraction(c, pos, 1);
    if (e > pos) return e;
    if (!(is_rn(cpt) || k == K_N) && (k == K_L || K(c, pos + 1) == K_L)) {
        for (e = pos + 1; K(c, e) == K_L;) e++;
        return e;
    }
    if (k == K_N) { /* \p{N}{1,max}: the run in chunks of max_digits */
        for (e = pos; K(c, e) == K_N && e - pos < max_digits;) e++;
        return e;
    }
    const int k2 = cpt == ' ' ? K(c, pos + 1) : k;
    if (k2 != K_WS && k2 != K_L && k2 != K_N) {
        for (e = pos + (cpt == ' '); other(K(c, e));) e++;
        while (is_rn(CP(c, e))) e++;
        return e;
    }
    const size_t w = ws_run(c, pos, 1);
    return pos + (w ? w : 1);
}

static void scan_llama3(const ctx *c, size_t ini, pieces *out, size_t max_digits) {
    for (size_t pos = ini; pos < c->end;) {
        const size_t e = llama3_step(c, pos, max_digits);
        add(out, e - pos);
        pos = e;
    }
}

/* ---- regex matchers: length of the match at pos, 0 if none -------------- */

typedef size_t (*matcher)(const ctx *c, size_t pos);

static int in_ranges(uint32_t x, const uint32_t (*r)[2], size_t n) {
    for (size_t i = 0; i < n; i++) if (x >= r[i][0] && x <= r[i][1]) return 1;
    return 0;
}

static size_t run_of(const ctx *c, size_t p, int (*member)(const ctx *, size_t)) {
    size_t e = p;
    while (e < c->end && member(c, e)) e++;
    return e - p;
}

/* \s?X+ */
static size_t ws_opt_run(const ctx *c, size_t pos, int (*member)(const ctx *, size_t)) {
    if (K(c, pos) == K_WS && pos + 1 < c->end && member(c, pos + 1)) return 1 + run_of(c, pos + 1, member);
    return pos < c->end && member(c, pos) ? run_of(c, pos, member) : 0;
}

static int is_num(const ctx *c, size_t p) { return K(c, p) == K_N; }
static int is_letter(const ctx *c, size_t p) { return K(c, p) == K_L; }
static int is_punct(const ctx *c, size_t p) { return K(c, p) == K_P; }

/* [\p{P}\$\+<=>\^~\|]+ (llama.cpp's default) and the same with ` (falcon) */
static int punct_default(const ctx *c, size_t p) {
    const uint32_t x = CP(c, p);
    return K(c, p) == K_P || (x < 128 && x && strchr("$+<=>^~|", (int)x));
}
static int punct_falcon(const ctx *c, size_t p) { return punct_default(c, p) || CP(c, p) == '`'; }
static size_t m_punct_default(const ctx *c, size_t pos) { return run_of(c, pos, punct_default); }
static size_t m_punct_falcon(const ctx *c, size_t pos) { return run_of(c, pos, punct_falcon); }

static size_t m_num_run(const ctx *c, size_t pos) { return run_of(c, pos, is_num); } /* \p{N}+ */
static size_t m_num1(const ctx *c, size_t pos) { return K(c, pos) == K_N; }          /* \p{N} */
static size_t m_num3(const ctx *c, size_t pos) {                                      /* \p{N}{1,3} */
    const size_t n = run_of(c, pos, is_num);
    return n < 3 ? n : 3;
}
static size_t m_digits3(const ctx *c, size_t pos) { /* [0-9][0-9][0-9] */
    for (size_t i = 0; i < 3; i++) if (CP(c, pos + i) < '0' || CP(c, pos + i) > '9') return 0;
    return 3;
}
static size_t m_newline(const ctx *c, size_t pos) { return is_rn(CP(c, pos)); } /* [\r\n] */

/* DeepSeek LLM: the letter and punctuation classes of its pattern, as code
 * point ranges (whitespace never matches them: llama.cpp replaces non-ASCII
 * whitespace before matching). */
static const uint32_t ds_letter_ranges[][2] = {
    {0x41, 0x5A}, {0x61, 0x7A}, {0xB5, 0xB5}, {0xC0, 0xD6}, {0xD8, 0xF6}, {0xF8, 0x1BA}, {0x1BC, 0x1BF},
    {0x1C4, 0x293}, {0x295, 0x2AF}, {0x370, 0x373}, {0x376, 0x377}, {0x37B, 0x37D}, {0x37F, 0x37F},
    {0x386, 0x386}, {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3F5}, {0x3F7, 0x481},
    {0x48A, 0x52F}, {0x531, 0x556}, {0x10A0, 0x10C5}, {0x13A0, 0x13F5}, {0x13F8, 0x13FD}, {0x1C90, 0x1CBA},
    {0x1CBD, 0x1CBF}, {0x1D00, 0x1D2B}, {0x1D6B, 0x1D77}, {0x1D79, 0x1D9A}, {0x1E00, 0x1F15},
    {0x1F18, 0x1F1D}, {0x1F20, 0x1F45}, {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59},
    {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D}, {0x1F80, 0x1FB4}, {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE}, {0x1FC2, 0x1FC4}, {0x1FC6, 0x1FCC}, {0x1FD0, 0x1FD3}, {0x1FD6, 0x1FDB},
    {0x1FE0, 0x1FEC}, {0x1FF2, 0x1FF4}, {0x1FF6, 0x1FFC}, {0x2102, 0x2102}, {0x2107, 0x2107},
    {0x210A, 0x2113}, {0x2115, 0x2115}, {0x2119, 0x211D}, {0x2124, 0x2124}, {0x2126, 0x2126},
    {0x2128, 0x2128}, {0x212A, 0x212D}, {0x212F, 0x2134}, {0x2139, 0x2139}, {0x213C, 0x213F},
    {0x2145, 0x2149}, {0x214E, 0x214E}, {0x2183, 0x2184}, {0x2C00, 0x2C7B}, {0x2C7E, 0x2CE4},
    {0x2CEB, 0x2CEE}, {0x2CF2, 0x2CF3}, {0xA640, 0xA66D}, {0xA680, 0xA69B}, {0xA722, 0xA76F},
    {0xA771, 0xA787}, {0xA78B, 0xA78E}, {0xAB70, 0xABBF}, {0xFB00, 0xFB06}, {0xFB13, 0xFB17},
    {0xFF21, 0xFF3A}, {0xFF41, 0xFF5A}, {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};
static const uint32_t ds_punct_ranges[][2] = {
    {0x21, 0x2F}, {0x3A, 0x7E}, {0xFF01, 0xFF0F}, {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};
static const uint32_t cjk_ranges[][2] = {{0x4E00, 0x9FA5}, {0x0800, 0x4E00}, {0xAC00, 0xD7FF}};
static const uint32_t kana_ranges[][2] = {{0x4E00, 0x9FA5}, {0x3040, 0x309F}, {0x30A0, 0x30FF}};
#define N_OF(a) (sizeof a / sizeof a[0])

static int ds_letter(const ctx *c, size_t p) { return K(c, p) != K_WS && in_ranges(CP(c, p), ds_letter_ranges, N_OF(ds_letter_ranges)); }
static int ds_punct(const ctx *c, size_t p) { return K(c, p) != K_WS && in_ranges(CP(c, p), ds_punct_ranges, N_OF(ds_punct_ranges)); }
static int cjk(const ctx *c, size_t p) { return K(c, p) != K_WS && in_ranges(CP(c, p), cjk_ranges, N_OF(cjk_ranges)); }
static int kana(const ctx *c, size_t p) { return K(c, p) != K_WS && in_ranges(CP(c, p), kana_ranges, N_OF(kana_ranges)); }
static size_t m_ds_letters(const ctx *c, size_t pos) { return ws_opt_run(c, pos, ds_letter); }
static size_t m_ds_punct(const ctx *c, size_t pos) { return ws_opt_run(c, pos, ds_punct); }
static size_t m_cjk(const ctx *c, size_t pos) { return run_of(c, pos, cjk); }
static size_t m_kana(const ctx *c, size_t pos) { return run_of(c, pos, kana); }
static size_t m_coder_letters(const ctx *c, size_t pos) { return ws_opt_run(c, pos, is_letter); } /* \s?\p{L}+ */
static size_t m_coder_punct(const ctx *c, size_t pos) { return ws_opt_run(c, pos, is_punct); }    /* \s?\p{P}+ */

/* DeepSeek V3: [!-/:-@[-`{-~][A-Za-z]+ | [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+ |
 *  ?[\p{P}\p{S}]+[\r\n]* | \s*[\r\n]+ | \s+(?!\S) | \s+ */
static int ascii_alpha(uint32_t x) { return (x >= 'A' && x <= 'Z') || (x >= 'a' && x <= 'z'); }
static int ascii_alpha_at(const ctx *c, size_t p) { return ascii_alpha(CP(c, p)); }
static int ps(const ctx *c, size_t p) { return K(c, p) == K_P || (K(c, p) == K_S && CP(c, p) != '~'); }
static int lm(const ctx *c, size_t p) { return K(c, p) == K_L || K(c, p) == K_M; }
static size_t m_ds3(const ctx *c, size_t pos) {
    const uint32_t x = CP(c, pos);
    if (x > ' ' && x < 127 && !ascii_alpha(x) && !(x >= '0' && x <= '9') && ascii_alpha(CP(c, pos + 1)))
        return 1 + run_of(c, pos + 1, ascii_alpha_at);
    if (!is_rn(x) && K(c, pos) != K_L && !ps(c, pos) && lm(c, pos + 1)) return 1 + run_of(c, pos + 1, lm);
    if (lm(c, pos)) return run_of(c, pos, lm);
    const size_t q = pos + (x == ' ' && ps(c, pos + 1));
    if (ps(c, q)) {
        size_t e = q + run_of(c, q, ps);
        while (is_rn(CP(c, e))) e++;
        return e - pos;
    }
    return ws_run(c, pos, 1);
}

/* Poro, BLOOM, GPT3-Finnish:  ?[^(\s|.,!?…。，、।۔،)]+ */
static int poro_member(const ctx *c, size_t p) {
    const uint32_t x = CP(c, p);
    if (K(c, p) == K_WS || K(c, p) == K_OUT) return 0;
    if (x < 128) return !strchr("(|.,!?)", (int)x) || !x;
    return x != 0x2026 && x != 0x3002 && x != 0xFF0C && x != 0x3001 && x != 0x0964 && x != 0x06D4 && x != 0x060C;
}
static size_t m_poro(const ctx *c, size_t pos) {
    if (CP(c, pos) == ' ' && poro_member(c, pos + 1)) return 1 + run_of(c, pos + 1, poro_member);
    return run_of(c, pos, poro_member);
}

/* Tekken (Mistral): O?U*W+ | O?U+W* | \p{N} |  ?[^\s\p{L}\p{N}]+[\r\n/]* |
 * \s*[\r\n]+ | \s+(?!\S) | \s+ where O = [^\r\n\p{L}\p{N}], U = a letter
 * other than a-z, W = a letter other than A-Z (so non-ASCII letters are
 * both U and W). */
static int tk_u(const ctx *c, size_t p) { const uint32_t x = CP(c, p); return K(c, p) == K_L && !(x >= 'a' && x <= 'z'); }
static int tk_w(const ctx *c, size_t p) { const uint32_t x = CP(c, p); return K(c, p) == K_L && !(x >= 'A' && x <= 'Z'); }
static int tk_o(const ctx *c, size_t p) { return p < c->end && !is_rn(CP(c, p)) && K(c, p) != K_L && K(c, p) != K_N; }
/* U*W+ from p: end of the match, or 0 if none (p > 0 always holds for a match end) */
static size_t tk_uw(const ctx *c, size_t p) {
    const size_t q = p + run_of(c, p, tk_u);
    if (tk_w(c, q)) return q + run_of(c, q, tk_w);
    for (size_t k = q; k > p; k--) /* U* gives back code points until W+ can start */
        if (tk_w(c, k - 1)) return k;
    return 0;
}
static size_t m_tekken(const ctx *c, size_t pos) {
    size_t e;
    if (tk_o(c, pos)) {
        if ((e = tk_uw(c, pos + 1))) return e - pos;
        if (tk_u(c, pos + 1)) {
            e = pos + 1 + run_of(c, pos + 1, tk_u);
            return e + run_of(c, e, tk_w) - pos;
        }
    } else {
        if ((e = tk_uw(c, pos))) return e - pos;
        if (tk_u(c, pos)) {
            e = pos + run_of(c, pos, tk_u);
            return e + run_of(c, e, tk_w) - pos;
        }
    }
    if (K(c, pos) == K_N) return 1;
    const size_t q = pos + (CP(c, pos) == ' ' && other(K(c, pos + 1)));
    if (other(K(c, q))) {
        e = q;
        while (other(K(c, e))) e++;
        while (is_rn(CP(c, e)) || CP(c, e) == '/') e++;
        return e - pos;
    }
    return ws_run(c, pos, 1);
}

/* Chameleon: <sentinel:[0-9]+> ; (IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z ;
 * ([\t\n]|    |  ) ; \p{N} ; [\p{P}!-/:-@\[-`{-~] (then gpt-2's) */
static int ascii_digit(const ctx *c, size_t p) { return CP(c, p) >= '0' && CP(c, p) <= '9'; }
static size_t m_sentinel(const ctx *c, size_t pos) {
    static const char pre[] = "<sentinel:";
    for (size_t i = 0; i < sizeof pre - 1; i++) if (CP(c, pos + i) != (uint32_t)pre[i]) return 0;
    const size_t d = run_of(c, pos + sizeof pre - 1, ascii_digit);
    return d && CP(c, pos + sizeof pre - 1 + d) == '>' ? sizeof pre + d : 0;
}
static int img_letter(const ctx *c, size_t p) { return CP(c, p) >= 'A' && CP(c, p) <= 'I'; }
static size_t m_image(const ctx *c, size_t pos) {
    static const char pre[] = "IMGIMG";
    for (size_t i = 0; i < sizeof pre - 1; i++) if (CP(c, pos + i) != (uint32_t)pre[i]) return 0;
    size_t k = run_of(c, pos + 6, img_letter);
    if (k > 4) k = 4; /* {1,4}, and giving letters back cannot reach a Z */
    return k && CP(c, pos + 6 + k) == 'Z' ? 7 + k : 0;
}
static size_t m_chameleon_ws(const ctx *c, size_t pos) {
    if (CP(c, pos) == '\t' || CP(c, pos) == '\n') return 1;
    if (CP(c, pos) != ' ' || CP(c, pos + 1) != ' ') return 0;
    return CP(c, pos + 2) == ' ' && CP(c, pos + 3) == ' ' ? 4 : 2;
}
static size_t m_punct1(const ctx *c, size_t pos) {
    const uint32_t x = CP(c, pos);
    return K(c, pos) == K_P || (x > ' ' && x < 127 && !ascii_alpha(x) && !(x >= '0' && x <= '9'));
}

/* ---- splitters ------------------------------------------------------------ */

typedef enum { S_REGEX, S_GPT2, S_LLAMA3, S_QWEN2, S_TRAILING_WS } split_kind;
typedef struct { split_kind kind; matcher m; } splitter;

/* std::regex_iterator over one piece: matches and the gaps between them */
static void split_regex(const ctx *c, size_t ini, matcher m, pieces *out) {
    size_t prev = ini;
    for (size_t pos = ini; pos < c->end;) {
        const size_t len = m(c, pos);
        if (!len) { pos++; continue; }
        add(out, pos - prev);
        add(out, len);
        prev = pos = pos + len;
    }
    add(out, c->end - prev);
}

/* \s+$ : the trailing whitespace of the piece */
static void split_trailing_ws(const ctx *c, size_t ini, pieces *out) {
    size_t t = c->end;
    while (t > ini && K(c, t - 1) == K_WS) t--;
    add(out, t - ini);
    add(out, c->end - t);
}

#define RX(f) {S_REGEX, f}
static const splitter sp_default[] = {RX(m_punct_default), {S_GPT2, 0}, RX(m_num_run), RX(m_digits3)};
static const splitter sp_gpt2[] = {{S_GPT2, 0}};
static const splitter sp_llama3[] = {{S_LLAMA3, 0}};
/* qwen2's pattern is llama-3's with \p{N} for \p{N}{1,3}; llama.cpp runs it as a
 * regex, whose matches are exactly the scanner's with one-digit numbers */
static const splitter sp_qwen2[] = {{S_QWEN2, 0}};
static const splitter sp_starcoder[] = {RX(m_num1), {S_GPT2, 0}};
static const splitter sp_falcon[] = {RX(m_punct_falcon), {S_GPT2, 0}, RX(m_digits3)};
static const splitter sp_deepseek_llm[] = {RX(m_newline), RX(m_ds_letters), RX(m_ds_punct), {S_TRAILING_WS, 0},
                                           RX(m_cjk), RX(m_num_run)};
static const splitter sp_deepseek_coder[] = {RX(m_newline), RX(m_coder_letters), RX(m_coder_punct), RX(m_cjk), RX(m_num1)};
static const splitter sp_deepseek3[] = {RX(m_num3), RX(m_kana), RX(m_ds3)};
static const splitter sp_poro[] = {RX(m_poro)};
static const splitter sp_viking[] = {RX(m_poro), RX(m_num1)};
static const splitter sp_tekken[] = {RX(m_tekken)};
static const splitter sp_chameleon[] = {RX(m_sentinel), RX(m_image), RX(m_chameleon_ws), RX(m_num1), RX(m_punct1), {S_GPT2, 0}};

static const struct { const splitter *s; int n; } k_lists[] = {
    [PRE_DEFAULT] = {sp_default, 4},
    [PRE_GPT2] = {sp_gpt2, 1},
    [PRE_LLAMA3] = {sp_llama3, 1},
    [PRE_QWEN2] = {sp_qwen2, 1},
    [PRE_STARCODER] = {sp_starcoder, 2},
    [PRE_FALCON] = {sp_falcon, 3},
    [PRE_DEEPSEEK_LLM] = {sp_deepseek_llm, 6},
    [PRE_DEEPSEEK_CODER] = {sp_deepseek_coder, 5},
    [PRE_DEEPSEEK3] = {sp_deepseek3, 3},
    [PRE_PORO] = {sp_poro, 1},
    [PRE_VIKING] = {sp_viking, 2},
    [PRE_TEKKEN] = {sp_tekken, 1},
    [PRE_CHAMELEON] = {sp_chameleon, 6},
};

size_t *pretok_split(pre_kind pre, const uint32_t *cp, size_t n, size_t *n_pieces) {
    *n_pieces = 0;
    uint8_t *k = malloc(n ? n : 1);
    pieces cur = {0, 0, 0, 0};
    if (!k) return 0;
    for (size_t i = 0; i < n; i++) k[i] = ember_uwhitespace(cp[i]) ? K_WS : (uint8_t)ember_ucat(cp[i]);
    add(&cur, n);
    for (int s = 0; s < k_lists[pre].n && !cur.oom; s++) {
        const splitter *sp = &k_lists[pre].s[s];
        pieces next = {0, 0, 0, 0};
        size_t start = 0;
        for (size_t i = 0; i < cur.n; i++) {
            const ctx c = {cp, k, start + cur.len[i]};
            switch (sp->kind) {
            case S_REGEX: split_regex(&c, start, sp->m, &next); break;
            case S_GPT2: scan_gpt2(&c, start, &next); break;
            case S_LLAMA3: scan_llama3(&c, start, &next, 3); break;
            case S_QWEN2: scan_llama3(&c, start, &next, 1); break;
            case S_TRAILING_WS: split_trailing_ws(&c, start, &next); break;
            }
            start = c.end;
        }
        free(cur.len);
        cur = next;
    }
    free(k);
    if (cur.oom) { free(cur.len); return 0; }
    *n_pieces = cur.n;
    return cur.len ? cur.len : calloc(1, sizeof(size_t));
}

int pretok_by_name(const char *name, pre_kind *pre, int *ignore_merges, int *add_bos, int *clean_spaces, int *no_bos) {
    /* flags: I = ignore merges, B = add BOS, K = keep spaces (no clean-up
     * when detokenizing), N = no default BOS id */
    static const struct { const char *name; pre_kind pre; const char *flags; } k_names[] = {
        {"default", PRE_DEFAULT, ""}, {"llama3", PRE_LLAMA3, "IB"}, {"llama-v3", PRE_LLAMA3, "IB"},
        {"llama-bpe", PRE_LLAMA3, "IB"}, {"falcon3", PRE_LLAMA3, "IB"}, {"deepseek-llm", PRE_DEEPSEEK_LLM, "K"},
        {"deepseek-coder", PRE_DEEPSEEK_CODER, "K"}, {"deepseek-v3", PRE_DEEPSEEK3, "K"}, {"falcon", PRE_FALCON, ""},
        {"mpt", PRE_GPT2, ""}, {"starcoder", PRE_STARCODER, ""}, {"gpt-2", PRE_GPT2, ""}, {"phi-2", PRE_GPT2, ""},
        {"jina-es", PRE_GPT2, ""}, {"jina-de", PRE_GPT2, ""}, {"gigachat", PRE_GPT2, ""}, {"jina-v1-en", PRE_GPT2, ""},
        {"jina-v2-es", PRE_GPT2, ""}, {"jina-v2-de", PRE_GPT2, ""}, {"jina-v2-code", PRE_GPT2, ""},
        {"roberta-bpe", PRE_GPT2, ""}, {"refact", PRE_STARCODER, ""}, {"command-r", PRE_STARCODER, "K"},
        {"qwen2", PRE_QWEN2, "K"}, {"deepseek-r1-qwen", PRE_QWEN2, "K"}, {"stablelm2", PRE_QWEN2, ""},
        {"olmo", PRE_GPT2, ""}, {"dbrx", PRE_LLAMA3, ""}, {"smaug-bpe", PRE_LLAMA3, ""}, {"poro-chat", PRE_PORO, "K"},
        {"chatglm-bpe", PRE_LLAMA3, "N"}, {"viking", PRE_VIKING, "K"}, {"jais", PRE_GPT2, ""},
        {"tekken", PRE_TEKKEN, "KIB"}, {"smollm", PRE_STARCODER, "K"}, {"codeshell", PRE_STARCODER, ""},
        {"bloom", PRE_PORO, ""}, {"gpt3-finnish", PRE_PORO, ""}, {"exaone", PRE_STARCODER, ""},
        {"minerva-7b", PRE_STARCODER, ""}, {"megrez", PRE_QWEN2, ""}, {"chameleon", PRE_CHAMELEON, "KB"},
    };
    for (size_t i = 0; i < N_OF(k_names); i++) {
        if (strcmp(name, k_names[i].name)) continue;
        const char *fl = k_names[i].flags;
        *pre = k_names[i].pre;
        if (strchr(fl, 'I')) *ignore_merges = 1;
        if (strchr(fl, 'B')) *add_bos = 1;
        if (strchr(fl, 'K')) *clean_spaces = 0;
        if (strchr(fl, 'N')) *no_bos = 1;
        return 0;
    }
    return -1;
}
