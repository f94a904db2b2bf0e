/* rollout.c — owns canary rollouts (rollout.h): per-split arm counters, the analysis thread, the
 * step / rollback decisions with their sequential tests, the audit records and the state's JSON and
 * Prometheus renderings. */
#include "serve/rollout.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/json_out.h"
#include "experiment/sequential.h"
#include "experiment/srm_seq.h"
#include "registry/registry.h"
#include "store/store.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { LAT_BUCKETS = 96, MAX_METRICS = 64, HISTORY = 32, JOIN_SLOTS = 65536 };
#define LAT_BASE_NS 1000.0 /* bucket i holds [1 us * 1.2^i, 1 us * 1.2^(i+1)) */
#define LAT_RATIO 1.2

enum { ST_RUNNING = 0, ST_COMPLETE, ST_ROLLED_BACK };
static const char *const k_state[] = {"running", "complete", "rolled_back"};

/* Counters one arm's requests bump (relaxed atomics). */
typedef struct arm_counts {
    atomic_ullong requests, errors;
    atomic_ullong lat[LAT_BUCKETS];
    _Atomic uint32_t code; /* model code of the version that last answered for this arm */
} arm_counts;

/* A plain copy of an arm's counters (and the metric sums), for baselines and deltas. */
typedef struct arm_snap {
    uint64_t requests, errors, lat[LAT_BUCKETS];
    uint64_t ev[MAX_METRICS];
    double sum[MAX_METRICS], sumsq[MAX_METRICS];
    uint64_t labels;           /* labelled requests (rollback.metric) */
    double loss, loss_sq;      /* their losses' sum and sum of squares */
} arm_snap;

/* One sequential guard's last reading. */
typedef struct guard {
    const char *name;
    fw_seq seq;
    double margin;
    int verdict; /* 0 undecided, 1 not worse (shown), -1 worse by more than the margin (shown) */
} guard;

typedef struct hist_entry {
    int64_t ts_ms;
    char what[16];
    double from, to;
    uint64_t canary_requests; /* the canary's requests counted when it was decided (all steps) */
    char reason[240];
} hist_entry;

struct fw_rollout_split {
    fw_rollout *ro;
    const fw_serve_split *sp;
    const fw_serve_rollout *pol;
    _Atomic uint32_t ppm;     /* the canary's share now (request path reads it) */
    atomic_bool tripped;      /* a canary request over the deadline: roll back at the next tick */
    atomic_ullong trip_ns;    /* that request's latency */
    atomic_ullong fallbacks;
    atomic_ullong timeouts, shed; /* canary requests the champion answered: too slow / too many at once */
    arm_counts arm[2];
    pthread_mutex_t mu;       /* below: feedback sums, the analysis state */
    uint64_t ev[2][MAX_METRICS];
    double sum[2][MAX_METRICS], sumsq[2][MAX_METRICS];
    uint64_t labels[2];
    double loss[2], loss_sq[2];
    _Atomic uint64_t *join;   /* rollback.metric: request answers waiting for labels (JOIN_SLOTS); NULL = off */
    int state;
    size_t step;
    uint64_t ticks, rollbacks;
    arm_snap base[2];         /* counters at the start of the step */
    arm_snap last[2];         /* deltas of the last tick */
    double lat_threshold_ns;  /* the step's p99 bar: champion p99 x (1 + rollback.p99); 0 = not set yet */
    guard g_err, g_lat, g_live;
    guard g_met[MAX_METRICS];
    fw_srm_seq srm;
    char reason[512];
    hist_entry hist[HISTORY];
    size_t n_hist;
    /* the canary alias (challenger model@ALIAS), watched through the server's resolver */
    bool alias_canary;
    char alias[FW_NAME_MAX + 1];
    bool seen;                /* the version behind it was read at least once */
    bool waiting;             /* it names no version: no analysis, no decision */
    char canary_version[64];  /* the version behind it now ("" none) */
    char champion_version[64];/* production's version when the rollout (re)started with it */
};

struct fw_rollout {
    const fw_serve_config *cfg;
    fw_rollout_split **by_split; /* cfg->n_splits entries, NULL where no rollout */
    size_t n;
    pthread_t thread;
    bool started;
    pthread_mutex_t wake_mu;
    pthread_cond_t wake;
    bool stop;
    _Atomic(fw_rollout_resolve_fn) resolve; /* fw_rollout_set_resolver */
    _Atomic(void *) resolve_ud;
};

int fw_rollout_lat_bucket(uint64_t ns) {
    if ((double)ns < LAT_BASE_NS * LAT_RATIO) return 0;
    int b = (int)(log((double)ns / LAT_BASE_NS) / log(LAT_RATIO));
    return b < 0 ? 0 : b >= LAT_BUCKETS ? LAT_BUCKETS - 1 : b;
}

static double bucket_lo(int b) { return LAT_BASE_NS * pow(LAT_RATIO, b); }

uint32_t fw_rollout_ppm(const fw_rollout_split *rs) { return atomic_load_explicit(&rs->ppm, memory_order_relaxed); }

void fw_rollout_observe(fw_rollout_split *rs, int arm, bool failed, uint64_t latency_ns, uint32_t model_code) {
    arm_counts *a = &rs->arm[arm ? 1 : 0];
    atomic_fetch_add_explicit(&a->requests, 1, memory_order_relaxed);
    if (failed) atomic_fetch_add_explicit(&a->errors, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&a->lat[fw_rollout_lat_bucket(latency_ns)], 1, memory_order_relaxed);
    if (!failed && model_code && atomic_load_explicit(&a->code, memory_order_relaxed) != model_code)
        atomic_store_explicit(&a->code, model_code, memory_order_relaxed);
    if (arm && rs->pol->deadline_ms > 0 && (double)latency_ns > rs->pol->deadline_ms * 1e6 &&
        !atomic_exchange(&rs->tripped, true)) {
        atomic_store(&rs->trip_ns, latency_ns);
        atomic_store_explicit(&rs->ppm, 0, memory_order_relaxed); /* now, not at the next tick */
        pthread_mutex_lock(&rs->ro->wake_mu);
        pthread_cond_signal(&rs->ro->wake);
        pthread_mutex_unlock(&rs->ro->wake_mu);
    }
}

void fw_rollout_fallback(fw_rollout_split *rs) { atomic_fetch_add_explicit(&rs->fallbacks, 1, memory_order_relaxed); }

void fw_rollout_isolated(fw_rollout_split *rs, bool timed_out) {
    atomic_fetch_add_explicit(timed_out ? &rs->timeouts : &rs->shed, 1, memory_order_relaxed);
}

fw_rollout_split *fw_rollout_for(fw_rollout *ro, size_t i) {
    return ro && i < ro->n ? ro->by_split[i] : NULL;
}

void fw_rollout_feedback(fw_rollout *ro, uint32_t code, const char *event, double value) {
    if (!ro || !code || !event) return;
    if (!isfinite(value)) value = 1; /* an event without a value counts as 1 */
    for (size_t i = 0; i < ro->n; i++) {
        fw_rollout_split *rs = ro->by_split[i];
        if (!rs) continue;
        for (int a = 0; a < 2; a++) {
            if (atomic_load_explicit(&rs->arm[a].code, memory_order_relaxed) != code) continue;
            pthread_mutex_lock(&rs->mu);
            for (size_t m = 0; m < rs->pol->n_metrics; m++) {
                if (strcmp(rs->pol->metrics[m].event, event)) continue;
                rs->ev[a][m]++;
                rs->sum[a][m] += value;
                rs->sumsq[a][m] += value * value;
            }
            pthread_mutex_unlock(&rs->mu);
            break;
        }
    }
}

/* A join slot: tag (30 bits of the request id's hash, never 0) | is_class | arm | 32-bit payload
 * (a class name's hash, or a regressor's answer as a float). */
static uint64_t rid_hash(const char *rid) { return fw_hash64(rid, strlen(rid), 0x1ab3); }

void fw_rollout_prediction(fw_rollout_split *rs, int arm, const char *rid, bool is_class, const char *answer,
                           double value) {
    if (!rs || !rs->join || (is_class && !answer) || (!is_class && !isfinite(value))) return;
    uint64_t h = rid_hash(rid);
    uint32_t payload;
    if (is_class) {
        payload = (uint32_t)fw_hash64(answer, strlen(answer), 7);
    } else {
        float f = (float)value;
        memcpy(&payload, &f, sizeof payload);
    }
    uint64_t tag = ((h >> 34) | 1) << 34;
    uint64_t rec = tag | (uint64_t)is_class << 33 | (uint64_t)(arm ? 1 : 0) << 32 | payload;
    atomic_store_explicit(&rs->join[h & (JOIN_SLOTS - 1)], rec, memory_order_relaxed);
}

void fw_rollout_label(fw_rollout *ro, const char *rid, const char *text, bool is_number, double num) {
    if (!ro || !rid) return;
    uint64_t h = rid_hash(rid), tag = ((h >> 34) | 1) << 34;
    for (size_t i = 0; i < ro->n; i++) {
        fw_rollout_split *rs = ro->by_split[i];
        if (!rs || !rs->join) continue;
        _Atomic uint64_t *slot = &rs->join[h & (JOIN_SLOTS - 1)];
        uint64_t rec = atomic_load_explicit(slot, memory_order_relaxed);
        if ((rec & ~(((uint64_t)1 << 34) - 1)) != tag) continue;
        if (!atomic_compare_exchange_strong(slot, &rec, 0)) continue; /* the first label counts, once */
        bool is_class = (rec >> 33) & 1;
        int arm = (int)((rec >> 32) & 1);
        uint32_t payload = (uint32_t)rec;
        double loss;
        if (is_class) {
            if (!text) continue;
            loss = (uint32_t)fw_hash64(text, strlen(text), 7) != payload;
        } else {
            float f;
            memcpy(&f, &payload, sizeof f);
            if (!is_number || !isfinite(num)) continue;
            loss = fabs(num - (double)f);
        }
        pthread_mutex_lock(&rs->mu);
        rs->labels[arm]++;
        rs->loss[arm] += loss;
        rs->loss_sq[arm] += loss * loss;
        pthread_mutex_unlock(&rs->mu);
    }
}

/* ---- the analysis --------------------------------------------------------------------------- */

static void snap(fw_rollout_split *rs, int a, arm_snap *o) {
    arm_counts *c = &rs->arm[a];
    o->requests = atomic_load(&c->requests);
    o->errors = atomic_load(&c->errors);
    for (int b = 0; b < LAT_BUCKETS; b++) o->lat[b] = atomic_load(&c->lat[b]);
    for (size_t m = 0; m < rs->pol->n_metrics; m++) {
        o->ev[m] = rs->ev[a][m];
        o->sum[m] = rs->sum[a][m];
        o->sumsq[m] = rs->sumsq[a][m];
    }
    o->labels = rs->labels[a];
    o->loss = rs->loss[a];
    o->loss_sq = rs->loss_sq[a];
}

static void start_step(fw_rollout_split *rs) {
    const fw_serve_rollout *p = rs->pol;
    for (int a = 0; a < 2; a++) snap(rs, a, &rs->base[a]);
    memset(rs->last, 0, sizeof rs->last);
    rs->lat_threshold_ns = 0;
    fw_seq_init(&rs->g_err.seq, p->alpha, fmax(p->max_errors, 0.002), 0);
    rs->g_err = (guard){"errors", rs->g_err.seq, p->max_errors, 0};
    fw_seq_init(&rs->g_lat.seq, p->alpha, 0.01, 0);
    rs->g_lat = (guard){"p99_latency", rs->g_lat.seq, 0, 0};
    fw_seq_init(&rs->g_live.seq, p->alpha, fmax(p->max_metric, 0.01), 0);
    rs->g_live = (guard){"live_metric", rs->g_live.seq, p->max_metric, 0};
    for (size_t m = 0; m < p->n_metrics; m++) {
        fw_seq_init(&rs->g_met[m].seq, p->alpha, p->metrics[m].min_effect, 0);
        rs->g_met[m].name = p->metrics[m].name;
        rs->g_met[m].margin = p->metrics[m].margin;
        rs->g_met[m].verdict = 0;
    }
    double share = p->steps[rs->step] / 100.0;
    double p0[2] = {1 - share, share};
    if (share >= 1) p0[0] = 1e-9; /* no champion traffic at 100%: the test has nothing to compare */
    fw_srm_seq_init(&rs->srm, 2, p0, 0, p->srm_alpha);
}

static void history(fw_rollout_split *rs, const char *what, double from, double to, const char *reason) {
    if (rs->n_hist == HISTORY) {
        memmove(rs->hist, rs->hist + 1, (HISTORY - 1) * sizeof *rs->hist);
        rs->n_hist--;
    }
    hist_entry *h = &rs->hist[rs->n_hist++];
    h->ts_ms = fw_wall_unix_ms();
    snprintf(h->what, sizeof h->what, "%s", what);
    h->from = from;
    h->to = to;
    h->canary_requests = atomic_load(&rs->arm[FW_RO_CANARY].requests);
    snprintf(h->reason, sizeof h->reason, "%s", reason);
}

/* The decision into the store's audit log (when serving from a store) and on stderr. */
static void audit(fw_rollout_split *rs, const char *action, const char *reason) {
    fprintf(stderr, "flywheel serve: rollout %s -> %s: %s: %s\n", rs->sp->model, rs->sp->challenger, action, reason);
    const fw_serve_config *cfg = rs->ro->cfg;
    if (cfg->models_dir) return;
    fw_store *st = NULL;
    fw_err err;
    fw_err_clear(&err);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "flywheel serve (canary %s)", rs->sp->challenger);
    fw_audit_rec a = {.ts_ms = fw_wall_unix_ms(), .name = (char *)rs->sp->model, .action = (char *)action,
                      .version = rs->alias_canary ? strtoll(rs->canary_version, NULL, 10) : 0,
                      .reason = (char *)reason, .command = cmd, .user = (char *)"flywheel-serve", .pid = (int64_t)getpid()};
    if (fw_store_open(cfg->store_path, &st, &err) || fw_store_begin(st, true, &err) ||
        fw_store_audit_append(st, &a, &err) || fw_store_commit(st, &err))
        fprintf(stderr, "flywheel serve: rollout %s: audit not written: %s\n", rs->sp->model, err.msg);
    fw_store_close(st);
}

static void rollback(fw_rollout_split *rs, const char *why) {
    double from = rs->pol->steps[rs->step];
    atomic_store(&rs->ppm, 0);
    rs->state = ST_ROLLED_BACK;
    rs->rollbacks++;
    snprintf(rs->reason, sizeof rs->reason, "%s", why);
    history(rs, "rollback", from, 0, why);
    audit(rs, "canary_rollback", why);
}

/* The gate's evidence of the retrain that handed version v to the canary alias: the JSON object of
 * the last audited move of the alias to v whose reason is "gate: {...}" (a malloc'd string), or
 * NULL when v came to the alias another way (a manual canary: production stays) or a rollout rolled
 * v back since it was handed over (say before a server restart: a rolled-back challenger never
 * becomes production). */
static char *handoff_evidence(fw_store *st, const char *model, const char *alias, int64_t v) {
    fw_audit_rec *a = NULL;
    size_t n = 0;
    fw_err err;
    if (fw_store_audit_list(st, model, &a, &n, &err)) return NULL;
    char *out = NULL;
    for (size_t i = n; i-- > 0;) {
        if (a[i].action && !strcmp(a[i].action, "canary_rollback") && a[i].version == v) break;
        if (!a[i].action || strcmp(a[i].action, "promote") || !a[i].alias || strcmp(a[i].alias, alias)) continue;
        if (a[i].to_version != v) break; /* the alias moved elsewhere since */
        if (a[i].reason && !strncmp(a[i].reason, "gate: ", 6)) {
            json_error_t je;
            json_t *j = json_loads(a[i].reason + 6, JSON_DISABLE_EOF_CHECK, &je);
            char *d = json_is_object(j) ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
            if (d) {
                json_malloc_t jm;
                json_free_t jf; /* the server installs fw_malloc/fw_free: free with jansson's own */
                json_get_alloc_funcs(&jm, &jf);
                out = fw_strdup(d);
                jf(d);
            }
            json_decref(j);
        }
        break;
    }
    fw_audit_recs_free(a, n);
    return out;
}

/* A rollout whose canary was handed over by a retrain's gate completed: production moves to the
 * canary's version (docs/LEARNING.md "Promotion through a canary"), audited as a promotion with the
 * gate's evidence and the canary's, unless production moved since the rollout started with it. */
static void promote_complete(fw_rollout_split *rs, const char *why) {
    const fw_serve_config *cfg = rs->ro->cfg;
    if (cfg->models_dir || !rs->alias_canary || !rs->canary_version[0]) return;
    int64_t v = strtoll(rs->canary_version, NULL, 10);
    if (v <= 0 || !strcmp(rs->canary_version, rs->champion_version)) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "flywheel serve (canary %s)", rs->sp->challenger);
    fw_registry_options o;
    fw_registry_options_init(&o);
    o.home = cfg->store_path;
    o.command = cmd;
    o.user = "flywheel-serve";
    fw_registry *reg = NULL;
    fw_err err;
    fw_err_clear(&err);
    char note[600] = "";
    if (fw_registry_open(&o, &reg, &err) == FW_OK) {
        char *ev = handoff_evidence(fw_registry_store(reg), rs->sp->model, rs->alias, v);
        if (ev) {
            char ref[300], reason[700];
            snprintf(ref, sizeof ref, "%s@%" PRId64, rs->sp->model, v);
            snprintf(reason, sizeof reason, "canary_complete: %s@%s (%s@%" PRId64 ") %.500s", rs->sp->model, rs->alias,
                     rs->sp->model, v, why);
            fw_promote_options po;
            fw_promote_options_init(&po);
            po.gate_evidence = ev;
            po.reason = reason;
            po.expect_current = rs->champion_version[0] ? strtoll(rs->champion_version, NULL, 10) : 0;
            if (fw_registry_promote(reg, ref, &po, NULL, 0, &err) == FW_OK)
                snprintf(note, sizeof note, "; production moved to %s", ref);
            else
                snprintf(note, sizeof note, "; production not moved: %.400s", err.msg);
            fw_free(ev);
        }
        fw_registry_close(reg);
    } else {
        snprintf(note, sizeof note, "; production not moved: %.400s", err.msg);
    }
    if (!note[0]) return;
    fprintf(stderr, "flywheel serve: rollout %s -> %s: canary_complete%s\n", rs->sp->model, rs->sp->challenger, note);
    size_t l = strlen(rs->reason);
    snprintf(rs->reason + l, sizeof rs->reason - l, "%s", note);
}

/* A rate difference's look: canary - champion of x/n, sign = +1 when higher is worse. Rates of 0
 * or 1 get a variance as if half an event had been seen (else a clean arm gives no look). */
static void look_rate(guard *g, uint64_t xh, uint64_t nh, uint64_t xc, uint64_t nc, double sign) {
    if (!nh || !nc) return;
    double ph = (double)xh / (double)nh, pc = (double)xc / (double)nc;
    double vh = ((double)xh + 0.5) / ((double)nh + 1), vc = ((double)xc + 0.5) / ((double)nc + 1);
    fw_seq_look(&g->seq, sign * (pc - ph), vh * (1 - vh) / (double)nh + vc * (1 - vc) / (double)nc);
}

static void judge(guard *g) {
    if (!g->seq.looks) g->verdict = 0;
    else if (g->seq.lo > g->margin) g->verdict = -1;
    else if (g->seq.hi <= g->margin) g->verdict = 1;
    else g->verdict = 0;
}

static void analyse(fw_rollout_split *rs) {
    const fw_serve_rollout *p = rs->pol;
    rs->ticks++;
    if (atomic_load(&rs->tripped)) {
        char why[200];
        snprintf(why, sizeof why, "deadline: a canary request took %.1f ms, over deadline_ms = %g",
                 (double)atomic_load(&rs->trip_ns) * 1e-6, p->deadline_ms);
        rollback(rs, why);
        return;
    }
    arm_snap now[2];
    for (int a = 0; a < 2; a++) {
        snap(rs, a, &now[a]);
        arm_snap *d = &rs->last[a], *b = &rs->base[a];
        d->requests = now[a].requests - b->requests;
        d->errors = now[a].errors - b->errors;
        for (int k = 0; k < LAT_BUCKETS; k++) d->lat[k] = now[a].lat[k] - b->lat[k];
        for (size_t m = 0; m < p->n_metrics; m++) {
            d->ev[m] = now[a].ev[m] - b->ev[m];
            d->sum[m] = now[a].sum[m] - b->sum[m];
            d->sumsq[m] = now[a].sumsq[m] - b->sumsq[m];
        }
        d->labels = now[a].labels - b->labels;
        d->loss = now[a].loss - b->loss;
        d->loss_sq = now[a].loss_sq - b->loss_sq;
    }
    arm_snap *h = &rs->last[0], *c = &rs->last[1];
    if (p->steps[rs->step] >= 100) return; /* nothing to compare against */
    char why[512];
    /* 1. the split's ratio (sequential SRM test) */
    uint64_t counts[2] = {h->requests, c->requests};
    if (counts[0] + counts[1]) fw_srm_seq_set_counts(&rs->srm, counts);
    if (rs->srm.rejected) {
        snprintf(why, sizeof why, "srm: %llu champion / %llu canary requests at %g%%: sequential SRM p = %.3g <= %g",
                 (unsigned long long)h->requests, (unsigned long long)c->requests, p->steps[rs->step], rs->srm.p_value,
                 p->srm_alpha);
        rollback(rs, why);
        return;
    }
    /* 2. errors */
    look_rate(&rs->g_err, h->errors, h->requests, c->errors, c->requests, 1);
    judge(&rs->g_err);
    /* 3. p99 latency: the share of canary requests over the champion's p99 x (1 + margin), against 1% */
    if (rs->lat_threshold_ns == 0 && h->requests >= 100) {
        uint64_t want = h->requests - h->requests / 100, cum = 0;
        int b = 0;
        for (; b < LAT_BUCKETS - 1 && (cum += h->lat[b]) < want; b++) {}
        rs->lat_threshold_ns = bucket_lo(b + 1) * (1 + p->max_p99);
    }
    if (rs->lat_threshold_ns > 0 && c->requests) {
        uint64_t over = 0;
        for (int b = 0; b < LAT_BUCKETS; b++)
            if (bucket_lo(b) >= rs->lat_threshold_ns) over += c->lat[b];
        /* variance at the 1% boundary or above it, never 0 (every canary request over the bar) */
        double q = (double)over / (double)c->requests, qv = fmax(((double)over + 0.5) / ((double)c->requests + 1), 0.01);
        fw_seq_look(&rs->g_lat.seq, q - 0.01, qv * (1 - qv) / (double)c->requests);
    }
    judge(&rs->g_lat);
    /* 4. business metrics, per exposure */
    for (size_t m = 0; m < p->n_metrics; m++) {
        const fw_rollout_metric *mt = &p->metrics[m];
        guard *g = &rs->g_met[m];
        double sign = mt->higher_is_better ? -1 : 1;
        if (mt->kind == FW_ROLLOUT_RATE) {
            look_rate(g, h->ev[m], h->requests, c->ev[m], c->requests, sign);
        } else if (h->requests > 1 && c->requests > 1) {
            double nh = (double)h->requests, nc = (double)c->requests;
            double mh = h->sum[m] / nh, mc = c->sum[m] / nc;
            double vh = fmax(h->sumsq[m] / nh - mh * mh, 0) / nh, vc = fmax(c->sumsq[m] / nc - mc * mc, 0) / nc;
            fw_seq_look(&g->seq, sign * (mc - mh), vh + vc);
        }
        judge(g);
    }
    /* 5. the live model metric: mean loss per labelled request (lower is better) */
    if (p->live_metric && h->labels > 1 && c->labels > 1) {
        double nh = (double)h->labels, nc = (double)c->labels;
        double mh = h->loss / nh, mc = c->loss / nc;
        /* a loss of 0 on every label so far still gets a variance (half a unit loss seen) */
        double vh = fmax(h->loss_sq / nh - mh * mh, 0.25 / (nh + 1)) / nh;
        double vc = fmax(c->loss_sq / nc - mc * mc, 0.25 / (nc + 1)) / nc;
        fw_seq_look(&rs->g_live.seq, mc - mh, vh + vc);
    }
    if (p->live_metric) judge(&rs->g_live);
    /* rollback: any guard shown worse by more than its margin */
    guard *all[3 + MAX_METRICS];
    size_t ng = 0;
    all[ng++] = &rs->g_err;
    all[ng++] = &rs->g_lat;
    if (p->live_metric) all[ng++] = &rs->g_live;
    for (size_t m = 0; m < p->n_metrics; m++) all[ng++] = &rs->g_met[m];
    for (size_t i = 0; i < ng; i++) {
        guard *g = all[i];
        if (g->verdict >= 0) continue;
        if (g == &rs->g_lat)
            snprintf(why, sizeof why, "p99_latency: canary requests over %.3f ms (champion p99 x %g): %.4f, "
                     "always-valid interval [%.4f, %.4f] above 1%%; %llu canary / %llu champion requests at %g%%",
                     rs->lat_threshold_ns * 1e-6, 1 + p->max_p99, g->seq.estimate + 0.01, g->seq.lo + 0.01,
                     g->seq.hi + 0.01, (unsigned long long)c->requests, (unsigned long long)h->requests,
                     p->steps[rs->step]);
        else if (g == &rs->g_live)
            snprintf(why, sizeof why, "live_metric: canary loss %.4g vs champion %.4g per labelled request (%llu / %llu "
                     "labels); difference %.4g, always-valid interval [%.4g, %.4g] above the margin %g (p = %.3g) at %g%%",
                     c->labels ? c->loss / (double)c->labels : NAN, h->labels ? h->loss / (double)h->labels : NAN,
                     (unsigned long long)c->labels, (unsigned long long)h->labels, g->seq.estimate, g->seq.lo, g->seq.hi,
                     g->margin, g->seq.p_value, p->steps[rs->step]);
        else if (g == &rs->g_err)
            snprintf(why, sizeof why, "errors: canary %llu/%llu vs champion %llu/%llu; difference %.4f, always-valid "
                     "interval [%.4f, %.4f] above the margin %g (p = %.3g) at %g%%",
                     (unsigned long long)c->errors, (unsigned long long)c->requests, (unsigned long long)h->errors,
                     (unsigned long long)h->requests, g->seq.estimate, g->seq.lo, g->seq.hi, g->margin, g->seq.p_value,
                     p->steps[rs->step]);
        else
            snprintf(why, sizeof why, "%s: canary worse by %.4g per exposure, always-valid interval [%.4g, %.4g] "
                     "above the margin %g (p = %.3g); %llu canary / %llu champion requests at %g%%",
                     g->name, g->seq.estimate, g->seq.lo, g->seq.hi, g->margin, g->seq.p_value,
                     (unsigned long long)c->requests, (unsigned long long)h->requests, p->steps[rs->step]);
        rollback(rs, why);
        return;
    }
    /* advance: enough requests on both arms and every guard shown not worse */
    if (h->requests < p->min_requests || c->requests < p->min_requests) return;
    for (size_t i = 0; i < ng; i++)
        if (all[i]->verdict != 1) return;
    double from = p->steps[rs->step];
    rs->step++;
    double to = p->steps[rs->step];
    snprintf(why, sizeof why, "not worse at %g%%: %llu canary / %llu champion requests; errors difference "
             "interval [%.4f, %.4f] <= %g; every guard's always-valid interval under its margin",
             from, (unsigned long long)c->requests, (unsigned long long)h->requests, rs->g_err.seq.lo, rs->g_err.seq.hi,
             p->max_errors);
    atomic_store(&rs->ppm, (uint32_t)(to * 10000.0 + 0.5));
    history(rs, "advance", from, to, why);
    if (rs->step + 1 == p->n_steps) {
        rs->state = ST_COMPLETE;
        snprintf(rs->reason, sizeof rs->reason, "%s", why);
        audit(rs, "canary_complete", why);
        promote_complete(rs, why);
    } else {
        audit(rs, "canary_advance", why);
    }
    start_step(rs);
}

/* Starts rs again at its first step with fresh counters (rs->mu held): audited `canary_restart`. */
static void restart_locked(fw_rollout_split *rs, const char *why) {
    const fw_serve_rollout *p = rs->pol;
    double from = fw_rollout_ppm(rs) / 10000.0;
    rs->step = 0;
    rs->state = p->n_steps == 1 ? ST_COMPLETE : ST_RUNNING;
    atomic_store(&rs->tripped, false);
    atomic_store(&rs->ppm, (uint32_t)(p->steps[0] * 10000.0 + 0.5));
    start_step(rs);
    snprintf(rs->reason, sizeof rs->reason, "%s", why);
    history(rs, "restart", from, p->steps[0], why);
    audit(rs, "canary_restart", why);
}

int fw_rollout_restart(fw_rollout *ro, const char *model, const char *who, fw_buf *out) {
    fw_rollout_split *rs = NULL;
    for (size_t i = 0; ro && i < ro->n && !rs; i++)
        if (ro->by_split[i] && !strcmp(ro->by_split[i]->sp->model, model)) rs = ro->by_split[i];
    if (!rs) return 1;
    const fw_serve_rollout *p = rs->pol;
    pthread_mutex_lock(&rs->mu);
    if (rs->state == ST_RUNNING) {
        pthread_mutex_unlock(&rs->mu);
        return 2;
    }
    char why[512];
    snprintf(why, sizeof why, "restarted by %s at %g%% (was %s at step %zu: %.300s)", who, p->steps[0],
             k_state[rs->state], rs->step, rs->reason[0] ? rs->reason : "no reason recorded");
    restart_locked(rs, why);
    pthread_mutex_unlock(&rs->mu);
    fw_rollout_state_json(ro, model, out);
    return 0;
}

/* The version behind the canary alias is ver now and production's is prod (rs->mu held): the first
 * reading is taken as it is; another version starts the rollout again at its first step (the
 * champion it is compared with is production now); no version makes it wait. */
static void canary_watch(fw_rollout_split *rs, const char *ver, const char *prod) {
    if (rs->seen && !strcmp(ver, rs->canary_version)) return;
    char was[64];
    snprintf(was, sizeof was, "%s", rs->seen ? rs->canary_version : "");
    bool first = !rs->seen;
    rs->seen = true;
    snprintf(rs->canary_version, sizeof rs->canary_version, "%s", ver);
    snprintf(rs->champion_version, sizeof rs->champion_version, "%s", prod);
    rs->waiting = !ver[0];
    char why[512];
    if (rs->waiting) {
        snprintf(why, sizeof why, "waiting: the canary %s names no version", rs->sp->challenger);
        snprintf(rs->reason, sizeof rs->reason, "%s", why);
        if (!first) history(rs, "wait", fw_rollout_ppm(rs) / 10000.0, fw_rollout_ppm(rs) / 10000.0, why);
        return;
    }
    if (first) return; /* as the server started it */
    snprintf(why, sizeof why, "the canary %s now names version %s (was %s): started again at %g%% against "
             "production %s", rs->sp->challenger, ver, was[0] ? was : "none", rs->pol->steps[0], prod[0] ? prod : "(none)");
    restart_locked(rs, why);
}

void fw_rollout_set_resolver(fw_rollout *ro, fw_rollout_resolve_fn fn, void *ud) {
    if (!ro) return;
    atomic_store(&ro->resolve_ud, ud);
    atomic_store(&ro->resolve, fn);
}

int fw_rollout_canary_alias(const fw_serve_config *cfg, const char *model, char *alias, size_t cap) {
    for (size_t i = 0; cfg && model && i < cfg->n_splits; i++) {
        const fw_serve_split *sp = &cfg->splits[i];
        if (sp->kind != FW_SPLIT_CANARY || !sp->rollout || !sp->model || strcmp(sp->model, model) || !sp->challenger)
            continue;
        size_t n = strlen(model);
        if (!strncmp(sp->challenger, model, n) && sp->challenger[n] == '@') {
            snprintf(alias, cap, "%s", sp->challenger + n + 1);
            return 1;
        }
        snprintf(alias, cap, "%s", sp->challenger);
        return -1;
    }
    return 0;
}

void fw_rollout_tick(fw_rollout *ro) {
    if (!ro) return;
    fw_rollout_resolve_fn fn = atomic_load(&ro->resolve);
    void *ud = atomic_load(&ro->resolve_ud);
    for (size_t i = 0; i < ro->n; i++) {
        fw_rollout_split *rs = ro->by_split[i];
        if (!rs) continue;
        char ver[64] = "", prod[64] = "";
        bool watch = fn && rs->alias_canary;
        if (watch) { /* outside the lock: a resolve may load a model */
            char ref[FW_NAME_MAX + 16];
            if (!fn(ud, rs->sp->challenger, ver, sizeof ver)) ver[0] = 0;
            snprintf(ref, sizeof ref, "%s@%s", rs->sp->model, FW_ALIAS_PRODUCTION);
            if (!fn(ud, ref, prod, sizeof prod)) prod[0] = 0;
        }
        pthread_mutex_lock(&rs->mu);
        if (watch) canary_watch(rs, ver, prod);
        if (rs->state == ST_RUNNING && !rs->waiting) analyse(rs);
        pthread_mutex_unlock(&rs->mu);
    }
}

static void *tick_main(void *arg) {
    fw_rollout *ro = arg;
    double tick = 3600;
    for (size_t i = 0; i < ro->n; i++)
        if (ro->by_split[i] && ro->by_split[i]->pol->tick_s < tick) tick = ro->by_split[i]->pol->tick_s;
    pthread_mutex_lock(&ro->wake_mu);
    while (!ro->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double t = (double)ts.tv_sec + ts.tv_nsec * 1e-9 + tick;
        ts.tv_sec = (time_t)t;
        ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
        pthread_cond_timedwait(&ro->wake, &ro->wake_mu, &ts);
        if (ro->stop) break;
        pthread_mutex_unlock(&ro->wake_mu);
        fw_rollout_tick(ro);
        pthread_mutex_lock(&ro->wake_mu);
    }
    pthread_mutex_unlock(&ro->wake_mu);
    return NULL;
}

fw_status fw_rollout_new(const fw_serve_config *cfg, fw_rollout **out, fw_err *err) {
    *out = NULL;
    size_t n = 0;
    for (size_t i = 0; i < cfg->n_splits; i++) n += cfg->splits[i].rollout != NULL;
    if (!n) return FW_OK;
    fw_rollout *ro = fw_calloc(1, sizeof *ro);
    if (!ro || !(ro->by_split = fw_calloc(cfg->n_splits, sizeof *ro->by_split))) {
        fw_free(ro);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    ro->cfg = cfg;
    ro->n = cfg->n_splits;
    pthread_mutex_init(&ro->wake_mu, NULL);
    pthread_cond_init(&ro->wake, NULL);
    for (size_t i = 0; i < cfg->n_splits; i++) {
        const fw_serve_split *sp = &cfg->splits[i];
        if (!sp->rollout) continue;
        if (sp->rollout->n_metrics > MAX_METRICS) {
            fw_rollout_free(ro);
            return fw_err_set(err, FW_ECONFIG, "serving.splits: at most %d metrics per rollout", MAX_METRICS);
        }
        fw_rollout_split *rs = fw_calloc(1, sizeof *rs);
        if (!rs) {
            fw_rollout_free(ro);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        rs->ro = ro;
        rs->sp = sp;
        rs->pol = sp->rollout;
        if (sp->rollout->live_metric && !(rs->join = fw_calloc(JOIN_SLOTS, sizeof *rs->join))) {
            fw_free(rs);
            fw_rollout_free(ro);
            return fw_err_set(err, FW_ENOMEM, "out of memory");
        }
        size_t ml = strlen(sp->model);
        if (sp->challenger && !strncmp(sp->challenger, sp->model, ml) && sp->challenger[ml] == '@' &&
            strlen(sp->challenger + ml + 1) < sizeof rs->alias) {
            rs->alias_canary = true;
            snprintf(rs->alias, sizeof rs->alias, "%s", sp->challenger + ml + 1);
        }
        pthread_mutex_init(&rs->mu, NULL);
        atomic_store(&rs->ppm, (uint32_t)(sp->rollout->steps[0] * 10000.0 + 0.5));
        if (sp->rollout->n_steps == 1) rs->state = ST_COMPLETE;
        start_step(rs);
        ro->by_split[i] = rs;
    }
    if (pthread_create(&ro->thread, NULL, tick_main, ro) == 0) ro->started = true;
    *out = ro;
    return FW_OK;
}

void fw_rollout_free(fw_rollout *ro) {
    if (!ro) return;
    if (ro->started) {
        pthread_mutex_lock(&ro->wake_mu);
        ro->stop = true;
        pthread_cond_signal(&ro->wake);
        pthread_mutex_unlock(&ro->wake_mu);
        pthread_join(ro->thread, NULL);
    }
    for (size_t i = 0; i < ro->n; i++) {
        if (!ro->by_split[i]) continue;
        pthread_mutex_destroy(&ro->by_split[i]->mu);
        fw_free((void *)ro->by_split[i]->join);
        fw_free(ro->by_split[i]);
    }
    fw_free(ro->by_split);
    pthread_mutex_destroy(&ro->wake_mu);
    pthread_cond_destroy(&ro->wake);
    fw_free(ro);
}

/* ---- state ---------------------------------------------------------------------------------- */

static void put_num(fw_buf *b, double v) {
    if (isfinite(v)) fw_json_put_f64(b, v);
    else fw_buf_printf(b, "null");
}

static double p99_ms(const arm_snap *a) {
    if (!a->requests) return NAN;
    uint64_t want = a->requests - a->requests / 100, cum = 0;
    int b = 0;
    for (; b < LAT_BUCKETS - 1 && (cum += a->lat[b]) < want; b++) {}
    return bucket_lo(b + 1) * 1e-6;
}

static void put_guard(fw_buf *b, const guard *g, bool first) {
    static const char *const verdicts[] = {"worse", "undecided", "not_worse"};
    fw_buf_printf(b, "%s{\"name\":", first ? "" : ",");
    fw_json_put_str(b, g->name);
    fw_buf_printf(b, ",\"estimate\":");
    put_num(b, g->seq.looks ? g->seq.estimate : NAN);
    fw_buf_printf(b, ",\"interval\":[");
    put_num(b, g->seq.looks ? g->seq.lo : NAN);
    fw_buf_put_u8(b, ',');
    put_num(b, g->seq.looks ? g->seq.hi : NAN);
    fw_buf_printf(b, "],\"p_value\":");
    put_num(b, g->seq.p_value);
    fw_buf_printf(b, ",\"margin\":");
    put_num(b, g->margin);
    fw_buf_printf(b, ",\"looks\":%llu,\"verdict\":\"%s\"}", (unsigned long long)g->seq.looks, verdicts[g->verdict + 1]);
}

bool fw_rollout_state_json(fw_rollout *ro, const char *model, fw_buf *b) {
    if (!ro) return false;
    for (size_t i = 0; i < ro->n; i++) {
        fw_rollout_split *rs = ro->by_split[i];
        if (!rs || strcmp(rs->sp->model, model)) continue;
        const fw_serve_rollout *p = rs->pol;
        pthread_mutex_lock(&rs->mu);
        fw_buf_printf(b, "{\"model\":");
        fw_json_put_str(b, rs->sp->model);
        fw_buf_printf(b, ",\"canary\":");
        fw_json_put_str(b, rs->sp->challenger);
        fw_buf_printf(b, ",\"canary_version\":");
        if (rs->seen && rs->canary_version[0]) fw_json_put_str(b, rs->canary_version);
        else fw_buf_printf(b, "null");
        fw_buf_printf(b, ",\"waiting\":%s", rs->waiting ? "true" : "false");
        fw_buf_printf(b, ",\"state\":\"%s\",\"step\":%zu,\"steps\":[", k_state[rs->state], rs->step);
        for (size_t k = 0; k < p->n_steps; k++) {
            if (k) fw_buf_put_u8(b, ',');
            put_num(b, p->steps[k]);
        }
        fw_buf_printf(b, "],\"percent\":");
        put_num(b, fw_rollout_ppm(rs) / 10000.0);
        fw_buf_printf(b, ",\"ticks\":%llu,\"tick_s\":", (unsigned long long)rs->ticks);
        put_num(b, p->tick_s);
        fw_buf_printf(b, ",\"reason\":");
        if (rs->reason[0]) fw_json_put_str(b, rs->reason);
        else fw_buf_printf(b, "null");
        fw_buf_printf(b, ",\"fallbacks\":%llu,\"timeouts\":%llu,\"shed\":%llu,\"arms\":{",
                      (unsigned long long)atomic_load(&rs->fallbacks), (unsigned long long)atomic_load(&rs->timeouts),
                      (unsigned long long)atomic_load(&rs->shed));
        for (int a = 0; a < 2; a++) {
            const arm_snap *s = &rs->last[a];
            fw_buf_printf(b, "%s\"%s\":{\"requests\":%llu,\"errors\":%llu,\"p99_ms\":", a ? "," : "",
                          a ? "canary" : "champion", (unsigned long long)s->requests, (unsigned long long)s->errors);
            put_num(b, p99_ms(s));
            fw_buf_printf(b, ",\"total_requests\":%llu,\"labels\":%llu,\"loss\":",
                          (unsigned long long)atomic_load(&rs->arm[a].requests), (unsigned long long)s->labels);
            put_num(b, s->labels ? s->loss / (double)s->labels : NAN);
            fw_buf_printf(b, ",\"events\":{");
            for (size_t m = 0; m < p->n_metrics; m++) {
                fw_buf_printf(b, "%s", m ? "," : "");
                fw_json_put_str(b, p->metrics[m].name);
                fw_buf_printf(b, ":%llu", (unsigned long long)s->ev[m]);
            }
            fw_buf_printf(b, "}}");
        }
        fw_buf_printf(b, "},\"srm\":{\"p_value\":");
        put_num(b, rs->srm.p_value);
        fw_buf_printf(b, ",\"alpha\":");
        put_num(b, p->srm_alpha);
        fw_buf_printf(b, ",\"mismatch\":%s},\"p99_threshold_ms\":", rs->srm.rejected ? "true" : "false");
        put_num(b, rs->lat_threshold_ns > 0 ? rs->lat_threshold_ns * 1e-6 : NAN);
        fw_buf_printf(b, ",\"guards\":[");
        put_guard(b, &rs->g_err, true);
        put_guard(b, &rs->g_lat, false);
        if (p->live_metric) put_guard(b, &rs->g_live, false);
        for (size_t m = 0; m < p->n_metrics; m++) put_guard(b, &rs->g_met[m], false);
        fw_buf_printf(b, "],\"history\":[");
        for (size_t k = 0; k < rs->n_hist; k++) {
            const hist_entry *h = &rs->hist[k];
            fw_buf_printf(b, "%s{\"ts_ms\":%lld,\"event\":\"%s\",\"from\":", k ? "," : "", (long long)h->ts_ms, h->what);
            put_num(b, h->from);
            fw_buf_printf(b, ",\"to\":");
            put_num(b, h->to);
            fw_buf_printf(b, ",\"canary_requests\":%llu,\"reason\":", (unsigned long long)h->canary_requests);
            fw_json_put_str(b, h->reason);
            fw_buf_put_u8(b, '}');
        }
        fw_buf_printf(b, "]}");
        pthread_mutex_unlock(&rs->mu);
        return true;
    }
    return false;
}

void fw_rollout_metrics(fw_rollout *ro, fw_buf *b) {
    if (!ro) return;
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"flywheel_rollout_percent", "gauge", "Share of the split's traffic the canary gets now (percent)."},
        {"flywheel_rollout_step", "gauge", "Index of the rollout's current step in its steps list."},
        {"flywheel_rollout_state", "gauge", "1 for the rollout's state (running, complete, rolled_back)."},
        {"flywheel_rollout_requests_total", "counter", "Requests routed by the rollout's split, by arm."},
        {"flywheel_rollout_errors_total", "counter", "Failed (5xx) requests of the rollout's split, by the arm they were routed to."},
        {"flywheel_rollout_fallbacks_total", "counter", "Canary requests that failed and were answered by the champion."},
        {"flywheel_rollout_rollbacks_total", "counter", "Automatic rollbacks."},
        {"flywheel_rollout_timeouts_total", "counter", "Canary requests answered by the champion after timeout_ms."},
        {"flywheel_rollout_shed_total", "counter", "Canary requests answered by the champion at once: max_inflight canary evaluations under way."},
    };
    for (size_t f = 0; f < sizeof fam / sizeof *fam; f++) {
        fw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name, fam[f].help, fam[f].name, fam[f].type);
        for (size_t i = 0; i < ro->n; i++) {
            fw_rollout_split *rs = ro->by_split[i];
            if (!rs) continue;
            pthread_mutex_lock(&rs->mu);
            const char *mname = rs->sp->model; /* validated [A-Za-z0-9._-]: no escaping needed */
            switch (f) {
            case 0: fw_buf_printf(b, "%s{model=\"%s\"} %g\n", fam[f].name, mname, fw_rollout_ppm(rs) / 10000.0); break;
            case 1: fw_buf_printf(b, "%s{model=\"%s\"} %zu\n", fam[f].name, mname, rs->step); break;
            case 2:
                for (int s = 0; s < 3; s++)
                    fw_buf_printf(b, "%s{model=\"%s\",state=\"%s\"} %d\n", fam[f].name, mname, k_state[s], rs->state == s);
                break;
            case 3:
            case 4:
                for (int a = 0; a < 2; a++)
                    fw_buf_printf(b, "%s{model=\"%s\",arm=\"%s\"} %llu\n", fam[f].name, mname, a ? "canary" : "champion",
                                  (unsigned long long)atomic_load(f == 3 ? &rs->arm[a].requests : &rs->arm[a].errors));
                break;
            case 5: fw_buf_printf(b, "%s{model=\"%s\"} %llu\n", fam[f].name, mname, (unsigned long long)atomic_load(&rs->fallbacks)); break;
            case 7: fw_buf_printf(b, "%s{model=\"%s\"} %llu\n", fam[f].name, mname, (unsigned long long)atomic_load(&rs->timeouts)); break;
            case 8: fw_buf_printf(b, "%s{model=\"%s\"} %llu\n", fam[f].name, mname, (unsigned long long)atomic_load(&rs->shed)); break;
            default: fw_buf_printf(b, "%s{model=\"%s\"} %llu\n", fam[f].name, mname, (unsigned long long)rs->rollbacks);
            }
            pthread_mutex_unlock(&rs->mu);
        }
    }
}
