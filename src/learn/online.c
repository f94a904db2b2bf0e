/* online.c — owns the online learner of one served linear model (online.h): label parsing, the
 * micro-batch, progressive validation against the champion's weights, the FTRL/AdaGrad update
 * (models/linear.h fw_linear_partial_fit), the paired gate and the snapshot artifact. */
#include "learn/online.h"

#include "artifact/artifact.h"
#include "artifact/bundle.h"
#include "core/alloc.h"
#include "learn/gate.h"
#include "models/linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECENT 1000
/* The change test (learn_batch): Page-Hinkley on the learner's per-example loss divided by its mean
 * since the last reset, clipped at PH_CLIP; PH_WARM examples first, drift allowance PH_DELTA,
 * threshold PH_LAMBDA. A loss that doubles fires it after ~50 examples. The clip: log losses are
 * heavy-tailed (a confident mistake costs 20x the mean), and unclipped a few of them fired the
 * test on streams without a change — 0 to 5 times per 30,000 rows of bench/learn/recovery.sh's
 * no-change streams, 10 times in 4,700 labels of the spam stream of bench/learn/feedback_cost.sh;
 * clipped at 4, none on those no-change streams, one per change. A firing only resets the step sizes
 * unless the recent losses show a clear change point (change_point). */
#define PH_WARM 200
#define PH_DELTA 0.05
#define PH_LAMBDA 50.0
#define PH_CLIP 4.0
/* What a detected change resets (learn_batch): the per-coordinate step sizes, and — when
 * change_point finds where it began — the learner is refitted on the examples since then,
 * REFIT_EPOCHS passes one example at a time from its current weights, now and each time those
 * examples double, up to HIST: the growing window a change detector's retraining would use,
 * without waiting for it. At most 2 x HIST recent examples are kept for it. */
#define HIST 2048
#define REFIT_EPOCHS 8

struct fw_online {
    fw_online_settings s;
    char solver[8];
    char fit_p[7][48];           /* partial_fit's parameters as text, for fit_batch / fit_epochs */
    size_t fit_np, fit_batch;
    int fit_epochs;
    fw_bundle *bundle;           /* the batch-trained artifact: pipeline, label encoding */
    uint8_t *parent_bytes;       /* the snapshots' parent artifact */
    size_t parent_len;
    char parent[160];
    char champion[160];          /* the reference of the champion's weights (learn.online.champion) */
    fw_task task;
    size_t no, nd, nc;
    uint32_t sd;
    fw_model *learner;           /* owned: the weights being learned */
    fw_model *champ_owned;       /* owned after a promotion; else the bundle's model serves */
    const fw_model *champ;
    fw_pipeline_scratch *ps;
    void *mscratch;
    float *row_dense;            /* n_dense work row */
    /* the batch being gathered */
    fw_matrix X;
    double *y;
    size_t nnz_cap;
    fw_buf pend_seq;             /* "rid\tlabel\n" of the queued examples */
    /* the period since the last snapshot */
    fw_buf seq;
    size_t p_n, p_cap;
    double p_lc, p_lx;
    double *p_y, *p_champ, *p_chal; /* the period's labels and both models' outputs (the gate's rows) */
    double t_last;               /* the period's start (NaN: not started) */
    /* totals */
    uint64_t examples, refused, snapshots, promoted, rejected, inconclusive;
    double sum_loss;
    double rl[RECENT], rc[RECENT];
    /* the change test on the learner's progressive loss (Page-Hinkley, see learn_batch) */
    double ph_mean, ph_sum, ph_min;
    uint64_t ph_n, resets;
    uint64_t refit_from;         /* after a change: its estimated first example (0: no refit due) */
    uint64_t refit_next;         /* ... the next refit once this many examples are held */
    /* the recent examples (the refit after a change): rows hist_first .. hist_first + H.n_rows - 1 */
    fw_matrix H;
    double *hy, *hl;             /* their labels and progressive losses */
    double *bl;                  /* the batch's progressive losses */
    uint64_t hist_first;
    size_t r_n, r_i;
    fw_online_gate last_gate;
    double *out_a, *out_b;
};

void fw_online_settings_init(fw_online_settings *s) {
    s->solver = "ftrl";
    s->lr = 0.1;
    s->beta = 1;
    s->l1 = s->l2 = NAN;
    s->batch = 32;
    s->snapshot_rows = 1000;
    s->snapshot_s = 300;
    s->gate_min_rows = 200;
    s->gate_confidence = 0.95;
    s->gate_min_improvement = 0;
    s->refit_epochs = REFIT_EPOCHS;
}

const char *fw_online_decision_name(int d) {
    return d == FW_ONLINE_PROMOTE ? "promote" : d == FW_ONLINE_REJECT ? "reject" : "inconclusive";
}

void fw_online_free(fw_online *o) {
    if (!o) return;
    fw_model_free(o->learner);
    fw_model_free(o->champ_owned);
    fw_pipeline_scratch_free(o->ps);
    fw_free(o->mscratch);
    fw_free(o->row_dense);
    fw_matrix_free(&o->X);
    fw_free(o->y);
    fw_matrix_free(&o->H);
    fw_free(o->hy);
    fw_free(o->hl);
    fw_free(o->bl);
    fw_buf_free(&o->pend_seq);
    fw_buf_free(&o->seq);
    fw_free(o->parent_bytes);
    fw_free(o->p_y);
    fw_free(o->p_champ);
    fw_free(o->p_chal);
    fw_free(o->out_a);
    fw_free(o->out_b);
    fw_bundle_free(o->bundle);
    fw_free(o);
}

const fw_pipeline *fw_online_pipeline(const fw_online *o) { return fw_bundle_pipeline(o->bundle); }

fw_status fw_online_new(const uint8_t *artifact, size_t len, const char *parent, const fw_online_settings *s,
                        fw_online **out, fw_err *err) {
    *out = NULL;
    if (!s->solver || (strcmp(s->solver, "ftrl") && strcmp(s->solver, "sgd")))
        return fw_err_set(err, FW_EINVAL, "learn: solver must be ftrl or sgd");
    if (s->batch < 1 || s->batch > 65536 || !(s->lr > 0) || !(s->beta >= 0) || !(s->gate_confidence > 0.5 && s->gate_confidence < 1) ||
        s->refit_epochs < 0 || s->refit_epochs > 100)
        return fw_err_set(err, FW_EINVAL, "learn: batch must be in [1, 65536], lr > 0, beta >= 0, confidence in (0.5, 1), "
                                          "refit epochs in [0, 100]");
    fw_online *o = fw_calloc(1, sizeof *o);
    if (!o) return fw_err_set(err, FW_ENOMEM, "out of memory");
    o->s = *s;
    snprintf(o->solver, sizeof o->solver, "%s", s->solver);
    o->s.solver = o->solver;
    fw_buf_init(&o->pend_seq);
    fw_buf_init(&o->seq);
    o->t_last = NAN;
    o->last_gate.decision = -1;
    fw_status st = fw_bundle_load_mem(artifact, len, &o->bundle, err);
    if (st) goto fail;
    const fw_model *m = fw_bundle_model(o->bundle);
    o->task = fw_bundle_task(o->bundle);
    if (m->vt != &fw_linear_vtable) {
        st = fw_err_set(err, FW_EUNSUPPORTED, "online learning needs a model of the linear family, not %s",
                        m->vt->family);
        goto fail;
    }
    if (o->task != FW_TASK_BINARY && o->task != FW_TASK_MULTICLASS && o->task != FW_TASK_REGRESSION) {
        st = fw_err_set(err, FW_EUNSUPPORTED, "online learning supports binary, multiclass and regression models");
        goto fail;
    }
    o->no = m->n_outputs;
    o->nd = m->n_dense;
    o->sd = m->sparse_dim;
    o->nc = fw_bundle_target(o->bundle)->n_classes;
    o->champ = m;
    st = FW_ENOMEM;
    if (fw_linear_clone(m, &o->learner)) goto oom;
    if (fw_pipeline_scratch_new(fw_bundle_pipeline(o->bundle), &o->ps)) goto oom;
    size_t ss = fw_model_scratch_size(m);
    if (!(o->mscratch = fw_calloc(1, ss ? (ss + 15) / 16 * 16 : 16))) goto oom; /* fw_alloc's blocks are 16-byte aligned */
    if (!(o->row_dense = fw_calloc(o->nd ? o->nd : 1, sizeof(float)))) goto oom;
    if (fw_matrix_alloc(&o->X, s->batch, o->nd, o->sd)) goto oom;
    o->X.n_rows = 0;
    if (!(o->y = fw_calloc(s->batch, sizeof(double)))) goto oom;
    size_t hcap = 2 * HIST + s->batch;
    if (fw_matrix_alloc(&o->H, hcap, o->nd, o->sd)) goto oom;
    o->H.n_rows = 0;
    if (!(o->hy = fw_calloc(hcap, sizeof(double))) || !(o->hl = fw_calloc(hcap, sizeof(double))) ||
        !(o->bl = fw_calloc(s->batch, sizeof(double))))
        goto oom;
    if (!(o->out_a = fw_calloc(o->no, sizeof(double))) || !(o->out_b = fw_calloc(o->no, sizeof(double)))) goto oom;
    if (!(o->parent_bytes = fw_malloc(len ? len : 1))) goto oom;
    memcpy(o->parent_bytes, artifact, len);
    o->parent_len = len;
    snprintf(o->parent, sizeof o->parent, "%s", parent ? parent : "");
    snprintf(o->champion, sizeof o->champion, "%s", parent ? parent : "");
    *out = o;
    return FW_OK;
oom:
    st = fw_err_set(err, FW_ENOMEM, "out of memory");
fail:
    fw_online_free(o);
    return st;
}

/* ---- labels and losses --------------------------------------------------------------------- */

static bool text_is(const fw_online_label *y, const char *s) {
    return !y->is_number && y->len == strlen(s) && !memcmp(y->text, s, y->len);
}

static fw_status parse_label(const fw_online *o, const fw_online_label *y, double *v, fw_err *err) {
    const fw_target *t = fw_bundle_target(o->bundle);
    char num[64];
    const char *txt = y->text;
    size_t len = y->len;
    if (y->is_number) {
        if (!isfinite(y->num)) return fw_err_set(err, FW_EDATA, "label: not a finite number");
        if (o->task == FW_TASK_REGRESSION) {
            *v = y->num;
            return FW_OK;
        }
        len = (size_t)snprintf(num, sizeof num, "%.17g", y->num);
        txt = num;
    }
    if (o->task == FW_TASK_REGRESSION) {
        char tmp[64];
        if (len == 0 || len >= sizeof tmp) return fw_err_set(err, FW_EDATA, "label: expected a number");
        memcpy(tmp, txt, len);
        tmp[len] = 0;
        char *end;
        double d = strtod(tmp, &end);
        if (*end || !isfinite(d)) return fw_err_set(err, FW_EDATA, "label: '%s' is not a number", tmp);
        *v = d;
        return FW_OK;
    }
    for (size_t k = 0; k < t->n_classes; k++)
        if (strlen(t->class_names[k]) == len && !memcmp(t->class_names[k], txt, len)) {
            *v = (double)k;
            return FW_OK;
        }
    if (o->task == FW_TASK_BINARY) {
        fw_online_label l = {txt, len, false, 0};
        if (text_is(&l, "1") || text_is(&l, "true")) return *v = 1, FW_OK;
        if (text_is(&l, "0") || text_is(&l, "false")) return *v = 0, FW_OK;
    }
    return fw_err_set(err, FW_EDATA, "label: '%.*s' is not a class of the model", (int)(len > 64 ? 64 : len), txt);
}

static const char *loss_name(fw_task t) { return t == FW_TASK_REGRESSION ? "squared_error" : "log_loss"; }

static double loss_of(const fw_online *o, const double *p, double y) {
    if (o->task == FW_TASK_REGRESSION) return (p[0] - y) * (p[0] - y);
    double q = o->task == FW_TASK_BINARY ? (y > 0.5 ? p[0] : 1 - p[0]) : p[(size_t)y];
    if (!(q > 1e-15)) q = 1e-15;
    return -log(q);
}

/* ---- the batch ----------------------------------------------------------------------------- */

/* Appends the batch's rows to the recent examples; past 2 x HIST rows the oldest are dropped down
 * to HIST (amortized: one move every HIST examples). */
static fw_status hist_append(fw_online *o, fw_err *err) {
    fw_matrix *H = &o->H;
    const fw_matrix *X = &o->X;
    if (H->n_rows + X->n_rows > 2 * HIST + o->s.batch) {
        size_t drop = H->n_rows > HIST ? H->n_rows - HIST : 0, keep = H->n_rows - drop;
        memmove(H->dense, H->dense + drop * o->nd, keep * o->nd * sizeof(float));
        memmove(o->hy, o->hy + drop, keep * sizeof(double));
        memmove(o->hl, o->hl + drop, keep * sizeof(double));
        if (o->sd) {
            uint64_t b = H->indptr[drop], e = H->indptr[H->n_rows];
            memmove(H->indices, H->indices + b, (size_t)(e - b) * sizeof(uint32_t));
            memmove(H->values, H->values + b, (size_t)(e - b) * sizeof(float));
            for (size_t i = 0; i <= keep; i++) H->indptr[i] = H->indptr[i + drop] - b;
        }
        H->n_rows = keep;
        o->hist_first += drop;
    }
    size_t at = H->n_rows;
    memcpy(H->dense + at * o->nd, X->dense, X->n_rows * o->nd * sizeof(float));
    memcpy(o->hy + at, o->y, X->n_rows * sizeof(double));
    memcpy(o->hl + at, o->bl, X->n_rows * sizeof(double));
    if (o->sd) {
        uint64_t base = H->indptr[at], nnz = X->indptr[X->n_rows];
        if (base + nnz > H->nnz_cap) {
            size_t cap = (size_t)(base + nnz) * 2 + 64;
            uint32_t *ni = fw_realloc(H->indices, cap * sizeof(uint32_t));
            if (ni) H->indices = ni;
            float *nv = ni ? fw_realloc(H->values, cap * sizeof(float)) : NULL;
            if (nv) H->values = nv;
            if (!ni || !nv) return fw_err_set(err, FW_ENOMEM, "out of memory");
            H->nnz_cap = cap;
        }
        memcpy(H->indices + base, X->indices, (size_t)nnz * sizeof(uint32_t));
        memcpy(H->values + base, X->values, (size_t)nnz * sizeof(float));
        for (size_t i = 1; i <= X->n_rows; i++) H->indptr[at + i] = base + X->indptr[i];
    }
    H->n_rows += X->n_rows;
    return FW_OK;
}

/* Where the change began, estimated from the recent examples' progressive losses: the split of the
 * kept examples (at least CP_MIN on each side) that maximizes the standardized difference of the
 * mean loss after it and before it, (mean_after - mean_before) x sqrt(n_before x n_after / n) —
 * not the Page-Hinkley test's own minimum, which a drift allowance measured against a mean of few
 * examples after a reset can place hundreds of examples early. False (no refit) unless that
 * difference is at least CP_Z standard deviations of the loss: a test that fired on noise finds no
 * clear split, and a refit on a few arbitrary examples would only add noise. */
#define CP_MIN 8
#define CP_Z 4.0
static bool change_point(const fw_online *o, uint64_t *out) {
    size_t n = o->H.n_rows;
    if (n < 2 * CP_MIN) return false;
    double total = 0, sq = 0;
    for (size_t i = 0; i < n; i++) total += o->hl[i], sq += o->hl[i] * o->hl[i];
    double var = sq / (double)n - (total / (double)n) * (total / (double)n);
    double before = 0, best = -INFINITY;
    size_t at = 0;
    for (size_t t = 1; t < n; t++) {
        before += o->hl[t - 1];
        if (t < CP_MIN || n - t < CP_MIN) continue;
        double nb = (double)t, na = (double)(n - t);
        double d = ((total - before) / na - before / nb) * sqrt(nb * na / (double)n);
        if (d > best) best = d, at = t;
    }
    if (!(var > 0) || best < CP_Z * sqrt(var)) return false;
    *out = o->hist_first + at;
    return true;
}

/* The fit options of one partial fit: the settings, `batch` examples per update, `epochs` passes.
 * Their text is made once per (batch, epochs) and kept: every batch of the stream asks for the same. */
static fw_status partial_fit(fw_online *o, const fw_matrix *X, const double *y, size_t batch, int epochs,
                             fw_err *err) {
    char (*p)[48] = o->fit_p;
    if (!o->fit_np || o->fit_batch != batch || o->fit_epochs != epochs) {
        size_t np = 0;
        snprintf(p[np], sizeof p[np], "solver=%s", o->solver), np++;
        snprintf(p[np], sizeof p[np], "lr=%.17g", o->s.lr), np++;
        snprintf(p[np], sizeof p[np], "beta=%.17g", o->s.beta), np++;
        snprintf(p[np], sizeof p[np], "batch=%zu", batch), np++;
        if (epochs > 1) snprintf(p[np], sizeof p[np], "epochs=%d", epochs), np++;
        if (!isnan(o->s.l1)) snprintf(p[np], sizeof p[np], "l1=%.17g", o->s.l1), np++;
        if (!isnan(o->s.l2)) snprintf(p[np], sizeof p[np], "l2=%.17g", o->s.l2), np++;
        o->fit_np = np;
        o->fit_batch = batch;
        o->fit_epochs = epochs;
    }
    size_t np = o->fit_np;
    const char *params[7];
    for (size_t i = 0; i < np; i++) params[i] = p[i];
    fw_fit_options fo;
    fw_fit_options_init(&fo);
    fo.params = params;
    fo.n_params = np;
    fo.threads = 1;
    return fw_linear_partial_fit(o->learner, X, y, NULL, &fo, err);
}

static fw_status learn_batch(fw_online *o, fw_err *err) {
    size_t n = o->X.n_rows;
    if (o->p_n + n > o->p_cap) {
        size_t cap = (o->p_n + n) * 2, no = o->no;
        double *a = fw_realloc(o->p_y, cap * sizeof(double));
        if (a) o->p_y = a;
        double *b = a ? fw_realloc(o->p_champ, cap * no * sizeof(double)) : NULL;
        if (b) o->p_champ = b;
        double *c = b ? fw_realloc(o->p_chal, cap * no * sizeof(double)) : NULL;
        if (c) o->p_chal = c;
        if (!c) return fw_err_set(err, FW_ENOMEM, "out of memory");
        o->p_cap = cap;
    }
    bool change = false;
    for (size_t i = 0; i < n; i++) {
        fw_row r = fw_matrix_row(&o->X, i);
        fw_model_predict_row(o->learner, &r, o->mscratch, o->out_a);
        fw_model_predict_row(o->champ, &r, o->mscratch, o->out_b);
        double lx = loss_of(o, o->out_a, o->y[i]), lc = loss_of(o, o->out_b, o->y[i]);
        o->bl[i] = lx;
        o->p_y[o->p_n] = o->y[i];
        memcpy(o->p_chal + o->p_n * o->no, o->out_a, o->no * sizeof(double));
        memcpy(o->p_champ + o->p_n * o->no, o->out_b, o->no * sizeof(double));
        o->p_n++;
        o->p_lx += lx;
        o->p_lc += lc;
        o->sum_loss += lx;
        o->rl[o->r_i] = lx;
        o->rc[o->r_i] = lc;
        o->r_i = (o->r_i + 1) % RECENT;
        if (o->r_n < RECENT) o->r_n++;
        /* Page-Hinkley on the loss relative to its mean since the last reset: after PH_WARM examples,
         * the cumulative excess over (1 + PH_DELTA) x the mean, minus its running minimum, passing
         * PH_LAMBDA means the learner's loss rose and stayed up — the world changed. */
        o->ph_n++;
        o->ph_mean += (lx - o->ph_mean) / (double)o->ph_n;
        if (o->ph_n > PH_WARM && o->ph_mean > 0 && !change) {
            o->ph_sum += fmin(lx / o->ph_mean, PH_CLIP) - 1 - PH_DELTA;
            if (o->ph_sum < o->ph_min) o->ph_min = o->ph_sum;
            if (o->ph_sum - o->ph_min > PH_LAMBDA) change = true;
        }
    }
    fw_status st = hist_append(o, err);
    if (st) return st;
    uint64_t end = o->examples + n; /* the examples held once this batch is in */
    if (change) {
        /* learn the new world at a fresh learner's pace, from the weights it has: fresh step sizes,
         * and refits on the examples since the estimated change point (this batch's included),
         * now and each time their number doubles, up to HIST — the growing window a change
         * detector's retraining would use, without waiting for it */
        o->resets++;
        o->ph_n = 0;
        o->ph_mean = o->ph_sum = o->ph_min = 0;
        uint64_t from;
        o->refit_from = change_point(o, &from) ? from : 0;
        o->refit_next = end;
    }
    if (o->refit_from && end >= o->refit_next && o->s.refit_epochs > 0) {
        uint64_t from = o->refit_from > o->hist_first ? o->refit_from : o->hist_first;
        size_t k = (size_t)(end - from), a = (size_t)(from - o->hist_first);
        fw_linear_reset_rates(o->learner);
        fw_matrix R = o->H; /* a view of the rows a.. (offsets into the same arrays) */
        R.n_rows = k;
        R.dense = o->H.dense + a * o->nd;
        if (o->sd) R.indptr = o->H.indptr + a;
        st = partial_fit(o, &R, o->hy + a, 1, o->s.refit_epochs, err);
        o->refit_next = end + (k > 0 ? k : 1); /* when the window has doubled */
        if (o->refit_next - o->refit_from > HIST) o->refit_from = 0;
    } else {
        if (change) fw_linear_reset_rates(o->learner);
        st = partial_fit(o, &o->X, o->y, n, 1, err);
    }
    if (st) return st;
    o->examples += n;
    fw_buf_put(&o->seq, o->pend_seq.data, o->pend_seq.len);
    o->pend_seq.len = 0;
    o->X.n_rows = 0;
    if (o->sd) o->X.indptr[0] = 0;
    return fw_buf_ok(&o->seq) ? FW_OK : fw_err_set(err, FW_ENOMEM, "out of memory");
}

fw_status fw_online_add(fw_online *o, const char *rid, const fw_value *values, const fw_online_label *y,
                        fw_err *err) {
    double yv = 0;
    size_t rl = strlen(rid);
    if (rl == 0 || rl > 200 || strpbrk(rid, "\t\n")) {
        o->refused++;
        return fw_err_set(err, FW_EDATA, "request id: 1 to 200 bytes without tab or newline");
    }
    fw_status st = parse_label(o, y, &yv, err);
    fw_row r;
    if (!st) st = fw_pipeline_transform_record(fw_bundle_pipeline(o->bundle), values, o->ps, o->row_dense, &r, err);
    for (size_t j = 0; !st && j < o->nd; j++)
        if (!isfinite(r.dense[j])) st = fw_err_set(err, FW_EDATA, "inputs: feature %zu is not finite", j);
    if (st) {
        o->refused++;
        return st == FW_ESCHEMA ? FW_EDATA : st;
    }
    size_t i = o->X.n_rows;
    memcpy(o->X.dense + i * o->nd, r.dense, o->nd * sizeof(float));
    if (o->sd) {
        uint64_t at = o->X.indptr[i];
        size_t nnz = 0;
        for (size_t q = 0; q < r.nnz; q++) nnz += r.indices[q] < o->sd;
        if (at + nnz > o->X.nnz_cap) {
            size_t cap = (size_t)(at + nnz) * 2 + 64;
            uint32_t *ni = fw_realloc(o->X.indices, cap * sizeof(uint32_t));
            if (ni) o->X.indices = ni;
            float *nv = ni ? fw_realloc(o->X.values, cap * sizeof(float)) : NULL;
            if (nv) o->X.values = nv;
            if (!ni || !nv) return fw_err_set(err, FW_ENOMEM, "out of memory");
            o->X.nnz_cap = cap;
        }
        for (size_t q = 0; q < r.nnz; q++)
            if (r.indices[q] < o->sd) {
                o->X.indices[at] = r.indices[q];
                o->X.values[at++] = r.values[q];
            }
        o->X.indptr[i + 1] = at;
    }
    o->y[i] = yv;
    o->X.n_rows = i + 1;
    fw_buf_put(&o->pend_seq, rid, rl);
    fw_buf_put(&o->pend_seq, "\t", 1);
    if (y->is_number) fw_buf_printf(&o->pend_seq, "%.17g", y->num);
    else {
        size_t k = 0; /* in runs: a tab or newline of the label becomes a space */
        while (k < y->len) {
            size_t run = 0;
            while (k + run < y->len && y->text[k + run] != '\n' && y->text[k + run] != '\t') run++;
            fw_buf_put(&o->pend_seq, y->text + k, run);
            k += run;
            if (k < y->len) fw_buf_put(&o->pend_seq, " ", 1), k++;
        }
    }
    fw_buf_put(&o->pend_seq, "\n", 1);
    if (!fw_buf_ok(&o->pend_seq)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    if (o->X.n_rows == o->s.batch) return learn_batch(o, err);
    return FW_OK;
}

bool fw_online_snapshot_due(fw_online *o, double now_s) {
    if (isnan(o->t_last)) o->t_last = now_s;
    if (o->p_n == 0) return false;
    if (o->s.snapshot_rows && o->p_n >= o->s.snapshot_rows) return true;
    return o->s.snapshot_s > 0 && now_s - o->t_last >= o->s.snapshot_s;
}

/* The gate (learn/gate.h, the same as retrain's) on the period's progressive-validation rows: the
 * champion's and the learner's outputs of each example, both taken before it was learned. */
static fw_status gate_of(const fw_online *o, fw_online_gate *g, fw_err *err) {
    memset(g, 0, sizeof *g);
    fw_gate_options go;
    fw_gate_options_init(&go);
    go.metric = fw_bundle_meta_str(o->bundle, "metric.primary");
    go.min_improvement = o->s.gate_min_improvement;
    go.confidence = o->s.gate_confidence;
    go.min_rows = o->s.gate_min_rows;
    double t;
    if (fw_bundle_meta_f64(o->bundle, "decision.threshold", &t) && t > 0 && t < 1) go.threshold = t;
    fw_status st = fw_gate_decide(o->task, o->p_y, o->p_champ, o->p_chal, o->p_n, o->no, &go, &g->r, err);
    g->decision = g->r.decision == FW_GATE_PROMOTE ? FW_ONLINE_PROMOTE
                  : g->r.decision == FW_GATE_REJECT ? FW_ONLINE_REJECT
                                                    : FW_ONLINE_INCONCLUSIVE;
    g->n = o->p_n;
    g->champion_loss = o->p_n ? o->p_lc / (double)o->p_n : NAN;
    g->challenger_loss = o->p_n ? o->p_lx / (double)o->p_n : NAN;
    snprintf(g->loss, sizeof g->loss, "%s", loss_name(o->task));
    return st;
}

static void put_settings(const fw_online *o, fw_buf *b) {
    fw_buf_printf(b, "solver=%s lr=%.17g beta=%.17g batch=%zu", o->solver, o->s.lr, o->s.beta, o->s.batch);
    if (!isnan(o->s.l1)) fw_buf_printf(b, " l1=%.17g", o->s.l1);
    if (!isnan(o->s.l2)) fw_buf_printf(b, " l2=%.17g", o->s.l2);
    fw_buf_printf(b, " refit_epochs=%d", o->s.refit_epochs);
}

static void put_num(fw_buf *b, double v) {
    if (isfinite(v)) fw_buf_printf(b, "%.17g", v);
    else fw_buf_printf(b, "null");
}

void fw_online_gate_json(const fw_online_gate *g, fw_buf *b) {
    fw_buf_printf(b, "{\"loss\":\"%s\",\"champion_loss\":", g->loss);
    put_num(b, g->champion_loss);
    fw_buf_printf(b, ",\"challenger_loss\":");
    put_num(b, g->challenger_loss);
    fw_buf_printf(b, ",\"gate\":");
    fw_gate_result_json(&g->r, b);
    fw_buf_printf(b, "}");
}

/* Copies every entry of the parent but the model and the online keys, then writes the new ones. */
static fw_status build_artifact(fw_online *o, const fw_online_gate *g, fw_buf *out, fw_err *err) {
    fw_artifact *a = NULL;
    fw_artifact_writer *w = NULL;
    fw_buf mb, tmp;
    fw_buf_init(&mb);
    fw_buf_init(&tmp);
    fw_status st = fw_artifact_open(o->parent_bytes, o->parent_len, &a, err);
    if (st) return st;
    if ((st = fw_artifact_writer_new(&w))) {
        fw_artifact_close(a);
        return fw_err_set(err, st, "out of memory");
    }
    for (size_t i = 0; i < fw_artifact_kv_count(a); i++) {
        const char *k = fw_artifact_kv_key(a, i);
        if (!strncmp(k, "learn.online.", 13)) continue;
        int64_t iv;
        double dv;
        const uint8_t *p;
        size_t n;
        switch (fw_artifact_kv_type(a, i)) {
        case FW_KV_STR: fw_artifact_writer_str(w, k, fw_artifact_str(a, k)); break;
        case FW_KV_I64: if (fw_artifact_i64(a, k, &iv)) fw_artifact_writer_i64(w, k, iv); break;
        case FW_KV_F64: if (fw_artifact_f64(a, k, &dv)) fw_artifact_writer_f64(w, k, dv); break;
        case FW_KV_BYTES: if (fw_artifact_bytes(a, k, &p, &n)) fw_artifact_writer_bytes(w, k, p, n); break;
        }
    }
    for (size_t i = 0; i < fw_artifact_section_count(a); i++) {
        uint32_t id = fw_artifact_section_id(a, i);
        const uint8_t *p;
        size_t n;
        if (id != FW_SECTION_MODEL && fw_artifact_section(a, id, &p, &n)) fw_artifact_writer_section(w, id, p, n);
    }
    if ((st = fw_model_save(o->learner, &mb)) == FW_OK) {
        fw_artifact_writer_section(w, FW_SECTION_MODEL, mb.data, mb.len);
        fw_artifact_writer_str(w, FW_KV_PARENT, o->parent);
        fw_artifact_writer_str(w, "learn.online.champion", o->champion);
        fw_artifact_writer_i64(w, "learn.online.examples", (int64_t)o->p_n);
        fw_artifact_writer_bytes(w, "learn.online.sequence", o->seq.data, o->seq.len);
        put_settings(o, &tmp);
        fw_buf_put(&tmp, "", 1);
        fw_artifact_writer_str(w, "learn.online.settings", fw_buf_ok(&tmp) ? (const char *)tmp.data : "");
        tmp.len = 0;
        fw_online_gate_json(g, &tmp);
        fw_buf_put(&tmp, "", 1);
        fw_artifact_writer_str(w, "learn.online.gate", fw_buf_ok(&tmp) ? (const char *)tmp.data : "");
        st = fw_artifact_writer_finish(w, out, err);
    } else {
        fw_err_set(err, st, "the learned model could not be saved");
    }
    fw_artifact_writer_free(w);
    fw_artifact_close(a);
    fw_buf_free(&mb);
    fw_buf_free(&tmp);
    return st;
}

fw_status fw_online_snapshot(fw_online *o, double now_s, fw_buf *out, fw_online_gate *g, fw_err *err) {
    fw_status st = gate_of(o, g, err);
    if (!st) st = build_artifact(o, g, out, err);
    if (st == FW_ENOMEM) return st;
    o->snapshots++;
    if (g->decision == FW_ONLINE_PROMOTE) o->promoted++;
    else if (g->decision == FW_ONLINE_REJECT) o->rejected++;
    else o->inconclusive++;
    o->last_gate = *g;
    o->p_n = 0;
    o->p_lc = o->p_lx = 0;
    o->seq.len = 0;
    o->t_last = now_s;
    return st;
}

fw_status fw_online_set_champion(fw_online *o, const char *ref, const uint8_t *artifact, size_t len) {
    fw_model *c = NULL;
    fw_err err;
    fw_artifact *a = NULL;
    const uint8_t *mp;
    size_t mn;
    fw_status st = fw_artifact_open(artifact, len, &a, &err);
    if (!st && !fw_artifact_section(a, FW_SECTION_MODEL, &mp, &mn)) st = FW_EDATA;
    if (!st) st = fw_model_load(mp, mn, &c, &err);
    fw_artifact_close(a);
    if (st) return st;
    if (c->vt != &fw_linear_vtable || c->n_outputs != o->no || c->n_dense != o->nd || c->sparse_dim != o->sd) {
        fw_model_free(c);
        return FW_EDATA;
    }
    fw_model_free(o->champ_owned);
    o->champ_owned = c;
    o->champ = c;
    snprintf(o->champion, sizeof o->champion, "%s", ref ? ref : "");
    return FW_OK;
}

fw_status fw_online_committed(fw_online *o, const char *ref, const uint8_t *artifact, size_t len, bool promoted) {
    if (len) {
        uint8_t *p = fw_malloc(len);
        if (!p) return FW_ENOMEM;
        memcpy(p, artifact, len);
        fw_free(o->parent_bytes);
        o->parent_bytes = p;
        o->parent_len = len;
        snprintf(o->parent, sizeof o->parent, "%s", ref);
    }
    /* the champion is the promoted snapshot's model exactly as saved */
    if (promoted) return fw_online_set_champion(o, ref, o->parent_bytes, o->parent_len);
    return FW_OK;
}

void fw_online_stats_get(const fw_online *o, fw_online_stats *s) {
    memset(s, 0, sizeof *s);
    s->examples = o->examples;
    s->queued = o->X.n_rows;
    s->refused = o->refused;
    s->snapshots = o->snapshots;
    s->promoted = o->promoted;
    s->rejected = o->rejected;
    s->inconclusive = o->inconclusive;
    s->resets = o->resets;
    s->loss = o->examples ? o->sum_loss / (double)o->examples : NAN;
    double a = 0, b = 0;
    for (size_t i = 0; i < o->r_n; i++) {
        a += o->rl[i];
        b += o->rc[i];
    }
    s->recent_loss = o->r_n ? a / (double)o->r_n : NAN;
    s->recent_champion_loss = o->r_n ? b / (double)o->r_n : NAN;
    snprintf(s->loss_name, sizeof s->loss_name, "%s", loss_name(o->task));
    snprintf(s->parent, sizeof s->parent, "%s", o->parent);
    s->last_gate = o->last_gate;
}

void fw_online_stats_json(const fw_online_stats *s, fw_buf *b) {
    fw_buf_printf(b, "{\"loss\":\"%s\",\"examples\":%llu,\"queued\":%llu,\"refused\":%llu,\"progressive_loss\":",
                  s->loss_name, (unsigned long long)s->examples, (unsigned long long)s->queued,
                  (unsigned long long)s->refused);
    put_num(b, s->loss);
    fw_buf_printf(b, ",\"recent_loss\":");
    put_num(b, s->recent_loss);
    fw_buf_printf(b, ",\"recent_champion_loss\":");
    put_num(b, s->recent_champion_loss);
    fw_buf_printf(b, ",\"resets\":%llu", (unsigned long long)s->resets);
    fw_buf_printf(b, ",\"snapshots\":%llu,\"promoted\":%llu,\"rejected\":%llu,\"inconclusive\":%llu,\"parent\":\"%s\"",
                  (unsigned long long)s->snapshots, (unsigned long long)s->promoted,
                  (unsigned long long)s->rejected, (unsigned long long)s->inconclusive, s->parent);
    fw_buf_printf(b, ",\"last_gate\":");
    if (s->last_gate.decision < 0) fw_buf_printf(b, "null");
    else fw_online_gate_json(&s->last_gate, b);
    fw_buf_printf(b, "}");
}
