/* server.c — owns the server's life cycle and HTTP plumbing: libmicrohttpd setup (epoll + internal
 * thread pool, connection limit and timeout), request bodies with the size limit, dispatch to the
 * API files, replies and metrics, /healthz, /metrics, the admin endpoints, the alias poll thread
 * and the drain on shutdown. */
#include "serve/server_int.h"
#include "serve/bandit.h"
#include "serve/learning.h"
#include "serve/monitoring.h"
#include "serve/rollout.h"
#include "serve/canary_runner.h"
#include "serve/shadow.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/test_hooks.h"
#include "core/threads.h"
#include "serve/feedback_labels.h"
#include "serve/log_spool.h"
#include "serve/mhd.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void reset_body(fw_reply *r) {
    r->body.len = 0;
    r->body.oom = false;
}

void fw__reply_error(fw_reply *r, int http, const char *code_name, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reset_body(r);
    r->code = http;
    fw_buf_printf(&r->body, "{\"error\":{\"code\":");
    fw_json_put_str(&r->body, code_name);
    fw_buf_printf(&r->body, ",\"message\":");
    fw_json_put_str(&r->body, msg);
    if (r->request_id[0]) {
        fw_buf_printf(&r->body, "},\"request_id\":");
        fw_json_put_str(&r->body, r->request_id);
        fw_buf_put_u8(&r->body, '}');
    } else {
        fw_buf_printf(&r->body, "}}");
    }
}

void fw__reply_error_v2(fw_reply *r, int http, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reset_body(r);
    r->code = http;
    fw_buf_printf(&r->body, "{\"error\":");
    fw_json_put_str(&r->body, msg);
    fw_buf_put_u8(&r->body, '}');
}

bool fw__reply_too_large(fw_reply *r) {
    if (!r->max_bytes || r->body.len <= r->max_bytes) return false;
    fw__reply_error(r, 413, "reply_too_large",
                    "the reply grew past serving.max_reply_bytes = %zu bytes; send fewer instances per request",
                    r->max_bytes);
    return true;
}

json_t *fw__parse_body(fw_reply *r, const char *body, size_t len, bool v2) {
    if (!body || len == 0) {
        if (v2) fw__reply_error_v2(r, 400, "empty request body: expected a JSON object");
        else fw__reply_error(r, 400, "bad_json", "empty request body: expected a JSON object");
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        if (v2) fw__reply_error_v2(r, 400, "malformed JSON at line %d, column %d: %s", je.line, je.column, je.text);
        else fw__reply_error(r, 400, "bad_json", "malformed JSON at line %d, column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        if (v2) fw__reply_error_v2(r, 400, "the request body must be a JSON object");
        else fw__reply_error(r, 400, "bad_request", "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

int fw__http_for(fw_status st) {
    switch (st) {
    case FW_ENOTFOUND: return 404;
    case FW_EINVAL:
    case FW_ESCHEMA:
    case FW_EPARSE: return 400;
    case FW_ELIMIT: return 503;
    default: return 500;
    }
}

/* ---- request ids and logging ----------------------------------------------------------------- */

uint64_t fw__new_request_id(fw_server *s, fw_reply *r) {
    uint64_t n = atomic_fetch_add_explicit(&s->next_req, 1, memory_order_relaxed);
    fw_reqid_format(&s->idkey, n, 0, r->request_id);
    return n;
}

void fw__request_id_bind(fw_server *s, fw_reply *r, const fw_srv_model *m) {
    fw_reqid_rebind(&s->idkey, fw_reqid_model_code(&s->idkey, m->name, m->version), r->request_id);
}

static void idc_clear(fw_server *s) { /* caller holds idc_mu */
    for (size_t i = 0; i < sizeof s->idc / sizeof s->idc[0]; i++) {
        if (s->idc[i].m) fw_srv_model_unref(s->idc[i].m);
        s->idc[i].m = NULL;
        s->idc[i].code = 0;
    }
}

fw_srv_model *fw__request_id_model(fw_server *s, uint32_t code) {
    if (!code) return NULL;
    FW_TEST_COUNT(FW_TC_REQID_MODEL);
    fw_srv_model **all = NULL, *found = NULL;
    /* the cache first: the same answer as the scan below while no route's model changed */
    uint64_t gen = fw_model_table_generation(s->models);
    size_t slot = code % (sizeof s->idc / sizeof s->idc[0]);
    pthread_mutex_lock(&s->idc_mu);
    if (s->idc_gen != gen) {
        idc_clear(s);
        s->idc_gen = gen;
    }
    if (s->idc[slot].m && s->idc[slot].code == code) {
        found = s->idc[slot].m;
        fw_srv_model_ref(found);
    }
    pthread_mutex_unlock(&s->idc_mu);
    if (found) return found;
    size_t n = 0;
    fw_model_table_snapshot(s->models, &all, &n);
    for (size_t i = 0; i < n; i++) {
        if (!found && fw_reqid_model_code(&s->idkey, all[i]->name, all[i]->version) == code) found = all[i];
        else fw_srv_model_unref(all[i]);
    }
    fw_free(all);
    if (found) {
        pthread_mutex_lock(&s->idc_mu);
        if (s->idc_gen == gen && fw_model_table_generation(s->models) == gen) { /* nothing changed during the scan */
            if (s->idc[slot].m) fw_srv_model_unref(s->idc[slot].m);
            s->idc[slot].code = code;
            s->idc[slot].m = found;
            fw_srv_model_ref(found);
        }
        pthread_mutex_unlock(&s->idc_mu);
    }
    return found;
}

/* ---- route resolution with traffic splits ---------------------------------------------------- */

static const fw_serve_split *split_for(const fw_server *s, const char *name, size_t *index) {
    for (size_t i = 0; i < s->cfg->n_splits; i++)
        if (strcmp(s->cfg->splits[i].model, name) == 0) {
            *index = i;
            return &s->cfg->splits[i];
        }
    return NULL;
}

/* The default alias of a model: the one listed in serving.models, else "production". */
static const char *default_alias(const fw_server *s, const char *name, char *buf, size_t cap) {
    size_t nl = strlen(name);
    for (size_t i = 0; i < s->cfg->n_models; i++) {
        const char *m = s->cfg->models[i];
        if (strncmp(m, name, nl) == 0 && m[nl] == '@') {
            snprintf(buf, cap, "%s", m + nl + 1);
            return buf;
        }
    }
    return "production";
}

/* Acquires "NAME@ALIAS" or "NAME#VERSION". */
static fw_status acquire_ref(fw_server *s, const char *ref, uint64_t now, fw_srv_model **m, fw_err *err) {
    char name[FW_ROUTE_NAME_MAX], rest[FW_ROUTE_NAME_MAX];
    const char *sep = strpbrk(ref, "@#");
    if (!sep || (size_t)(sep - ref) >= sizeof name || strlen(sep + 1) >= sizeof rest)
        return fw_err_set(err, FW_ECONFIG, "bad model reference '%s' (want NAME@ALIAS or NAME#VERSION)", ref);
    memcpy(name, ref, (size_t)(sep - ref));
    name[sep - ref] = 0;
    strcpy(rest, sep + 1);
    return fw_model_table_acquire(s->models, name, *sep == '@' ? rest : NULL, *sep == '#' ? rest : NULL,
                                  now, m, err);
}

/* The rollouts' view of a reference (rollout.h fw_rollout_set_resolver): the version its route
 * serves now. */
static bool rollout_resolve(void *ud, const char *ref, char *version, size_t cap) {
    fw_server *s = ud;
    fw_srv_model *m = NULL;
    fw_err e;
    if (acquire_ref(s, ref, fw_now_ns(), &m, &e) != FW_OK) return false;
    snprintf(version, cap, "%s", m->version ? m->version : "");
    fw_srv_model_unref(m);
    return version[0] != 0;
}

/* Appends {"route":"NAME@ALIAS","error":"..."} for one route that cannot answer. */
static void unready_entry(fw_buf *b, size_t *n, const char *route, const char *msg) {
    fw_buf_printf(b, "%s{\"route\":", (*n)++ ? "," : "");
    fw_json_put_str(b, route);
    fw_buf_printf(b, ",\"error\":");
    fw_json_put_str(b, msg);
    fw_buf_put_u8(b, '}');
}

size_t fw__routes_unready(fw_server *s, fw_buf *out) {
    size_t n_bad = 0;
    uint64_t now = fw_now_ns();
    for (size_t i = 0; i < s->cfg->n_models; i++) {
        fw_srv_model *m;
        fw_err e;
        if (acquire_ref(s, s->cfg->models[i], now, &m, &e) == FW_OK) fw_srv_model_unref(m);
        else unready_entry(out, &n_bad, s->cfg->models[i], e.msg);
    }
    char **names = NULL;
    size_t n = 0;
    fw_err e;
    fw_status lst = fw_model_table_list(s->models, "production", &names, &n, &e);
    pthread_mutex_lock(&s->ready_mu);
    if (lst == FW_OK) {
        /* remembered for when the store cannot be reached */
        for (size_t i = 0; i < s->n_ready_names; i++) fw_free(s->ready_names[i]);
        fw_free(s->ready_names);
        s->ready_names = NULL;
        s->n_ready_names = 0;
        char **copy = n ? fw_calloc(n, sizeof *copy) : NULL;
        size_t k = 0;
        for (size_t i = 0; copy && i < n && (copy[k] = fw_strdup(names[i])); i++) k++;
        s->ready_names = copy;
        s->n_ready_names = k;
    } else if (lst == FW_EBUSY && s->ready_names) {
        /* the store is unreachable (a PostgreSQL restart, a lost connection): serving goes on from
         * the loaded models, so the replica stays in rotation when the names it listed last can
         * still answer (each checked below; one not loaded cannot load now and makes it unready) */
        names = fw_calloc(s->n_ready_names ? s->n_ready_names : 1, sizeof *names);
        for (size_t i = 0; names && i < s->n_ready_names && (names[n] = fw_strdup(s->ready_names[i])); i++) n++;
        if (names) lst = FW_OK;
    }
    pthread_mutex_unlock(&s->ready_mu);
    if (lst != FW_OK) {
        unready_entry(out, &n_bad, "*@production", e.msg);
        return n_bad;
    }
    for (size_t i = 0; i < n; i++) {
        fw_srv_model *m;
        if (fw_model_table_acquire(s->models, names[i], "production", NULL, now, &m, &e) == FW_OK) {
            fw_srv_model_unref(m);
        } else {
            char route[FW_ROUTE_NAME_MAX + 16];
            snprintf(route, sizeof route, "%.200s@production", names[i]);
            unready_entry(out, &n_bad, route, e.msg);
        }
        fw_free(names[i]);
    }
    fw_free(names);
    return n_bad;
}

fw_status fw__resolve(fw_server *s, const char *name, const char *alias, const char *version,
                      const char *entity_id, uint64_t reqno, fw_srv_target *t, fw_err *err) {
    return fw__resolve_flags(s, name, alias, version, entity_id, reqno, 0, t, err);
}

fw_status fw__resolve_flags(fw_server *s, const char *name, const char *alias, const char *version,
                            const char *entity_id, uint64_t reqno, unsigned flags, fw_srv_target *t, fw_err *err) {
    memset(t, 0, sizeof *t);
    uint64_t now = fw_now_ns();
    if ((alias && *alias) || (version && *version))
        return fw_model_table_acquire(s->models, name, alias && *alias ? alias : NULL,
                                      alias && *alias ? NULL : version, now, &t->m, err);
    char abuf[FW_ROUTE_NAME_MAX];
    fw_status st = fw_model_table_acquire(s->models, name, default_alias(s, name, abuf, sizeof abuf), NULL,
                                          now, &t->m, err);
    if (st) return st;
    size_t si = 0;
    const fw_serve_split *sp = split_for(s, name, &si);
    if (!sp) return FW_OK;
    if (sp->kind == FW_SPLIT_BANDIT) { /* Thompson sampling, lock-free (serve/bandit.h) */
        char id[48];
        const char *ref = NULL;
        fw_reqid_format(&s->idkey, reqno, 0, id); /* the id's random part is the reward's join key */
        uint64_t key = reqno ? fw_srv_bandit_key(id) : 0;
        int arm = fw_srv_bandit_pick(s->bandits, sp, key, &ref);
        fw_srv_model *c = NULL;
        fw_err e2;
        if (arm > 0 && acquire_ref(s, ref, now, &c, &e2) == FW_OK) {
            fw_srv_model_unref(t->m);
            t->m = c;
            t->variant = FW_VARIANT_CHALLENGER;
        } else {
            arm = 0; /* the default route answers */
        }
        if (key) fw_srv_bandit_trial(s->bandits, sp, key, arm);
        return FW_OK;
    }
    bool to_challenger = false;
    if (sp->kind == FW_SPLIT_AB) {
        uint64_t h = entity_id ? fw_hash64(entity_id, strlen(entity_id), 0x5eed) : fw_hash64(&reqno, sizeof reqno, 1);
        to_challenger = (double)(h % 10000) < sp->percent * 100.0;
    } else if (sp->kind == FW_SPLIT_CANARY && sp->rollout) {
        /* a canary rollout: the analysis thread moves the share (one atomic load, no lock) */
        t->ro = fw_rollout_for(s->rollout, si);
        if (t->ro) {
            uint64_t h = fw_hash64(&reqno, sizeof reqno, 0xca9a);
            uint32_t ppm = fw_rollout_ppm(t->ro);
            to_challenger = !(flags & FW_RESOLVE_CHAMPION) && ((flags & FW_RESOLVE_CANARY) ? ppm > 0 : h % 1000000 < ppm);
            t->ro_arm = to_challenger ? FW_RO_CANARY : FW_RO_CHAMPION;
        }
    } else if (sp->kind == FW_SPLIT_CANARY) {
        uint64_t h = fw_hash64(&reqno, sizeof reqno, 0xca9a);
        to_challenger = (double)(h % 10000) < sp->percent * 100.0;
    }
    if (sp->kind == FW_SPLIT_SHADOW || to_challenger) {
        fw_srv_model *c = NULL;
        fw_err e2;
        if (acquire_ref(s, sp->challenger, now, &c, &e2) != FW_OK) { /* primary answers */
            t->ro_arm = FW_RO_CHAMPION;
            return FW_OK;
        }
        if (sp->kind == FW_SPLIT_SHADOW) {
            t->shadow = c;
        } else {
            fw_srv_model_unref(t->m);
            t->m = c;
            t->variant = FW_VARIANT_CHALLENGER;
        }
    }
    return FW_OK;
}

struct fw_rollout_split *fw__canary_route(fw_server *s, const fw_route *rt, uint64_t reqno, uint64_t *timeout_ns) {
    if (!s->canary || rt->alias[0] || rt->version[0]) return NULL;
    size_t si = 0;
    const fw_serve_split *sp = split_for(s, rt->name, &si);
    if (!sp || sp->kind != FW_SPLIT_CANARY || !sp->rollout || !(sp->rollout->timeout_ms > 0)) return NULL;
    struct fw_rollout_split *ro = fw_rollout_for(s->rollout, si);
    if (!ro) return NULL;
    uint32_t ppm = fw_rollout_ppm(ro);
    /* the same draw as fw__resolve_flags; at 100% there is no champion traffic left to protect */
    if (ppm >= 1000000 || fw_hash64(&reqno, sizeof reqno, 0xca9a) % 1000000 >= ppm) return NULL;
    *timeout_ns = (uint64_t)(sp->rollout->timeout_ms * 1e6);
    return ro;
}

void fw__fault_hang(fw_server *s) {
    pthread_mutex_lock(&s->fault_mu);
    while (!s->fault_released) pthread_cond_wait(&s->fault_cv, &s->fault_mu);
    pthread_mutex_unlock(&s->fault_mu);
}

/* Test builds: lets every hung canary (and shadow) return; the server is stopping. */
static void fault_release(fw_server *s) {
    pthread_mutex_lock(&s->fault_mu);
    s->fault_released = true;
    pthread_cond_broadcast(&s->fault_cv);
    pthread_mutex_unlock(&s->fault_mu);
}

void fw__target_release(fw_srv_target *t) {
    fw_srv_model_unref(t->m);
    fw_srv_model_unref(t->shadow);
    memset(t, 0, sizeof *t);
}

/* ---- simple endpoints ------------------------------------------------------------------------ */

static void api_healthz(fw_server *s, fw_reply *r) {
    size_t bytes;
    size_t n = fw_model_table_loaded(s->models, &bytes);
    r->code = 200;
    fw_logq_stats q = {0};
    if (s->logq) fw_logq_get_stats(s->logq, &q);
    fw_buf_printf(&r->body, "{\"status\":\"%s\",\"models_loaded\":%zu,\"model_bytes\":%zu,\"log_store\":\"%s\",\"version\":",
                  atomic_load(&s->draining) ? "draining" : "ok", n, bytes,
                  !s->log_to_store ? "off" : q.sink.store_unhealthy ? "unhealthy" : "ok");
    fw_json_put_str(&r->body, fw_version());
    fw_buf_put_u8(&r->body, '}');
}

static void api_metrics(fw_server *s, fw_reply *r) {
    fw_srv_model **ms = NULL;
    size_t n = 0;
    fw_model_table_snapshot(s->models, &ms, &n);
    fw_metrics_series *ser = fw_calloc(n + 1, sizeof *ser);
    r->code = 200;
    if (ser) {
        ser[0] = (fw_metrics_series){"", "", s->global};
        for (size_t i = 0; i < n; i++) ser[i + 1] = (fw_metrics_series){ms[i]->name, ms[i]->version, ms[i]->metrics};
        fw_metrics_render(&r->body, ser, n + 1);
    }
    fw_free(ser);
    size_t bytes;
    size_t loaded = fw_model_table_loaded(s->models, &bytes);
    uint64_t loads, ev, swaps;
    fw_model_table_counters(s->models, &loads, &ev, &swaps);
    fw_metrics_render_scalar(&r->body, "flywheel_models_loaded", "gauge", "Models currently loaded.", (double)loaded);
    fw_metrics_render_scalar(&r->body, "flywheel_model_bytes", "gauge", "Bytes held by loaded models.", (double)bytes);
    fw_metrics_render_scalar(&r->body, "flywheel_bytes_in_use", "gauge", "Bytes allocated by the library (fw_bytes_in_use).", (double)fw_bytes_in_use());
    fw_metrics_render_scalar(&r->body, "flywheel_model_loads_total", "counter", "Model loads (cold loads and swaps).", (double)loads);
    fw_metrics_render_scalar(&r->body, "flywheel_model_evictions_total", "counter", "Models evicted by the memory bound.", (double)ev);
    fw_metrics_render_scalar(&r->body, "flywheel_model_swaps_total", "counter", "Alias swaps.", (double)swaps);
    fw_metrics_render_scalar(&r->body, "flywheel_models_retiring", "gauge",
                             "Swapped-out versions still held by in-flight requests.",
                             (double)fw_model_table_retiring(s->models));
    fw_metrics_render_scalar(&r->body, "flywheel_inflight_requests", "gauge", "Requests being served.", (double)atomic_load(&s->inflight));
    fw_buf_printf(&r->body, "# HELP flywheel_feedback_total Feedback records by whether the request id was known.\n"
                            "# TYPE flywheel_feedback_total counter\n"
                            "flywheel_feedback_total{matched=\"true\"} %llu\nflywheel_feedback_total{matched=\"false\"} %llu\n",
                  (unsigned long long)atomic_load(&s->feedback_matched), (unsigned long long)atomic_load(&s->feedback_unmatched));
    fw_logq_stats q = {0};
    if (s->logq) fw_logq_get_stats(s->logq, &q);
    fw_metrics_render_scalar(&r->body, "flywheel_log_queue_depth", "gauge", "Prediction log records waiting.", (double)q.depth);
    fw_metrics_render_scalar(&r->body, "flywheel_log_queue_capacity", "gauge", "Prediction log queue capacity.", (double)q.capacity);
    fw_metrics_render_scalar(&r->body, "flywheel_log_queue_bytes", "gauge", "Bytes of prediction records queued.", (double)q.mem_bytes);
    fw_metrics_render_scalar(&r->body, "flywheel_log_queue_peak_bytes", "gauge", "Most bytes of prediction records ever queued.",
                             (double)q.mem_peak);
    fw_metrics_render_scalar(&r->body, "flywheel_log_queue_capacity_bytes", "gauge",
                             "Bound on the bytes of queued prediction records (serving.log.queue_bytes).", (double)q.mem_capacity);
    uint64_t sq_now, sq_peak;
    fw_store_memory(&sq_now, &sq_peak);
    fw_metrics_render_scalar(&r->body, "flywheel_store_memory_bytes", "gauge",
                             "Heap held by the embedded database (all connections: page caches, statements).", (double)sq_now);
    fw_metrics_render_scalar(&r->body, "flywheel_store_memory_peak_bytes", "gauge",
                             "Most heap the embedded database held since start.", (double)sq_peak);
    fw_metrics_render_scalar(&r->body, "flywheel_log_queue_memory_dropped_total", "counter",
                             "Records dropped because serving.log.queue_bytes was reached (also in flywheel_log_dropped_total).",
                             (double)q.mem_dropped);
    fw_metrics_render_scalar(&r->body, "flywheel_log_dropped_total", "counter",
                             "Log records dropped by the overflow policy, a full spool or a disk that refused the append.",
                             (double)(q.dropped + q.sink.spool_dropped + q.sink.append_errors));
    fw_metrics_render_scalar(&r->body, "flywheel_log_written_total", "counter", "Log records written to the sink.", (double)q.written);
    fw_metrics_render_scalar(&r->body, "flywheel_log_write_errors_total", "counter", "Log records lost to sink errors.",
                             (double)(q.write_errors + q.sink.store_errors));
    fw_metrics_render_scalar(&r->body, "flywheel_log_batches_total", "counter", "Batches handed to the log sink.", (double)q.batches);
    if (s->log_to_store) {
        fw_metrics_render_scalar(&r->body, "flywheel_log_store_healthy", "gauge",
                                 "1 when the prediction log's store (log.db) takes writes, 0 when it is damaged or unopenable.",
                                 q.sink.store_unhealthy ? 0.0 : 1.0);
        fw_metrics_render_scalar(&r->body, "flywheel_log_retention_deleted_total", "counter",
                                 "prediction_log rows deleted by serving.log.retention.", (double)q.sink.retention_deleted);
    }
    if (q.sink.spooled) {
        const struct {
            const char *name, *type, *help;
            double v;
        } spool[] = {
            {"flywheel_log_stored_total", "counter", "Prediction log records now in the store (ingested from the spool).",
             (double)q.sink.stored},
            {"flywheel_log_spool_records", "gauge", "Prediction log records spooled on disk, not yet in the store.",
             (double)q.sink.spool_records},
            {"flywheel_log_spool_bytes", "gauge", "Bytes of spooled records not yet in the store.",
             (double)q.sink.spool_bytes},
            {"flywheel_log_spool_capacity_bytes", "gauge", "Bound on spooled bytes (serving.log.spool_bytes).",
             (double)q.sink.spool_capacity_bytes},
            {"flywheel_log_spool_dropped_total", "counter", "Records dropped because the spool was full.",
             (double)q.sink.spool_dropped},
            {"flywheel_log_caught_up_total", "counter", "Records the catch-up thread stored (serving.log.catch_up).",
             (double)q.sink.caught_up},
            {"flywheel_log_direct_total", "counter",
             "Records the log writer stored itself while the spool was empty (serving.log.direct).",
             (double)q.sink.direct},
            {"flywheel_log_recovered_total", "counter", "Records ingested from spools left by earlier processes.",
             (double)q.sink.recovered},
            {"flywheel_log_store_lag_seconds", "gauge", "Age of the oldest spooled record not yet in the store.",
             q.sink.lag_s},
            {"flywheel_log_append_errors_total", "counter", "Records dropped because the spool could not be written (disk full).",
             (double)q.sink.append_errors},
            {"flywheel_log_lost_total", "counter",
             "Records earlier processes accepted but had not appended when they died (kill -9 in the flush window).",
             (double)q.sink.lost},
            {"flywheel_log_spool_damaged_bytes_total", "counter", "Bytes of recovered spools skipped as damaged or torn.",
             (double)q.sink.damaged_bytes},
            {"flywheel_log_spools_set_aside_total", "counter", "Spool files with a damaged header renamed *.damaged.",
             (double)q.sink.set_aside},
        };
        for (size_t i = 0; i < sizeof spool / sizeof *spool; i++)
            fw_metrics_render_scalar(&r->body, spool[i].name, spool[i].type, spool[i].help, spool[i].v);
    }
    if (s->hybrid) {
        fw_hybrid_stats h;
        fw_hybrid_get_stats(s->hybrid, &h);
        fw_buf_printf(&r->body, "# HELP flywheel_hybrid_lookups_total Entity lookups of batch answers by result.\n"
                                "# TYPE flywheel_hybrid_lookups_total counter\n"
                                "flywheel_hybrid_lookups_total{result=\"batch\"} %llu\n"
                                "flywheel_hybrid_lookups_total{result=\"absent\"} %llu\n"
                                "flywheel_hybrid_lookups_total{result=\"stale\"} %llu\n"
                                "flywheel_hybrid_lookups_total{result=\"error\"} %llu\n",
                      (unsigned long long)h.hits, (unsigned long long)h.misses, (unsigned long long)h.stale,
                      (unsigned long long)h.errors);
        fw_metrics_render_scalar(&r->body, "flywheel_hybrid_store_queries_total", "counter",
                                 "Batch answer lookups that went to the store (cache misses).", (double)h.queries);
    }
    pthread_mutex_lock(&s->conn_mu);
    size_t open_conns = s->n_conns;
    pthread_mutex_unlock(&s->conn_mu);
    fw_metrics_render_scalar(&r->body, "flywheel_connections", "gauge", "Open HTTP connections.", (double)open_conns);
    fw_buf_printf(&r->body, "# HELP flywheel_listener_connections_total Connections accepted, by listening socket "
                            "(serving.listeners: shared has one, per_thread one per worker thread).\n"
                            "# TYPE flywheel_listener_connections_total counter\n");
    for (int i = 0; i < s->n_listeners && s->listener_conns; i++)
        fw_buf_printf(&r->body, "flywheel_listener_connections_total{listener=\"%d\"} %llu\n", i,
                      (unsigned long long)atomic_load(&s->listener_conns[i]));
    fw_buf_printf(&r->body, "# HELP flywheel_connections_closed_total Connections closed by a guard: slow (past conn_timeout_s "
                            "idle or request_timeout_s receiving) or pressure (near conn_limit, no whole request within 1 s).\n"
                            "# TYPE flywheel_connections_closed_total counter\n"
                            "flywheel_connections_closed_total{reason=\"slow\"} %llu\n"
                            "flywheel_connections_closed_total{reason=\"pressure\"} %llu\n",
                  (unsigned long long)atomic_load(&s->conns_closed_slow),
                  (unsigned long long)atomic_load(&s->conns_closed_pressure));
    fw_metrics_render_scalar(&r->body, "flywheel_pending_reply_bytes", "gauge",
                             "Bytes of large replies queued and not yet sent.", (double)atomic_load(&s->pending_reply_bytes));
    fw_metrics_render_scalar(&r->body, "flywheel_replies_refused_busy_total", "counter",
                             "Large replies refused (503) by serving.max_pending_reply_bytes.", (double)atomic_load(&s->refused_pending));
    fw_metrics_render_scalar(&r->body, "flywheel_protocol_errors_total", "counter",
                             "Malformed requests refused by the HTTP layer itself (JSON error bodies).",
                             (double)(atomic_load(&fw_mhd_json_errors) + atomic_load(&s->refused_no_room)));
    fw_metrics_render_scalar(&r->body, "flywheel_uptime_seconds", "gauge", "Seconds since start.", (double)(fw_now_ns() - s->start_ns) * 1e-9);
    fw_srv_monitoring_metrics(s->monitoring, ms, n, &r->body);
    fw_srv_learning_metrics(s->learning, &r->body);
    fw_srv_bandits_metrics(s->bandits, &r->body);
    fw_rollout_metrics(s->rollout, &r->body);
    fw_shadowq_metrics(s->shadowq, &r->body);
#ifdef FW_TEST /* the test build's work counters (core/test_hooks.h), for tests that count work per request */
    fw_buf_printf(&r->body, "# HELP flywheel_test_count Test build only: events counted by FW_TEST_COUNT.\n"
                            "# TYPE flywheel_test_count counter\n");
    for (int i = 0; i < FW_TC_COUNT; i++)
        fw_buf_printf(&r->body, "flywheel_test_count{counter=\"%s\"} %llu\n", fw__test_counter_names[i],
                      (unsigned long long)atomic_load(&fw__test_counts[i]));
#endif
    for (size_t i = 0; i < n; i++) fw_srv_model_unref(ms[i]);
    fw_free(ms);
}

static void api_models(fw_server *s, fw_reply *r) {
    fw_srv_model **ms = NULL;
    size_t n = 0;
    fw_model_table_snapshot(s->models, &ms, &n);
    r->code = 200;
    fw_buf_printf(&r->body, "{\"models\":[");
    for (size_t i = 0; i < n; i++) {
        fw_buf_printf(&r->body, "%s{\"name\":", i ? "," : "");
        fw_json_put_str(&r->body, ms[i]->name);
        fw_buf_printf(&r->body, ",\"version\":");
        fw_json_put_str(&r->body, ms[i]->version);
        fw_buf_printf(&r->body, ",\"bytes\":%zu,\"load_ms\":", ms[i]->bytes);
        fw_json_put_f64(&r->body, ms[i]->load_ms);
        fw_buf_put_u8(&r->body, '}');
        fw_srv_model_unref(ms[i]);
    }
    fw_free(ms);
    fw_buf_printf(&r->body, "]}");
}

/* ---- admin ----------------------------------------------------------------------------------- */

/* One request's state across MHD's calls (and across a suspension for admin jobs). */
typedef struct conn_req {
    fw_buf body;
    fw_buf reply; /* the reply body's buffer, kept with the record: see send_reply */
    bool too_big;
    bool answered; /* a reply was queued early (413 by Content-Length) */
    const char *auth_role; /* the data-plane token role that authorised it (static string), or NULL */
    uint64_t t0;
    struct conn_req *next; /* in this thread's free list */
    /* an admin request waiting for its loader job (see api_admin) */
    fw_model_job *job;
    struct MHD_Connection *conn;
    uint64_t deadline;     /* fw_now_ns() after which it answers 202 */
    struct conn_req *wnext; /* in s->waiters */
    fw_feedback_wait fb;   /* a feedback request waiting to be durable */
    struct fw_canary_job *canary; /* a predict request waiting for its canary (canary_runner.h) */
    bool routed;           /* rt holds this request's route (matched once, by refuse_early) */
    /* last: req_get clears the fields above only */
    fw_route rt;
} conn_req;

/* True when the request carries "Authorization: Bearer <token>". The comparison takes the same time
 * whatever the bytes sent (every byte of the token is compared), so its time tells nothing. */
static bool bearer_ok(struct MHD_Connection *c, const char *token) {
    if (!token || !*token) return false;
    const char *h = fw_mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    size_t a = strlen(h), b = strlen(token);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++) diff |= (unsigned)(unsigned char)(i < a ? h[i] : 0) ^ (unsigned char)token[i];
    return diff == 0;
}

static bool token_ok(const fw_server *s, struct MHD_Connection *c) { return bearer_ok(c, s->admin_token); }

/* Removes q from the waiters if it is there. Caller holds s->admin_mu. */
static bool unlink_waiter(fw_server *s, conn_req *q) {
    for (conn_req **pp = &s->waiters; *pp; pp = &(*pp)->wnext) {
        if (*pp == q) {
            *pp = q->wnext;
            q->wnext = NULL;
            return true;
        }
    }
    return false;
}

/* Loader thread: a job finished; resume the admin requests waiting for it. */
static void on_job_done(void *ud, fw_model_job *j) {
    fw_server *s = ud;
    pthread_mutex_lock(&s->admin_mu);
    for (conn_req **pp = &s->waiters; *pp;) {
        conn_req *q = *pp;
        if (q->job == j) {
            *pp = q->wnext;
            q->wnext = NULL;
            fw_mhd.resume_connection(q->conn);
        } else {
            pp = &q->wnext;
        }
    }
    pthread_mutex_unlock(&s->admin_mu);
}

/* Resumes waiters past their deadline (all = every one, when draining). */
static void resume_expired(fw_server *s, bool all) {
    uint64_t now = fw_now_ns();
    pthread_mutex_lock(&s->admin_mu);
    if (all) s->admin_closed = true;
    for (conn_req **pp = &s->waiters; *pp;) {
        conn_req *q = *pp;
        if (all || now >= q->deadline) {
            *pp = q->wnext;
            q->wnext = NULL;
            fw_mhd.resume_connection(q->conn);
        } else {
            pp = &q->wnext;
        }
    }
    pthread_mutex_unlock(&s->admin_mu);
}

/* The reply of an admin job: its result when it finished, else 202 pending. Releases the job. */
static void admin_finish(fw_server *s, conn_req *q, const fw_route *rt, const char *version, fw_reply *r) {
    pthread_mutex_lock(&s->admin_mu);
    unlink_waiter(s, q);
    pthread_mutex_unlock(&s->admin_mu);
    const fw_model_job_result *res = fw_model_job_get_result(q->job);
    if (!res) {
        r->code = 202;
        fw_buf_printf(&r->body, "{\"status\":\"pending\",\"model\":");
        fw_json_put_str(&r->body, rt->name);
        if (rt->kind == FW_ROUTE_ADMIN_ALIAS) {
            fw_buf_printf(&r->body, ",\"alias\":");
            fw_json_put_str(&r->body, rt->alias);
            fw_buf_printf(&r->body, ",\"version\":");
            fw_json_put_str(&r->body, version);
        }
        fw_buf_printf(&r->body, ",\"message\":\"queued or loading on the loader thread; the previous version "
                                "answers until the new one is ready (GET /v1/models shows it)\"}");
    } else if (res->status) {
        const char *what = rt->kind == FW_ROUTE_ADMIN_RELOAD ? "reload: " : "";
        if (rt->kind == FW_ROUTE_ADMIN_ALIAS && res->status == FW_EDATA) /* the promotion rule said no */
            fw__reply_error(r, 409, "promotion_refused", "%s", res->msg);
        else
            fw__reply_error(r, fw__http_for(res->status), fw_status_name(res->status), "%s%s", what, res->msg);
    } else if (rt->kind == FW_ROUTE_ADMIN_RELOAD) {
        r->code = 200;
        fw_buf_printf(&r->body, "{\"reloaded\":true,\"swapped\":%zu}", res->swapped);
    } else if (rt->kind == FW_ROUTE_ADMIN_ALIAS) {
        r->code = 200;
        fw_buf_printf(&r->body, "{\"model\":");
        fw_json_put_str(&r->body, rt->name);
        fw_buf_printf(&r->body, ",\"alias\":");
        fw_json_put_str(&r->body, rt->alias);
        fw_buf_printf(&r->body, ",\"version\":");
        fw_json_put_str(&r->body, version);
        fw_buf_put_u8(&r->body, '}');
    } else {
        r->code = 200;
        fw_buf_printf(&r->body, "{\"loaded\":true,\"model\":");
        fw_json_put_str(&r->body, rt->name);
        fw_buf_printf(&r->body, ",\"version\":");
        fw_json_put_str(&r->body, res->version);
        fw_buf_printf(&r->body, ",\"bytes\":%zu,\"load_ms\":", res->bytes);
        fw_json_put_f64(&r->body, res->load_ms);
        fw_buf_put_u8(&r->body, '}');
    }
    fw_model_job_release(q->job);
    q->job = NULL;
}

/* Admin endpoints. Load, alias and reload are jobs for the model table's loader thread: the
 * request's connection is suspended (its worker thread goes on serving other connections) and
 * resumed when the job is done — 200 with the result — or after serving.admin_wait_s — 202
 * {"status":"pending"}, the job going on. MHD calls the handler again after a resume, with the same
 * body: q->job tells the two calls apart. Unload only unpublishes (cheap) and answers at once. */
static void api_admin(fw_server *s, struct MHD_Connection *c, conn_req *q, const fw_route *rt, const char *body,
                      size_t len, fw_reply *r) {
    fw_err err;
    fw_err_clear(&err);
    json_t *j = NULL;
    if (body && len) {
        if (!(j = fw__parse_body(r, body, len, false))) goto out;
    }
    const char *alias = j ? json_string_value(json_object_get(j, "alias")) : NULL;
    const char *version = j ? json_string_value(json_object_get(j, "version")) : NULL;
    if (q->job) {
        admin_finish(s, q, rt, version, r);
        goto out;
    }
    char abuf[FW_ROUTE_NAME_MAX];
    if (rt->kind == FW_ROUTE_ADMIN_LOAD || rt->kind == FW_ROUTE_ADMIN_UNLOAD) {
        if (!alias && !version) alias = default_alias(s, rt->name, abuf, sizeof abuf);
        if (version) alias = NULL;
    }
    if (rt->kind == FW_ROUTE_ADMIN_UNLOAD) {
        fw_status st = fw_model_table_unload(s->models, rt->name, alias, version, &err);
        if (st) fw__reply_error(r, fw__http_for(st), fw_status_name(st), "%s", err.msg);
        else {
            r->code = 200;
            fw_buf_printf(&r->body, "{\"unloaded\":true}");
        }
        goto out;
    }
    fw_status st;
    if (rt->kind == FW_ROUTE_ADMIN_ALIAS) {
        json_t *force = j ? json_object_get(j, "force") : NULL;
        if (!version || (force && !json_is_boolean(force))) {
            fw__reply_error(r, 400, "bad_request", "body must be {\"version\": \"...\"} (and \"force\": true|false)");
            goto out;
        }
        st = fw_model_table_submit(s->models, json_is_true(force) ? FW_MODEL_JOB_ALIAS_FORCE : FW_MODEL_JOB_ALIAS, rt->name, rt->alias, version, on_job_done, s,
                                   &q->job, &err);
    } else if (rt->kind == FW_ROUTE_ADMIN_RELOAD) {
        st = fw_model_table_submit(s->models, FW_MODEL_JOB_RELOAD, NULL, NULL, NULL, on_job_done, s, &q->job, &err);
    } else {
        st = fw_model_table_submit(s->models, FW_MODEL_JOB_LOAD, rt->name, alias, version, on_job_done, s, &q->job,
                                   &err);
    }
    if (st) {
        q->job = NULL;
        fw__reply_error(r, fw__http_for(st), fw_status_name(st), "%s", err.msg);
        goto out;
    }
    pthread_mutex_lock(&s->admin_mu);
    if (!fw_model_job_done(q->job) && !s->admin_closed && s->cfg->admin_wait_s > 0) {
        q->conn = c;
        q->deadline = fw_now_ns() + (uint64_t)(s->cfg->admin_wait_s * 1e9);
        q->wnext = s->waiters;
        s->waiters = q;
        fw_mhd.suspend_connection(c);
        r->suspended = true;
        pthread_mutex_unlock(&s->admin_mu);
        goto out;
    }
    pthread_mutex_unlock(&s->admin_mu);
    admin_finish(s, q, rt, version, r);
out:
    json_decref(j);
}

/* ---- MHD plumbing ---------------------------------------------------------------------------- */

/* Request records (and their body and reply buffers) are reused through a small per-thread free
 * list, so a steady stream of requests allocates none of them; the list is freed when the worker
 * thread exits. A record keeps a body buffer of up to 64 KiB and a reply buffer of up to 16 KiB. */
enum { REQ_CACHE = 64, REQ_KEEP_BYTES = 64 * 1024, REPLY_KEEP_BYTES = 16 * 1024 };
typedef struct req_cache {
    conn_req *head;
    int n;
} req_cache;
static pthread_key_t g_req_key;
static pthread_once_t g_req_once = PTHREAD_ONCE_INIT;
static _Thread_local req_cache *t_reqs;

static void req_cache_free(void *p) {
    req_cache *rc = p;
    while (rc->head) {
        conn_req *q = rc->head;
        rc->head = q->next;
        fw_buf_free(&q->body);
        fw_buf_free(&q->reply);
        fw_free(q);
    }
    fw_free(rc);
}

static void req_make_key(void) { pthread_key_create(&g_req_key, req_cache_free); }

static conn_req *req_get(void) {
    req_cache *rc = t_reqs;
    if (rc && rc->head) {
        conn_req *q = rc->head;
        rc->head = q->next;
        rc->n--;
        fw_buf b = q->body, rb = q->reply;
        memset(q, 0, offsetof(conn_req, rt));
        q->body.data = b.data;
        q->body.cap = b.cap;
        q->reply.data = rb.data;
        q->reply.cap = rb.cap;
        return q;
    }
    conn_req *q = fw_calloc(1, sizeof *q);
    if (q) {
        fw_buf_init(&q->body);
        fw_buf_init(&q->reply);
    }
    return q;
}

/* Keeps q for reuse by this thread (not while draining: the daemon's last threads may be others). */
static void req_put(conn_req *q, bool draining) {
    req_cache *rc = t_reqs;
    if (!rc && !draining) {
        pthread_once(&g_req_once, req_make_key);
        if ((rc = fw_calloc(1, sizeof *rc)) != NULL) {
            pthread_setspecific(g_req_key, rc);
            t_reqs = rc;
        }
    }
    if (!rc || draining || rc->n >= REQ_CACHE || q->body.cap > REQ_KEEP_BYTES || !fw_buf_ok(&q->body)) {
        fw_buf_free(&q->body);
        fw_buf_free(&q->reply);
        fw_free(q);
        return;
    }
    if (q->reply.cap > REPLY_KEEP_BYTES) fw_buf_free(&q->reply);
    q->next = rc->head;
    rc->head = q;
    rc->n++;
}

/* ---- guards: connection deadlines, smuggling, tokens, media types, CORS (docs/SECURITY.md) ---- */

/* One open connection. Its phase decides its deadline: IDLE (waiting for a request line: closed
 * conn_timeout_s after it opened or after its last reply, however the bytes trickle), RECEIVING
 * (a request line arrived: line, headers and body must be in within request_timeout_s), ANSWERING
 * (no deadline here; libmicrohttpd's idle timeout and serving.max_pending_reply_bytes bound it). The
 * poll thread shuts down the socket of an expired connection; libmicrohttpd then closes it. */
typedef struct fw_conn {
    struct fw_conn *prev, *next;
    int fd;
    _Atomic uint64_t since;
    _Atomic int phase;
    bool shut; /* under conn_mu */
} fw_conn;
enum { CONN_IDLE, CONN_RECEIVING, CONN_ANSWERING };

static fw_conn *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = fw_mhd.get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

static void conn_phase(struct MHD_Connection *c, int phase) {
    fw_conn *k = conn_of(c);
    if (!k) return;
    atomic_store_explicit(&k->since, fw_now_ns(), memory_order_relaxed);
    atomic_store_explicit(&k->phase, phase, memory_order_relaxed);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_ConnectionNotificationCode code) {
    fw_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        fw_conn *k = fw_calloc(1, sizeof *k);
        if (!k) return;
        const union MHD_ConnectionInfo *ci = fw_mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        k->fd = ci ? ci->connect_fd : -1;
        const union MHD_ConnectionInfo *di = fw_mhd.get_connection_info(c, MHD_CONNECTION_INFO_DAEMON);
        int li = 0;
        for (int i = 1; di && i < s->n_listeners; i++)
            if (s->more[i] == di->daemon) li = i;
        if (s->listener_conns) atomic_fetch_add(&s->listener_conns[li], 1);
        atomic_store(&k->since, fw_now_ns());
        pthread_mutex_lock(&s->conn_mu);
        k->next = s->conns;
        if (s->conns) s->conns->prev = k;
        s->conns = k;
        s->n_conns++;
        pthread_mutex_unlock(&s->conn_mu);
        *ctx = k;
        return;
    }
    fw_conn *k = *ctx; /* MHD_CONNECTION_NOTIFY_CLOSED: called before the socket is closed */
    if (!k) return;
    pthread_mutex_lock(&s->conn_mu);
    if (k->prev) k->prev->next = k->next;
    else s->conns = k->next;
    if (k->next) k->next->prev = k->prev;
    s->n_conns--;
    pthread_mutex_unlock(&s->conn_mu);
    fw_free(k);
    *ctx = NULL;
}

/* libmicrohttpd calls this as soon as a request line is parsed, before the headers. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    (void)uri;
    conn_phase(c, CONN_RECEIVING);
    return NULL;
}

/* Poll thread: closes connections past their phase's deadline. Near serving.conn_limit (7/8 of it
 * open) connections that have not delivered a whole request within a second are closed too, so a
 * real client finds a free slot at once instead of waiting behind slow ones. */
static void reap_connections(fw_server *s) {
    uint64_t now = fw_now_ns();
    uint64_t idle_ns = (uint64_t)s->cfg->conn_timeout_s * 1000000000ull;
    uint64_t req_ns = (uint64_t)s->cfg->request_timeout_s * 1000000000ull;
    size_t limit = s->cfg->conn_limit;
    size_t high = limit - limit / 8;
    pthread_mutex_lock(&s->conn_mu);
    bool pressure = s->n_conns >= high;
    for (fw_conn *k = s->conns; k; k = k->next) {
        int ph = atomic_load_explicit(&k->phase, memory_order_relaxed);
        uint64_t since = atomic_load_explicit(&k->since, memory_order_relaxed);
        uint64_t age = now > since ? now - since : 0;
        if (k->shut || k->fd < 0 || ph == CONN_ANSWERING) continue;
        bool slow = (ph == CONN_IDLE && age > idle_ns) || (ph == CONN_RECEIVING && age > req_ns);
        bool squeeze = !slow && pressure && age > 1000000000ull;
        if (!slow && !squeeze) continue;
        shutdown(k->fd, SHUT_RDWR);
        k->shut = true;
        atomic_fetch_add(slow ? &s->conns_closed_slow : &s->conns_closed_pressure, 1);
    }
    pthread_mutex_unlock(&s->conn_mu);
}

/* What one pass over the request headers found: every header the request path reads (Content-Length
 * and Transfer-Encoding, all of them; Content-Type, the first, as MHD_lookup_connection_value gives
 * it), so none is looked up again by name. The values live in libmicrohttpd's connection memory for
 * the request. */
typedef struct head_scan {
    int n_cl, n_te;
    bool cl_differ;
    const char *cl, *te, *ct;
    unsigned long long cl_n; /* cl as a number (0 without one) */
    size_t n, bytes;         /* headers, and their lines' bytes written "Name: value\r\n" */
} head_scan;

#define HEADER_IS(key, n, lit) ((n) == sizeof(lit) - 1 && strncasecmp(key, lit, sizeof(lit) - 1) == 0)

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
                                   const char *value, size_t value_size) {
    (void)kind;
    (void)value_size;
    head_scan *h = cls;
    if (!key || !value) return MHD_YES;
    h->n++;
    h->bytes += key_size + value_size + 4;
    if (HEADER_IS(key, key_size, MHD_HTTP_HEADER_CONTENT_LENGTH)) {
        if (h->n_cl++ && strcmp(value, h->cl) != 0) h->cl_differ = true;
        h->cl = value;
    } else if (HEADER_IS(key, key_size, MHD_HTTP_HEADER_TRANSFER_ENCODING)) {
        h->n_te++;
        h->te = value;
    } else if (!h->ct && HEADER_IS(key, key_size, MHD_HTTP_HEADER_CONTENT_TYPE)) {
        h->ct = value;
    }
    return MHD_YES;
}

/* The data-plane role of a route (index into role_token), or -1 for open routes. */
static int role_of(fw_route_kind k) {
    switch (k) {
    case FW_ROUTE_V1_PREDICT:
    case FW_ROUTE_V1_EXPLAIN:
    case FW_ROUTE_V1_MODELS:
    case FW_ROUTE_V1_MONITOR:
    case FW_ROUTE_V1_BANDITS:
    case FW_ROUTE_V1_ROLLOUT:
    case FW_ROUTE_V2_MODEL:
    case FW_ROUTE_V2_INFER: return 0;
    case FW_ROUTE_V1_RANK: return 1;
    case FW_ROUTE_V1_FEEDBACK: return 2;
    default: return -1;
    }
}

/* application/json or application/<anything>+json, parameters (charset) allowed. */
static bool json_media_type(const char *ct) {
    if (!ct) return false;
    while (*ct == ' ' || *ct == '\t') ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0) return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 && strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* The request's Origin when serving.cors_origins allows it, else NULL. */
static const char *cors_origin(const fw_server *s, struct MHD_Connection *c) {
    if (!s->cfg->n_cors_origins) return NULL;
    const char *o = fw_mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (!o) return NULL;
    for (size_t i = 0; i < s->cfg->n_cors_origins; i++)
        if (strcmp(s->cfg->cors_origins[i], "*") == 0 || strcmp(s->cfg->cors_origins[i], o) == 0) return o;
    return NULL;
}

static void refuse(fw_reply *r, const char *url, int http, const char *code, const char *msg) {
    if (strncmp(url, "/v2/", 4) == 0) fw__reply_error_v2(r, http, "%s", msg);
    else fw__reply_error(r, http, code, "%s", msg);
}

/* Whether libmicrohttpd will have room for this request's reply in the connection's pool. It keeps
 * the request line and header lines (where it parsed them) and a record per header (from the pool's
 * end) until the request is done, and writes the reply's status line and headers into what is left:
 * a request whose headers leave less is answered by the handler, and then libmicrohttpd closes the
 * connection without a reply ("failed to create response header") — a prediction made, counted and
 * logged that no one receives. For a predict, headers in a ~170-byte band under libmicrohttpd's own
 * 431. This is 0.9.75's layout (memorypool.c, connection.c): lines counted as written "Name:
 * value\r\n" (the request's own bytes when it wrote them so; more when it added spaces: then this
 * underestimates what is used and lets the request through, as before), records of 6 words and an
 * enum rounded to the pool's 2-word alignment, the reply's least size: status line (17), Date (37),
 * Content-Type (32), Content-Length (19), the blank line, X-Request-Id (57) on the routes that
 * issue request ids. A request that fails it cannot be answered as asked; it is refused (431) before
 * any work, and when even that reply does not fit libmicrohttpd closes the connection. */
enum { MHD_POOL_ALIGN = 2 * sizeof(void *) };
#define MHD_ROUND(n) (((n) + MHD_POOL_ALIGN - 1) / MHD_POOL_ALIGN * MHD_POOL_ALIGN)
static bool reply_fits(const fw_server *s, const head_scan *h, const char *method, const char *url,
                       const char *version, bool request_id) {
    size_t record = MHD_ROUND(6 * sizeof(void *) + sizeof(int));
    size_t lines = strlen(method) + 1 + strlen(url) + 1 + strlen(version) + 2 + h->bytes + 2;
    size_t used = MHD_ROUND(lines) + h->n * record;
    size_t need = 17 + 37 + 32 + 19 + 2 + (request_id ? 14 + FW_REQID_LEN + 2 : 0);
    return used + need <= s->conn_mem;
}

/* The routes whose every reply carries X-Request-Id. */
static bool issues_request_id(fw_route_kind k) {
    return k == FW_ROUTE_V1_PREDICT || k == FW_ROUTE_V1_EXPLAIN || k == FW_ROUTE_V1_RANK || k == FW_ROUTE_V2_INFER;
}

/* Checks made once the headers are in, before any body byte is read. True, with r filled (or
 * *preflight set for an allowed CORS preflight), when the request is answered now. */
static bool refuse_early(fw_server *s, struct MHD_Connection *c, conn_req *q, const char *method, const char *url,
                         const char *version, head_scan *hs, fw_reply *r, const char **preflight) {
    head_scan h = {0};
    fw_mhd.get_connection_values_n(c, MHD_HEADER_KIND, scan_header, &h);
    h.cl_n = h.cl ? strtoull(h.cl, NULL, 10) : 0;
    *hs = h;
    if (h.n_cl && h.n_te) {
        refuse(r, url, 400, "ambiguous_length",
               "both Content-Length and Transfer-Encoding are set: refused (a proxy may read the body differently)");
        return true;
    }
    if (h.cl_differ) {
        refuse(r, url, 400, "ambiguous_length", "Content-Length is given twice with different values: refused");
        return true;
    }
    if (h.n_te > 1 || (h.te && strcasecmp(h.te, "chunked") != 0)) {
        char msg[300];
        snprintf(msg, sizeof msg, "Transfer-Encoding '%.100s' is not supported (only 'chunked')", h.te);
        refuse(r, url, 400, "unsupported_transfer_encoding", msg);
        return true;
    }
    fw_route rt;
    if (strcmp(method, "OPTIONS") == 0) {
        fw_route_match("GET", url, &rt);
        if (rt.status == 404) return false; /* dispatch answers 404 */
        const char *origin = fw_mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
        if (origin && cors_origin(s, c)) {
            *preflight = rt.allow;
            return true;
        }
        char msg[400];
        snprintf(msg, sizeof msg, "CORS: origin '%.200s' is not allowed (serving.cors_origins lists the allowed ones; none by default)",
                 origin ? origin : "(none)");
        refuse(r, url, 403, "cors_refused", msg);
        return true;
    }
    fw_route_match(method, url, &q->rt);
    q->routed = true; /* dispatch takes it from here */
    if (!reply_fits(s, &h, method, url, version, !q->rt.status && issues_request_id(q->rt.kind))) {
        atomic_fetch_add(&s->refused_no_room, 1);
        refuse(r, url, 431, "headers_too_large",
               "the request headers leave no room for the reply in the connection's memory: send smaller headers");
        return true;
    }
    if (q->rt.status) return false; /* 404 / 405: dispatch answers */
    int role = role_of(q->rt.kind);
    static const char *const names[] = {"predict", "rank", "feedback"};
    if (role >= 0 && s->role_token[role]) q->auth_role = names[role]; /* checked just below */
    if (role >= 0 && s->role_token[role] && !bearer_ok(c, s->role_token[role])) {
        char msg[200];
        snprintf(msg, sizeof msg, "this endpoint needs 'Authorization: Bearer <token>' (serving.%s_token)", names[role]);
        refuse(r, url, 401, "unauthorized", msg);
        return true;
    }
    bool has_body = h.te || h.cl_n > 0;
    if (has_body && (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)) {
        const char *ct = h.ct;
        if (!json_media_type(ct)) {
            char msg[300];
            snprintf(msg, sizeof msg, "Content-Type must be application/json, got '%.100s'", ct ? ct : "(none)");
            refuse(r, url, 415, "unsupported_media_type", msg);
            return true;
        }
    }
    return false;
}

/* 204 to an allowed CORS preflight. */
static enum MHD_Result send_preflight(struct MHD_Connection *c, const char *origin, const char *allow) {
    struct MHD_Response *resp = fw_mhd.create_response_from_buffer_with_free_callback(0, NULL, NULL);
    if (!resp) return MHD_NO;
    char methods[64];
    snprintf(methods, sizeof methods, "%s, OPTIONS", allow);
    fw_mhd.add_response_header(resp, "Access-Control-Allow-Origin", origin);
    fw_mhd.add_response_header(resp, "Access-Control-Allow-Methods", methods);
    fw_mhd.add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    fw_mhd.add_response_header(resp, "Access-Control-Max-Age", "600");
    fw_mhd.add_response_header(resp, "Vary", "Origin");
    enum MHD_Result ret = fw_mhd.queue_response(c, 204, resp);
    fw_mhd.destroy_response(resp);
    return ret;
}

/* A large reply counted in s->pending_reply_bytes until libmicrohttpd frees it (sent or dropped). */
enum { BIG_REPLY = 64 * 1024 };
typedef struct big_reply {
    fw_server *s;
    size_t len;
    void *data;
} big_reply;

static void big_reply_free(void *cls) {
    big_reply *b = cls;
    atomic_fetch_sub(&b->s->pending_reply_bytes, b->len);
    fw_free(b->data);
    fw_free(b);
}

/* Queues r's reply on c. With keep (the request record's reply buffer, which r->body is), a reply of
 * up to BIG_REPLY bytes is queued from that buffer as it is (no free callback) and the buffer goes
 * back to the record for its next request: no allocation a request. That holds because
 * libmicrohttpd has sent the last byte, or given up on the connection, before it reports the
 * request complete (on_completed, which hands the record back for reuse); it never reads the body
 * after that. Larger replies, and replies without keep, are handed to libmicrohttpd to free. */
static enum MHD_Result send_reply(fw_server *s, struct MHD_Connection *c, fw_reply *r, fw_buf *keep) {
    if (!fw_buf_ok(&r->body)) {
        reset_body(r);
        fw__reply_error(r, 500, "FW_ENOMEM", "out of memory");
    }
    size_t cap = r->body.cap, len;
    uint8_t *data = fw_buf_take(&r->body, &len);
    struct MHD_Response *resp;
    if (keep && len <= BIG_REPLY) {
        keep->data = data; /* the record's again, whatever happens below */
        keep->cap = cap;
        keep->len = 0;
        keep->oom = false;
        resp = fw_mhd.create_response_from_buffer_with_free_callback(len, data, NULL);
        if (!resp) return MHD_NO;
    } else if (len > BIG_REPLY) {
        /* clients that never read hold their replies: a bound over all of them */
        size_t pending = atomic_fetch_add(&s->pending_reply_bytes, len) + len;
        big_reply *b = pending <= s->cfg->max_pending_reply_bytes ? fw_malloc(sizeof *b) : NULL;
        if (!b) {
            atomic_fetch_sub(&s->pending_reply_bytes, len);
            atomic_fetch_add(&s->refused_pending, 1);
            fw_free(data);
            fw_reply busy = {0};
            fw_buf_init(&busy.body);
            memcpy(busy.request_id, r->request_id, sizeof busy.request_id);
            fw__reply_error(&busy, 503, "server_busy",
                            "replies not yet read by their clients hold serving.max_pending_reply_bytes = %zu; retry",
                            s->cfg->max_pending_reply_bytes);
            return send_reply(s, c, &busy, NULL);
        }
        *b = (big_reply){s, len, data};
        resp = fw_mhd.create_response_from_buffer_with_free_callback_cls(len, data, big_reply_free, b);
        if (!resp) {
            big_reply_free(b);
            return MHD_NO;
        }
    } else {
        resp = fw_mhd.create_response_from_buffer_with_free_callback(len, data, fw_free);
        if (!resp) {
            fw_free(data);
            return MHD_NO;
        }
    }
    fw_mhd.add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->allow && r->code == 200 ? "text/plain" : "application/json");
    if (r->code == 401) fw_mhd.add_response_header(resp, "WWW-Authenticate", "Bearer");
    const char *origin = cors_origin(s, c);
    if (origin) {
        fw_mhd.add_response_header(resp, "Access-Control-Allow-Origin", origin);
        fw_mhd.add_response_header(resp, "Vary", "Origin");
    }
    if (r->code == 405 && r->allow) fw_mhd.add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->request_id[0]) fw_mhd.add_response_header(resp, "X-Request-Id", r->request_id);
    if (atomic_load_explicit(&s->draining, memory_order_relaxed))
        fw_mhd.add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result ret = fw_mhd.queue_response(c, (unsigned)r->code, resp);
    fw_mhd.destroy_response(resp);
    return ret;
}

/* Who sent a request: its remote address, and the token role when one authorised it. */
static const char *feedback_origin(struct MHD_Connection *c, const fw_reply *r, char *buf, size_t cap) {
    const union MHD_ConnectionInfo *ci = fw_mhd.get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char addr[INET6_ADDRSTRLEN + 8] = "?";
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr, sizeof addr);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr, sizeof addr);
    snprintf(buf, cap, "%s%s%s", addr, r->auth_role ? " role=" : "", r->auth_role ? r->auth_role : "");
    return buf;
}

static void dispatch(fw_server *s, struct MHD_Connection *c, conn_req *q, const char *method, const char *url,
                     const char *body, size_t len, fw_reply *r) {
    if (!q->routed) {
        fw_route_match(method, url, &q->rt);
        q->routed = true;
    }
    const fw_route *rt = &q->rt;
    if (rt->status == 400) {
        fw__reply_error(r, 400, "bad_model_name", "a model name or alias in the path is %d characters long (at most %d)",
                        rt->too_long, FW_ROUTE_NAME_LONGEST);
        if (strncmp(url, "/v2/", 4) == 0)
            fw__reply_error_v2(r, 400, "a model name in the path is %d characters long (at most %d)", rt->too_long,
                               FW_ROUTE_NAME_LONGEST);
        return;
    }
    if (rt->status == 404) {
        fw__reply_error(r, 404, "not_found", "no route for %s %s", method, url);
        return;
    }
    if (rt->status == 405) {
        fw__reply_error(r, 405, "method_not_allowed", "%s is not allowed on %s (allowed: %s)", method, url, rt->allow);
        r->allow = rt->allow;
        return;
    }
    switch (rt->kind) {
    case FW_ROUTE_HEALTHZ: api_healthz(s, r); break;
    case FW_ROUTE_METRICS:
        api_metrics(s, r);
        r->allow = "metrics"; /* marks text/plain */
        break;
    case FW_ROUTE_V1_MODELS: api_models(s, r); break;
    case FW_ROUTE_V1_BANDITS:
        r->code = 200;
        fw_srv_bandits_json(s->bandits, &r->body);
        break;
    case FW_ROUTE_V1_MONITOR: fw__api_monitor(s, rt, r); break;
    case FW_ROUTE_V1_ROLLOUT:
        if (fw_rollout_state_json(s->rollout, rt->name, &r->body)) r->code = 200;
        else fw__reply_error(r, 404, "no_rollout", "model '%s' has no canary rollout (serving.splits with steps)", rt->name);
        break;
    case FW_ROUTE_V1_PREDICT:
    case FW_ROUTE_V1_EXPLAIN:
        r->conn = c;
        r->canary_slot = &q->canary;
        fw__api_predict(s, rt, body, len, rt->kind == FW_ROUTE_V1_EXPLAIN, r);
        break;
    case FW_ROUTE_V1_RANK:
        r->conn = c;
        r->canary_slot = &q->canary;
        fw__api_rank(s, rt, body, len, r);
        break;
    case FW_ROUTE_V1_FEEDBACK: {
        char origin[128];
        q->fb.conn = c;
        fw__api_feedback(s, feedback_origin(c, r, origin, sizeof origin), &q->fb, body, len, r);
        break;
    }
    case FW_ROUTE_V2_SERVER:
    case FW_ROUTE_V2_LIVE:
    case FW_ROUTE_V2_READY:
    case FW_ROUTE_V2_MODEL:
    case FW_ROUTE_V2_MODEL_READY:
    case FW_ROUTE_V2_INFER:
        r->conn = c;
        r->canary_slot = &q->canary;
        fw__api_v2(s, rt, body, len, r);
        break;
    case FW_ROUTE_ADMIN_LOAD:
    case FW_ROUTE_ADMIN_UNLOAD:
    case FW_ROUTE_ADMIN_ALIAS:
    case FW_ROUTE_ADMIN_RELOAD:
        if (!token_ok(s, c))
            fw__reply_error(r, 401, "unauthorized", s->admin_token && *s->admin_token
                                ? "admin endpoints need 'Authorization: Bearer <token>'"
                                : "admin endpoints are disabled: set serving.admin_token or FLYWHEEL_ADMIN_TOKEN");
        else api_admin(s, c, q, rt, body, len, r);
        break;
    case FW_ROUTE_ADMIN_ROLLOUT_RESTART: {
        if (!token_ok(s, c)) {
            fw__reply_error(r, 401, "unauthorized", s->admin_token && *s->admin_token
                                ? "admin endpoints need 'Authorization: Bearer <token>'"
                                : "admin endpoints are disabled: set serving.admin_token or FLYWHEEL_ADMIN_TOKEN");
            break;
        }
        char who[160], origin[128];
        snprintf(who, sizeof who, "the admin endpoint (%s)", feedback_origin(c, r, origin, sizeof origin));
        int rc = fw_rollout_restart(s->rollout, rt->name, who, &r->body);
        if (rc == 0) r->code = 200;
        else if (rc == 1) fw__reply_error(r, 404, "no_rollout", "model '%s' has no canary rollout (serving.splits with steps)", rt->name);
        else fw__reply_error(r, 409, "rollout_running", "the rollout of model '%s' is running: only a rolled-back or complete one restarts", rt->name);
        break;
    }
    default: fw__reply_error(r, 404, "not_found", "no route for %s %s", method, url);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ptr) {
    fw_server *s = cls;
    conn_req *q = *ptr;
    if (!q) {
        q = req_get();
        if (!q) return MHD_NO;
        q->t0 = fw_now_ns();
        *ptr = q;
        atomic_fetch_add(&s->inflight, 1);
        head_scan h;
        {
            fw_reply r = {0};
            fw_buf_init(&r.body);
            const char *preflight = NULL;
            if (refuse_early(s, c, q, method, url, version, &h, &r, &preflight)) {
                q->answered = true;
                conn_phase(c, CONN_ANSWERING);
                if (preflight) {
                    fw_buf_free(&r.body);
                    return send_preflight(c, fw_mhd.lookup_connection_value(c, MHD_HEADER_KIND, "Origin"), preflight);
                }
                fw_metrics_request(s->global, 0, r.code, fw_now_ns() - q->t0);
                return send_reply(s, c, &r, NULL);
            }
        }
        const char *cl = h.cl; /* all equal when given more than once: refuse_early checked */
        unsigned long long cl_n = h.cl_n;
        /* the whole body in one allocation (kept with the record for the next request) */
        if (cl_n && cl_n <= s->cfg->max_body_bytes && cl_n > q->body.cap)
            (void)FW_GROW(&q->body.data, &q->body.cap, (size_t)cl_n);
        if (cl && cl_n > s->cfg->max_body_bytes) {
            fw_reply r = {0};
            fw_buf_init(&r.body);
            fw__reply_error(&r, 413, "payload_too_large", "request body of %s bytes exceeds serving.max_body_bytes = %zu",
                            cl, s->cfg->max_body_bytes);
            fw_metrics_request(s->global, 0, 413, fw_now_ns() - q->t0);
            q->answered = true;
            conn_phase(c, CONN_ANSWERING);
            return send_reply(s, c, &r, NULL);
        }
        return MHD_YES;
    }
    if (q->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!q->too_big) {
            if (q->body.len + *upload_size > s->cfg->max_body_bytes) {
                q->too_big = true;
                fw_buf_free(&q->body);
                /* a chunked body has no length to refuse up front, and libmicrohttpd 0.9.75 cannot
                 * queue a reply in the middle of a body: close the connection now rather than read
                 * on for as long as the client likes */
                fw_metrics_request(s->global, 0, 413, fw_now_ns() - q->t0);
                q->answered = true;
                return MHD_NO;
            } else {
                fw_buf_put(&q->body, upload, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    conn_phase(c, CONN_ANSWERING);
    fw_reply r = {0};
    /* the record's reply buffer (send_reply gives it back); a new one is made 1 KiB at once, one
     * allocation for a typical reply instead of a doubling series */
    r.body = q->reply;
    fw_buf_init(&q->reply);
    r.body.len = 0;
    r.body.oom = false;
    if (r.body.cap < 1024) (void)FW_GROW(&r.body.data, &r.body.cap, 1024);
    if (q->too_big) {
        fw__reply_error(&r, 413, "payload_too_large", "request body exceeds serving.max_body_bytes = %zu",
                        s->cfg->max_body_bytes);
    } else if (!fw_buf_ok(&q->body)) {
        fw__reply_error(&r, 500, "FW_ENOMEM", "out of memory reading the request body");
    } else if (q->body.len && memchr(q->body.data, 0, q->body.len)) {
        /* JSON text never holds a raw NUL byte; jansson would read past it as if it were not there */
        char msg[120];
        snprintf(msg, sizeof msg, "malformed JSON: a NUL byte at offset %zu",
                 (size_t)((const uint8_t *)memchr(q->body.data, 0, q->body.len) - q->body.data));
        refuse(&r, url, 400, "bad_json", msg);
    } else {
        r.max_bytes = s->cfg->max_reply_bytes;
        r.auth_role = q->auth_role;
        dispatch(s, c, q, method, url, (const char *)q->body.data, q->body.len, &r);
        if (r.suspended) { /* an admin job, feedback or a canary: MHD calls us again once it is resumed */
            q->reply = r.body; /* kept for the reply then */
            return MHD_YES;
        }
        fw__reply_too_large(&r);
    }
    uint64_t lat = fw_now_ns() - q->t0;
    fw_metrics_request(r.metrics ? r.metrics : s->global, r.metrics ? r.variant : 0, r.code, lat);
    if (r.ro) /* a canary rollout's request: counted against the arm it was routed to */
        fw_rollout_observe(r.ro, r.ro_arm, r.ro_failed || r.code >= 500, lat,
                           r.hold ? fw_reqid_model_code(&s->idkey, r.hold->name, r.hold->version) : 0);
    fw_srv_model_unref(r.hold);
    q->answered = true;
    return send_reply(s, c, &r, &q->reply);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ptr, enum MHD_RequestTerminationCode toe) {
    fw_server *s = cls;
    conn_req *q = *ptr;
    conn_phase(c, CONN_IDLE);
    if (!q) return;
    *ptr = NULL;
    if (q->job) { /* closed before the admin reply was built */
        pthread_mutex_lock(&s->admin_mu);
        unlink_waiter(s, q);
        pthread_mutex_unlock(&s->admin_mu);
        fw_model_job_release(q->job);
        q->job = NULL;
    }
    if (q->canary) { /* closed while its canary ran */
        fw_canary_abandon(s->canary, q->canary);
        q->canary = NULL;
    }
    fw__feedback_wait_release(&q->fb);
    req_put(q, atomic_load_explicit(&s->draining, memory_order_relaxed));
    atomic_fetch_sub(&s->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    fprintf(stderr, "flywheel serve: http: ");
    vfprintf(stderr, fmt, ap);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

/* Every 50 ms: answers admin requests whose wait expired; every alias_poll_s (when > 0), or at once
 * when the store announces an alias move made elsewhere (store.h fw_store_watch: PostgreSQL's
 * LISTEN/NOTIFY; the poll stays the backstop for a lost notification): queues a reload for the
 * loader thread (not while the previous one is still running: a move seen meanwhile waits for it). */
static void *poll_main(void *arg) {
    fw_server *s = arg;
    pthread_setname_np(pthread_self(), "fw-alias-poll");
    double waited = 0, watch_retry_s = 0;
    fw_store_watch *watch = NULL;
    bool watchable = !s->cfg->models_dir, moved = false;
    while (!atomic_load(&s->stop_poll)) {
        if (watchable && !watch && watch_retry_s <= 0) {
            fw_err e;
            fw_status st = fw_store_watch_open(s->cfg->store_path, &watch, &e);
            if (st == FW_EUNSUPPORTED) watchable = false; /* SQLite: the poll only */
            else if (st) watch_retry_s = 5;
        }
        int r = watch ? fw_store_watch_wait(watch, 50) : 0;
        if (r < 0) { /* the store went away: the poll carries on; listen again in 5 s */
            fw_store_watch_close(watch);
            watch = NULL;
            watch_retry_s = 5;
        }
        if (!watch) {
            struct timespec ts = {0, 50 * 1000000};
            nanosleep(&ts, NULL);
            watch_retry_s -= 0.05;
        }
        moved = moved || r == 1;
        resume_expired(s, false);
        reap_connections(s);
        waited += 0.05;
        if (!moved && (s->cfg->alias_poll_s <= 0 || waited < s->cfg->alias_poll_s)) continue;
        waited = 0;
        if (s->poll_job && !fw_model_job_done(s->poll_job)) continue;
        moved = false;
        fw_model_job_release(s->poll_job);
        s->poll_job = NULL;
        fw_err err;
        if (fw_model_table_submit(s->models, FW_MODEL_JOB_RELOAD, NULL, NULL, NULL, NULL, NULL, &s->poll_job, &err))
            s->poll_job = NULL;
    }
    fw_model_job_release(s->poll_job);
    s->poll_job = NULL;
    fw_store_watch_close(watch);
    return NULL;
}

/* The home's request-id keys (request_id.h): read through the store, created there once per home,
 * so a restarted server and every replica on the same home check each other's ids (feedback naming
 * only an id is checked against the classes of the model that answered). A server from a models
 * directory has no home and keeps its per-process keys: only it checks its own ids. A store that
 * cannot give the key (a home this process may only read, where none was made yet) leaves the
 * per-process keys, said on stderr: ids still work, older ones go unchecked as with a directory. */
static void share_request_id_key(fw_server *s) {
    fw_store *store = NULL;
    fw_err err;
    fw_err_clear(&err);
    unsigned char key[FW_REQID_SHARED_KEY_LEN];
    fw_status st = fw_store_open(s->cfg->store_path, &store, &err);
    if (st == FW_OK) st = fw_store_secret(store, "request_id_key", key, sizeof key, &err);
    if (st == FW_OK) fw_reqid_key_share(&s->idkey, key);
    else fprintf(stderr, "flywheel serve: %s; request ids are checked by this process only\n", err.msg);
    fw_store_close(store);
    memset(key, 0, sizeof key);
}

fw_status fw_server_new(const fw_serve_config *cfg, fw_server **out, fw_err *err) {
    json_set_alloc_funcs(fw_malloc, fw_free);
    fw_server *s = fw_calloc(1, sizeof *s);
    if (!s) return fw_err_set(err, FW_ENOMEM, "out of memory");
    s->cfg = cfg;
    pthread_mutex_init(&s->admin_mu, NULL);
    pthread_mutex_init(&s->fault_mu, NULL);
    pthread_cond_init(&s->fault_cv, NULL);
    s->start_ns = fw_now_ns();
    s->boot = (uint32_t)fw_hash64(&s->start_ns, sizeof s->start_ns, (uint64_t)getpid() ^ (uint64_t)time(NULL));
    fw_reqid_key_init(&s->idkey);
    s->admin_token = cfg->admin_token ? cfg->admin_token : getenv("FLYWHEEL_ADMIN_TOKEN");
    const char *role_cfg[3] = {cfg->predict_token, cfg->rank_token, cfg->feedback_token};
    static const char *const role_env[3] = {"FLYWHEEL_PREDICT_TOKEN", "FLYWHEEL_RANK_TOKEN", "FLYWHEEL_FEEDBACK_TOKEN"};
    for (int i = 0; i < 3; i++) {
        s->role_token[i] = role_cfg[i] ? role_cfg[i] : getenv(role_env[i]);
        if (s->role_token[i] && !*s->role_token[i]) s->role_token[i] = NULL;
    }
    pthread_mutex_init(&s->conn_mu, NULL);
    pthread_mutex_init(&s->idc_mu, NULL);
    pthread_mutex_init(&s->ready_mu, NULL);
    s->threads = cfg->threads > 0 ? cfg->threads : fw_default_threads();
    const char *slow = FW_TEST_ENV("FLYWHEEL_SERVE_SLOW_DECODE"); /* test builds only */
    s->slow_decode = slow && *slow && strcmp(slow, "0") != 0;
    if (!(s->global = fw_srv_metrics_new())) {
        fw_free(s);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    fw_serve_source src;
    fw_status st;
    if (cfg->models_dir) st = fw_serve_source_dir(cfg->models_dir, &src, err);
    else st = fw_serve_source_store(cfg->store_path, &src, err); /* NULL: $FLYWHEEL_HOME or ./.flywheel */
    if (st == FW_OK) st = fw_model_table_new(&src, cfg->max_models, cfg->model_memory_bytes, &s->models, err);
    if (st == FW_OK) st = fw_srv_monitoring_new(cfg, &s->monitoring, err);
    if (st == FW_OK && s->monitoring) fw_model_table_set_on_load(s->models, fw_srv_monitoring_attach, s->monitoring);
    if (st == FW_OK && !cfg->models_dir) share_request_id_key(s);
    /* the prediction log: a JSON-lines file when asked for, else the store when serving from it */
    if (st == FW_OK && (cfg->log_path || !cfg->models_dir)) {
        fw_log_sink sink;
        if (cfg->log_path) {
            st = fw_log_sink_file(cfg->log_path, &sink, err);
        } else {
            st = fw_log_sink_store_cache(cfg->store_path, cfg->log_cache_bytes, &s->feedback_matched,
                                         &s->feedback_unmatched, &sink, err);
            s->log_to_store = true;
            fw_log_retention ret = {cfg->log_retention_age_s, cfg->log_retention_rows, cfg->log_retention_bytes,
                                    cfg->log_retention_interval_s};
            if (st == FW_OK) fw_log_sink_store_retention(&sink, &ret);
            /* the store's cost off the request path: a disk spool ingested when the CPU is free */
            char dir[4200];
            if (st == FW_OK && cfg->log_spool_bytes > 0 && fw_log_sink_store_spool_dir(&sink, dir, sizeof dir)) {
                fw_log_sink spooled;
                fw_err serr;
                fw_err_clear(&serr);
                if (fw_log_sink_spool(dir, &sink, cfg->log_spool_bytes, cfg->log_ingest_batch, cfg->log_catch_up,
                                      &spooled, &serr) == FW_OK) {
                    sink = spooled;
                    fw_log_spool_direct(&sink, cfg->log_direct);
                }
                else
                    fprintf(stderr, "flywheel serve: %s; the prediction log writes the store directly\n", serr.msg);
            }
        }
        if (st == FW_OK) {
            st = fw_logq_new_bytes(&sink, cfg->log_capacity, cfg->log_queue_bytes, cfg->log_policy, cfg->log_sample,
                                   cfg->log_batch, &s->logq, err);
            if (st) sink.close(sink.ud);
            else fw_logq_set_flush_ms(s->logq, cfg->log_flush_ms);
            if (st == FW_OK && !(s->labels = fw_label_set_new())) st = fw_err_set(err, FW_ENOMEM, "out of memory");
        }
    }
    if (st == FW_OK) st = fw_srv_bandits_new(cfg, &s->bandits, err);
    if (st == FW_OK) st = fw_srv_learning_new(s, &s->learning, err);
    if (st == FW_OK && s->learning) fw_srv_monitoring_set_alarm_hook(s->monitoring, fw_srv_learning_alarm, s->learning);
    if (st == FW_OK) st = fw_rollout_new(cfg, &s->rollout, err);
    if (st == FW_OK) fw_rollout_set_resolver(s->rollout, rollout_resolve, s);
    bool any_shadow = false;
    for (size_t i = 0; i < cfg->n_splits; i++) any_shadow |= cfg->splits[i].kind == FW_SPLIT_SHADOW;
    if (st == FW_OK && any_shadow && s->logq) {
        const char *sq = FW_TEST_ENV("FLYWHEEL_TEST_SHADOW_QUEUE"); /* test builds: a small queue to fill */
        size_t cap = sq && atoi(sq) > 0 ? (size_t)atoi(sq) : FW_SHADOW_QUEUE_DEFAULT;
        st = fw_shadowq_new(s, cap, &s->shadowq, err);
    }
    const char *fault = FW_TEST_ENV("FLYWHEEL_TEST_CANARY_FAULT"); /* test builds only: a defective canary */
    if (fault && !strncmp(fault, "error=", 6)) s->fault_error_p = strtod(fault + 6, NULL);
    if (fault && !strncmp(fault, "delay_us=", 9)) s->fault_delay_us = (unsigned)strtoul(fault + 9, NULL, 10);
    if (fault && !strcmp(fault, "hang")) s->fault_hang = true;
    /* canary rollouts with timeout_ms: their canary runs on runner threads (canary_runner.h) */
    unsigned max_inflight = 0;
    bool isolated = false;
    for (size_t i = 0; i < cfg->n_splits; i++) {
        const fw_serve_rollout *ro = cfg->splits[i].rollout;
        if (cfg->splits[i].kind != FW_SPLIT_CANARY || !ro || !(ro->timeout_ms > 0)) continue;
        isolated = true;
        unsigned m = ro->max_inflight ? (unsigned)ro->max_inflight : 4u * (unsigned)s->threads;
        if (m > max_inflight) max_inflight = m;
    }
    if (st == FW_OK && isolated && s->rollout)
        st = fw_canary_runner_new(s, (unsigned)(s->threads > 2 ? s->threads : 2), max_inflight, &s->canary, err);
    if (st == FW_OK && cfg->batch_max_age_s > 0 && !cfg->models_dir)
        st = fw_hybrid_new(cfg->store_path, cfg->batch_max_age_s, cfg->batch_cache_ttl_s, &s->hybrid, err);
    if (st) {
        fw_server_free(s);
        return st;
    }
    *out = s;
    return FW_OK;
}

/* Reads a whole PEM file into a NUL-terminated string (fw_free). */
static fw_status read_pem(const char *path, const char *key, char **out, fw_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return fw_err_set(err, FW_ECONFIG, "%s: cannot open '%s': %s", key, path, strerror(errno));
    fw_buf b;
    fw_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && b.len < (1u << 20)) fw_buf_put(&b, tmp, n);
    fclose(f);
    fw_buf_put_u8(&b, 0);
    if (!fw_buf_ok(&b)) {
        fw_buf_free(&b);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    if (!strstr((const char *)b.data, "-----BEGIN ")) {
        fw_buf_free(&b);
        return fw_err_set(err, FW_ECONFIG, "%s: '%s' is not a PEM file", key, path);
    }
    size_t len;
    *out = (char *)fw_buf_take(&b, &len);
    return FW_OK;
}

/* One libmicrohttpd daemon on addr (serving.listeners: the shared one, or one of per_thread's).
 * SO_REUSEPORT only when reuse_port: the option given 0 would drop the library's default
 * SO_REUSEADDR (a restart could not bind while old connections sit in TIME_WAIT), so without it
 * the backlog option is repeated in its place. */
static struct MHD_Daemon *start_listener(fw_server *s, unsigned flags, uint16_t port, struct sockaddr_in *addr,
                                         bool reuse_port, unsigned pool, unsigned limit, size_t conn_mem) {
    return fw_mhd.start_daemon(flags, port, NULL, NULL, on_request, s,
                               reuse_port ? MHD_OPTION_LISTENING_ADDRESS_REUSE : MHD_OPTION_LISTEN_BACKLOG_SIZE,
                               reuse_port ? 1u : 1024u,
                               MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)addr,
                               MHD_OPTION_THREAD_POOL_SIZE, pool,
                               MHD_OPTION_CONNECTION_LIMIT, limit,
                               MHD_OPTION_CONNECTION_TIMEOUT, s->cfg->conn_timeout_s,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                               MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, conn_mem,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                               MHD_OPTION_URI_LOG_CALLBACK, on_request_line, s,
                               s->tls_cert_pem ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, s->tls_cert_pem,
                               MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem,
                               MHD_OPTION_END);
}

fw_status fw_server_start(fw_server *s, fw_err *err) {
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)s->cfg->port);
    if (inet_pton(AF_INET, s->cfg->host, &addr.sin_addr) != 1)
        return fw_err_set(err, FW_ECONFIG, "serving.host: '%s' is not an IPv4 address", s->cfg->host);
    fw_status lst = fw_mhd_load(err);
    if (lst) return lst;
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_TURBO | MHD_USE_ITC | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME; /* admin requests wait for the loader thread suspended */
    /* HTTPS: libmicrohttpd's own TLS (GnuTLS) with the PEM certificate chain and key */
    if (!s->cfg->tls_cert != !s->cfg->tls_key)
        return fw_err_set(err, FW_ECONFIG, "serving.tls needs both 'cert' and 'key'");
    if (s->cfg->tls_cert) {
        if ((lst = read_pem(s->cfg->tls_cert, "serving.tls.cert", &s->tls_cert_pem, err)) ||
            (lst = read_pem(s->cfg->tls_key, "serving.tls.key", &s->tls_key_pem, err)))
            return lst;
        flags |= MHD_USE_TLS;
    }
    /* MHD's per-connection pool (request line and headers, read and write buffers; bodies are
     * copied out as they arrive). Its size is the request header limit: 16 KiB answers 16101 bytes
     * in one header on a bare GET (tests/serve/test_guard test_header_limit keeps it). libmicrohttpd
     * 0.9.75 (and 1.0) zeroes memory it did not use, whatever the options: at every request's end
     * the whole pool but the bytes of a pipelined next request (MHD_pool_reset), and when the reply
     * starts the unused part of the read buffer, half the pool (MHD_pool_reallocate shrinking it):
     * 1.5 x the pool a request, 24.5 KB at 16 KiB (its default 32 KiB: 48 KB). Only a smaller pool
     * zeroes less, and it takes smaller headers (8 KiB: 7.9 kB). FLYWHEEL_SERVE_CONN_MEMORY (bytes,
     * >= 4096) overrides it for measurements (test builds only: build/flywheel-test). */
    size_t conn_mem = 16 * 1024;
    const char *cm = FW_TEST_ENV("FLYWHEEL_SERVE_CONN_MEMORY");
    if (cm && strtoull(cm, NULL, 10) >= 4096) conn_mem = (size_t)strtoull(cm, NULL, 10);
    s->conn_mem = conn_mem;
    /* serving.listeners: shared — one listening socket, the pool's threads take connections from
     * it (a burst of new connections can all be accepted by one thread, which then serves them all
     * while the other idles: measured, wrk -c64 runs bimodal 44k / 72k req/s); per_thread — one
     * listener with its own thread per worker, on the same port with SO_REUSEPORT, so the kernel
     * spreads connections over the threads by their address hash. Each of those listeners takes
     * conn_limit / threads (rounded up) connections. */
    bool per_thread = s->cfg->listen_per_thread && s->threads > 1;
    s->n_listeners = per_thread ? s->threads : 1;
    s->listener_conns = fw_calloc((size_t)s->n_listeners, sizeof *s->listener_conns);
    s->more = per_thread ? fw_calloc((size_t)s->n_listeners, sizeof *s->more) : NULL;
    if (!s->listener_conns || (per_thread && !s->more)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    unsigned pool = per_thread ? 1u : (unsigned)s->threads;
    unsigned limit = per_thread ? (s->cfg->conn_limit + (unsigned)s->threads - 1) / (unsigned)s->threads
                                : s->cfg->conn_limit;
    s->d = start_listener(s, flags, (uint16_t)s->cfg->port, &addr, per_thread, pool, limit, conn_mem);
    if (!s->d)
        return fw_err_set(err, FW_EIO, "cannot listen on %s:%d%s: %s", s->cfg->host, s->cfg->port,
                          s->tls_cert_pem ? " with TLS (is the key the certificate's?)" : "", strerror(errno));
    const union MHD_DaemonInfo *info = fw_mhd.get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : s->cfg->port;
    addr.sin_port = htons((uint16_t)s->port); /* port 0: the others bind the port the first got */
    for (int i = 1; i < s->n_listeners; i++) {
        s->more[i] = start_listener(s, flags, (uint16_t)s->port, &addr, true, 1u, limit, conn_mem);
        if (!s->more[i]) {
            fw_status e = fw_err_set(err, FW_EIO, "cannot open listener %d of %d on %s:%d (serving.listeners: per_thread): %s",
                                     i + 1, s->n_listeners, s->cfg->host, s->port, strerror(errno));
            for (int j = 1; j < i; j++) fw_mhd.stop_daemon(s->more[j]);
            fw_mhd.stop_daemon(s->d);
            s->d = NULL;
            return e;
        }
    }
    /* preload: configured routes, then every model with a production alias */
    for (size_t i = 0; i < s->cfg->n_models; i++) {
        fw_srv_model *m;
        fw_err e2;
        if (acquire_ref(s, s->cfg->models[i], fw_now_ns(), &m, &e2) == FW_OK) fw_srv_model_unref(m);
        else fprintf(stderr, "flywheel serve: preload %s: %s\n", s->cfg->models[i], e2.msg);
    }
    char **names = NULL;
    size_t n = 0;
    fw_err e3;
    if (fw_model_table_list(s->models, "production", &names, &n, &e3) == FW_OK) {
        for (size_t i = 0; i < n; i++) {
            fw_srv_model *m;
            if (fw_model_table_acquire(s->models, names[i], "production", NULL, fw_now_ns(), &m, &e3) == FW_OK)
                fw_srv_model_unref(m);
            fw_free(names[i]);
        }
        fw_free(names);
    }
    if (pthread_create(&s->poller, NULL, poll_main, s) == 0) s->poller_started = true;
    atomic_store(&s->ready, true);
    return FW_OK;
}

int fw_server_port(const fw_server *s) { return s->port; }

fw_status fw_server_reload(fw_server *s, fw_err *err) { return fw_model_table_refresh(s->models, NULL, err); }

void fw_server_drain(fw_server *s) {
    if (!s || atomic_exchange(&s->stopped, true)) return;
    atomic_store(&s->draining, true);
    atomic_store(&s->ready, false);
    fault_release(s); /* test builds: a hung canary or shadow returns now */
    if (s->d) {
        /* No MHD_quiesce_daemon here: on an epoll daemon with its own thread it races with that
         * thread's removal of the listen socket from the epoll set, and libmicrohttpd aborts the
         * process ("Failed to remove listen FD from epoll set", an open libmicrohttpd defect; seen
         * in tests/serve/test_monitor_live under ASan). Readiness is already false, so a load
         * balancer stops sending; a connection that still arrives is answered, with
         * "Connection: close", until the daemon stops below. drain_delay_s: go on answering that
         * long first, so the balancer's health checks see the 503 and take this replica out of
         * rotation while its listener still accepts (requests sent meanwhile are answered, and
         * its idle keep-alive connections are closed one answer at a time, never under a request
         * in flight). */
        uint64_t until = fw_now_ns() + (uint64_t)(s->cfg->drain_delay_s * 1e9);
        while (fw_now_ns() < until) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        uint64_t deadline = fw_now_ns() + (uint64_t)(s->cfg->drain_timeout_s * 1e9);
        while (atomic_load(&s->inflight) > 0 && fw_now_ns() < deadline) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        /* admin requests still waiting for a job answer 202 now, requests waiting for a canary
         * are answered by the champion (MHD must not stop with a suspended connection); give them
         * a moment to be written */
        resume_expired(s, true);
        fw_canary_runner_close(s->canary);
        uint64_t grace = fw_now_ns() + 500000000ull;
        while (atomic_load(&s->inflight) > 0 && fw_now_ns() < grace) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        fw_mhd.stop_daemon(s->d);
        s->d = NULL;
        for (int i = 1; i < s->n_listeners; i++)
            if (s->more[i]) fw_mhd.stop_daemon(s->more[i]);
    }
    /* no connection is left to resume: stop the canary runners before the log and the models
     * they use */
    fw_canary_runner_free(s->canary);
    s->canary = NULL;
    if (s->poller_started) {
        atomic_store(&s->stop_poll, true);
        pthread_join(s->poller, NULL);
        s->poller_started = false;
    }
    /* no request is left to queue a shadow job; what is queued is scored (up to 2 s) before the log closes */
    fw_shadowq_free(s->shadowq, s->cfg->drain_timeout_s < 2 ? s->cfg->drain_timeout_s : 2);
    s->shadowq = NULL;
    fw_srv_monitoring_set_alarm_hook(s->monitoring, NULL, NULL); /* no request thread is left to raise one */
    fw_srv_learning_free(s->learning); /* before the model table it submits swaps to */
    s->learning = NULL;
    if (s->logq) {
        fw_logq_close(s->logq);
        s->logq = NULL;
    }
}

void fw_server_free(fw_server *s) {
    if (!s) return;
    fw_server_drain(s);
    fw_rollout_free(s->rollout); /* no request is left to count */
    pthread_mutex_lock(&s->idc_mu);
    idc_clear(s); /* its references, before the table that loaded them */
    pthread_mutex_unlock(&s->idc_mu);
    fw_model_table_free(s->models);
    fw_srv_monitoring_free(s->monitoring, s->cfg->drain_timeout_s); /* after the monitors it serves */
    fw_hybrid_free(s->hybrid);
    fw_srv_bandits_free(s->bandits);
    fw_label_set_free(s->labels);
    fw_free(s->global);
    pthread_mutex_destroy(&s->admin_mu);
    pthread_mutex_destroy(&s->fault_mu);
    pthread_cond_destroy(&s->fault_cv);
    pthread_mutex_destroy(&s->conn_mu);
    pthread_mutex_destroy(&s->idc_mu);
    for (size_t i = 0; i < s->n_ready_names; i++) fw_free(s->ready_names[i]);
    fw_free(s->ready_names);
    pthread_mutex_destroy(&s->ready_mu);
    fw_free(s->tls_cert_pem);
    fw_free(s->tls_key_pem);
    fw_free(s->more);
    fw_free((void *)s->listener_conns);
    fw_free(s);
}
