/* register.h — owns turning a training result into a model artifact (.fwm) and registering it as a
 * new version in the store: the chosen model, its baseline (the server's fallback), the fitted
 * pipeline and label encoding, the reference profile, metrics and lineage metadata. */
#ifndef FW_TRAIN_REGISTER_H
#define FW_TRAIN_REGISTER_H

#include "core/buf.h"
#include "train/train.h"

#include <stdbool.h>
#include <stdint.h>

/* Metadata key holding the resolved project file (YAML bytes) that trained the model. */
#define FW_KV_PROJECT_YAML "train.project_yaml"

typedef struct fw_register_options {
    const char *home;          /* Flywheel home; NULL = $FLYWHEEL_HOME or ./.flywheel */
    const char *out_dir;       /* also write <name>.fwm + report files here; NULL = no */
    bool no_register;          /* only write to out_dir */
    const char *parent;        /* "name@version" lineage parent; NULL = the current production */
    char **argv;               /* the command line, recorded in the run */
    int argc;
    const fw_train_options *train_options;
    const char *report_html;   /* the rendered HTML report, kept with the version's run record
                                  (`flywheel models show REF --html F`); NULL = none */
} fw_register_options;
void fw_register_options_init(fw_register_options *o);

typedef struct fw_registered {
    char name[129];            /* up to FW_NAME_MAX (128) characters */
    int64_t version;           /* 0 when not registered */
    char artifact_hash[33];
    char artifact_path[1024];  /* the --out copy, "" when none */
    bool reused;               /* the same artifact bytes were already version `version` of this
                                  name: nothing new was registered (training again on the same data,
                                  project, seed and build gives the same bytes) */
} fw_registered;

/* Builds the artifact bytes for the chosen model (deterministic: the same result, parent and
 * build give the same bytes; no time is recorded inside). */
fw_status fw_train_build_artifact(const fw_train_result *r, const fw_register_options *o,
                                  fw_buf *out, fw_err *err);
/* Builds the artifact, writes it to out_dir when asked, and registers it (unless no_register). */
fw_status fw_train_register(const fw_train_result *r, const fw_register_options *o,
                            fw_registered *out, fw_err *err);

#endif
