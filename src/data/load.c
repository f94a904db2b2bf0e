/* load.c — owns fw_data_load: format detection by extension and dispatch to the CSV or JSONL
 * reader, with timing. */
#include "data/load.h"

#include "core/clock.h"
#include "data/csv.h"
#include "data/jsonl.h"

#include <string.h>
#include <strings.h>

static bool ends_with(const char *s, size_t n, const char *suf) {
    size_t k = strlen(suf);
    return n >= k && strncasecmp(s + n - k, suf, k) == 0;
}

bool fw_data_format_of(const char *path, fw_data_format *out) {
    size_t n = strlen(path);
    if (ends_with(path, n, ".gz")) n -= 3;
    if (ends_with(path, n, ".csv") || ends_with(path, n, ".tsv") || ends_with(path, n, ".txt")) {
        *out = FW_FORMAT_CSV;
        return true;
    }
    if (ends_with(path, n, ".jsonl") || ends_with(path, n, ".ndjson") || ends_with(path, n, ".json")) {
        *out = FW_FORMAT_JSONL;
        return true;
    }
    return false;
}

fw_status fw_data_load(const char *path, const fw_load_opts *opts, fw_dataset **out,
                       fw_load_result *res, fw_err *err) {
    fw_data_format f = FW_FORMAT_CSV;
    (void)fw_data_format_of(path, &f);
    fw_load_opts o;
    if (opts)
        o = *opts;
    else
        fw_load_opts_init(&o);
    size_t n = strlen(path);
    if (ends_with(path, n, ".gz")) n -= 3;
    if (ends_with(path, n, ".tsv") && o.delimiter == ',') o.delimiter = '\t';
    double t0 = fw_now_seconds();
    fw_status st = f == FW_FORMAT_JSONL ? fw_jsonl_load(path, &o, out, res, err)
                                        : fw_csv_load(path, &o, out, res, err);
    if (res) res->seconds = fw_now_seconds() - t0;
    return st;
}
