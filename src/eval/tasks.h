/* Checkable tasks and the token-inflation runner (see tasks.c, inflation.c). */
#ifndef EMBER_TASKS_H
#define EMBER_TASKS_H

#include "ember.h"
#include <stdint.h>
#include <stdio.h>

typedef struct { char *prompt, *answer, *stop, *kind; } ember_task;

/* Writes n tasks of a kind (arithmetic|counting|sorting|continuation|all)
 * as JSON lines; continuation tasks cut sentences of source_text. */
int ember_tasks_generate(FILE *out, const char *kind, int n, uint64_t seed, const char *source_text, char *err,
                         size_t errlen);
int ember_tasks_read(const char *text, ember_task **out, int *n, char *err, size_t errlen);
void ember_tasks_free(ember_task *t, int n);
int ember_task_correct(const ember_task *t, const char *generated);
/* 1 if the token sequence has fallen into a repetition loop */
int ember_is_looping(const int32_t *toks, int n);

/* One model over all tasks: a greedy run and `samples` sampled runs each. */
typedef struct {
    int n_tasks, samples;
    int *greedy_tokens;   /* per task */
    int *greedy_correct;  /* per task */
    int *run_tokens;      /* every run: n_tasks * (1 + samples) */
    int n_runs, n_correct_runs, n_limit, n_loop;
    long total_tokens;
    double seconds;       /* generation time of all runs */
} ember_inflation;

typedef void (*ember_inflation_progress_fn)(void *ud, int task, int n_tasks);

ember_status ember_inflation_run(ember_model *m, const ember_task *tasks, int n_tasks, int samples, int max_new,
                                 int threads, ember_inflation_progress_fn progress, void *ud, ember_inflation *out);
void ember_inflation_free(ember_inflation *r);

#endif
