/* detector.h — owns drift detection for one column against its training reference
 * (artifact/reference.h fw_ref_column: quantile bins of a numeric column, top-N categories + other of
 * a categorical one; also the reference's prediction histograms): which cell a value falls in (the
 * per-request hot path), and the tests of the cell counts the monitor collects, with false-alarm
 * rates controlled by construction:
 *
 *   FW_DET_CHI2     two-sample chi-square of the sliding window's cell counts against the
 *                   reference's counts (the reference is a sample too: its own sampling error is in
 *                   the statistic), cells with under 5 expected rows in a window pooled; threshold
 *                   CALIBRATED on the reference at the window's size (deterministic simulation of
 *                   windows and reference drawn from the reference's cell probabilities, seed in
 *                   the settings, moment-matched scaled chi-square, never below the plain
 *                   chi-square quantile, raised to cover the reference's own sampling error for
 *                   99% of references); alarms only when the window's PSI is also >= min_psi
 *                   (the effect-size floor: a trivial shift at a million rows never alarms).
 *   FW_DET_CUSUM    numeric columns: two-sided CUSUM of the bins' normal scores (standardised under
 *                   the reference) for small persistent location shifts; allowance cusum_shift / 2
 *                   reference SDs per row (smaller shifts never accumulate), threshold from
 *                   Siegmund's ARL approximation at the test's false-alarm rate, written with the
 *                   cells' adjustment coefficient (skewed cells get a higher threshold).
 *                   categorical columns: per cell (top values, "other") Bernoulli CUSUMs of its
 *                   share, up and down, designed for cusum_shift SDs of the cell's indicator;
 *                   threshold ln(2 cells / alpha) (Lorden; the test's rate split over its sides).
 *   FW_DET_MISSING  Bernoulli CUSUM of the missing rate against the reference's rate, designed for
 *                   an increase of rate_shift; threshold h = ln(1 / alpha) (Lorden: ARL >= e^h).
 *
 * False alarms: settings.false_alarms_per_100k is the family-wise target over `family_size` tests
 * (the monitor counts every test of every column it watches: fw_detector_family_size); each test
 * gets target / family_size false alarms per 100,000 rows (Bonferroni); a window test evaluated
 * every step_rows rows gets alpha = that rate per row * step_rows per evaluation (sliding windows
 * overlap, so this is conservative). docs/MONITORING.md has the measured rates and delays.
 *
 * Use (the monitor of a served model version, monitor.c):
 *   fw_detector_settings s; fw_detector_settings_init(&s);
 *   s.family_size = fw_detector_family_size(n_columns_watched, extra_tests);
 *   fw_detector *d; fw_detector_create(&ref->cols[j], &s, &d, err);      // at model load
 *   fw_detector_state *st; fw_detector_state_new(d, &st);                // one per stream
 *   // request thread, per value: slot = fw_detector_slot_num(d, x) (or _slot_str); counts[slot]++
 *   // every step_rows rows (a closed block), off the request path, serialised per state:
 *   fw_detector_check ck[FW_DETECTOR_TESTS]; fw_detector_step(d, st, counts, ck); zero counts
 *   // for each test t with ck[t].active newly 1: fw_detector_alarm(d, t, &ck[t], row, ts, &alarm)
 *
 * Threads: a detector is immutable after create and can be shared by all threads; the slot
 * functions never allocate or lock. A state is mutable: one caller at a time.
 * Signatures are stable (mhub codes against them); additions go at the end. */
#ifndef FW_MONITOR_DETECTOR_H
#define FW_MONITOR_DETECTOR_H

#include "artifact/reference.h"
#include "flywheel.h"
#include "monitor/alarm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fw_detector fw_detector;
typedef struct fw_detector_state fw_detector_state;

typedef enum fw_detector_test {
    FW_DET_CHI2 = 0, /* window chi-square + PSI floor: kind drift, statistic "chi2" */
    FW_DET_CUSUM,    /* score CUSUM (numeric only): kind drift, statistic "cusum" */
    FW_DET_MISSING,  /* missing-rate CUSUM: kind quality, statistic "missing_rate" */
    FW_DETECTOR_TESTS
} fw_detector_test;

/* The number of tests each detector counts in a family (fw_detector_family_size). */
#define FW_DETECTOR_TESTS_PER_COLUMN 3u

typedef struct fw_detector_settings {
    double false_alarms_per_100k; /* family-wise target on streams with no change (default 0.5) */
    uint32_t family_size;         /* tests sharing that target (default 1; set it) */
    uint32_t window_rows;         /* rows in the sliding window of FW_DET_CHI2 (default 500) */
    uint32_t step_rows;           /* rows per block: the tests run once per block (default 50) */
    double min_psi;               /* effect-size floor of FW_DET_CHI2 (default 0.1) */
    double cusum_shift;           /* design shift of FW_DET_CUSUM, reference SDs (default 0.25) */
    double rate_shift;            /* design increase of FW_DET_MISSING's rate (default 0.1) */
    uint32_t calib_windows;       /* simulated windows for the calibration (default 2000) */
    uint64_t seed;                /* calibration seed (default 20261206) */
    bool defer_calibration;       /* true: fw_detector_create leaves FW_DET_CHI2's calibration to its
                                     first use (or fw_detector_calibrate); default false */
    bool effect_when_over;        /* true: fw_detector_step computes FW_DET_CHI2's effect (the PSI,
                                     a log per pooled cell) only when the statistic is at or over its
                                     threshold — all `active` needs — and leaves it NaN otherwise; for
                                     a caller that reads the effect of active checks only (the
                                     monitor). Default false */
} fw_detector_settings;

void fw_detector_settings_init(fw_detector_settings *s);

/* The family size for n_columns detectors plus extra_tests other tests (rate tests of the monitor's
 * own quality checks, prediction detectors count as columns): n_columns * 3 + extra_tests, >= 1. */
uint32_t fw_detector_family_size(uint32_t n_columns, uint32_t extra_tests);
/* False alarms per row allowed to each test of the family: target / 1e5 / family_size. */
double fw_detector_alpha_row(const fw_detector_settings *s);

/* Builds the detector of one reference column (copied: ref may be freed afterwards) and calibrates
 * its thresholds (deterministic; ~1-5 ms per column). Bad settings (window_rows < step_rows,
 * zero step, target <= 0, ...) → FW_EINVAL naming the field. Free with fw_detector_free. */
fw_status fw_detector_create(const fw_ref_column *ref, const fw_detector_settings *s, fw_detector **out,
                             fw_err *err);
void fw_detector_free(fw_detector *d);

const char *fw_detector_column(const fw_detector *d); /* the column's name */
bool fw_detector_numeric(const fw_detector *d);

/* ---- hot path: the slot a value falls in (no allocation, no lock) -------------------------- */
/* Slots: the cells 0..n_slots-2 (numeric: the reference's bins, a value below the first edge in the
 * first, above the last edge in the last; categorical: each top-N value, then one "other" cell for
 * every value not in the top N — known or unseen), then the missing slot n_slots - 1. */
uint32_t fw_detector_n_slots(const fw_detector *d);
uint32_t fw_detector_missing_slot(const fw_detector *d);
/* Numeric value → slot (the count of inner edges <= it, found by a branch-free halving search,
 * monitor/bins.h); NaN → the missing slot. */
uint32_t fw_detector_slot_num(const fw_detector *d, double x);
/* Category text → slot (hash of the top-N values); s == NULL → the missing slot; anything not in
 * the top N → the "other" cell. A monitor holding pipeline category codes can map each code once
 * at load with this and keep a code → slot table. On a numeric detector the text is parsed
 * (strtod); unparsable → missing slot. */
uint32_t fw_detector_slot_str(const fw_detector *d, const char *s, size_t len);

/* For a caller that inlines fw_detector_slot_num (the monitor's per-column loop, bins.h): a numeric
 * detector's sorted inner edges, *n of them; a number x not NaN is in slot fw_bins_count_le(edges,
 * *n, x) (0 when *n is 0). NULL when the detector is categorical or its edges are not in order (then
 * call fw_detector_slot_num). Valid while the detector lives. */
const double *fw_detector_inner_edges(const fw_detector *d, uint32_t *n);

/* A categorical detector's top value j (< the number of top values; its slot is j), *len bytes,
 * valid while the detector lives; NULL when j is past the last or the detector is numeric. */
const char *fw_detector_top_value(const fw_detector *d, uint32_t j, size_t *len);

/* ---- tests, once per closed block (off the request path) --------------------------------- */

typedef struct fw_detector_check {
    int evaluated;     /* 0: not run at this block (window not full yet, no cells, no non-missing rows) */
    int active;        /* 1: over its threshold (and, for chi2, over the effect floor) at this block */
    double value;      /* chi2 statistic / CUSUM sum (the larger side) / missing-rate CUSUM sum */
    double threshold;  /* the value past which it is active */
    double effect;     /* chi2: window PSI; cusum: mean standardised score shift of the block;
                        * missing: the window's missing rate */
    double reference;  /* chi2: min_psi; cusum: 0; missing: the reference's missing rate */
    uint64_t rows;     /* rows in the tested window (chi2) or the block (cusum, missing) */
    int32_t cell;      /* categorical cusum: the cell of the largest sum (a top value's index, n_top =
                        * "other"); effect = its share in the window, reference = in training */
} fw_detector_check;

/* One state per stream of blocks: the ring of the last window_rows / step_rows blocks and the CUSUM
 * sums. Memory: (window_rows / step_rows + 1) * n_slots * 8 bytes. */
fw_status fw_detector_state_new(const fw_detector *d, fw_detector_state **out);
void fw_detector_state_free(fw_detector_state *s);
void fw_detector_state_reset(fw_detector_state *s);

/* Feeds one closed block's slot counts (n_slots entries; usually step_rows rows, any number is
 * accepted: a block closed by time is shorter) and evaluates every test; fills check[t] for each
 * t < FW_DETECTOR_TESTS. No allocation. A CUSUM is capped at twice its threshold, so it falls back
 * below within ~h / allowance rows once the stream returns to the reference. */
void fw_detector_step(const fw_detector *d, fw_detector_state *s, const uint64_t *block_counts,
                      fw_detector_check check[FW_DETECTOR_TESTS]);

/* Tests one window's slot counts (any size) with FW_DET_CHI2 alone, e.g. a replay's whole input;
 * the threshold for a size other than window_rows scales the calibrated fit (never below the plain
 * chi-square quantile at the same alpha). No allocation. */
void fw_detector_test_window(const fw_detector *d, const uint64_t *counts, fw_detector_check *out);

/* The alarm record of test t's check (kind drift for FW_DET_CHI2 / FW_DET_CUSUM, quality for
 * FW_DET_MISSING; column = the detector's column; statistic "chi2" / "cusum" / "missing_rate";
 * value, threshold, row, ts_ms as given; a one-sentence detail). A monitor using a detector for an
 * output sets alarm.kind = FW_ALARM_PREDICTION itself. */
void fw_detector_alarm(const fw_detector *d, fw_detector_test t, const fw_detector_check *c, uint64_t row,
                       int64_t ts_ms, fw_alarm *out);

/* The statistic name of a test: "chi2", "cusum", "missing_rate". */
const char *fw_detector_test_name(fw_detector_test t);

/* The threshold test t uses (chi2: at window_rows; cusum: h, INFINITY when the column has none;
 * missing_rate: h). */
double fw_detector_threshold(const fw_detector *d, fw_detector_test t);

/* ---- a sequential test of a rate (for the monitor's own quality checks) -------------------- */
/* Bernoulli CUSUM of "hits" (unseen category, out of range, ...) per row against a reference rate:
 * p0 = (ref_hits + 0.5) / (ref_n + 1) (a rate never seen in training is not taken as 0), designed
 * for p1 = p0 + shift (e.g. 0.05 for unseen categories); threshold ln(1 / alpha_row) so false
 * alarms per row <= alpha_row (Lorden's bound) while the true rate is <= p0. Plain struct, no
 * allocation; one caller at a time. */
typedef struct fw_rate_cusum {
    double p0, p1;          /* reference and design rates */
    double llr_hit, llr_miss;
    double h;               /* threshold */
    double s;               /* current sum, in [0, 2h] */
} fw_rate_cusum;

void fw_rate_cusum_init(fw_rate_cusum *c, double ref_hits, double ref_n, double shift, double alpha_row);
/* Adds a block of n rows with `hits` hits; returns 1 when the sum is at or past h (active). */
int fw_rate_cusum_update(fw_rate_cusum *c, uint64_t hits, uint64_t n);

/* ---- deferred calibration (settings.defer_calibration) ------------------------------------ */
/* Calibrates FW_DET_CHI2's threshold now if it is not yet (the simulation of ~1-5 ms; results are
 * shared process-wide between detectors of equal references and settings, calib_cache.h).
 * Thread-safe and idempotent (a once per detector); the tests call it themselves at the first full
 * window, so calling it ahead (a background thread) only moves the cost off the request path. The
 * thresholds do not depend on when it runs. FW_ENOMEM on failure (then the chi-square test is not
 * evaluated). */
fw_status fw_detector_calibrate(const fw_detector *d);
bool fw_detector_calibrated(const fw_detector *d);

#endif
