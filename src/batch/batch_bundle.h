/* batch_bundle.h — owns the bridge from a loaded model bundle (artifact/bundle.h: THE prediction
 * path shared with the server) to batch's fw_batch_model, and loading one by registry reference
 * (NAME, NAME@ALIAS, NAME@VERSION) or from a .fwm file. */
#ifndef FW_BATCH_BATCH_BUNDLE_H
#define FW_BATCH_BATCH_BUNDLE_H

#include "artifact/bundle.h"
#include "batch/batch.h"

typedef struct fw_batch_bundle fw_batch_bundle;

/* Resolves ref in the registry under home (NULL: $FLYWHEEL_HOME or ./.flywheel), reads and loads
 * its artifact. Errors from the registry (FW_ENOTFOUND naming the model/alias/version, ...) or the
 * bundle loader. Free with fw_batch_bundle_free. */
fw_status fw_batch_bundle_open(const char *home, const char *ref, fw_batch_bundle **out, fw_err *err);
/* Loads a .fwm file; the model is named by the artifact's general.name, version "file". */
fw_status fw_batch_bundle_open_file(const char *path, fw_batch_bundle **out, fw_err *err);
/* Wraps an already loaded bundle (ownership passes to the result, also on failure). */
fw_status fw_batch_bundle_wrap(fw_bundle *b, const char *name, const char *version, fw_batch_bundle **out,
                               fw_err *err);
/* The batch view (valid while the handle lives; thread-safe predict with per-thread scratch). */
const fw_batch_model *fw_batch_bundle_model(const fw_batch_bundle *bb);
const fw_bundle *fw_batch_bundle_get(const fw_batch_bundle *bb);
void fw_batch_bundle_free(fw_batch_bundle *bb);

#endif
