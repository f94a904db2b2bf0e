/* learning.c — owns the server's online-learning thread (learning.h): the label queue, the join
 * through the store's prediction log, one online learner per model, snapshots registered as
 * versions, the gate's promotion and the swap through the model table. */
#include "serve/learning.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "learn/online.h"
#include "learn/retrain.h"
#include "monitor/alarm.h"
#include "registry/registry.h"
#include "serve/learn_capture.h"
#include "serve/rollout.h"
#include "serve/server_int.h"
#include "store/store.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_LEARNERS 64
#define LABEL_TEXT 128
#define IN_MEMORY_INPUTS 1024    /* models with more inputs join through the store */
#define STATS_EVERY_S 0.1        /* the learners' stats are copied at least this often while labels flow */
#define LABEL_WAKE 64            /* queued labels that wake the learning thread before its 50 ms tick */

typedef struct event {
    char rid[208];
    char name[136];
    int64_t version;             /* the version that answered */
    char text[LABEL_TEXT];
    size_t len;
    bool is_number;
    double num;
    double t_first;              /* when it first failed to join (NaN: not yet) */
    double t_next;               /* pending: not retried before this (the retries back off) */
} event;

typedef struct learner {
    char name[136];
    fw_online *ol;               /* NULL: does not learn (reason) */
    char reason[600];
    int64_t champion;            /* the production version it learns against */
    fw_online_stats stats;       /* copied under l->mu after a round (learning_main: STATS_EVERY_S) */
    uint64_t unjoined;
    char last_snapshot[208];
    fw_learn_capture *cap;       /* its join cache (also in l->caps; NULL: off or out of memory) */
    /* retrain triggers */
    uint64_t labels_since;       /* labels of the model since its last triggered retrain */
    double last_retrain_s;       /* when the last one started (or when the learner was made) */
    int alarm;                   /* an alarm asked for a retrain: its kind + 1 (0: none) */
    char alarm_detail[160];
    uint64_t retrains;
    char *last_retrain;          /* fw_retrain_result_json of the last run, or its error (fw_malloc'd) */
} learner;

struct fw_srv_learning {
    fw_server *s;
    const fw_serve_learn *cfg;
    char *home;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;          /* the queue, stop, the learners' stats */
    pthread_cond_t cv;
    event *q;
    size_t q_cap, q_head, q_len;
    event *q_spare;              /* the learning thread's: an array of q_cap swapped with q each round
                                    (NULL while it holds it; never allocated: labels are copied out) */
    bool stop;
    bool busy;                   /* the thread is handling a round */
    /* thread-only */
    event *pend;
    size_t n_pend, pend_cap;
    fw_registry *reg;
    fw_store_log *log;
    learner *ls[MAX_LEARNERS];
    size_t n_ls;
    /* the join caches, read by request threads (fw_srv_learning_capture): published once, never
     * freed before fw_srv_learning_free; one replaced (the learner's inputs changed) is retired */
    _Atomic(fw_learn_capture *) caps[MAX_LEARNERS];
    atomic_size_t n_caps;
    fw_learn_capture *retired[MAX_LEARNERS];
    size_t n_retired;
    char *strs;                  /* the strings of a taken example */
    uint64_t joined_memory, joined_store; /* labels joined through the join cache / the store (under mu) */
    uint64_t d_learned, d_refused, d_memory, d_store; /* the round's counts (thread), added under mu at
                                                         its end: no lock per label */
    /* counters (under mu) */
    uint64_t queued, dropped, unjoined, refused, learned_events;
    /* the retrain worker: one run at a time (the store's lock makes it one per model across processes) */
    pthread_t rt;
    bool rt_started, rt_busy, rt_has_job;
    pthread_cond_t rt_cv;
    char rt_name[136], rt_detail[200];
    fw_retrain_reason rt_reason;
    uint64_t retrains_started, retrains_promoted, retrains_failed;
    /* the retrain scheduler (the triggers) runs in one process among those sharing the store */
    fw_store_singleton *sched;   /* NULL: no triggers */
    double sched_checked_s;      /* learning thread only */
    double stats_s;              /* when the learners' stats were last copied (learning thread) */
    fw_online_stats stats_new[MAX_LEARNERS]; /* made outside the lock, then copied (learning thread) */
    atomic_bool sched_held;
};

static bool wants(const fw_serve_learn *c, const char *name) {
    if (!c->n_models) return true;
    for (size_t i = 0; i < c->n_models; i++)
        if (!strcmp(c->models[i], name)) return true;
    return false;
}

void fw_srv_learning_capture(fw_srv_learning *l, const fw_srv_model *m, const char *rid, const fw_value *vals) {
    if (!l) return;
    size_t n = atomic_load_explicit(&l->n_caps, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        fw_learn_capture *c = atomic_load_explicit(&l->caps[i], memory_order_acquire);
        if (c && !strcmp(fw_learn_capture_name(c), m->name)) {
            fw_learn_capture_put(c, m, rid, vals);
            return;
        }
    }
}

/* The learning model and version rid's label belongs to: its join cache holds the prediction (one
 * keyed hash and a slot read: the common case), else m, the model the request id names (the
 * feedback's one lookup), when it learns. False: not for a learner. */
static bool label_target(fw_srv_learning *l, const char *rid, const fw_srv_model *m, char *name, size_t cap,
                         int64_t *version) {
    size_t n = atomic_load_explicit(&l->n_caps, memory_order_acquire);
    for (size_t i = 0; i < n; i++) {
        fw_learn_capture *c = atomic_load_explicit(&l->caps[i], memory_order_acquire);
        if (c && fw_learn_capture_peek(c, rid, version)) {
            const char *nm = fw_learn_capture_name(c);
            size_t len = strlen(nm);
            if (len >= cap || *version <= 0) return false;
            memcpy(name, nm, len + 1);
            return true;
        }
    }
    if (!m) return false;
    char *end;
    long long v = strtoll(m->version, &end, 10);
    size_t len = strlen(m->name);
    bool ok = !*end && v > 0 && wants(l->cfg, m->name) && len < cap;
    if (ok) {
        memcpy(name, m->name, len + 1);
        *version = v;
    }
    return ok;
}

void fw_srv_learning_feedback(fw_srv_learning *l, const char *rid, const fw_srv_model *m, json_t *label) {
    if (!l || !label) return;
    size_t rl = strlen(rid);
    if (rl >= sizeof ((event *)0)->rid) return;
    event e; /* not zeroed as a whole: every field is set, the text up to len */
    if (!label_target(l, rid, m, e.name, sizeof e.name, &e.version)) return;
    memcpy(e.rid, rid, rl + 1);
    e.t_first = NAN;
    e.t_next = 0;
    e.is_number = json_is_number(label);
    e.num = e.is_number ? json_number_value(label) : 0;
    e.len = 0;
    if (!e.is_number) {
        const char *t = json_is_string(label) ? json_string_value(label) : json_is_true(label) ? "true" : "false";
        size_t n = json_is_string(label) ? json_string_length(label) : strlen(t);
        if (n >= LABEL_TEXT) return;
        memcpy(e.text, t, n);
        e.text[n] = 0;
        e.len = n;
    }
    pthread_mutex_lock(&l->mu);
    if (l->q_len == l->q_cap) {
        l->dropped++;
    } else {
        l->q[(l->q_head + l->q_len) % l->q_cap] = e;
        l->q_len++;
        l->queued++;
        /* wake the thread for a batch's worth, not for each label (a wake-up per label cost the
         * request threads a context switch each); it also wakes every 50 ms by itself */
        if (l->q_len >= LABEL_WAKE) pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

/* ---- the thread ------------------------------------------------------------------------------ */

static void settings_of(const fw_serve_learn *c, fw_online_settings *s) {
    fw_online_settings_init(s);
    if (c->solver) s->solver = c->solver;
    s->lr = c->lr;
    s->beta = c->beta;
    s->l1 = c->l1;
    s->l2 = c->l2;
    s->batch = c->batch;
    s->snapshot_rows = c->snapshot_rows;
    s->snapshot_s = c->snapshot_s;
    s->gate_min_rows = c->gate_min_rows;
    s->gate_confidence = c->gate_confidence;
    s->gate_min_improvement = c->gate_min_improvement;
}

/* Opens the registry on first use (learners start from it, snapshots register in it). */
static fw_status open_registry(fw_srv_learning *l, fw_err *err) {
    if (l->reg) return FW_OK;
    fw_registry_options ro;
    fw_registry_options_init(&ro);
    ro.home = l->home;
    ro.command = "flywheel serve (online learning)";
    return fw_registry_open(&ro, &l->reg, err);
}

/* Opens the prediction log's connection on first use: only a label its join cache does not hold
 * reads the log. Not at start: an open log connection (with its checkpointer) made the server's
 * log ingest dearer per record even when no label needed it (bench/learn/feedback_instr.sh). */
static fw_status open_log(fw_srv_learning *l, fw_err *err) {
    return l->log ? FW_OK : fw_store_log_open(l->home, &l->log, err);
}

/* Publishes the join cache of a started learner (learn_capture.h), keyed by its pipeline's inputs:
 * kept when a restarted learner's inputs are the same, else a new one replaces it. */
static void capture_start(fw_srv_learning *l, learner *ln) {
    if (!l->cfg->join_cache || !ln->ol) return;
    const fw_pipeline *pl = fw_online_pipeline(ln->ol);
    size_t n = fw_pipeline_n_inputs(pl);
    const char **names = fw_calloc(n ? n : 1, sizeof *names);
    if (!names) return;
    for (size_t i = 0; i < n; i++) names[i] = fw_pipeline_input_name(pl, i);
    if (!ln->cap || !fw_learn_capture_same_inputs(ln->cap, names, n)) {
        fw_learn_capture *c = fw_learn_capture_new(ln->name, names, n, l->cfg->join_cache);
        size_t k = atomic_load(&l->n_caps), at = k;
        for (size_t i = 0; i < k; i++)
            if (atomic_load(&l->caps[i]) == ln->cap) at = i;
        if (c && (at < k || k < MAX_LEARNERS) && (!ln->cap || l->n_retired < MAX_LEARNERS)) {
            if (ln->cap) l->retired[l->n_retired++] = ln->cap; /* a request thread may still hold it */
            atomic_store(&l->caps[at], c);
            if (at == k) atomic_store(&l->n_caps, k + 1);
            ln->cap = c;
        } else {
            fw_learn_capture_free(c);
        }
    }
    if (!l->strs) l->strs = fw_malloc(FW_LEARN_CAPTURE_STR);
    fw_free(names);
}

/* (Re)starts a learner from NAME@production (else the version that answered). */
static void learner_start(fw_srv_learning *l, learner *ln, int64_t answered) {
    fw_online_free(ln->ol);
    ln->ol = NULL;
    fw_err err;
    fw_err_clear(&err);
    fw_version_rec v;
    memset(&v, 0, sizeof v);
    char ref[200];
    snprintf(ref, sizeof ref, "%s@production", ln->name);
    fw_status st = open_registry(l, &err);
    if (!st && fw_registry_resolve(l->reg, ref, &v, &err) != FW_OK) {
        snprintf(ref, sizeof ref, "%s@%lld", ln->name, (long long)answered);
        fw_err_clear(&err);
        st = fw_registry_resolve(l->reg, ref, &v, &err);
    }
    uint8_t *art = NULL;
    size_t len = 0;
    if (!st) st = fw_registry_read_artifact(l->reg, &v, &art, &len, &err);
    if (!st) {
        fw_online_settings os;
        settings_of(l->cfg, &os);
        snprintf(ref, sizeof ref, "%s@%lld", ln->name, (long long)v.version);
        st = fw_online_new(art, len, ref, &os, &ln->ol, &err);
        ln->champion = v.version;
    }
    if (st) {
        snprintf(ln->reason, sizeof ln->reason, "%s", err.msg);
        fprintf(stderr, "flywheel serve: %s does not learn online: %s\n", ln->name, err.msg);
    } else {
        ln->reason[0] = 0;
        capture_start(l, ln);
    }
    fw_free(art);
    fw_version_rec_free(&v);
}

static learner *learner_for(fw_srv_learning *l, const char *name, int64_t answered) {
    for (size_t i = 0; i < l->n_ls; i++)
        if (!strcmp(l->ls[i]->name, name)) return l->ls[i];
    if (l->n_ls == MAX_LEARNERS) return NULL;
    learner *ln = fw_calloc(1, sizeof *ln);
    if (!ln) return NULL;
    snprintf(ln->name, sizeof ln->name, "%s", name);
    ln->stats.last_gate.decision = -1;
    ln->last_retrain_s = (double)fw_now_ns() * 1e-9;
    if (l->cfg->online) learner_start(l, ln, answered);
    else snprintf(ln->reason, sizeof ln->reason, "learn.online is off");
    pthread_mutex_lock(&l->mu);
    l->ls[l->n_ls++] = ln;
    pthread_mutex_unlock(&l->mu);
    return ln;
}

/* The first instance of the logged request into values (pipeline input order). */
static bool decode_inputs(const fw_pipeline *pl, json_t *root, fw_value *vals) {
    size_t n = fw_pipeline_n_inputs(pl);
    for (size_t i = 0; i < n; i++) vals[i] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
    json_t *obj = json_array_get(json_object_get(root, "instances"), 0);
    if (!json_is_object(obj)) return false;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        int k = fw_pipeline_input_index(pl, key, strlen(key));
        if (k < 0) continue;
        switch (json_typeof(v)) {
        case JSON_INTEGER:
        case JSON_REAL: vals[k] = (fw_value){FW_VALUE_NUMBER, json_number_value(v), NULL, 0}; break;
        case JSON_TRUE: vals[k] = (fw_value){FW_VALUE_NUMBER, 1, NULL, 0}; break;
        case JSON_FALSE: vals[k] = (fw_value){FW_VALUE_NUMBER, 0, NULL, 0}; break;
        case JSON_STRING: vals[k] = (fw_value){FW_VALUE_STRING, 0, json_string_value(v), json_string_length(v)}; break;
        default: break;
        }
    }
    return true;
}

static void maybe_snapshot(fw_srv_learning *l, learner *ln, double now);

/* 1: learned (or refused for good), 0: the prediction is not in the log yet. */
static int handle(fw_srv_learning *l, const event *e) {
    if (e->version < 0) { /* an alarm (fw_srv_learning_alarm) */
        learner *la = learner_for(l, e->name, 0);
        if (la && -e->version - 1 < FW_ALARM_KIND_COUNT) {
            la->alarm = (int)(-e->version);
            snprintf(la->alarm_detail, sizeof la->alarm_detail, "%s alarm: %s", fw_alarm_kind_name((fw_alarm_kind)(-e->version - 1)), e->text);
        }
        return 1;
    }
    learner *ln = learner_for(l, e->name, e->version);
    if (ln && isnan(e->t_first)) ln->labels_since++; /* counted once, on arrival */
    if (!ln || !ln->ol) return 1;
    fw_err err;
    fw_err_clear(&err);
    const fw_pipeline *pl = fw_online_pipeline(ln->ol);
    size_t ni = fw_pipeline_n_inputs(pl);
    fw_online_label y = {e->is_number ? NULL : e->text, e->len, e->is_number, e->num};
    if (ln->cap && l->strs && ni <= IN_MEMORY_INPUTS) { /* the join in memory: the prediction's own values */
        fw_value vals[IN_MEMORY_INPUTS];
        if (fw_learn_capture_take(ln->cap, e->rid, e->version, vals, l->strs, FW_LEARN_CAPTURE_STR)) {
            bool ok = fw_online_add(ln->ol, e->rid, vals, &y, &err) == FW_OK;
            if (ok) maybe_snapshot(l, ln, (double)fw_now_ns() * 1e-9);
            if (ok) l->d_learned++;
            else l->d_refused++;
            l->d_memory++;
            return 1;
        }
    }
    fw_log_pred_found f;
    memset(&f, 0, sizeof f);
    fw_status st = open_log(l, &err);
    if (!st) st = fw_store_log_get_prediction(l->log, e->rid, e->name, e->version, &f, &err);
    if (st == FW_ENOTFOUND) return 0;
    if (st || !f.input_json) {
        fw_log_pred_found_free(&f);
        pthread_mutex_lock(&l->mu);
        l->unjoined++;
        ln->unjoined++;
        pthread_mutex_unlock(&l->mu);
        return 1;
    }
    json_t *root = json_loads(f.input_json, 0, NULL);
    fw_log_pred_found_free(&f);
    l->d_store++;
    fw_value *vals = fw_calloc(ni ? ni : 1, sizeof *vals);
    bool ok = root && vals && decode_inputs(pl, root, vals);
    if (ok) ok = fw_online_add(ln->ol, e->rid, vals, &y, &err) == FW_OK;
    fw_free(vals);
    json_decref(root);
    if (ok) maybe_snapshot(l, ln, (double)fw_now_ns() * 1e-9); /* at exactly every snapshot.updates examples */
    if (ok) l->d_learned++;
    else l->d_refused++;
    return 1;
}

/* A snapshot of ln when due: registered, gated, promoted and swapped in. */
static void maybe_snapshot(fw_srv_learning *l, learner *ln, double now) {
    if (!ln->ol || !fw_online_snapshot_due(ln->ol, now)) return;
    fw_err err;
    fw_err_clear(&err);
    /* production moved by someone else (a promotion, a retrain): learn from the new champion */
    char ref[200];
    snprintf(ref, sizeof ref, "%s@production", ln->name);
    fw_version_rec v;
    memset(&v, 0, sizeof v);
    if (fw_registry_resolve(l->reg, ref, &v, &err) == FW_OK && v.version != ln->champion) {
        fprintf(stderr, "flywheel serve: %s: production moved to version %lld; online learning restarts from it\n",
                ln->name, (long long)v.version);
        fw_version_rec_free(&v);
        learner_start(l, ln, ln->champion);
        return;
    }
    fw_version_rec_free(&v);
    fw_buf a;
    fw_buf_init(&a);
    fw_online_gate g;
    fw_status st = fw_online_snapshot(ln->ol, now, &a, &g, &err);
    int64_t ver = 0;
    if (!st) {
        fw_registry_register_options ro;
        fw_registry_register_options_init(&ro);
        ro.name = ln->name;
        char tags[256];
        snprintf(tags, sizeof tags, "{\"reason\":\"online\",\"gate\":\"%s\"}", fw_online_decision_name(g.decision));
        ro.tags_json = tags;
        st = fw_registry_register(l->reg, a.data, a.len, &ro, &ver, &err);
    }
    if (st) {
        fprintf(stderr, "flywheel serve: %s: online snapshot not registered: %s\n", ln->name, err.msg);
        fw_buf_free(&a);
        return;
    }
    bool promoted = false;
    if (g.decision == FW_ONLINE_PROMOTE && l->cfg->promote) {
        char vref[200], reason[600], note[512];
        snprintf(vref, sizeof vref, "%s@%lld", ln->name, (long long)ver);
        snprintf(reason, sizeof reason,
                 "online learning gate: promote (%zu progressive-validation examples, %s %s %.6g -> %.6g, "
                 "difference interval [%.6g, %.6g]; %s %.6g -> %.6g)",
                 g.n, g.r.metric, g.r.method, g.r.champion_metric, g.r.challenger_metric, g.r.lo, g.r.hi, g.loss,
                 g.champion_loss, g.challenger_loss);
        fw_promote_options po;
        fw_promote_options_init(&po);
        po.force = true; /* the gate decided, on fresh served traffic; the test-set rule does not apply */
        po.reason = reason;
        if (fw_registry_promote(l->reg, vref, &po, note, sizeof note, &err) == FW_OK) {
            promoted = true;
            ln->champion = ver;
            fw_model_table_submit(l->s->models, FW_MODEL_JOB_RELOAD, NULL, NULL, NULL, NULL, NULL, NULL, &err);
        } else {
            fprintf(stderr, "flywheel serve: %s: online snapshot %s not promoted: %s\n", ln->name, vref, err.msg);
        }
    }
    snprintf(ref, sizeof ref, "%s@%lld", ln->name, (long long)ver);
    snprintf(ln->last_snapshot, sizeof ln->last_snapshot, "%s", ref);
    fw_online_committed(ln->ol, ref, a.data, a.len, promoted);
    fw_buf_free(&a);
}

/* ---- retrain triggers (learn.every, learn.after_labels, learn.on_alarm) ---------------------- */

/* Waits (at most timeout_s) until every record the log took before now is in the store: the queue
 * has handed on all it was pushed, and a spool holds nothing older than now. A triggered retrain
 * reads its labelled rows from the store, and the labels that raised an alarm arrived moments ago:
 * without the wait the retrain would scan the log without them (and hold out old rows). */
static bool log_caught_up(fw_srv_learning *l, double timeout_s) {
    fw_logq *q = l->s->logq;
    if (!q) return true;
    fw_logq_stats st;
    fw_logq_get_stats(q, &st);
    uint64_t depth = st.depth, done0 = st.written + st.dropped + st.write_errors;
    int64_t t_ms = fw_wall_unix_ms();
    uint64_t end = fw_now_ns() + (uint64_t)(timeout_s * 1e9);
    for (;;) { /* the queue is first in, first out: the records it held are gone once as many left */
        fw_logq_get_stats(q, &st);
        bool queued = st.written + st.dropped + st.write_errors - done0 < depth;
        bool spooled = st.sink.spooled && st.sink.spool_records > 0 && st.sink.lag_s > 0 &&
                       (double)(fw_wall_unix_ms() - t_ms) * 1e-3 <= st.sink.lag_s;
        if (!queued && !spooled) return true;
        if (fw_now_ns() > end || l->stop) return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* fw_retrain_options.canary for the server's triggers: the serve config's canary rollout of the
 * model, if any (the recorded project's serving: section is the CLI's default, not the server's). */
static int server_canary(void *ud, const char *model, const char *serving_yaml, char *alias, size_t cap) {
    const fw_srv_learning *l = ud;
    (void)serving_yaml;
    return fw_rollout_canary_alias(l->s->cfg, model, alias, cap);
}

static void *retrain_main(void *arg) {
    fw_srv_learning *l = arg;
    pthread_setname_np(pthread_self(), "fw-retrain");
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10); /* below the request threads */
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->rt_has_job && !l->stop) pthread_cond_wait(&l->rt_cv, &l->mu);
        if (l->stop) break;
        char name[136], detail[200];
        snprintf(name, sizeof name, "%s", l->rt_name);
        snprintf(detail, sizeof detail, "%s", l->rt_detail);
        fw_retrain_reason reason = l->rt_reason;
        l->rt_has_job = false;
        l->rt_busy = true;
        l->retrains_started++;
        pthread_mutex_unlock(&l->mu);
        if (!log_caught_up(l, 60))
            fprintf(stderr, "flywheel serve: %s: the prediction log is more than 60 s behind; the triggered retrain "
                            "reads what the store holds now\n", name);
        fw_retrain_options o;
        fw_retrain_options_init(&o);
        o.home = l->home;
        o.name = name;
        o.reason = reason;
        o.detail = detail;
        o.promote_auto = l->cfg->promote;
        o.canary = server_canary; /* a canary rollout of the model takes the challenger */
        o.canary_ud = l;
        o.command = "flywheel serve (learn: trigger)";
        fw_retrain_result r;
        memset(&r, 0, sizeof r);
        fw_err err;
        fw_err_clear(&err);
        fw_status st = fw_retrain_run(&o, &r, &err);
        fw_buf b;
        fw_buf_init(&b);
        if (st) {
            fw_buf_printf(&b, "{\"error\":");
            fw_json_put_str(&b, err.msg);
            fw_buf_printf(&b, "}");
            fprintf(stderr, "flywheel serve: %s: triggered retrain (%s) failed: %s\n", name, detail, err.msg);
        } else {
            fw_retrain_result_json(&r, &b);
            fprintf(stderr, "flywheel serve: %s: triggered retrain (%s): %s%s%s\n", name, detail,
                    fw_gate_decision_name(r.gate.decision), r.promoted ? ", production moved" : r.canary[0] ?
                    ", handed to the canary " : "", r.canary);
        }
        fw_buf_put(&b, "", 1);
        pthread_mutex_lock(&l->mu);
        for (size_t i = 0; i < l->n_ls; i++)
            if (!strcmp(l->ls[i]->name, name)) {
                l->ls[i]->retrains++;
                fw_free(l->ls[i]->last_retrain);
                l->ls[i]->last_retrain = fw_buf_ok(&b) ? fw_strdup((const char *)b.data) : NULL;
            }
        if (st) l->retrains_failed++;
        else if (r.promoted) l->retrains_promoted++;
        pthread_mutex_unlock(&l->mu);
        /* the new production (or the canary's new version) is swapped in by the model table's
         * loader: requests never wait; a canary's rollout then starts again with it */
        if (!st && (r.promoted || (r.promotion && !strcmp(r.promotion, "canary")))) fw_model_table_submit(l->s->models, FW_MODEL_JOB_RELOAD, NULL, NULL, NULL, NULL, NULL, NULL, &err);
        pthread_mutex_lock(&l->mu);
        l->rt_busy = false;
        pthread_cond_broadcast(&l->cv);
        fw_buf_free(&b);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Starts a retrain of ln when one of its triggers fired and the worker is free. Learning thread. */
static void check_triggers(fw_srv_learning *l, learner *ln, double now) {
    const fw_serve_learn *c = l->cfg;
    fw_retrain_reason reason;
    char detail[200];
    if (ln->alarm) {
        reason = FW_RETRAIN_ALARM;
        snprintf(detail, sizeof detail, "%s", ln->alarm_detail);
    } else if (c->after_labels && ln->labels_since >= c->after_labels) {
        reason = FW_RETRAIN_LABELS;
        snprintf(detail, sizeof detail, "%llu new labels", (unsigned long long)ln->labels_since);
    } else if (c->every_s > 0 && now - ln->last_retrain_s >= c->every_s) {
        reason = FW_RETRAIN_SCHEDULE;
        snprintf(detail, sizeof detail, "every %.0f s", c->every_s);
    } else {
        return;
    }
    pthread_mutex_lock(&l->mu);
    bool free_ = l->rt_started && !l->rt_busy && !l->rt_has_job;
    if (free_) {
        snprintf(l->rt_name, sizeof l->rt_name, "%s", ln->name);
        snprintf(l->rt_detail, sizeof l->rt_detail, "%s", detail);
        l->rt_reason = reason;
        l->rt_has_job = true;
        ln->alarm = 0;
        ln->labels_since = 0;
        ln->last_retrain_s = now;
        pthread_cond_signal(&l->rt_cv);
    }
    pthread_mutex_unlock(&l->mu);
}

/* Whether this process runs the retrain scheduler now: the store's singleton "retrain_scheduler"
 * (store.h: a PostgreSQL session advisory lock, or an flock for a directory home), so replicas
 * sharing a store start one schedule's retrains, not one each; asked again every second, so when
 * the holder dies (its session ends) another replica takes over within about a second. */
static bool scheduler_turn(fw_srv_learning *l, double now) {
    if (!l->sched) return true;
    if (l->sched_checked_s > 0 && now - l->sched_checked_s < 1.0) return atomic_load(&l->sched_held);
    l->sched_checked_s = now;
    fw_err e;
    fw_err_clear(&e);
    bool held = fw_store_singleton_try(l->sched, &e) == 1;
    if (held != atomic_exchange(&l->sched_held, held))
        fprintf(stderr, "flywheel serve: learn: %s\n",
                held ? "this process runs the retrain scheduler (one process among those sharing the store)"
                     : "this process no longer runs the retrain scheduler");
    return held;
}

void fw_srv_learning_alarm(void *ud, const char *name, int64_t version, int kind, const char *detail) {
    fw_srv_learning *l = ud;
    (void)version;
    if (!l || !wants(l->cfg, name)) return;
    if (!((kind == FW_ALARM_DRIFT && l->cfg->on_drift) ||
          ((kind == FW_ALARM_PERFORMANCE || kind == FW_ALARM_ESTIMATE) && l->cfg->on_performance)))
        return;
    event e; /* a label-less event carries the alarm to the learning thread */
    memset(&e, 0, sizeof e);
    snprintf(e.name, sizeof e.name, "%s", name);
    e.version = -(int64_t)kind - 1;
    snprintf(e.text, sizeof e.text, "%s", detail ? detail : "");
    e.len = strlen(e.text);
    e.t_first = NAN;
    pthread_mutex_lock(&l->mu);
    if (l->q_len < l->q_cap) {
        l->q[(l->q_head + l->q_len) % l->q_cap] = e;
        l->q_len++;
        pthread_cond_signal(&l->cv);
    }
    pthread_mutex_unlock(&l->mu);
}

/* A label whose prediction is neither in the join cache nor yet in the store waits for the log: it
 * is looked up again after as long as it has waited (at least 50 ms, at most 1 s) — a handful of
 * store lookups while the log catches up, not one per 50 ms round for seconds on a loaded server. */
static double retry_after(double waited_s) { return waited_s < 0.05 ? 0.05 : waited_s > 1.0 ? 1.0 : waited_s; }

static void *learning_main(void *arg) {
    fw_srv_learning *l = arg;
    pthread_setname_np(pthread_self(), "fw-learn");
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10); /* below the request threads */
    event *batch = NULL, *taken = NULL; /* taken: the queue array swapped out this round */
    size_t cap = 0;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        if (!l->q_len && !l->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&l->cv, &l->mu, &ts);
        }
        if (l->stop) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        size_t n = l->q_len;
        event *items;
        if (l->q_spare && l->q_head == 0) {
            /* the queued labels change hands in O(1): the arrays swap (the lock is held for no
             * copy: request threads queueing labels do not wait behind one) */
            items = taken = l->q;
            l->q = l->q_spare;
            l->q_spare = NULL;
            l->q_len = 0;
        } else {
            if (n > cap) {
                event *nb = fw_realloc(batch, n * sizeof *nb);
                if (nb) batch = nb, cap = n;
                else n = cap;
            }
            for (size_t i = 0; i < n; i++) batch[i] = l->q[(l->q_head + i) % l->q_cap];
            l->q_head = (l->q_head + n) % l->q_cap;
            l->q_len -= n;
            items = batch;
        }
        l->busy = true;
        pthread_mutex_unlock(&l->mu);
        double now = (double)fw_now_ns() * 1e-9;
        /* labels waiting for their prediction first, in arrival order */
        size_t keep = 0;
        for (size_t i = 0; i < l->n_pend; i++) {
            event *e = &l->pend[i];
            if (now < e->t_next) { /* not yet: each retry is a store lookup */
                l->pend[keep++] = *e;
                continue;
            }
            if (handle(l, e)) continue;
            if (now - e->t_first > l->cfg->join_wait_s) {
                pthread_mutex_lock(&l->mu);
                l->unjoined++;
                pthread_mutex_unlock(&l->mu);
                continue;
            }
            e->t_next = now + retry_after(now - e->t_first);
            l->pend[keep++] = *e;
        }
        l->n_pend = keep;
        for (size_t i = 0; i < n; i++) {
            if (handle(l, &items[i])) continue;
            if (l->n_pend == l->pend_cap) {
                size_t nc = l->pend_cap ? l->pend_cap * 2 : 256;
                event *np = l->n_pend < 1000000 ? fw_realloc(l->pend, nc * sizeof *np) : NULL;
                if (!np) {
                    pthread_mutex_lock(&l->mu);
                    l->unjoined++;
                    pthread_mutex_unlock(&l->mu);
                    continue;
                }
                l->pend = np;
                l->pend_cap = nc;
            }
            items[i].t_first = now;
            items[i].t_next = now + retry_after(0);
            l->pend[l->n_pend++] = items[i];
        }
        for (size_t i = 0; i < l->n_ls; i++) maybe_snapshot(l, l->ls[i], now);
        if (scheduler_turn(l, now))
            for (size_t i = 0; i < l->n_ls; i++) check_triggers(l, l->ls[i], now);
        /* the learners' stats for the endpoints (a pass over the recent losses each), made outside
         * the lock the request threads queue labels under: when the queue is empty (so an idle
         * learner's are exact: labels that arrive meanwhile make another round), else at most
         * every STATS_EVERY_S */
        pthread_mutex_lock(&l->mu);
        bool empty = !l->q_len;
        pthread_mutex_unlock(&l->mu);
        double t_end = (double)fw_now_ns() * 1e-9;
        bool stats = empty || t_end - l->stats_s >= STATS_EVERY_S;
        if (stats) {
            l->stats_s = t_end;
            for (size_t i = 0; i < l->n_ls; i++)
                if (l->ls[i]->ol) fw_online_stats_get(l->ls[i]->ol, &l->stats_new[i]);
        }
        pthread_mutex_lock(&l->mu);
        for (size_t i = 0; stats && i < l->n_ls; i++)
            if (l->ls[i]->ol) l->ls[i]->stats = l->stats_new[i];
        if (taken) { /* the emptied queue array is the next swap's */
            l->q_spare = taken;
            taken = NULL;
        }
        l->learned_events += l->d_learned;
        l->refused += l->d_refused;
        l->joined_memory += l->d_memory;
        l->joined_store += l->d_store;
        l->d_learned = l->d_refused = l->d_memory = l->d_store = 0;
        l->busy = false;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        if (l->n_pend && !n) {
            struct timespec ts = {0, 20 * 1000000L}; /* waiting for the log: do not spin */
            nanosleep(&ts, NULL);
        }
    }
    fw_free(batch);
    return NULL;
}

/* learn.online: starts the learner of every model it will learn from before the server answers its
 * first request (learn.models, else every model with a production version): its join cache is then
 * published before any prediction, so no label is joined through the store (nor retried there while
 * the log catches up) because its prediction came before the learner. Models without a production
 * version start on their first label, as before. Runs before the learning thread exists. */
static void boot_learners(fw_srv_learning *l) {
    char **names = l->cfg->models, **listed = NULL;
    size_t n = l->cfg->n_models;
    fw_err err;
    if (!n) {
        if (fw_model_table_list(l->s->models, FW_ALIAS_PRODUCTION, &listed, &n, &err) != FW_OK) return;
        names = listed;
    }
    for (size_t i = 0; i < n; i++) {
        char ref[200];
        snprintf(ref, sizeof ref, "%s@%s", names[i], FW_ALIAS_PRODUCTION);
        fw_version_rec v;
        memset(&v, 0, sizeof v);
        fw_err_clear(&err);
        if (l->n_ls < MAX_LEARNERS && wants(l->cfg, names[i]) && open_registry(l, &err) == FW_OK &&
            fw_registry_resolve(l->reg, ref, &v, &err) == FW_OK)
            learner_for(l, names[i], v.version);
        fw_version_rec_free(&v);
    }
    for (size_t i = 0; listed && i < n; i++) fw_free(listed[i]);
    fw_free(listed);
}

fw_status fw_srv_learning_new(fw_server *s, fw_srv_learning **out, fw_err *err) {
    *out = NULL;
    const fw_serve_config *cfg = s->cfg;
    const fw_serve_learn *lc = &cfg->learn;
    if (!lc->online && !(lc->every_s > 0) && !lc->after_labels && !lc->on_drift && !lc->on_performance) return FW_OK;
    if (cfg->models_dir || !s->log_to_store) {
        fprintf(stderr, "flywheel serve: learn: online learning and retrain triggers need models served from the store "
                        "with the prediction log in it (no serving.log.path): they are off\n");
        return FW_OK;
    }
    fw_srv_learning *l = fw_calloc(1, sizeof *l);
    if (!l) return fw_err_set(err, FW_ENOMEM, "out of memory");
    l->s = s;
    l->cfg = &cfg->learn;
    l->q_cap = cfg->learn.queue ? cfg->learn.queue : 65536;
    l->q = fw_calloc(l->q_cap, sizeof *l->q);
    l->q_spare = fw_calloc(l->q_cap, sizeof *l->q); /* zero pages: paid as the queue fills */
    l->home = fw_strdup(fw_store_default_home(cfg->store_path));
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    pthread_cond_init(&l->rt_cv, NULL);
    if (!l->q || !l->home) {
        fw_srv_learning_free(l);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if ((lc->every_s > 0 || lc->after_labels || lc->on_drift || lc->on_performance) &&
        fw_store_singleton_open(l->home, "retrain_scheduler", &l->sched, err) != FW_OK) {
        fw_status st = err->status;
        fw_srv_learning_free(l);
        return st;
    }
    if (lc->online) boot_learners(l);
    if (pthread_create(&l->th, NULL, learning_main, l)) {
        fw_srv_learning_free(l);
        return fw_err_set(err, FW_EIO, "online learning: cannot start its thread");
    }
    l->started = true;
    if (lc->every_s > 0 || lc->after_labels || lc->on_drift || lc->on_performance) {
        if (pthread_create(&l->rt, NULL, retrain_main, l) == 0) l->rt_started = true;
        /* models named in learn.models keep a schedule before their first label */
        for (size_t i = 0; i < lc->n_models; i++) {
            event e;
            memset(&e, 0, sizeof e);
            snprintf(e.name, sizeof e.name, "%s", lc->models[i]);
            e.version = -(int64_t)FW_ALARM_KIND_COUNT - 1; /* no alarm kind: only makes the entry */
            e.t_first = NAN;
            pthread_mutex_lock(&l->mu);
            if (l->q_len < l->q_cap) l->q[(l->q_head + l->q_len++) % l->q_cap] = e;
            pthread_cond_signal(&l->cv);
            pthread_mutex_unlock(&l->mu);
        }
    }
    *out = l;
    return FW_OK;
}

void fw_srv_learning_free(fw_srv_learning *l) {
    if (!l) return;
    if (l->started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->th, NULL);
    }
    if (l->rt_started) {
        pthread_mutex_lock(&l->mu);
        l->stop = true;
        pthread_cond_broadcast(&l->rt_cv);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->rt, NULL); /* a run in progress finishes first */
    }
    for (size_t i = 0; i < atomic_load(&l->n_caps); i++) fw_learn_capture_free(atomic_load(&l->caps[i]));
    for (size_t i = 0; i < l->n_retired; i++) fw_learn_capture_free(l->retired[i]);
    fw_free(l->strs);
    for (size_t i = 0; i < l->n_ls; i++) {
        fw_online_free(l->ls[i]->ol);
        fw_free(l->ls[i]->last_retrain);
        fw_free(l->ls[i]);
    }
    if (l->log) fw_store_log_close(l->log);
    if (l->reg) fw_registry_close(l->reg);
    fw_store_singleton_close(l->sched); /* another replica takes the scheduler over */
    fw_free(l->pend);
    fw_free(l->q);
    fw_free(l->q_spare);
    fw_free(l->home);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    pthread_cond_destroy(&l->rt_cv);
    fw_free(l);
}

bool fw_srv_learning_idle_wait(fw_srv_learning *l, double timeout_s) {
    if (!l) return true;
    uint64_t end = fw_now_ns() + (uint64_t)(timeout_s * 1e9);
    for (;;) {
        pthread_mutex_lock(&l->mu);
        bool idle = !l->q_len && !l->busy && !l->n_pend;
        pthread_mutex_unlock(&l->mu);
        if (idle) return true;
        if (fw_now_ns() > end) return false;
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void fw_srv_learning_state_json(fw_srv_learning *l, const char *name, fw_buf *out) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n_ls; i++) {
        learner *ln = l->ls[i];
        if (strcmp(ln->name, name)) continue;
        fw_buf_printf(out, ",\"online\":{\"state\":");
        fw_json_put_str(out, ln->ol ? "learning" : ln->reason);
        fw_buf_printf(out, ",\"champion\":%lld,\"unjoined\":%llu,\"last_snapshot\":", (long long)ln->champion,
                      (unsigned long long)ln->unjoined);
        fw_json_put_str(out, ln->last_snapshot);
        fw_buf_printf(out, ",\"learner\":");
        if (ln->ol) fw_online_stats_json(&ln->stats, out);
        else fw_buf_printf(out, "null");
        fw_buf_printf(out, ",\"retrains\":%llu,\"labels_since_retrain\":%llu,\"last_retrain\":%s}",
                      (unsigned long long)ln->retrains, (unsigned long long)ln->labels_since,
                      ln->last_retrain ? ln->last_retrain : "null");
    }
    pthread_mutex_unlock(&l->mu);
}

static void put_metric_num(fw_buf *b, double v) {
    if (isfinite(v)) fw_buf_printf(b, "%.17g\n", v);
    else fw_buf_printf(b, "NaN\n");
}

void fw_srv_learning_metrics(fw_srv_learning *l, fw_buf *b) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    fw_buf_printf(b,
                  "# HELP flywheel_learn_labels_total Labels handed to online learning, by outcome: queued, dropped "
                  "(queue full), learned, unjoined (no logged prediction in time), refused (label or inputs not "
                  "usable).\n# TYPE flywheel_learn_labels_total counter\n"
                  "flywheel_learn_labels_total{outcome=\"queued\"} %llu\n"
                  "flywheel_learn_labels_total{outcome=\"dropped\"} %llu\n"
                  "flywheel_learn_labels_total{outcome=\"learned\"} %llu\n"
                  "flywheel_learn_labels_total{outcome=\"unjoined\"} %llu\n"
                  "flywheel_learn_labels_total{outcome=\"refused\"} %llu\n",
                  (unsigned long long)l->queued, (unsigned long long)l->dropped,
                  (unsigned long long)l->learned_events, (unsigned long long)l->unjoined,
                  (unsigned long long)l->refused);
    fw_buf_printf(b,
                  "# HELP flywheel_learn_joins_total Labels joined to their prediction's inputs, by where: memory (the "
                  "join cache filled on predict) or store (the prediction log read back).\n"
                  "# TYPE flywheel_learn_joins_total counter\n"
                  "flywheel_learn_joins_total{via=\"memory\"} %llu\nflywheel_learn_joins_total{via=\"store\"} %llu\n",
                  (unsigned long long)l->joined_memory, (unsigned long long)l->joined_store);
    fw_buf_printf(b, "# HELP flywheel_learn_examples_total Examples scored then learned by the online learner.\n"
                     "# TYPE flywheel_learn_examples_total counter\n");
    for (size_t i = 0; i < l->n_ls; i++)
        fw_buf_printf(b, "flywheel_learn_examples_total{model=\"%s\"} %llu\n", l->ls[i]->name,
                      (unsigned long long)l->ls[i]->stats.examples);
    fw_buf_printf(b, "# HELP flywheel_learn_progressive_loss Progressive-validation loss (each example scored before "
                     "it is learned) over the last 1000 examples, of the learner and of the served champion's weights.\n"
                     "# TYPE flywheel_learn_progressive_loss gauge\n");
    for (size_t i = 0; i < l->n_ls; i++) {
        fw_buf_printf(b, "flywheel_learn_progressive_loss{model=\"%s\",weights=\"learner\"} ", l->ls[i]->name);
        put_metric_num(b, l->ls[i]->stats.examples ? l->ls[i]->stats.recent_loss : NAN);
        fw_buf_printf(b, "flywheel_learn_progressive_loss{model=\"%s\",weights=\"champion\"} ", l->ls[i]->name);
        put_metric_num(b, l->ls[i]->stats.examples ? l->ls[i]->stats.recent_champion_loss : NAN);
    }
    fw_buf_printf(b, "# HELP flywheel_learn_snapshots_total Online snapshots registered, by the gate's decision.\n"
                     "# TYPE flywheel_learn_snapshots_total counter\n");
    for (size_t i = 0; i < l->n_ls; i++) {
        const fw_online_stats *s = &l->ls[i]->stats;
        fw_buf_printf(b,
                      "flywheel_learn_snapshots_total{model=\"%s\",decision=\"promote\"} %llu\n"
                      "flywheel_learn_snapshots_total{model=\"%s\",decision=\"reject\"} %llu\n"
                      "flywheel_learn_snapshots_total{model=\"%s\",decision=\"inconclusive\"} %llu\n",
                      l->ls[i]->name, (unsigned long long)s->promoted, l->ls[i]->name,
                      (unsigned long long)s->rejected, l->ls[i]->name, (unsigned long long)s->inconclusive);
    }
    if (l->sched)
        fw_buf_printf(b,
                      "# HELP flywheel_learn_scheduler_held 1 when this process runs the retrain scheduler (one "
                      "process among those sharing the store), else 0.\n# TYPE flywheel_learn_scheduler_held gauge\n"
                      "flywheel_learn_scheduler_held %d\n"
                      "# HELP flywheel_learn_retrains_started_total Retrains the triggers started in this process.\n"
                      "# TYPE flywheel_learn_retrains_started_total counter\nflywheel_learn_retrains_started_total %llu\n",
                      atomic_load(&l->sched_held) ? 1 : 0, (unsigned long long)l->retrains_started);
    pthread_mutex_unlock(&l->mu);
}
