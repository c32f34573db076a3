/* Task files, answer checking and the repetition detector of the
 * token-inflation evaluation. */
#include "test.h"
#include "eval/tasks.h"

static void answers_checked(void) {
    ember_task a = {"Q", "42", ".", "arithmetic"};
    CHECK(ember_task_correct(&a, " 42"));
    CHECK(ember_task_correct(&a, " 42 apples"));
    CHECK(!ember_task_correct(&a, " 421"));
    CHECK(!ember_task_correct(&a, " 24"));
    ember_task s = {"Q", "10 13 55", ".", "sorting"};
    CHECK(ember_task_correct(&s, " 10, 13, 55"));
    CHECK(!ember_task_correct(&s, " 13 10 55"));
    ember_task c = {"Q", " beasts, and fell before the throne", ".", "continuation"};
    CHECK(ember_task_correct(&c, " beasts and fell before him"));
    CHECK(!ember_task_correct(&c, " angels and fell before"));
}

static void loops_detected(void) {
    int32_t t[64];
    for (int i = 0; i < 64; i++) t[i] = i;        /* no repetition */
    CHECK(!ember_is_looping(t, 64));
    for (int i = 0; i < 64; i++) t[i] = i % 8;    /* a period-8 loop */
    CHECK(ember_is_looping(t, 40));
    CHECK(!ember_is_looping(t, 10));              /* too short to tell */
}

static void task_files(void) {
    char buf[8192];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    char err[200];
    CHECK(ember_tasks_generate(f, "all", 9, 7, 0, err, sizeof err) == 0);
    fputc(0, f);
    fclose(f);
    ember_task *t;
    int n;
    CHECK(ember_tasks_read(buf, &t, &n, err, sizeof err) == 0);
    CHECK(n == 9);
    if (n == 9) {
        int ok = 1;
        for (int i = 0; i < n; i++) ok &= t[i].prompt && t[i].answer && *t[i].answer;
        CHECK(ok);
        ember_tasks_free(t, n);
    }
    CHECK(ember_tasks_read("{\"prompt\": \"a\"}\n", &t, &n, err, sizeof err) == 2);
    CHECK(ember_tasks_read("{\"prompt\": \"a\\q\", \"answer\": \"b\"}\n", &t, &n, err, sizeof err) == 2);
    CHECK(ember_tasks_read("{\"prompt\": \"unterminated, \"answer\": \"b\n", &t, &n, err, sizeof err) == 2);
    CHECK(ember_tasks_read("\n\n", &t, &n, err, sizeof err) == 2);
    CHECK(ember_tasks_read("{\"prompt\": \"\\u00e9\", \"answer\": \"x\"}", &t, &n, err, sizeof err) == 0 && n == 1 &&
          !strcmp(t[0].prompt, "\xc3\xa9"));
    ember_tasks_free(t, n);
    FILE *g = fmemopen(buf, sizeof buf, "w");
    CHECK(ember_tasks_generate(g, "poems", 3, 1, 0, err, sizeof err) == 2);
    fclose(g);
}

int main(void) {
    RUN(answers_checked);
    RUN(loops_detected);
    RUN(task_files);
    TEST_EXIT();
}
