/* ks_csv.h: reader of small tabular data sets in CSV (RFC 4180).
 *
 * Syntax: fields separated by `sep` (default ','), records ended by LF,
 * CRLF or a lone CR (old Mac files; CRLF is one line end); a field may be
 * double-quoted, and then holds separators, line breaks (kept as they are,
 * CRs included) and doubled quotes ("" -> "). A UTF-8 byte-order mark and empty lines are
 * skipped. With header, the first record names the columns. Every record
 * must have as many fields as the first one.
 *
 * Result: every column except the label column becomes a float32 feature
 * column ([N, F], C order, file column order). Numbers are parsed with strtod
 * after trimming spaces and tabs (so "nan" and "inf" are accepted); an empty
 * or non-numeric feature is an error unless has_fill, in which case it
 * becomes `fill`. The label column (optional): when every value is an integer
 * the labels are those integers (class_names NULL); otherwise the values are
 * strings, and the classes are the sorted (byte order) distinct strings,
 * numbered 0..C-1 in that order.
 *
 * Error positions: "line L" is the 1-based line of the file where the record
 * starts (as editors count); "column J" is 0-based like every kshot index
 * (and like the label option), followed by the column's name when there is a
 * header. Every message starts with the path.
 */
#ifndef KS_CSV_H
#define KS_CSV_H

#include "ks_tensor.h"

typedef struct ks_csv_opts {
    char sep;
    int header;              /* first record names the columns */
    const char *label_name;  /* label column by name (needs header), or NULL */
    int64_t label_index;     /* label column by index when label_name is NULL and has_label */
    int has_label;
    int has_fill;
    double fill;
} ks_csv_opts;

typedef struct ks_csv_result {
    ks_tensor *features;  /* float32 [N, F] */
    ks_tensor *labels;    /* int64 [N], or NULL without a label column */
    int nclasses;         /* number of class names (0: labels were integers) */
    char **class_names;
    int nfeatures;
    char **feature_names; /* NULL without header */
    char *label_column;   /* the label column's name (NULL without header or label) */
} ks_csv_result;

ks_status ks_csv_read(ks_ctx *c, const char *path, const ks_csv_opts *o, ks_csv_result *out);
/* Frees names and releases the tensors still held; zeroes the struct. */
void ks_csv_result_free(ks_csv_result *r);

#endif
