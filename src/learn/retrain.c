/* retrain.c — owns one retrain of a registered model (see retrain.h): the lock, the champion and its
 * record, the labelled served rows and the held-out split, the call to the trainer, the
 * challenger's registration with its lineage and reason, the gate, and the promotion. The
 * training-set snapshots are written by learn/snapshot.c. */
#include "learn/retrain.h"

#include "artifact/artifact.h"
#include "artifact/bundle.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/json_out.h"
#include "data/load.h"
#include "learn/snapshot.h"
#include "registry/registry.h"
#include "store/store.h"
#include "train/register.h"
#include "train/train.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *fw_retrain_reason_name(fw_retrain_reason r) {
    switch (r) {
    case FW_RETRAIN_SCHEDULE: return "schedule";
    case FW_RETRAIN_ALARM: return "alarm";
    case FW_RETRAIN_LABELS: return "labels";
    case FW_RETRAIN_MANUAL: break;
    }
    return "manual";
}

void fw_retrain_options_init(fw_retrain_options *o) { memset(o, 0, sizeof *o); }

/* ---- the labelled served rows ---------------------------------------------------------------- */

static int collect_row(void *ud, const fw_learn_row *r) {
    fw_served_rows *v = ud;
    return fw_served_rows_add(v, r) == FW_OK ? 0 : 1;
}

/* ---- scoring the held-out rows --------------------------------------------------------------- */

typedef struct scored {
    double *y;            /* the champion's label encoding */
    double *p;            /* n x k */
    size_t n, k;
    double threshold;
} scored;

static void scored_free(scored *s) {
    fw_free(s->y);
    fw_free(s->p);
    memset(s, 0, sizeof *s);
}

/* Predictions of the artifact's model on the rows of ds, in ref's output layout (ref NULL: its own;
 * else classification columns are matched to ref's class names, absent classes scoring 0), and
 * the labels in ref's encoding (or its own). */
static fw_status score(const uint8_t *bytes, size_t len, const fw_dataset *ds, const fw_target *ref, scored *out,
                       fw_bundle **keep, fw_err *err) {
    memset(out, 0, sizeof *out);
    fw_bundle *b = NULL;
    fw_status st = fw_bundle_load_mem(bytes, len, &b, err);
    if (st) return st;
    const fw_target *t = fw_bundle_target(b);
    const fw_target *enc = ref ? ref : t;
    size_t k_own = fw_bundle_n_outputs(b), k = enc->n_outputs ? enc->n_outputs : 1, n = ds->n_rows;
    fw_matrix X;
    memset(&X, 0, sizeof X);
    double *own = NULL;
    out->y = fw_malloc((n ? n : 1) * sizeof(double));
    out->p = fw_malloc((n ? n : 1) * k * sizeof(double));
    own = fw_malloc((n ? n : 1) * k_own * sizeof(double));
    if (!out->y || !out->p || !own) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto done;
    }
    size_t unseen = 0;
    if ((st = fw_target_encode(enc, ds, NULL, n, out->y, &unseen, err)) ||
        (st = fw_pipeline_transform_block(fw_bundle_pipeline(b), ds, NULL, n, 0, &X, err)))
        goto done;
    if ((st = fw_model_predict_block(fw_bundle_model(b), &X, 0, own))) {
        st = fw_err_set(err, st, "prediction failed: %s", fw_strerror(st));
        goto done;
    }
    if (t->task == FW_TASK_BINARY && enc != t) {
        /* the positive class is class_names[1]: the same name, or the other one */
        bool same = t->class_names && enc->class_names && !strcmp(t->class_names[1], enc->class_names[1]);
        for (size_t i = 0; i < n; i++) out->p[i] = same ? own[i] : 1 - own[i];
    } else if (t->task == FW_TASK_MULTICLASS && enc != t) {
        for (size_t j = 0; j < k; j++) {
            size_t from = SIZE_MAX;
            for (size_t c = 0; c < t->n_classes; c++)
                if (!strcmp(t->class_names[c], enc->class_names[j])) from = c;
            for (size_t i = 0; i < n; i++) out->p[i * k + j] = from == SIZE_MAX ? 0 : own[i * k_own + from];
        }
    } else {
        memcpy(out->p, own, n * k * sizeof(double));
    }
    out->n = n;
    out->k = k;
    out->threshold = fw_bundle_threshold(b);
done:
    fw_free(own);
    fw_matrix_free(&X);
    if (st) scored_free(out);
    if (keep && !st) *keep = b;
    else fw_bundle_free(b);
    return st;
}

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct run {
    const fw_retrain_options *o;
    fw_retrain_result *out;
    fw_registry *reg;
    fw_store *store;
    char owner[256];
    bool locked;
    fw_version_rec champ;
    uint8_t *champ_bytes;
    size_t champ_len;
    fw_artifact *champ_art;
    json_t *params;
    fw_project proj;          /* the champion's recorded project */
    fw_learn_spec learn;
    fw_served_rows served;
    fw_train_result res;
    bool trained;
    char **pv;
    size_t n_pv;
    fw_buf art;
} run;

static void run_free(run *r) {
    for (size_t i = 0; i < r->n_pv; i++) fw_free(r->pv ? r->pv[i] : NULL);
    fw_free(r->pv);
    fw_buf_free(&r->art);
    if (r->trained) fw_train_result_free(&r->res);
    fw_served_rows_free(&r->served);
    fw_learn_spec_free(&r->learn);
    fw_project_free(&r->proj);
    if (r->params) json_decref(r->params);
    fw_artifact_close(r->champ_art);
    fw_free(r->champ_bytes);
    fw_version_rec_free(&r->champ);
    if (r->locked) {
        fw_err e2;
        fw_store_learn_unlock(r->store, r->o->name, r->owner, &e2);
    }
    fw_registry_close(r->reg);
}

/* The champion and its training record. */
static fw_status load_champion(run *r, fw_err *err) {
    fw_status st;
    if ((st = fw_registry_resolve(r->reg, r->o->name, &r->champ, err)) ||
        (st = fw_registry_read_artifact(r->reg, &r->champ, &r->champ_bytes, &r->champ_len, err)) ||
        (st = fw_artifact_open(r->champ_bytes, r->champ_len, &r->champ_art, err)))
        return st;
    r->out->champion_version = r->champ.version;
    const uint8_t *yaml, *pj;
    size_t yaml_len, pj_len;
    if (!fw_artifact_bytes(r->champ_art, FW_KV_PROJECT_YAML, &yaml, &yaml_len) ||
        !fw_artifact_section(r->champ_art, FW_SECTION_PARAMS, &pj, &pj_len))
        return fw_err_set(err, FW_EDATA, "%s@%" PRId64 " has no training record (project and params): it cannot be "
                          "retrained", r->champ.name, r->champ.version);
    json_error_t je;
    r->params = json_loadb((const char *)pj, pj_len, 0, &je);
    const char *family = r->params ? json_string_value(json_object_get(r->params, "family")) : NULL;
    json_t *mp = r->params ? json_object_get(r->params, "model_params") : NULL;
    if (!family || !json_is_integer(json_object_get(r->params, "seed")) ||
        !json_is_integer(json_object_get(r->params, "threads")) || !json_is_array(mp))
        return fw_err_set(err, FW_EDATA, "%s@%" PRId64 ": the params section is incomplete", r->champ.name,
                          r->champ.version);
    if ((st = fw_project_parse((const char *)yaml, yaml_len, "recorded project", &r->proj, err))) return st;
    if (r->proj.task != FW_TASK_BINARY && r->proj.task != FW_TASK_MULTICLASS && r->proj.task != FW_TASK_REGRESSION)
        return fw_err_set(err, FW_EUNSUPPORTED, "%s is a %s model: retrain gates binary, multiclass and regression "
                          "models", r->champ.name, fw_task_name(r->proj.task));
    if (r->proj.n_label_columns != 1)
        return fw_err_set(err, FW_EUNSUPPORTED, "%s: retrain needs one label column", r->champ.name);
    st = fw_learn_spec_copy(r->o->learn ? r->o->learn : &r->proj.learn, &r->learn);
    if (st) return fw_err_set(err, st, "out of memory");
    /* the family's recorded parameters, as `reproduce` passes them */
    r->n_pv = json_array_size(mp);
    r->pv = fw_calloc(r->n_pv ? r->n_pv : 1, sizeof(char *));
    if (!r->pv) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->n_pv; i++) {
        const char *kv = json_string_value(json_array_get(mp, i));
        size_t len = strlen(family) + 2 + (kv ? strlen(kv) : 0);
        if (!(r->pv[i] = fw_malloc(len))) return fw_err_set(err, FW_ENOMEM, "out of memory");
        snprintf(r->pv[i], len, "%s.%s", family, kv ? kv : "");
    }
    return FW_OK;
}

/* The tags of the challenger: {"retrain": {"reason", "detail", "champion", "rows": {...},
 * "snapshots": {...}, "policy"}}. */
static char *make_tags(const run *r) {
    fw_buf b;
    fw_buf_init(&b);
    const fw_retrain_result *o = r->out;
    fw_buf_printf(&b, "{\"retrain\":{\"reason\":\"%s\",\"detail\":", fw_retrain_reason_name(r->o->reason));
    if (r->o->detail) fw_json_put_str(&b, r->o->detail);
    else fw_buf_printf(&b, "null");
    fw_buf_printf(&b, ",\"champion\":");
    char ref[200];
    snprintf(ref, sizeof ref, "%s@%" PRId64, r->champ.name, r->champ.version);
    fw_json_put_str(&b, ref);
    fw_buf_printf(&b, ",\"policy\":\"%s\",\"rows\":{\"labelled\":%zu,\"holdout\":%zu,\"served_train\":%zu,\"base\":%zu,"
                  "\"skipped\":%zu},\"snapshots\":{\"train\":\"%s\",\"holdout\":\"%s\"}}}",
                  fw_learn_rows_name(r->learn.rows), o->n_labelled, o->n_holdout, o->n_served_train, o->n_base,
                  r->served.n_skipped, o->train_hash, o->holdout_hash);
    fw_buf_put_u8(&b, 0);
    if (!fw_buf_ok(&b)) {
        fw_buf_free(&b);
        return NULL;
    }
    return (char *)b.data;
}

static fw_status train_challenger(run *r, const char *train_path, const char *holdout_path, const char *base_path,
                                  const char *weight_column, fw_err *err) {
    fw_project p;
    fw_project_init(&p);
    const uint8_t *yaml;
    size_t yaml_len;
    fw_artifact_bytes(r->champ_art, FW_KV_PROJECT_YAML, &yaml, &yaml_len);
    fw_status st = fw_project_parse((const char *)yaml, yaml_len, "recorded project", &p, err);
    if (st) return st;
    fw_free(p.train_path);
    fw_free(p.test_path);
    fw_learn_spec_free(&p.learn);
    p.train_path = fw_strdup(train_path);
    p.test_path = fw_strdup(holdout_path);
    st = fw_learn_spec_copy(&r->learn, &p.learn);
    p.learn.set = true;
    fw_free(p.learn.base_data);
    p.learn.base_data = fw_strdup(base_path);
    if (weight_column && !p.weight_column) p.weight_column = fw_strdup(weight_column);
    if (st || !p.train_path || !p.test_path || !p.learn.base_data || (weight_column && !p.weight_column)) {
        fw_project_free(&p);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_train_options to;
    fw_train_options_init(&to);
    char families[64];
    snprintf(families, sizeof families, "baseline,%s", json_string_value(json_object_get(r->params, "family")));
    to.families = families;
    to.seed = (uint64_t)json_integer_value(json_object_get(r->params, "seed"));
    to.seed_set = true;
    to.threads = r->o->threads > 0 ? r->o->threads : (int)json_integer_value(json_object_get(r->params, "threads"));
    to.importance = false;
    to.test_path = holdout_path;
    to.params = (const char *const *)r->pv;
    to.n_params = r->n_pv;
    st = fw_train_run(&p, &to, &r->res, err);
    fw_project_free(&p);
    if (st) return st;
    r->trained = true;
    char parent[200];
    snprintf(parent, sizeof parent, "%s@%" PRId64, r->champ.name, r->champ.version);
    fw_register_options rgo;
    fw_register_options_init(&rgo);
    rgo.parent = parent;
    rgo.train_options = &to;
    return fw_train_build_artifact(&r->res, &rgo, &r->art, err);
}

/* Registers the challenger's artifact (an identical artifact already registered is reused). */
static fw_status register_challenger(run *r, fw_err *err) {
    char hash[33];
    fw_artifact_hash(r->art.data, r->art.len, hash);
    fw_version_rec *vs = NULL;
    size_t nv = 0;
    fw_err e2;
    if (fw_registry_versions(r->reg, r->champ.name, &vs, &nv, &e2) == FW_OK) {
        for (size_t i = nv; i-- > 0 && !r->out->reused;)
            if (vs[i].artifact_hash && !strcmp(vs[i].artifact_hash, hash) &&
                strcmp(vs[i].status ? vs[i].status : "", "deleted") != 0) {
                r->out->challenger_version = vs[i].version;
                r->out->reused = true;
            }
        for (size_t i = 0; i < nv; i++) fw_version_rec_free(&vs[i]);
        fw_free(vs);
    }
    if (r->out->reused) return FW_OK;
    char *tags = make_tags(r);
    char reason[600];
    snprintf(reason, sizeof reason, "retrain (%s%s%.300s) from %s@%" PRId64, fw_retrain_reason_name(r->o->reason),
             r->o->detail ? ": " : "", r->o->detail ? r->o->detail : "", r->champ.name, r->champ.version);
    fw_registry_register_options rg;
    fw_registry_register_options_init(&rg);
    rg.name = r->champ.name;
    rg.parent_version = r->champ.version;
    rg.tags_json = tags;
    rg.reason = reason;
    fw_status st = tags ? fw_registry_register(r->reg, r->art.data, r->art.len, &rg, &r->out->challenger_version, err)
                        : fw_err_set(err, FW_ENOMEM, "out of memory");
    fw_free(tags);
    return st;
}

static fw_status gate(run *r, const char *holdout_path, fw_err *err) {
    fw_load_opts lo;
    fw_load_opts_init(&lo);
    if (r->proj.n_missing_tokens) {
        lo.missing = (const char *const *)r->proj.missing_tokens;
        lo.n_missing = r->proj.n_missing_tokens;
    }
    fw_dataset *ds = NULL;
    fw_status st = fw_data_load(holdout_path, &lo, &ds, NULL, err);
    if (st) return st;
    scored a, b;
    fw_bundle *champ = NULL;
    memset(&b, 0, sizeof b);
    if ((st = score(r->champ_bytes, r->champ_len, ds, NULL, &a, &champ, err)) == FW_OK) {
        st = score(r->art.data, r->art.len, ds, fw_bundle_target(champ), &b, NULL, err);
        if (st == FW_OK) {
            fw_gate_options go;
            fw_gate_options_from_learn(&r->learn, r->proj.metric, &go);
            go.threshold = a.threshold;
            go.challenger_threshold = b.threshold;
            st = fw_gate_decide(r->proj.task, a.y, a.p, b.p, a.n, a.k, &go, &r->out->gate, err);
        }
        scored_free(&a);
        scored_free(&b);
    }
    fw_bundle_free(champ);
    fw_dataset_free(ds);
    return st;
}

static fw_status promote(run *r, fw_err *err) {
    fw_buf ev;
    fw_buf_init(&ev);
    fw_gate_result_json(&r->out->gate, &ev);
    fw_buf_put_u8(&ev, 0);
    if (!fw_buf_ok(&ev)) {
        fw_buf_free(&ev);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    char ref[200], why[800];
    snprintf(ref, sizeof ref, "%s@%" PRId64, r->champ.name, r->out->challenger_version);
    snprintf(why, sizeof why, "retrain (%s) challenger over %s@%" PRId64, fw_retrain_reason_name(r->o->reason),
             r->champ.name, r->champ.version);
    /* the champion the gate judged: production's version, or none when it had no alias */
    int64_t current = 0;
    fw_alias_rec *al = NULL;
    size_t n_al = 0;
    fw_status st = fw_registry_aliases(r->reg, r->champ.name, &al, &n_al, err);
    if (st) {
        fw_buf_free(&ev);
        return st;
    }
    for (size_t i = 0; i < n_al; i++)
        if (al[i].alias && !strcmp(al[i].alias, FW_ALIAS_PRODUCTION)) current = al[i].version;
    fw_alias_recs_free(al, n_al);
    if (current != 0 && current != r->champ.version) {
        fw_buf_free(&ev);
        return fw_err_set(err, FW_EBUSY, "production of %s moved to %" PRId64 " during the retrain: not promoted",
                          r->champ.name, current);
    }
    fw_promote_options po;
    fw_promote_options_init(&po);
    po.gate_evidence = (const char *)ev.data;
    po.expect_current = current;
    po.reason = why;
    char alias[FW_NAME_MAX + 1] = "";
    int canary = r->o->canary ? r->o->canary(r->o->canary_ud, r->champ.name, r->proj.serving_yaml, alias, sizeof alias) : 0;
    if (canary < 0) {
        fw_buf_free(&ev);
        return fw_err_set(err, FW_ECONFIG, "%s has a canary rollout whose challenger is the fixed version %s: a "
                          "retrained challenger cannot be handed to it (name an alias, e.g. challenger: %s@candidate); "
                          "not promoted", r->champ.name, alias, r->champ.name);
    }
    if (canary > 0) { /* the canary's alias moves; the server's rollout decides about production */
        if (fw_registry_check_alias(alias, err) || !strcmp(alias, FW_ALIAS_PRODUCTION)) {
            fw_buf_free(&ev);
            return fw_err_set(err, FW_ECONFIG, "%s's canary alias '%s' cannot take a challenger: not promoted",
                              r->champ.name, alias);
        }
        snprintf(why, sizeof why, "retrain (%s) challenger over %s@%" PRId64 ", handed to the canary %s@%s: "
                 "production moves when the canary completes", fw_retrain_reason_name(r->o->reason), r->champ.name,
                 r->champ.version, r->champ.name, alias);
        po.alias = alias;
        po.expect_current = -1;
    }
    char note[1200];
    st = fw_registry_promote(r->reg, ref, &po, note, sizeof note, err);
    fw_buf_free(&ev);
    if (st == FW_OK && canary > 0) {
        r->out->promotion = "canary";
        snprintf(r->out->canary, sizeof r->out->canary, "%s@%s", r->champ.name, alias);
    } else if (st == FW_OK) {
        r->out->promoted = true;
        r->out->promotion = "direct";
    }
    return st;
}

const char *const fw_retrain_phase_names[FW_RETRAIN_PHASES] = {"lock", "scan", "snapshot", "train",
                                                               "register", "gate", "promote"};

/* Records the seconds since t of step k; returns the new mark. */
static uint64_t phase_mark(fw_retrain_result *out, int k, uint64_t t) {
    uint64_t now = fw_now_ns();
    out->phase_s[k] = (double)(now - t) * 1e-9;
    return now;
}

fw_status fw_retrain_run(const fw_retrain_options *o, fw_retrain_result *out, fw_err *err) {
    memset(out, 0, sizeof *out);
    out->gate.decision = FW_GATE_INCONCLUSIVE;
    out->gate.champion_metric = out->gate.challenger_metric = out->gate.lo = out->gate.hi = NAN;
    out->gate.difference = out->gate.se = NAN;
    out->gate.method = "none";
    out->promotion = "none";
    out->reason = o->reason;
    if (!o->name || !*o->name) return fw_err_set(err, FW_EINVAL, "retrain: no model name");
    fw_status st = fw_registry_check_name(o->name, err);
    if (st) return st;
    snprintf(out->name, sizeof out->name, "%s", o->name);
    int64_t t0 = fw_wall_unix_ms();
    int64_t now = o->now_ms > 0 ? o->now_ms : t0;
    out->started_ms = t0;
    uint64_t tp = fw_now_ns();
    run r;
    memset(&r, 0, sizeof r);
    r.o = o;
    r.out = out;
    fw_project_init(&r.proj);
    fw_learn_spec_init(&r.learn);
    fw_buf_init(&r.art);
    fw_served_rows_init(&r.served);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "flywheel retrain %s", o->name);
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = o->home;
    ro.command = o->command ? o->command : cmd;
    if ((st = fw_registry_open(&ro, &r.reg, err))) goto done;
    r.store = fw_registry_store(r.reg);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    /* unique per run, also between two threads of one process in the same millisecond */
    static _Atomic unsigned long long runs;
    snprintf(r.owner, sizeof r.owner, "%s pid %ld run %llu %s %" PRId64, host, (long)getpid(),
             (unsigned long long)++runs, fw_retrain_reason_name(o->reason), t0);
    double ttl = o->lock_ttl_s > 0 ? o->lock_ttl_s : 3600;
    if ((st = fw_store_learn_lock(r.store, o->name, r.owner, t0, (int64_t)(ttl * 1000), NULL, 0, err))) goto done;
    r.locked = true;
    if ((st = load_champion(&r, err))) goto done;
    tp = phase_mark(out, 0, tp);
    /* the labelled served rows, oldest first */
    if ((st = fw_store_learn_scan(r.store, o->name, 0, 0, collect_row, &r.served, err))) goto done;
    tp = phase_mark(out, 1, tp);
    if (r.served.oom) {
        st = fw_err_set(err, FW_ENOMEM, "out of memory");
        goto done;
    }
    size_t n = r.served.n;
    out->n_labelled = n;
    size_t h = (size_t)ceil(r.learn.holdout * (double)n);
    if (r.learn.holdout_rows && h > r.learn.holdout_rows) h = (size_t)r.learn.holdout_rows;
    if (h > n) h = n;
    out->n_holdout = h;
    if (h < r.learn.min_rows || h < 2) {
        out->gate.n_rows = h;
        snprintf(out->gate.reason, sizeof out->gate.reason,
                 "%zu labelled served rows: %zu held out, fewer than the %llu the gate needs (learn.gate.min_rows)",
                 n, h, (unsigned long long)r.learn.min_rows);
        snprintf(out->note, sizeof out->note, "inconclusive: no challenger trained (%s)", out->gate.reason);
        goto done;
    }
    /* the snapshots: training rows (base + served under the policy) and the held-out rows */
    const char *base_path = o->data ? o->data : r.learn.base_data ? r.learn.base_data : r.proj.train_path;
    fw_snapshot_plan plan;
    fw_snapshot_plan_init(&plan);
    plan.project = &r.proj;
    plan.learn = &r.learn;
    plan.base_path = base_path;
    plan.rows = &r.served;
    plan.n_train = n - h;
    plan.now_ms = now;
    plan.base_ms = r.champ.created_ms;
    fw_snapshot_files files;
    if ((st = fw_snapshot_write(r.store, &plan, &files, err))) goto done;
    tp = phase_mark(out, 2, tp);
    out->n_served_train = files.n_served_train;
    out->n_base = files.n_base;
    memcpy(out->train_hash, files.train_hash, sizeof out->train_hash);
    memcpy(out->holdout_hash, files.holdout_hash, sizeof out->holdout_hash);
    if ((st = train_challenger(&r, files.train_path, files.holdout_path, files.base_abs,
                               files.weight_column[0] ? files.weight_column : NULL, err)))
        goto done;
    tp = phase_mark(out, 3, tp);
    if ((st = register_challenger(&r, err))) goto done;
    tp = phase_mark(out, 4, tp);
    if ((st = gate(&r, files.holdout_path, err))) goto done;
    tp = phase_mark(out, 5, tp);
    snprintf(out->note, sizeof out->note, "%s", out->gate.reason);
    if (o->promote_auto && out->gate.decision == FW_GATE_PROMOTE) {
        if ((st = promote(&r, err))) goto done;
        tp = phase_mark(out, 6, tp);
        size_t l = strlen(out->note);
        if (out->promoted)
            snprintf(out->note + l, sizeof out->note - l, "; production moved to %s@%" PRId64, out->name,
                     out->challenger_version);
        else
            snprintf(out->note + l, sizeof out->note - l, "; %s@%" PRId64 " handed to the canary %s: production "
                     "moves when the canary completes", out->name, out->challenger_version, out->canary);
    }
done:
    run_free(&r);
    out->seconds = (double)(fw_wall_unix_ms() - t0) / 1000.0;
    return st;
}

/* ---- the --json object ----------------------------------------------------------------------- */

static void put_num(fw_buf *b, double v) {
    if (isfinite(v)) fw_json_put_f64(b, v);
    else fw_buf_printf(b, "null");
}

void fw_retrain_result_json(const fw_retrain_result *r, fw_buf *b) {
    char ref[200];
    fw_buf_printf(b, "{\"challenger\":");
    if (r->challenger_version > 0) {
        snprintf(ref, sizeof ref, "%s@%" PRId64, r->name, r->challenger_version);
        fw_json_put_str(b, ref);
    } else {
        fw_buf_printf(b, "null");
    }
    fw_buf_printf(b, ",\"champion\":");
    if (r->champion_version > 0) {
        snprintf(ref, sizeof ref, "%s@%" PRId64, r->name, r->champion_version);
        fw_json_put_str(b, ref);
    } else {
        fw_buf_printf(b, "null");
    }
    fw_buf_printf(b, ",\"decision\":\"%s\",\"champion_metric\":", fw_gate_decision_name(r->gate.decision));
    put_num(b, r->gate.champion_metric);
    fw_buf_printf(b, ",\"challenger_metric\":");
    put_num(b, r->gate.challenger_metric);
    fw_buf_printf(b, ",\"interval\":[");
    put_num(b, r->gate.lo);
    fw_buf_put_u8(b, ',');
    put_num(b, r->gate.hi);
    fw_buf_printf(b, "],\"promoted\":%s,\"reused\":%s,\"reason\":\"%s\",\"metric\":", r->promoted ? "true" : "false",
                  r->reused ? "true" : "false", fw_retrain_reason_name(r->reason));
    fw_json_put_str(b, r->gate.metric);
    fw_buf_printf(b, ",\"method\":");
    fw_json_put_str(b, r->gate.method ? r->gate.method : "none");
    fw_buf_printf(b, ",\"promotion\":\"%s\"", r->promotion ? r->promotion : "none");
    if (r->canary[0]) {
        fw_buf_printf(b, ",\"canary\":");
        fw_json_put_str(b, r->canary);
    }
    fw_buf_printf(b, ",\"rows\":{\"labelled\":%zu,\"holdout\":%zu,\"served_train\":%zu,\"base\":%zu}", r->n_labelled,
                  r->n_holdout, r->n_served_train, r->n_base);
    fw_buf_printf(b, ",\"gate\":");
    fw_gate_result_json(&r->gate, b);
    fw_buf_printf(b, ",\"snapshots\":{\"train\":");
    if (r->train_hash[0]) fw_json_put_str(b, r->train_hash);
    else fw_buf_printf(b, "null");
    fw_buf_printf(b, ",\"holdout\":");
    if (r->holdout_hash[0]) fw_json_put_str(b, r->holdout_hash);
    else fw_buf_printf(b, "null");
    fw_buf_printf(b, "},\"seconds\":");
    put_num(b, r->seconds);
    fw_buf_printf(b, ",\"phases\":{");
    for (int k = 0; k < FW_RETRAIN_PHASES; k++) {
        fw_buf_printf(b, "%s\"%s\":", k ? "," : "", fw_retrain_phase_names[k]);
        put_num(b, r->phase_s[k]);
    }
    fw_buf_printf(b, "},\"started_ms\":%" PRId64 ",\"note\":", r->started_ms);
    fw_json_put_str(b, r->note);
    fw_buf_put_u8(b, '}');
}
