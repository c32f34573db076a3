/* Importance-matrix files in llama.cpp's legacy binary format (the one its
 * llama-imatrix writes and llama-quantize --imatrix reads), little-endian:
 *
 *   int32 n_entries
 *   n_entries x { int32 len; char name[len]; int32 ncall; int32 nval; float values[nval] }
 *   int32 last_call; int32 len; char dataset[len]      (trailer, optional)
 *
 * values[j] is the mean of x_j^2 over every activation row that met the
 * weight, multiplied by ncall (the number of matmul calls); readers divide
 * by ncall again. The reader validates everything and rejects what
 * llama.cpp would misread (duplicate names, bytes after the trailer, ...). */
#ifndef EMBER_IMATRIX_FILE_H
#define EMBER_IMATRIX_FILE_H

#include <stddef.h>
#include <stdint.h>

#define EMBER_IMATRIX_MAX_NAME 1024

typedef struct {
    char *name;
    int32_t ncall;   /* >= 1 */
    int32_t nval;    /* >= 1 */
    float *values;   /* as stored: mean square per column, times ncall; finite, >= 0 */
} ember_imatrix_entry;

typedef struct {
    ember_imatrix_entry *e;
    int n;
    int has_trailer;
    int32_t last_call;  /* chunks (calls) the data was collected over */
    char *dataset;      /* name of the text file ("" when none) */
} ember_imatrix;

/* 0, or an ember_status code (1 I/O, 2 format, 5 memory) and a one-line
 * message in err. *out is left empty on failure. */
int ember_imatrix_parse(const void *buf, size_t len, ember_imatrix *out, char *err, size_t errlen);
int ember_imatrix_read(const char *path, ember_imatrix *out, char *err, size_t errlen);
/* Atomic (temporary file + rename); no file is left behind on failure. */
int ember_imatrix_write(const char *path, const ember_imatrix *im, char *err, size_t errlen);
void ember_imatrix_free(ember_imatrix *im);
/* NULL if absent. */
const ember_imatrix_entry *ember_imatrix_find(const ember_imatrix *im, const char *name);

#endif
