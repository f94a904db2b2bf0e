/* record.h — owns the bridge from a dataset row to a record of raw input values (fw_value) in a
 * fitted pipeline's input order: what the block paths (training, batch) hand to the record-level
 * code (pipeline record transform, rule baselines) so that they see exactly what the server sees. */
#ifndef FW_FEATURES_RECORD_H
#define FW_FEATURES_RECORD_H

#include "data/dataset.h"
#include "features/pipeline.h"

/* Maps each pipeline input to a dataset column (or -1 when the dataset lacks it: the value is then
 * missing). col_of_input must hold fw_pipeline_n_inputs(pl) entries. */
void fw_record_map(const fw_pipeline *pl, const fw_dataset *ds, int *col_of_input);

/* Fills values[i] for input i from dataset row r. String values point into the dataset's
 * dictionaries (valid as long as ds). Never allocates. */
void fw_record_from_row(const fw_dataset *ds, const int *col_of_input, size_t n_inputs, size_t r,
                        fw_value *values);

#endif
