/* ks_lua_print.c: tostring(t) in PyTorch's format, and ks.set_printoptions.
 *
 * Follows torch/_tensor_str.py:
 *  - one common width for every element shown; floats with `precision`
 *    decimals, or scientific notation when max/min of the non-zero finite
 *    |values| > 1000, max > 1e8 or (non-integer values) min < 1e-4;
 *    integer-valued floats as "1." (int mode); ints plain; bools True/False;
 *  - more than `threshold` elements: `edgeitems` first and last entries of
 *    every dim with "..." between (the width comes from the shown ones only);
 *  - rows wrap at `linewidth`; dims >= 2 are separated by dim-1 newlines;
 *  - suffixes: ", dtype=uint8" for dtypes other than float32/int64/bool,
 *    for empty tensors the size (unless 1-D) and any non-float32 dtype,
 *    then grad_fn=<name> or requires_grad=True.
 *
 *   ks.set_printoptions{precision=4, threshold=1000, edgeitems=3,
 *                       linewidth=80, sci_mode=nil|true|false, profile=}
 *   (PyTorch semantics: an absent key keeps its value, except sci_mode,
 *   which returns to automatic; profile "default", "short" or "full"
 *   resets every option first.) Integers in range, else an error naming the
 *   option and the value: precision 0..30, threshold >= 0 (math.huge: never
 *   summarise), edgeitems 0..2^31-1, linewidth 1..2^31-1.
 *   ks.get_printoptions() -> table.
 * Options are per Lua state.
 */
#include "ks_lua.h"
#include "../runtime/core/ks_autograd.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct printopts {
    int precision, edgeitems, linewidth;
    int64_t threshold;
    int sci_mode; /* -1 automatic, 0 off, 1 on */
} printopts;

static const printopts DEFAULT_OPTS = {4, 3, 80, 1000, -1};

#define OPTS(L) ((printopts *)lua_touserdata((L), lua_upvalueindex(2)))

/* --------------------------------------------------------- the formatter */
typedef struct fmt {
    ks_dtype dt;
    const printopts *o;
    bool summarize;
    bool floating, int_mode, sci;
    int width;
    /* statistics of the non-zero finite values shown (floats) */
    int64_t count;
    double min_abs, max_abs;
} fmt;

typedef void (*visit_fn)(fmt *f, const char *p);

/* Call fn for every element that will be shown, in order. */
static void visit(fmt *f, const ks_tensor *t, const char *p, int d, visit_fn fn)
{
    if (d == t->ndim) { fn(f, p); return; }
    int64_t n = t->size[d], e = f->o->edgeitems, step = t->stride[d] * (int64_t)ks_dtype_size(t->dtype);
    bool cut = f->summarize && n > 2 * e;
    if (cut && e == 0) return; /* only "..." is shown */
    for (int64_t i = 0; i < n; i++) {
        if (cut && i == e) i = n - e;
        visit(f, t, p + i * step, d + 1, fn);
    }
}

static double load(const fmt *f, const char *p) { return ks_load_f64(p, f->dt); }

/* Text of one element without padding (writes buf, returns its length). */
static int format_raw(const fmt *f, const char *p, char *buf, size_t n)
{
    int prec = f->o->precision;
    if (!f->floating) {
        if (f->dt == KS_BOOL) return snprintf(buf, n, "%s", *(const uint8_t *)p ? "True" : "False");
        return snprintf(buf, n, "%lld", (long long)ks_load_i64(p, f->dt));
    }
    double v = load(f, p);
    if (isnan(v)) return snprintf(buf, n, "nan");
    if (f->sci) return snprintf(buf, n, "%.*e", prec, v);
    if (f->int_mode) {
        int k = snprintf(buf, n, "%.0f", v);
        return isinf(v) ? k : k + snprintf(buf + k, n - (size_t)k, ".");
    }
    return snprintf(buf, n, "%.*f", prec, v);
}

static void stats_fn(fmt *f, const char *p)
{
    double v = load(f, p);
    if (!isfinite(v) || v == 0) return;
    double a = fabs(v);
    if (f->count == 0 || a < f->min_abs) f->min_abs = a;
    if (f->count == 0 || a > f->max_abs) f->max_abs = a;
    if (v != ceil(v)) f->int_mode = false;
    f->count++;
}

/* Widths count only what PyTorch counts: non-zero finite values for floats. */
static void width_fn(fmt *f, const char *p)
{
    char buf[64];
    if (f->floating) {
        double v = load(f, p);
        if (!isfinite(v) || v == 0) return;
    }
    int k = format_raw(f, p, buf, sizeof buf);
    if (k > f->width) f->width = k;
}

static void fmt_init(fmt *f, const ks_tensor *t, const printopts *o)
{
    memset(f, 0, sizeof *f);
    f->dt = t->dtype;
    f->o = o;
    f->summarize = t->numel > o->threshold;
    f->floating = ks_dtype_is_float(t->dtype);
    f->int_mode = true;
    f->width = 1;
    const char *base = ks_tensor_data(t);
    if (f->floating) {
        visit(f, t, base, 0, stats_fn);
        if (f->count == 0) {
            f->int_mode = true; /* PyTorch: nothing to measure, "0." style */
        } else if (f->int_mode) {
            f->sci = f->max_abs / f->min_abs > 1000.0 || f->max_abs > 1.0e8;
        } else {
            f->sci = f->max_abs / f->min_abs > 1000.0 || f->max_abs > 1.0e8 || f->min_abs < 1.0e-4;
        }
        if (f->count) {
            visit(f, t, base, 0, width_fn);
            if (o->sci_mode >= 0) f->sci = o->sci_mode; /* after the widths, as PyTorch does */
        }
    } else {
        visit(f, t, base, 0, width_fn);
    }
}

/* ------------------------------------------------------------- output */
static void add_spaces(luaL_Buffer *b, int n)
{
    for (int i = 0; i < n; i++) luaL_addchar(b, ' ');
}

static void add_elem(luaL_Buffer *b, const fmt *f, const char *p)
{
    char buf[64];
    int k = format_raw(f, p, buf, sizeof buf);
    if (k < f->width) add_spaces(b, f->width - k);
    luaL_addlstring(b, buf, (size_t)k);
}

static void add_vector(luaL_Buffer *b, const fmt *f, const ks_tensor *t, const char *p, int indent)
{
    int d = t->ndim - 1;
    int64_t n = t->size[d], e = f->o->edgeitems, step = t->stride[d] * (int64_t)ks_dtype_size(t->dtype);
    int64_t per_line = (f->o->linewidth - indent) / (f->width + 2);
    if (per_line < 1) per_line = 1;
    bool cut = f->summarize && n > 2 * e;
    int64_t items = cut ? 2 * e + 1 : n;
    luaL_addchar(b, '[');
    for (int64_t k = 0; k < items; k++) {
        if (k > 0 && k % per_line == 0) {
            luaL_addstring(b, ",\n");
            add_spaces(b, indent + 1);
        } else if (k > 0) {
            luaL_addstring(b, ", ");
        }
        if (cut && k == e) {
            luaL_addstring(b, e ? " ..." : "...");
            continue;
        }
        int64_t i = cut && k > e ? n - e + (k - e - 1) : k;
        add_elem(b, f, p + i * step);
    }
    luaL_addchar(b, ']');
}

static void add_tensor(lua_State *L, luaL_Buffer *b, const fmt *f, const ks_tensor *t, const char *p, int d, int indent)
{
    int rest = t->ndim - d;
    if (rest == 0) { add_elem(b, f, p); return; }
    if (rest == 1) { add_vector(b, f, t, p, indent); return; }
    int64_t n = t->size[d], e = f->o->edgeitems, step = t->stride[d] * (int64_t)ks_dtype_size(t->dtype);
    bool cut = f->summarize && n > 2 * e;
    if (cut && e == 0) {
        luaL_addstring(b, "[...]");
        return;
    }
    luaL_addchar(b, '[');
    for (int64_t i = 0; i < n; i++) {
        if (i > 0) {
            luaL_addchar(b, ',');
            for (int k = 0; k < rest - 1; k++) luaL_addchar(b, '\n');
            add_spaces(b, indent + 1);
        }
        if (cut && i == e) {
            luaL_addstring(b, "...");
            luaL_addchar(b, ',');
            for (int k = 0; k < rest - 1; k++) luaL_addchar(b, '\n');
            add_spaces(b, indent + 1);
            i = n - e;
        }
        add_tensor(L, b, f, t, p + i * step, d + 1, indent + 1);
    }
    luaL_addchar(b, ']');
}

/* PyTorch's _add_suffixes: ", s" or ",\n<indent>s" when the line would pass linewidth */
static void add_suffix(luaL_Buffer *b, const char *s, int64_t *last_len, const printopts *o)
{
    int64_t len = (int64_t)strlen(s);
    if (*last_len + len + 2 > o->linewidth) {
        luaL_addstring(b, ",\n       ");
        *last_len = 7 + len;
    } else {
        luaL_addstring(b, ", ");
        *last_len += len + 2;
    }
    luaL_addstring(b, s);
}

static void tensor_string(lua_State *L, const ks_tensor *t, const printopts *o)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "tensor(");
    char suffix[3][200];
    int ns = 0;
    if (t->numel == 0) {
        luaL_addstring(&b, "[]");
        if (t->ndim != 1) {
            char dims[160] = "(";
            for (int i = 0; i < t->ndim; i++)
                snprintf(dims + strlen(dims), sizeof dims - strlen(dims), i ? ", %lld" : "%lld", (long long)t->size[i]);
            snprintf(suffix[ns++], sizeof suffix[0], "size=%s)", dims);
        }
        if (t->dtype != KS_FLOAT32) snprintf(suffix[ns++], sizeof suffix[0], "dtype=%s", ks_dtype_name(t->dtype));
    } else {
        fmt f;
        fmt_init(&f, t, o);
        add_tensor(L, &b, &f, t, ks_tensor_data(t), 0, 7);
        if (t->dtype == KS_UINT8) snprintf(suffix[ns++], sizeof suffix[0], "dtype=%s", ks_dtype_name(t->dtype));
    }
    if (t->grad_fn && t->grad_fn->op && t->grad_fn->op->name)
        snprintf(suffix[ns++], sizeof suffix[0], "grad_fn=<%s>", t->grad_fn->op->name);
    else if (t->requires_grad)
        snprintf(suffix[ns++], sizeof suffix[0], "requires_grad=True");
    if (ns) {
        /* length of the last line so far, counted as PyTorch does */
        const char *s = luaL_buffaddr(&b);
        size_t len = luaL_bufflen(&b), pos = len;
        while (pos > 0 && s[pos - 1] != '\n') pos--;
        int64_t last = pos > 0 ? (int64_t)(len - (pos - 1)) + 1 : (int64_t)len + 2;
        for (int i = 0; i < ns; i++) add_suffix(&b, suffix[i], &last, o);
    }
    luaL_addchar(&b, ')');
    luaL_pushresult(&b);
}

static int t_tostring(lua_State *L)
{
    ks_tensor **box = luaL_checkudata(L, 1, KS_TENSOR_MT);
    if (!*box) {
        lua_pushliteral(L, "tensor(<released>)");
        return 1;
    }
    tensor_string(L, *box, OPTS(L));
    return 1;
}

/* ------------------------------------------------------------- options */
/* Option k, an integer in [lo, hi] (checked in 64 bits, before any narrowing
 * to int); math.huge only where hi is INT64_MAX (threshold: never summarise). */
static int64_t int_field(lua_State *L, const char *k, int64_t cur, int64_t lo, int64_t hi)
{
    int ty = lua_getfield(L, 1, k);
    int64_t v = cur;
    if (ty == LUA_TNUMBER && lua_isinteger(L, -1)) {
        v = lua_tointeger(L, -1);
    } else if (ty == LUA_TNUMBER && lua_tonumber(L, -1) == HUGE_VAL && hi == INT64_MAX) {
        v = INT64_MAX;
    } else if (ty != LUA_TNIL) {
        luaL_error(L, "set_printoptions: %s must be an integer in [%I, %I], got %s", k, (lua_Integer)lo,
                   (lua_Integer)hi, ty == LUA_TNUMBER ? lua_tolstring(L, -1, NULL) : luaL_typename(L, -1));
    }
    if (v < lo || v > hi)
        luaL_error(L, "set_printoptions: %s must be an integer in [%I, %I], got %I", k, (lua_Integer)lo,
                   (lua_Integer)hi, (lua_Integer)v);
    lua_pop(L, 1);
    return v;
}

static int l_set_printoptions(lua_State *L)
{
    printopts *o = OPTS(L), n = *o;
    luaL_checktype(L, 1, LUA_TTABLE);
    ks_lua_check_known(L, 1, "set_printoptions", (const char *const[]){"precision", "threshold", "edgeitems",
                                                                       "linewidth", "sci_mode", "profile", NULL});
    if (lua_getfield(L, 1, "profile") != LUA_TNIL) {
        const char *p = lua_tostring(L, -1);
        n = DEFAULT_OPTS;
        if (p && strcmp(p, "short") == 0) { n.precision = 2; n.edgeitems = 2; }
        else if (p && strcmp(p, "full") == 0) { n.threshold = INT64_MAX; }
        else if (!p || strcmp(p, "default") != 0)
            return luaL_error(L, "set_printoptions: profile must be \"default\", \"short\" or \"full\"");
    }
    lua_pop(L, 1);
    n.precision = (int)int_field(L, "precision", n.precision, 0, 30);
    n.threshold = int_field(L, "threshold", n.threshold, 0, INT64_MAX);
    n.edgeitems = (int)int_field(L, "edgeitems", n.edgeitems, 0, INT_MAX);
    n.linewidth = (int)int_field(L, "linewidth", n.linewidth, 1, INT_MAX);
    int ty = lua_getfield(L, 1, "sci_mode");
    if (ty != LUA_TNIL && ty != LUA_TBOOLEAN)
        return luaL_error(L, "set_printoptions: sci_mode must be a boolean or nil, got %s", luaL_typename(L, -1));
    n.sci_mode = ty == LUA_TNIL ? -1 : lua_toboolean(L, -1);
    *o = n;
    return 0;
}

static int l_get_printoptions(lua_State *L)
{
    printopts *o = OPTS(L);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, o->precision);
    lua_setfield(L, -2, "precision");
    if (o->threshold == INT64_MAX) lua_pushnumber(L, HUGE_VAL);
    else lua_pushinteger(L, o->threshold);
    lua_setfield(L, -2, "threshold");
    lua_pushinteger(L, o->edgeitems);
    lua_setfield(L, -2, "edgeitems");
    lua_pushinteger(L, o->linewidth);
    lua_setfield(L, -2, "linewidth");
    if (o->sci_mode >= 0) {
        lua_pushboolean(L, o->sci_mode);
        lua_setfield(L, -2, "sci_mode");
    }
    return 1;
}

void ks_lua_open_print(lua_State *L, int module, int methods, int ctxbox)
{
    module = lua_absindex(L, module);
    ctxbox = lua_absindex(L, ctxbox);
    printopts *o = lua_newuserdatauv(L, sizeof *o, 0);
    *o = DEFAULT_OPTS;
    int opts = lua_gettop(L);
    struct { const char *name; lua_CFunction fn; } fns[] = {
        {"set_printoptions", l_set_printoptions}, {"get_printoptions", l_get_printoptions}};
    for (int i = 0; i < 2; i++) {
        lua_pushvalue(L, ctxbox);
        lua_pushvalue(L, opts);
        lua_pushcclosure(L, fns[i].fn, 2);
        lua_setfield(L, module, fns[i].name);
    }
    luaL_getmetatable(L, KS_TENSOR_MT);
    lua_pushvalue(L, ctxbox);
    lua_pushvalue(L, opts);
    lua_pushcclosure(L, t_tostring, 2);
    lua_setfield(L, -2, "__tostring");
    lua_pop(L, 2);
    (void)methods;
}
