/* report_build.h — owns turning a training result into the evaluator's report input
 * (eval/report.h), so the CLI and tests render the same report. */
#ifndef FW_TRAIN_REPORT_BUILD_H
#define FW_TRAIN_REPORT_BUILD_H

#include "eval/report.h"
#include "train/train.h"

typedef struct fw_train_report {
    fw_report report;
    fw_report_model *models;    /* n_cands entries; models[0] is the baseline */
    const char **dense_names;   /* feature names for importance */
    const char **dense_inputs;  /* the input column of each feature (importance grouping) */
} fw_train_report;

/* Fills *out with pointers into r (valid while r lives). FW_OK or FW_ENOMEM. */
fw_status fw_train_report_build(const fw_train_result *r, fw_train_report *out);
void fw_train_report_free(fw_train_report *tr);

#endif
