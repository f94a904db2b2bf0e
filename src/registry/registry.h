/* registry.h — owns the versioned model registry: registering an artifact as the next version of a
 * model name (with its run record and an audit entry), resolving "NAME", "NAME@ALIAS",
 * "NAME@VERSION" wherever a model is named, aliases, the promotion rule, rollback, archive,
 * delete, export/import and the audit history. It sits on the store interface (store/store.h) and
 * never knows which implementation is behind it; it reads artifacts only as .fwm containers.
 *
 * Every change is one store transaction (BEGIN IMMEDIATE) that also appends its audit entry, so
 * concurrent processes neither lose nor duplicate versions and a crash leaves nothing half-done.
 * Artifact bytes are verified against their content hash on every read.
 *
 * Thread safety: a fw_registry is used by one thread at a time; open one per thread or process.
 *
 * Example:
 *   fw_registry_options o; fw_registry_options_init(&o); o.command = "flywheel train x.csv";
 *   fw_registry *r; fw_registry_open(&o, &r, &err);
 *   int64_t v; fw_registry_register(r, bytes, len, NULL, &v, &err);
 *   fw_version_rec rec; fw_registry_resolve(r, "churn@production", &rec, &err);
 *   fw_version_rec_free(&rec); fw_registry_close(r); */
#ifndef FW_REGISTRY_REGISTRY_H
#define FW_REGISTRY_REGISTRY_H

#include "core/buf.h"
#include "flywheel.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_NAME_MAX 128 /* longest model name or alias */
#define FW_ALIAS_PRODUCTION "production"

typedef struct fw_registry fw_registry;

typedef struct fw_registry_options {
    const char *home;      /* NULL: $FLYWHEEL_HOME, else ./.flywheel */
    const char *command;   /* the command line, recorded in the audit log (NULL: "libflywheel") */
    const char *user;      /* NULL: $USER (or the uid) */
} fw_registry_options;
void fw_registry_options_init(fw_registry_options *o);

/* Opens the store under o->home (see fw_store_open for its errors). Free with fw_registry_close. */
fw_status fw_registry_open(const fw_registry_options *o, fw_registry **out, fw_err *err);
void fw_registry_close(fw_registry *r);
/* The underlying store (owned by r): the server and batch write their tables through it. */
fw_store *fw_registry_store(fw_registry *r);

/* Names: 1..FW_NAME_MAX of [A-Za-z0-9._-], starting with a letter or digit (so no path separator,
 * "..", "@" or hidden file can ever be formed). Aliases follow the same rule and must not be all
 * digits (NAME@3 means version 3). FW_EINVAL with a message saying what is wrong. */
fw_status fw_registry_check_name(const char *name, fw_err *err);
fw_status fw_registry_check_alias(const char *alias, fw_err *err);

typedef struct fw_registry_register_options {
    const char *name;        /* NULL: the artifact's general.name */
    const char *run_id;      /* NULL: a new id is made */
    const char *run_json;    /* run record (every candidate's metrics), JSON object text, or NULL */
    const char *tags_json;   /* extra tags, JSON object text, or NULL ("run" is always added) */
    int64_t parent_version;  /* 0: from the artifact's lineage.parent when it names this model */
    bool is_import;          /* audit action "import" instead of "register" */
    const char *reason;      /* why the version exists, appended to its audit entry (e.g. "retrain
                                (alarm: drift on glucose) from churn@3"), or NULL */
} fw_registry_register_options;
void fw_registry_register_options_init(fw_registry_register_options *o);

/* Verifies the artifact (fw_artifact_open), writes it under its content hash, then in one
 * transaction records the run, the next version of the name and an audit entry. *version_out
 * (may be NULL) receives the new version number. NULL o = defaults. */
fw_status fw_registry_register(fw_registry *r, const void *artifact, size_t len,
                               const fw_registry_register_options *o, int64_t *version_out, fw_err *err);

/* Resolves "NAME" (its production alias when set, else its latest active version), "NAME@ALIAS",
 * "NAME@3" or "NAME@v3". *out is filled (free with fw_version_rec_free). Errors: FW_EINVAL (bad
 * reference), FW_ENOTFOUND (unknown name, version or alias; a deleted version), FW_ECORRUPT (an
 * alias pointing at a deleted version — the store is inconsistent). */
fw_status fw_registry_resolve(fw_registry *r, const char *ref, fw_version_rec *out, fw_err *err);

/* The artifact bytes of a version, verified against its hash: FW_ENOTFOUND when the file is
 * missing, FW_ECORRUPT when it was altered. *out is fw_malloc'd (caller frees). */
fw_status fw_registry_read_artifact(fw_registry *r, const fw_version_rec *v, uint8_t **out,
                                    size_t *len, fw_err *err);

/* The HTML report kept with a version (rendered by `flywheel train` when it registered the version;
 * stored in its run record). *html is fw_malloc'd, NUL-terminated (caller frees). FW_ENOTFOUND
 * with a message saying why when the version has none (registered before reports were kept,
 * imported, or registered through the library without one). */
fw_status fw_registry_report_html(fw_registry *r, const fw_version_rec *v, char **html, size_t *len,
                                  fw_err *err);

/* Versions of one name (all statuses, ascending); every name's summary. Free with the store's
 * _free functions. */
fw_status fw_registry_versions(fw_registry *r, const char *name, fw_version_rec **out, size_t *n,
                               fw_err *err);
fw_status fw_registry_list(fw_registry *r, fw_model_summary **out, size_t *n, fw_err *err);
fw_status fw_registry_aliases(fw_registry *r, const char *name, fw_alias_rec **out, size_t *n,
                              fw_err *err);

typedef struct fw_promote_options {
    const char *alias;       /* NULL: "production" */
    bool force;              /* skip the rule (recorded in the audit log) */
    double min_improvement;  /* NaN: the version's own (from its project), else this margin */
    const char *reason;      /* free text for the audit log, or NULL */
    /* Continual learning (learn/gate.h): the evidence of a paired gate that compared this version
     * with the alias's current one on the same held-out rows. When set, it replaces the promotion
     * rule (whose test fingerprints differ by construction) and is recorded as the audit reason;
     * NULL: the rule applies. */
    const char *gate_evidence;
    int64_t expect_current;  /* >= 0: refuse (FW_EBUSY) unless the alias points at this version now
                                (0 = unset) — the champion the gate judged against; -1 (default): any */
} fw_promote_options;
void fw_promote_options_init(fw_promote_options *o);

/* Points the alias at ref's version. For "production" the promotion rule applies: the version's
 * primary test metric must beat its baseline's by the margin, and beat the current production
 * version's on the same test data (same test fingerprint and metric); otherwise FW_EDATA with a
 * message saying which condition failed and by how much (--force overrides). An archived or
 * deleted version is refused. `note` (may be NULL, >= 256 bytes) receives the rule's outcome. */
fw_status fw_registry_promote(fw_registry *r, const char *ref, const fw_promote_options *o,
                              char *note, size_t note_size, fw_err *err);
/* Moves the alias (default production) back to the version it pointed at before the last
 * promotion (replayed from the audit log; archived/deleted versions are skipped). *to (may be
 * NULL) receives it. FW_ENOTFOUND when there is no earlier version. */
fw_status fw_registry_rollback(fw_registry *r, const char *name, const char *alias, int64_t *to,
                               fw_err *err);
/* Any alias: production goes through fw_registry_promote (with force). */
fw_status fw_registry_alias_set(fw_registry *r, const char *ref, const char *alias, bool force,
                                fw_err *err);
fw_status fw_registry_alias_remove(fw_registry *r, const char *name, const char *alias, fw_err *err);
/* Archive (kept, loadable by NAME@N, never promoted) or delete (hidden; the artifact file is
 * removed when no other version uses it). Both refuse a version an alias points at unless force,
 * which removes those aliases first (audited): an alias can never dangle. */
fw_status fw_registry_archive(fw_registry *r, const char *ref, bool force, fw_err *err);
fw_status fw_registry_delete(fw_registry *r, const char *ref, bool force, fw_err *err);

/* Export: writes the artifact to path (a directory gets NAME-vN.fwm inside it) and its metadata
 * as JSON next to it (<file>.json). written (may be NULL, >= 4096 bytes) gets the .fwm path. */
fw_status fw_registry_export(fw_registry *r, const char *ref, const char *path, char *written,
                             size_t written_size, fw_err *err);
/* Import: reads a .fwm file, verifies it and registers it (name: given, else the artifact's). */
fw_status fw_registry_import(fw_registry *r, const char *path, const char *name,
                             int64_t *version_out, fw_err *err);

/* Audit entries of a name (NULL: all), oldest first. Free with fw_audit_recs_free. */
fw_status fw_registry_history(fw_registry *r, const char *name, fw_audit_rec **out, size_t *n,
                              fw_err *err);

/* Integrity check: every active or archived version's artifact is present and intact, every alias
 * points at an active version. Appends one line per problem to report (may be NULL) and sets
 * *problems. FW_OK when the check ran (whatever it found). */
fw_status fw_registry_check(fw_registry *r, fw_buf *report, size_t *problems, fw_err *err);
/* Leftovers of interrupted artifact writes (e.g. a kill -9 mid-registration): harmless temporary
 * files whose writer is gone. Appends their paths, one per line, to report (may be NULL), sets *n,
 * and deletes them when remove is set. */
fw_status fw_registry_leftovers(fw_registry *r, bool remove, fw_buf *report, size_t *n, fw_err *err);
/* Orphan artifacts: files no active or archived version refers to (a kill -9 between the file's
 * rename and the registration's commit, or before a delete removed its file). Runs under the
 * store's write lock, so a registration in flight either committed (not an orphan) or re-writes
 * its file after (registration checks its file under the lock). Appends each path and a newline to
 * report (may be NULL), sets *n, and deletes them when remove is set. */
fw_status fw_registry_orphans(fw_registry *r, bool remove, fw_buf *report, size_t *n, fw_err *err);

/* Appends one version as a JSON object (aliases of that version listed when given). */
void fw_registry_version_json(const fw_version_rec *v, const fw_alias_rec *aliases, size_t n_aliases,
                              fw_buf *out);

#endif
