/* learn.h — owns the `learn:` section of the project file (continual learning, docs/LEARNING.md):
 * the struct, its defaults, its parser (called by project_parse.c for the top-level key `learn`;
 * every error names the file, line, column and key path) and its YAML writer (called by
 * project_write.c, so fw_project_write round-trips it).
 *
 * The struct's own functions (defaults, free, copy, durations) are learn.c's; reading and writing
 * YAML are learn_yaml.c's (the prediction-only library has the struct without libyaml).
 *
 * Three groups of keys:
 *   - which rows train a challenger: the policy for old vs new rows (a sliding window of the most
 *     recent labelled served rows and/or a maximum age, or weights that halve every half_life),
 *     and whether the champion's recorded training data is kept under them;
 *   - the gate (src/learn/gate.h): minimum improvement, confidence, the held-out rows;
 *   - the triggers `flywheel serve` acts on (every, on_alarm, after_labels, promote) and online
 *     learning (online, snapshot), read by the server side.
 *
 * Example:
 *   learn:
 *     rows: window            # window | decay
 *     window: {rows: 50000, max_age: 30d}
 *     gate: {min_improvement: 0.005, confidence: 0.95, min_rows: 200, holdout: 0.2}
 *     every: 6h
 *     on_alarm: [drift, performance]
 *     after_labels: 5000 */
#ifndef FW_PROJECT_LEARN_H
#define FW_PROJECT_LEARN_H

#include "core/buf.h"
#include "flywheel.h"

#include <stdbool.h>
#include <stdint.h>

/* learn.rows: how old and new rows are combined into a challenger's training set. */
typedef enum fw_learn_rows {
    FW_LEARN_ROWS_WINDOW = 0,    /* the most recent window.rows labelled served rows, none older than
                                    window.max_age (each bound optional); every row weighs 1 */
    FW_LEARN_ROWS_DECAY,         /* every labelled served row, weighted 0.5^(age / half_life) */
} fw_learn_rows;
const char *fw_learn_rows_name(fw_learn_rows r);

/* learn.on_alarm: which monitoring alarms start a retrain (bit set). */
enum {
    FW_LEARN_ALARM_DRIFT = 1u << 0,        /* input or prediction drift */
    FW_LEARN_ALARM_PERFORMANCE = 1u << 1,  /* live performance below its threshold */
    FW_LEARN_ALARM_QUALITY = 1u << 2,      /* an expectation broken */
};

/* Defaults (docs/LEARNING.md). */
#define FW_LEARN_DEFAULT_CONFIDENCE 0.95
#define FW_LEARN_DEFAULT_MIN_ROWS 200
#define FW_LEARN_DEFAULT_HOLDOUT 0.2
#define FW_LEARN_DEFAULT_RESAMPLES 1000
#define FW_LEARN_DEFAULT_HALF_LIFE_S (7.0 * 86400)

typedef struct fw_learn_spec {
    bool set;                    /* a learn: section was given (else every field is its default) */
    int line;                    /* line of the `learn:` key (0 when not from a file) */
    /* -- which rows train the challenger -- */
    fw_learn_rows rows;          /* learn.rows (default window) */
    uint64_t window_rows;        /* learn.window.rows: most recent N labelled served rows; 0 = all */
    double window_max_age_s;     /* learn.window.max_age (a duration); 0 = no age bound */
    double half_life_s;          /* learn.half_life (decay; default 7d) */
    bool base;                   /* learn.base: keep the champion's recorded training data (default
                                    true); in decay, its rows weigh as rows of the champion's
                                    registration time */
    char *base_data;             /* learn.base_data: the data file served rows are added to (default:
                                    data.train). `flywheel retrain` writes it into the challenger's
                                    recorded project, so a chain of retrains keeps adding served rows
                                    to the original data, never to an earlier snapshot */
    /* -- the gate (learn/gate.h) -- */
    double min_improvement;      /* learn.gate.min_improvement: the challenger must beat the champion
                                    by more than this on the primary metric, at the confidence
                                    (absolute, in the metric's units; default 0) */
    double confidence;           /* learn.gate.confidence: the two-sided level of the interval of the
                                    difference (default 0.95) */
    uint64_t min_rows;           /* learn.gate.min_rows: fewer held-out labelled rows → inconclusive
                                    (default 200) */
    double holdout;              /* learn.gate.holdout: the share of the labelled served rows, the most
                                    recent, held out for the gate (default 0.2) */
    uint64_t holdout_rows;       /* learn.gate.holdout_rows: at most this many held-out rows (0 = the
                                    share alone) */
    uint32_t resamples;          /* learn.gate.resamples: paired bootstrap resamples (default 1000) */
    uint64_t seed;               /* learn.gate.seed: the bootstrap's seed (default 42) */
    /* -- triggers inside `flywheel serve` (the server side reads them) -- */
    double every_s;              /* learn.every: retrain on a schedule (a duration); 0 = no schedule */
    unsigned on_alarm;           /* learn.on_alarm: FW_LEARN_ALARM_* bits (true = drift|performance;
                                    false / absent = 0) */
    uint64_t after_labels;       /* learn.after_labels: retrain after N new labels; 0 = off */
    bool promote_auto;           /* learn.promote: auto | none (default none): what a triggered
                                    retrain does with a "promote" decision */
    double min_interval_s;       /* learn.min_interval: at least this long between two triggered
                                    retrains of a model (default 0) */
    /* -- online learning (linear family) -- */
    bool online;                 /* learn.online: update the served model from the feedback stream */
    uint64_t snapshot_updates;   /* learn.snapshot.updates: snapshot as a new version every N updates
                                    (0 = not by count) */
    double snapshot_interval_s;  /* learn.snapshot.interval: ... or every T (a duration; 0 = not by time) */
} fw_learn_spec;

/* Fills the defaults (all pointers NULL, set false). */
void fw_learn_spec_init(fw_learn_spec *l);
void fw_learn_spec_free(fw_learn_spec *l);
/* A deep copy into out (initialised here). FW_OK or FW_ENOMEM. */
fw_status fw_learn_spec_copy(const fw_learn_spec *in, fw_learn_spec *out);

/* Parses the value of the top-level key `learn` (a map; null = an empty section) into l (filled
 * with defaults first) and checks the keys together (e.g. window keys with rows: decay). Errors
 * are y's: FW_ECONFIG "FILE:LINE:COL: 'learn.gate.confidence': expected a number between 0.5 and
 * 0.999999, got 2". key is the `learn` key node (for its line). base_data is kept as written: the
 * caller resolves it against the file's directory. */
struct fw_yaml;      /* core/yaml_read.h: the prediction-only library includes this header without libyaml */
struct yaml_node_s;  /* <yaml.h>'s yaml_node_t */
fw_status fw_learn_parse(struct fw_yaml *y, const struct yaml_node_s *v, const struct yaml_node_s *key,
                         fw_learn_spec *l);

/* Appends the section as YAML ("learn:\n  ...") when l->set; nothing otherwise. Durations are
 * written in the largest whole unit (6h, 30d, 90s). fw_learn_parse reads it back to the same struct.
 * base_data is left for the caller to append as the section's last key (project_write.c writes it
 * relative to the written file, as data.train). */
void fw_learn_write(const fw_learn_spec *l, fw_buf *out);

/* A duration: a number of seconds, or a number with a unit s, m, h, d or w ("90s", "6h", "1.5d").
 * False when text is not one (negative, not finite, or an unknown unit). */
bool fw_learn_parse_duration(const char *text, double *seconds);

#endif
