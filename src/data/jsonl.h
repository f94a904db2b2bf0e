/* jsonl.h — owns the JSON Lines reader: one JSON object per line, the same schema model as CSV
 * (columns are the keys in order of first appearance in the sample; types inferred by the same
 * rule, overrides win). Numbers, strings, booleans (as the strings "true"/"false"); null, an
 * absent key or a missing token = missing. Blank lines are skipped. Nested objects/arrays are an
 * error. Keys that first appear after the sample are ignored. Errors are "file:line: what" (with
 * a column for JSON syntax errors). */
#ifndef FW_DATA_JSONL_H
#define FW_DATA_JSONL_H

#include "data/dataset.h"
#include "data/load.h"
#include "data/source.h"
#include "flywheel.h"

#include <stddef.h>

/* Loads JSON Lines from a file (gzip by magic bytes) / memory / an open source into a new dataset
 * (*out; caller frees with fw_dataset_free). opts and res may be NULL. Status codes as for
 * fw_data_load. Thread-safe (no shared state). */
fw_status fw_jsonl_load(const char *path, const fw_load_opts *opts, fw_dataset **out,
                        fw_load_result *res, fw_err *err);
fw_status fw_jsonl_load_mem(const void *data, size_t len, const char *name,
                            const fw_load_opts *opts, fw_dataset **out, fw_load_result *res,
                            fw_err *err);
fw_status fw_jsonl_load_source(fw_source *src, const fw_load_opts *opts, fw_dataset **out,
                               fw_load_result *res, fw_err *err);

#endif
