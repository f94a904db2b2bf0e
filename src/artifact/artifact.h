/* artifact.h — owns the .fwm container: a self-describing, checksummed binary file in the manner
 * of GGUF. It knows nothing about models: it stores typed key–value metadata and opaque, 64-byte
 * aligned sections, and verifies them on open. The layout is documented in docs/FORMAT.md.
 *
 *   header (64 bytes) | KV block | section table | sections (each 64-aligned) | XXH3-128 (16 bytes)
 *
 * Example (write):
 *   fw_artifact_writer *w; fw_artifact_writer_new(&w);
 *   fw_artifact_writer_str(w, FW_KV_NAME, "churn");
 *   fw_artifact_writer_section(w, FW_SECTION_MODEL, model_bytes, model_len);
 *   fw_buf out; fw_buf_init(&out);
 *   fw_artifact_writer_finish(w, &out, &err);  fw_artifact_writer_free(w);
 * Example (read, zero copy: sections point into the caller's memory):
 *   fw_artifact *a; if (fw_artifact_open(data, len, &a, &err) < 0) ... err.msg says which failure;
 *   const uint8_t *p; size_t n; fw_artifact_section(a, FW_SECTION_MODEL, &p, &n);
 *   fw_artifact_close(a); */
#ifndef FW_ARTIFACT_ARTIFACT_H
#define FW_ARTIFACT_ARTIFACT_H

#include "core/buf.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_ARTIFACT_MAGIC "FWMF"          /* 4 bytes at offset 0 */
#define FW_ARTIFACT_FORMAT_VERSION 1u     /* the newest version this build writes */
#define FW_ARTIFACT_MIN_FORMAT_VERSION 1u /* the oldest version this build reads */
#define FW_ARTIFACT_HEADER_SIZE 64u
#define FW_ARTIFACT_ALIGN 64u
#define FW_ARTIFACT_CHECKSUM_SIZE 16u
#define FW_ARTIFACT_SECTION_NAME_MAX 32u   /* fixed-width name field, NUL padded */

/* Section ids (stable: never renumbered; new ids are appended). Unknown ids are skipped by
 * readers, so adding a section does not need a new format version. */
typedef enum fw_section_id {
    FW_SECTION_PIPELINE = 1,  /* schema + fitted feature pipeline (fw_pipeline_save) */
    FW_SECTION_TARGET = 2,    /* label encoding (fw_target_save) */
    FW_SECTION_MODEL = 3,     /* the chosen model (fw_model_save) */
    FW_SECTION_BASELINE = 4,  /* the baseline model (fw_model_save): the server's fallback */
    FW_SECTION_RULE = 5,      /* reserved: a rule baseline (src/models/rule.h) */
    FW_SECTION_REFERENCE = 6, /* training reference profile (src/artifact/reference.h) */
    FW_SECTION_METRICS = 7,   /* JSON text: test metrics of the model and of the baseline */
    FW_SECTION_PARAMS = 8,    /* JSON text: training parameters (families, search, options) */
    FW_SECTION_RUN = 9,       /* JSON text: free-form run record (candidates' metrics, ...) */
} fw_section_id;
/* "pipeline", "target", ... or "unknown". */
const char *fw_section_name(uint32_t id);

/* Standard metadata keys (docs/FORMAT.md lists their types). */
#define FW_KV_NAME "general.name"                 /* str: model name (project name) */
#define FW_KV_TASK "general.task"                 /* str: binary, multiclass, regression, ... */
#define FW_KV_FAMILY "general.family"             /* str: the model's family */
#define FW_KV_CREATED "general.created_unix_ms"   /* i64; optional, not written by train (determinism) */
#define FW_KV_FW_VERSION "general.flywheel_version" /* str */
#define FW_KV_GIT_COMMIT "general.git_commit"     /* str */
#define FW_KV_PARENT "lineage.parent"             /* str: "name@version" or "" */
#define FW_KV_DATA_FP "data.fingerprint"          /* str: hash of the training rows used */
#define FW_KV_TEST_FP "data.test_fingerprint"     /* str: hash of the test rows used */
#define FW_KV_HIER_GROUPS "hierarchy.groups"      /* str: the declared hierarchy's group names, one a line */
#define FW_KV_DATA_ID "data.id"                   /* str: the project's id column (names batch rows) */
#define FW_KV_N_TRAIN "data.n_train_rows"         /* i64 */
#define FW_KV_N_TEST "data.n_test_rows"           /* i64 */
#define FW_KV_SEED "train.seed"                   /* i64 */
#define FW_KV_THREADS "train.threads"             /* i64 */
#define FW_KV_METRIC "metric.primary"             /* str: e.g. "roc_auc" */
#define FW_KV_GREATER_BETTER "metric.greater_is_better" /* i64: 1 or 0 */
#define FW_KV_METRIC_MODEL "metric.model"         /* f64: primary metric of the model on test */
#define FW_KV_METRIC_BASELINE "metric.baseline"   /* f64: same for the baseline */
#define FW_KV_MIN_IMPROVEMENT "constraints.min_improvement" /* f64 */
#define FW_KV_THRESHOLD "decision.threshold"      /* f64: binary decision threshold */
#define FW_KV_CONFIDENCE "decision.confidence_threshold" /* f64: 0 = never abstain */
#define FW_KV_FALLBACK "decision.fallback"        /* str: baseline | value | review */
#define FW_KV_FALLBACK_VALUE "decision.fallback_value" /* str */

typedef enum fw_kv_type { FW_KV_STR = 1, FW_KV_I64 = 2, FW_KV_F64 = 3, FW_KV_BYTES = 4 } fw_kv_type;

/* ---- writer -------------------------------------------------------------------------------- */
typedef struct fw_artifact_writer fw_artifact_writer;

/* A new, empty writer (freed with fw_artifact_writer_free). FW_OK or FW_ENOMEM. */
fw_status fw_artifact_writer_new(fw_artifact_writer **out);
void fw_artifact_writer_free(fw_artifact_writer *w);
/* Adds (or replaces) a metadata entry; data is copied. Keys are kept sorted in the file, so the
 * order of calls does not change the bytes. Errors (out of memory, empty key) are remembered and
 * reported by fw_artifact_writer_finish. */
void fw_artifact_writer_str(fw_artifact_writer *w, const char *key, const char *value);
void fw_artifact_writer_i64(fw_artifact_writer *w, const char *key, int64_t value);
void fw_artifact_writer_f64(fw_artifact_writer *w, const char *key, double value);
void fw_artifact_writer_bytes(fw_artifact_writer *w, const char *key, const void *p, size_t n);
/* Adds (or replaces) a section; bytes are copied. Sections are written in ascending id order. */
void fw_artifact_writer_section(fw_artifact_writer *w, uint32_t id, const void *p, size_t n);
/* Appends the complete file to out (out is usually empty: alignment is measured from out's
 * start). Same entries → byte-identical output. Returns FW_OK, FW_ENOMEM or FW_EINVAL. */
fw_status fw_artifact_writer_finish(fw_artifact_writer *w, fw_buf *out, fw_err *err);

/* ---- reader -------------------------------------------------------------------------------- */
typedef struct fw_artifact fw_artifact;

/* Verifies and indexes an artifact held in memory (data must outlive the handle: sections point
 * into it). Does no text parsing. Errors, each with a message saying which:
 *   FW_EINVAL    "not a Flywheel artifact (bad magic ...)";
 *   FW_ECORRUPT  a checksum mismatch ("corrupted", naming the damaged section when it can),
 *                inconsistent offsets or sizes, trailing bytes;
 *   FW_EVERSION  format version newer than this build reads (or older than it supports);
 *   FW_EDATA     truncated: fewer bytes than the header says (or than a header).
 * The handle is immutable; concurrent reads are safe. Free with fw_artifact_close. */
fw_status fw_artifact_open(const void *data, size_t len, fw_artifact **out, fw_err *err);
void fw_artifact_close(fw_artifact *a);

uint32_t fw_artifact_format_version(const fw_artifact *a);
/* Metadata lookups: false when the key is absent or has another type. Strings stay owned by a. */
const char *fw_artifact_str(const fw_artifact *a, const char *key);   /* NULL when absent */
bool fw_artifact_i64(const fw_artifact *a, const char *key, int64_t *out);
bool fw_artifact_f64(const fw_artifact *a, const char *key, double *out);
bool fw_artifact_bytes(const fw_artifact *a, const char *key, const uint8_t **p, size_t *n);
/* Iteration over all entries in file order (sorted by key). */
size_t fw_artifact_kv_count(const fw_artifact *a);
const char *fw_artifact_kv_key(const fw_artifact *a, size_t i);
fw_kv_type fw_artifact_kv_type(const fw_artifact *a, size_t i);
/* Sections: pointer into the caller's memory and length; false when the section is absent. */
bool fw_artifact_section(const fw_artifact *a, uint32_t id, const uint8_t **p, size_t *n);
size_t fw_artifact_section_count(const fw_artifact *a);
/* The i-th section's id and size (file order). */
uint32_t fw_artifact_section_id(const fw_artifact *a, size_t i);
size_t fw_artifact_section_size(const fw_artifact *a, size_t i);

/* The content address of artifact bytes: XXH3-128 of the whole file as 32 hex chars. */
void fw_artifact_hash(const void *data, size_t len, char out[33]);

/* Appends the metadata as a JSON object text {"key": value, ...} plus "sections": [...]
 * (bytes values as their length). For `models show` and export. */
void fw_artifact_metadata_json(const fw_artifact *a, fw_buf *out);

#endif
