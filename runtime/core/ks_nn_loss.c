/* ks_nn_loss.c: element-wise losses between an input and a target of the
 * same shape (mse, l1, smooth l1, binary cross entropy with logits,
 * kl divergence) and nll_loss, with PyTorch's definitions and reductions.
 * One forward/backward pair serves every element-wise loss: a per-element
 * value and its derivatives with respect to input and target.
 * Under create_graph the backward runs as recording ops (double backward). */
#include "ks_grad_ops.h"
#include "ks_nn.h"

#include <math.h>
#include <string.h>

typedef struct {
    ks_pointwise_loss kind;
    double beta;             /* smooth_l1 */
    const float *pos_weight; /* bce: [C] broadcast over the last dim, or NULL */
    int64_t pw_n;
    bool log_target;         /* kl_div */
} loss_spec;

static inline double softplus_neg(double x) { return log1p(exp(-fabs(x))) + fmax(-x, 0.0); } /* log(1 + e^-x) */

/* value and derivatives of one element: l(x, y), dl/dx, dl/dy */
static double loss_elem(const loss_spec *s, double x, double y, int64_t k, double *dx, double *dy)
{
    double d = x - y;
    switch (s->kind) {
    case KS_LOSS_MSE: *dx = 2 * d; *dy = -2 * d; return d * d;
    case KS_LOSS_L1: *dx = (d > 0) - (d < 0); *dy = -*dx; return fabs(d);
    case KS_LOSS_SMOOTH_L1:
        if (s->beta > 0 && fabs(d) < s->beta) { *dx = d / s->beta; *dy = -*dx; return 0.5 * d * d / s->beta; }
        *dx = (d > 0) - (d < 0); *dy = -*dx;
        return fabs(d) - 0.5 * s->beta;
    case KS_LOSS_BCE_LOGITS: {
        double pw = s->pos_weight ? s->pos_weight[k % s->pw_n] : 1.0, lw = 1 + (pw - 1) * y, sp = softplus_neg(x);
        double sig = 1.0 / (1.0 + exp(-x));
        *dx = (1 - y) - lw * (1 - sig);
        *dy = -x + (pw - 1) * sp;
        return (1 - y) * x + lw * sp;
    }
    case KS_LOSS_KL_DIV:
        if (s->log_target) { double t = exp(y); *dx = -t; *dy = t * (y - x) + t; return t * (y - x); }
        if (y > 0) { *dx = -y; *dy = log(y) - x + 1; return y * (log(y) - x); }
        *dx = 0; *dy = 0; return 0;
    }
    *dx = *dy = 0;
    return 0;
}

/* ------------------------------------------------------------ create_graph (double backward) */
/* recording ops on tensors or a scalar */
static ks_status ag(ks_ctx *c, ks_binop op, ks_tensor *a, ks_tensor *b, ks_tensor **out)
{
    return ks_ag_binary(c, op, ks_op_tensor(a), ks_op_tensor(b), NULL, out);
}

static ks_status ag_s(ks_ctx *c, ks_binop op, ks_tensor *a, double v, ks_tensor **out)
{
    return ks_ag_binary(c, op, ks_op_tensor(a), ks_op_scalar(ks_scalar_float(v)), NULL, out);
}

/* d l / d x per element, before weights and reduction: mse 2 (x - y); l1
 * sign(x - y); smooth l1 clamp((x - y) / beta, -1, 1) (beta 0: sign); bce
 * with logits (1 + (pw - 1) y) sigmoid(x) - pw y (pw NULL: sigmoid(x) - y) */
static ks_status dl_dx_recorded(ks_ctx *c, ks_node *n, ks_tensor *x, ks_tensor *y, ks_tensor *pw, ks_tensor **out)
{
    ks_pointwise_loss kind = (ks_pointwise_loss)n->i[0];
    ks_tensor *d = NULL, *t = NULL, *u = NULL, *v = NULL;
    ks_status st;
    if (kind == KS_LOSS_BCE_LOGITS) {
        if ((st = ks_ag_unary(c, KS_OP_SIGMOID, x, &d)) || !pw) {
            if (!st) st = ag(c, KS_OP_SUB, d, y, out);
        } else if (!(st = ag_s(c, KS_OP_SUB, pw, 1.0, &t)) && !(st = ag(c, KS_OP_MUL, t, y, &u)) &&
                   !(st = ag_s(c, KS_OP_ADD, u, 1.0, &v))) {
            ks_tensor_release(t);
            ks_tensor_release(u);
            t = u = NULL;
            if (!(st = ag(c, KS_OP_MUL, v, d, &t)) && !(st = ag(c, KS_OP_MUL, pw, y, &u))) st = ag(c, KS_OP_SUB, t, u, out);
        }
    } else if (!(st = ag(c, KS_OP_SUB, x, y, &d))) {
        if (kind == KS_LOSS_MSE) st = ag_s(c, KS_OP_MUL, d, 2.0, out);
        else if (kind == KS_LOSS_SMOOTH_L1 && n->f[0] > 0) {
            ks_scalar lo = ks_scalar_float(-1.0), hi = ks_scalar_float(1.0);
            if (!(st = ag_s(c, KS_OP_MUL, d, 1.0 / n->f[0], &t))) st = ks_ag_clamp(c, t, &lo, &hi, out);
        } else {
            st = ks_ag_unary(c, KS_OP_SIGN, d, out);
        }
    }
    ks_tensor_release(d); ks_tensor_release(t); ks_tensor_release(u); ks_tensor_release(v);
    return st;
}

/* bce with logits, d l / d y = -x + (pw - 1) softplus(-x), softplus(-x) = log1p(exp(-|x|)) + max(-x, 0) */
static ks_status bce_dl_dy_recorded(ks_ctx *c, ks_tensor *x, ks_tensor *pw, ks_tensor **out)
{
    ks_tensor *a = NULL, *e = NULL, *l = NULL, *m = NULL, *sp = NULL, *k = NULL, *ks = NULL, *nx = NULL;
    ks_scalar zero = ks_scalar_float(0.0);
    ks_status st = ks_ag_unary(c, KS_OP_NEG, x, &nx);
    if (!st && !pw) { *out = nx; return KS_OK; }
    if (!st && !(st = ks_ag_unary(c, KS_OP_ABS, x, &a)) && !(st = ks_ag_unary(c, KS_OP_NEG, a, &m)) &&
        !(st = ks_ag_unary(c, KS_OP_EXP, m, &e)) && !(st = ks_ag_unary(c, KS_OP_LOG1P, e, &l))) {
        ks_tensor_release(m);
        m = NULL;
        if (!(st = ks_ag_clamp(c, nx, &zero, NULL, &m)) && !(st = ag(c, KS_OP_ADD, l, m, &sp)) &&
            !(st = ag_s(c, KS_OP_SUB, pw, 1.0, &k)) && !(st = ag(c, KS_OP_MUL, k, sp, &ks)))
            st = ag(c, KS_OP_ADD, nx, ks, out);
    }
    ks_tensor_release(a); ks_tensor_release(e); ks_tensor_release(l); ks_tensor_release(m);
    ks_tensor_release(sp); ks_tensor_release(k); ks_tensor_release(ks); ks_tensor_release(nx);
    return st;
}

/* *t = *t * unit [* w] * g, recorded (unit: 1 / div for the mean) */
static ks_status scale_recorded(ks_ctx *c, ks_tensor **t, double unit, ks_tensor *w, ks_tensor *g)
{
    ks_tensor *a = NULL, *b = NULL;
    ks_status st = unit != 1.0 ? ag_s(c, KS_OP_MUL, *t, unit, &a) : (a = ks_tensor_retain(*t), KS_OK);
    if (!st && w) {
        st = ag(c, KS_OP_MUL, a, w, &b);
        ks_tensor_release(a);
        a = b;
        b = NULL;
    }
    if (!st) st = ag(c, KS_OP_MUL, a, g, &b);
    ks_tensor_release(a);
    if (st) return st;
    ks_tensor_release(*t);
    *t = b;
    return KS_OK;
}

/* kl_div's d l / d x and d l / d y (either may be NULL), recorded. Log
 * target: -e^y and e^y (y - x + 1). Else, where y > 0: -y and log y - x + 1,
 * 0 elsewhere; the log reads y with its other places set to 1 (a where, so
 * no 0 * inf reaches y's gradient there). */
static ks_status kl_div_recorded(ks_ctx *c, ks_node *n, ks_tensor *x, ks_tensor *y, ks_tensor **dx, ks_tensor **dy)
{
    ks_tensor *e = NULL, *pos = NULL, *ys = NULL, *l = NULL, *d = NULL, *t = NULL;
    ks_operand zero = ks_op_scalar(ks_scalar_float(0.0)), one = ks_op_scalar(ks_scalar_float(1.0));
    ks_status st;
    if (n->i[4]) {
        if ((st = ks_ag_unary(c, KS_OP_EXP, y, &e))) goto done;
        if (dx && (st = ks_ag_unary(c, KS_OP_NEG, e, dx))) goto done;
        if (dy && !(st = ag(c, KS_OP_SUB, y, x, &d)) && !(st = ag_s(c, KS_OP_ADD, d, 1.0, &t)))
            st = ag(c, KS_OP_MUL, e, t, dy);
        goto done;
    }
    if ((st = ks_binary_op(c, KS_OP_GT, ks_op_tensor(y), zero, NULL, NULL, &pos))) goto done;
    if (dx && (!(st = ks_ag_unary(c, KS_OP_NEG, y, &t)))) {
        st = ks_ag_where(c, pos, ks_op_tensor(t), zero, dx);
        ks_tensor_release(t);
        t = NULL;
    }
    if (!st && dy && !(st = ks_ag_where(c, pos, ks_op_tensor(y), one, &ys)) && !(st = ks_ag_unary(c, KS_OP_LOG, ys, &l)) &&
        !(st = ag(c, KS_OP_SUB, l, x, &d)) && !(st = ag_s(c, KS_OP_ADD, d, 1.0, &t)))
        st = ks_ag_where(c, pos, ks_op_tensor(t), zero, dy);
done:
    ks_tensor_release(e); ks_tensor_release(pos); ks_tensor_release(ys);
    ks_tensor_release(l); ks_tensor_release(d); ks_tensor_release(t);
    return st;
}

/* the backward under create_graph: the gradients as recording ops of the
 * saved input and target */
static ks_status pw_backward_recorded(ks_ctx *c, ks_node *n, ks_tensor *g, ks_tensor **gin)
{
    ks_tensor *x = NULL, *y = NULL, *w = NULL, *pw = NULL, *dx = NULL, *dy = NULL;
    ks_status st;
    if ((st = ks_ag_saved_input(c, n, 0, 0, &x)) || (st = ks_ag_saved_input(c, n, 1, 1, &y))) goto done;
    int k = 2; /* the weights are constants: borrowed */
    if (n->i[2] && (st = ks_node_get_saved(c, n, k++, &w))) goto done;
    if (n->i[3] && (st = ks_node_get_saved(c, n, k++, &pw))) goto done;
    double unit = n->i[1] == KS_REDUCE_MEAN ? 1.0 / (n->i[5] ? (double)n->i[5] : (double)x->numel) : 1.0;
    bool bce = n->i[0] == KS_LOSS_BCE_LOGITS, kl = n->i[0] == KS_LOSS_KL_DIV;
    if (kl && (st = kl_div_recorded(c, n, x, y, n->needs_grad[0] ? &dx : NULL, n->needs_grad[1] ? &dy : NULL)))
        goto done;
    if (!kl && (n->needs_grad[0] || (n->needs_grad[1] && !bce)) && (st = dl_dx_recorded(c, n, x, y, pw, &dx)))
        goto done;
    if (n->needs_grad[1]) {
        st = kl ? KS_OK : bce ? bce_dl_dy_recorded(c, x, pw, &dy) : ks_ag_unary(c, KS_OP_NEG, dx, &dy);
        if (!st) st = scale_recorded(c, &dy, unit, w, g);
        if (st) goto done;
        gin[1] = dy;
        dy = NULL;
    }
    if (n->needs_grad[0] && !(st = scale_recorded(c, &dx, unit, w, g))) {
        gin[0] = dx;
        dx = NULL;
    }
done:
    ks_tensor_release(x); ks_tensor_release(y); ks_tensor_release(dx); ks_tensor_release(dy);
    return st;
}

/* saved: 0 input, 1 target, 2 elementwise weight (optional), 3 pos_weight (optional) */
static ks_status pw_backward(ks_ctx *c, ks_node *n, ks_tensor *const *gout, ks_tensor **gin)
{
    if (c->grad_enabled) return pw_backward_recorded(c, n, gout[0], gin); /* create_graph */
    ks_tensor *xt, *yt, *wt = NULL, *pwt = NULL, *gt;
    ks_status st;
    if ((st = ks_node_get_saved(c, n, 0, &xt)) || (st = ks_node_get_saved(c, n, 1, &yt))) return st;
    int k = 2;
    if (n->i[2] && (st = ks_node_get_saved(c, n, k++, &wt))) return st;
    if (n->i[3] && (st = ks_node_get_saved(c, n, k++, &pwt))) return st;
    if ((st = ks_contiguous(c, gout[0], &gt))) return st;
    loss_spec s = {(ks_pointwise_loss)n->i[0], n->f[0], pwt ? ks_tensor_data(pwt) : NULL, pwt ? pwt->numel : 0, n->i[4]};
    int red = (int)n->i[1];
    int64_t N = xt->numel;
    double div = n->i[5] ? (double)n->i[5] : (double)N; /* batchmean divides by the batch size */
    const float *x = ks_tensor_data(xt), *y = ks_tensor_data(yt), *w = wt ? ks_tensor_data(wt) : NULL;
    const float *gp = ks_tensor_data(gt);
    float *dx = NULL, *dy = NULL;
    if (n->needs_grad[0] && !(st = ks_tensor_empty(c, KS_FLOAT32, xt->ndim, xt->size, &gin[0]))) dx = ks_tensor_data(gin[0]);
    if (!st && n->needs_grad[1] && !(st = ks_tensor_empty(c, KS_FLOAT32, yt->ndim, yt->size, &gin[1]))) dy = ks_tensor_data(gin[1]);
    for (int64_t i = 0; !st && i < N; i++) {
        double ddx, ddy;
        loss_elem(&s, x[i], y[i], i, &ddx, &ddy);
        double scale = (red == KS_REDUCE_NONE ? gp[i] : red == KS_REDUCE_SUM ? gp[0] : gp[0] / div) * (w ? w[i] : 1.0);
        if (dx) dx[i] = (float)(scale * ddx);
        if (dy) dy[i] = (float)(scale * ddy);
    }
    ks_tensor_release(gt);
    return st;
}

static const ks_op_def op_pw[] = {
    [KS_LOSS_MSE] = {"MseLossBackward", pw_backward},         [KS_LOSS_L1] = {"L1LossBackward", pw_backward},
    [KS_LOSS_SMOOTH_L1] = {"SmoothL1LossBackward", pw_backward},
    [KS_LOSS_BCE_LOGITS] = {"BinaryCrossEntropyWithLogitsBackward", pw_backward},
    [KS_LOSS_KL_DIV] = {"KlDivBackward", pw_backward},
};

static ks_status reduced(ks_ctx *c, const ks_tensor *shape, const double *li, int64_t N, ks_reduction red, double div,
                         ks_tensor **out)
{
    ks_status st;
    if (red == KS_REDUCE_NONE) {
        if ((st = ks_tensor_empty(c, KS_FLOAT32, shape->ndim, shape->size, out))) return st;
        float *o = ks_tensor_data(*out);
        for (int64_t i = 0; i < N; i++) o[i] = (float)li[i];
        return KS_OK;
    }
    double s = 0;
    for (int64_t i = 0; i < N; i++) s += li[i];
    if ((st = ks_tensor_empty(c, KS_FLOAT32, 0, NULL, out))) return st;
    *(float *)ks_tensor_data(*out) = (float)(red == KS_REDUCE_SUM ? s : s / div);
    return KS_OK;
}

/* the user-facing names, for messages (op_pw's names are the backward nodes') */
static const char *loss_name(ks_pointwise_loss k)
{
    static const char *const names[] = {"mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits",
                                        "kl_div"};
    return names[k];
}

ks_status ks_nn_pointwise_loss(ks_ctx *c, ks_pointwise_loss kind, ks_tensor *input, ks_tensor *target, ks_tensor **out,
                               const ks_loss_opts *o)
{
    char a[160], b[160];
    if ((unsigned)kind > KS_LOSS_KL_DIV) return ks_error(c, KS_EINVAL, "unknown loss %d", (int)kind);
    if (input->dtype != KS_FLOAT32 || target->dtype != KS_FLOAT32)
        return ks_error(c, KS_ETYPE, "%s: input and target must be float32 (got %s and %s)", loss_name(kind),
                        ks_dtype_name(input->dtype), ks_dtype_name(target->dtype));
    if (!ks_same_shape(input, target))
        return ks_error(c, KS_ESHAPE, "%s: input of shape %s and target of shape %s must have the same shape",
                        loss_name(kind), ks_shape_str(input, a, sizeof a), ks_shape_str(target, b, sizeof b));
    ks_tensor *wexp = NULL; /* a weight broadcast to the input's shape, as PyTorch allows */
    if (o->weight && !ks_same_shape(o->weight, input) &&
        ks_expand(c, o->weight, input->ndim, input->size, &wexp))
        return ks_error(c, KS_ESHAPE, "%s: weight of shape %s must broadcast to input of shape %s", loss_name(kind),
                        ks_shape_str(o->weight, a, sizeof a), ks_shape_str(input, b, sizeof b));
    int64_t last = input->ndim ? input->size[input->ndim - 1] : 1;
    ks_tensor *x = NULL, *y = NULL, *w = NULL, *pw = NULL, *r = NULL;
    double *li = NULL;
    size_t bytes = (size_t)(input->numel ? input->numel : 1) * sizeof(double);
    ks_status st = KS_OK;
    if (o->pos_weight && (o->pos_weight->ndim != 1 || (o->pos_weight->size[0] != last && o->pos_weight->size[0] != 1))) {
        st = ks_error(c, KS_ESHAPE, "%s: pos_weight of shape %s must be [%lld] (one per class of the last dim)",
                      loss_name(kind), ks_shape_str(o->pos_weight, a, sizeof a), (long long)last);
        goto done;
    }
    if (kind == KS_LOSS_SMOOTH_L1 && o->beta < 0) { st = ks_error(c, KS_EINVAL, "smooth_l1_loss: beta must be >= 0"); goto done; }
    if ((unsigned)o->reduction > KS_REDUCE_SUM) { st = ks_error(c, KS_EINVAL, "%s: unknown reduction", loss_name(kind)); goto done; }
    if ((st = ks_contiguous(c, input, &x)) || (st = ks_contiguous(c, target, &y)) ||
        (o->weight && (st = ks_contiguous(c, wexp ? wexp : o->weight, &w))) || (o->pos_weight && (st = ks_contiguous(c, o->pos_weight, &pw))))
        goto done;
    if (!(li = ks_mem_alloc(c, bytes))) { st = KS_ENOMEM; goto done; }
    loss_spec s = {kind, o->beta, pw ? ks_tensor_data(pw) : NULL, pw ? pw->numel : 0, o->log_target};
    const float *xp = ks_tensor_data(x), *yp = ks_tensor_data(y), *wp = w ? ks_tensor_data(w) : NULL;
    for (int64_t i = 0; i < x->numel; i++) {
        double dx, dy;
        li[i] = loss_elem(&s, xp[i], yp[i], i, &dx, &dy) * (wp ? wp[i] : 1.0);
    }
    int64_t batch = o->batchmean && input->ndim ? input->size[0] : 0;
    double div = batch ? (double)batch : (double)x->numel;
    if ((st = reduced(c, input, li, x->numel, o->reduction, div, &r))) goto done;
    ks_tensor *ins[2] = {input, target};
    if (ks_ag_needs_record(c, 2, ins)) {
        ks_node *n = ks_node_new(c, &op_pw[kind], 2, ins);
        if (!n) { st = KS_ENOMEM; goto done; }
        n->i[0] = kind; n->i[1] = o->reduction; n->i[2] = w != NULL; n->i[3] = pw != NULL; n->i[4] = o->log_target;
        n->i[5] = batch;
        n->f[0] = o->beta;
        n->double_backward = true;
        st = ks_node_save(c, n, x);
        if (!st) st = ks_node_save(c, n, y);
        if (!st && w) st = ks_node_save(c, n, w);
        if (!st && pw) st = ks_node_save(c, n, pw);
        if (!st) ks_node_set_output(n, 0, r);
        ks_node_release(n);
        if (st) goto done;
    }
    *out = r;
    r = NULL;
done:
    if (li) ks_mem_free(c, li, bytes);
    ks_tensor_release(wexp);
    ks_tensor_release(x);
    ks_tensor_release(y);
    ks_tensor_release(w);
    ks_tensor_release(pw);
    ks_tensor_release(r);
    return st;
}
