/* registry.c — owns the registry operations over the store interface: registration, resolution of
 * model references, aliases with the promotion rule, rollback from the audit log, archive/delete,
 * export/import and the integrity check. */
#include "registry/registry.h"

#include "artifact/artifact.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "core/hash.h"
#include "core/files.h"
#include "core/test_hooks.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fw_registry {
    fw_store *store;
    char *command;
    char *user;
};

void fw_registry_options_init(fw_registry_options *o) { memset(o, 0, sizeof *o); }
void fw_registry_register_options_init(fw_registry_register_options *o) { memset(o, 0, sizeof *o); }
void fw_promote_options_init(fw_promote_options *o) {
    memset(o, 0, sizeof *o);
    o->min_improvement = NAN;
    o->expect_current = -1;
}

fw_status fw_registry_open(const fw_registry_options *o, fw_registry **out, fw_err *err) {
    fw_registry_options def;
    if (!o) {
        fw_registry_options_init(&def);
        o = &def;
    }
    *out = NULL;
    fw_registry *r = fw_calloc(1, sizeof *r);
    if (!r) return fw_err_set(err, FW_ENOMEM, "out of memory");
    const char *user = o->user ? o->user : getenv("USER");
    char uid[32];
    if (!user) {
        struct passwd *pw = getpwuid(getuid());
        if (pw) {
            user = pw->pw_name;
        } else {
            snprintf(uid, sizeof uid, "uid %ld", (long)getuid());
            user = uid;
        }
    }
    r->user = fw_strdup(user);
    r->command = fw_strdup(o->command ? o->command : "libflywheel");
    if (!r->user || !r->command) {
        fw_registry_close(r);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_status st = fw_store_open(o->home, &r->store, err);
    if (st) {
        fw_registry_close(r);
        return st;
    }
    *out = r;
    return FW_OK;
}

void fw_registry_close(fw_registry *r) {
    if (!r) return;
    fw_store_close(r->store);
    fw_free(r->command);
    fw_free(r->user);
    fw_free(r);
}

fw_store *fw_registry_store(fw_registry *r) { return r->store; }

/* ---- names ---------------------------------------------------------------------------------- */
static fw_status check_token(const char *what, const char *s, fw_err *err) {
    if (!s || !*s) return fw_err_set(err, FW_EINVAL, "%s is empty", what);
    size_t n = strlen(s);
    if (n > FW_NAME_MAX)
        return fw_err_set(err, FW_EINVAL, "%s is %zu characters long (at most %d)", what, n, FW_NAME_MAX);
    if (!isalnum((unsigned char)s[0]))
        return fw_err_set(err, FW_EINVAL, "%s '%s' must start with a letter or a digit", what, s);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-'))
            return fw_err_set(err, FW_EINVAL,
                              "%s '%s' has the character '%c' at position %zu (allowed: letters, digits, '.', "
                              "'_', '-')",
                              what, s, isprint(c) ? c : '?', i + 1);
    }
    if (strstr(s, "..")) return fw_err_set(err, FW_EINVAL, "%s '%s' must not contain '..'", what, s);
    return FW_OK;
}

fw_status fw_registry_check_name(const char *name, fw_err *err) { return check_token("model name", name, err); }

fw_status fw_registry_check_alias(const char *alias, fw_err *err) {
    fw_status st = check_token("alias", alias, err);
    if (st) return st;
    const char *p = alias[0] == 'v' ? alias + 1 : alias;
    bool digits = *p != 0;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p)) digits = false;
    if (digits)
        return fw_err_set(err, FW_EINVAL, "alias '%s' looks like a version number (NAME@3 means version 3)", alias);
    return FW_OK;
}

/* ---- small helpers -------------------------------------------------------------------------- */
static fw_status audit(fw_registry *r, const char *name, int64_t version, const char *action, const char *alias,
                       int64_t from, int64_t to, bool forced, const char *reason, fw_err *err) {
    fw_audit_rec a = {
        .ts_ms = fw_wall_unix_ms(),
        .name = (char *)name,
        .version = version,
        .action = (char *)action,
        .alias = (char *)alias,
        .from_version = from,
        .to_version = to,
        .forced = forced,
        .reason = (char *)reason,
        .command = r->command,
        .user = r->user,
        .pid = (int64_t)getpid(),
    };
    return fw_store_audit_append(r->store, &a, err);
}

/* A JSON text as given when it parses as an object, else NULL (jansson's allocations are its own
 * and freed before returning). */
static bool json_object_text(const char *s) {
    if (!s) return false;
    json_t *j = json_loads(s, 0, NULL);
    bool ok = j && json_is_object(j);
    json_decref(j);
    return ok;
}

static char *dup_json_or_null(const char *s) { return json_object_text(s) ? fw_strdup(s) : NULL; }

/* Tags: the caller's object with "run" (and "parent" when the artifact names one) added. */
static char *make_tags(const char *tags_json, const char *run_id, const char *parent_ref) {
    json_t *t = tags_json ? json_loads(tags_json, 0, NULL) : NULL;
    if (!t || !json_is_object(t)) {
        json_decref(t);
        t = json_object();
    }
    if (!t) return NULL;
    json_object_set_new(t, "run", json_string(run_id));
    if (parent_ref && *parent_ref) json_object_set_new(t, "parent", json_string(parent_ref));
    char *s = json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(t);
    char *out = s ? fw_strdup(s) : NULL;
    json_free_t jfree; /* jansson's own free: the server installs fw_malloc/fw_free (json_set_alloc_funcs) */
    json_get_alloc_funcs(NULL, &jfree);
    jfree(s);
    return out;
}

static char *section_text(const fw_artifact *a, uint32_t id) {
    const uint8_t *p;
    size_t n;
    if (!fw_artifact_section(a, id, &p, &n)) return NULL;
    char *s = fw_strndup((const char *)p, n);
    if (s && !json_object_text(s)) {
        fw_free(s);
        return NULL;
    }
    return s;
}

static void new_run_id(char out[40]) {
    static unsigned counter;
    uint64_t seed[3] = {fw_now_ns(), (uint64_t)getpid(), __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED)};
    uint64_t h = fw_hash64(seed, sizeof seed, (uint64_t)fw_wall_unix_ms());
    snprintf(out, 40, "run-%016" PRIx64, h);
}

/* ---- register ------------------------------------------------------------------------------- */
fw_status fw_registry_register(fw_registry *r, const void *artifact, size_t len, const fw_registry_register_options *o,
                               int64_t *version_out, fw_err *err) {
    fw_registry_register_options def;
    if (!o) {
        fw_registry_register_options_init(&def);
        o = &def;
    }
    fw_artifact *a = NULL;
    fw_status st = fw_artifact_open(artifact, len, &a, err);
    if (st) return fw_err_prefix(err, "cannot register"), st;
    const char *name = o->name ? o->name : fw_artifact_str(a, FW_KV_NAME);
    if (!name) {
        fw_artifact_close(a);
        return fw_err_set(err, FW_EINVAL, "cannot register: no model name given and the artifact has no %s", FW_KV_NAME);
    }
    if ((st = fw_registry_check_name(name, err))) {
        fw_artifact_close(a);
        return st;
    }
    char run_id[40];
    if (o->run_id)
        snprintf(run_id, sizeof run_id, "%s", o->run_id);
    else
        new_run_id(run_id);
    fw_version_rec v;
    memset(&v, 0, sizeof v);
    v.created_ms = fw_wall_unix_ms();
    v.artifact_size = (int64_t)len;
    v.metric = v.baseline_metric = v.min_improvement = NAN;
    int64_t i64;
    double f64;
    if (fw_artifact_f64(a, FW_KV_METRIC_MODEL, &f64)) v.metric = f64;
    if (fw_artifact_f64(a, FW_KV_METRIC_BASELINE, &f64)) v.baseline_metric = f64;
    if (fw_artifact_f64(a, FW_KV_MIN_IMPROVEMENT, &f64)) v.min_improvement = f64;
    v.greater_is_better = fw_artifact_i64(a, FW_KV_GREATER_BETTER, &i64) ? (i64 != 0) : 1;
    const char *parent_ref = fw_artifact_str(a, FW_KV_PARENT);
    v.parent_version = o->parent_version;
    if (!v.parent_version && parent_ref) {
        const char *at = strchr(parent_ref, '@');
        if (at && (size_t)(at - parent_ref) == strlen(name) && strncmp(parent_ref, name, strlen(name)) == 0)
            v.parent_version = strtoll(at + 1 + (at[1] == 'v'), NULL, 10);
    }
    char user_cmd[600];
    snprintf(user_cmd, sizeof user_cmd, "%s: %s", r->user, r->command);
    v.name = fw_strdup(name);
    v.run_id = fw_strdup(run_id);
    v.family = fw_strdup(fw_artifact_str(a, FW_KV_FAMILY) ? fw_artifact_str(a, FW_KV_FAMILY) : "");
    v.task = fw_strdup(fw_artifact_str(a, FW_KV_TASK) ? fw_artifact_str(a, FW_KV_TASK) : "");
    v.data_fp = fw_artifact_str(a, FW_KV_DATA_FP) ? fw_strdup(fw_artifact_str(a, FW_KV_DATA_FP)) : NULL;
    v.test_fp = fw_artifact_str(a, FW_KV_TEST_FP) ? fw_strdup(fw_artifact_str(a, FW_KV_TEST_FP)) : NULL;
    v.metric_name = fw_artifact_str(a, FW_KV_METRIC) ? fw_strdup(fw_artifact_str(a, FW_KV_METRIC)) : NULL;
    v.params_json = section_text(a, FW_SECTION_PARAMS);
    v.metrics_json = section_text(a, FW_SECTION_METRICS);
    v.tags_json = make_tags(o->tags_json, run_id, parent_ref);
    v.created_by = fw_strdup(user_cmd);
    /* the run record: the caller's, else the artifact's own run section (read in this one open) */
    char *run_json = o->run_json ? dup_json_or_null(o->run_json) : section_text(a, FW_SECTION_RUN);
    fw_artifact_close(a);
    char hash[33];
    fw_store *s = r->store;
    if (!v.name || !v.run_id || !v.family || !v.task || !v.tags_json || !v.created_by) {
        fw_free(run_json);
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto done;
    }
    /* 1. the file, durable, before any row names it */
    if ((st = fw_store_artifact_put(s, artifact, len, hash, err))) {
        fw_free(run_json);
        goto done;
    }
    FW_CRASH_POINT("register:file-written");
    v.artifact_hash = hash;
    /* 2. run + version + audit in one transaction */
    if ((st = fw_store_begin(s, true, err))) {
        fw_free(run_json);
        goto done;
    }
    /* A concurrent delete of identical bytes may have removed the file before we got the lock: its
     * presence is checked (a stat, or the row's size), not its bytes read back — put hashed the very
     * bytes it wrote and verified any copy it kept. Missing: written again. */
    fw_err ignore;
    if (fw_store_artifact_has(s, hash, len, &ignore) != FW_OK &&
        (st = fw_store_artifact_put(s, artifact, len, hash, err))) {
        fw_free(run_json);
        goto rollback;
    }
    fw_run_rec run = {.run_id = run_id, .name = v.name, .created_ms = v.created_ms, .command = r->command,
                      .user = r->user, .record_json = run_json};
    st = fw_store_run_insert(s, &run, err);
    fw_free(run_json);
    if (st == FW_EEXIST && o->run_id) st = FW_OK; /* several versions of one run (e.g. per slice) */
    if (st) goto rollback;
    if ((st = fw_store_version_insert(s, &v, err))) goto rollback;
    char reason[1024];
    snprintf(reason, sizeof reason, "artifact %s (%" PRId64 " bytes), run %s%s%.700s", hash, v.artifact_size, run_id,
             o->reason && *o->reason ? "; " : "", o->reason ? o->reason : "");
    if ((st = audit(r, v.name, v.version, o->is_import ? "import" : "register", NULL, 0, 0, false, reason, err)))
        goto rollback;
    FW_CRASH_POINT("register:before-commit");
    if ((st = fw_store_commit(s, err))) goto done;
    if (version_out) *version_out = v.version;
    goto done;
rollback:
    fw_store_rollback(s);
done:
    v.artifact_hash = NULL; /* stack buffer */
    fw_version_rec_free(&v);
    return st;
}

/* ---- resolve -------------------------------------------------------------------------------- */
/* Splits "NAME[@SUFFIX]" into name (buf) and suffix; *version > 0 when the suffix is a number. */
static fw_status parse_ref(const char *ref, char *name, size_t name_size, const char **alias, int64_t *version,
                           fw_err *err) {
    *alias = NULL;
    *version = 0;
    if (!ref || !*ref) return fw_err_set(err, FW_EINVAL, "empty model reference");
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n >= name_size) return fw_err_set(err, FW_EINVAL, "model name in '%s' is too long (at most %d)", ref, FW_NAME_MAX);
    memcpy(name, ref, n);
    name[n] = 0;
    fw_status st = fw_registry_check_name(name, err);
    if (st) return st;
    if (!at) return FW_OK;
    const char *suf = at + 1;
    const char *num = suf[0] == 'v' ? suf + 1 : suf;
    if (*num && strspn(num, "0123456789") == strlen(num)) {
        errno = 0;
        long long v = strtoll(num, NULL, 10);
        if (errno || v <= 0) return fw_err_set(err, FW_EINVAL, "bad version number in '%s'", ref);
        *version = v;
        return FW_OK;
    }
    if ((st = fw_registry_check_alias(suf, err))) return fw_err_prefix(err, "in '%s'", ref), st;
    *alias = suf;
    return FW_OK;
}

fw_status fw_registry_resolve(fw_registry *r, const char *ref, fw_version_rec *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    char name[FW_NAME_MAX + 1];
    const char *alias;
    int64_t version;
    fw_status st = parse_ref(ref, name, sizeof name, &alias, &version, err);
    if (st) return st;
    fw_store *s = r->store;
    bool exists = false;
    if ((st = fw_store_model_exists(s, name, &exists, err))) return st;
    if (!exists) return fw_err_set(err, FW_ENOTFOUND, "no model named '%s' in %s", name, fw_store_home(s));
    bool via_alias = false;
    if (alias) {
        if ((st = fw_store_alias_get(s, name, alias, &version, err))) return st;
        via_alias = true;
    } else if (!version) {
        st = fw_store_alias_get(s, name, FW_ALIAS_PRODUCTION, &version, err);
        if (st == FW_ENOTFOUND) {
            if ((st = fw_store_version_latest(s, name, false, &version, err))) return st;
        } else if (st) {
            return st;
        } else {
            via_alias = true;
            alias = FW_ALIAS_PRODUCTION;
        }
    }
    if ((st = fw_store_version_get(s, name, version, out, err))) return st;
    if (strcmp(out->status, "deleted") == 0) {
        fw_version_rec_free(out);
        if (via_alias)
            return fw_err_set(err, FW_ECORRUPT, "alias '%s' of model '%s' points at deleted version %" PRId64
                              " (the store is inconsistent; set the alias again)", alias, name, version);
        return fw_err_set(err, FW_ENOTFOUND, "version %" PRId64 " of model '%s' was deleted", version, name);
    }
    return FW_OK;
}

fw_status fw_registry_read_artifact(fw_registry *r, const fw_version_rec *v, uint8_t **out, size_t *len,
                                    fw_err *err) {
    fw_status st = fw_store_artifact_read(r->store, v->artifact_hash, out, len, err);
    if (st) fw_err_prefix(err, "%s@%" PRId64, v->name, v->version);
    return st;
}

fw_status fw_registry_report_html(fw_registry *r, const fw_version_rec *v, char **html, size_t *len,
                                  fw_err *err) {
    *html = NULL;
    if (len) *len = 0;
    fw_run_rec run;
    memset(&run, 0, sizeof run);
    fw_err ignore;
    if (v->run_id) fw_store_run_get(r->store, v->run_id, &run, &ignore);
    json_t *j = run.record_json ? json_loads(run.record_json, 0, NULL) : NULL;
    json_t *h = j ? json_object_get(j, "report_html") : NULL;
    fw_status st = FW_OK;
    if (!json_is_string(h)) {
        st = fw_err_set(err, FW_ENOTFOUND,
                        "%s@%" PRId64 " has no stored report: it was registered before flywheel kept the HTML report "
                        "with each version (or was imported); `flywheel eval %s@%" PRId64 " DATA --html F` renders one "
                        "from labelled data",
                        v->name, v->version, v->name, v->version);
    } else {
        size_t n = json_string_length(h);
        *html = fw_malloc(n + 1);
        if (!*html) {
            st = fw_err_set(err, FW_ENOMEM, "out of memory");
        } else {
            memcpy(*html, json_string_value(h), n);
            (*html)[n] = 0;
            if (len) *len = n;
        }
    }
    json_decref(j);
    fw_run_rec_free(&run);
    return st;
}

fw_status fw_registry_versions(fw_registry *r, const char *name, fw_version_rec **out, size_t *n, fw_err *err) {
    fw_status st = fw_registry_check_name(name, err);
    if (st) return st;
    bool exists = false;
    if ((st = fw_store_model_exists(r->store, name, &exists, err))) return st;
    if (!exists) return fw_err_set(err, FW_ENOTFOUND, "no model named '%s' in %s", name, fw_store_home(r->store));
    return fw_store_version_list(r->store, name, out, n, err);
}

fw_status fw_registry_list(fw_registry *r, fw_model_summary **out, size_t *n, fw_err *err) {
    return fw_store_model_list(r->store, out, n, err);
}

fw_status fw_registry_aliases(fw_registry *r, const char *name, fw_alias_rec **out, size_t *n, fw_err *err) {
    return fw_store_alias_list(r->store, name, out, n, err);
}

/* ---- promotion ------------------------------------------------------------------------------ */
static double improvement(const fw_version_rec *v, double a, double b) {
    return v->greater_is_better ? a - b : b - a;
}

/* The rule; returns FW_OK or FW_EDATA with why in msg. */
static fw_status check_rule(fw_registry *r, const fw_version_rec *v, int64_t current, double margin, char *msg,
                            size_t size, fw_err *err) {
    const char *metric = v->metric_name ? v->metric_name : "metric";
    if (isnan(v->metric) || isnan(v->baseline_metric)) {
        snprintf(msg, size, "%s@%" PRId64 " has no recorded test %s for the model and its baseline", v->name,
                 v->version, metric);
        return FW_EDATA;
    }
    if (isnan(margin) || margin < 0) margin = 0;
    double imp = improvement(v, v->metric, v->baseline_metric);
    if (!(imp > 0) || imp < margin) {
        snprintf(msg, size,
                 "%s@%" PRId64 " does not beat its baseline by the required margin: %s %.6g vs baseline %.6g "
                 "(improvement %.6g, required > 0 and >= %.6g)",
                 v->name, v->version, metric, v->metric, v->baseline_metric, imp, margin);
        return FW_EDATA;
    }
    if (current > 0 && current != v->version) {
        fw_version_rec cur;
        fw_status st = fw_store_version_get(r->store, v->name, current, &cur, err);
        if (st) return st;
        fw_status rc = FW_OK;
        if (!v->test_fp || !cur.test_fp || strcmp(v->test_fp, cur.test_fp) != 0) {
            snprintf(msg, size,
                     "%s@%" PRId64 " was evaluated on other test data than production %s@%" PRId64
                     " (test fingerprint %s vs %s): their metrics are not comparable",
                     v->name, v->version, v->name, current, v->test_fp ? v->test_fp : "none",
                     cur.test_fp ? cur.test_fp : "none");
            rc = FW_EDATA;
        } else if (!cur.metric_name || !v->metric_name || strcmp(cur.metric_name, v->metric_name) != 0) {
            snprintf(msg, size, "%s@%" PRId64 " uses metric %s but production %s@%" PRId64 " uses %s", v->name,
                     v->version, metric, v->name, current, cur.metric_name ? cur.metric_name : "none");
            rc = FW_EDATA;
        } else if (!(improvement(v, v->metric, cur.metric) > 0)) {
            snprintf(msg, size, "%s@%" PRId64 " does not beat production %s@%" PRId64 ": %s %.6g vs %.6g", v->name,
                     v->version, v->name, current, metric, v->metric, cur.metric);
            rc = FW_EDATA;
        }
        if (rc == FW_OK)
            snprintf(msg, size, "%s %.6g beats baseline %.6g by %.6g (margin %.6g) and production %s@%" PRId64
                     " (%.6g) on the same test data", metric, v->metric, v->baseline_metric, imp, margin, v->name,
                     current, cur.metric);
        fw_version_rec_free(&cur);
        return rc;
    }
    snprintf(msg, size, "%s %.6g beats baseline %.6g by %.6g (margin %.6g); no current production version", metric,
             v->metric, v->baseline_metric, imp, margin);
    return FW_OK;
}

fw_status fw_registry_promote(fw_registry *r, const char *ref, const fw_promote_options *o, char *note,
                              size_t note_size, fw_err *err) {
    fw_promote_options def;
    if (!o) {
        fw_promote_options_init(&def);
        o = &def;
    }
    const char *alias = o->alias ? o->alias : FW_ALIAS_PRODUCTION;
    fw_status st = fw_registry_check_alias(alias, err);
    if (st) return st;
    fw_store *s = r->store;
    if ((st = fw_store_begin(s, true, err))) return st;
    fw_version_rec v;
    if ((st = fw_registry_resolve(r, ref, &v, err))) goto rollback_only;
    if (strcmp(v.status, "active") != 0) {
        st = fw_err_set(err, FW_EINVAL, "%s@%" PRId64 " is %s and cannot be given an alias", v.name, v.version, v.status);
        goto rollback;
    }
    int64_t current = 0;
    fw_status gst = fw_store_alias_get(s, v.name, alias, &current, err);
    if (gst && gst != FW_ENOTFOUND) {
        st = gst;
        goto rollback;
    }
    char msg[1024] = "";
    bool forced = false;
    if (o->expect_current >= 0 && current != o->expect_current) {
        st = fw_err_set(err, FW_EBUSY, "%s of %s moved meanwhile (now %" PRId64 ", expected %" PRId64 "): not moved",
                        alias, v.name, current, o->expect_current);
        goto rollback;
    }
    if (o->gate_evidence) { /* a paired gate compared it with the current version on the same rows */
        snprintf(msg, sizeof msg, "gate: %.1000s", o->gate_evidence);
    } else if (strcmp(alias, FW_ALIAS_PRODUCTION) == 0) {
        double margin = isnan(o->min_improvement) ? v.min_improvement : o->min_improvement;
        st = check_rule(r, &v, current, margin, msg, sizeof msg, err);
        if (st == FW_EDATA) {
            if (!o->force) {
                st = fw_err_set(err, FW_EDATA, "promotion of %s@%" PRId64 " to %s refused: %s (use --force to override)",
                                v.name, v.version, alias, msg);
                goto rollback;
            }
            forced = true;
            char tmp[1100];
            snprintf(tmp, sizeof tmp, "forced past the rule: %s", msg);
            size_t l = strlen(tmp) < sizeof msg ? strlen(tmp) : sizeof msg - 1;
            memcpy(msg, tmp, l);
            msg[l] = 0;
            st = FW_OK;
        } else if (st) {
            goto rollback;
        }
    } else {
        snprintf(msg, sizeof msg, "alias %s set", alias);
    }
    if (o->reason && *o->reason) {
        size_t l = strlen(msg);
        snprintf(msg + l, sizeof msg - l, "; %s", o->reason);
    }
    if ((st = fw_store_alias_set(s, v.name, alias, v.version, err))) goto rollback;
    if ((st = audit(r, v.name, v.version, "promote", alias, current, v.version, forced, msg, err))) goto rollback;
    if ((st = fw_store_commit(s, err))) goto done;
    if (note) snprintf(note, note_size, "%s", msg);
    goto done;
rollback:
    fw_version_rec_free(&v);
rollback_only:
    fw_store_rollback(s);
    return st;
done:
    fw_version_rec_free(&v);
    return st;
}

fw_status fw_registry_alias_set(fw_registry *r, const char *ref, const char *alias, bool force, fw_err *err) {
    fw_promote_options o;
    fw_promote_options_init(&o);
    o.alias = alias;
    o.force = force;
    return fw_registry_promote(r, ref, &o, NULL, 0, err);
}

static fw_status remove_alias_tx(fw_registry *r, const char *name, const char *alias, bool forced,
                                 const char *reason, fw_err *err) {
    int64_t cur = 0;
    fw_status st = fw_store_alias_get(r->store, name, alias, &cur, err);
    if (st) return st;
    if ((st = fw_store_alias_remove(r->store, name, alias, err))) return st;
    return audit(r, name, cur, "alias_remove", alias, cur, 0, forced, reason, err);
}

fw_status fw_registry_alias_remove(fw_registry *r, const char *name, const char *alias, fw_err *err) {
    fw_status st = fw_registry_check_name(name, err);
    if (st || (st = fw_registry_check_alias(alias, err))) return st;
    fw_store *s = r->store;
    if ((st = fw_store_begin(s, true, err))) return st;
    if ((st = remove_alias_tx(r, name, alias, false, NULL, err))) {
        fw_store_rollback(s);
        return st;
    }
    return fw_store_commit(s, err);
}

fw_status fw_registry_rollback(fw_registry *r, const char *name, const char *alias, int64_t *to, fw_err *err) {
    if (!alias) alias = FW_ALIAS_PRODUCTION;
    fw_status st = fw_registry_check_name(name, err);
    if (st || (st = fw_registry_check_alias(alias, err))) return st;
    fw_store *s = r->store;
    if ((st = fw_store_begin(s, true, err))) return st;
    fw_audit_rec *log = NULL;
    size_t n = 0, depth = 0;
    int64_t *stack = NULL;
    if ((st = fw_store_audit_list(s, name, &log, &n, err))) goto fail;
    stack = fw_calloc(n + 1, sizeof *stack);
    if (!stack) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto fail;
    }
    /* Replay: promotions push, rollbacks pop down to where they went, removals clear. */
    for (size_t i = 0; i < n; i++) {
        const fw_audit_rec *e = &log[i];
        if (!e->alias || strcmp(e->alias, alias) != 0) continue;
        if (strcmp(e->action, "promote") == 0)
            stack[depth++] = e->to_version;
        else if (strcmp(e->action, "rollback") == 0) {
            while (depth > 0 && stack[depth - 1] != e->to_version) depth--;
            if (depth == 0) stack[depth++] = e->to_version;
        } else if (strcmp(e->action, "alias_remove") == 0)
            depth = 0;
    }
    int64_t current = 0;
    st = fw_store_alias_get(s, name, alias, &current, err);
    if (st == FW_ENOTFOUND) {
        st = fw_err_set(err, FW_ENOTFOUND, "model '%s' has no '%s' alias to roll back", name, alias);
        goto fail;
    }
    if (st) goto fail;
    if (depth > 0 && stack[depth - 1] == current) depth--;
    int64_t target = 0;
    while (depth > 0 && !target) {
        int64_t cand = stack[--depth];
        if (cand == current) continue;
        fw_version_rec v;
        fw_err ignore;
        if (fw_store_version_get(s, name, cand, &v, &ignore) == FW_OK) {
            if (strcmp(v.status, "active") == 0) target = cand;
            fw_version_rec_free(&v);
        }
    }
    if (!target) {
        st = fw_err_set(err, FW_ENOTFOUND, "model '%s': no earlier active '%s' version to roll back to (now %" PRId64 ")",
                        name, alias, current);
        goto fail;
    }
    if ((st = fw_store_alias_set(s, name, alias, target, err))) goto fail;
    char reason[128];
    snprintf(reason, sizeof reason, "%s back from %" PRId64 " to %" PRId64, alias, current, target);
    if ((st = audit(r, name, target, "rollback", alias, current, target, false, reason, err))) goto fail;
    fw_audit_recs_free(log, n);
    fw_free(stack);
    if ((st = fw_store_commit(s, err))) return st;
    if (to) *to = target;
    return FW_OK;
fail:
    fw_audit_recs_free(log, n);
    fw_free(stack);
    fw_store_rollback(s);
    return st;
}

/* ---- archive / delete ----------------------------------------------------------------------- */
/* Inside a write transaction: aliases pointing at v are refused (or removed when force). */
static fw_status clear_aliases_of(fw_registry *r, const fw_version_rec *v, bool force, const char *why,
                                  fw_err *err) {
    fw_alias_rec *al = NULL;
    size_t n = 0;
    fw_status st = fw_store_alias_list(r->store, v->name, &al, &n, err);
    if (st) return st;
    for (size_t i = 0; i < n && !st; i++) {
        if (al[i].version != v->version) continue;
        if (!force)
            st = fw_err_set(err, FW_EBUSY,
                            "%s@%" PRId64 " is what alias '%s' points at: move the alias first or use --force to %s it "
                            "and remove the alias",
                            v->name, v->version, al[i].alias, why);
        else
            st = remove_alias_tx(r, v->name, al[i].alias, true, why, err);
    }
    fw_alias_recs_free(al, n);
    return st;
}

/* Removes the artifact file of a deleted version when no live version uses its bytes any more. Runs
 * AFTER the deletion committed, in its own write transaction: a registration of the same bytes
 * re-checks its file under the lock, so it either sees the file gone and writes it again, or
 * committed first and keeps the reference counted here. A crash before the removal leaves an orphan
 * file (harmless), never a live version without its file. Failures only leave the file behind. */
static void remove_unused_file(fw_store *s, const char *hash) {
    fw_err ignore;
    if (fw_store_begin(s, true, &ignore)) return;
    int64_t refs = 1;
    if (fw_store_artifact_refs(s, hash, &refs, &ignore) == FW_OK && refs == 0)
        (void)fw_store_artifact_remove(s, hash, &ignore);
    fw_store_rollback(s); /* nothing was written */
}

static fw_status set_status(fw_registry *r, const char *ref, const char *status, bool force, fw_err *err) {
    fw_store *s = r->store;
    fw_status st = fw_store_begin(s, true, err);
    if (st) return st;
    fw_version_rec v;
    if ((st = fw_registry_resolve(r, ref, &v, err))) {
        fw_store_rollback(s);
        return st;
    }
    bool is_delete = strcmp(status, "deleted") == 0;
    const char *verb = is_delete ? "delete" : "archive";
    if (!is_delete && strcmp(v.status, "archived") == 0) {
        st = fw_err_set(err, FW_EINVAL, "%s@%" PRId64 " is already archived", v.name, v.version);
        goto fail;
    }
    if ((st = clear_aliases_of(r, &v, force, verb, err))) goto fail;
    if ((st = fw_store_version_set_status(s, v.name, v.version, status, err))) goto fail;
    if ((st = audit(r, v.name, v.version, verb, NULL, 0, 0, force, v.status, err))) goto fail;
    FW_CRASH_POINT("delete:before-commit");
    if ((st = fw_store_commit(s, err))) goto done;
    if (is_delete) {
        FW_CRASH_POINT("delete:after-commit");
        remove_unused_file(s, v.artifact_hash);
    }
    goto done;
fail:
    fw_store_rollback(s);
done:
    fw_version_rec_free(&v);
    return st;
}

fw_status fw_registry_archive(fw_registry *r, const char *ref, bool force, fw_err *err) {
    return set_status(r, ref, "archived", force, err);
}

fw_status fw_registry_delete(fw_registry *r, const char *ref, bool force, fw_err *err) {
    return set_status(r, ref, "deleted", force, err);
}

/* ---- export / import ------------------------------------------------------------------------ */
static void put_json_or_null(fw_buf *out, const char *json) {
    if (json)
        fw_buf_put(out, json, strlen(json));
    else
        fw_buf_put(out, "null", 4);
}

void fw_registry_version_json(const fw_version_rec *v, const fw_alias_rec *aliases, size_t n_aliases, fw_buf *out) {
    char when[40];
    fw_format_iso8601(v->created_ms, when, sizeof when);
    fw_buf_put(out, "{\"name\":", 8);
    fw_json_put_str(out, v->name);
    fw_buf_printf(out, ",\"version\":%" PRId64 ",\"status\":", v->version);
    fw_json_put_str(out, v->status);
    fw_buf_put(out, ",\"created\":", 11);
    fw_json_put_str(out, when);
    fw_buf_put(out, ",\"aliases\":[", 12);
    bool first = true;
    for (size_t i = 0; i < n_aliases; i++) {
        if (aliases[i].version != v->version) continue;
        if (!first) fw_buf_put_u8(out, ',');
        fw_json_put_str(out, aliases[i].alias);
        first = false;
    }
    fw_buf_put(out, "],\"family\":", 11);
    fw_json_put_str(out, v->family);
    fw_buf_put(out, ",\"task\":", 8);
    fw_json_put_str(out, v->task);
    fw_buf_put(out, ",\"metric\":", 10);
    fw_json_put_str(out, v->metric_name);
    fw_buf_put(out, ",\"greater_is_better\":", 21);
    fw_buf_put(out, v->greater_is_better ? "true" : "false", v->greater_is_better ? 4 : 5);
    fw_buf_put(out, ",\"test_metric\":", 15);
    fw_json_put_f64(out, v->metric);
    fw_buf_put(out, ",\"baseline_metric\":", 19);
    fw_json_put_f64(out, v->baseline_metric);
    fw_buf_put(out, ",\"min_improvement\":", 19);
    fw_json_put_f64(out, v->min_improvement);
    fw_buf_put(out, ",\"lineage\":{\"parent\":", 21);
    if (v->parent_version > 0)
        fw_buf_printf(out, "%" PRId64, v->parent_version);
    else
        fw_buf_put(out, "null", 4);
    fw_buf_put(out, ",\"data_fingerprint\":", 20);
    fw_json_put_str(out, v->data_fp);
    fw_buf_put(out, ",\"test_fingerprint\":", 20);
    fw_json_put_str(out, v->test_fp);
    fw_buf_put(out, ",\"run\":", 7);
    fw_json_put_str(out, v->run_id);
    fw_buf_put(out, "},\"artifact\":{\"hash\":", 21);
    fw_json_put_str(out, v->artifact_hash);
    fw_buf_printf(out, ",\"bytes\":%" PRId64 "},\"params\":", v->artifact_size);
    put_json_or_null(out, v->params_json);
    fw_buf_put(out, ",\"metrics\":", 11);
    put_json_or_null(out, v->metrics_json);
    fw_buf_put(out, ",\"tags\":", 8);
    put_json_or_null(out, v->tags_json);
    fw_buf_put(out, ",\"created_by\":", 14);
    fw_json_put_str(out, v->created_by);
    fw_buf_put_u8(out, '}');
}

fw_status fw_registry_export(fw_registry *r, const char *ref, const char *path, char *written, size_t written_size,
                             fw_err *err) {
    fw_version_rec v;
    fw_status st = fw_registry_resolve(r, ref, &v, err);
    if (st) return st;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if ((st = fw_registry_read_artifact(r, &v, &bytes, &len, err))) {
        fw_version_rec_free(&v);
        return st;
    }
    char file[4096], meta[4200];
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        snprintf(file, sizeof file, "%s/%s-v%" PRId64 ".fwm", path, v.name, v.version);
    else
        snprintf(file, sizeof file, "%s", path);
    snprintf(meta, sizeof meta, "%s.json", file);
    st = fw_write_file_atomic(file, bytes, len, err);
    if (st == FW_OK) {
        fw_buf j;
        fw_buf_init(&j);
        fw_alias_rec *al = NULL;
        size_t n_al = 0;
        fw_err ignore;
        (void)fw_store_alias_list(r->store, v.name, &al, &n_al, &ignore);
        fw_buf_put(&j, "{\"version\":", 11);
        fw_registry_version_json(&v, al, n_al, &j);
        fw_alias_recs_free(al, n_al);
        fw_artifact *a = NULL;
        if (fw_artifact_open(bytes, len, &a, &ignore) == FW_OK) {
            fw_buf_put(&j, ",\"artifact\":", 12);
            fw_artifact_metadata_json(a, &j);
            fw_artifact_close(a);
        }
        fw_buf_put(&j, "}\n", 2);
        st = fw_buf_ok(&j) ? fw_write_file_atomic(meta, j.data, j.len, err) : fw_err_set(err, FW_ENOMEM, "out of memory");
        fw_buf_free(&j);
    }
    if (st == FW_OK && written) snprintf(written, written_size, "%s", file);
    fw_free(bytes);
    fw_version_rec_free(&v);
    return st;
}

fw_status fw_registry_import(fw_registry *r, const char *path, const char *name, int64_t *version_out, fw_err *err) {
    uint8_t *bytes = NULL;
    size_t len = 0;
    fw_status st = fw_read_file(path, &bytes, &len, err);
    if (st) return st;
    fw_registry_register_options o;
    fw_registry_register_options_init(&o);
    o.name = name;
    o.is_import = true;
    char tags[4300];
    fw_buf t;
    fw_buf_init(&t);
    fw_buf_put(&t, "{\"imported_from\":", 17);
    fw_json_put_str(&t, path);
    fw_buf_put(&t, "}", 2); /* includes the NUL */
    snprintf(tags, sizeof tags, "%s", fw_buf_ok(&t) ? (const char *)t.data : "{}");
    fw_buf_free(&t);
    o.tags_json = tags;
    st = fw_registry_register(r, bytes, len, &o, version_out, err);
    if (st) fw_err_prefix(err, "importing %s", path);
    fw_free(bytes);
    return st;
}

fw_status fw_registry_history(fw_registry *r, const char *name, fw_audit_rec **out, size_t *n, fw_err *err) {
    if (name) {
        fw_status st = fw_registry_check_name(name, err);
        if (st) return st;
    }
    return fw_store_audit_list(r->store, name, out, n, err);
}

/* ---- integrity ------------------------------------------------------------------------------ */
fw_status fw_registry_leftovers(fw_registry *r, bool remove, fw_buf *report, size_t *n, fw_err *err) {
    *n = 0;
    fw_store *s = r->store;
    return fw_store_artifact_leftovers(s, remove, report, n, err);
}

fw_status fw_registry_orphans(fw_registry *r, bool remove, fw_buf *report, size_t *n, fw_err *err) {
    *n = 0;
    fw_store *s = r->store;
    fw_status st = fw_store_begin(s, true, err);
    if (st) return st;
    char **h = NULL;
    size_t nh = 0;
    st = fw_store_artifact_list(s, &h, &nh, err);
    for (size_t i = 0; st == FW_OK && i < nh; i++) {
        int64_t refs = 1;
        if ((st = fw_store_artifact_refs(s, h[i], &refs, err)) || refs) continue;
        (*n)++;
        if (report) {
            char where[4200];
            fw_store_artifact_where(s, h[i], where, sizeof where);
            fw_buf_printf(report, "%s\n", where);
        }
        if (remove) st = fw_store_artifact_remove(s, h[i], err);
    }
    for (size_t i = 0; i < nh; i++) fw_free(h[i]);
    fw_free(h);
    /* a back end that keeps artifacts as rows (PostgreSQL) deleted them in this transaction: a
     * rollback would keep every orphan while --clean reported them removed */
    if (st == FW_OK && remove && *n) return fw_store_commit(s, err);
    fw_store_rollback(s);
    return st;
}

fw_status fw_registry_check(fw_registry *r, fw_buf *report, size_t *problems, fw_err *err) {
    *problems = 0;
    fw_store *s = r->store;
    fw_model_summary *m = NULL;
    size_t n = 0;
    fw_status st = fw_store_model_list(s, &m, &n, err);
    if (st) return st;
    for (size_t i = 0; i < n && !st; i++) {
        fw_version_rec *v = NULL;
        size_t nv = 0;
        if ((st = fw_store_version_list(s, m[i].name, &v, &nv, err))) break;
        for (size_t k = 0; k < nv; k++) {
            if (strcmp(v[k].status, "deleted") == 0) continue;
            uint8_t *bytes = NULL;
            size_t len = 0;
            fw_err e;
            fw_err_clear(&e);
            if (fw_store_artifact_read(s, v[k].artifact_hash, &bytes, &len, &e) != FW_OK) {
                (*problems)++;
                if (report) fw_buf_printf(report, "%s@%" PRId64 ": %s\n", v[k].name, v[k].version, e.msg);
            }
            fw_free(bytes);
        }
        fw_alias_rec *al = NULL;
        size_t na = 0;
        if ((st = fw_store_alias_list(s, m[i].name, &al, &na, err))) {
            for (size_t k = 0; k < nv; k++) fw_version_rec_free(&v[k]);
            fw_free(v);
            break;
        }
        for (size_t a = 0; a < na; a++)
            for (size_t k = 0; k < nv; k++)
                if (v[k].version == al[a].version && strcmp(v[k].status, "active") != 0) {
                    (*problems)++;
                    if (report)
                        fw_buf_printf(report, "%s: alias '%s' points at %s version %" PRId64 "\n", m[i].name,
                                      al[a].alias, v[k].status, v[k].version);
                }
        fw_alias_recs_free(al, na);
        for (size_t k = 0; k < nv; k++) fw_version_rec_free(&v[k]);
        fw_free(v);
    }
    fw_model_summaries_free(m, n);
    return st;
}
