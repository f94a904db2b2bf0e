/* search.h — owns the hyperparameter search spaces of each model family and the seeded random
 * search over them. Trial 0 is always the family's defaults (no parameters), so a run without a
 * time budget trains exactly the defaults; trials 1.. draw from the space with a seeded rng, so the
 * same seed gives the same sequence of candidates. */
#ifndef FW_TRAIN_SEARCH_H
#define FW_TRAIN_SEARCH_H

#include "flywheel.h"
#include "project/project.h"

#include <stddef.h>
#include <stdint.h>

#define FW_SEARCH_MAX_PARAMS 12
#define FW_SEARCH_PARAM_LEN 64

typedef struct fw_trial {
    size_t n_params;
    char params[FW_SEARCH_MAX_PARAMS][FW_SEARCH_PARAM_LEN]; /* "key=value" */
} fw_trial;

/* Fills trial number `index` (0 = defaults) for a family on a task. Returns FW_EINVAL for a family
 * without a search space (its defaults are then the only trial). */
fw_status fw_search_trial(const char *family, fw_task task, uint64_t seed, size_t index,
                          fw_trial *out);
/* A "key=value" array view of a trial, for fw_fit_options.params. */
size_t fw_trial_params(const fw_trial *t, const char *ptrs[FW_SEARCH_MAX_PARAMS]);

#endif
