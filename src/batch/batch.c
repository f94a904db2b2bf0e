/* batch.c — owns the batch run: options, the reader → scorers → writer pipeline over a ring of
 * block slots (output in input order), output formats (CSV, JSONL, store answers), the reject
 * file, checkpoints and --resume, history records and the summary. fw_batch_run goes by steps:
 * setup (options, paths) → resume (or a fresh state) → open outputs → run the blocks → join
 * (last checkpoint, selection pass, commit) → finish (summary, history). Top-k recommendations:
 * recommend.c; the state they share: run_int.h. */
#include "batch/batch.h"

#include "artifact/answer_text.h"
#include "batch/batch_int.h"
#include "batch/run_int.h"
#include "core/alloc.h"
#include "core/clock.h"
#include "core/dtoa.h"
#include "core/json_out.h"
#include "core/threads.h"
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop;

void fw_batch_request_stop(void) { g_stop = 1; }

void fw_batch_options_init(fw_batch_options *o) {
    memset(o, 0, sizeof *o);
    o->block_rows = FW_BATCH_DEFAULT_BLOCK_ROWS;
    o->checkpoint_rows = FW_BATCH_DEFAULT_CHECKPOINT_ROWS;
    o->top_k = FW_BATCH_DEFAULT_TOP_K;
    o->record_history = true;
}

/* ---- the run ---------------------------------------------------------------------------------- */

/* snprintf that may truncate (paths and messages are bounded on purpose). */
static void fmt_into(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fmt_into(char *out, size_t cap, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}

static bool has_ext(const char *p, const char *ext) {
    size_t n = strlen(p), k = strlen(ext);
    if (n > 3 && strcasecmp(p + n - 3, ".gz") == 0) n -= 3;
    return n >= k && strncasecmp(p + n - k, ext, k) == 0;
}

/* The model's score of a row: binary P(positive); multiclass the chosen class or the max;
 * multilabel the max; regression/ranking the value. */
double fw__row_score(const fw__run *R, const double *out) {
    const fw_batch_model *m = R->m;
    if (m->task == FW_TASK_MULTICLASS || m->task == FW_TASK_MULTILABEL) {
        if (R->score_class >= 0) return out[R->score_class];
        double best = -INFINITY;
        for (size_t k = 0; k < m->n_outputs; k++)
            if (out[k] > best) best = out[k];
        return best;
    }
    return out[0];
}

void fw__put_num(fw_buf *b, double v, bool json) {
    if (json) fw_json_put_f64(b, v);
    else if (isfinite(v)) { /* a non-finite value is an empty CSV cell */
        char tmp[FW_DTOA_MAX];
        fw_buf_put(b, tmp, fw_dtoa(v, tmp));
    }
}

enum { M_CSV = 0, M_JSON = 1, M_RAW = 2 };

static void put_text(fw_buf *b, const char *s, size_t n, int mode) {
    if (mode == M_JSON) fw_json_put_strn(b, s, n);
    else if (mode == M_CSV) fw__csv_put(b, s, n);
    else fw_buf_put(b, s, n);
}

/* The prediction's text (artifact/answer_text.h: the rules the C API's fw_result_text shares). */
static void put_prediction(const fw__run *R, const double *out, const char *label, fw_buf *b, int mode) {
    const fw_batch_model *m = R->m;
    fw_answer_shape shape = {m->task, m->n_outputs, m->threshold, m->classes, m->n_classes};
    char tmp[256];
    bool number;
    size_t n = fw_answer_text(&shape, label, out, out[0], tmp, sizeof tmp, &number);
    char *text = tmp;
    if (n >= sizeof tmp) { /* many labels joined: write it again whole */
        if (!(text = fw_malloc(n + 1))) {
            b->oom = true;
            return;
        }
        fw_answer_text(&shape, label, out, out[0], text, n + 1, &number);
    }
    if (number && mode == M_JSON) fw_buf_put(b, n ? text : "null", n ? n : 4);
    else put_text(b, text, n, mode);
    if (text != tmp) fw_free(text);
}

static bool per_class(const fw_batch_model *m) {
    return m->task == FW_TASK_MULTICLASS || m->task == FW_TASK_MULTILABEL;
}

/* Scores as JSON: {"score":p} / {"p":{"a":..,"b":..}} / {} (regression). */
static void put_scores_json(const fw__run *R, const double *out, fw_buf *b) {
    const fw_batch_model *m = R->m;
    if (m->task == FW_TASK_BINARY) {
        fw_buf_put(b, "{\"score\":", 9);
        fw__put_num(b, out[0], true);
        fw_buf_put_u8(b, '}');
    } else if (per_class(m)) {
        fw_buf_put(b, "{\"p\":{", 6);
        for (size_t k = 0; k < m->n_outputs; k++) {
            if (k) fw_buf_put_u8(b, ',');
            const char *c = k < m->n_classes ? m->classes[k] : "?";
            fw_json_put_strn(b, c, strlen(c));
            fw_buf_put_u8(b, ':');
            fw__put_num(b, out[k], true);
        }
        fw_buf_put(b, "}}", 2);
    } else
        fw_buf_put(b, "{}", 2);
}

void fw__put_value_text(fw_buf *b, const fw_value *v, bool json) {
    if (v->kind == FW_VALUE_STRING) {
        if (json) fw_json_put_strn(b, v->str, v->len);
        else fw__csv_put(b, v->str, v->len);
    } else if (v->kind == FW_VALUE_NUMBER)
        fw__put_num(b, v->num, json);
    else if (json)
        fw_buf_put(b, "null", 4);
}

/* The entity key: id values joined by '|' (the line number when there are no id columns). */
void fw__put_entity_key(const fw__run *R, const fw_value *ids, uint64_t line, fw_buf *b) {
    if (!R->n_ids) {
        fw_buf_printf(b, "%" PRIu64, line);
        return;
    }
    for (size_t j = 0; j < R->n_ids; j++) {
        if (j) fw_buf_put_u8(b, '|');
        if (ids[j].kind == FW_VALUE_STRING) fw_buf_put(b, ids[j].str, ids[j].len);
        else if (ids[j].kind == FW_VALUE_NUMBER) fw__put_num(b, ids[j].num, false);
    }
}

void fw__put_rec_field(fw_buf *b, const fw_buf *f, size_t from) {
    fw_buf_put_u32(b, (uint32_t)(f->len - from));
    fw_buf_put(b, f->data + from, f->len - from);
}

void fw__put_row_ids(const fw__run *R, const fw_value *ids, uint64_t line, fw_buf *b, bool json) {
    if (json) {
        fw_buf_put_u8(b, '{');
        if (!R->n_ids) fw_buf_printf(b, "\"line\":%" PRIu64 ",", line);
    } else if (!R->n_ids) {
        fw_buf_printf(b, "%" PRIu64 ",", line);
    }
    for (size_t j = 0; j < R->n_ids; j++) {
        if (json) {
            const char *c = R->o->id_columns[j];
            fw_json_put_strn(b, c, strlen(c));
            fw_buf_put_u8(b, ':');
        }
        fw__put_value_text(b, &ids[j], json);
        fw_buf_put_u8(b, ',');
    }
}

/* One output row for a scored input row. */
static void format_row(const fw__run *R, const fw_value *ids, uint64_t line, const double *out, const char *label,
                       fw_buf *b, fw_buf *tmp) {
    const fw_batch_model *m = R->m;
    if (R->kind == FW_BATCH_OUT_CSV) {
        fw__put_row_ids(R, ids, line, b, false);
        put_prediction(R, out, label, b, M_CSV);
        if (m->task == FW_TASK_BINARY) {
            fw_buf_put_u8(b, ',');
            fw__put_num(b, out[0], false);
        } else if (per_class(m))
            for (size_t k = 0; k < m->n_outputs; k++) {
                fw_buf_put_u8(b, ',');
                fw__put_num(b, out[k], false);
            }
        fw_buf_put(b, R->csv_tail.data, R->csv_tail.len);
    } else if (R->kind == FW_BATCH_OUT_JSONL) {
        fw__put_row_ids(R, ids, line, b, true);
        fw_buf_put(b, "\"prediction\":", 13);
        put_prediction(R, out, label, b, M_JSON);
        if (m->task == FW_TASK_BINARY) {
            fw_buf_put(b, ",\"score\":", 9);
            fw__put_num(b, out[0], true);
        } else if (per_class(m)) {
            fw_buf_put(b, ",\"probabilities\":{", 18);
            for (size_t k = 0; k < m->n_outputs; k++) {
                if (k) fw_buf_put_u8(b, ',');
                const char *c = k < m->n_classes ? m->classes[k] : "?";
                fw_json_put_strn(b, c, strlen(c));
                fw_buf_put_u8(b, ':');
                fw__put_num(b, out[k], true);
            }
            fw_buf_put_u8(b, '}');
        }
        fw_buf_put(b, R->json_tail.data, R->json_tail.len);
    } else {
        /* store record: entity key, prediction text, scores JSON (each u32 length + bytes) */
        tmp->len = 0;
        fw__put_entity_key(R, ids, line, tmp);
        fw__put_rec_field(b, tmp, 0);
        tmp->len = 0;
        put_prediction(R, out, label, tmp, M_RAW);
        fw__put_rec_field(b, tmp, 0);
        tmp->len = 0;
        put_scores_json(R, out, tmp);
        fw__put_rec_field(b, tmp, 0);
    }
}

/* ---- scoring -------------------------------------------------------------------------------- */

static fw_status slot_reject(fw__slot *s, uint64_t line, const char *name, const char *msg) {
    if (s->n_rej == s->cap_rej) {
        size_t cap = s->cap_rej;
        if (FW_GROW(&s->rej, &cap, s->n_rej + 1)) return FW_ENOMEM;
        s->cap_rej = cap;
    }
    fw_load_reject *r = &s->rej[s->n_rej++];
    r->line = line;
    fmt_into(r->msg, sizeof r->msg, "%s:%" PRIu64 ": %s", name, line, msg);
    return FW_OK;
}

typedef struct worker_buf {
    void *scratch;
    fw_value *vals, *ids, *merged;
    fw__in_view *vin, *vid;   /* where this block's input / id values live */
    double *out;
    fw__topk *heap;
    fw_buf tmp;
} worker_buf;

static void score_block(fw__run *R, fw__slot *s, worker_buf *w) {
    const fw_batch_model *m = R->m;
    s->out.len = 0;
    s->scores.len = 0;
    s->n_rej = 0;
    s->n_scored = s->n_written = 0;
    s->fatal = FW_OK;
    /* CSV blocks are parsed here, on the scorer threads (the reader only cuts records) */
    fw_status pst = fw__in_parse(&R->rd, &s->in, &s->ferr);
    if (pst) {
        s->fatal = pst;
        return;
    }
    fw__in_view_init(&R->rd, &s->in, R->in_idx, m->n_inputs, w->vin);
    fw__in_view_init(&R->rd, &s->in, R->id_idx, R->n_ids, w->vid);
    for (size_t r = 0; r < s->in.n_rows; r++) {
        uint64_t line = s->in.lines[r];
        fw__in_row(&R->rd, &s->in, w->vin, m->n_inputs, r, w->vals);
        if (R->n_ids) fw__in_row(&R->rd, &s->in, w->vid, R->n_ids, r, w->ids);
        fw_err e;
        fw_err_clear(&e);
        fw_status st;
        size_t before = s->out.len;
        if (R->it.ds) {
            uint64_t wr = 0;
            st = fw__recommend_row(R, w->vals, w->ids, line, w->scratch, w->merged, w->out, w->heap, &s->out,
                               &w->tmp, &wr, &e);
            if (!st) s->n_written += wr;
        } else {
            const char *lab = NULL;
            st = m->predict(m->ud, w->vals, w->scratch, w->out, &lab, &e);
            if (!st) {
                format_row(R, w->ids, line, w->out, lab, &s->out, &w->tmp);
                s->n_written++;
                if (R->spool) {
                    fw__score_rec sr = {fw__row_score(R, w->out), (uint64_t)(s->out.len - before)};
                    fw_buf_put(&s->scores, &sr, sizeof sr);
                }
            }
        }
        if (st == FW_ENOMEM) {
            s->fatal = fw_err_set(&s->ferr, FW_ENOMEM, "out of memory while scoring");
            return;
        }
        if (st) {
            s->out.len = before;
            if (slot_reject(s, line, R->rd.name, e.msg)) {
                s->fatal = fw_err_set(&s->ferr, FW_ENOMEM, "out of memory");
                return;
            }
            continue;
        }
        s->n_scored++;
    }
    if (!fw_buf_ok(&s->out) || !fw_buf_ok(&s->scores) || !fw_buf_ok(&w->tmp))
        s->fatal = fw_err_set(&s->ferr, FW_ENOMEM, "out of memory formatting output");
}

static void *scorer_main(void *arg) {
    fw__run *R = arg;
    const fw_batch_model *m = R->m;
    worker_buf w;
    memset(&w, 0, sizeof w);
    fw_buf_init(&w.tmp);
    size_t ni = m->n_inputs ? m->n_inputs : 1;
    w.vals = fw_calloc(ni, sizeof *w.vals);
    w.merged = fw_calloc(ni, sizeof *w.merged);
    w.ids = fw_calloc(R->n_ids ? R->n_ids : 1, sizeof *w.ids);
    w.vin = fw_calloc(ni, sizeof *w.vin);
    w.vid = fw_calloc(R->n_ids ? R->n_ids : 1, sizeof *w.vid);
    w.out = fw_calloc(m->n_outputs ? m->n_outputs : 1, sizeof *w.out);
    w.heap = fw_calloc(R->o->top_k ? R->o->top_k : 1, sizeof *w.heap);
    if (m->scratch_new) w.scratch = m->scratch_new(m->ud);
    bool oom = !w.vals || !w.merged || !w.ids || !w.vin || !w.vid || !w.out || !w.heap ||
               (m->scratch_new && !w.scratch);
    pthread_mutex_lock(&R->mu);
    for (;;) {
        if (R->abort) break;
        if (R->eof && R->next_score >= R->end_seq) break;
        fw__slot *s = &R->slots[R->next_score % R->n_slots];
        if (s->state != FW__S_READ || s->seq != R->next_score) {
            pthread_cond_wait(&R->cv, &R->mu);
            continue;
        }
        R->next_score++;
        s->state = FW__S_SCORING;
        pthread_mutex_unlock(&R->mu);
        if (oom) s->fatal = fw_err_set(&s->ferr, FW_ENOMEM, "out of memory (scorer scratch)");
        else score_block(R, s, &w);
        pthread_mutex_lock(&R->mu);
        s->state = FW__S_DONE;
        pthread_cond_broadcast(&R->cv);
    }
    pthread_mutex_unlock(&R->mu);
    if (w.scratch && m->scratch_free) m->scratch_free(m->ud, w.scratch);
    fw_free(w.vals);
    fw_free(w.merged);
    fw_free(w.ids);
    fw_free(w.vin);
    fw_free(w.vid);
    fw_free(w.out);
    fw_free(w.heap);
    fw_buf_free(&w.tmp);
    return NULL;
}

static void *reader_main(void *arg) {
    fw__run *R = arg;
    size_t rows = R->o->block_rows;
    for (uint64_t seq = 0;; seq++) {
        fw__slot *s = &R->slots[seq % R->n_slots];
        pthread_mutex_lock(&R->mu);
        while (s->state != FW__S_FREE && !R->abort) pthread_cond_wait(&R->cv, &R->mu);
        bool ab = R->abort;
        pthread_mutex_unlock(&R->mu);
        if (ab) break;
        fw_err e;
        fw_err_clear(&e);
        fw_status st = fw__in_next(&R->rd, rows, &s->in, &e);
        bool end = !st && s->in.n_rows == 0 && s->in.n_rejects == 0 && s->in.n_records == 0;
        if (st || end) {
            pthread_mutex_lock(&R->mu);
            if (st) {
                R->rstatus = st;
                R->rerr = e;
            }
            R->eof = true;
            R->end_seq = seq < R->skip_blocks ? R->skip_blocks : seq;
            pthread_cond_broadcast(&R->cv);
            pthread_mutex_unlock(&R->mu);
            break;
        }
        if (seq < R->skip_blocks) continue; /* done by the interrupted run: cut again, not parsed */
        pthread_mutex_lock(&R->mu);
        s->seq = seq;
        s->state = FW__S_READ;
        pthread_cond_broadcast(&R->cv);
        pthread_mutex_unlock(&R->mu);
    }
    return NULL;
}

/* ---- writer side ---------------------------------------------------------------------------- */

typedef struct sink {
    int out_fd, rej_fd, scores_fd;
    fw_store *db;
    bool in_tx;
    fw__run *R;
    fw__state st;
    fw_batch_run_rec rec;
    const char *state_path;
    uint64_t wb_from; /* output bytes before this have had their writeback started */
} sink;

#define WRITEBACK_BYTES (4u << 20) /* output written since the last start of writeback */

static fw_status write_all(int fd, const void *p, size_t n, const char *what, fw_err *err) {
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return fw_err_set(err, FW_EIO, "%s: write failed: %s", what, strerror(errno));
        b += w;
        n -= (size_t)w;
    }
    return FW_OK;
}

/* Reason text without its "file:line[:col]: " prefix and with quoted values elided, so rows with
 * the same kind of problem group together. */
static void reason_key(const char *msg, char *out, size_t cap) {
    const char *p = msg;
    int colons = 0;
    for (const char *q = msg; *q; q++)
        if (*q == ':' && q[1] == ' ') {
            p = q + 2;
            break;
        } else if (*q == ':')
            colons++;
    (void)colons;
    size_t n = 0;
    bool in_q = false;
    for (; *p && n + 4 < cap; p++) {
        if (*p == '\'') {
            if (!in_q) {
                out[n++] = '\'';
                in_q = true;
                /* keep names (after "column "/"field "), elide values */
                const char *before = p - 7 >= msg ? p - 7 : msg;
                if (strncmp(before, "column ", 7) == 0 || strncmp(p - 6 >= msg ? p - 6 : msg, "field ", 6) == 0) {
                    in_q = false;
                    for (p++; *p && *p != '\'' && n + 4 < cap; p++) out[n++] = *p;
                    if (*p == '\'') out[n++] = '\'';
                    if (!*p) break;
                    continue;
                }
                memcpy(out + n, "...", 3);
                n += 3;
            } else {
                out[n++] = '\'';
                in_q = false;
            }
            continue;
        }
        if (!in_q) out[n++] = *p;
    }
    out[n] = '\0';
}

static void tally(fw__state *st, const char *msg) {
    char key[160];
    reason_key(msg, key, sizeof key);
    for (size_t i = 0; i < st->n_reasons; i++)
        if (strcmp(st->reasons[i].text, key) == 0) {
            st->reasons[i].count++;
            return;
        }
    if (st->n_reasons < FW_BATCH_MAX_REASONS) {
        fw_batch_reason *r = &st->reasons[st->n_reasons++];
        snprintf(r->text, sizeof r->text, "%s", key);
        r->count = 1;
    } else
        st->reasons_other++;
}

static fw_status write_rejects(sink *k, fw__slot *s, fw_err *err) {
    /* merge the reader's and the scorers' rejects by line */
    size_t a = 0, b = 0;
    fw_buf t;
    fw_buf_init(&t);
    while (a < s->in.n_rejects || b < s->n_rej) {
        const fw_load_reject *r;
        if (b >= s->n_rej || (a < s->in.n_rejects && s->in.rejects[a].line <= s->rej[b].line))
            r = &s->in.rejects[a++];
        else
            r = &s->rej[b++];
        fw_buf_printf(&t, "%" PRIu64 ",", r->line);
        fw__csv_put(&t, r->msg, strlen(r->msg));
        fw_buf_put_u8(&t, '\n');
        tally(&k->st, r->msg);
    }
    fw_status st = FW_OK;
    if (!fw_buf_ok(&t)) st = fw_err_set(err, FW_ENOMEM, "out of memory");
    else if (t.len) {
        st = write_all(k->rej_fd, t.data, t.len, "reject file", err);
        k->st.rej_len += t.len;
    }
    fw_buf_free(&t);
    return st;
}

static fw_status store_records(sink *k, const uint8_t *p, size_t n, fw_err *err) {
    fw__run *R = k->R;
    fw_reader rd;
    fw_reader_init(&rd, p, n);
    while (fw_reader_left(&rd)) {
        const char *f[3];
        uint32_t len[3];
        for (int i = 0; i < 3; i++) {
            len[i] = fw_reader_u32(&rd);
            f[i] = (const char *)fw_reader_get(&rd, len[i]);
        }
        if (!fw_reader_ok(&rd)) return fw_err_set(err, FW_ECORRUPT, "internal: bad answer record");
        fw_status st = fw_store_answer_put(k->db, R->m->name, f[0] ? f[0] : "", len[0], R->m->version,
                                              f[1] ? f[1] : "", len[1], f[2] ? f[2] : "{}", len[2], R->ts_ms,
                                              k->st.run_id, err);
        if (st) return st;
    }
    return FW_OK;
}

static fw_status checkpoint(sink *k, fw_err *err) {
    if (k->out_fd >= 0 && fsync(k->out_fd) != 0)
        return fw_err_set(err, FW_EIO, "output: fsync failed: %s", strerror(errno));
    if (k->scores_fd >= 0 && fsync(k->scores_fd) != 0)
        return fw_err_set(err, FW_EIO, "scores file: fsync failed: %s", strerror(errno));
    if (k->rej_fd >= 0 && fsync(k->rej_fd) != 0)
        return fw_err_set(err, FW_EIO, "reject file: fsync failed: %s", strerror(errno));
    if (k->in_tx) {
        fw_status st = fw_store_commit(k->db, err);
        k->in_tx = false;
        if (st) return st;
    }
    return fw__state_save(k->state_path, &k->st, err);
}

static fw_status write_slot(sink *k, fw__slot *s, fw_err *err) {
    fw__run *R = k->R;
    if (s->fatal) {
        *err = s->ferr;
        return s->fatal;
    }
    fw_status st;
    if (R->kind == FW_BATCH_OUT_STORE && !R->spool) {
        if (!k->in_tx) {
            if ((st = fw_store_begin(k->db, true, err))) return st;
            k->in_tx = true;
        }
        if ((st = store_records(k, s->out.data, s->out.len, err))) return st;
    } else if (s->out.len) {
        if ((st = write_all(k->out_fd, s->out.data, s->out.len, R->spool ? "spool" : "output", err))) return st;
        k->st.out_len += s->out.len;
        if (k->st.out_len < k->wb_from) k->wb_from = 0; /* resumed: truncated back */
        if (k->st.out_len - k->wb_from >= WRITEBACK_BYTES) { /* the next checkpoint's fsync waits less */
            fw__start_writeback(k->out_fd, k->wb_from, k->st.out_len - k->wb_from);
            k->wb_from = k->st.out_len;
        }
    }
    if (R->spool && s->scores.len) {
        if ((st = write_all(k->scores_fd, s->scores.data, s->scores.len, "scores file", err))) return st;
        k->st.scores_len += s->scores.len;
    }
    if ((st = write_rejects(k, s, err))) return st;
    uint64_t rej = s->in.n_rejects + s->n_rej;
    k->st.rows_read += s->in.n_rows + s->in.n_rejects;
    k->st.rows_scored += s->n_scored;
    k->st.rows_rejected += rej;
    if (!R->spool) k->st.rows_written += s->n_written;
    k->st.blocks_done = s->seq + 1;
    if (rej && R->o->strict) {
        const char *msg = s->in.n_rejects ? s->in.rejects[0].msg : s->rej[0].msg;
        return fw_err_set(err, FW_EDATA, "--strict: rejected row: %s", msg);
    }
    return FW_OK;
}

/* ---- setup ---------------------------------------------------------------------------------- */

/* --partition: skips to the partition's first record, counting the lines before it (so that
 * `line` is the file's). Reads every earlier byte of the file: it runs on a thread of its own
 * while the run opens its outputs (the history record, the first checkpoint: fsyncs), joined
 * before the blocks are read (join_skip). */
static void *skip_main(void *arg) {
    fw__run *R = arg;
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    double t0 = fw_now_seconds();
    fw_err_clear(&R->skip_err);
    R->skip_st = fw__in_partition_skip(&R->rd, &R->skip_err);
    R->skip_s = fw_now_seconds() - t0;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    R->skip_cpu_s = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
    return NULL;
}

/* Waits for skip_main; its failure, if any. */
static fw_status join_skip(fw__run *R, fw_err *err) {
    if (!R->skip_started) return FW_OK;
    pthread_join(R->skipper, NULL);
    R->skip_started = false;
    if (R->skip_st) *err = R->skip_err;
    return R->skip_st;
}

/* CPU seconds of the process (every thread) so far. */
static double cpu_seconds(void) {
    struct rusage u;
    if (getrusage(RUSAGE_SELF, &u) != 0) return 0;
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static fw_status open_reader(fw__run *R, fw_err *err) {
    const fw_batch_model *m = R->m;
    const fw_batch_options *o = R->o;
    size_t n = m->n_inputs + o->n_id_columns;
    const char **names = fw_calloc(n + 1, sizeof *names);
    fw_col_type *types = fw_calloc(n + 1, sizeof *types);
    R->in_idx = fw_calloc(m->n_inputs + 1, sizeof *R->in_idx);
    R->id_idx = fw_calloc(o->n_id_columns + 1, sizeof *R->id_idx);
    if (!names || !types || !R->in_idx || !R->id_idx) {
        fw_free(names);
        fw_free(types);
        return fw_err_set(err, FW_ENOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < m->n_inputs; i++) {
        R->in_idx[i] = (int)k;
        names[k] = m->input_names[i];
        types[k++] = m->input_types[i];
    }
    for (size_t j = 0; j < o->n_id_columns; j++) {
        int found = -1;
        for (size_t i = 0; i < k; i++)
            if (strcmp(names[i], o->id_columns[j]) == 0) found = (int)i;
        if (found < 0) {
            found = (int)k;
            names[k] = o->id_columns[j];
            types[k++] = FW_COL_CATEGORICAL;
        }
        R->id_idx[j] = found;
    }
    R->n_ids = o->n_id_columns;
    fw_status st = fw__in_open(&R->rd, o->input, k, names, types, err);
    fw_free(names);
    fw_free(types);
    if (st) return st;
    if (o->part_count > 1) { /* the range now; the count of the lines before it on a thread */
        if ((st = fw__in_partition_cut(&R->rd, o->part_index, o->part_count, err))) return st;
        if (pthread_create(&R->skipper, NULL, skip_main, R) == 0) R->skip_started = true;
        else skip_main(R); /* no thread: here and now */
        if (!R->skip_started && R->skip_st) {
            *err = R->skip_err;
            return R->skip_st;
        }
    }
    for (size_t j = 0; j < o->n_id_columns; j++)
        if (R->rd.fmt == FW_FORMAT_CSV && !R->rd.present[R->id_idx[j]]) {
            if (o->id_columns_optional) {
                R->n_ids = 0; /* the project's data.id, absent here: rows are named by line */
                break;
            }
            return fw_err_set(err, FW_ESCHEMA, "%s: no column '%s' (--id)", o->input, o->id_columns[j]);
        }
    /* For recommendations, inputs the items file provides are taken from it. */
    return FW_OK;
}

/* A CSV input without some of the model's input columns (and no item file providing them) would be
 * scored with those inputs missing on every row: a silently wrong answer when the header has a
 * typo. Refused unless allow_missing_columns. (JSON Lines objects may omit fields row by row.) */
static fw_status check_columns(const fw__run *R, fw_err *err) {
    const fw_batch_model *m = R->m;
    if (R->rd.fmt != FW_FORMAT_CSV || R->o->allow_missing_columns) return FW_OK;
    char list[300] = "";
    size_t n = 0, len = 0;
    for (size_t i = 0; i < m->n_inputs; i++) {
        if (R->rd.present[R->in_idx[i]] || (R->it.from_item && R->it.from_item[i])) continue;
        if (n++ < 8 && len < sizeof list - 1) {
            int k = snprintf(list + len, sizeof list - len, "%s'%s'", len ? ", " : "", m->input_names[i]);
            if (k > 0) len += (size_t)k < sizeof list - len ? (size_t)k : sizeof list - len - 1;
        }
    }
    if (!n) return FW_OK;
    return fw_err_set(err, FW_ESCHEMA,
                      "%s: the header has no column %s%s (%zu of the model's %zu inputs); every row would be "
                      "scored with %s missing: fix the header, or pass --allow-missing-columns",
                      R->o->input, list, n > 8 ? ", ..." : "", n, m->n_inputs, n == 1 ? "it" : "them");
}

static void csv_header(const fw__run *R, fw_buf *b) {
    const fw_batch_model *m = R->m;
    if (!R->n_ids) fw_buf_put(b, "line,", 5);
    for (size_t j = 0; j < R->n_ids; j++) {
        const char *c = R->o->id_columns[j];
        fw__csv_put(b, c, strlen(c));
        fw_buf_put_u8(b, ',');
    }
    if (R->it.ds) {
        fw_buf_put(b, "rank,", 5);
        fw__csv_put(b, R->it.id_name, strlen(R->it.id_name));
        fw_buf_put(b, ",score", 6);
    } else {
        fw_buf_put(b, "prediction", 10);
        if (m->task == FW_TASK_BINARY) fw_buf_put(b, ",score", 6);
        else if (per_class(m))
            for (size_t k = 0; k < m->n_outputs; k++) {
                char name[300];
                snprintf(name, sizeof name, "p_%s", k < m->n_classes ? m->classes[k] : "?");
                fw_buf_put_u8(b, ',');
                fw__csv_put(b, name, strlen(name));
            }
    }
    fw_buf_put(b, ",model_version,scored_at\n", 25);
}

/* Rough row count for the ETA: file size / average line length of the first 256 KiB (plain
 * files; gzip → unknown). */
static uint64_t estimate_rows(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    unsigned char buf[1 << 18];
    ssize_t n = read(fd, buf, sizeof buf);
    struct stat st;
    uint64_t est = 0;
    if (n > 2 && !(buf[0] == 0x1f && buf[1] == 0x8b) && fstat(fd, &st) == 0) {
        size_t lines = 0;
        for (ssize_t i = 0; i < n; i++) lines += buf[i] == '\n';
        if (lines > 1) est = (uint64_t)((double)st.st_size / ((double)n / (double)lines)) - 1;
    }
    close(fd);
    return est;
}

static fw_status truncate_to(int fd, uint64_t len, const char *what, fw_err *err) {
    struct stat st;
    if (fstat(fd, &st) != 0) return fw_err_set(err, FW_EIO, "%s: %s", what, strerror(errno));
    if ((uint64_t)st.st_size < len)
        return fw_err_set(err, FW_ECORRUPT,
                          "%s is shorter (%lld bytes) than the checkpoint says (%llu): it was changed; "
                          "run again without --resume",
                          what, (long long)st.st_size, (unsigned long long)len);
    if (ftruncate(fd, (off_t)len) != 0 || lseek(fd, 0, SEEK_END) < 0)
        return fw_err_set(err, FW_EIO, "%s: cannot truncate: %s", what, strerror(errno));
    return FW_OK;
}

typedef struct emit_ctx {
    sink *k;
    fw__run *R;
    int fd;
    uint64_t bytes;
} emit_ctx;

static fw_status emit_selected(void *ud, const uint8_t *row, size_t len, fw_err *err) {
    emit_ctx *c = ud;
    if (c->R->kind == FW_BATCH_OUT_STORE) return store_records(c->k, row, len, err);
    c->bytes += len;
    return write_all(c->fd, row, len, "output", err);
}

int fw_batch_exit_code(fw_status st, const fw_batch_summary *sum) {
    if (st == FW_EBUSY) return FW_BATCH_EXIT_LOCKED;
    if (st == FW_EINVAL || st == FW_ECONFIG) return FW_BATCH_EXIT_USAGE;
    if (st) return FW_BATCH_EXIT_FAILURE;
    return sum && sum->rows_rejected ? FW_BATCH_EXIT_REJECTS : FW_BATCH_EXIT_OK;
}

static const char *outcome_of(fw_status st, const fw_batch_summary *sum) {
    if (st == FW_EINTERRUPTED) return "interrupted";
    if (st) return "failed";
    return sum->rows_rejected ? "rejects" : "ok";
}

/* ---- the steps of a run --------------------------------------------------------------------- */

/* Where a run's files go: the output (or the store's spool), its checkpoint state, rejects, and
 * the selection's spool and scores. */
typedef struct run_paths {
    const char *home;
    char local[1024]; /* the home's side files on this machine (store/store.h fw_store_local_dir) */
    char job[256], safe[256], bdir[1100], out[1100], spool[1200], scores[1200], state[1200], rej[1200];
} run_paths;

/* Setup: checks the options, fills R (output kind, selection, score class) and the paths. */
static fw_status setup(fw__run *R, const fw_batch_model *m, const fw_batch_options *o, run_paths *p,
                       fw_batch_summary *sum, fw_err *err) {
    if (!o->input || !o->output) return fw_err_set(err, FW_EINVAL, "batch needs an input and an output");
    if (o->top_fraction < 0 || o->top_fraction > 1)
        return fw_err_set(err, FW_EINVAL, "--top-fraction must be in (0, 1], got %g", o->top_fraction);
    if (o->items && o->top_fraction > 0)
        return fw_err_set(err, FW_EINVAL, "--top-fraction and --items cannot be combined");
    if (!m->n_outputs || !m->predict) return fw_err_set(err, FW_EINVAL, "model has no outputs");
    R->m = m;
    R->o = o;
    R->score_class = -1;
    R->kind = o->output_kind;
    if (R->kind == FW_BATCH_OUT_AUTO)
        R->kind = strcmp(o->output, "store") == 0                                   ? FW_BATCH_OUT_STORE
                  : has_ext(o->output, ".jsonl") || has_ext(o->output, ".ndjson") ? FW_BATCH_OUT_JSONL
                                                                                    : FW_BATCH_OUT_CSV;
    R->spool = o->top_fraction > 0 && o->top_fraction < 1;
    if (o->score_class) {
        for (size_t k = 0; k < m->n_classes && k < m->n_outputs; k++)
            if (strcmp(m->classes[k], o->score_class) == 0) R->score_class = (int)k;
        if (R->score_class < 0 || !per_class(m))
            return fw_err_set(err, FW_EINVAL, "--score-class '%s' is not a class of %s", o->score_class, m->name);
    }
    p->home = fw_store_default_home(o->home);
    if (o->job) snprintf(p->job, sizeof p->job, "%s", o->job);
    else {
        const char *base = strrchr(o->output, '/');
        snprintf(p->job, sizeof p->job, "%s-%s", m->name, base ? base + 1 : o->output);
    }
    fw__safe_name(p->job, p->safe, sizeof p->safe);
    fw_store_local_dir(p->home, p->local, sizeof p->local);
    fmt_into(p->bdir, sizeof p->bdir, "%s/batch", p->local);
    if (R->kind == FW_BATCH_OUT_STORE) {
        mkdir(p->local, 0755);
        mkdir(p->bdir, 0755);
        fmt_into(p->out, sizeof p->out, "%s/%s.spool", p->bdir, p->safe);
        fmt_into(p->state, sizeof p->state, "%s/%s.state", p->bdir, p->safe);
        fmt_into(p->rej, sizeof p->rej, "%s/%s.rejects.csv", p->bdir, p->safe);
    } else {
        fmt_into(p->out, sizeof p->out, "%s", o->output);
        fmt_into(p->state, sizeof p->state, "%s.state", o->output);
        fmt_into(p->rej, sizeof p->rej, "%s.rejects.csv", o->output);
    }
    if (o->reject_path) fmt_into(p->rej, sizeof p->rej, "%s", o->reject_path);
    const char *side = R->kind == FW_BATCH_OUT_STORE ? p->state : p->out;
    fmt_into(p->spool, sizeof p->spool, "%s.spool", side);
    fmt_into(p->scores, sizeof p->scores, "%s.scores", side);
    fmt_into(sum->output, sizeof sum->output, "%s", R->kind == FW_BATCH_OUT_STORE ? "store" : o->output);
    return FW_OK;
}

/* Resume: continues from the checkpoint state when asked and it matches this job, input and
 * model; else starts a fresh state. Sets *resumed, the run's timestamp and the blocks to skip,
 * and fills oo (the options as this run applies them: block size as the first run read). */
static fw_status resume_or_start(fw__run *R, sink *k, const run_paths *p, fw_batch_options *oo, bool *resumed,
                                 fw_batch_summary *sum, fw_err *err) {
    const fw_batch_model *m = R->m;
    const fw_batch_options *o = R->o;
    *resumed = false;
    if (o->resume) {
        fw_err e2;
        fw_status ls = fw__state_load(p->state, &k->st, &e2);
        if (ls == FW_OK) *resumed = true;
        else if (ls != FW_ENOTFOUND) return fw_err_set(err, ls, "%s (run again without --resume to start over)", e2.msg);
    }
    struct stat ist;
    if (stat(o->input, &ist) != 0)
        return fw_err_set(err, errno == ENOENT ? FW_ENOTFOUND : FW_EIO, "%s: %s", o->input, strerror(errno));
    if (*resumed) {
        const char *why = NULL;
        if (strcmp(k->st.job, p->job) != 0) why = "a different job";
        else if (strcmp(k->st.input, o->input) != 0) why = "a different input file";
        else if (k->st.input_size != (int64_t)ist.st_size || k->st.input_mtime != (int64_t)ist.st_mtime)
            why = "the input file changed since";
        else if (strcmp(k->st.model, m->name) != 0 || strcmp(k->st.version, m->version) != 0)
            why = "a different model version";
        if (why)
            return fw_err_set(err, FW_EINVAL, "cannot resume: the checkpoint %s is for %s (run again without --resume)",
                              p->state, why);
        R->ts_ms = k->st.started_ms;
        R->skip_blocks = k->st.blocks_done;
        R->skipped_rows = k->st.rows_read;
        sum->resumed = true;
    } else {
        memset(&k->st, 0, sizeof k->st);
        snprintf(k->st.job, sizeof k->st.job, "%s", p->job);
        snprintf(k->st.input, sizeof k->st.input, "%s", o->input);
        k->st.input_size = (int64_t)ist.st_size;
        k->st.input_mtime = (int64_t)ist.st_mtime;
        snprintf(k->st.model, sizeof k->st.model, "%s", m->name);
        snprintf(k->st.version, sizeof k->st.version, "%s", m->version);
        R->ts_ms = o->now_ms ? o->now_ms : fw_wall_unix_ms();
        k->st.started_ms = R->ts_ms;
        k->st.block_rows = o->block_rows ? o->block_rows : FW_BATCH_DEFAULT_BLOCK_ROWS;
    }
    *oo = *o;
    oo->block_rows = (size_t)k->st.block_rows; /* resume reads blocks exactly as the first run did */
    if (!oo->checkpoint_rows) oo->checkpoint_rows = FW_BATCH_DEFAULT_CHECKPOINT_ROWS;
    R->o = oo;
    fw_format_iso8601(R->ts_ms, R->ts, sizeof R->ts);
    sum->started_ms = R->ts_ms;
    fw_buf_put_u8(&R->csv_tail, ',');
    fw__csv_put(&R->csv_tail, m->version, strlen(m->version));
    fw_buf_printf(&R->csv_tail, ",%s\n", R->ts);
    fw_buf_put(&R->json_tail, ",\"model_version\":", 17);
    fw_json_put_strn(&R->json_tail, m->version, strlen(m->version));
    fw_buf_printf(&R->json_tail, ",\"scored_at\":\"%s\"}\n", R->ts);
    if (!fw_buf_ok(&R->csv_tail) || !fw_buf_ok(&R->json_tail)) return fw_err_set(err, FW_ENOMEM, "out of memory");
    return FW_OK;
}

/* Records the run in the history (a resumed run updates its record: one more attempt). */
static fw_status history_begin(sink *k, const run_paths *p, bool resumed, fw_batch_summary *sum, fw_err *err) {
    const fw__run *R = k->R;
    fw_batch_run_rec *rr = &k->rec;
    snprintf(rr->job, sizeof rr->job, "%s", p->job);
    snprintf(rr->model, sizeof rr->model, "%s", R->m->name);
    snprintf(rr->version, sizeof rr->version, "%s", R->m->version);
    snprintf(rr->input, sizeof rr->input, "%s", R->o->input);
    snprintf(rr->output, sizeof rr->output, "%s", sum->output);
    /* the history's clock is the real one (the answers' timestamp may be fixed by --timestamp) */
    rr->started_ms = fw_wall_unix_ms();
    snprintf(rr->outcome, sizeof rr->outcome, "running");
    rr->attempts = 1;
    fw_status st;
    if (resumed && k->st.run_id) {
        rr->run_id = k->st.run_id;
        fw_batch_run_rec *prev = NULL;
        size_t np = 0;
        if (fw_store_batch_history(k->db, p->job, 20, &prev, &np, err) == FW_OK)
            for (size_t i = 0; i < np; i++)
                if (prev[i].run_id == rr->run_id) {
                    rr->attempts = prev[i].attempts + 1;
                    rr->started_ms = prev[i].started_ms;
                }
        fw_free(prev);
        st = fw_store_batch_job_update(k->db, rr, err);
    } else
        st = fw_store_batch_job_begin(k->db, rr, err);
    if (st) return st;
    k->st.run_id = rr->run_id;
    sum->run_id = rr->run_id;
    return FW_OK;
}

/* Outputs: opens (or, resuming, truncates back to the checkpoint) the output, reject and scores
 * files and the store, writes the headers, records the run, and takes the first checkpoint. */
static fw_status open_outputs(sink *k, const run_paths *p, bool resumed, fw_batch_summary *sum, fw_err *err) {
    fw__run *R = k->R;
    const fw_batch_options *o = R->o;
    fw_status st;
    const char *data_path = R->spool ? p->spool : p->out;
    bool data_file = R->spool || R->kind != FW_BATCH_OUT_STORE;
    int fl = O_WRONLY | O_CREAT | O_CLOEXEC | (resumed ? 0 : O_TRUNC);
    if (data_file && (k->out_fd = open(data_path, fl, 0644)) < 0)
        return fw_err_set(err, FW_EIO, "%s: cannot write: %s", data_path, strerror(errno));
    if ((k->rej_fd = open(p->rej, fl, 0644)) < 0)
        return fw_err_set(err, FW_EIO, "%s: cannot write: %s", p->rej, strerror(errno));
    if (R->spool && (k->scores_fd = open(p->scores, fl, 0644)) < 0)
        return fw_err_set(err, FW_EIO, "%s: cannot write: %s", p->scores, strerror(errno));
    if ((R->kind == FW_BATCH_OUT_STORE || o->record_history) && (st = fw_store_open(p->home, &k->db, err)))
        return st;
    if (resumed) {
        if (k->out_fd >= 0 && (st = truncate_to(k->out_fd, k->st.out_len, data_path, err))) return st;
        if ((st = truncate_to(k->rej_fd, k->st.rej_len, p->rej, err))) return st;
        if (k->scores_fd >= 0 && (st = truncate_to(k->scores_fd, k->st.scores_len, p->scores, err))) return st;
    } else if (!R->spool && R->kind != FW_BATCH_OUT_STORE) {
        fw_buf hdr;
        fw_buf_init(&hdr);
        if (R->kind == FW_BATCH_OUT_CSV) csv_header(R, &hdr);
        st = fw_buf_ok(&hdr) ? write_all(k->out_fd, hdr.data, hdr.len, "output", err)
                             : fw_err_set(err, FW_ENOMEM, "out of memory");
        k->st.out_len = hdr.len;
        fw_buf_free(&hdr);
        if (st) return st;
    }
    if (k->db && o->record_history && (st = history_begin(k, p, resumed, sum, err))) return st;
    if (!resumed) {
        /* the reject file's header is part of the first checkpoint */
        const char *rh = "line,reason\n";
        if ((st = write_all(k->rej_fd, rh, strlen(rh), "reject file", err))) return st;
        k->st.rej_len = strlen(rh);
    }
    return checkpoint(k, err);
}

/* Stops and joins the reader and scorer threads (a no-op when none runs). */
static void stop_threads(fw__run *R) {
    if (!R->reader_started && !R->n_scorers) return;
    pthread_mutex_lock(&R->mu);
    R->abort = true;
    pthread_cond_broadcast(&R->cv);
    pthread_mutex_unlock(&R->mu);
    for (int t = 0; t < R->n_scorers; t++) pthread_join(R->scorers[t], NULL);
    R->n_scorers = 0;
    if (R->reader_started) pthread_join(R->reader, NULL);
    R->reader_started = false;
}

/* Run: starts the reader and the scorers and writes the scored blocks in input order, with a
 * checkpoint every checkpoint_rows rows, until the input ends, a block fails, or a stop is asked
 * (SIGINT/SIGTERM: checkpointed; the test hook stop_after_blocks: like kill -9, not). */
static fw_status run_blocks(sink *k, fw__progress *prog, fw_err *err) {
    fw__run *R = k->R;
    const fw_batch_options *o = R->o;
    int threads = o->threads > 0 ? o->threads : fw_default_threads();
    if (threads > FW__MAX_SCORERS) threads = FW__MAX_SCORERS;
    R->n_slots = (size_t)threads + 3;
    R->slots = fw_calloc(R->n_slots, sizeof *R->slots);
    if (!R->slots) return fw_err_set(err, FW_ENOMEM, "out of memory");
    for (size_t i = 0; i < R->n_slots; i++) {
        fw__in_block_init(&R->slots[i].in);
        fw_buf_init(&R->slots[i].out);
        fw_buf_init(&R->slots[i].scores);
    }
    pthread_mutex_init(&R->mu, NULL);
    pthread_cond_init(&R->cv, NULL);
    R->mu_init = true;
    R->next_score = R->skip_blocks;
    fw__progress_start(prog, o->progress, estimate_rows(o->input));
    if (pthread_create(&R->reader, NULL, reader_main, R) != 0)
        return fw_err_set(err, FW_EIO, "cannot start the reader thread");
    R->reader_started = true;
    for (int t = 0; t < threads; t++)
        if (pthread_create(&R->scorers[R->n_scorers], NULL, scorer_main, R) == 0) R->n_scorers++;
    if (!R->n_scorers) return fw_err_set(err, FW_EIO, "cannot start scorer threads");
    fw_status st = FW_OK;
    uint64_t since_ckpt = 0, written_blocks = 0;
    g_stop = 0;
    for (uint64_t seq = R->skip_blocks;; seq++) {
        fw__slot *s = &R->slots[seq % R->n_slots];
        pthread_mutex_lock(&R->mu);
        while (!(s->state == FW__S_DONE && s->seq == seq) && !(R->eof && seq >= R->end_seq))
            pthread_cond_wait(&R->cv, &R->mu);
        bool finished = R->eof && seq >= R->end_seq && !(s->state == FW__S_DONE && s->seq == seq);
        pthread_mutex_unlock(&R->mu);
        if (finished) {
            if (R->rstatus) {
                st = R->rstatus;
                *err = R->rerr;
            }
            break;
        }
        st = write_slot(k, s, err);
        since_ckpt += s->in.n_rows + s->in.n_rejects;
        pthread_mutex_lock(&R->mu);
        s->state = FW__S_FREE;
        pthread_cond_broadcast(&R->cv);
        pthread_mutex_unlock(&R->mu);
        if (st) break;
        written_blocks++;
        fw__progress_update(prog, k->st.rows_read, false);
        if (o->stop_after_blocks && written_blocks >= o->stop_after_blocks) {
            /* like kill -9: no checkpoint */
            st = fw_err_set(err, FW_EINTERRUPTED, "stopped after %" PRIu64 " blocks (test hook)", written_blocks);
            break;
        }
        if (g_stop) {
            if (!(st = checkpoint(k, err)))
                st = fw_err_set(err, FW_EINTERRUPTED, "interrupted: checkpointed at %" PRIu64 " rows; run again with --resume",
                                k->st.rows_read);
            break;
        }
        if (since_ckpt >= o->checkpoint_rows) {
            if ((st = checkpoint(k, err))) break;
            since_ckpt = 0;
        }
    }
    stop_threads(R);
    return st;
}

/* Selection pass (top_fraction): spool → output (or store), keeping the top rows in input order. */
static fw_status select_rows(sink *k, const run_paths *p, fw_batch_summary *sum, fw_err *err) {
    fw__run *R = k->R;
    emit_ctx ec = {k, R, -1, 0};
    char tmp_path[1300];
    fmt_into(tmp_path, sizeof tmp_path, "%s.tmp", p->out);
    fw_status st = FW_OK;
    if (R->kind != FW_BATCH_OUT_STORE) {
        ec.fd = open(tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (ec.fd < 0) st = fw_err_set(err, FW_EIO, "%s: %s", tmp_path, strerror(errno));
        else if (R->kind == FW_BATCH_OUT_CSV) {
            fw_buf h;
            fw_buf_init(&h);
            csv_header(R, &h);
            st = write_all(ec.fd, h.data, h.len, "output", err);
            fw_buf_free(&h);
        }
    } else if (!(st = fw_store_begin(k->db, true, err)))
        k->in_tx = true;
    uint64_t kept = 0;
    if (!st) st = fw__select_top(p->scores, p->spool, R->o->top_fraction, emit_selected, &ec, &kept,
                                 &sum->selection_bytes, err);
    if (ec.fd >= 0) {
        if (!st && fsync(ec.fd) != 0) st = fw_err_set(err, FW_EIO, "%s: fsync failed", tmp_path);
        close(ec.fd);
        if (!st && rename(tmp_path, p->out) != 0)
            st = fw_err_set(err, FW_EIO, "%s: rename failed: %s", p->out, strerror(errno));
    }
    if (!st && k->in_tx) {
        st = fw_store_commit(k->db, err);
        k->in_tx = false;
    }
    if (!st) {
        k->st.rows_written = kept;
        unlink(p->spool);
        unlink(p->scores);
    }
    return st;
}

/* Join: after every block is written, the last checkpoint, the selection pass, the store's commit;
 * then the state file (and the store's spool) are no longer needed. */
static fw_status join(sink *k, const run_paths *p, fw_batch_summary *sum, fw_err *err) {
    fw__run *R = k->R;
    k->st.done = 1;
    fw_status st = checkpoint(k, err);
    if (!st && R->spool) st = select_rows(k, p, sum, err);
    else if (!st && k->in_tx) {
        st = fw_store_commit(k->db, err);
        k->in_tx = false;
    }
    if (!st) {
        unlink(p->state);
        if (R->kind == FW_BATCH_OUT_STORE) unlink(p->out);
    }
    return st;
}

/* The summary of the run as far as it got, and its history record's end. */
static void finish(sink *k, const run_paths *p, fw_status st, double t0, fw__progress *prog, fw_batch_summary *sum,
                   const fw_err *err) {
    fw__run *R = k->R;
    sum->rows_skipped = R->skipped_rows;
    sum->rows_read = k->st.rows_read;
    sum->rows_scored = k->st.rows_scored;
    sum->rows_rejected = k->st.rows_rejected;
    sum->rows_written = k->st.rows_written;
    sum->n_reasons = k->st.n_reasons;
    memcpy(sum->reasons, k->st.reasons, sizeof sum->reasons);
    sum->reasons_other = k->st.reasons_other;
    sum->seconds = fw_now_seconds() - t0;
    uint64_t done_here = sum->rows_read > sum->rows_skipped ? sum->rows_read - sum->rows_skipped : 0;
    sum->rows_per_s = sum->seconds > 0 ? (double)done_here / sum->seconds : 0;
    sum->peak_rss_kb = fw__peak_rss_kb();
    fw__progress_update(prog, k->st.rows_read, true);
    if (k->rej_fd >= 0) {
        close(k->rej_fd);
        if (!st && !sum->rows_rejected) unlink(p->rej);
        else fmt_into(sum->reject_path, sizeof sum->reject_path, "%s", p->rej);
    }
    if (k->db && k->rec.run_id) {
        fw_err e2;
        k->rec.ended_ms = fw_wall_unix_ms();
        k->rec.rows_read = sum->rows_read;
        k->rec.rows_scored = sum->rows_scored;
        k->rec.rows_rejected = sum->rows_rejected;
        k->rec.rows_written = sum->rows_written;
        snprintf(k->rec.outcome, sizeof k->rec.outcome, "%s", outcome_of(st, sum));
        k->rec.exit_code = fw_batch_exit_code(st, sum);
        snprintf(k->rec.message, sizeof k->rec.message, "%s", st ? err->msg : "");
        (void)fw_store_batch_job_update(k->db, &k->rec, &e2);
    }
}

/* Frees everything the run holds (threads already joined). */
static void release(fw__run *R, sink *k) {
    if (k->in_tx) {
        fw_err e2;
        (void)fw_store_commit(k->db, &e2);
    }
    if (k->out_fd >= 0) close(k->out_fd);
    if (k->scores_fd >= 0) close(k->scores_fd);
    fw_store_close(k->db);
    if (R->slots) {
        for (size_t i = 0; i < R->n_slots; i++) {
            fw__in_block_free(&R->slots[i].in);
            fw_buf_free(&R->slots[i].out);
            fw_buf_free(&R->slots[i].scores);
            fw_free(R->slots[i].rej);
        }
        fw_free(R->slots);
    }
    if (R->mu_init) {
        pthread_mutex_destroy(&R->mu);
        pthread_cond_destroy(&R->cv);
    }
    fw__in_close(&R->rd);
    fw_free(R->in_idx);
    fw_free(R->id_idx);
    fw__items_free(&R->it);
    fw_buf_free(&R->csv_tail);
    fw_buf_free(&R->json_tail);
}

/* FLYWHEEL_BATCH_LOG=1: one line on where the run's time went (bench/scale/batch_workers.sh). */
static void log_phases(const fw_batch_options *o, const fw_batch_summary *s) {
    if (!getenv("FLYWHEEL_BATCH_LOG")) return;
    char skip[160] = ""; /* --partition: the count of the earlier partitions' lines */
    if (o->part_count > 1)
        snprintf(skip, sizeof skip, "; of which skip of %" PRIu64 " earlier lines %.1f ms, cpu %.1f, on a thread of its own",
                 s->skip_lines, s->skip_s * 1e3, s->skip_cpu_s * 1e3);
    fprintf(stderr, "batch phases: partition %u/%u: open %.1f ms (cpu %.1f%s), score %.1f ms (cpu %.1f), finish %.1f ms (cpu %.1f)\n",
            o->part_count > 1 ? o->part_index : 0, o->part_count > 1 ? o->part_count : 1, s->open_s * 1e3, s->open_cpu_s * 1e3,
            skip, s->score_s * 1e3, s->score_cpu_s * 1e3, s->finish_s * 1e3, s->finish_cpu_s * 1e3);
}

fw_status fw_batch_run(const fw_batch_model *m, const fw_batch_options *o, fw_batch_summary *sum,
                       fw_err *err) {
    memset(sum, 0, sizeof *sum);
    double t0 = fw_now_seconds(), c0 = cpu_seconds();
    fw__run R;
    memset(&R, 0, sizeof R);
    run_paths p;
    memset(&p, 0, sizeof p);
    fw_status st = setup(&R, m, o, &p, sum, err);
    if (st) return st;
    int lock_fd = -1;
    if ((st = fw__lock_take(p.local, p.job, &lock_fd, err))) return st;
    sink k;
    memset(&k, 0, sizeof k);
    k.out_fd = k.rej_fd = k.scores_fd = -1;
    k.R = &R;
    k.state_path = p.state;
    fw__progress prog;
    memset(&prog, 0, sizeof prog);
    fw_batch_options oo; /* the options as this run applies them (resume keeps the first run's block size) */
    bool resumed = false;
    double t1 = 0, c1 = 0, t2 = 0, c2 = 0;
    if (!(st = resume_or_start(&R, &k, &p, &oo, &resumed, sum, err)) && !(st = open_reader(&R, err)) &&
        !(st = o->items ? fw__items_load(&R, err) : FW_OK) && !(st = check_columns(&R, err)) &&
        !(st = open_outputs(&k, &p, resumed, sum, err)) && !(st = join_skip(&R, err))) {
        t1 = fw_now_seconds();
        c1 = cpu_seconds();
        if (!(st = run_blocks(&k, &prog, err))) {
            t2 = fw_now_seconds();
            c2 = cpu_seconds();
            st = join(&k, &p, sum, err);
        }
    }
    stop_threads(&R);
    fw_err skip_err;
    (void)join_skip(&R, &skip_err); /* a run that failed while opening: the count ends first */
    finish(&k, &p, st, t0, &prog, sum, err);
    if (t2 > 0) {
        double t3 = fw_now_seconds(), c3 = cpu_seconds();
        sum->open_s = t1 - t0;
        sum->open_cpu_s = c1 - c0;
        sum->skip_s = R.skip_s;
        sum->skip_cpu_s = R.skip_cpu_s;
        sum->skip_lines = R.rd.skip_lines;
        sum->score_s = t2 - t1;
        sum->score_cpu_s = c2 - c1;
        sum->finish_s = t3 - t2;
        sum->finish_cpu_s = c3 - c2;
        log_phases(o, sum);
    }
    release(&R, &k);
    fw__lock_release(lock_fd);
    return st;
}

void fw_batch_summary_print(const fw_batch_summary *s, FILE *f) {
    fprintf(f, "batch: %" PRIu64 " rows read, %" PRIu64 " scored, %" PRIu64 " rejected, %" PRIu64 " written to %s\n",
            s->rows_read, s->rows_scored, s->rows_rejected, s->rows_written, s->output);
    if (s->resumed) fprintf(f, "batch: resumed: %" PRIu64 " rows were done by the interrupted run\n", s->rows_skipped);
    for (size_t i = 0; i < s->n_reasons; i++)
        fprintf(f, "batch:   %8" PRIu64 " x %s\n", s->reasons[i].count, s->reasons[i].text);
    if (s->reasons_other) fprintf(f, "batch:   %8" PRIu64 " x other reasons\n", s->reasons_other);
    if (s->rows_rejected && s->reject_path[0]) fprintf(f, "batch: rejected rows (line, reason): %s\n", s->reject_path);
    fprintf(f, "batch: %.2f s wall, %.0f rows/s, peak memory %.1f MiB", s->seconds, s->rows_per_s,
            (double)s->peak_rss_kb / 1024.0);
    if (s->selection_bytes)
        fprintf(f, " (of which %.1f MiB for --top-fraction: 24 bytes per row, grows with the input)",
                (double)s->selection_bytes / (1024.0 * 1024.0));
    fputc('\n', f);
}
