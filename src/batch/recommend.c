/* recommend.c — owns top-k recommendations in a batch run (`flywheel batch --items`): the item file
 * held in memory with the model's input types, and for each entity the pointwise score of every
 * (entity, item) pair, the k best items (a bounded heap; ties: the earlier item) and their output
 * rows. The pipeline (batch.c) calls fw__recommend_row for each entity row. */
#include "batch/run_int.h"

#include "core/alloc.h"
#include "core/json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- the item file -------------------------------------------------------------------------- */

fw_status fw__items_load(fw__run *R, fw_err *err) {
    const fw_batch_model *m = R->m;
    const fw_batch_options *o = R->o;
    if (!o->top_k) return fw_err_set(err, FW_EINVAL, "--top-k must be at least 1");
    fw_load_opts lo;
    fw_load_opts_init(&lo);
    fw_status st = fw_data_load(o->items, &lo, &R->it.ds, NULL, err);
    if (st) return fw_err_prefix(err, "items");
    /* The item id: --item-id, else the items file's first column that is not a model input. */
    const char *id_name = o->item_id_column;
    for (size_t j = 0; !id_name && j < R->it.ds->n_cols; j++) {
        bool is_input = false;
        for (size_t i = 0; i < m->n_inputs; i++)
            if (strcmp(m->input_names[i], R->it.ds->cols[j].name) == 0) is_input = true;
        if (!is_input) id_name = R->it.ds->cols[j].name;
    }
    if (!id_name)
        return fw_err_set(err, FW_ESCHEMA, "%s: every column is a model input: name the item id with --item-id", o->items);
    if (!(R->it.id_name = fw_strdup(id_name))) return fw_err_set(err, FW_ENOMEM, "out of memory");
    id_name = R->it.id_name;
    /* Reload with the model's types for columns whose inferred type differs. */
    fw_type_override *ov = fw_calloc(m->n_inputs + 1, sizeof *ov);
    if (!ov) return fw_err_set(err, FW_ENOMEM, "out of memory");
    size_t n_ov = 0;
    for (size_t i = 0; i < m->n_inputs; i++) {
        int c = fw_dataset_find(R->it.ds, m->input_names[i]);
        if (c >= 0 && R->it.ds->cols[c].type != m->input_types[i])
            ov[n_ov++] = (fw_type_override){m->input_names[i], m->input_types[i]};
    }
    int idc = fw_dataset_find(R->it.ds, id_name);
    if (idc >= 0 && R->it.ds->cols[idc].type == FW_COL_NUMERIC) {
        bool is_input = false;
        for (size_t i = 0; i < m->n_inputs; i++)
            if (strcmp(m->input_names[i], id_name) == 0) is_input = true;
        if (!is_input) ov[n_ov++] = (fw_type_override){id_name, FW_COL_CATEGORICAL};
    }
    if (n_ov) {
        fw_dataset_free(R->it.ds);
        R->it.ds = NULL;
        lo.overrides = ov;
        lo.n_overrides = n_ov;
        st = fw_data_load(o->items, &lo, &R->it.ds, NULL, err);
    }
    fw_free(ov);
    if (st) return fw_err_prefix(err, "items");
    R->it.id_col = fw_dataset_find(R->it.ds, id_name);
    if (R->it.id_col < 0)
        return fw_err_set(err, FW_ESCHEMA, "%s: no column '%s' (--item-id)", o->items, id_name);
    R->it.n = R->it.ds->n_rows;
    if (!R->it.n) return fw_err_set(err, FW_EDATA, "%s: no items", o->items);
    if (R->it.n > UINT32_MAX) return fw_err_set(err, FW_ELIMIT, "%s: too many items", o->items);
    R->it.from_item = fw_calloc(m->n_inputs + 1, sizeof *R->it.from_item);
    R->it.vals = fw_calloc(R->it.n * (m->n_inputs + 1), sizeof *R->it.vals);
    int *cols = fw_calloc(m->n_inputs + 1, sizeof *cols);
    if (!R->it.from_item || !R->it.vals || !cols) {
        fw_free(cols);
        return fw_err_set(err, FW_ENOMEM, "out of memory for %zu items", R->it.n);
    }
    for (size_t i = 0; i < m->n_inputs; i++) {
        cols[i] = fw_dataset_find(R->it.ds, m->input_names[i]);
        R->it.from_item[i] = cols[i] >= 0;
    }
    for (size_t j = 0; j < R->it.n; j++) {
        fw_value *v = R->it.vals + j * m->n_inputs;
        for (size_t i = 0; i < m->n_inputs; i++) {
            v[i] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
            const fw_column *c = cols[i] >= 0 ? &R->it.ds->cols[cols[i]] : NULL;
            if (!c) continue;
            if (c->num) {
                if (!isnan(c->num[j])) v[i] = (fw_value){FW_VALUE_NUMBER, c->num[j], NULL, 0};
            } else if (c->code[j] >= 0)
                v[i] = (fw_value){FW_VALUE_STRING, 0, fw_dict_str(&c->dict, c->code[j]),
                                  fw_dict_len(&c->dict, c->code[j])};
        }
    }
    fw_free(cols);
    return FW_OK;
}

void fw__items_free(fw__items *it) {
    fw_dataset_free(it->ds);
    fw_free(it->vals);
    fw_free(it->from_item);
    fw_free(it->id_name);
    memset(it, 0, sizeof *it);
}

/* ---- each entity's top k -------------------------------------------------------------------- */

/* Worse = lower score, or the same score and a later item. */
static bool worse(const fw__topk *a, const fw__topk *b) {
    return a->score < b->score || (a->score == b->score && a->item > b->item);
}

static void heap_down(fw__topk *h, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < n && worse(&h[l], &h[s])) s = l;
        if (r < n && worse(&h[r], &h[s])) s = r;
        if (s == i) return;
        fw__topk t = h[i];
        h[i] = h[s];
        h[s] = t;
        i = s;
    }
}

static int cmp_best_first(const void *a, const void *b) {
    const fw__topk *x = a, *y = b;
    return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

static void put_item_id(const fw__run *R, uint32_t item, fw_buf *b, bool json) {
    const fw_column *c = &R->it.ds->cols[R->it.id_col];
    if (c->num) fw__put_num(b, c->num[item], json);
    else if (c->code[item] >= 0) {
        const char *s = fw_dict_str(&c->dict, c->code[item]);
        size_t n = fw_dict_len(&c->dict, c->code[item]);
        if (json) fw_json_put_strn(b, s, n);
        else fw__csv_put(b, s, n);
    } else if (json)
        fw_buf_put(b, "null", 4);
}

fw_status fw__recommend_row(const fw__run *R, const fw_value *ent, const fw_value *ids, uint64_t line,
                            void *scratch, fw_value *vals, double *out, fw__topk *heap, fw_buf *b,
                            fw_buf *tmp, uint64_t *written, fw_err *err) {
    const fw_batch_model *m = R->m;
    size_t k = R->o->top_k, n = 0;
    for (size_t j = 0; j < R->it.n; j++) {
        const fw_value *iv = R->it.vals + j * m->n_inputs;
        for (size_t i = 0; i < m->n_inputs; i++) vals[i] = R->it.from_item[i] ? iv[i] : ent[i];
        const char *lab = NULL;
        fw_status st = m->predict(m->ud, vals, scratch, out, &lab, err);
        if (st) {
            tmp->len = 0;
            put_item_id(R, (uint32_t)j, tmp, false);
            return fw_err_prefix(err, "item %.*s", (int)tmp->len, (const char *)tmp->data);
        }
        fw__topk t = {fw__row_score(R, out), (uint32_t)j};
        if (isnan(t.score)) t.score = -INFINITY;
        if (n < k) {
            heap[n++] = t;
            for (size_t i = n / 2 + 1; i-- > 0;) heap_down(heap, n, i);
        } else if (worse(&heap[0], &t)) {
            heap[0] = t;
            heap_down(heap, n, 0);
        }
    }
    qsort(heap, n, sizeof *heap, cmp_best_first);
    if (R->kind == FW_BATCH_OUT_STORE) {
        tmp->len = 0;
        fw__put_entity_key(R, ids, line, tmp);
        fw__put_rec_field(b, tmp, 0);
        tmp->len = 0;
        if (n) put_item_id(R, heap[0].item, tmp, false);
        fw__put_rec_field(b, tmp, 0);
        tmp->len = 0;
        fw_buf_put(tmp, "{\"items\":[", 10);
        for (size_t r = 0; r < n; r++) {
            fw_buf_put(tmp, r ? ",{\"item\":" : "{\"item\":", r ? 9 : 8);
            put_item_id(R, heap[r].item, tmp, true);
            fw_buf_put(tmp, ",\"score\":", 9);
            fw__put_num(tmp, heap[r].score, true);
            fw_buf_put_u8(tmp, '}');
        }
        fw_buf_put(tmp, "]}", 2);
        fw__put_rec_field(b, tmp, 0);
        *written += 1;
        return FW_OK;
    }
    bool json = R->kind == FW_BATCH_OUT_JSONL;
    for (size_t r = 0; r < n; r++) {
        fw__put_row_ids(R, ids, line, b, json);
        if (json) {
            fw_buf_printf(b, "\"rank\":%zu,\"item\":", r + 1);
            put_item_id(R, heap[r].item, b, true);
            fw_buf_put(b, ",\"score\":", 9);
            fw__put_num(b, heap[r].score, true);
            fw_buf_put(b, R->json_tail.data, R->json_tail.len);
        } else {
            fw_buf_printf(b, "%zu,", r + 1);
            put_item_id(R, heap[r].item, b, false);
            fw_buf_put_u8(b, ',');
            fw__put_num(b, heap[r].score, false);
            fw_buf_put(b, R->csv_tail.data, R->csv_tail.len);
        }
    }
    *written += n;
    return FW_OK;
}

