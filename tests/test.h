/* Minimal test harness: each test binary prints one line per test case,
 * "PASS name", "FAIL name" or "SKIP name: reason"; tests/run.sh counts. */
#ifndef EMBER_TEST_H
#define EMBER_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int t_fail_ = 0, t_skip_ = 0, t_failures_ = 0;
static char t_skip_msg_[256];

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); t_fail_ = 1; } } while (0)
#define CHECKF(cond, ...) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); t_fail_ = 1; } } while (0)
#define SKIP(...) do { snprintf(t_skip_msg_, sizeof t_skip_msg_, __VA_ARGS__); t_skip_ = 1; return; } while (0)

static void t_run_(const char *name, void (*fn)(void)) {
    t_fail_ = 0;
    t_skip_ = 0;
    fn();
    if (t_skip_) printf("SKIP %s: %s\n", name, t_skip_msg_);
    else if (t_fail_) { printf("FAIL %s\n", name); t_failures_++; }
    else printf("PASS %s\n", name);
    fflush(stdout);
}
#define RUN(fn) t_run_(#fn, fn)
#define TEST_EXIT() return t_failures_ ? 1 : 0

/* ../shared next to the project (or EMBER_SHARED); NULL if absent. */
__attribute__((unused)) static const char *test_shared_dir(void) {
    static char buf[1024];
    const char *env = getenv("EMBER_SHARED");
    const char *cands[] = { env, "../shared", NULL };
    for (int i = 0; i < 2; i++) {
        struct stat st;
        if (cands[i] && stat(cands[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            snprintf(buf, sizeof buf, "%s", cands[i]);
            return buf;
        }
    }
    return NULL;
}

__attribute__((unused)) static const char *test_shared_path(const char *rel) {
    static char buf[4][2048];
    static int k = 0;
    const char *d = test_shared_dir();
    if (!d) return NULL;
    k = (k + 1) & 3;
    snprintf(buf[k], sizeof buf[k], "%.1000s/%.1000s", d, rel);
    struct stat st;
    return stat(buf[k], &st) == 0 ? buf[k] : NULL;
}

#endif
