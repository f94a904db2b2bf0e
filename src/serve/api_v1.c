/* api_v1.c — owns the v1 JSON API: :predict and :explain (decode instances, impute/flag features,
 * predict, abstain with the fallback, traffic variant, shadow scoring, the prediction log), /v1/rank
 * (weighted objectives and filters over candidates) and /v1/feedback (stored and joined by request
 * id, unknown ids kept and reported). */
#include "serve/server_int.h"
#include "serve/bandit.h"
#include "serve/feedback_body.h"
#include "serve/feedback_labels.h"
#include "serve/learning.h"
#include "serve/monitoring.h"
#include "serve/rollout.h"
#include "serve/canary_runner.h"
#include "serve/shadow.h"
#include "serve/input_warnings.h"
#include "serve/mhd.h"

#include "core/alloc.h"
#include "core/clock.h"
#include "core/decimal.h"
#include "core/dtoa.h"
#include "core/hash.h"
#include "core/test_hooks.h" /* FW_V1_FAST_ANSWERED: built twice */
#include "serve/v1_decode.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Decodes one instance object into vals (n_inputs, MISSING where absent). Unknown keys are added
 * to warn (when not NULL). Returns false after filling an error reply. */
static bool decode_instance(const fw_srv_model *m, json_t *obj, size_t idx, fw_value *vals, fw_buf *warn,
                            size_t *n_warn, fw_reply *r) {
    for (size_t i = 0; i < m->n_inputs; i++) vals[i] = FW_SRV_ABSENT; /* not null: absent (monitoring.h) */
    if (!json_is_object(obj)) {
        fw__reply_error(r, 400, "bad_request", "instances[%zu]: expected an object of feature values", idx);
        return false;
    }
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        size_t kl = strlen(key);
        int64_t k = fw_strmap_get(&m->input_index, key, kl);
        if (k < 0) {
            if (warn) {
                fw_buf_printf(warn, "%s", *n_warn ? "," : "");
                char msg[400];
                snprintf(msg, sizeof msg, "instances[%zu]: unknown feature '%.200s' ignored", idx, key);
                fw_json_put_str(warn, msg);
                (*n_warn)++;
            }
            continue;
        }
        fw_value *d = &vals[k];
        switch (json_typeof(v)) {
        case JSON_INTEGER:
        case JSON_REAL: *d = (fw_value){FW_VALUE_NUMBER, json_number_value(v), NULL, 0}; break;
        case JSON_TRUE: *d = (fw_value){FW_VALUE_NUMBER, 1, NULL, 0}; break;
        case JSON_FALSE: *d = (fw_value){FW_VALUE_NUMBER, 0, NULL, 0}; break;
        case JSON_NULL: *d = (fw_value){FW_VALUE_MISSING, 0, NULL, 0}; break;
        case JSON_STRING: *d = (fw_value){FW_VALUE_STRING, 0, json_string_value(v), json_string_length(v)}; break;
        default:
            fw__reply_error(r, 400, "bad_type", "instances[%zu].%s: expected a number, string, boolean or null, got %s",
                            idx, key, json_is_array(v) ? "an array" : "an object");
            return false;
        }
    }
    return true;
}

/* The score a prediction is judged by: P(positive), the top class probability, or the value. */
static double primary_score(const fw_srv_model *m, const double *out) {
    if (m->task == FW_TASK_MULTICLASS || m->task == FW_TASK_MULTILABEL) {
        double best = out[0];
        for (size_t k = 1; k < m->n_outputs; k++) best = out[k] > best ? out[k] : best;
        return best;
    }
    return out[0];
}

/* A string literal into a buffer without printf (the reply path runs these per request). */
#define PUT_LIT(b, lit) fw_buf_put((b), (lit), sizeof(lit) - 1)

static void put_label(fw_buf *b, const fw_srv_model *m, const double *out) {
    if (m->task == FW_TASK_BINARY) {
        int pos = out[0] >= m->threshold;
        if (m->classes) fw_json_put_str(b, m->classes[pos]);
        else fw_buf_printf(b, "%d", pos);
    } else if (m->task == FW_TASK_MULTICLASS) {
        size_t best = 0;
        for (size_t k = 1; k < m->n_outputs; k++) best = out[k] > out[best] ? k : best;
        if (m->classes && best < m->n_classes) fw_json_put_str(b, m->classes[best]);
        else fw_buf_printf(b, "%zu", best);
    } else {
        fw_json_put_f64(b, out[0]);
    }
}

/* The decided answer as JSON: the class name, the fixed value, the value, or the class index. */
static void put_answer(fw_buf *b, const fw_srv_model *m, const fw_srv_decision *d) {
    if (d->source == FW_PRED_REVIEW) PUT_LIT(b, "\"needs review\"");
    else if (d->answer) fw_json_put_str(b, d->answer);
    else if (m->task == FW_TASK_BINARY || m->task == FW_TASK_MULTICLASS) fw_buf_printf(b, "%d", (int)d->answer_index);
    else fw_json_put_f64(b, d->answer_value);
}

static const char *outcome_of(const fw_srv_decision *d) {
    if (!d->abstained) return "model";
    return d->source == FW_PRED_REVIEW ? "review" : "fallback";
}

/* The numbers of one prediction repeat (its score is also a probability, its confidence is p or
 * 1 - p, the threshold is the model's): each distinct double is formatted once, as
 * fw_json_put_f64 formats it, and copied after. */
typedef struct num_memo {
    int n;
    struct {
        double v;
        uint8_t len;
        char s[FW_DTOA_MAX];
    } e[4];
} num_memo;

static void put_num(fw_buf *b, num_memo *mm, double v) {
    if (!mm) {
        fw_json_put_f64(b, v);
        return;
    }
    for (int i = 0; i < mm->n; i++)
        if (memcmp(&mm->e[i].v, &v, sizeof v) == 0) {
            fw_buf_put(b, mm->e[i].s, mm->e[i].len);
            return;
        }
    char tmp[FW_DTOA_MAX];
    char *s = mm->n < 4 ? mm->e[mm->n].s : tmp;
    size_t len = 4;
    if (isfinite(v)) len = fw_dtoa(v, s);
    else memcpy(s, "null", 4);
    if (mm->n < 4) {
        mm->e[mm->n].v = v;
        mm->e[mm->n++].len = (uint8_t)len;
    }
    fw_buf_put(b, s, len);
}

/* ,"probabilities":{neg:1-p,pos:p},"score":p,"threshold":t of a binary model's positive-class
 * probability p (online and batch answers alike; mm may be NULL). */
static void put_binary_scores(fw_buf *b, const fw_srv_model *m, double p, num_memo *mm) {
    PUT_LIT(b, ",\"probabilities\":{");
    fw_json_put_str(b, m->classes ? m->classes[0] : "0");
    fw_buf_put_u8(b, ':');
    put_num(b, mm, 1 - p);
    fw_buf_put_u8(b, ',');
    fw_json_put_str(b, m->classes ? m->classes[1] : "1");
    fw_buf_put_u8(b, ':');
    put_num(b, mm, p);
    PUT_LIT(b, "},\"score\":");
    put_num(b, mm, p);
    PUT_LIT(b, ",\"threshold\":");
    /* the model's constant: this thread's last text of it is kept */
    static _Thread_local num_memo t_thr;
    if (mm && t_thr.n && memcmp(&t_thr.e[0].v, &m->threshold, sizeof m->threshold) != 0) t_thr.n = 0;
    put_num(b, mm ? &t_thr : NULL, m->threshold);
}

/* Writes one prediction object from the model's own scores and the decision. */
static void put_prediction(fw_buf *b, const fw_srv_model *m, const double *out, const fw_srv_decision *d) {
    num_memo mm = {0};
    PUT_LIT(b, "{\"label\":");
    put_label(b, m, out);
    if (m->task == FW_TASK_BINARY) {
        put_binary_scores(b, m, out[0], &mm);
    } else if (m->task == FW_TASK_MULTICLASS) {
        PUT_LIT(b, ",\"probabilities\":{");
        for (size_t k = 0; k < m->n_outputs; k++) {
            if (k) fw_buf_put_u8(b, ',');
            char tmp[32];
            snprintf(tmp, sizeof tmp, "%zu", k);
            fw_json_put_str(b, m->classes && k < m->n_classes ? m->classes[k] : tmp);
            fw_buf_put_u8(b, ':');
            fw_json_put_f64(b, out[k]);
        }
        PUT_LIT(b, "},\"score\":");
        fw_json_put_f64(b, primary_score(m, out));
        PUT_LIT(b, ",\"threshold\":null");
    } else {
        PUT_LIT(b, ",\"score\":");
        fw_json_put_f64(b, out[0]);
        PUT_LIT(b, ",\"threshold\":null");
    }
    if (m->task == FW_TASK_BINARY || m->task == FW_TASK_MULTICLASS) {
        PUT_LIT(b, ",\"confidence\":");
        put_num(b, &mm, d->confidence);
    }
    if (d->abstained) {
        /* the fallback answers; the model's own label and scores are kept beside it */
        PUT_LIT(b, ",\"abstained\":true,\"confidence_threshold\":");
        fw_json_put_f64(b, d->threshold);
        PUT_LIT(b, ",\"fallback\":\"");
        const char *fb = d->source == FW_PRED_BASELINE ? "baseline" : d->source == FW_PRED_VALUE ? "value" : "review";
        fw_buf_put(b, fb, strlen(fb));
        PUT_LIT(b, "\",\"answer\":");
        put_answer(b, m, d);
    } else {
        PUT_LIT(b, ",\"abstained\":false");
    }
}

/* :explain: the class asked for and every instance's explanation text (the fields appended to its
 * prediction), off[i]..off[i + 1] in text. */
typedef struct explain_out {
    int32_t cls;      /* -1: the decision's class */
    fw_buf text;
    size_t *off;      /* n + 1 */
} explain_out;

/* One instance's explanation into ex->text, in the one format of every model source (explain.h). */
static fw_status explain_one(const fw_srv_model *m, const fw_value *vals, const double *own, explain_out *ex,
                             fw_err *err) {
    return m->ops->explain_json(m, vals, own, ex->cls, &ex->text, err);
}

/* Predicts every instance with m into out (n_inst x n_outputs) and dec (n_inst); false after an
 * error reply. iw / n_iw (may be NULL): the input warnings. capture: the first instance's values go
 * to online learning's join cache (serve/learning.h; not for a shadow). */
static bool predict_all(fw_server *s, const fw_srv_model *m, json_t *inst, fw_value *vals, double *out,
                        fw_srv_decision *dec, fw_buf *warn, size_t *n_warn, fw_buf *iw, size_t *n_iw, explain_out *ex,
                        bool capture, fw_reply *r) {
    bool oom;
    void *scratch = fw_srv_model_scratch(m, &oom);
    if (oom) {
        fw__reply_error(r, 500, "FW_ENOMEM", "out of memory");
        return false;
    }
    size_t n = json_array_size(inst);
    for (size_t i = 0; i < n; i++) {
        if (!decode_instance(m, json_array_get(inst, i), i, vals, warn, n_warn, r)) return false;
        if (iw) fw__input_warnings(m, vals, "instances", i, iw, n_iw);
        fw_err err;
        fw_status st = fw_srv_model_decide(m, vals, scratch, s->cfg->confidence_threshold, out + i * m->n_outputs,
                                           &dec[i], &err);
        fw_srv_monitor_observe(m, vals, st == FW_OK ? out + i * m->n_outputs : NULL, r->t0_ns, r->request_id);
        if (st == FW_OK && capture && i == 0 && s->learning) fw_srv_learning_capture(s->learning, m, r->request_id, vals);
        if (st == FW_OK && ex) {
            ex->off[i] = ex->text.len;
            st = explain_one(m, vals, out + i * m->n_outputs, ex, &err);
            ex->off[i + 1] = ex->text.len;
            if (st == FW_OK && r->max_bytes && ex->text.len > r->max_bytes) { /* never built past the cap */
                fw__reply_error(r, 413, "reply_too_large",
                                "the reply grew past serving.max_reply_bytes = %zu bytes; send fewer instances per request",
                                r->max_bytes);
                return false;
            }
        }
        if (st) {
            fw__reply_error(r, st == FW_ESCHEMA || st == FW_EINVAL ? 400 : 500,
                            st == FW_ESCHEMA ? "bad_type" : fw_status_name(st), "instances[%zu]: %s", i, err.msg);
            return false;
        }
    }
    return true;
}

/* The answers of n instances as a JSON array (for the log). */
static void put_answers(fw_buf *b, const fw_srv_model *m, const fw_srv_decision *dec, size_t n) {
    fw_buf_put_u8(b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) fw_buf_put_u8(b, ',');
        put_answer(b, m, &dec[i]);
    }
    fw_buf_put_u8(b, ']');
}

/* This thread's reusable buffer for the log's answers text (freed when the thread exits). */
static pthread_key_t g_ab_key;
static pthread_once_t g_ab_once = PTHREAD_ONCE_INIT;
static _Thread_local fw_buf *t_ab;

static void ab_free(void *p) {
    fw_buf_free(p);
    fw_free(p);
}

static void ab_make_key(void) { pthread_key_create(&g_ab_key, ab_free); }

/* fw__log_prediction with the inputs' whitespace runs (fw_v1_decoded.gaps; NULL: unknown). */
static void log_prediction(fw_server *s, const char *rid, const fw_srv_model *m, int variant, const char *entity,
                           uint64_t latency_ns, const char *inputs, size_t inputs_len, const uint32_t *gaps,
                           size_t n_gaps, const double *out, const fw_srv_decision *dec, size_t n,
                           const char *protocol) {
    if (!s->logq) return;
    if (!t_ab) {
        pthread_once(&g_ab_once, ab_make_key);
        if ((t_ab = fw_calloc(1, sizeof *t_ab)) != NULL) {
            fw_buf_init(t_ab);
            pthread_setspecific(g_ab_key, t_ab);
        }
    }
    fw_buf local;
    fw_buf_init(&local);
    fw_buf *abp = t_ab ? t_ab : &local;
    abp->len = 0;
    abp->oom = false;
    const char *outcome = "model";
    if (dec) {
        put_answers(abp, m, dec, n);
        for (size_t i = 0; i < n; i++)
            if (dec[i].abstained) outcome = outcome_of(&dec[i]);
    }
    fw_log_prediction p = {
        .request_id = rid, .model = m->name, .version = m->version, .entity_id = entity,
        .variant = fw_variant_name(variant), .source = "online", .protocol = protocol, .outcome = outcome,
        .latency_us = (int64_t)(latency_ns / 1000), .inputs = inputs, .inputs_len = inputs_len,
        .inputs_gaps = gaps, .n_gaps = n_gaps,
        .answers = abp->len && fw_buf_ok(abp) ? (const char *)abp->data : NULL, .answers_len = abp->len,
        .outputs = out, .n_rows = out ? n : 0, .n_out = m->n_outputs,
    };
    fw_logq_push_prediction(s->logq, &p);
    if (abp->cap > 64 * 1024 || abp == &local) {
        fw_buf_free(abp); /* keep a small buffer only */
        fw_buf_init(abp);
    }
}

void fw__log_prediction(fw_server *s, const char *rid, const fw_srv_model *m, int variant, const char *entity,
                        uint64_t latency_ns, const char *inputs, size_t inputs_len, const double *out,
                        const fw_srv_decision *dec, size_t n, const char *protocol) {
    log_prediction(s, rid, m, variant, entity, latency_ns, inputs, inputs_len, NULL, 0, out, dec, n, protocol);
}

/* The batch answer's scores in the same keys an online answer has ("probabilities", "score",
 * "threshold"), so a client reads both the same way; the stored text stays under "scores". */
static void put_batch_scores(fw_buf *b, const fw_srv_model *m, const fw_hybrid_answer *a) {
    json_t *sj = json_loads(a->scores_json ? a->scores_json : "{}", 0, NULL);
    if (m->task == FW_TASK_BINARY) {
        json_t *sc = json_object_get(sj, "score");
        if (json_is_number(sc)) {
            put_binary_scores(b, m, json_number_value(sc), NULL);
        }
    } else if (m->task == FW_TASK_MULTICLASS || m->task == FW_TASK_MULTILABEL) {
        json_t *pr = json_object_get(sj, "p");
        if (json_is_object(pr)) {
            fw_buf_printf(b, ",\"probabilities\":{");
            const char *k;
            json_t *v;
            bool first = true;
            double best = -INFINITY;
            json_object_foreach(pr, k, v) {
                if (!json_is_number(v)) continue;
                if (!first) fw_buf_put_u8(b, ',');
                first = false;
                fw_json_put_str(b, k);
                fw_buf_put_u8(b, ':');
                fw_json_put_f64(b, json_number_value(v));
                if (json_number_value(v) > best) best = json_number_value(v);
            }
            fw_buf_printf(b, "},\"score\":");
            fw_json_put_f64(b, isfinite(best) ? best : NAN);
            fw_buf_printf(b, ",\"threshold\":null");
        }
    } else if (a->prediction) {
        char *end;
        double v = strtod(a->prediction, &end);
        if (end != a->prediction && !*end) {
            fw_buf_printf(b, ",\"score\":");
            fw_json_put_f64(b, v);
            fw_buf_printf(b, ",\"threshold\":null");
        }
    }
    json_decref(sj);
}

/* Hybrid: answers from a fresh batch answer of the served model version. True when it answered. */
static bool answer_from_batch(fw_server *s, const fw_srv_model *m, int variant, const char *entity, uint64_t t0,
                              const char *body, size_t len, fw_reply *r) {
    fw_hybrid_answer a;
    if (!s->hybrid || !entity || !fw_hybrid_get(s->hybrid, m->name, m->version, entity, &a)) return false;
    fw_buf *b = &r->body;
    r->code = 200;
    char ts[32];
    fw_format_iso8601(a.scored_ms, ts, sizeof ts);
    fw_buf_printf(b, "{\"request_id\":\"%s\",\"model\":", r->request_id);
    fw_json_put_str(b, m->name);
    fw_buf_printf(b, ",\"version\":");
    fw_json_put_str(b, m->version);
    fw_buf_printf(b, ",\"variant\":\"%s\",\"source\":\"batch\",\"entity_id\":", fw_variant_name(variant));
    fw_json_put_str(b, entity);
    fw_buf_printf(b, ",\"predictions\":[{\"label\":");
    fw_json_put_str(b, a.prediction);
    put_batch_scores(b, m, &a);
    fw_buf_printf(b, ",\"scores\":%s,\"scored_at\":\"%s\",\"batch_run\":%lld}],\"warnings\":[]}", a.scores_json, ts,
                  (long long)a.run_id);
    if (s->logq) {
        fw_buf ab;
        fw_buf_init(&ab);
        fw_buf_put_u8(&ab, '[');
        fw_json_put_str(&ab, a.prediction);
        fw_buf_put_u8(&ab, ']');
        fw_log_prediction p = {
            .request_id = r->request_id, .model = m->name, .version = m->version, .entity_id = entity,
            .variant = fw_variant_name(variant), .source = "batch", .protocol = "v1", .outcome = "model",
            .latency_us = (int64_t)((fw_now_ns() - t0) / 1000), .inputs = body, .inputs_len = len,
            .answers = fw_buf_ok(&ab) ? (const char *)ab.data : NULL, .answers_len = ab.len,
        };
        fw_logq_push_prediction(s->logq, &p);
        fw_buf_free(&ab);
    }
    fw_hybrid_answer_free(&a);
    return true;
}

enum { SMALL_INPUTS = 256, SMALL_OUTPUTS = 64, SMALL_ROWS = 16 };

/* The 200 body of n predictions (and contributions when explain), with the warnings; counts each
 * score in the model's metrics. Shared by the fast and the jansson paths so they answer alike. */
static void reply_predictions(const fw_srv_model *m, int variant, size_t n, const double *out,
                              const fw_srv_decision *dec, const explain_out *ex, const fw_buf *warn, fw_reply *r) {
    fw_buf *b = &r->body;
    r->code = 200;
    fw_buf_put(b, "{\"request_id\":\"", 15);
    fw_buf_put(b, r->request_id, strlen(r->request_id));
    fw_buf_put(b, "\",\"model\":", 10);
    fw_json_put_str(b, m->name);
    fw_buf_put(b, ",\"version\":", 11);
    fw_json_put_str(b, m->version);
    PUT_LIT(b, ",\"variant\":\"");
    const char *vn = fw_variant_name(variant);
    fw_buf_put(b, vn, strlen(vn));
    PUT_LIT(b, "\",\"source\":\"online\",\"predictions\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) fw_buf_put_u8(b, ',');
        const double *o = out + i * m->n_outputs;
        put_prediction(b, m, o, &dec[i]);
        fw_metrics_score(m->metrics, variant, primary_score(m, o), dec[i].abstained);
        if (ex) fw_buf_put(b, ex->text.data + ex->off[i], ex->off[i + 1] - ex->off[i]);
        fw_buf_put_u8(b, '}');
        if (fw__reply_too_large(r)) return;
    }
    fw_buf_put(b, "],\"warnings\":[", 14);
    fw_buf_put(b, warn->data, warn->len);
    fw_buf_put(b, "]}", 2);
}

/* Test builds: FLYWHEEL_TEST_CANARY_FAULT (server.c reads it) makes a challenger slow (every answer
 * delay_us later), failing (a share of requests answered 500) or hung (no answer until the server
 * stops), to exercise the rollout's rollback, the champion's fallback and the canary's isolation.
 * True after an error reply. */
bool fw__canary_fault(fw_server *s, const fw_srv_target *t, uint64_t reqno, fw_reply *r) {
#ifdef FW_TEST
    if (t->variant != FW_VARIANT_CHALLENGER || (!s->fault_delay_us && !(s->fault_error_p > 0) && !s->fault_hang))
        return false;
    if (s->fault_hang) {
        fw__fault_hang(s);
        fw__reply_error(r, 503, "injected_fault", "test build: an injected canary hang ended by the shutdown");
        return true;
    }
    if (s->fault_delay_us) usleep(s->fault_delay_us);
    if (s->fault_error_p > 0 && (double)(fw_hash64(&reqno, sizeof reqno, 0xfa17) % 1000000) < s->fault_error_p * 1e6) {
        fw__reply_error(r, 500, "injected_fault", "test build: an injected canary fault");
        return true;
    }
#else
    (void)s, (void)t, (void)reqno, (void)r;
#endif
    return false;
}

/* The fast path (v1_decode.h): decodes the common body shape without jansson and answers. Returns
 * false, with nothing written to r and no reference held, whenever the request is not of that
 * shape (or is unusual in any way: shadow split, hybrid, unknown model); the caller then answers
 * through the jansson path, which gives every error its message. */
static bool predict_fast(fw_server *s, const fw_route *rt, const char *body, size_t len, bool explain, uint64_t t0,
                         uint64_t reqno, fw_reply *r) {
    fw_v1_top top;
    if (explain) return false; /* explanations (and their "class") take the jansson path */
    if (!fw__v1_scan_top(body, len, &top)) return false;
    if (s->hybrid && top.entity) return false; /* a batch answer may serve it */
    fw_srv_target t;
    fw_err err;
    if (fw__resolve_flags(s, rt->name, rt->alias, rt->version, top.entity, reqno, r->resolve_flags, &t, &err))
        return false;
    const fw_srv_model *m = t.m;
    fw_v1_decoded d;
    if ((explain && !m->ops->explain_json) || !fw__v1_decode(m, &top, &d) || d.n > s->cfg->max_instances) {
        fw__target_release(&t);
        return false;
    }
    fw__request_id_bind(s, r, m);
    r->metrics = m->metrics;
    r->variant = t.variant;
    r->ro = t.ro;
    r->ro_arm = t.ro_arm;
    size_t n = d.n;
    double out_st[SMALL_OUTPUTS];
    fw_srv_decision dec_st[SMALL_ROWS];
    double *out = n * m->n_outputs <= SMALL_OUTPUTS ? out_st : fw_malloc(n * m->n_outputs * sizeof *out);
    fw_srv_decision *dec = n <= SMALL_ROWS ? dec_st : fw_malloc(n * sizeof *dec);
    fw_buf warn, iwarn;
    fw_buf_init(&warn);
    fw_buf_init(&iwarn);
    size_t n_iwarn = 0;
    bool oom = false;
    void *scratch = out && dec ? fw_srv_model_scratch(m, &oom) : (oom = true, NULL);
    if (oom) {
        fw__reply_error(r, 500, "FW_ENOMEM", "out of memory");
        goto out;
    }
    if (fw__canary_fault(s, &t, reqno, r)) goto out;
    for (size_t u = 0; u < d.n_unknown; u++) {
        if (u) fw_buf_put_u8(&warn, ',');
        char msg[400];
        snprintf(msg, sizeof msg, "instances[%zu]: unknown feature '%.*s' ignored", d.unknown[u].inst,
                 (int)(d.unknown[u].len < 200 ? d.unknown[u].len : 200), d.unknown[u].key);
        fw_json_put_str(&warn, msg);
    }
    for (size_t i = 0; i < n; i++) {
        const fw_value *vals = d.vals + i * m->n_inputs;
        fw__input_warnings(m, vals, "instances", i, &iwarn, &n_iwarn);
        fw_status st = fw_srv_model_decide(m, vals, scratch, s->cfg->confidence_threshold, out + i * m->n_outputs,
                                           &dec[i], &err);
        fw_srv_monitor_observe(m, vals, st == FW_OK ? out + i * m->n_outputs : NULL, t0, r->request_id);
        if (st == FW_OK && i == 0 && s->learning) fw_srv_learning_capture(s->learning, m, r->request_id, vals);
        if (st) {
            fw__reply_error(r, st == FW_ESCHEMA || st == FW_EINVAL ? 400 : 500,
                            st == FW_ESCHEMA ? "bad_type" : fw_status_name(st), "instances[%zu]: %s", i, err.msg);
            goto out;
        }
    }
    fw__input_warnings_merge(&warn, d.n_unknown, &iwarn, n_iwarn);
    reply_predictions(m, t.variant, n, out, dec, NULL, &warn, r);
    if (t.ro) fw_rollout_prediction(t.ro, t.ro_arm, r->request_id, m->n_classes > 0, dec[0].answer, dec[0].answer_value);
    FW_V1_FAST_ANSWERED();
    if (s->logq) {
        log_prediction(s, r->request_id, m, t.variant, top.entity, fw_now_ns() - t0, body, len, d.gaps, d.n_gaps, out,
                       dec, n, "v1");
        if (t.shadow) fw_shadowq_push(s->shadowq, t.shadow, body, len, r->request_id, top.entity);
    }
out:
    /* keep the answering model alive until its metrics are recorded */
    r->hold = t.m;
    t.m = NULL;
    fw__target_release(&t);
    fw_buf_free(&warn);
    fw_buf_free(&iwarn);
    if (out != out_st) fw_free(out);
    if (dec != dec_st) fw_free(dec);
    return true;
}

/* :explain's "class": a class name of the model (or its index as a number); false after a 400. */
static bool explain_class(const fw_srv_model *m, json_t *c, int32_t *out, fw_reply *r) {
    if (!m->n_classes || !m->classes) {
        fw__reply_error(r, 400, "bad_request", "'class': model '%s' is a %s model and has no classes", m->name,
                        fw_task_name(m->task));
        return false;
    }
    const char *name = json_string_value(c);
    for (size_t k = 0; name && k < m->n_classes; k++)
        if (!strcmp(m->classes[k], name)) {
            *out = (int32_t)k;
            return true;
        }
    if (json_is_integer(c) && json_integer_value(c) >= 0 && (size_t)json_integer_value(c) < m->n_classes) {
        *out = (int32_t)json_integer_value(c);
        return true;
    }
    char list[400] = "";
    size_t len = 0;
    for (size_t k = 0; k < m->n_classes && len + 8 < sizeof list; k++) {
        int w = snprintf(list + len, sizeof list - len, "%s\"%s\"", k ? ", " : "", m->classes[k]);
        if (w > 0) len += (size_t)w < sizeof list - len ? (size_t)w : sizeof list - len - 1;
    }
    fw__reply_error(r, 400, "bad_request", "'class': not a class of model '%s' (classes: %s)", m->name, list);
    return false;
}

/* One answer of a predict / explain request whose id r already carries (request number reqno). */
static void predict_once(fw_server *s, const fw_route *rt, const char *body, size_t len, bool explain, uint64_t reqno,
                         fw_reply *r) {
    uint64_t t0 = fw_now_ns();
    r->t0_ns = t0;
    if (!s->slow_decode && predict_fast(s, rt, body, len, explain, t0, reqno, r)) return;
    json_t *j = fw__parse_body(r, body, len, false);
    if (!j) return;
    fw_srv_target t = {0};
    fw_value *vals = NULL;
    double *out = NULL;
    explain_out ex = {-1, {0}, NULL};
    fw_buf_init(&ex.text);
    fw_srv_decision *dec = NULL;
    fw_value vals_st[SMALL_INPUTS];
    double out_st[SMALL_OUTPUTS];
    fw_srv_decision dec_st[SMALL_ROWS];
    fw_buf warn, iwarn;
    fw_buf_init(&warn);
    fw_buf_init(&iwarn);
    size_t n_warn = 0, n_iwarn = 0;
    json_t *inst = json_object_get(j, "instances");
    json_t *ent = json_object_get(j, "entity_id");
    const char *entity = json_string_value(ent);
    char ent_num[32];
    if (!entity && json_is_integer(ent)) {
        snprintf(ent_num, sizeof ent_num, "%lld", (long long)json_integer_value(ent));
        entity = ent_num;
    }
    if (ent && !json_is_null(ent) && !entity) {
        fw__reply_error(r, 400, "bad_type", "'entity_id' must be a string or an integer");
        goto out;
    }
    /* without instances only a batch answer can serve (checked once the model is known) */
    bool no_inst = !inst && entity && s->hybrid && !explain;
    if (!no_inst && (!json_is_array(inst) || json_array_size(inst) == 0)) {
        fw__reply_error(r, 400, "bad_request", "'instances' must be a non-empty array of objects");
        goto out;
    }
    {
        const char *key;
        json_t *v;
        json_object_foreach(j, key, v) {
            if (strcmp(key, "instances") && strcmp(key, "entity_id") && !(explain && !strcmp(key, "class"))) {
                fw_buf_printf(&warn, "%s", n_warn ? "," : "");
                char msg[300];
                snprintf(msg, sizeof msg, "unknown top-level key '%.200s' ignored", key);
                fw_json_put_str(&warn, msg);
                n_warn++;
            }
        }
    }
    fw_err err;
    fw_status st = fw__resolve_flags(s, rt->name, rt->alias, rt->version, entity, reqno, r->resolve_flags, &t, &err);
    if (st) {
        fw__reply_error(r, fw__http_for(st), st == FW_ENOTFOUND ? "model_not_found" : fw_status_name(st), "%s", err.msg);
        goto out;
    }
    const fw_srv_model *m = t.m;
    fw__request_id_bind(s, r, m);
    r->metrics = m->metrics;
    r->variant = t.variant;
    r->ro = t.ro;
    r->ro_arm = t.ro_arm;
    if (fw__canary_fault(s, &t, reqno, r)) goto out;
    if (!explain && entity && answer_from_batch(s, m, t.variant, entity, t0, body, len, r)) goto out;
    if (no_inst) {
        fw__reply_error(r, 404, "no_batch_answer",
                        "no fresh batch answer of %s version %s for entity '%.200s' (max age %gs); send 'instances' to be answered online",
                        m->name, m->version, entity, s->cfg->batch_max_age_s);
        goto out;
    }
    if (explain && !m->ops->explain_json) {
        fw__reply_error(r, 400, "unsupported", "model '%s' version '%s' cannot explain", m->name, m->version);
        goto out;
    }
    if (explain && json_object_get(j, "class") && !explain_class(m, json_object_get(j, "class"), &ex.cls, r)) goto out;
    size_t n = json_array_size(inst);
    if (n > s->cfg->max_instances) {
        fw__reply_error(r, 413, "too_many_instances", "%zu instances in one request, over serving.max_instances = %zu",
                        n, s->cfg->max_instances);
        goto out;
    }
    size_t n_in = m->n_inputs;
    /* small requests (the common case) use the stack: no allocation */
    vals = n_in <= SMALL_INPUTS ? vals_st : fw_malloc((n_in ? n_in : 1) * sizeof *vals);
    out = n * m->n_outputs <= SMALL_OUTPUTS ? out_st : fw_malloc(n * m->n_outputs * sizeof *out);
    dec = n <= SMALL_ROWS ? dec_st : fw_malloc(n * sizeof *dec);
    if (explain) ex.off = fw_calloc(n + 1, sizeof *ex.off);
    if (!vals || !out || !dec || (explain && !ex.off)) {
        fw__reply_error(r, 500, "FW_ENOMEM", "out of memory");
        goto out;
    }
    if (!predict_all(s, m, inst, vals, out, dec, &warn, &n_warn, &iwarn, &n_iwarn, explain ? &ex : NULL, true, r)) goto out;
    fw__input_warnings_merge(&warn, n_warn, &iwarn, n_iwarn);
    reply_predictions(m, t.variant, n, out, dec, explain ? &ex : NULL, &warn, r);
    if (t.ro && n) fw_rollout_prediction(t.ro, t.ro_arm, r->request_id, m->n_classes > 0, dec[0].answer, dec[0].answer_value);
    if (s->logq) {
        fw__log_prediction(s, r->request_id, m, t.variant, entity, fw_now_ns() - t0, body, len, out, dec, n, "v1");
        if (t.shadow) fw_shadowq_push(s->shadowq, t.shadow, body, len, r->request_id, entity); /* off the request path */
    }
out:
    /* keep the answering model alive until its metrics are recorded */
    if (t.m) {
        r->hold = t.m;
        t.m = NULL;
    }
    fw__target_release(&t);
    fw_buf_free(&warn);
    fw_buf_free(&iwarn);
    if (vals != vals_st) fw_free(vals);
    if (out != out_st) fw_free(out);
    if (dec != dec_st) fw_free(dec);
    fw_free(ex.off);
    fw_buf_free(&ex.text);
    json_decref(j);
}

void fw__shadow_score(fw_server *s, const fw_srv_model *m, const char *body, size_t len, const char *rid,
                      const char *entity) {
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *inst = json_object_get(j, "instances");
    size_t n = json_array_size(inst);
    fw_value *vals = n ? fw_malloc((m->n_inputs ? m->n_inputs : 1) * sizeof *vals) : NULL;
    double *out = n ? fw_malloc(n * (m->n_outputs ? m->n_outputs : 1) * sizeof *out) : NULL;
    fw_srv_decision *dec = n ? fw_malloc(n * sizeof *dec) : NULL;
    fw_reply sr = {0};
    fw_buf_init(&sr.body);
    snprintf(sr.request_id, sizeof sr.request_id, "%s", rid);
    uint64_t t0 = sr.t0_ns = fw_now_ns();
#ifdef FW_TEST
    if (s->fault_delay_us) usleep(s->fault_delay_us); /* test builds: a slow shadow */
    if (s->fault_hang) fw__fault_hang(s);              /* ... or a hung one */
#endif
    bool ok = vals && out && dec && predict_all(s, m, inst, vals, out, dec, NULL, NULL, NULL, NULL, NULL, false, &sr);
    uint64_t ns = fw_now_ns() - t0;
    if (ok) {
        fw__log_prediction(s, rid, m, FW_VARIANT_SHADOW, entity, ns, body, len, out, dec, n, "v1");
        fw_metrics_request(m->metrics, FW_VARIANT_SHADOW, 200, ns);
        for (size_t i = 0; i < n; i++)
            fw_metrics_score(m->metrics, FW_VARIANT_SHADOW, primary_score(m, out + i * m->n_outputs), dec[i].abstained);
    } else {
        fw_metrics_request(m->metrics, FW_VARIANT_SHADOW, sr.code ? sr.code : 500, ns);
    }
    fw_buf_free(&sr.body);
    fw_free(vals);
    fw_free(out);
    fw_free(dec);
    json_decref(j);
}

static void rank_once(fw_server *s, const char *body, size_t len, uint64_t reqno, unsigned flags, fw_reply *r);

void fw__canary_run(fw_server *s, struct fw_rollout_split *ro, const fw_route *rt, const char *body, size_t len,
                    bool explain, uint64_t reqno, fw_reply *r) {
    (void)ro;
    if (rt->kind == FW_ROUTE_V2_INFER) {
        fw__v2_infer_canary(s, rt, body, len, reqno, r);
        return;
    }
    if (rt->kind == FW_ROUTE_V1_RANK) { /* routed as decided on the request thread: the same reqno */
        rank_once(s, body, len, reqno, 0, r);
        return;
    }
    r->resolve_flags = FW_RESOLVE_CANARY;
    predict_once(s, rt, body, len, explain, reqno, r);
}

/* The champion answers a canary rollout's request that the canary did not: failed (5xx: an error, a
 * crash caught as an error), too slow (timeout_ms) or not started (max_inflight). The client sees no
 * failure caused by the router; the failure is counted against the canary (rollout.h). */
static void champion_answers(fw_server *s, const fw_route *rt, const char *body, size_t len, bool explain,
                             struct fw_rollout_split *ro, fw_reply *r) {
    fw_srv_model_unref(r->hold);
    r->hold = NULL;
    r->metrics = NULL;
    r->body.len = 0;
    r->body.oom = false;
    r->code = 0;
    r->resolve_flags = FW_RESOLVE_CHAMPION;
    uint64_t reqno = fw__new_request_id(s, r);
    predict_once(s, rt, body, len, explain, reqno, r);
    r->ro = ro;
    r->ro_arm = FW_RO_CANARY;
    r->ro_failed = true;
}

/* A request a canary rollout sends to its canary runs on a canary runner (canary_runner.h) while
 * its connection is suspended: the HTTP worker thread goes on with other connections, and this
 * handler is called again when the canary answered or timeout_ms passed. A canary answer that is a
 * failure (5xx), a timeout, or no free canary slot (max_inflight) is answered by the champion. */
void fw__api_predict(fw_server *s, const fw_route *rt, const char *body, size_t len, bool explain, fw_reply *r) {
    if (r->canary_slot && *r->canary_slot) { /* resumed: the canary answered, or its time is up */
        fw_canary_job *j = *r->canary_slot;
        *r->canary_slot = NULL;
        struct fw_rollout_split *ro = NULL;
        if (!fw_canary_finish(s->canary, j, r, &ro)) {
            fw_rollout_isolated(ro, true);
            fw_rollout_fallback(ro);
            champion_answers(s, rt, body, len, explain, ro, r);
            return;
        }
    } else {
        uint64_t reqno = fw__new_request_id(s, r), timeout_ns = 0;
        struct fw_rollout_split *ro = r->conn && r->canary_slot ? fw__canary_route(s, rt, reqno, &timeout_ns) : NULL;
        if (ro) {
            if (fw_canary_submit(s->canary, r->conn, r->canary_slot, ro, rt, body, len, explain, reqno, r, timeout_ns) ==
                FW_CANARY_SUSPENDED) {
                r->suspended = true;
                return;
            }
            fw_rollout_isolated(ro, false);
            fw_rollout_fallback(ro);
            champion_answers(s, rt, body, len, explain, ro, r);
            return;
        }
        predict_once(s, rt, body, len, explain, reqno, r);
    }
    if (!r->ro || r->ro_arm != FW_RO_CANARY || r->code < 500 || r->ro_failed) return;
    struct fw_rollout_split *ro = r->ro;
    if (r->hold && r->metrics) fw_metrics_request(r->metrics, FW_VARIANT_CHALLENGER, r->code, fw_now_ns() - r->t0_ns);
    fw_rollout_fallback(ro);
    champion_answers(s, rt, body, len, explain, ro, r);
}

/* ---- /v1/rank -------------------------------------------------------------------------------- */

typedef struct rank_item {
    size_t index;
    double total;
} rank_item;

static int rank_cmp(const void *a, const void *b) {
    const rank_item *x = a, *y = b;
    if (x->total != y->total) return x->total > y->total ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

typedef struct objective {
    const char *model;
    double weight;
    double max;
    fw_srv_model *m;
    double *scores; /* per candidate */
    const char *cls; /* a class of a classifier: its probability is the score (NULL: primary score) */
} objective;

static bool read_objectives(json_t *a, const char *what, bool filter, objective **out, size_t *n, fw_reply *r) {
    if (!json_is_array(a)) {
        fw__reply_error(r, 400, "bad_request", "'%s' must be an array", what);
        return false;
    }
    *n = json_array_size(a);
    *out = fw_calloc(*n ? *n : 1, sizeof **out);
    if (!*out) {
        fw__reply_error(r, 500, "FW_ENOMEM", "out of memory");
        return false;
    }
    for (size_t i = 0; i < *n; i++) {
        json_t *o = json_array_get(a, i);
        const char *key;
        json_t *kv;
        json_object_foreach(o, key, kv) {
            if (strcmp(key, "model") && strcmp(key, "class") && strcmp(key, filter ? "max" : "weight")) {
                fw__reply_error(r, 400, "bad_request", "%s[%zu]: unknown key '%.100s' (allowed: model, %s, class)", what, i,
                                key, filter ? "max" : "weight");
                return false;
            }
        }
        json_t *jc = json_object_get(o, "class");
        if (jc && !json_is_string(jc)) {
            fw__reply_error(r, 400, "bad_type", "%s[%zu]: 'class' must be a class name (a string)", what, i);
            return false;
        }
        (*out)[i].cls = json_string_value(jc);
        const char *model = json_string_value(json_object_get(o, "model"));
        json_t *w = json_object_get(o, filter ? "max" : "weight");
        if (!model || (w && !json_is_number(w)) || (filter && !w)) {
            fw__reply_error(r, 400, "bad_request", "%s[%zu]: expected {\"model\": name, \"%s\": number}", what, i,
                            filter ? "max" : "weight");
            return false;
        }
        (*out)[i].model = model;
        (*out)[i].weight = w && !filter ? json_number_value(w) : 1.0;
        (*out)[i].max = filter ? json_number_value(w) : INFINITY;
    }
    return true;
}

static bool default_objectives(const fw_serve_objective *src, size_t n_src, objective **out, size_t *n) {
    *n = n_src;
    *out = fw_calloc(n_src ? n_src : 1, sizeof **out);
    if (!*out) return false;
    for (size_t i = 0; i < n_src; i++)
        (*out)[i] = (objective){src[i].model, src[i].weight, src[i].max, NULL, NULL, src[i].cls};
    return true;
}

static bool score_with(fw_server *s, objective *o, json_t *cands, fw_value *vals, size_t n_vals, uint64_t reqno,
                       unsigned flags, struct fw_rollout_split **ro, int *arm, fw_reply *r) {
    fw_srv_target t;
    fw_err err;
    fw_status st = fw__resolve_flags(s, o->model, NULL, NULL, NULL, reqno, flags, &t, &err);
    if (st) {
        fw__reply_error(r, fw__http_for(st), st == FW_ENOTFOUND ? "model_not_found" : fw_status_name(st), "%s", err.msg);
        return false;
    }
    *ro = t.ro;
    *arm = t.ro_arm;
    bool fault = fw__canary_fault(s, &t, reqno, r);
    o->m = t.m;
    t.m = NULL;
    fw__target_release(&t);
    if (fault) return false;
    size_t n = json_array_size(cands);
    if (o->m->n_inputs > n_vals) {
        fw__reply_error(r, 500, "FW_ELIMIT", "model '%s' has too many inputs", o->model);
        return false;
    }
    /* a named class: its probability (binary: P(positive) or 1 - it) */
    long ci = -1;
    if (o->cls) {
        bool clf = o->m->task == FW_TASK_BINARY || o->m->task == FW_TASK_MULTICLASS;
        for (size_t k = 0; clf && o->m->classes && k < o->m->n_classes && ci < 0; k++)
            if (strcmp(o->m->classes[k], o->cls) == 0) ci = (long)k;
        if (ci < 0) {
            char known[600] = "";
            size_t kl = 0;
            for (size_t k = 0; clf && o->m->classes && k < o->m->n_classes && kl < sizeof known - 80; k++)
                kl += (size_t)snprintf(known + kl, sizeof known - kl, "%s'%.60s'", k ? ", " : "", o->m->classes[k]);
            if (clf)
                fw__reply_error(r, 400, "bad_request", "model '%s' has no class '%.100s' (its classes: %s)", o->model, o->cls,
                                known);
            else
                fw__reply_error(r, 400, "bad_request", "model '%s' is not a classifier: 'class' does not apply", o->model);
            return false;
        }
    }
    double *tmp = fw_malloc(o->m->n_outputs * sizeof *tmp);
    o->scores = fw_malloc((n ? n : 1) * sizeof *o->scores);
    bool oom;
    void *scratch = fw_srv_model_scratch(o->m, &oom);
    if (!tmp || !o->scores || oom) {
        fw_free(tmp);
        fw__reply_error(r, 500, "FW_ENOMEM", "out of memory");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!decode_instance(o->m, json_array_get(cands, i), i, vals, NULL, NULL, r)) {
            fw_free(tmp);
            return false;
        }
        st = o->m->ops->predict(o->m, vals, scratch, tmp, &err);
        if (st) {
            fw_free(tmp);
            fw__reply_error(r, 400, "bad_type", "candidates[%zu] for model '%s': %s", i, o->model, err.msg);
            return false;
        }
        if (ci < 0) o->scores[i] = primary_score(o->m, tmp);
        else if (o->m->task == FW_TASK_BINARY) o->scores[i] = ci == 1 ? tmp[0] : 1 - tmp[0];
        else o->scores[i] = tmp[ci];
    }
    fw_free(tmp);
    return true;
}

/* Scores one objective's model on every candidate. Where a canary rollout splits that model, the
 * scoring counts as one request of the arm it was routed to (its latency: this scoring's), and a
 * canary that fails (5xx) is replaced by the champion, as for :predict. */
static bool score_all(fw_server *s, objective *o, json_t *cands, fw_value *vals, size_t n_vals, uint64_t reqno,
                      unsigned flags, fw_reply *r) {
    uint64_t t0 = fw_now_ns();
    struct fw_rollout_split *ro = NULL;
    int arm = FW_RO_CHAMPION;
    bool ok = score_with(s, o, cands, vals, n_vals, reqno, flags, &ro, &arm, r);
    /* FW_RESOLVE_CHAMPION: the champion answers for a canary already counted as failed (fw__api_rank) */
    if (!ro || (flags & FW_RESOLVE_CHAMPION)) return ok;
    bool failed = !ok && r->code >= 500;
    uint32_t code = o->m ? fw_reqid_model_code(&s->idkey, o->m->name, o->m->version) : 0;
    fw_rollout_observe(ro, arm, failed, fw_now_ns() - t0, failed ? 0 : code);
    if (!failed || arm != FW_RO_CANARY) return ok;
    if (o->m && o->m->metrics) fw_metrics_request(o->m->metrics, FW_VARIANT_CHALLENGER, r->code, fw_now_ns() - t0);
    fw_rollout_fallback(ro);
    fw_srv_model_unref(o->m);
    o->m = NULL;
    fw_free(o->scores);
    o->scores = NULL;
    r->body.len = 0;
    r->body.oom = false;
    r->code = 0;
    return score_with(s, o, cands, vals, n_vals, reqno, FW_RESOLVE_CHAMPION, &ro, &arm, r);
}

/* The canary rollout split that routes request reqno of a rank body to a canary evaluated off the
 * request thread (fw__canary_route for each objective's and filter's model, the request's or the
 * configured ones); NULL when none does, or the body does not parse (the rank answers the error). */
static struct fw_rollout_split *rank_canary_route(fw_server *s, const char *body, size_t len, uint64_t reqno,
                                                  uint64_t *timeout_ns) {
    json_error_t je;
    json_t *j = body ? json_loadb(body, len, 0, &je) : NULL;
    struct fw_rollout_split *ro = NULL;
    fw_route rt = {.kind = FW_ROUTE_V1_RANK};
    for (int f = 0; f < 2 && !ro; f++) {
        json_t *a = json_object_get(j, f ? "filters" : "objectives");
        size_t n = a ? json_array_size(a) : f ? s->cfg->n_filters : s->cfg->n_objectives;
        for (size_t i = 0; i < n && !ro; i++) {
            const char *m = a ? json_string_value(json_object_get(json_array_get(a, i), "model"))
                              : (f ? s->cfg->filters : s->cfg->objectives)[i].model;
            if (!m || strlen(m) >= sizeof rt.name) continue;
            snprintf(rt.name, sizeof rt.name, "%s", m);
            ro = fw__canary_route(s, &rt, reqno, timeout_ns);
        }
    }
    json_decref(j);
    return ro;
}

/* A rank request one of whose models a canary rollout routes to its canary runs whole on a canary
 * runner with the connection suspended (canary_runner.h), as :predict does: when the canary does not
 * answer within timeout_ms (or max_inflight are in flight), the champions rank (every model by its
 * default route) and the request counts as a failure of that canary, with the time it waited. */
void fw__api_rank(fw_server *s, const fw_route *rt, const char *body, size_t len, fw_reply *r) {
    if (r->canary_slot && *r->canary_slot) { /* resumed: the canary answered, or its time is up */
        fw_canary_job *j = *r->canary_slot;
        *r->canary_slot = NULL;
        uint64_t waited = fw_now_ns() - fw_canary_job_t0(j);
        struct fw_rollout_split *ro = NULL;
        if (fw_canary_finish(s->canary, j, r, &ro)) return; /* its reply, counted on the runner */
        fw_rollout_isolated(ro, true);
        fw_rollout_fallback(ro);
        fw_rollout_observe(ro, FW_RO_CANARY, true, waited, 0);
        r->body.len = 0;
        r->body.oom = false;
        r->code = 0;
        rank_once(s, body, len, fw__new_request_id(s, r), FW_RESOLVE_CHAMPION, r);
        return;
    }
    uint64_t reqno = fw__new_request_id(s, r), timeout_ns = 0;
    struct fw_rollout_split *ro = r->conn && r->canary_slot && s->canary ? rank_canary_route(s, body, len, reqno, &timeout_ns)
                                                                         : NULL;
    if (ro) {
        if (fw_canary_submit(s->canary, r->conn, r->canary_slot, ro, rt, body, len, false, reqno, r, timeout_ns) ==
            FW_CANARY_SUSPENDED) {
            r->suspended = true;
            return;
        }
        fw_rollout_isolated(ro, false);
        fw_rollout_fallback(ro);
        fw_rollout_observe(ro, FW_RO_CANARY, true, 0, 0);
        rank_once(s, body, len, reqno, FW_RESOLVE_CHAMPION, r);
        return;
    }
    rank_once(s, body, len, reqno, 0, r);
}

/* Ranks a body for request reqno (its id already in r); flags for every model's route. */
static void rank_once(fw_server *s, const char *body, size_t len, uint64_t reqno, unsigned flags, fw_reply *r) {
    json_t *j = fw__parse_body(r, body, len, false);
    if (!j) return;
    objective *obj = NULL, *fil = NULL;
    size_t n_obj = 0, n_fil = 0;
    fw_value *vals = NULL;
    rank_item *items = NULL;
    json_t *cands = json_object_get(j, "candidates");
    json_t *jo = json_object_get(j, "objectives"), *jf = json_object_get(j, "filters"), *jk = json_object_get(j, "top_k");
    if (!json_is_array(cands)) {
        fw__reply_error(r, 400, "bad_request", "'candidates' must be an array of objects");
        goto out;
    }
    if (jk && (!json_is_integer(jk) || json_integer_value(jk) < 0)) {
        fw__reply_error(r, 400, "bad_type", "'top_k' must be a non-negative integer");
        goto out;
    }
    if (jo ? !read_objectives(jo, "objectives", false, &obj, &n_obj, r)
           : !default_objectives(s->cfg->objectives, s->cfg->n_objectives, &obj, &n_obj))
        goto out;
    if (jf ? !read_objectives(jf, "filters", true, &fil, &n_fil, r)
           : !default_objectives(s->cfg->filters, s->cfg->n_filters, &fil, &n_fil))
        goto out;
    if (n_obj == 0) {
        fw__reply_error(r, 400, "bad_request", "no objectives: give 'objectives' or configure serving.rank.objectives");
        goto out;
    }
    /* each model once among the objectives: its scores are reported under its name */
    for (size_t k = 1; k < n_obj; k++)
        for (size_t q = 0; q < k; q++)
            if (strcmp(obj[k].model, obj[q].model) == 0) {
                fw__reply_error(r, 400, "bad_request", "objectives[%zu]: model '%s' is already objectives[%zu]; give it one weight",
                                k, obj[k].model, q);
                goto out;
            }
    size_t n = json_array_size(cands);
    if (n > s->cfg->max_instances) {
        fw__reply_error(r, 413, "too_many_instances", "%zu candidates in one request, over serving.max_instances = %zu",
                        n, s->cfg->max_instances);
        goto out;
    }
    vals = fw_malloc(4096 * sizeof *vals);
    items = fw_malloc((n ? n : 1) * sizeof *items);
    if (!vals || !items) {
        fw__reply_error(r, 500, "FW_ENOMEM", "out of memory");
        goto out;
    }
    for (size_t k = 0; k < n_obj; k++)
        if (!score_all(s, &obj[k], cands, vals, 4096, reqno, flags, r)) goto out;
    for (size_t k = 0; k < n_fil; k++)
        if (!score_all(s, &fil[k], cands, vals, 4096, reqno, flags, r)) goto out;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        bool drop = false;
        for (size_t k = 0; k < n_fil; k++) drop |= fil[k].scores[i] > fil[k].max;
        if (drop) continue;
        double tot = 0;
        for (size_t k = 0; k < n_obj; k++) tot += obj[k].weight * obj[k].scores[i];
        items[kept++] = (rank_item){i, tot};
    }
    qsort(items, kept, sizeof *items, rank_cmp);
    size_t top = jk ? (size_t)json_integer_value(jk) : kept;
    if (top > kept) top = kept;
    fw_buf *b = &r->body;
    r->code = 200;
    fw_buf_printf(b, "{\"request_id\":\"%s\",\"ranked\":[", r->request_id);
    for (size_t q = 0; q < top; q++) {
        size_t i = items[q].index;
        fw_buf_printf(b, "%s{\"index\":%zu", q ? "," : "", i);
        json_t *id = json_object_get(json_array_get(cands, i), "id");
        if (id) {
            char *idt = json_dumps(id, JSON_COMPACT | JSON_ENCODE_ANY);
            if (idt) fw_buf_printf(b, ",\"id\":%s", idt);
            fw_free(idt);
        }
        fw_buf_printf(b, ",\"score\":");
        fw_json_put_f64(b, items[q].total);
        fw_buf_printf(b, ",\"scores\":{");
        for (size_t k = 0; k < n_obj; k++) {
            if (k) fw_buf_put_u8(b, ',');
            fw_json_put_str(b, obj[k].model);
            fw_buf_put_u8(b, ':');
            fw_json_put_f64(b, obj[k].scores[i]);
        }
        fw_buf_printf(b, "}}");
    }
    fw_buf_printf(b, "],\"filtered\":%zu,\"candidates\":%zu,\"models\":{", n - kept, n);
    for (size_t k = 0; k < n_obj + n_fil; k++) {
        objective *o = k < n_obj ? &obj[k] : &fil[k - n_obj];
        bool seen = false; /* a model both scored and filtered on is listed once */
        for (size_t q = 0; q < k && !seen; q++) seen = strcmp((q < n_obj ? &obj[q] : &fil[q - n_obj])->model, o->model) == 0;
        if (seen) continue;
        if (k) fw_buf_put_u8(b, ',');
        fw_json_put_str(b, o->model);
        fw_buf_put_u8(b, ':');
        fw_json_put_str(b, o->m->version);
    }
    fw_buf_printf(b, "}}");
out:
    for (size_t k = 0; k < n_obj; k++) {
        fw_srv_model_unref(obj[k].m);
        fw_free(obj[k].scores);
    }
    for (size_t k = 0; k < n_fil; k++) {
        fw_srv_model_unref(fil[k].m);
        fw_free(fil[k].scores);
    }
    fw_free(obj);
    fw_free(fil);
    fw_free(vals);
    fw_free(items);
    json_decref(j);
}

/* ---- /v1/feedback ---------------------------------------------------------------------------- */

/* A feedback label must be something the model can answer: one of a classifier's classes (a number
 * or boolean is compared as its text), a number for a regressor. False after a 400 unknown_label. */
static bool label_ok_for(const fw_srv_model *m, json_t *label, fw_reply *r) {
    bool ok = true;
    if (m->task == FW_TASK_BINARY || m->task == FW_TASK_MULTICLASS) {
        char num[64];
        const char *text = json_string_value(label);
        if (json_is_integer(label)) snprintf(num, sizeof num, "%lld", (long long)json_integer_value(label)), text = num;
        else if (json_is_real(label)) fw_num_format(json_real_value(label), num), text = num; /* as class names */
        else if (json_is_boolean(label)) text = json_is_true(label) ? "true" : "false";
        ok = false;
        for (size_t k = 0; text && k < m->n_classes && !ok; k++) ok = strcmp(m->classes[k], text) == 0;
        /* a string that reads as a number names the class of that number, as the same text in the
         * training CSV would ("0.10", "1e-1" and 0.1 name class "0.1"; "1.0" class "1") */
        double as_num;
        if (!ok && json_is_string(label) && fw_decimal_parse(text, strlen(text), &as_num, NULL)) {
            fw_num_format(as_num, num);
            for (size_t k = 0; k < m->n_classes && !ok; k++) ok = strcmp(m->classes[k], num) == 0;
        }
        if (!m->classes && text) { /* unnamed classes: 0 .. n-1 */
            char *end;
            long v = strtol(text, &end, 10);
            ok = *text && !*end && v >= 0 && (size_t)v < (m->task == FW_TASK_BINARY ? 2 : m->n_outputs);
        }
        if (!ok) {
            char known[600] = "";
            size_t kl = 0;
            for (size_t k = 0; m->classes && k < m->n_classes && kl < sizeof known - 80; k++)
                kl += (size_t)snprintf(known + kl, sizeof known - kl, "%s'%.60s'", k ? ", " : "", m->classes[k]);
            /* a number as the client wrote it (shortest round trip: 0.2, not jansson's 0.20000000000000001) */
            char real[FW_DTOA_MAX];
            char *lt = json_is_real(label) ? NULL : json_dumps(label, JSON_COMPACT | JSON_ENCODE_ANY);
            if (json_is_real(label)) fw_dtoa(json_real_value(label), real);
            fw__reply_error(r, 400, "unknown_label", "label %.100s is not a class of model '%s' version '%s' (its classes: %s)",
                            json_is_real(label) ? real : lt ? lt : "?", m->name, m->version, m->classes ? known : "0 .. n-1");
            fw_free(lt);
        }
    } else if (!json_is_number(label)) {
        ok = false;
        fw__reply_error(r, 400, "unknown_label", "model '%s' predicts a number: the label must be a number", m->name);
    }
    return ok;
}

/* A feedback label for the model named by the feedback's "model" (NAME, NAME@ALIAS or NAME#VERSION):
 * label_ok_for that model. False after a 400 (or 404 for no such model). */
static bool feedback_label_ok(fw_server *s, const char *ref, json_t *label, fw_reply *r) {
    char name[FW_ROUTE_NAME_MAX];
    const char *sep = strpbrk(ref, "@#");
    size_t nl = sep ? (size_t)(sep - ref) : strlen(ref);
    if (nl == 0 || nl >= sizeof name) {
        fw__reply_error(r, 400, "bad_request", "'model': expected NAME, NAME@ALIAS or NAME#VERSION");
        return false;
    }
    memcpy(name, ref, nl);
    name[nl] = 0;
    fw_srv_target t;
    fw_err err;
    fw_status st = fw__resolve(s, name, sep && *sep == '@' ? sep + 1 : NULL, sep && *sep == '#' ? sep + 1 : NULL, NULL, 0,
                               &t, &err);
    if (st) {
        fw__reply_error(r, fw__http_for(st), st == FW_ENOTFOUND ? "model_not_found" : fw_status_name(st), "%s", err.msg);
        return false;
    }
    bool ok = label_ok_for(t.m, label, r);
    fw__target_release(&t);
    return ok;
}

/* The log's writer or syncer thread: the feedback is durable (or not kept); wake its request. */
static void feedback_done(void *ud, fw_status st) {
    fw_feedback_wait *w = ud;
    w->outcome = st;
    atomic_store(&w->phase, 2);
    fw_mhd.resume_connection(w->conn); /* w may be reused once this returns */
}

void fw__feedback_wait_release(fw_feedback_wait *w) {
    if (!w) return;
    json_decref(w->body);
    w->body = NULL;
    fw_srv_model_unref(w->m);
    w->m = NULL;
}

/* Two calls per request when it waits for the group commit: the first parses and checks the body,
 * looks up the model its request id names (once: the label's check, the monitor and the learner
 * share it), queues the record and suspends the connection, keeping the parsed body and the model
 * in w; the second, once the record is durable (or not kept), answers from what w kept. */
void fw__api_feedback(fw_server *s, const char *origin, fw_feedback_wait *w, const char *body, size_t len,
                      fw_reply *r) {
    bool resumed = w && atomic_load(&w->phase) == 2;
    json_t *j;
    fw_srv_model *m = NULL; /* a reference, dropped at the end unless kept in w */
    bool known = false;
    uint32_t code = 0;
    if (resumed) {
        j = w->body;
        m = w->m;
        known = w->known;
        code = w->code;
        w->body = NULL;
        w->m = NULL;
    } else {
        FW_TEST_COUNT(FW_TC_FEEDBACK_PARSE);
        /* the common flat body in one pass; anything else (and every error) through jansson */
        if (!(j = fw_feedback_body_read(body, len)) && !(j = fw__parse_body(r, body, len, false))) return;
    }
    const char *rid = json_string_value(json_object_get(j, "request_id"));
    json_t *label = json_object_get(j, "label");
    json_t *event = json_object_get(j, "event");
    json_t *value = json_object_get(j, "value");
    json_t *update = json_object_get(j, "update");
    json_t *model = json_object_get(j, "model");
    int claim = resumed ? w->claim : -1;
    fw_status st = resumed ? w->outcome : FW_OK;
    if (!resumed && rid && *rid && strlen(rid) <= 200) {
        /* the id's check, once: whether this process issued it and which model answered */
        known = fw_reqid_code(&s->idkey, rid, &code);
        if (!known) code = 0;
    }
    if (resumed) {
        /* the second call: the first validated this body and queued it */
    } else if (!rid || !*rid || strlen(rid) > 200) {
        fw__reply_error(r, 400, "bad_request", "'request_id' must be a non-empty string");
        goto out;
    } else if (!label && !event) {
        fw__reply_error(r, 400, "bad_request", "give 'label' or 'event' (with an optional numeric 'value')");
        goto out;
    } else if (event && !json_is_string(event)) {
        fw__reply_error(r, 400, "bad_type", "'event' must be a string");
        goto out;
    } else if (value && !json_is_number(value)) {
        fw__reply_error(r, 400, "bad_type", "'value' must be a number");
        goto out;
    } else if (update && !json_is_boolean(update)) {
        fw__reply_error(r, 400, "bad_type", "'update' must be true or false");
        goto out;
    } else if (label && (json_is_object(label) || json_is_array(label))) {
        fw__reply_error(r, 400, "bad_type", "'label' must be a string, number or boolean");
        goto out;
    } else if (model && !json_is_string(model)) {
        fw__reply_error(r, 400, "bad_type", "'model' must be a model name (NAME or NAME@ALIAS)");
        goto out;
    } else if (label && model && !feedback_label_ok(s, json_string_value(model), label, r)) {
        goto out; /* r holds the refusal */
    } else if (label && (m = fw__request_id_model(s, code)) != NULL && !label_ok_for(m, label, r)) {
        /* the model the id names (while this process has it loaded) does not know the label; an id
         * naming no loaded model (another process's, a version since evicted) is kept as before */
        goto out; /* r holds the refusal */
    } else if (!s->logq) {
        fw__reply_error(r, 503, "no_store", "feedback needs the store or serving.log.path to be kept");
        goto out;
    } else if (label && !json_is_true(update) && s->labels && (claim = fw_label_set_claim(s->labels, rid)) == 0) {
        /* the first label per request stands */
        fw__reply_error(r, 409, "label_conflict",
                        "request id '%.200s' already has a label; send \"update\": true to replace it", rid);
        goto out;
    } else {
        char *lt = label ? json_dumps(label, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
        fw_log_record *rec = fw_log_feedback_new2(rid, lt, json_string_value(event),
                                                  value ? json_number_value(value) : NAN, known,
                                                  json_is_true(update), origin);
        fw_free(lt);
        if (w && w->conn) {
            /* group commit without holding the worker thread: suspend, resumed by feedback_done;
             * the parsed body and the model wait in w for the second call */
            w->claim = claim;
            w->body = j;
            w->m = m;
            w->known = known;
            w->code = code;
            atomic_store(&w->phase, 1);
            fw_mhd.suspend_connection(w->conn);
            if (fw_logq_push_durable_async(s->logq, rec, feedback_done, w) != FW_ENOMEM) {
                r->suspended = true;
                return; /* j and m are w's now */
            }
            w->body = NULL;
            w->m = NULL;
            atomic_store(&w->phase, 0);
            fw_mhd.resume_connection(w->conn);
            st = FW_ENOMEM;
        } else {
            st = fw_logq_push_durable(s->logq, rec, 10000);
        }
    }
    /* the answer: answered only once the record is written and synced with its batch */
    if (st != FW_OK && claim == 1) fw_label_set_release(s->labels, rid);
    if (st == FW_ELIMIT || st == FW_ENOMEM)
        fw__reply_error(r, 503, "log_full", "feedback could not be queued (log queue full); retry");
    else if (st == FW_EIO)
        fw__reply_error(r, 503, "not_stored", "feedback could not be written (the log's disk refused it); retry");
    else if (st != FW_OK)
        fw__reply_error(r, 503, "not_confirmed",
                        "feedback was queued but not confirmed durable within 10 s; it may still be stored "
                        "(resending with \"update\": true is safe for labels)");
    else {
        /* known to this process; the store sink also looks the id up in prediction_log (an
         * earlier process's request) and counts the final verdict */
        bool matched = known;
        if (!s->log_to_store) atomic_fetch_add(matched ? &s->feedback_matched : &s->feedback_unmatched, 1);
        if (label && json_is_true(update) && s->labels) fw_label_set_claim(s->labels, rid); /* a later one conflicts */
        if (label) fw__monitor_feedback(s, m, rid, label);
        if (event && matched) fw_srv_bandit_feedback(s->bandits, rid, json_string_value(event), value ? json_number_value(value) : NAN);
        if (s->rollout && json_is_string(event) && known) /* business metrics */
            fw_rollout_feedback(s->rollout, code, json_string_value(event), value ? json_number_value(value) : NAN);
        if (s->rollout && label) { /* the live model metric */
            char num[40];
            if (json_is_number(label)) snprintf(num, sizeof num, "%.17g", json_number_value(label));
            fw_rollout_label(s->rollout, rid,
                             json_is_string(label) ? json_string_value(label)
                             : json_is_number(label) ? num
                             : json_is_true(label) ? "true" : "false",
                             json_is_number(label), json_is_number(label) ? json_number_value(label) : NAN);
        }
        if (label && !json_is_true(update)) fw_srv_learning_feedback(s->learning, rid, m, label); /* first labels only */
        r->code = 202;
        static const char head[] = "{\"stored\":true,\"request_id\":", yes[] = ",\"matched\":true}",
                          no[] = ",\"matched\":false,\"note\":\"request id not issued by this server process; kept for a later join\"}";
        fw_buf_put(&r->body, head, sizeof head - 1);
        fw_json_put_str(&r->body, rid);
        if (matched) fw_buf_put(&r->body, yes, sizeof yes - 1);
        else fw_buf_put(&r->body, no, sizeof no - 1);
    }
out:
    fw_srv_model_unref(m);
    json_decref(j);
}
