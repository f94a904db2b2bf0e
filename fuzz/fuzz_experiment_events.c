/* fuzz_experiment_events.c — libFuzzer target for the experiment events reader
 * (fw_exp_events_parse_csv, src/experiment/events.c: the CSV of `flywheel experiment analyze`) and
 * the analysis behind it. On every input:
 *   - a refusal is FW_EPARSE with a message naming the file ("events.csv:LINE:COL: ...");
 *   - an accepted file replays: the report after every 7 events and at the end is valid JSON, one
 *     object per line, its "events" counting up to the number of rows; the text and HTML reports
 *     are produced too (ASan/UBSan watch them); more than 16 variants is a refusal with a message;
 *   - the canonical order holds: the events reversed and sorted again give the same bytes.
 * Build and run: fuzz/README.md. */
#include "core/alloc.h"
#include "experiment/events.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fw_status fw_fuzz_experiment_report(fw_exp_events *ev, fw_buf *out, fw_buf *html, fw_err *err) {
    fw_exp_opts o;
    fw_exp_opts_init(&o);
    o.min_units = 2;
    o.min_events = 1;
    fw_status st = fw_exp_events_sort(ev, err);
    if (!st) st = fw_exp_events_report(ev, &o, 7, true, out, html, err);
    return st;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fw_exp_events ev;
    fw_exp_events_init(&ev);
    fw_err err;
    fw_err_clear(&err);
    fw_status st = fw_exp_events_parse_csv(&ev, "events.csv", (const char *)data, size, &err);
    if (st) {
        if (st != FW_EPARSE && st != FW_ENOMEM) abort();
        if (strncmp(err.msg, "events.csv", 10) != 0) abort();
        fw_exp_events_free(&ev);
        return 0;
    }
    fw_buf a, h;
    fw_buf_init(&a);
    fw_buf_init(&h);
    st = fw_fuzz_experiment_report(&ev, &a, &h, &err);
    if (st) {
        if (st != FW_EINVAL && st != FW_ENOMEM) abort();
        if (!err.msg[0]) abort();
    } else {
        /* every line a JSON object; "events" ascending, the last one the number of rows */
        size_t pos = 0;
        long long last = -1;
        while (pos < a.len) {
            const char *p = (const char *)a.data + pos, *nl = memchr(p, '\n', a.len - pos);
            if (!nl) abort();
            json_error_t je;
            json_t *j = json_loadb(p, (size_t)(nl - p), 0, &je);
            if (!json_is_object(j)) abort();
            long long n = json_integer_value(json_object_get(j, "events"));
            if (n <= last && !(n == 0 && last == -1)) abort();
            last = n;
            json_decref(j);
            pos = (size_t)(nl - (const char *)a.data) + 1;
        }
        if (last != (long long)ev.n) abort();
        /* the order of the rows never matters */
        for (size_t i = 0; i < ev.n / 2; i++) {
            fw_exp_event t = ev.ev[i];
            ev.ev[i] = ev.ev[ev.n - 1 - i];
            ev.ev[ev.n - 1 - i] = t;
        }
        fw_buf b;
        fw_buf_init(&b);
        if (fw_fuzz_experiment_report(&ev, &b, NULL, &err)) abort();
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) abort();
        fw_buf_free(&b);
        fw_buf t;
        fw_buf_init(&t);
        fw_exp_opts o;
        fw_exp_opts_init(&o);
        if (fw_exp_events_report(&ev, &o, 0, false, &t, NULL, &err)) abort();
        fw_buf_free(&t);
    }
    fw_buf_free(&a);
    fw_buf_free(&h);
    fw_exp_events_free(&ev);
    return 0;
}

#include "driver.h"
