/* ranking.c — owns the ranking metrics over rows grouped by query id (rows of a query need not be
 * contiguous): ndcg@k with sklearn's ndcg_score semantics (linear gain, discount 1/log2(rank+1),
 * ignore_ties=False: tied scores share the average gain of their group; a query without any
 * relevant row scores 0 and still counts), map (mean over queries with a relevant row of sklearn's
 * average_precision on relevance > 0), precision@k (relevant in the top k / k), recall@k
 * (relevant in the top k / relevant; queries without a relevant row skipped), hit_rate@k and
 * coverage@k (distinct items in some top k / catalog size), map@k (per query with a relevant row:
 * the sum of precision@i at each relevant position i <= k, over min(k, relevant rows); averaged
 * over those queries) and mrr@k (1 / the position of the first relevant row within the top k, 0
 * when none; averaged over every query). For the top-k cut, tied scores keep row order. "ndcg"
 * and "mrr" without a cutoff use every row of the query. */
#include "eval/eval_int.h"

#include "core/alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct qrow {
    uint32_t q;
    uint32_t row;
} qrow;

static int cmp_qrow(const void *a, const void *b) {
    const qrow *x = a, *y = b;
    if (x->q != y->q) return (x->q > y->q) - (x->q < y->q);
    return (x->row > y->row) - (x->row < y->row);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static size_t count_distinct(uint32_t *v, size_t n) {
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_u32);
    size_t d = 1;
    for (size_t i = 1; i < n; i++) d += v[i] != v[i - 1];
    return d;
}

/* Tie-averaged DCG of one query at cutoff k (k >= g means no cutoff). ord: rows by score desc. */
static double dcg_tied(const double *rel, const double *score, const uint32_t *ord, size_t g,
                       size_t k) {
    double dcg = 0, cum_prev = 0, cum = 0;
    size_t i = 0;
    while (i < g) {
        size_t j = i;
        double gain = 0;
        while (j < g && score[ord[j]] == score[ord[i]]) {
            gain += rel[ord[j]];
            if (j < k) cum += 1.0 / log2((double)j + 2);
            j++;
        }
        dcg += gain / (double)(j - i) * (cum - cum_prev);
        cum_prev = cum;
        i = j;
    }
    return dcg;
}

static double dcg_ideal(double *rel_sorted_desc, size_t g, size_t k) {
    double d = 0;
    for (size_t i = 0; i < g && i < k; i++) d += rel_sorted_desc[i] / log2((double)i + 2);
    return d;
}

typedef struct rank_acc {
    size_t k;
    double ndcg, prec, rec, hit, ap, rr;
    size_t n_rec;
    uint32_t *topk_items;
    size_t n_topk;
} rank_acc;

fw_status fw__eval_ranking(const double *y, const double *p, size_t n, const fw_eval_options *o,
                           fw_metric_set *s, fw_err *err) {
    (void)err;
    /* cutoffs: options.k, then the primary's and the requested names' when they differ */
    enum { MAX_KS = 8 };
    size_t ks[MAX_KS] = {o->k ? o->k : 10};
    size_t n_ks = 1;
    for (size_t i = 0; i <= o->n_metrics; i++) {
        const char *name = i == 0 ? s->primary : o->metrics[i - 1];
        char base[FW_METRIC_NAME_MAX];
        size_t pk = 0;
        if (!fw__metric_split_k(name, base, &pk) || pk == 0) continue;
        bool have = false;
        for (size_t a = 0; a < n_ks; a++) have |= ks[a] == pk;
        if (!have && n_ks < MAX_KS) ks[n_ks++] = pk;
    }

    qrow *qr = fw_malloc(n * sizeof *qr);
    double *rel = fw_malloc(n * sizeof *rel), *sc = fw_malloc(n * sizeof *sc);
    double *rs = fw_malloc(n * sizeof *rs), *bin = fw_malloc(n * sizeof *bin);
    rank_acc acc[MAX_KS];
    memset(acc, 0, sizeof acc);
    fw_status st = FW_OK;
    for (size_t a = 0; a < n_ks; a++) {
        acc[a].k = ks[a];
        acc[a].topk_items = fw_malloc(n * sizeof(uint32_t));
        if (!acc[a].topk_items) st = FW_ENOMEM;
    }
    if (!qr || !rel || !sc || !rs || !bin || st) {
        st = FW_ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) qr[i] = (qrow){o->query[i], (uint32_t)i};
    qsort(qr, n, sizeof *qr, cmp_qrow);
    size_t n_q = 0, n_ap = 0;
    double ndcg_all = 0, map = 0, mrr_all = 0;
    for (size_t b = 0; b < n;) {
        size_t e = b;
        while (e < n && qr[e].q == qr[b].q) e++;
        size_t g = e - b;
        size_t nrel = 0;
        for (size_t j = 0; j < g; j++) {
            rel[j] = y[qr[b + j].row];
            sc[j] = p[qr[b + j].row];
            rs[j] = rel[j];
            bin[j] = rel[j] > 0;
            nrel += rel[j] > 0;
        }
        uint32_t *ord = fw__argsort_desc(sc, g);
        if (!ord) {
            st = FW_ENOMEM;
            goto done;
        }
        fw__sort_doubles(rs, g); /* ascending; read backwards for the ideal order */
        for (size_t j = 0; j < g / 2; j++) {
            double t = rs[j];
            rs[j] = rs[g - 1 - j];
            rs[g - 1 - j] = t;
        }
        double ideal = dcg_ideal(rs, g, g);
        ndcg_all += ideal > 0 ? dcg_tied(rel, sc, ord, g, g) / ideal : 0;
        for (size_t j = 0; j < g; j++)
            if (rel[ord[j]] > 0) {
                mrr_all += 1.0 / (double)(j + 1);
                break;
            }
        for (size_t a = 0; a < n_ks; a++) {
            size_t k = acc[a].k;
            double id = dcg_ideal(rs, g, k);
            acc[a].ndcg += id > 0 ? dcg_tied(rel, sc, ord, g, k) / id : 0;
            size_t hits = 0;
            double ap = 0, rr = 0;
            for (size_t j = 0; j < g && j < k; j++) {
                if (rel[ord[j]] > 0) {
                    ap += (double)(hits + 1) / (double)(j + 1);
                    if (hits == 0) rr = 1.0 / (double)(j + 1);
                }
                hits += rel[ord[j]] > 0;
                if (o->item) acc[a].topk_items[acc[a].n_topk++] = o->item[qr[b + ord[j]].row];
            }
            acc[a].prec += (double)hits / (double)k;
            acc[a].hit += hits > 0;
            acc[a].rr += rr;
            if (nrel) {
                acc[a].ap += ap / (double)(nrel < k ? nrel : k);
                acc[a].rec += (double)hits / (double)nrel;
                acc[a].n_rec++;
            }
        }
        fw_free(ord);
        if (nrel) {
            fw__bcurve c;
            st = fw__bcurve_build(bin, sc, g, 1, &c);
            if (st) goto done;
            map += fw__bcurve_average_precision(&c);
            fw__bcurve_free(&c);
            n_ap++;
        }
        n_q++;
        b = e;
    }
    if (n_ap == 0) {
        s->warnings |= FW_EVAL_WARN_NO_RELEVANT;
        snprintf(s->warning, sizeof s->warning,
                 "no query has a relevant row (relevance > 0): map and recall@k are NaN");
    }
    size_t catalog = o->n_items;
    if (o->item && catalog == 0) {
        uint32_t *all = fw_malloc(n * sizeof *all);
        if (!all) {
            st = FW_ENOMEM;
            goto done;
        }
        memcpy(all, o->item, n * sizeof *all);
        catalog = count_distinct(all, n);
        fw_free(all);
    }
    char name[FW_METRIC_NAME_MAX];
    for (size_t a = 0; a < n_ks && !st; a++) {
        size_t k = acc[a].k;
        double nq = (double)n_q;
        snprintf(name, sizeof name, "ndcg@%zu", k);
        st = fw_metric_set_put(s, name, acc[a].ndcg / nq);
        if (a == 0 && !st) st = fw_metric_set_put(s, "map", n_ap ? map / (double)n_ap : NAN);
        snprintf(name, sizeof name, "precision@%zu", k);
        if (!st) st = fw_metric_set_put(s, name, acc[a].prec / nq);
        snprintf(name, sizeof name, "recall@%zu", k);
        if (!st) st = fw_metric_set_put(s, name, acc[a].n_rec ? acc[a].rec / (double)acc[a].n_rec : NAN);
        snprintf(name, sizeof name, "hit_rate@%zu", k);
        if (!st) st = fw_metric_set_put(s, name, acc[a].hit / nq);
        snprintf(name, sizeof name, "map@%zu", k);
        if (!st) st = fw_metric_set_put(s, name, acc[a].n_rec ? acc[a].ap / (double)acc[a].n_rec : NAN);
        snprintf(name, sizeof name, "mrr@%zu", k);
        if (!st) st = fw_metric_set_put(s, name, acc[a].rr / nq);
        if (o->item && !st) {
            snprintf(name, sizeof name, "coverage@%zu", k);
            size_t d = count_distinct(acc[a].topk_items, acc[a].n_topk);
            st = fw_metric_set_put(s, name, catalog ? (double)d / (double)catalog : NAN);
        }
    }
    if (!st) st = fw_metric_set_put(s, "ndcg", ndcg_all / (double)n_q);
    if (!st) st = fw_metric_set_put(s, "mrr", mrr_all / (double)n_q);
done:
    for (size_t a = 0; a < MAX_KS; a++) fw_free(acc[a].topk_items);
    fw_free(qr);
    fw_free(rel);
    fw_free(sc);
    fw_free(rs);
    fw_free(bin);
    return st;
}
