/* test_monitor_golden.c — the monitor's results pinned, value for value: a fixed seeded stream of
 * boston rows (numeric inputs as numbers and, every 7th row, as text the way the replay reads them;
 * town as text; nulls, absent columns, a value of the wrong type) with a change in the middle (rm
 * shifted, unseen towns, tax out of range, age missing, a moved output, slow predictions) goes
 * through one monitor (pipeline fitted here, reference built here: no trained model, so the figures
 * do not depend on a fit's floating point), and everything it reports is compared with the figures
 * recorded from the code of session 13 (tests/monitor/fixtures/observe_golden.txt): every alarm
 * (kind, column, statistic, value, threshold, row, detail), after every block each column's drift
 * statistic, threshold, missing / unseen / out-of-range rates (a 64-bit digest per block, the
 * numbers' bits), and the counts and columns at the end. Any cell counted differently moves a rate
 * or a statistic, and fails here. The hot path of fw_monitor_observe may change; these may not.
 * GOLDEN_WRITE=1 rewrites the fixture (only for a deliberate change of results); GOLDEN_DEBUG=1
 * prints every block's numbers. */
#include "monitor/monitor.h"
#include "test.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "data/load.h"
#include "features/pipeline.h"
#include "project/project.h"

#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN "tests/monitor/fixtures/observe_golden.txt"

enum { ROWS = 6000, CHANGE = 3000, MAX_IN = 32, MAX_LINES = 600 };

typedef struct out_text {
    char *s;
    size_t len, cap;
} out_text;

static void outf(out_text *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(out_text *o, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(o->s ? o->s + o->len : NULL, o->s ? o->cap - o->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if (o->s && o->len + (size_t)n < o->cap) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = o->cap ? 2 * o->cap : 1 << 16;
        while (cap < o->len + (size_t)n + 1) cap *= 2;
        char *g = realloc(o->s, cap);
        if (!g) return;
        o->s = g;
        o->cap = cap;
    }
}

static void on_alarm(void *ud, const fw_alarm *a, bool raised) {
    outf(ud, "alarm %s %s column=%s slice=%s statistic=%s value=%.17g threshold=%.17g row=%" PRIu64 " detail=%s\n",
         raised ? "raised" : "cleared", fw_alarm_kind_name(a->kind), a->column, a->slice, a->statistic, a->value,
         a->threshold, a->row, a->detail);
}

static uint64_t mix(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t mix_d(uint64_t h, double x) {
    if (isnan(x)) x = NAN; /* one NaN */
    return mix(h, &x, sizeof x);
}

/* Every column's figures after a block: one digest line (and the numbers with GOLDEN_DEBUG). */
static void block_line(out_text *o, fw_monitor *mon, long row, long block) {
    uint64_t h = 0xcbf29ce484222325ull;
    size_t n = fw_monitor_n_columns(mon);
    for (size_t i = 0; i < n; i++) {
        fw_monitor_column c;
        fw_monitor_column_get(mon, i, &c);
        h = mix(h, c.statistic, strlen(c.statistic));
        h = mix_d(h, c.drift);
        h = mix_d(h, c.drift_threshold);
        h = mix_d(h, c.missing_rate);
        h = mix_d(h, c.unseen_rate);
        h = mix_d(h, c.out_of_range_rate);
        if (getenv("GOLDEN_DEBUG"))
            printf("  block %ld %s: %s %.17g / %.17g missing %.17g unseen %.17g oor %.17g\n", block, c.name, c.statistic,
                   c.drift, c.drift_threshold, c.missing_rate, c.unseen_rate, c.out_of_range_rate);
    }
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    outf(o, "block %ld row %ld rows %" PRIu64 " blocks %" PRIu64 " errors %" PRIu64 " digest %016" PRIx64 "\n", block,
         row, k.rows, k.blocks, k.errors, h);
}

typedef struct boston {
    char *text;
    char header[512];
    char *lines[MAX_LINES];
    size_t n;
    int field[MAX_IN];         /* the CSV field of each pipeline input */
    int medv;
} boston;

/* Runs the stream through a fresh monitor; its whole report into o. */
static void run_stream(const fw_srv_model *m, const fw_reference *ref, boston *t, bool expect, out_text *o) {
    fw_monitor_settings s;
    fw_monitor_settings_init(&s);
    s.on_alarm = on_alarm;
    s.ud = o;
    s.reference = ref;
    s.p99_ms = 0;
    s.p90_ms = 1.5;
    static const char *const towns[] = {"Boston Dorchester", "Cambridge", "Lynn", "Newton", "Quincy", "Atlantis"};
    fw_monitor_expect ex[2] = {
        {.column = "rm", .min = 4, .max = 8.5, .allowed = NULL, .n_allowed = 0, .max_missing = -1},
        {.column = "town", .min = NAN, .max = NAN, .allowed = towns, .n_allowed = 6, .max_missing = -1},
    };
    s.expect = expect ? ex : NULL; /* (they hide the unseen-value alarms: one quality alarm per column) */
    s.n_expect = expect ? 2 : 0;
    outf(o, "run %s expectations\n", expect ? "with" : "without");
    fw_monitor *mon = NULL;
    fw_err err;
    CHECK_OK(fw_monitor_new(m, &s, &mon, &err));
    if (!mon) return;
    size_t ni = m->n_inputs;
    fw_value v[MAX_IN];
    uint8_t flags[MAX_IN];
    char texts[MAX_IN][64];
    unsigned seed = 20261207;
    int rm = -1, tax = -1, age = -1, town = -1, crim = -1;
    for (size_t i = 0; i < ni; i++) {
        if (!strcmp(m->input_names[i], "rm")) rm = (int)i;
        if (!strcmp(m->input_names[i], "tax")) tax = (int)i;
        if (!strcmp(m->input_names[i], "age")) age = (int)i;
        if (!strcmp(m->input_names[i], "town")) town = (int)i;
        if (!strcmp(m->input_names[i], "crim")) crim = (int)i;
    }
    CHECK(rm >= 0 && tax >= 0 && age >= 0 && town >= 0 && crim >= 0);
    long block = 0;
    for (long r = 0; r < ROWS; r++) {
        double u[4];
        fw_test_uniforms(&seed, u, 4);
        size_t src = (size_t)((u[0] + 1) / 2 * (double)t->n) % t->n;
        char line[512], *f[32];
        snprintf(line, sizeof line, "%s", t->lines[src]);
        size_t nf = fw_test_split_commas(line, f, 32);
        bool as_text = r % 7 == 3, changed = r >= CHANGE, use_flags = false;
        memset(flags, 0, sizeof flags);
        for (size_t i = 0; i < ni; i++) {
            const char *x = t->field[i] >= 0 && (size_t)t->field[i] < nf ? f[t->field[i]] : "";
            bool cat = fw_pipeline_input_type(m->pipeline, i) != FW_COL_NUMERIC;
            double num = *x ? strtod(x, NULL) : NAN;
            if (changed && (int)i == rm) num += 0.4;
            if (changed && (int)i == tax && u[1] < -0.8) num *= 1.7;
            if ((int)i == age && u[2] < (changed ? -0.6 : -0.98)) x = "", num = NAN; /* 20% vs 1% missing */
            if ((int)i == town && changed && r % 20 == 0) x = "Atlantis";
            if ((int)i == town && changed && r % 53 == 0) x = "Gotham";
            if ((int)i == crim && r % 97 == 11) x = "", num = NAN;
            if (!*x || (isnan(num) && !cat)) {
                v[i] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
            } else if (cat) {
                snprintf(texts[i], sizeof texts[i], "%s", x);
                v[i] = (fw_value){FW_VALUE_STRING, 0, texts[i], strlen(texts[i])};
            } else if (as_text) {
                snprintf(texts[i], sizeof texts[i], "%.10g", num);
                v[i] = (fw_value){FW_VALUE_STRING, 0, texts[i], strlen(texts[i])};
            } else {
                v[i] = (fw_value){FW_VALUE_NUMBER, num, NULL, 0};
            }
        }
        if (r == 1234 || r == 4321) { /* a value of the wrong type */
            snprintf(texts[crim], sizeof texts[crim], "abc");
            v[crim] = (fw_value){FW_VALUE_STRING, 0, texts[crim], 3};
        }
        if (r == 2500 || r == 5100) { /* an absent column */
            v[tax] = (fw_value){FW_VALUE_MISSING, 0, NULL, 0};
            flags[tax] = FW_MON_ABSENT;
            use_flags = true;
        }
        double medv = t->medv >= 0 && (size_t)t->medv < nf ? strtod(f[t->medv], NULL) : 0;
        double out = medv + (changed ? 4 : 0) + u[3];
        double lat = changed && r % 5 == 0 ? 2.5 : 0.2 + 0.05 * (double)(r % 10);
        fw_monitor_obs ob = {.values = v,
                             .flags = use_flags ? flags : NULL,
                             .outputs = r % 400 == 17 ? NULL : &out,
                             .latency_ms = lat,
                             .ts_ms = -1};
        uint64_t row = fw_monitor_observe(mon, &ob);
        CHECK_EQ(row, (uint64_t)r);
        if (r % 50 == 49) block_line(o, mon, r, block++);
    }
    fw_monitor_flush(mon);
    fw_monitor_counts k;
    fw_monitor_counts_get(mon, &k);
    outf(o, "end rows %" PRIu64 " blocks %" PRIu64 " errors %" PRIu64, k.rows, k.blocks, k.errors);
    for (int j = 0; j < FW_ALARM_KIND_COUNT; j++) outf(o, " %s %" PRIu64 "/%" PRIu64, fw_alarm_kind_name(j), k.active[j], k.raised[j]);
    outf(o, "\n");
    for (size_t i = 0; i < fw_monitor_n_columns(mon); i++) {
        fw_monitor_column c;
        fw_monitor_column_get(mon, i, &c);
        outf(o, "column %s %s drift %.17g threshold %.17g missing %.17g unseen %.17g oor %.17g\n", c.name, c.statistic,
             c.drift, c.drift_threshold, c.missing_rate, c.unseen_rate, c.out_of_range_rate);
    }
    fw_buf js;
    fw_buf_init(&js);
    CHECK_OK(fw_monitor_state_json(mon, &js));
    outf(o, "state %.*s\n", (int)js.len, (const char *)js.data);
    fw_buf_free(&js);
    fw_monitor_free(mon);
}

static void test_results_as_recorded(void) {
    boston t;
    memset(&t, 0, sizeof t);
    t.text = fw_test_slurp("examples/boston/boston.csv", NULL);
    CHECK(t.text != NULL);
    if (!t.text) return;
    t.n = fw_test_csv_lines(t.text, t.header, sizeof t.header, t.lines, MAX_LINES);
    CHECK(t.n > 400);
    static const char yaml[] = "name: boston\ntask: regression\ndata:\n  train: examples/boston/boston.csv\n"
                               "  label: medv\nfeatures:\n  - name: town\n    max_categories: 200\n";
    fw_err err;
    fw_dataset *ds = NULL;
    CHECK_OK(fw_data_load("examples/boston/boston.csv", NULL, &ds, NULL, &err));
    fw_project p;
    CHECK_OK(fw_project_parse(yaml, strlen(yaml), "boston.yaml", &p, &err));
    CHECK_OK(fw_project_resolve(&p, ds, &err));
    fw_pipeline *pl = NULL;
    CHECK_OK(fw_pipeline_fit(&p, ds, NULL, ds->n_rows, &pl, &err));
    fw_project_free(&p);
    if (!pl) {
        fw_dataset_free(ds);
        free(t.text);
        return;
    }
    size_t ni = fw_pipeline_n_inputs(pl);
    CHECK(ni >= 10 && ni <= MAX_IN);
    const char *names[MAX_IN];
    char hb[512], *h[32];
    snprintf(hb, sizeof hb, "%s", t.header);
    size_t nh = fw_test_split_commas(hb, h, 32);
    t.medv = -1;
    for (size_t k = 0; k < nh; k++)
        if (!strcmp(h[k], "medv")) t.medv = (int)k;
    for (size_t i = 0; i < ni && i < MAX_IN; i++) {
        names[i] = fw_pipeline_input_name(pl, i);
        t.field[i] = -1;
        for (size_t k = 0; k < nh; k++)
            if (!strcmp(h[k], names[i])) t.field[i] = (int)k;
        CHECK_MSG(t.field[i] >= 0, "input %s not in boston.csv", names[i]);
    }
    fw_srv_model *m = fw_srv_model_new("boston", "1");
    CHECK_OK(fw_srv_model_set_inputs(m, names, ni));
    m->pipeline = pl;
    m->task = FW_TASK_REGRESSION;
    m->n_outputs = 1;
    /* the reference: the table, and as the output's histogram medv itself (the stream's output is
     * medv plus noise, moved by 4 after the change) */
    double *pred = calloc(ds->n_rows, sizeof *pred);
    int medv_col = -1;
    for (size_t c = 0; c < ds->n_cols; c++)
        if (!strcmp(ds->cols[c].name, "medv")) medv_col = (int)c;
    CHECK(medv_col >= 0 && pred);
    for (size_t r = 0; pred && medv_col >= 0 && r < ds->n_rows; r++) pred[r] = ds->cols[medv_col].num[r];
    fw_reference *ref = NULL;
    CHECK_OK(fw_reference_build(ds, NULL, 0, names, ni, pred, ds->n_rows, 1, 0, &ref, &err));
    free(pred);
    out_text o = {0};
    if (ref) run_stream(m, ref, &t, true, &o);
    if (ref) run_stream(m, ref, &t, false, &o);
    CHECK(o.s != NULL);
    if (o.s && getenv("GOLDEN_WRITE")) {
        FILE *f = fopen(GOLDEN, "w");
        CHECK(f != NULL);
        if (f) {
            fwrite(o.s, 1, o.len, f);
            fclose(f);
            printf("  %s written (%zu bytes)\n", GOLDEN, o.len);
        }
    } else if (o.s) {
        char *want = fw_test_slurp(GOLDEN, NULL);
        CHECK_MSG(want != NULL, "%s missing", GOLDEN);
        if (want) {
            /* the first line that differs, both sides */
            const char *a = want, *b = o.s;
            long line = 1;
            while (*a && *a == *b) {
                if (*a == '\n') line++;
                a++, b++;
            }
            if (*a || *b) {
                while (a > want && a[-1] != '\n') a--, b--;
                const char *ae = strchr(a, '\n'), *be = strchr(b, '\n');
                CHECK_MSG(0, "line %ld differs from the recorded results:\n    recorded: %.*s\n    now:      %.*s", line,
                          (int)(ae ? ae - a : (long)strlen(a)), a, (int)(be ? be - b : (long)strlen(b)), b);
            }
            /* the stream did exercise what it should */
            CHECK_CONTAINS(want, "alarm raised drift column=rm");
            CHECK_CONTAINS(want, "statistic=unseen_value_rate");
            CHECK_CONTAINS(want, "alarm raised schema column=crim");
            CHECK_CONTAINS(want, "alarm raised schema column=tax");
            CHECK_CONTAINS(want, "alarm raised latency");
            CHECK_CONTAINS(want, "alarm raised prediction");
            free(want);
        }
    }
    free(o.s);
    fw_reference_free(ref);
    fw_srv_model_unref(m);
    fw_pipeline_free(pl);
    fw_dataset_free(ds);
    free(t.text);
}

int main(void) {
    TEST_RUN(test_results_as_recorded);
    return fw_test_report("test_monitor_golden");
}
