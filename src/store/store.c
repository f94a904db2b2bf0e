/* store.c — owns what every store back end shares: choosing the back end for a home, the
 * fw_store_* wrappers over the operations tables (store_backend.h), freeing records, the batch
 * answer lookup rule, and the content-addressed artifact files under <home>/artifacts/ that the
 * SQLite back end keeps. */
#include "store/store.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/files.h"
#include "core/hash.h"
#include "core/test_hooks.h"
#include "store/store_backend.h"
#include "store/store_int.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *fw_store_default_home(const char *home) {
    if (home && *home) return home;
    const char *env = getenv("FLYWHEEL_HOME");
    if (env && *env) return env;
    return "./.flywheel";
}

void fw_store_local_dir(const char *home, char *out, size_t size) {
    home = fw_store_default_home(home);
    const char *env = getenv("FLYWHEEL_LOCAL_DIR");
    snprintf(out, size, "%s", !strstr(home, "://") ? home : env && *env ? env : "./.flywheel-local");
}

/* The back ends built in, asked in order; the first that claims a home opens it. A new back end
 * adds its line here (and its file beside store_sqlite.c). */
static const fw_store_backend *const backends[] = {&fw_store_sqlite_backend, &fw_store_pg_backend};

static fw_status backend_for(const char *home, const fw_store_backend **out, fw_err *err) {
    for (size_t i = 0; i < sizeof backends / sizeof *backends; i++)
        if (backends[i]->claims(home)) {
            *out = backends[i];
            return FW_OK;
        }
    return fw_err_set(err, FW_EUNSUPPORTED, "no store back end built in for %s (built in: sqlite, postgresql)", home);
}

fw_status fw_store_open(const char *home, fw_store **out, fw_err *err) {
    *out = NULL;
    home = fw_store_default_home(home);
    const fw_store_backend *b;
    fw_status st = backend_for(home, &b, err);
    return st ? st : b->open(home, out, err);
}

void fw_store_close(fw_store *s) {
    if (s) s->ops->close(s);
}

const char *fw_store_home(const fw_store *s) { return s->home; }
const char *fw_store_kind(const fw_store *s) { return s->ops->kind; }
int fw_store_schema_version(fw_store *s) { return s->ops->schema_version(s); }
fw_status fw_store_begin(fw_store *s, bool write, fw_err *err) { return s->ops->begin(s, write, err); }
fw_status fw_store_commit(fw_store *s, fw_err *err) { return s->ops->commit(s, err); }
void fw_store_rollback(fw_store *s) { s->ops->rollback(s); }

fw_status fw_store_version_insert(fw_store *s, fw_version_rec *v, fw_err *err) {
    return s->ops->version_insert(s, v, err);
}
fw_status fw_store_version_get(fw_store *s, const char *name, int64_t version, fw_version_rec *out, fw_err *err) {
    return s->ops->version_get(s, name, version, out, err);
}
fw_status fw_store_version_latest(fw_store *s, const char *name, bool any_status, int64_t *out, fw_err *err) {
    return s->ops->version_latest(s, name, any_status, out, err);
}
fw_status fw_store_version_list(fw_store *s, const char *name, fw_version_rec **out, size_t *n, fw_err *err) {
    return s->ops->version_list(s, name, out, n, err);
}
fw_status fw_store_version_set_status(fw_store *s, const char *name, int64_t version, const char *status,
                                      fw_err *err) {
    return s->ops->version_set_status(s, name, version, status, err);
}
fw_status fw_store_artifact_refs(fw_store *s, const char *hash, int64_t *out, fw_err *err) {
    return s->ops->artifact_refs(s, hash, out, err);
}
fw_status fw_store_model_exists(fw_store *s, const char *name, bool *out, fw_err *err) {
    return s->ops->model_exists(s, name, out, err);
}
fw_status fw_store_model_list(fw_store *s, fw_model_summary **out, size_t *n, fw_err *err) {
    return s->ops->model_list(s, out, n, err);
}
fw_status fw_store_alias_set(fw_store *s, const char *name, const char *alias, int64_t version, fw_err *err) {
    return s->ops->alias_set(s, name, alias, version, err);
}
fw_status fw_store_alias_get(fw_store *s, const char *name, const char *alias, int64_t *version, fw_err *err) {
    return s->ops->alias_get(s, name, alias, version, err);
}
fw_status fw_store_alias_remove(fw_store *s, const char *name, const char *alias, fw_err *err) {
    return s->ops->alias_remove(s, name, alias, err);
}
fw_status fw_store_alias_list(fw_store *s, const char *name, fw_alias_rec **out, size_t *n, fw_err *err) {
    return s->ops->alias_list(s, name, out, n, err);
}
fw_status fw_store_run_insert(fw_store *s, const fw_run_rec *r, fw_err *err) { return s->ops->run_insert(s, r, err); }
fw_status fw_store_run_get(fw_store *s, const char *run_id, fw_run_rec *out, fw_err *err) {
    return s->ops->run_get(s, run_id, out, err);
}
fw_status fw_store_audit_append(fw_store *s, const fw_audit_rec *a, fw_err *err) {
    return s->ops->audit_append(s, a, err);
}
fw_status fw_store_audit_list(fw_store *s, const char *name, fw_audit_rec **out, size_t *n, fw_err *err) {
    return s->ops->audit_list(s, name, out, n, err);
}
fw_status fw_store_alarm_raise(fw_store *s, fw_alarm_rec *a, fw_err *err) {
    if (!a->model || !a->kind || a->version <= 0)
        return fw_err_set(err, FW_EINVAL, "an alarm needs a model, a version and a kind");
    return s->ops->alarm_raise(s, a, err);
}
fw_status fw_store_alarm_clear(fw_store *s, const char *model, int64_t version, const char *kind, const char *column,
                               const char *slice, int64_t cleared_ms, int64_t *n_cleared, fw_err *err) {
    if (n_cleared) *n_cleared = 0;
    if (!model || !kind) return fw_err_set(err, FW_EINVAL, "clearing an alarm needs a model and a kind");
    return s->ops->alarm_clear(s, model, version, kind, column && column[0] ? column : NULL,
                               slice && slice[0] ? slice : NULL, cleared_ms, n_cleared, err);
}
fw_status fw_store_alarm_list(fw_store *s, const char *model, size_t limit, fw_alarm_rec **out, size_t *n,
                              fw_err *err) {
    return s->ops->alarm_list(s, model, limit, out, n, err);
}

fw_status fw_store_artifact_put(fw_store *s, const void *data, size_t len, char hash_out[33], fw_err *err) {
    return s->ops->artifact_put(s, data, len, hash_out, err);
}
fw_status fw_store_artifact_read(fw_store *s, const char *hash, uint8_t **out, size_t *len, fw_err *err) {
    FW_TEST_COUNT(FW_TC_ARTIFACT_READ);
    return s->ops->artifact_read(s, hash, out, len, err);
}
fw_status fw_store_artifact_has(fw_store *s, const char *hash, size_t len, fw_err *err) {
    if (s->ops->artifact_has) return s->ops->artifact_has(s, hash, len, err);
    uint8_t *bytes = NULL;
    size_t n = 0;
    fw_status st = fw_store_artifact_read(s, hash, &bytes, &n, err);
    fw_free(bytes);
    if (st == FW_ECORRUPT || (st == FW_OK && n != len))
        return fw_err_set(err, FW_ENOTFOUND, "artifact %s is not kept with %zu bytes", hash, len);
    return st;
}
fw_status fw_store_artifact_remove(fw_store *s, const char *hash, fw_err *err) {
    return s->ops->artifact_remove(s, hash, err);
}
fw_status fw_store_artifact_map(fw_store *s, const char *hash, const void **data, size_t *len, fw_err *err) {
    *data = NULL;
    *len = 0;
    if (!s->ops->artifact_map)
        return fw_err_set(err, FW_EUNSUPPORTED, "the %s store has no mapped artifacts", s->ops->kind);
    return s->ops->artifact_map(s, hash, data, len, err);
}
void fw_store_artifact_unmap(fw_store *s, const void *data, size_t len) {
    if (data && s->ops->artifact_unmap) s->ops->artifact_unmap(s, data, len);
}
fw_status fw_store_artifact_leftovers(fw_store *s, bool remove, fw_buf *report, size_t *n, fw_err *err) {
    *n = 0;
    return s->ops->artifact_leftovers ? s->ops->artifact_leftovers(s, remove, report, n, err) : FW_OK;
}
fw_status fw_store_artifact_list(fw_store *s, char ***hashes, size_t *n, fw_err *err) {
    *hashes = NULL;
    *n = 0;
    return s->ops->artifact_list ? s->ops->artifact_list(s, hashes, n, err) : FW_OK;
}
void fw_store_artifact_where(const fw_store *s, const char *hash, char *out, size_t size) {
    if (s->ops->artifact_where) s->ops->artifact_where(s, hash, out, size);
    else snprintf(out, size, "%s artifact %s", s->ops->kind, hash);
}

fw_status fw_store_batch_run_begin(fw_store *s, const char *name, int64_t version, const char *input_path,
                                   int64_t *batch_id, fw_err *err) {
    return s->ops->batch_run_begin(s, name, version, input_path, batch_id, err);
}
fw_status fw_store_batch_run_finish(fw_store *s, int64_t batch_id, int64_t n_rows, const char *status, fw_err *err) {
    return s->ops->batch_run_finish(s, batch_id, n_rows, status, err);
}
fw_status fw_store_batch_predictions_insert(fw_store *s, int64_t batch_id, const int64_t *row_index,
                                            const char *const *output_json, size_t n, fw_err *err) {
    return s->ops->batch_predictions_insert(s, batch_id, row_index, output_json, n, err);
}
fw_status fw_store_batch_job_begin(fw_store *s, fw_batch_run_rec *r, fw_err *err) {
    return s->ops->batch_job_begin(s, r, err);
}
fw_status fw_store_batch_job_update(fw_store *s, const fw_batch_run_rec *r, fw_err *err) {
    return s->ops->batch_job_update(s, r, err);
}
fw_status fw_store_batch_history(fw_store *s, const char *filter, size_t limit, fw_batch_run_rec **out, size_t *n,
                                 fw_err *err) {
    *out = NULL;
    *n = 0;
    return s->ops->batch_history(s, filter, limit ? limit : 50, out, n, err);
}
fw_status fw_store_answer_put(fw_store *s, const char *model, const char *entity_id, size_t entity_len,
                              const char *version, const char *prediction, size_t prediction_len,
                              const char *scores_json, size_t scores_len, int64_t scored_ms, int64_t run_id,
                              fw_err *err) {
    return s->ops->answer_put(s, model, entity_id, entity_len, version, prediction, prediction_len, scores_json,
                              scores_len, scored_ms, run_id, err);
}
fw_status fw_store_answer_get(fw_store *s, const char *model, const char *entity, size_t entity_len,
                              fw_batch_answer *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    if (entity_len > (size_t)INT32_MAX) return fw_err_set(err, FW_EINVAL, "entity id too long");
    return s->ops->answer_get(s, model, entity, entity_len, out, err);
}
fw_status fw_store_answer_count(fw_store *s, const char *model, int64_t *n, fw_err *err) {
    return s->ops->answer_count(s, model, n, err);
}

fw_status fw_store_secret(fw_store *s, const char *name, unsigned char *out, size_t len, fw_err *err) {
    static const char hex[] = "0123456789abcdef";
    unsigned char fresh[64];
    char key[160], text[129];
    if (len == 0 || len > sizeof fresh || strlen(name) > 128)
        return fw_err_set(err, FW_EINVAL, "store secret '%.128s': 1 to 64 bytes", name);
    if (getrandom(fresh, len, 0) != (ssize_t)len)
        return fw_err_set(err, FW_EIO, "store secret '%s': the kernel gave no random bytes: %s", name, strerror(errno));
    for (size_t i = 0; i < len; i++) text[2 * i] = hex[fresh[i] >> 4], text[2 * i + 1] = hex[fresh[i] & 15];
    text[2 * len] = 0;
    snprintf(key, sizeof key, "secret.%s", name);
    char *kept = NULL;
    fw_status st = s->ops->setting_get_or_put(s, key, text, &kept, err);
    memset(fresh, 0, sizeof fresh);
    memset(text, 0, sizeof text);
    if (st) return st;
    bool ok = strlen(kept) == 2 * len;
    for (size_t i = 0; ok && i < len; i++) {
        const char *hi = memchr(hex, kept[2 * i], 16), *lo = memchr(hex, kept[2 * i + 1], 16);
        ok = hi && lo && kept[2 * i] && kept[2 * i + 1];
        if (ok) out[i] = (unsigned char)((hi - hex) << 4 | (lo - hex));
    }
    memset(kept, 0, strlen(kept));
    fw_free(kept);
    if (!ok) {
        memset(out, 0, len);
        return fw_err_set(err, FW_ECORRUPT, "store %s: secret '%s' is damaged (not %zu bytes of hex)", s->home, name, len);
    }
    return FW_OK;
}

fw_status fw_store_answer_lookup(fw_store *s, const char *model, const char *version, const char *entity,
                                 size_t entity_len, int64_t max_age_ms, int64_t now_ms, fw_batch_answer *out,
                                 fw_batch_miss *why, fw_err *err) {
    if (why) *why = FW_BATCH_MISSING;
    fw_status st = fw_store_answer_get(s, model, entity, entity_len, out, err);
    if (st && st != FW_ENOTFOUND) return st;
    fw_batch_miss miss = FW_BATCH_MISSING;
    if (st == FW_OK) {
        if (!now_ms) now_ms = fw_wall_unix_ms();
        if (version && strcmp(version, out->version) != 0) miss = FW_BATCH_OTHER_VERSION;
        else if (max_age_ms > 0 && now_ms - out->scored_ms > max_age_ms) miss = FW_BATCH_STALE;
        else miss = FW_BATCH_HIT;
        if (miss != FW_BATCH_HIT) fw_batch_answer_free(out);
    }
    if (why) *why = miss;
    if (miss == FW_BATCH_HIT) return FW_OK;
    static const char *const what[] = {"", "no precomputed answer", "the precomputed answer is too old",
                                       "the precomputed answer is from another version"};
    return fw_err_set(err, FW_ENOTFOUND, "%s for %s / %.*s", what[miss], model,
                      (int)(entity_len < 200 ? entity_len : 200), entity);
}

void fw_batch_answer_free(fw_batch_answer *a) {
    fw_free(a->prediction);
    fw_free(a->scores_json);
    a->prediction = a->scores_json = NULL;
}

/* ---- the prediction log ---------------------------------------------------------------------- */
fw_status fw_store_log_open(const char *home, fw_store_log **out, fw_err *err) {
    return fw_store_log_open_cache(home, 0, out, err);
}
fw_status fw_store_log_open_cache(const char *home, size_t cache_bytes, fw_store_log **out, fw_err *err) {
    *out = NULL;
    home = fw_store_default_home(home);
    const fw_store_backend *b;
    fw_status st = backend_for(home, &b, err);
    return st ? st : b->log_open(home, cache_bytes ? cache_bytes : FW_STORE_LOG_CACHE_BYTES, out, err);
}
fw_status fw_store_log_cache(fw_store_log *l, size_t *writer, size_t *checkpointer, fw_err *err) {
    *writer = *checkpointer = 0;
    if (!l->ops->cache) return fw_err_set(err, FW_EUNSUPPORTED, "this store's log has no page cache");
    return l->ops->cache(l, writer, checkpointer, err);
}
void fw_store_log_close(fw_store_log *l) {
    if (l) l->ops->close(l);
}
void fw_store_log_busy_ms(fw_store_log *l, int ms) {
    if (l->ops->busy_ms) l->ops->busy_ms(l, ms);
}
fw_status fw_store_log_sync(fw_store_log *l, fw_err *err) {
    return l->ops->sync ? l->ops->sync(l, err) : FW_OK;
}
fw_status fw_store_log_put_predictions(fw_store_log *l, const fw_log_pred_row *rows, size_t n, fw_err *err) {
    return n ? l->ops->put_predictions(l, rows, n, err) : FW_OK;
}
fw_status fw_store_log_put_feedback(fw_store_log *l, fw_log_feedback_row *rows, size_t n, fw_err *err) {
    return n ? l->ops->put_feedback(l, rows, n, err) : FW_OK;
}
bool fw_store_log_has_prediction(fw_store_log *l, const char *request_id, int64_t ts_ms, const char *model,
                                 int64_t version) {
    return l->ops->has_prediction(l, request_id, ts_ms, model, version);
}
bool fw_store_log_has_feedback(fw_store_log *l, const char *request_id, int64_t ts_ms, const char *event) {
    return l->ops->has_feedback(l, request_id, ts_ms, event);
}
fw_status fw_store_log_get_prediction(fw_store_log *l, const char *request_id, const char *model, int64_t version,
                                      fw_log_pred_found *out, fw_err *err) {
    *out = (fw_log_pred_found){0};
    if (!l->ops->get_prediction)
        return fw_err_set(err, FW_EUNSUPPORTED, "this store's prediction log cannot look predictions up");
    return l->ops->get_prediction(l, request_id, model, version, out, err);
}
/* experiments (issue 19) */
fw_status fw_store_log_experiment_rows(fw_store_log *l, const char *model, fw_log_exp_fn fn, void *ud, fw_err *err) {
    if (!l->ops->experiment_rows)
        return fw_err_set(err, FW_EUNSUPPORTED, "this store's prediction log cannot read experiments");
    return l->ops->experiment_rows(l, model, NULL, fn, ud, err);
}
fw_status fw_store_log_experiment_rows_sliced(fw_store_log *l, const char *model, const char *slice_feature,
                                              fw_log_exp_fn fn, void *ud, fw_err *err) {
    if (!l->ops->experiment_rows)
        return fw_err_set(err, FW_EUNSUPPORTED, "this store's prediction log cannot read experiments");
    return l->ops->experiment_rows(l, model, slice_feature, fn, ud, err);
}
fw_status fw_store_log_shadow_rows(fw_store_log *l, const char *model, fw_log_shadow_fn fn, void *ud, fw_err *err) {
    if (!l->ops->shadow_rows)
        return fw_err_set(err, FW_EUNSUPPORTED, "this store's prediction log cannot read shadow answers");
    return l->ops->shadow_rows(l, model, fn, ud, err);
}
void fw_log_pred_found_free(fw_log_pred_found *f) {
    if (!f) return;
    fw_free(f->input_json);
    fw_free(f->output_json);
    *f = (fw_log_pred_found){0};
}
fw_store_log_retention *fw_store_log_retention_start(const char *home, const fw_log_retention *r,
                                                     _Atomic(unsigned long long) *deleted) {
    home = fw_store_default_home(home);
    const fw_store_backend *b;
    if (backend_for(home, &b, NULL) || !b->retention_start || (r->max_age_s <= 0 && !r->max_rows && !r->max_bytes)) return NULL;
    return b->retention_start(home, r, deleted);
}
void fw_store_log_retention_stop(fw_store_log_retention *t) {
    if (t) t->stop(t);
}
fw_status fw_store_watch_open(const char *home, fw_store_watch **out, fw_err *err) {
    *out = NULL;
    home = fw_store_default_home(home);
    const fw_store_backend *b;
    fw_status st = backend_for(home, &b, err);
    if (st) return st;
    if (!b->watch_open) return fw_err_set(err, FW_EUNSUPPORTED, "the %s store announces no alias moves", b->name);
    return b->watch_open(home, out, err);
}
fw_status fw_store_claims_open(const char *home, const char *job, uint32_t count, fw_store_claims **out, fw_err *err) {
    *out = NULL;
    if (!job || !*job || count == 0) return fw_err_set(err, FW_EINVAL, "partition claims: a job name and a count are needed");
    home = fw_store_default_home(home);
    const fw_store_backend *b;
    fw_status st = backend_for(home, &b, err);
    if (st) return st;
    if (!b->claims_open) return fw_err_set(err, FW_EUNSUPPORTED, "the %s store has no partition claims", b->name);
    return b->claims_open(home, job, count, out, err);
}
fw_status fw_store_claims_next(fw_store_claims *c, uint32_t *index, fw_err *err) {
    fw_status st = c->next(c, index, err);
    const char *hold = FW_TEST_ENV("FLYWHEEL_TEST_CLAIM_HOLD_MS"); /* test builds: hold each claim this long */
    if (!st && hold) nanosleep(&(struct timespec){atoi(hold) / 1000, (long)(atoi(hold) % 1000) * 1000000L}, NULL);
    return st;
}
fw_status fw_store_claims_done(fw_store_claims *c, uint32_t index, fw_err *err) { return c->done(c, index, err); }
void fw_store_claims_release(fw_store_claims *c, uint32_t index) { c->release(c, index); }
void fw_store_claims_close(fw_store_claims *c) {
    if (c) c->close(c);
}
int fw_store_watch_wait(fw_store_watch *w, int timeout_ms) { return w->wait(w, timeout_ms); }
void fw_store_watch_close(fw_store_watch *w) {
    if (w) w->close(w);
}

void fw_version_rec_free(fw_version_rec *v) {
    if (!v) return;
    char **strs[] = {&v->name, &v->status, &v->artifact_hash, &v->run_id, &v->family, &v->task,
                     &v->data_fp, &v->test_fp, &v->metric_name, &v->params_json, &v->metrics_json,
                     &v->tags_json, &v->created_by};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) fw_free(*strs[i]);
    memset(v, 0, sizeof *v);
}

void fw_model_summaries_free(fw_model_summary *m, size_t n) {
    for (size_t i = 0; m && i < n; i++) {
        fw_free(m[i].name);
        fw_free(m[i].aliases);
    }
    fw_free(m);
}

void fw_alias_recs_free(fw_alias_rec *a, size_t n) {
    for (size_t i = 0; a && i < n; i++) fw_free(a[i].alias);
    fw_free(a);
}

void fw_run_rec_free(fw_run_rec *r) {
    if (!r) return;
    fw_free(r->run_id);
    fw_free(r->name);
    fw_free(r->command);
    fw_free(r->user);
    fw_free(r->record_json);
    memset(r, 0, sizeof *r);
}

void fw_alarm_recs_free(fw_alarm_rec *a, size_t n) {
    for (size_t i = 0; a && i < n; i++) {
        fw_free(a[i].model);
        fw_free(a[i].kind);
        fw_free(a[i].column);
        fw_free(a[i].slice);
        fw_free(a[i].statistic);
        fw_free(a[i].detail);
    }
    fw_free(a);
}

void fw_audit_recs_free(fw_audit_rec *a, size_t n) {
    for (size_t i = 0; a && i < n; i++) {
        fw_free(a[i].name);
        fw_free(a[i].action);
        fw_free(a[i].alias);
        fw_free(a[i].reason);
        fw_free(a[i].command);
        fw_free(a[i].user);
    }
    fw_free(a);
}

/* ---- content-addressed files ---------------------------------------------------------------- */

static bool valid_hash(const char *h) {
    if (!h || strlen(h) != 32) return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return false;
    return true;
}

void fw__artifact_path(const char *home, const char *hash, char *out, size_t size) {
    snprintf(out, size, "%s/artifacts/%.2s/%s.fwm", home, hash, hash + 2);
}



fw_status fw__fs_artifact_put(const char *home, const void *data, size_t len, char hash_out[33],
                              fw_err *err) {
    fw_hash128_hex(data, len, hash_out);
    char path[4096], dir[4096];
    snprintf(dir, sizeof dir, "%s/artifacts/%.2s", home, hash_out);
    fw__artifact_path(home, hash_out, path, sizeof path);
    /* An intact file with this name is the same bytes (content address): keep it. */
    uint8_t *old = NULL;
    size_t old_len = 0;
    fw_err ignore;
    if (fw_read_file(path, &old, &old_len, &ignore) == FW_OK) {
        char h[33];
        fw_hash128_hex(old, old_len, h);
        fw_free(old);
        if (strcmp(h, hash_out) == 0) return FW_OK;
    }
    fw_status st = fw_mkdirs(dir, err);
    if (st) return st;
    return fw_write_file_atomic(path, data, len, err);
}

fw_status fw__fs_artifact_read(const char *home, const char *hash, uint8_t **out, size_t *len,
                               fw_err *err) {
    if (!valid_hash(hash)) return fw_err_set(err, FW_EINVAL, "invalid artifact hash '%s'", hash ? hash : "");
    char path[4096];
    fw__artifact_path(home, hash, path, sizeof path);
    fw_status st = fw_read_file(path, out, len, err);
    if (st == FW_ENOTFOUND) return fw_err_set(err, FW_ENOTFOUND, "artifact file %s is missing", path);
    if (st) return st;
    char h[33];
    fw_hash128_hex(*out, *len, h);
    if (strcmp(h, hash) != 0) {
        fw_free(*out);
        *out = NULL;
        *len = 0;
        return fw_err_set(err, FW_ECORRUPT,
                          "artifact file %s was altered on disk (its content hash is %s, expected %s)", path,
                          h, hash);
    }
    return FW_OK;
}

fw_status fw__fs_artifact_has(const char *home, const char *hash, size_t len, fw_err *err) {
    if (!valid_hash(hash)) return fw_err_set(err, FW_EINVAL, "invalid artifact hash '%s'", hash ? hash : "");
    char path[4096];
    fw__artifact_path(home, hash, path, sizeof path);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno == ENOENT) return fw_err_set(err, FW_ENOTFOUND, "artifact file %s is missing", path);
        return fw_err_set(err, FW_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != (uint64_t)len)
        return fw_err_set(err, FW_ENOTFOUND, "artifact file %s holds %lld bytes, not %zu", path, (long long)sb.st_size, len);
    return FW_OK;
}

fw_status fw__fs_artifact_map(const char *home, const char *hash, const void **data, size_t *len, fw_err *err) {
    *data = NULL;
    *len = 0;
    if (!valid_hash(hash)) return fw_err_set(err, FW_ECORRUPT, "invalid artifact hash '%s'", hash ? hash : "");
    char path[4096];
    fw__artifact_path(home, hash, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fw_err_set(err, errno == ENOENT ? FW_ENOTFOUND : FW_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || sb.st_size <= 0) {
        close(fd);
        return fw_err_set(err, FW_ECORRUPT, "%s: empty or unreadable artifact file", path);
    }
    size_t n = (size_t)sb.st_size;
    void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return fw_err_set(err, FW_EIO, "%s: mmap: %s", path, strerror(errno));
    char h[33];
    fw_hash128_hex(map, n, h);
    if (strcmp(h, hash) != 0) {
        munmap(map, n);
        return fw_err_set(err, FW_ECORRUPT, "artifact file %s was altered on disk (its content hash is %s, expected %s)",
                          path, h, hash);
    }
    *data = map;
    *len = n;
    return FW_OK;
}

void fw__fs_artifact_unmap(const void *data, size_t len) { munmap((void *)data, len); }

fw_status fw__fs_artifact_remove(const char *home, const char *hash, fw_err *err) {
    if (!valid_hash(hash)) return fw_err_set(err, FW_EINVAL, "invalid artifact hash '%s'", hash ? hash : "");
    char path[4096];
    fw__artifact_path(home, hash, path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        return fw_err_set(err, FW_EIO, "cannot remove %s: %s", path, strerror(errno));
    return FW_OK;
}

fw_status fw__fs_artifact_list(const char *home, char ***hashes, size_t *n, fw_err *err) {
    *hashes = NULL;
    *n = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/artifacts", home);
    DIR *top = opendir(dir);
    if (!top) return errno == ENOENT ? FW_OK : fw_err_set(err, FW_EIO, "cannot read %s: %s", dir, strerror(errno));
    fw_status st = FW_OK;
    size_t cap = 0;
    struct dirent *e;
    while (st == FW_OK && (e = readdir(top)) != NULL) {
        if (strlen(e->d_name) != 2 || !isxdigit((unsigned char)e->d_name[0]) || !isxdigit((unsigned char)e->d_name[1]))
            continue;
        char sub[4400];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        DIR *d = opendir(sub);
        if (!d) continue;
        struct dirent *f;
        while (st == FW_OK && (f = readdir(d)) != NULL) {
            char hash[40];
            if (strlen(f->d_name) != 34 || strcmp(f->d_name + 30, ".fwm") != 0) continue;
            snprintf(hash, sizeof hash, "%.2s%.30s", e->d_name, f->d_name);
            if (!valid_hash(hash)) continue;
            if (*n == cap) {
                size_t nc = cap ? cap * 2 : 16;
                char **nh = fw_realloc(*hashes, nc * sizeof *nh);
                if (!nh) {
                    st = fw_err_set(err, FW_ENOMEM, "out of memory");
                    break;
                }
                *hashes = nh;
                cap = nc;
            }
            if (!((*hashes)[*n] = fw_strdup(hash))) st = fw_err_set(err, FW_ENOMEM, "out of memory");
            else (*n)++;
        }
        closedir(d);
    }
    closedir(top);
    return st;
}


fw_status fw__fs_artifact_leftovers(const char *home, bool remove, fw_buf *report, size_t *n,
                                    fw_err *err) {
    *n = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/artifacts", home);
    DIR *top = opendir(dir);
    if (!top) return errno == ENOENT ? FW_OK : fw_err_set(err, FW_EIO, "cannot read %s: %s", dir, strerror(errno));
    fw_status st = FW_OK;
    struct dirent *e;
    while (st == FW_OK && (e = readdir(top)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char sub[4400];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        DIR *d = opendir(sub);
        if (!d) continue; /* not a directory */
        struct dirent *f;
        while ((f = readdir(d)) != NULL) {
            if (!fw_file_temp_abandoned(f->d_name)) continue;
            char path[4700];
            snprintf(path, sizeof path, "%s/%s", sub, f->d_name);
            (*n)++;
            if (report) fw_buf_printf(report, "%s\n", path);
            if (remove && unlink(path) != 0 && errno != ENOENT) {
                st = fw_err_set(err, FW_EIO, "cannot remove %s: %s", path, strerror(errno));
                break;
            }
        }
        closedir(d);
    }
    closedir(top);
    return st;
}

