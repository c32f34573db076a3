/* Helpers shared by the CLI subcommands: strict flag parsing and JSON output. */
#ifndef EMBER_CLI_H
#define EMBER_CLI_H

#include <stdint.h>
#include <stdio.h>

/* Each returns 0 and sets *out, or prints "ember <cmd>: ..." and returns -1. */
int cli_int(const char *cmd, const char *flag, const char *val, long lo, long hi, int *out);
int cli_u64(const char *cmd, const char *flag, const char *val, uint64_t *out);
int cli_float(const char *cmd, const char *flag, const char *val, double lo, double hi, float *out);
/* The value after argv[*i] (advancing *i), or NULL after printing an error. */
const char *cli_value(const char *cmd, int argc, char **argv, int *i);
/* Reads a whole file (NUL-terminated); NULL after printing an error. */
char *cli_read_file(const char *cmd, const char *path, size_t *len);
/* Writes s as a JSON string literal (with quotes). */
void cli_json_str(FILE *f, const char *s, size_t len);
double cli_now_ms(void);

#endif
