/* ks_csv.c: RFC 4180 CSV reader (see ks_csv.h for the contract). */
#include "ks_csv.h"
#include "ks_fileio.h"

#include <errno.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#define CSV_MAX_BYTES ((size_t)1 << 34)

typedef struct span {
    char *p;
    size_t n;
} span;

typedef struct parser {
    ks_ctx *c;
    const char *path;
    char *buf;
    size_t len, pos;
    long line;     /* 1-based line at pos */
    span *fields;  /* fields of the current record (point into buf, unescaped in place) */
    size_t nfields, capfields;
} parser;

static ks_status push_field(parser *p, char *s, size_t n)
{
    if (p->nfields == p->capfields) {
        size_t cap = p->capfields ? 2 * p->capfields : 16;
        span *f = realloc(p->fields, cap * sizeof *f);
        if (!f) return ks_error(p->c, KS_ENOMEM, "%s: out of memory", p->path);
        p->fields = f;
        p->capfields = cap;
    }
    p->fields[p->nfields++] = (span){s, n};
    return KS_OK;
}

/* Length of the line end at i: 2 for CRLF, 1 for LF or a lone CR (old Mac
 * files), 0 when buf[i] ends no line. */
static size_t eol_len(const parser *p, size_t i)
{
    if (i >= p->len) return 0;
    if (p->buf[i] == '\n') return 1;
    if (p->buf[i] != '\r') return 0;
    return i + 1 < p->len && p->buf[i + 1] == '\n' ? 2 : 1;
}

/* A quoted field starting at pos (on the opening quote); unescaped in place. */
static ks_status quoted_field(parser *p, char sep, char **s, size_t *n)
{
    long start_line = p->line;
    size_t w = ++p->pos;
    *s = p->buf + w;
    for (;;) {
        if (p->pos >= p->len)
            return ks_error(p->c, KS_EFORMAT, "%s: line %ld: quoted field (field %zu) is never closed", p->path,
                            start_line, p->nfields);
        char ch = p->buf[p->pos];
        if (ch == '"') {
            if (p->pos + 1 < p->len && p->buf[p->pos + 1] == '"') {
                p->buf[w++] = '"';
                p->pos += 2;
                continue;
            }
            p->pos++;
            break;
        }
        if (eol_len(p, p->pos) == 1) p->line++; /* LF, lone CR, or the LF of a CRLF; the bytes stay */
        p->buf[w++] = ch;
        p->pos++;
    }
    *n = (size_t)(p->buf + w - *s);
    if (p->pos < p->len) {
        char ch = p->buf[p->pos];
        if (ch != sep && !eol_len(p, p->pos))
            return ks_error(p->c, KS_EFORMAT, "%s: line %ld: column %zu: unexpected character '%c' after a closing quote",
                            p->path, p->line, p->nfields, ch);
    }
    return KS_OK;
}

/* Parse one record into p->fields. *eof when nothing was left. Empty lines are skipped. */
static ks_status next_record(parser *p, char sep, int *eof, long *rec_line)
{
    p->nfields = 0;
    for (size_t e; (e = eol_len(p, p->pos)); p->line++) p->pos += e;
    *eof = p->pos >= p->len;
    *rec_line = p->line;
    if (*eof) return KS_OK;
    for (;;) {
        char *s = NULL;
        size_t n = 0;
        ks_status st;
        if (p->pos < p->len && p->buf[p->pos] == '"') {
            if ((st = quoted_field(p, sep, &s, &n))) return st;
        } else {
            s = p->buf + p->pos;
            while (p->pos < p->len && p->buf[p->pos] != sep && p->buf[p->pos] != '\n' && p->buf[p->pos] != '\r')
                p->pos++;
            n = (size_t)(p->buf + p->pos - s);
        }
        if ((st = push_field(p, s, n))) return st;
        if (p->pos >= p->len) return KS_OK;
        if (p->buf[p->pos] == sep) { p->pos++; continue; }
        p->pos += eol_len(p, p->pos);
        p->line++;
        return KS_OK;
    }
}

/* ------------------------------------------------------------ values */
static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t')) (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t')) (*n)--;
}

/* Parse a whole field as a number: a double (d set; "C" numbers whatever the
 * process locale) or a base-10 int64 in range (i set). 0 when empty or not a
 * number. The byte after a field is a separator, line break or the buffer's
 * terminator, so it can be set to NUL for strtod/strtoll and restored. */
static int parse_number(span f, locale_t loc, double *d, int64_t *i)
{
    const char *s = f.p;
    size_t n = f.n;
    trim(&s, &n);
    if (!n) return 0;
    char *end, save = s[n];
    ((char *)s)[n] = 0;
    errno = 0;
    if (d) *d = strtod_l(s, &end, loc);
    else *i = strtoll(s, &end, 10);
    ((char *)s)[n] = save;
    return end == s + n && (d || errno == 0); /* ERANGE fails an int; a double keeps strtod's inf or 0 */
}
static int parse_double(span f, double *v, locale_t loc) { return parse_number(f, loc, v, NULL); }
static int parse_int(span f, int64_t *v) { return parse_number(f, (locale_t)0, NULL, v); }

static char *dup_span(span f)
{
    char *s = malloc(f.n + 1);
    if (s) {
        memcpy(s, f.p, f.n);
        s[f.n] = 0;
    }
    return s;
}

/* ------------------------------------------------------------ reader */
typedef struct reader {
    parser p;
    const ks_csv_opts *o;
    size_t ncols;
    int64_t label_col; /* -1: none */
    char **names;      /* header names (ncols), or NULL */
    float *x;          /* features, grown */
    size_t nrows, caprows;
    span *ls;          /* label fields */
    locale_t loc;      /* the "C" locale for strtod_l */
} reader;

static ks_status resolve_label(reader *r)
{
    const ks_csv_opts *o = r->o;
    r->label_col = -1;
    if (!o->has_label) return KS_OK;
    if (o->label_name) {
        if (!r->names)
            return ks_error(r->p.c, KS_EINVAL, "%s: label column '%s' given by name but header=false", r->p.path,
                            o->label_name);
        for (size_t j = 0; j < r->ncols; j++)
            if (strcmp(r->names[j], o->label_name) == 0) r->label_col = (int64_t)j;
        if (r->label_col < 0)
            return ks_error(r->p.c, KS_EINVAL, "%s: no column named '%s' in the header (%zu columns, first '%s')",
                            r->p.path, o->label_name, r->ncols, r->names[0]);
        return KS_OK;
    }
    int64_t j = o->label_index < 0 ? o->label_index + (int64_t)r->ncols : o->label_index;
    if (j < 0 || j >= (int64_t)r->ncols)
        return ks_error(r->p.c, KS_ERANGE, "%s: label column %lld out of range for %zu columns", r->p.path,
                        (long long)o->label_index, r->ncols);
    r->label_col = j;
    return KS_OK;
}

static ks_status grow_rows(reader *r)
{
    if (r->nrows < r->caprows) return KS_OK;
    size_t cap = r->caprows ? 2 * r->caprows : 256, nf = r->ncols - (r->label_col >= 0), bytes;
    if (ks_mul_overflow(cap, (nf ? nf : 1) * sizeof(float), &bytes))
        return ks_error(r->p.c, KS_ENOMEM, "%s: too many rows", r->p.path);
    float *x = realloc(r->x, bytes);
    if (!x) return ks_error(r->p.c, KS_ENOMEM, "%s: out of memory at %zu rows", r->p.path, r->nrows);
    r->x = x;
    span *ls = realloc(r->ls, cap * sizeof *ls);
    if (!ls) return ks_error(r->p.c, KS_ENOMEM, "%s: out of memory at %zu rows", r->p.path, r->nrows);
    r->ls = ls;
    r->caprows = cap;
    return KS_OK;
}

/* At most 60 bytes of s for a message, control bytes as \xNN (a NUL would
 * end the message there). */
static const char *printable(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && i < 60 && k + 5 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f) k += (size_t)snprintf(out + k, cap - k, "\\x%02X", ch);
        else out[k++] = (char)ch;
    }
    out[k] = 0;
    return out;
}

static ks_status bad_value(reader *r, long line, size_t j, span f)
{
    const char *s = f.p;
    size_t n = f.n;
    trim(&s, &n);
    char name[160] = "";
    if (r->names) snprintf(name, sizeof name, " ('%.120s')", r->names[j]);
    if (!n)
        return ks_error(r->p.c, KS_EFORMAT, "%s: line %ld, column %zu%s: missing value (pass fill= to replace it)",
                        r->p.path, line, j, name);
    char shown[256];
    return ks_error(r->p.c, KS_EFORMAT, "%s: line %ld, column %zu%s: non-numeric value '%s' (pass fill= to replace it)",
                    r->p.path, line, j, name, printable(s, n, shown, sizeof shown));
}

static ks_status add_row(reader *r, long line)
{
    ks_status st = grow_rows(r);
    if (st) return st;
    size_t nf = r->ncols - (r->label_col >= 0);
    float *row = r->x + r->nrows * nf;
    for (size_t j = 0, k = 0; j < r->ncols; j++) {
        span f = r->p.fields[j];
        if ((int64_t)j == r->label_col) {
            r->ls[r->nrows] = f;
            continue;
        }
        double v;
        if (!parse_double(f, &v, r->loc)) {
            if (!r->o->has_fill) return bad_value(r, line, j, f);
            v = r->o->fill;
        }
        row[k++] = (float)v;
    }
    r->nrows++;
    return (r->nrows & 0xffff) ? KS_OK : ks_check_interrupt(r->p.c);
}

static ks_status read_records(reader *r)
{
    parser *p = &r->p;
    int eof;
    long line;
    ks_status st = next_record(p, r->o->sep, &eof, &line);
    if (st) return st;
    if (eof) return ks_error(p->c, KS_EFORMAT, "%s: empty file (no %s)", p->path, r->o->header ? "header" : "rows");
    r->ncols = p->nfields;
    if (r->o->header) {
        r->names = calloc(r->ncols, sizeof *r->names);
        if (!r->names) return ks_error(p->c, KS_ENOMEM, "%s: out of memory", p->path);
        for (size_t j = 0; j < r->ncols; j++)
            if (!(r->names[j] = dup_span(p->fields[j]))) return ks_error(p->c, KS_ENOMEM, "%s: out of memory", p->path);
    }
    if ((st = resolve_label(r))) return st;
    if (!r->o->header && (st = add_row(r, line))) return st;
    for (;;) {
        if ((st = next_record(p, r->o->sep, &eof, &line))) return st;
        if (eof) return KS_OK;
        if (p->nfields != r->ncols)
            return ks_error(p->c, KS_EFORMAT, "%s: line %ld: %zu fields, expected %zu (as in the %s)", p->path, line,
                            p->nfields, r->ncols, r->o->header ? "header" : "first row");
        if ((st = add_row(r, line))) return st;
    }
}

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    size_t n = x->n < y->n ? x->n : y->n;
    int d = memcmp(x->p, y->p, n);
    return d ? d : (x->n > y->n) - (x->n < y->n);
}

/* Integers as they are, else strings -> index in the sorted distinct values. */
static ks_status make_labels(reader *r, ks_csv_result *out)
{
    ks_ctx *c = r->p.c;
    int64_t n = (int64_t)r->nrows;
    ks_status st = ks_tensor_empty(c, KS_INT64, 1, &n, &out->labels);
    if (st) return st;
    int64_t *y = ks_tensor_data(out->labels);
    int all_int = 1;
    for (size_t i = 0; i < r->nrows && all_int; i++) all_int = parse_int(r->ls[i], &y[i]);
    if (all_int) return KS_OK;
    span *u = malloc((r->nrows ? r->nrows : 1) * sizeof *u);
    if (!u) return ks_error(c, KS_ENOMEM, "%s: out of memory", r->p.path);
    memcpy(u, r->ls, r->nrows * sizeof *u);
    qsort(u, r->nrows, sizeof *u, cmp_span);
    size_t nu = 0;
    for (size_t i = 0; i < r->nrows; i++)
        if (!nu || cmp_span(&u[nu - 1], &u[i])) u[nu++] = u[i];
    for (size_t i = 0; i < r->nrows; i++) {
        span *hit = bsearch(&r->ls[i], u, nu, sizeof *u, cmp_span);
        y[i] = hit - u;
    }
    out->class_names = calloc(nu ? nu : 1, sizeof *out->class_names);
    st = out->class_names ? KS_OK : ks_error(c, KS_ENOMEM, "%s: out of memory", r->p.path);
    for (size_t i = 0; i < nu && !st; i++) {
        out->class_names[i] = dup_span(u[i]);
        out->nclasses = (int)i + 1;
        if (!out->class_names[i]) st = ks_error(c, KS_ENOMEM, "%s: out of memory", r->p.path);
    }
    free(u);
    return st;
}

static ks_status make_result(reader *r, ks_csv_result *out)
{
    ks_ctx *c = r->p.c;
    int64_t size[2] = {(int64_t)r->nrows, (int64_t)(r->ncols - (r->label_col >= 0))};
    ks_status st = ks_tensor_empty(c, KS_FLOAT32, 2, size, &out->features);
    if (st) return st;
    if (size[0] && size[1]) memcpy(ks_tensor_data(out->features), r->x, (size_t)(size[0] * size[1]) * sizeof(float));
    out->nfeatures = (int)size[1];
    if (r->names) {
        out->feature_names = calloc(r->ncols, sizeof *out->feature_names);
        if (!out->feature_names) return ks_error(c, KS_ENOMEM, "%s: out of memory", r->p.path);
        for (size_t j = 0, k = 0; j < r->ncols; j++) {
            if ((int64_t)j == r->label_col) out->label_column = r->names[j];
            else out->feature_names[k++] = r->names[j];
            r->names[j] = NULL; /* moved */
        }
    }
    return r->label_col >= 0 ? make_labels(r, out) : KS_OK;
}

void ks_csv_result_free(ks_csv_result *r)
{
    ks_tensor_release(r->features);
    ks_tensor_release(r->labels);
    for (int i = 0; i < r->nclasses; i++) free(r->class_names[i]);
    if (r->feature_names)
        for (int i = 0; i < r->nfeatures; i++) free(r->feature_names[i]);
    free(r->class_names);
    free(r->feature_names);
    free(r->label_column);
    memset(r, 0, sizeof *r);
}

ks_status ks_csv_read(ks_ctx *c, const char *path, const ks_csv_opts *o, ks_csv_result *out)
{
    if (o->sep == '"' || o->sep == '\n' || o->sep == '\r' || o->sep == 0)
        return ks_error(c, KS_EINVAL, "read_csv: separator cannot be a quote, a line break or NUL");
    reader r;
    memset(&r, 0, sizeof r);
    memset(out, 0, sizeof *out);
    r.o = o;
    r.p.c = c;
    r.p.path = path;
    r.p.line = 1;
    r.loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!r.loc) return ks_error(c, KS_ENOMEM, "%s: cannot create the C locale", path);
    ks_status st = ks_file_read_all(c, path, CSV_MAX_BYTES, (unsigned char **)&r.p.buf, &r.p.len);
    if (st) {
        freelocale(r.loc);
        return st;
    }
    if (r.p.len >= 3 && memcmp(r.p.buf, "\xEF\xBB\xBF", 3) == 0) r.p.pos = 3;
    if (!(st = read_records(&r))) st = make_result(&r, out);
    if (r.names)
        for (size_t j = 0; j < r.ncols; j++) free(r.names[j]);
    free(r.names);
    free(r.x);
    free(r.ls);
    free(r.p.fields);
    free(r.p.buf);
    freelocale(r.loc);
    if (st) ks_csv_result_free(out);
    return st;
}
