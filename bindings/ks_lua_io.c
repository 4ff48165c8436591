/* ks_lua_io.c: file readers and writers.
 *
 *   ks.save(path, {name = tensor, ...}[, names][, {key = "value", ...}])   safetensors, atomic
 *       (metadata values round-trip exactly, NULs included; names and keys with a NUL are refused)
 *       names: optional list {"a", "b", ...} naming every tensor exactly once, as the second
 *       result of model:state_dict() is, so ks.save(path, model:state_dict()) works (as
 *       torch.save(model.state_dict())); the metadata then comes 4th. The file layout is the
 *       canonical one whatever the list's order (header keys sorted, data in key order).
 *       A non-empty list (t[1] ~= nil) is a names list; any other table is the metadata.
 *   ks.load(path) -> {name = tensor, ...}, {key = "value", ...}   (metadata {} when absent)
 *   ks.data.read_csv(path[, {label = "name" | index, header = true, sep = ",", fill = number}])
 *       -> features float32 [N, F], labels int64 [N] | nil, class_names | nil, feature_names | nil
 *       (string labels: classes are the sorted distinct strings, class_names[label + 1];
 *        integer labels are kept as they are and class_names is nil)
 *   ks.data.read_npy(path) -> tensor;  ks.data.save_npy(path, t);  ks.data.read_npz(path) -> {name = tensor}
 *   ks.data.to_float(images[, {scale = 1/255, mean = m | {..}, std = s | {..}}]) -> float32
 *       (x * scale - mean) / std, any layout of >= 2 dims ([N, H, W] batches included); only
 *       per-channel lists of 2+ entries take dim -3 as the channels ([..., C, H, W])
 *   ks.image.load(path[, {gray = true | false, size = {h, w}}]) -> uint8 [C, H, W]
 * Unknown option keys are errors (kshot.options wording).
 *   ks.image.save(path, t[, {format = "png" | "jpeg", quality = 95}])  (format from the
 *       extension when absent: .jpg/.jpeg -> jpeg, else png)
 *   ks.image.resize(t, {h, w}) -> same dtype (bilinear, half-pixel centres)
 *   ks.image.listdir(path) -> sorted names (byte order, hidden entries skipped), {name = true} for folders
 * The Lua side of ks.image (save_grid, image_folder) is bindings/lua/kshot/image.lua, loaded on
 * the first lookup of a missing field. Contracts: runtime/core/ks_{safetensors,csv,npy,image}.h.
 */
#include "ks_lua.h"
#include "../runtime/core/ks_csv.h"
#include "../runtime/core/ks_image.h"
#include "../runtime/core/ks_npy.h"
#include "../runtime/core/ks_safetensors.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ guards */
/* A userdata that frees a C result when collected, so a Lua error while the
 * result is being turned into Lua values leaks nothing. */
#define GUARD_MT "kshot.io.guard"
typedef struct guard {
    void (*fn)(void *);
    void *p;
} guard;

static int guard_gc(lua_State *L)
{
    guard *g = luaL_checkudata(L, 1, GUARD_MT);
    if (g->p) g->fn(g->p);
    g->p = NULL;
    return 0;
}

static guard *push_guard(lua_State *L, void (*fn)(void *))
{
    guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->fn = fn;
    g->p = NULL;
    luaL_setmetatable(L, GUARD_MT);
    return g;
}

static void push_strings(lua_State *L, char **s, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, s[i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static const char *check_path(lua_State *L, int arg)
{
    if (lua_type(L, arg) != LUA_TSTRING)
        luaL_argerror(L, arg, lua_pushfstring(L, "path (string) expected, got %s", luaL_typename(L, arg)));
    return lua_tostring(L, arg);
}

/* nil or an options table with only the `known` keys (NULL-terminated) */
static void check_opts(lua_State *L, int arg, const char *op, const char *const *known)
{
    if (!lua_isnoneornil(L, arg) && !lua_istable(L, arg))
        luaL_error(L, "%s: options table expected as argument #%d, got %s", op, arg, luaL_typename(L, arg));
    ks_lua_check_known(L, arg, op, known);
}

/* ------------------------------------------------------------ safetensors */
static void st_free(void *p) { ks_st_file_free(p); }

/* The string key at -2 must hold no NUL byte (JSON keys with \u0000 do not
 * load back with jansson: refuse rather than truncate or merge keys). */
static void check_key_nul(lua_State *L, const char *what)
{
    size_t n;
    const char *k = lua_tolstring(L, -2, &n);
    if (strlen(k) == n) return;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (size_t i = 0; i < n; i++) {
        if (k[i]) luaL_addchar(&b, k[i]);
        else luaL_addstring(&b, "\\0");
    }
    luaL_pushresult(&b);
    luaL_error(L, "save: %s '%s' contains a NUL byte (at byte %d), which a safetensors header key cannot hold", what,
               lua_tostring(L, -1), (int)strlen(k));
}

/* A table at idx holding [1] is a names list (the key list of state_dict()). */
static bool is_names_list(lua_State *L, int idx)
{
    if (!lua_istable(L, idx)) return false;
    bool list = lua_rawgeti(L, idx, 1) != LUA_TNIL;
    lua_pop(L, 1);
    return list;
}

/* The names list at `arg` must name every key of the tensor table exactly
 * once, and nothing else. */
static void check_names(lua_State *L, int arg, int tensors, int n)
{
    lua_Integer len = (lua_Integer)lua_rawlen(L, arg);
    lua_createtable(L, 0, (int)len); /* names seen so far */
    int seen = lua_gettop(L);
    for (lua_Integer i = 1; i <= len; i++) {
        if (lua_rawgeti(L, arg, i) != LUA_TSTRING)
            luaL_error(L, "save: names list (argument #%d) entry %d must be a tensor name (string), got %s", arg,
                       (int)i, luaL_typename(L, -1));
        const char *name = lua_tostring(L, -1);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, tensors) == LUA_TNIL)
            luaL_error(L, "save: names list (argument #%d) entry %d ('%s') is not a key of the tensor table", arg,
                       (int)i, name);
        lua_pop(L, 1);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, seen) != LUA_TNIL)
            luaL_error(L, "save: names list (argument #%d) names '%s' twice", arg, name);
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
        lua_rawset(L, seen);
    }
    lua_Integer keys = 0;
    for (lua_pushnil(L); lua_next(L, arg); lua_pop(L, 1)) keys++;
    if (keys != len)
        luaL_error(L, "save: names list (argument #%d) must be a plain list of names (it has %d other keys; "
                      "the metadata goes in argument #%d)", arg, (int)(keys - len), arg + 1);
    /* len distinct keys of the table: complete when there are n of them */
    if (len != n)
        for (lua_pushnil(L); lua_next(L, tensors); lua_pop(L, 1)) {
            lua_pushvalue(L, -2);
            if (lua_rawget(L, seen) == LUA_TNIL)
                luaL_error(L, "save: tensor '%s' is missing from the names list (argument #%d)", lua_tostring(L, -3),
                           arg);
            lua_pop(L, 1);
        }
    lua_pop(L, 1);
}

/* ks.save(path, tensors[, names][, metadata]) */
static int l_save(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    const char *path = check_path(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    /* torch.save(model) habit: a module (anything with a state_dict method) is not a table of tensors */
    if (lua_getmetatable(L, 2)) {
        lua_pop(L, 1);
        int has_sd = lua_getfield(L, 2, "state_dict") == LUA_TFUNCTION;
        lua_pop(L, 1);
        if (has_sd)
            return luaL_error(L, "save: got a module, not a table of tensors; save its weights with "
                                 "ks.save(path, model:state_dict()) and load them with "
                                 "model:load_state_dict(ks.load(path))");
    }
    /* (path, tensors, names, meta), (path, tensors, nil, meta) or (path, tensors, meta) */
    int names_arg = is_names_list(L, 3) ? 3 : 0;
    int meta = names_arg || (lua_isnil(L, 3) && !lua_isnoneornil(L, 4)) ? 4 : 3;
    if (!lua_isnoneornil(L, meta)) luaL_checktype(L, meta, LUA_TTABLE);
    if (lua_gettop(L) > meta) return luaL_argerror(L, meta + 1, "unexpected extra argument");
    int n = 0, nm = 0;
    for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            return luaL_error(L, "save: tensor names must be strings, got a %s key", luaL_typename(L, -2));
        /* torch.save({"model": sd, "epoch": 3}) habit: say where nested tables and plain values go */
        if (!ks_lua_to_tensor(L, -1))
            return luaL_error(L,
                              "save: value of '%s' must be a kshot.Tensor, got %s (ks.save writes one flat table of "
                              "tensors, with string metadata as its last argument; a checkpoint with state dicts "
                              "and plain values is optim.save_checkpoint(path, {model = model, optimizer = opt, "
                              "scheduler = sched, epoch = n, ...}), read back by optim.load_checkpoint)",
                              lua_tostring(L, -2), luaL_typename(L, -1));
        check_key_nul(L, "tensor name");
        n++;
    }
    if (names_arg) check_names(L, names_arg, 2, n);
    if (lua_istable(L, meta))
        for (lua_pushnil(L); lua_next(L, meta); lua_pop(L, 1)) {
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "save: metadata must map strings to strings (got %s -> %s)",
                                  luaL_typename(L, -2), luaL_typename(L, -1));
            check_key_nul(L, "metadata key");
            nm++;
        }
    /* scratch arrays in a userdata (collected on error); the tables keep the strings alive */
    size_t nslots = (size_t)n + 2 * (size_t)nm + 1;
    const char **names = lua_newuserdatauv(L, nslots * sizeof(void *) + ((size_t)n + 1) * sizeof(ks_tensor *) +
                                                   ((size_t)nm + 1) * sizeof(size_t), 0);
    const char **mk = names + n, **mv = mk + nm;
    ks_tensor **ts = (ks_tensor **)(names + nslots);
    size_t *mvl = (size_t *)(ts + n + 1); /* value lengths: values may hold NULs */
    int i = 0;
    if (names_arg) {
        for (i = 0; i < n; i++) {
            lua_rawgeti(L, names_arg, i + 1);
            names[i] = lua_tostring(L, -1); /* interned in the list: stays alive */
            lua_rawget(L, 2);
            ts[i] = ks_lua_to_tensor(L, -1);
            lua_pop(L, 1);
        }
    } else {
        for (lua_pushnil(L); lua_next(L, 2); lua_pop(L, 1), i++) {
            names[i] = lua_tostring(L, -2);
            ts[i] = ks_lua_to_tensor(L, -1);
        }
    }
    i = 0;
    if (lua_istable(L, meta))
        for (lua_pushnil(L); lua_next(L, meta); lua_pop(L, 1), i++) {
            mk[i] = lua_tostring(L, -2);
            mv[i] = lua_tolstring(L, -1, &mvl[i]);
        }
    if (ks_safetensors_save(c, path, n, names, ts, nm, mk, mv, mvl)) return ks_lua_raise(L, c);
    return 0;
}

/* A table name -> tensor of the n tensors a file reader returned (safetensors,
 * npz): each box takes its tensor and the list's slot is cleared, so the
 * reader's free (the guard) releases only those not yet handed over. */
static void push_named(lua_State *L, ks_ctx *c, int n, char *const *names, ks_tensor **tensors)
{
    lua_createtable(L, 0, n);
    for (int i = 0; i < n; i++) {
        ks_lua_push_tensor(L, c, tensors[i]);
        tensors[i] = NULL; /* the box owns it now */
        lua_setfield(L, -2, names[i]);
    }
}

/* ks.load(path) -> tensors, metadata */
static int l_load(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    const char *path = check_path(L, 1);
    guard *g = push_guard(L, st_free);
    ks_st_file *f;
    if (ks_safetensors_load(c, path, &f)) return ks_lua_raise(L, c);
    g->p = f;
    push_named(L, c, f->n, f->names, f->tensors);
    lua_createtable(L, 0, f->nmeta);
    for (int i = 0; i < f->nmeta; i++) {
        lua_pushlstring(L, f->meta_values[i], f->meta_value_lens[i]);
        lua_setfield(L, -2, f->meta_keys[i]);
    }
    return 2;
}

/* ------------------------------------------------------------ CSV */
static void csv_free(void *p)
{
    ks_csv_result_free(p);
    free(p);
}

static int l_read_csv(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    const char *path = check_path(L, 1);
    check_opts(L, 2, "read_csv", (const char *const[]){"label", "header", "sep", "fill", NULL});
    ks_csv_opts o = {.sep = ',', .header = ks_lua_opt_boolfield(L, 2, "header", 1)};
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "sep");
        if (!lua_isnil(L, -1)) {
            size_t len;
            const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            if (!s || len != 1) return luaL_error(L, "read_csv: option 'sep' must be a one-character string");
            o.sep = s[0];
        }
        lua_getfield(L, 2, "fill");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER)
                return luaL_error(L, "read_csv: option 'fill' must be a number, got %s", luaL_typename(L, -1));
            o.has_fill = 1;
            o.fill = lua_tonumber(L, -1);
        }
        lua_getfield(L, 2, "label");
        if (lua_type(L, -1) == LUA_TSTRING) {
            o.has_label = 1;
            o.label_name = lua_tostring(L, -1);
        } else if (lua_isinteger(L, -1)) {
            o.has_label = 1;
            o.label_index = lua_tointeger(L, -1);
        } else if (!lua_isnil(L, -1)) {
            return luaL_error(L, "read_csv: option 'label' must be a column name or a 0-based index, got %s",
                              luaL_typename(L, -1));
        }
        /* label string stays on the stack while reading */
    }
    guard *g = push_guard(L, csv_free);
    ks_csv_result *r = calloc(1, sizeof *r);
    if (!r) return luaL_error(L, "read_csv: out of memory");
    g->p = r;
    if (ks_csv_read(c, path, &o, r)) return ks_lua_raise(L, c);
    ks_lua_push_tensor(L, c, r->features);
    r->features = NULL;
    if (r->labels) {
        ks_lua_push_tensor(L, c, r->labels);
        r->labels = NULL;
    } else {
        lua_pushnil(L);
    }
    if (r->class_names) push_strings(L, r->class_names, r->nclasses);
    else lua_pushnil(L);
    if (r->feature_names) push_strings(L, r->feature_names, r->nfeatures);
    else lua_pushnil(L);
    return 4;
}

/* ------------------------------------------------------------ NPY */
static int l_read_npy(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    const char *path = check_path(L, 1);
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t;
    if (ks_npy_read(c, path, &t)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, t);
    return 1;
}

static int l_save_npy(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    const char *path = check_path(L, 1);
    ks_tensor *t = ks_lua_check_tensor(L, 2);
    if (ks_npy_save(c, path, t)) return ks_lua_raise(L, c);
    return 0;
}

static void npz_free(void *p) { ks_npz_free(p); }

static int l_read_npz(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    const char *path = check_path(L, 1);
    guard *g = push_guard(L, npz_free);
    ks_npz *z;
    if (ks_npz_read(c, path, &z)) return ks_lua_raise(L, c);
    g->p = z;
    push_named(L, c, z->n, z->names, z->tensors);
    return 1;
}

/* ------------------------------------------------------------ images */
/* {h, w} at stack index idx into oh, ow */
static void check_size(lua_State *L, int idx, const char *op, int64_t *oh, int64_t *ow)
{
    int64_t v[2];
    if (!lua_istable(L, idx) || luaL_len(L, idx) != 2)
        luaL_error(L, "%s: size must be a table {h, w}, got %s", op, luaL_typename(L, idx));
    for (int i = 0; i < 2; i++) {
        lua_geti(L, idx, i + 1);
        int ok;
        v[i] = lua_tointegerx(L, -1, &ok);
        if (!ok || v[i] < 1) luaL_error(L, "%s: size entries must be integers >= 1", op);
        lua_pop(L, 1);
    }
    *oh = v[0];
    *ow = v[1];
}

static int l_image_load(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    const char *path = check_path(L, 1);
    check_opts(L, 2, "image.load", (const char *const[]){"gray", "channels", "size", NULL});
    int channels = 0;
    int64_t oh = 0, ow = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "gray");
        if (!lua_isnil(L, -1)) {
            if (!lua_isboolean(L, -1)) return luaL_error(L, "image.load: option 'gray' must be a boolean");
            channels = lua_toboolean(L, -1) ? 1 : 3;
        }
        lua_getfield(L, 2, "channels"); /* 1 or 3 (used by image_folder to match the first image) */
        if (!lua_isnil(L, -1)) channels = (int)luaL_checkinteger(L, -1);
        lua_getfield(L, 2, "size");
        if (!lua_isnil(L, -1)) check_size(L, lua_gettop(L), "image.load", &oh, &ow);
    }
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *t, *r;
    if (ks_image_load(c, path, channels, &t)) return ks_lua_raise(L, c);
    if (oh && (t->size[1] != oh || t->size[2] != ow)) {
        ks_status st = ks_image_resize(c, t, oh, ow, &r);
        ks_tensor_release(t);
        if (st) return ks_lua_raise(L, c);
        t = r;
    }
    ks_lua_fillbox(L, c, box, t);
    return 1;
}

static int ends_with_ci(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int l_image_save(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    const char *path = check_path(L, 1);
    ks_tensor *t = ks_lua_check_tensor(L, 2);
    check_opts(L, 3, "image.save", (const char *const[]){"format", "quality", NULL});
    int jpeg = ends_with_ci(path, ".jpg") || ends_with_ci(path, ".jpeg");
    lua_Integer quality = 95;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "format");
        if (!lua_isnil(L, -1)) {
            const char *f = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
            if (strcmp(f, "png") == 0) jpeg = 0;
            else if (strcmp(f, "jpeg") == 0 || strcmp(f, "jpg") == 0) jpeg = 1;
            else return luaL_error(L, "image.save: option 'format' must be \"png\" or \"jpeg\"");
        }
        lua_getfield(L, 3, "quality");
        if (!lua_isnil(L, -1)) {
            int ok;
            quality = lua_tointegerx(L, -1, &ok);
            if (!ok) return luaL_error(L, "image.save: option 'quality' must be an integer in [1, 100]");
        }
    }
    if (quality < 1 || quality > 100) return luaL_error(L, "image.save: quality must be in [1, 100], got %d", (int)quality);
    ks_status st = jpeg ? ks_image_save_jpeg(c, path, t, (int)quality) : ks_image_save_png(c, path, t);
    if (st) return ks_lua_raise(L, c);
    return 0;
}

static int l_image_resize(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *t = ks_lua_check_tensor(L, 1);
    int64_t oh, ow;
    if (lua_isinteger(L, 2)) {
        oh = lua_tointeger(L, 2);
        ow = luaL_checkinteger(L, 3);
    } else {
        check_size(L, 2, "image.resize", &oh, &ow);
    }
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r;
    if (ks_image_resize(c, t, oh, ow, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* per-channel values: a number or a list of numbers (at most 256) */
static int opt_channels(lua_State *L, int opts, const char *key, double *v)
{
    lua_getfield(L, opts, key);
    int n = 0;
    if (lua_type(L, -1) == LUA_TNUMBER) {
        v[n++] = lua_tonumber(L, -1);
    } else if (lua_istable(L, -1)) {
        lua_Integer len = luaL_len(L, -1);
        if (len < 1 || len > 256) luaL_error(L, "to_float: option '%s' must have 1 to 256 entries", key);
        for (lua_Integer i = 1; i <= len; i++, n++) {
            lua_geti(L, -1, i);
            if (lua_type(L, -1) != LUA_TNUMBER) luaL_error(L, "to_float: %s[%d] is not a number", key, (int)i);
            v[n] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
    } else if (!lua_isnil(L, -1)) {
        luaL_error(L, "to_float: option '%s' must be a number or a list of numbers, got %s", key, luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    return n;
}

static int l_to_float(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1);
    check_opts(L, 2, "to_float", (const char *const[]){"scale", "mean", "std", NULL});
    double scale = 1.0 / 255.0, mean[256], std[256];
    int nm = 0, ns = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "scale");
        if (!lua_isnil(L, -1)) {
            if (lua_type(L, -1) != LUA_TNUMBER) return luaL_error(L, "to_float: option 'scale' must be a number");
            scale = lua_tonumber(L, -1);
        }
        lua_pop(L, 1);
        nm = opt_channels(L, 2, "mean", mean);
        ns = opt_channels(L, 2, "std", std);
    }
    if (nm && ns && nm != ns && nm != 1 && ns != 1)
        return luaL_error(L, "to_float: mean has %d entries but std has %d", nm, ns);
    int n = nm > ns ? nm : ns;
    if (n > 1) { /* broadcast a single value to every channel */
        for (int i = 1; nm == 1 && i < n; i++) mean[i] = mean[0];
        for (int i = 1; ns == 1 && i < n; i++) std[i] = std[0];
    }
    ks_tensor **box = ks_lua_newbox(L);
    ks_tensor *r;
    if (ks_image_to_float(c, x, scale, nm ? mean : NULL, ns ? std : NULL, n ? n : 1, &r)) return ks_lua_raise(L, c);
    ks_lua_fillbox(L, c, box, r);
    return 1;
}

/* ------------------------------------------------------------ listdir */
typedef struct dirlist {
    char **names;
    unsigned char *isdir;
    size_t n, cap;
} dirlist;

static void dirlist_free(void *p)
{
    dirlist *d = p;
    for (size_t i = 0; i < d->n; i++) free(d->names[i]);
    free(d->names);
    free(d->isdir);
    free(d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int read_dir(const char *path, dirlist *d)
{
    DIR *dir = opendir(path);
    if (!dir) return errno;
    struct dirent *e;
    char full[4096];
    while ((e = readdir(dir))) {
        if (e->d_name[0] == '.') continue;
        if (d->n == d->cap) {
            size_t cap = d->cap ? 2 * d->cap : 64;
            char **nn = realloc(d->names, cap * sizeof *nn);
            if (nn) d->names = nn;
            if (!nn || !(d->names[d->n] = strdup(e->d_name))) {
                closedir(dir);
                return ENOMEM;
            }
            d->cap = cap;
        } else if (!(d->names[d->n] = strdup(e->d_name))) {
            closedir(dir);
            return ENOMEM;
        }
        d->n++;
    }
    closedir(dir);
    if (d->n) qsort(d->names, d->n, sizeof *d->names, cmp_str);
    d->isdir = calloc(d->n + 1, 1);
    if (!d->isdir) return ENOMEM;
    for (size_t i = 0; i < d->n; i++) {
        struct stat sb;
        snprintf(full, sizeof full, "%s/%s", path, d->names[i]);
        d->isdir[i] = stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
    }
    return 0;
}

static int l_listdir(lua_State *L)
{
    const char *path = check_path(L, 1);
    guard *g = push_guard(L, dirlist_free);
    dirlist *d = calloc(1, sizeof *d);
    if (!d) return luaL_error(L, "listdir: out of memory");
    g->p = d;
    int e = read_dir(path, d);
    if (e) return luaL_error(L, "%s: cannot list the folder (%s)", path, strerror(e));
    push_strings(L, d->names, (int)d->n);
    lua_newtable(L);
    for (size_t i = 0; i < d->n; i++)
        if (d->isdir[i]) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, d->names[i]);
        }
    return 2;
}

static const luaL_Reg io_functions[] = {{"save", l_save}, {"load", l_load}, {NULL, NULL}};

static const luaL_Reg data_functions[] = {{"read_csv", l_read_csv}, {"read_npy", l_read_npy},
                                          {"save_npy", l_save_npy}, {"read_npz", l_read_npz},
                                          {"to_float", l_to_float}, {NULL, NULL}};

static const luaL_Reg image_functions[] = {{"load", l_image_load},     {"save", l_image_save},
                                           {"resize", l_image_resize}, {"listdir", l_listdir},
                                           {NULL, NULL}};

void ks_lua_open_io(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    luaL_newmetatable(L, GUARD_MT);
    lua_pushcfunction(L, guard_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    ks_lua_register(L, io_functions, module, ctxbox);
    lua_getfield(L, module, "data"); /* created by ks_lua_open_data */
    if (lua_istable(L, -1)) ks_lua_register(L, data_functions, -1, ctxbox);
    lua_pop(L, 1);
    ks_lua_new_subtable(L, image_functions, ctxbox, "kshot.image");
    lua_setfield(L, module, "image");
}
