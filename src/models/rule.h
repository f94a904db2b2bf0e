/* rule.h — owns the evaluation of rule baselines written in the project file: "calls >= 4 -> yes",
 * "age < 30 and plan == 'basic' -> 0.2 else 0.05". A rule reads RAW input columns (fw_value, as the
 * server and batch scorer decode them), not transformed features, so it lives beside the model
 * interface rather than behind predict_block(matrix).
 *
 * Grammar:  rule  := cond ("and" cond)* "->" value ("else" value)?
 *           cond  := column op value;  op := < <= > >= == != (a single = means ==)
 *           column: a bare name [A-Za-z_][A-Za-z0-9_.-]* or a "double-quoted" or `backquoted` name
 *           value : a number, a 'single' or "double" quoted string, or a bare word (a string)
 * Strings only compare with == and != (a numeric-looking string input compares as a number).
 * A missing input never satisfies a condition.
 *
 * Outputs, per task (n_outputs as in model.h):
 *   binary:     "-> <class>" gives P(positive) = 0.999 when that class is the positive one, 0.001
 *               when it is the negative one; "-> 0.2" is P(positive) = 0.2 (must be in [0, 1]);
 *   multiclass: "-> <class>" gives 0.999 on that class, the rest spread evenly;
 *   regression/ranking: "-> 12.5" the value. Multilabel rules are FW_EUNSUPPORTED.
 *   A number that equals a numeric class name ("-> 1" with classes "0", "1") means that class.
 * Else branch: the explicit "else" value, or (fw_baseline_rule_fit) the prior / mean of the training rows
 * where the rule does not fire (all rows when it fires everywhere).
 *
 * project/rule.c validates the single-condition form "COLUMN OP VALUE -> LABEL" when the project
 * file is read (fw_rule_parse); this module accepts that form and the extensions above ("and",
 * "else", quoted column names) and is what the baseline evaluates.
 *
 * Lifecycle: fw_baseline_rule_parse → fw_baseline_rule_bind (resolve columns and classes once) → fw_baseline_rule_fit (else
 * default) → fw_baseline_rule_eval per record. A bound rule is immutable: eval is thread-safe and does not
 * allocate. */
#ifndef FW_MODELS_RULE_H
#define FW_MODELS_RULE_H

#include "core/buf.h"
#include "features/pipeline.h"
#include "flywheel.h"
#include "project/project.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum fw_baseline_rule_op { FW_BRULE_LT = 0, FW_BRULE_LE, FW_BRULE_GT, FW_BRULE_GE, FW_BRULE_EQ, FW_BRULE_NE } fw_baseline_rule_op;

typedef struct fw_baseline_rule_cond {
    char *column;       /* as written */
    size_t column_pos;  /* 1-based character position in the rule text */
    int input;          /* input column index after fw_baseline_rule_bind, else -1 */
    fw_baseline_rule_op op;
    bool is_num;
    double num;
    char *str;          /* when !is_num */
} fw_baseline_rule_cond;

typedef struct fw_baseline_rule_value {
    bool present;
    bool is_num;
    double num;
    char *label;        /* when !is_num */
    size_t pos;         /* 1-based position */
} fw_baseline_rule_value;

typedef struct fw_baseline_rule {
    char *text;
    fw_baseline_rule_cond *conds;
    size_t n_conds;
    fw_baseline_rule_value then_v, else_v;
    /* set by fw_baseline_rule_bind / fw_baseline_rule_fit */
    fw_task task;
    size_t n_outputs;
    double *out_true;   /* n_outputs */
    double *out_false;  /* n_outputs */
    bool bound, fitted;
} fw_baseline_rule;

/* Parses text into *out (zeroed first). FW_EPARSE with a message "rule 'TEXT': column N: ..." on
 * bad syntax. Free with fw_baseline_rule_free (also after a failure). */
fw_status fw_baseline_rule_parse(const char *text, fw_baseline_rule *out, fw_err *err);
void fw_baseline_rule_free(fw_baseline_rule *r);

/* Resolves column names against the input columns (exact match) and class labels against
 * class_names (binary: [negative, positive]); sets out_true (and out_false for an explicit else).
 * FW_ENOTFOUND naming the column / label and its position; FW_EINVAL for a value that does not
 * suit the task; FW_EUNSUPPORTED for multilabel. */
fw_status fw_baseline_rule_bind(fw_baseline_rule *r, const char *const *inputs, size_t n_inputs, fw_task task,
                       const char *const *class_names, size_t n_classes, fw_err *err);

/* Fits the else default from training rows: values is n_rows x n_inputs (row-major), y encoded as
 * in target.h (binary 0/1, class index, or the value). No-op for the else value when an explicit
 * else was written. NaN labels → FW_EDATA naming the row. */
fw_status fw_baseline_rule_fit(fw_baseline_rule *r, const fw_value *values, size_t n_inputs, const double *y,
                      size_t n_rows, fw_err *err);

/* Points a bound (or loaded) rule's conditions at another list of input columns, by name: the
 * serving inputs (the pipeline's) instead of the training file's columns. A condition on a column
 * not in the list sees a missing value (never true). Returns how many conditions found no column. */
size_t fw_baseline_rule_rebind(fw_baseline_rule *r, const char *const *inputs, size_t n_inputs);

/* Whether the rule fires for one record (inputs indexed by input column). */
bool fw_baseline_rule_test(const fw_baseline_rule *r, const fw_value *inputs);
/* Writes n_outputs values for one record. The rule must be bound and fitted (or have an else). */
void fw_baseline_rule_eval(const fw_baseline_rule *r, const fw_value *inputs, double *out);

/* Serialization of a bound rule: its text, task, column indices and outputs. Load re-parses the
 * text and checks that everything matches; FW_ECORRUPT otherwise. */
fw_status fw_baseline_rule_save(const fw_baseline_rule *r, fw_buf *out);
fw_status fw_baseline_rule_load(fw_reader *rd, fw_baseline_rule *out, fw_err *err);

#endif
