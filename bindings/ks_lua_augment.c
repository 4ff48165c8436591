/* ks_lua_augment.c: the `ks.augment` table: raw batch-augmentation kernels.
 *
 * These take explicit tensors and numbers, in THNN order (input, output,
 * generator, options), write into a preallocated `out` and return it. The
 * user-facing transforms and compose{} live in bindings/lua/kshot/augment.lua,
 * loaded on the first lookup of a missing field (ks.augment.compose works
 * without an explicit require). Contracts: runtime/core/ks_augment.h.
 *
 *   raw_crop_flip(x, out, g, pad, reflect, fill, p, hflip_p, vflip_p)
 *   raw_flip(x, out, g, horizontal, p)
 *   raw_rotate(x, out, g, deg_lo, deg_hi, fill, p)
 *   raw_translate(x, out, g, fx, fy, subpixel, fill, p)
 *   raw_affine(x, out, g, deg_lo, deg_hi, tx, ty, scale_lo, scale_hi, shx_lo, shx_hi, shy_lo, shy_hi, fill, p)
 *   raw_elastic(x, out, g, alpha, sigma, fill, p)
 *   raw_resized_crop(x, out, g, scale_lo, scale_hi, ratio_lo, ratio_hi, p)
 *   raw_noise(x, out, g, mean, std, p[, lo, hi])
 *   raw_brightness_contrast(x, out, g, b_lo, b_hi, c_lo, c_hi, p[, lo, hi[, pivot]])
 *   raw_erase(x, out, g, p, scale_lo, scale_hi, ratio_lo, ratio_hi, attempts, log_ratio, fill, value, lo, hi[, boxes])
 *       fill: "constant" | "random" | "mean"
 *   raw_mixup(x, out, g, alpha, p, perm) -> out, lambda
 *   raw_cutmix(x, out, g, beta, p, perm) -> out, lambda, top, left, h, w
 *   raw_mix_targets(y, perm, lambda, num_classes, out) -> out
 *   raw_gauss_jitter(x, out, g, std|nil, sigma, p) -> out
 *   raw_smote(x, labels, bases, out, g, k) -> out
 * g: a kshot.Generator (nil: the state's default generator).
 */
#include "ks_lua.h"
#include "../runtime/core/ks_augment.h"

#include <string.h>

static ks_generator *gen_arg(lua_State *L, ks_ctx *c, int idx)
{
    ks_generator *g = ks_lua_opt_generator(L, idx);
    return g ? g : c->gen;
}

/* Common prologue: x at 1, out at 2, generator at 3. */
typedef struct args3 {
    ks_ctx *c;
    ks_tensor *x, *out;
    ks_generator *g;
} args3;

static args3 check3(lua_State *L)
{
    args3 a;
    a.c = KS_CTX(L);
    a.x = ks_lua_check_tensor(L, 1);
    a.out = ks_lua_check_tensor(L, 2);
    a.g = gen_arg(L, a.c, 3);
    return a;
}

/* Return out (argument 2) or raise. */
static int finish(lua_State *L, ks_ctx *c, ks_status st)
{
    if (st) return ks_lua_raise(L, c);
    lua_pushvalue(L, 2);
    return 1;
}

static int l_crop_flip(lua_State *L)
{
    args3 a = check3(L);
    ks_aug_crop prm = {.pad = luaL_checkinteger(L, 4),
                       .mode = lua_toboolean(L, 5) ? KS_PAD_REFLECT : KS_PAD_CONSTANT,
                       .fill = (float)luaL_checknumber(L, 6),
                       .p = luaL_checknumber(L, 7),
                       .hflip_p = luaL_checknumber(L, 8),
                       .vflip_p = luaL_checknumber(L, 9)};
    prm.out_h = a.out->ndim == 4 ? a.out->size[2] : -1;
    prm.out_w = a.out->ndim == 4 ? a.out->size[3] : -1;
    return finish(L, a.c, ks_aug_crop_flip(a.c, a.x, a.out, a.g, &prm));
}

static int l_flip(lua_State *L)
{
    args3 a = check3(L);
    return finish(L, a.c, ks_aug_flip(a.c, a.x, a.out, a.g, lua_toboolean(L, 4), luaL_checknumber(L, 5)));
}

static int l_rotate(lua_State *L)
{
    args3 a = check3(L);
    return finish(L, a.c, ks_aug_rotate(a.c, a.x, a.out, a.g, luaL_checknumber(L, 4), luaL_checknumber(L, 5),
                                        (float)luaL_checknumber(L, 6), luaL_checknumber(L, 7)));
}

static int l_translate(lua_State *L)
{
    args3 a = check3(L);
    return finish(L, a.c, ks_aug_translate(a.c, a.x, a.out, a.g, luaL_checknumber(L, 4), luaL_checknumber(L, 5),
                                           lua_toboolean(L, 6), (float)luaL_checknumber(L, 7), luaL_checknumber(L, 8)));
}

static int l_affine(lua_State *L)
{
    args3 a = check3(L);
    ks_aug_affine_params prm = {.deg_lo = luaL_checknumber(L, 4),
                                .deg_hi = luaL_checknumber(L, 5),
                                .translate_x = luaL_checknumber(L, 6),
                                .translate_y = luaL_checknumber(L, 7),
                                .scale_lo = luaL_checknumber(L, 8),
                                .scale_hi = luaL_checknumber(L, 9),
                                .shear_x_lo = luaL_checknumber(L, 10),
                                .shear_x_hi = luaL_checknumber(L, 11),
                                .shear_y_lo = luaL_checknumber(L, 12),
                                .shear_y_hi = luaL_checknumber(L, 13),
                                .fill = (float)luaL_checknumber(L, 14),
                                .p = luaL_checknumber(L, 15)};
    return finish(L, a.c, ks_aug_affine(a.c, a.x, a.out, a.g, &prm));
}

static int l_elastic(lua_State *L)
{
    args3 a = check3(L);
    return finish(L, a.c, ks_aug_elastic(a.c, a.x, a.out, a.g, luaL_checknumber(L, 4), luaL_checknumber(L, 5),
                                         (float)luaL_checknumber(L, 6), luaL_checknumber(L, 7)));
}

static int l_resized_crop(lua_State *L)
{
    args3 a = check3(L);
    ks_aug_rrc prm = {luaL_checknumber(L, 4), luaL_checknumber(L, 5), luaL_checknumber(L, 6), luaL_checknumber(L, 7),
                      luaL_checknumber(L, 8)};
    return finish(L, a.c, ks_aug_resized_crop(a.c, a.x, a.out, a.g, &prm));
}

static int l_noise(lua_State *L)
{
    args3 a = check3(L);
    int clamp = !lua_isnoneornil(L, 7);
    double lo = clamp ? luaL_checknumber(L, 7) : 0, hi = clamp ? luaL_checknumber(L, 8) : 0;
    return finish(L, a.c, ks_aug_noise(a.c, a.x, a.out, a.g, luaL_checknumber(L, 4), luaL_checknumber(L, 5), clamp,
                                       lo, hi, luaL_checknumber(L, 6)));
}

static int l_brightness_contrast(lua_State *L)
{
    args3 a = check3(L);
    ks_aug_bc prm = {.b_lo = luaL_checknumber(L, 4), .b_hi = luaL_checknumber(L, 5), .c_lo = luaL_checknumber(L, 6),
                     .c_hi = luaL_checknumber(L, 7), .p = luaL_checknumber(L, 8)};
    prm.clamp = !lua_isnoneornil(L, 9);
    if (prm.clamp) prm.lo = luaL_checknumber(L, 9), prm.hi = luaL_checknumber(L, 10);
    prm.pivot = luaL_optnumber(L, 11, 0);
    return finish(L, a.c, ks_aug_brightness_contrast(a.c, a.x, a.out, a.g, &prm));
}

static int l_erase(lua_State *L)
{
    args3 a = check3(L);
    static const char *const fills[] = {"constant", "random", "mean", NULL};
    ks_aug_erase_params prm = {.p = luaL_checknumber(L, 4),
                               .scale_lo = luaL_checknumber(L, 5),
                               .scale_hi = luaL_checknumber(L, 6),
                               .ratio_lo = luaL_checknumber(L, 7),
                               .ratio_hi = luaL_checknumber(L, 8),
                               .attempts = (int)luaL_checkinteger(L, 9),
                               .log_ratio = lua_toboolean(L, 10),
                               .fill = (ks_erase_fill)luaL_checkoption(L, 11, NULL, fills),
                               .value = (float)luaL_checknumber(L, 12),
                               .lo = (float)luaL_checknumber(L, 13),
                               .hi = (float)luaL_checknumber(L, 14)};
    ks_tensor *boxes = lua_isnoneornil(L, 15) ? NULL : ks_lua_check_tensor(L, 15);
    return finish(L, a.c, ks_aug_erase(a.c, a.x, a.out, a.g, &prm, boxes));
}

static int l_mixup(lua_State *L)
{
    args3 a = check3(L);
    double alpha = luaL_checknumber(L, 4), p = luaL_checknumber(L, 5), lam;
    ks_tensor *perm = ks_lua_check_tensor(L, 6);
    finish(L, a.c, ks_aug_mixup(a.c, a.x, a.out, a.g, alpha, p, perm, &lam));
    lua_pushnumber(L, lam);
    return 2;
}

static int l_cutmix(lua_State *L)
{
    args3 a = check3(L);
    double beta = luaL_checknumber(L, 4), p = luaL_checknumber(L, 5), lam;
    ks_tensor *perm = ks_lua_check_tensor(L, 6);
    int64_t box[4];
    finish(L, a.c, ks_aug_cutmix(a.c, a.x, a.out, a.g, beta, p, perm, &lam, box));
    lua_pushnumber(L, lam);
    for (int i = 0; i < 4; i++) lua_pushinteger(L, (lua_Integer)box[i]);
    return 6;
}

static int l_mix_targets(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *y = ks_lua_check_tensor(L, 1), *perm = ks_lua_check_tensor(L, 2);
    double lam = luaL_checknumber(L, 3);
    lua_Integer k = luaL_checkinteger(L, 4);
    ks_tensor *out = ks_lua_check_tensor(L, 5);
    if (ks_aug_mix_targets(c, y, perm, lam, k, out)) return ks_lua_raise(L, c);
    lua_pushvalue(L, 5);
    return 1;
}

static int l_gauss_jitter(lua_State *L)
{
    args3 a = check3(L);
    ks_tensor *std = lua_isnoneornil(L, 4) ? NULL : ks_lua_check_tensor(L, 4);
    return finish(L, a.c, ks_aug_gauss_jitter(a.c, a.x, a.out, a.g, std, luaL_checknumber(L, 5), luaL_checknumber(L, 6)));
}

static int l_smote(lua_State *L)
{
    ks_ctx *c = KS_CTX(L);
    ks_tensor *x = ks_lua_check_tensor(L, 1), *labels = ks_lua_check_tensor(L, 2);
    ks_tensor *bases = ks_lua_check_tensor(L, 3), *out = ks_lua_check_tensor(L, 4);
    ks_generator *g = gen_arg(L, c, 5);
    if (ks_aug_smote(c, x, labels, bases, out, g, luaL_checkinteger(L, 6))) return ks_lua_raise(L, c);
    lua_pushvalue(L, 4);
    return 1;
}

static const luaL_Reg augment_functions[] = {
    {"raw_crop_flip", l_crop_flip},
    {"raw_flip", l_flip},
    {"raw_rotate", l_rotate},
    {"raw_translate", l_translate},
    {"raw_affine", l_affine},
    {"raw_elastic", l_elastic},
    {"raw_resized_crop", l_resized_crop},
    {"raw_noise", l_noise},
    {"raw_brightness_contrast", l_brightness_contrast},
    {"raw_erase", l_erase},
    {"raw_mixup", l_mixup},
    {"raw_cutmix", l_cutmix},
    {"raw_mix_targets", l_mix_targets},
    {"raw_gauss_jitter", l_gauss_jitter},
    {"raw_smote", l_smote},
    {NULL, NULL}};

void ks_lua_open_augment(lua_State *L, int module, int methods, int ctxbox)
{
    (void)methods;
    ks_lua_new_subtable(L, augment_functions, ctxbox, "kshot.augment");
    lua_setfield(L, module, "augment");
}
