/* target.h — owns the label encoding: which column(s) are the label, the class names for
 * classification (binary: index 1 is the positive class), and the encoded y used by training
 * and evaluation. Fitted on training rows; classes seen only in test rows are an error that names
 * them (or, for evaluation, are counted as always-wrong — see fw_target_encode). */
#ifndef FW_FEATURES_TARGET_H
#define FW_FEATURES_TARGET_H

#include "core/buf.h"
#include "data/dataset.h"
#include "flywheel.h"
#include "project/project.h"

#include <stddef.h>
#include <stdint.h>

typedef struct fw_target {
    fw_task task;
    size_t n_outputs;      /* binary/regression/ranking: 1; multiclass: n_classes; multilabel: n_labels */
    size_t n_classes;      /* classification: number of classes (binary: 2); else 0 */
    char **class_names;    /* n_classes (binary: [negative, positive]); multilabel: label column names */
    char **label_columns;  /* the label column name(s) */
    size_t n_label_columns;
} fw_target;

/* Fits from the training rows (class names sorted; binary positive from p->positive_value, else
 * the minority... see target.c). */
fw_status fw_target_fit(const fw_project *p, const fw_dataset *ds, const uint32_t *rows,
                        size_t n_rows, fw_target *out, fw_err *err);
void fw_target_free(fw_target *t);

/* Encodes labels of the given rows into y (caller allocates):
 *   binary: 0/1; multiclass: class index; regression/ranking: the value;
 *   multilabel: n_rows x n_labels 0/1 row-major.
 * A missing label → FW_EDATA naming the row. A class not in the fitted set → y = -1 and the
 * count is returned in *n_unseen (callers decide: training errors, evaluation counts as wrong). */
fw_status fw_target_encode(const fw_target *t, const fw_dataset *ds, const uint32_t *rows,
                           size_t n_rows, double *y, size_t *n_unseen, fw_err *err);

fw_status fw_target_save(const fw_target *t, fw_buf *out);
fw_status fw_target_load(fw_reader *r, fw_target *out);

#endif
